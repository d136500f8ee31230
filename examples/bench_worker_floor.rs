//! The floor under any worker: `floor_worker.lua` (only the writes our worker's
//! move_to_finished makes to complete a job and take the next, arguments ready-made) on
//! the same jobs as the Rust worker's run. Included with `#[path]` by bench_worker.
//!
//! The driver is a worker with `concurrency` slots reduced to its Redis calls: one call at
//! a time, each finishing every job the driver holds and fetching one job per slot, so one
//! job per call at concurrency 1 and up to 50 at 50. That is the best case of a worker
//! that batches its finishes; ours sends the endings that arrived while its previous call
//! was on its way, with two calls on their way at most (worker/finisher.rs).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use examples::fail;
use redis::Value;
use testkit::RedisServer;

use super::add_jobs;
use super::bench_cost::{RedisCost, RedisMeter};

const FLOOR_SCRIPT: &str = include_str!("floor_worker.lua");
/// BullMQ's default cap of the events stream (`maxLenEvents`), which our scripts read
/// from the queue's meta and the floor is given.
const MAX_EVENTS: &str = "10000";
/// Our worker's default lock duration (BullMQ's `lockDuration`), in ms.
const LOCK_MS: &str = "30000";
/// What our worker stores for the benchmark's no-op handler: `Value::Null` as JSON.
const RETURN_VALUE: &str = "null";

/// The floor's run: jobs per second and Redis' cost per job.
pub(crate) struct FloorRun {
    pub(crate) jobs_per_s: f64,
    pub(crate) cost: RedisCost,
}

/// Adds `jobs` jobs to queue `name` as the Rust worker's run does, then completes them all
/// through `floor_worker.lua` with `concurrency` slots.
pub(crate) async fn bench_floor(
    redis: &RedisServer,
    name: &str,
    jobs: usize,
    concurrency: usize,
) -> FloorRun {
    add_jobs(&redis.url(), name, jobs).await;
    let mut conn = redis::Client::open(redis.url())
        .unwrap_or_else(|err| fail(&err.to_string()))
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| fail(&format!("redis: {err}")));
    let script = redis::Script::new(FLOOR_SCRIPT);
    let prefix = format!("bull:{name}:");
    let keys =
        ["wait", "active", "stalled", "events", "marker", "pc"].map(|key| format!("{prefix}{key}"));
    // Tokens shaped like our worker's: its id, a colon, a counter.
    let worker_id = uuid::Uuid::new_v4().to_string();
    let mut tokens = 0u64;

    let meter = RedisMeter::start(&redis.url()).await;
    let begun = Instant::now();
    let mut held: Vec<String> = Vec::new();
    let mut completed = 0;
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_millis() as u64);
        let mut invocation = script.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        invocation
            .arg(&prefix)
            .arg(MAX_EVENTS)
            .arg(now)
            .arg(LOCK_MS)
            .arg(RETURN_VALUE)
            .arg(held.len())
            .arg(&held);
        for token in tokens..tokens + concurrency as u64 {
            invocation.arg(format!("{worker_id}:{token}"));
        }
        tokens += concurrency as u64;
        let (fetched, _hashes): (Vec<String>, Value) = invocation
            .invoke_async(&mut conn)
            .await
            .unwrap_or_else(|err| fail(&format!("floor_worker: {err}")));
        completed += held.len();
        held = fetched;
        if held.is_empty() {
            break;
        }
    }
    let elapsed = begun.elapsed();
    let cost = meter.finish(jobs).await;
    if completed != jobs {
        fail(&format!("the floor completed {completed} jobs of {jobs}"));
    }
    FloorRun {
        jobs_per_s: jobs as f64 / elapsed.as_secs_f64(),
        cost,
    }
}
