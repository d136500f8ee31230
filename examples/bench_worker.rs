//! Run with: cargo run --release --example bench_worker -- [--jobs N] [--samples S]
//!
//! Worker benchmark, the Rust worker against Node BullMQ 6's, in one run: each worker at
//! each concurrency gets a fresh private redis-server with AOF `appendfsync everysec`.
//! Printed per concurrency (1 and 50): jobs processed per second with a no-op handler
//! (N jobs whose data is the ~600-byte Sellsy event, distinct per job, with
//! removeOnComplete, are added first, then a worker is timed until it has completed them
//! all); Redis' cost per job of that processing, as script time (`INFO commandstats`,
//! usec of `evalsha` + `eval` and kin, after `CONFIG RESETSTAT`) and redis-server CPU
//! (`INFO cpu`, which also counts reading commands and writing replies); and the latency
//! from adding a job to the start of its processing, with the worker idle. Needs `npm ci`
//! in node-worker-compat.

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
        "{:<12} {:>12} {:>12} {:>7} | {:>22} {:>7} | {:>22} {:>7} | {:>17} {:>17}",
        "concurrency",
        "rust jobs/s",
        "node jobs/s",
        "ratio",
        "script us/job rust/node",
        "ratio",
        "redis CPU us/job r/n",
        "ratio",
        "rust start p50/p99",
        "node start p50/p99"
    );
    for concurrency in [1usize, 50] {
        let rust = {
            let redis = RedisServer::with_aof_everysec();
            bench_rust(&redis, "rust", jobs, concurrency, samples).await
        };
        let node = {
            let redis = RedisServer::with_aof_everysec();
            testkit::node::run_args(
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
            )
        };
        let num = |v: &Value, path: &[&str]| {
            path.iter()
                .fold(v, |v, key| &v[*key])
                .as_f64()
                .unwrap_or(f64::NAN)
        };
        let (rust_cost, node_cost) = (rust.1, RedisCost::from_node(&node["redis"], jobs));
        let rust = rust.0;
        println!(
            "{concurrency:<12} {:>12.0} {:>12.0} {:>6.2}x | {:>10.1} / {:<9.1} {:>6.2}x | {:>10.1} / {:<9.1} {:>6.2}x | {:>7.0} / {:<7.0} {:>7.0} / {:<7.0}",
            num(&rust, &["jobs_per_s"]),
            num(&node, &["jobs_per_s"]),
            num(&rust, &["jobs_per_s"]) / num(&node, &["jobs_per_s"]),
            rust_cost.script_us,
            node_cost.script_us,
            rust_cost.script_us / node_cost.script_us,
            rust_cost.cpu_us,
            node_cost.cpu_us,
            rust_cost.cpu_us / node_cost.cpu_us,
            num(&rust, &["start_latency_us", "p50"]),
            num(&rust, &["start_latency_us", "p99"]),
            num(&node, &["start_latency_us", "p50"]),
            num(&node, &["start_latency_us", "p99"]),
        );
    }
    println!("ratios: jobs/s rust/node (higher is better), us/job rust/node (lower is better)");
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
) -> (Value, RedisCost) {
    let queue = Queue::connect(&redis.url(), name)
        .await
        .unwrap_or_else(|err| fail(&err.to_string()));
    let opts = JobOptions {
        remove_on_complete: Some(bullmq_rs::RemoveOn::Remove(true)),
        ..Default::default()
    };
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
    let begun = Instant::now();
    let running = tokio::spawn(worker.run_until(async {
        let _ = done_rx.await;
    }));
    if jobs > 0 {
        completions.reached.notified().await;
    }
    let elapsed = begun.elapsed();
    let cost = meter.finish(jobs).await;
    let rate = jobs as f64 / elapsed.as_secs_f64();

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
    let figures = json!({"impl": "bullmq-rs", "concurrency": concurrency, "jobs_per_s": rate, "start_latency_us": {"p50": pct(50.0), "p99": pct(99.0)}});
    (figures, cost)
}
