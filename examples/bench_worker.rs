//! Run with: cargo run --release --example bench_worker -- [--jobs N] [--samples S]
//!
//! Worker benchmark, the Rust worker against Node BullMQ 6's and against a floor, in one
//! run: each worker at each concurrency gets a fresh private redis-server with AOF
//! `appendfsync everysec`. Printed per concurrency (1 and 50): jobs processed per second
//! with a no-op handler (N jobs whose data is the ~600-byte Sellsy event, distinct per job,
//! with removeOnComplete, are added first, then a worker is timed until it has completed
//! them all); Redis' cost per job of that processing, as script time (`INFO commandstats`,
//! usec of `evalsha` + `eval` and kin, after `CONFIG RESETSTAT`) and redis-server CPU
//! (`INFO cpu`, which also counts reading commands and writing replies); the worker
//! process's own CPU (user + sys) per job over the same timed phase (Rust: from `/proc`,
//! in 10 ms ticks, the benchmark being in-process; Node: `process.cpuUsage()`); and the
//! latency from adding a job to the start of its processing, with the worker idle.
//!
//! The floor (bench_worker_floor.rs, floor_worker.lua) completes the same jobs with only
//! the writes our worker's scripts make, each call finishing every held job and fetching
//! one per slot (a worker batching its finishes); beside the script time of the Rust and
//! Node workers stand the floor's and the ratio rust / floor, and a second table gives the
//! floor's jobs/s, script time and redis CPU per job. Needs `npm ci` in node-worker-compat.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bullmq_rs::{ActiveJob, JobError, JobOptions, NewJob, Queue, Worker, WorkerEvent};
use examples::bench_data::event;
use examples::{Args, fail};
use serde_json::{Value, json};
use testkit::RedisServer;
use tokio::sync::{Notify, mpsc};

#[path = "bench_cost.rs"]
mod bench_cost;
use bench_cost::{RedisCost, RedisMeter};

#[path = "bench_worker_floor.rs"]
mod bench_worker_floor;
use bench_worker_floor::{FloorRun, bench_floor};

/// A worker's run: its figures (`jobs_per_s`, `worker_cpu_us`, `start_latency_us`) as the
/// Node script reports them, and Redis' cost per job.
struct Run {
    figures: Value,
    cost: RedisCost,
}

