//! Run with: cargo run --release --example bench_worker -- [--jobs N] [--samples S]
//!
//! Worker benchmark, the Rust worker against Node BullMQ 6's, in one run on one private
//! redis-server: jobs processed per second with a no-op handler at concurrency 1 and 50
//! (the jobs are added first, then a worker is timed until it has completed them all),
//! and the latency from adding a job to the start of its processing, with the worker
//! idle. Needs `npm ci` in node-worker-compat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bullmq_rs::{ActiveJob, JobError, JobOptions, NewJob, Queue, Worker};
use examples::{Args, fail};
use serde_json::{Value, json};
use testkit::RedisServer;
use tokio::sync::mpsc;

#[tokio::main]
async fn main() {
    let args = Args::parse(std::env::args().skip(1), &["jobs", "samples"])
        .unwrap_or_else(|err| fail(&err.to_string()));
    let number = |flag: &str, default: u64| args.number_or(flag, default) as usize;
    let (jobs, samples) = (number("jobs", 20_000), number("samples", 200));
    let redis = RedisServer::start();
    println!(
        "worker benchmark: one redis-server, {jobs} no-op jobs per run, {samples} start-latency samples"
    );
    println!(
        "{:<12} {:>14} {:>14} {:>8} | {:>16} {:>16}",
        "concurrency",
        "rust jobs/s",
        "node jobs/s",
        "ratio",
        "rust start p50/p99",
        "node start p50/p99"
    );
    for concurrency in [1usize, 50] {
        let queue = format!("rust-c{concurrency}");
        let rust = bench_rust(&redis, &queue, jobs, concurrency, samples).await;
        let node = testkit::node::run_args(
            "bench-worker.js",
            &[
                "--redis-url",
                &redis.url(),
                "--major",
                "6",
                "--queue",
                &format!("node-c{concurrency}"),
                "--jobs",
                &jobs.to_string(),
                "--concurrency",
                &concurrency.to_string(),
                "--samples",
                &samples.to_string(),
            ],
        );
        let num = |v: &Value, path: &[&str]| {
            path.iter()
                .fold(v, |v, key| &v[*key])
                .as_f64()
                .unwrap_or(f64::NAN)
        };
        println!(
            "{concurrency:<12} {:>14.0} {:>14.0} {:>7.2}x | {:>8.0} / {:<7.0} {:>8.0} / {:<7.0}",
            num(&rust, &["jobs_per_s"]),
            num(&node, &["jobs_per_s"]),
            num(&rust, &["jobs_per_s"]) / num(&node, &["jobs_per_s"]),
            num(&rust, &["start_latency_us", "p50"]),
            num(&rust, &["start_latency_us", "p99"]),
            num(&node, &["start_latency_us", "p50"]),
            num(&node, &["start_latency_us", "p99"]),
        );
        println!(
            "{:<12} redis-server busy during the Rust run: {:.0}% (100% = Redis' own ceiling)",
            "",
            num(&rust, &["redis_busy_pct"])
        );
    }
}

async fn bench_rust(
    redis: &RedisServer,
    name: &str,
    jobs: usize,
    concurrency: usize,
    samples: usize,
) -> Value {
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
                NewJob::new("n", &json!({"i": i}), opts.clone())
                    .unwrap_or_else(|err| fail(&err.to_string()))
            })
            .collect();
        queue
            .add_bulk(&batch)
            .await
            .unwrap_or_else(|err| fail(&err.to_string()));
    }
    let (started_tx, mut started_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let started_tx = Arc::new(started_tx);
    let worker = Worker::builder(name)
        .concurrency(concurrency)
        .connect(&redis.url(), move |job: ActiveJob| {
            if let Some(sample) = job.data.get("sample").and_then(Value::as_u64) {
                let _ = started_tx.send((sample, Instant::now()));
            }
            async { Ok::<_, JobError>(Value::Null) }
        })
        .await
        .unwrap_or_else(|err| fail(&err.to_string()));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run_until(async {
        let _ = done_rx.await;
    }));

    let cpu_before = redis.cpu_time();
    let begun = Instant::now();
    let counter = queue.clone();
    while counter
        .get_job_counts()
        .await
        .map(|c| c.waiting + c.active)
        .unwrap_or(1)
        > 0
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = begun.elapsed();
    let rate = jobs as f64 / elapsed.as_secs_f64();
    // How busy redis-server was while the worker ran: 100% is Redis' own ceiling.
    let redis_busy = match (cpu_before, redis.cpu_time()) {
        (Some(before), Some(after)) => {
            (after - before).as_secs_f64() / elapsed.as_secs_f64() * 100.0
        }
        _ => f64::NAN,
    };

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
    json!({"impl": "bullmq-rs", "concurrency": concurrency, "jobs_per_s": rate, "redis_busy_pct": redis_busy, "start_latency_us": {"p50": pct(50.0), "p99": pct(99.0)}})
}