impl Run {
    /// The figure at `path`, NaN when missing.
    fn num(&self, path: &[&str]) -> f64 {
        path.iter()
            .fold(&self.figures, |v, key| &v[*key])
            .as_f64()
            .unwrap_or(f64::NAN)
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse(std::env::args().skip(1), &["jobs", "samples"])
        .unwrap_or_else(|err| fail(&err.to_string()));
    let number = |flag: &str, default: u64| args.number_or(flag, default) as usize;
    let (jobs, samples) = (number("jobs", 20_000), number("samples", 200));
    println!(
        "worker benchmark: a fresh redis-server (AOF everysec) per worker and concurrency, {jobs} no-op jobs of {} bytes per run, {samples} start-latency samples",
        event(0).len()
    );
    println!(
        "worker CPU: the worker process's user + sys over the timed phase (rust: in-process, from /proc in 10 ms ticks; node: process.cpuUsage)"
    );
    println!(
        "floor: floor_worker.lua, only the writes of our worker's scripts, each call finishing every held job and fetching one per slot"
    );
    print_header();
    let mut floors = Vec::new();
    for concurrency in [1usize, 50] {
        let rust = {
            let redis = RedisServer::with_aof_everysec();
            bench_rust(&redis, "rust", jobs, concurrency, samples).await
        };
        let node = bench_node(jobs, concurrency, samples);
        let floor = {
            let redis = RedisServer::with_aof_everysec();
            bench_floor(&redis, "floor", jobs, concurrency).await
        };
        print_row(concurrency, &rust, &node, &floor);
        floors.push((concurrency, floor));
    }
    println!(
        "ratios: jobs/s rust/node (higher is better), us/job rust/node and rust/floor (lower is better)"
    );
    println!();
    println!(
        "{:<12} {:>12} {:>14} {:>17}",
        "concurrency", "floor jobs/s", "script us/job", "redis CPU us/job"
    );
    for (concurrency, floor) in floors {
        println!(
            "{concurrency:<12} {:>12.0} {:>14.1} {:>17.1}",
            floor.jobs_per_s, floor.cost.script_us, floor.cost.cpu_us
        );
    }
}

fn print_header() {
    println!(
        "{:<12} {:>12} {:>12} {:>7} | {:>22} {:>7} | {:>6} {:>10} | {:>22} {:>7} | {:>22} {:>7} | {:>17} {:>17}",
        "concurrency",
        "rust jobs/s",
        "node jobs/s",
        "ratio",
        "script us/job rust/node",
        "ratio",
        "floor",
        "rust/floor",
        "redis CPU us/job r/n",
        "ratio",
        "worker CPU us/job r/n",
        "ratio",
        "rust start p50/p99",
        "node start p50/p99"
    );
}

fn print_row(concurrency: usize, rust: &Run, node: &Run, floor: &FloorRun) {
    let jobs_per_s = |run: &Run| run.num(&["jobs_per_s"]);
    let worker_cpu = |run: &Run| run.num(&["worker_cpu_us"]);
    let start = |run: &Run, p: &str| run.num(&["start_latency_us", p]);
    println!(
        "{concurrency:<12} {:>12.0} {:>12.0} {:>6.2}x | {:>10.1} / {:<9.1} {:>6.2}x | {:>6.1} {:>9.2}x | {:>10.1} / {:<9.1} {:>6.2}x | {:>10.1} / {:<9.1} {:>6.2}x | {:>7.0} / {:<7.0} {:>7.0} / {:<7.0}",
        jobs_per_s(rust),
        jobs_per_s(node),
        jobs_per_s(rust) / jobs_per_s(node),
        rust.cost.script_us,
        node.cost.script_us,
        rust.cost.script_us / node.cost.script_us,
        floor.cost.script_us,
        rust.cost.script_us / floor.cost.script_us,
        rust.cost.cpu_us,
        node.cost.cpu_us,
        rust.cost.cpu_us / node.cost.cpu_us,
        worker_cpu(rust),
        worker_cpu(node),
        worker_cpu(rust) / worker_cpu(node),
        start(rust, "p50"),
        start(rust, "p99"),
        start(node, "p50"),
        start(node, "p99"),
    );
}

/// Node BullMQ 6's worker through node-worker-compat/bench-worker.js, on a fresh server.
fn bench_node(jobs: usize, concurrency: usize, samples: usize) -> Run {
    let redis = RedisServer::with_aof_everysec();
    let figures = testkit::node::run_args(
        "bench-worker.js",
        &[
            "--redis-url",
            &redis.url(),
            "--major",
            "6",
            "--queue",
            "node",
            "--jobs",
            &jobs.to_string(),
            "--concurrency",
            &concurrency.to_string(),
            "--samples",
            &samples.to_string(),
        ],
    );
    let cost = RedisCost::from_node(&figures["redis"], jobs);
    Run { figures, cost }
}

/// The benchmark's job options: removeOnComplete, as on the Node side.
fn job_options() -> JobOptions {
    JobOptions {
        remove_on_complete: Some(bullmq_rs::RemoveOn::Remove(true)),
        ..Default::default()
    }
}

/// Connects to queue `name` and adds `jobs` jobs whose data is the Sellsy event, 1000 per
/// `add_bulk`, as the Node script adds its own.
async fn add_jobs(url: &str, name: &str, jobs: usize) -> Queue {
    let queue = Queue::connect(url, name)
        .await
        .unwrap_or_else(|err| fail(&err.to_string()));
    let opts = job_options();
    for start in (0..jobs).step_by(1000) {
        let batch: Vec<NewJob> = (start..(start + 1000).min(jobs))
            .map(|i| {
                let data = String::from_utf8(event(i as u64)).unwrap_or_default();
                NewJob::from_json("n", data, opts.clone())
            })
            .collect();
        queue
            .add_bulk(&batch)
            .await
            .unwrap_or_else(|err| fail(&err.to_string()));
    }
    queue
}

/// Counts the worker's completed jobs and wakes the benchmark at `target`.
struct Completions {
    count: AtomicUsize,
    target: usize,
    reached: Notify,
}

async fn bench_rust(
    redis: &RedisServer,
    name: &str,
    jobs: usize,
    concurrency: usize,
    samples: usize,
) -> Run {
    let queue = add_jobs(&redis.url(), name, jobs).await;
    let opts = job_options();
    // Completions are counted in-process, as the Node benchmark does with its `completed`
    // listener: polling the queue's counts would run scripts in the measured phase.
    let completions = Arc::new(Completions {
        count: AtomicUsize::new(0),
        target: jobs,
        reached: Notify::new(),
    });
    let counter = completions.clone();
    let (started_tx, mut started_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let started_tx = Arc::new(started_tx);
    let worker = Worker::builder(name)
        .concurrency(concurrency)
        .on_event(move |event| {
            if let WorkerEvent::Completed(..) = event
                && counter.count.fetch_add(1, Ordering::Relaxed) + 1 == counter.target
            {
                counter.reached.notify_one();
            }
        })
        .connect(&redis.url(), move |job: ActiveJob| {
            if let Some(sample) = job.data.get("sample").and_then(Value::as_u64) {
                let _ = started_tx.send((sample, Instant::now()));
            }
            async { Ok::<_, JobError>(Value::Null) }
        })
        .await
        .unwrap_or_else(|err| fail(&err.to_string()));
    let meter = RedisMeter::start(&redis.url()).await;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let cpu_before = own_cpu_time();
    let begun = Instant::now();
    let running = tokio::spawn(worker.run_until(async {
        let _ = done_rx.await;
    }));
    if jobs > 0 {
        completions.reached.notified().await;
    }
    let elapsed = begun.elapsed();
    let worker_cpu = own_cpu_time().saturating_sub(cpu_before);
    let cost = meter.finish(jobs).await;
    let rate = jobs as f64 / elapsed.as_secs_f64();
    let worker_cpu_us = worker_cpu.as_secs_f64() * 1e6 / jobs.max(1) as f64;

    let mut latencies = Vec::with_capacity(samples);
    for sample in 0..samples as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let before = Instant::now();
        queue
            .add("sample", &json!({"sample": sample}), opts.clone())
            .await
            .unwrap_or_else(|err| fail(&err.to_string()));
        let (seen, at) = started_rx
            .recv()
            .await
            .unwrap_or_else(|| fail("the worker stopped"));
        assert_eq!(seen, sample);
        latencies.push(at.duration_since(before).as_secs_f64() * 1e6);
    }
    latencies.sort_by(f64::total_cmp);
    let _ = done_tx.send(());
    let _ = running.await;
    let pct = |p: f64| {
        latencies[((p / 100.0 * latencies.len() as f64).ceil() as usize).saturating_sub(1)]
    };
    let figures = json!({"impl": "bullmq-rs", "concurrency": concurrency, "jobs_per_s": rate, "worker_cpu_us": worker_cpu_us, "start_latency_us": {"p50": pct(50.0), "p99": pct(99.0)}});
    Run { figures, cost }
}

/// This process's CPU time so far: the Rust worker's, as it runs in-process.
fn own_cpu_time() -> Duration {
    testkit::process_cpu_time(std::process::id())
        .unwrap_or_else(|| fail("cannot read this process's CPU time from /proc"))
}
