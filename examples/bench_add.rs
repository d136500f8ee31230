//! Run with: cargo run --release --example bench_add -- [--single N] [--concurrent N]
//!           [--in-flight N] [--bulk-batches N] [--batch-size N]
//!
//! Producer benchmark, Rust against Node BullMQ 6 in one run on one private redis-server
//! (started here on a free loopback port): add latency with one add in flight (p50, p99),
//! add throughput with 64 in flight, and bulk adds of 100-job batches. Prints both sides
//! and the Rust/Node ratios. Needs `npm ci` in node-worker-compat.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bullmq_rs::{JobOptions, NewJob, Queue};
use examples::{Args, fail};
use serde_json::{Value, json};
use testkit::RedisServer;

const WARM_UP: usize = 200;

struct Plan {
    single: usize,
    concurrent: usize,
    in_flight: usize,
    bulk_batches: usize,
    batch_size: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse(
        std::env::args().skip(1),
        &[
            "single",
            "concurrent",
            "in-flight",
            "bulk-batches",
            "batch-size",
        ],
    )
    .unwrap_or_else(|err| fail(&err.to_string()));
    let number = |flag: &str, default: u64| args.number_or(flag, default) as usize;
    let plan = Plan {
        single: number("single", 20_000),
        concurrent: number("concurrent", 100_000),
        in_flight: number("in-flight", 64),
        bulk_batches: number("bulk-batches", 500),
        batch_size: number("batch-size", 100),
    };
    let redis = RedisServer::start();

    let rust = bench_rust(&redis, &plan).await;
    let node = testkit::node::run_args(
        "bench-add.js",
        &[
            "--redis-url",
            &redis.url(),
            "--major",
            "6",
            "--queue",
            "node",
            "--single",
            &plan.single.to_string(),
            "--concurrent",
            &plan.concurrent.to_string(),
            "--in-flight",
            &plan.in_flight.to_string(),
            "--bulk-batches",
            &plan.bulk_batches.to_string(),
            "--batch-size",
            &plan.batch_size.to_string(),
        ],
    );
    report(&rust, &node, &plan);
}

async fn bench_rust(redis: &RedisServer, plan: &Plan) -> Value {
    let url = &redis.url();
    let payload = "x".repeat(100);
    let job = |i: usize| json!({"i": i, "payload": payload});

    let single = Queue::connect(url, "rust-single")
        .await
        .unwrap_or_else(|err| fail(&err.to_string()));
    for i in 0..WARM_UP {
        add(&single, &job(i)).await;
    }
    let mut latencies = Vec::with_capacity(plan.single);
    let started = Instant::now();
    for i in 0..plan.single {
        let t = Instant::now();
        add(&single, &job(i)).await;
        latencies.push(t.elapsed());
    }
    let single_rate = plan.single as f64 / started.elapsed().as_secs_f64();
    latencies.sort();

    let concurrent = Queue::connect(url, &format!("rust-c{}", plan.in_flight))
        .await
        .unwrap_or_else(|err| fail(&err.to_string()));
    for i in 0..WARM_UP {
        add(&concurrent, &job(i)).await;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = redis.cpu_time();
    let started = Instant::now();
    let workers: Vec<_> = (0..plan.in_flight)
        .map(|_| {
            let (queue, next, payload, total) = (
                concurrent.clone(),
                next.clone(),
                payload.clone(),
                plan.concurrent,
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    add(&queue, &json!({"i": i, "payload": payload})).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap_or_else(|err| fail(&err.to_string()));
    }
    let elapsed = started.elapsed();
    let concurrent_rate = plan.concurrent as f64 / elapsed.as_secs_f64();
    // How busy redis-server was: at 100% the adds run at Redis' own ceiling.
    let redis_busy = match (cpu_before, redis.cpu_time()) {
        (Some(before), Some(after)) => {
            (after - before).as_secs_f64() / elapsed.as_secs_f64() * 100.0
        }
        _ => f64::NAN,
    };

    let bulk = Queue::connect(url, "rust-bulk")
        .await
        .unwrap_or_else(|err| fail(&err.to_string()));
    let batch = |start: usize| -> Vec<NewJob> {
        (start..start + plan.batch_size)
            .map(|i| {
                NewJob::new("bench", &job(i), JobOptions::default())
                    .unwrap_or_else(|err| fail(&err.to_string()))
            })
            .collect()
    };
    for _ in 0..WARM_UP / plan.batch_size.max(1) {
        bulk.add_bulk(&batch(0))
            .await
            .unwrap_or_else(|err| fail(&err.to_string()));
    }
    let batches: Vec<Vec<NewJob>> = (0..plan.bulk_batches)
        .map(|b| batch(b * plan.batch_size))
        .collect();
    let started = Instant::now();
    for jobs in &batches {
        bulk.add_bulk(jobs)
            .await
            .unwrap_or_else(|err| fail(&err.to_string()));
    }
    let bulk_rate = (plan.bulk_batches * plan.batch_size) as f64 / started.elapsed().as_secs_f64();

    json!({
        "impl": "bullmq-rs",
        "single": {"p50_us": micros(percentile(&latencies, 50.0)), "p99_us": micros(percentile(&latencies, 99.0)), "ops_per_s": single_rate},
        "concurrent": {"in_flight": plan.in_flight, "ops_per_s": concurrent_rate, "redis_busy_pct": redis_busy},
        "bulk": {"batch_size": plan.batch_size, "jobs_per_s": bulk_rate},
    })
}

async fn add(queue: &Queue, data: &Value) {
    queue
        .add("bench", data, JobOptions::default())
        .await
        .unwrap_or_else(|err| fail(&err.to_string()));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn report(rust: &Value, node: &Value, plan: &Plan) {
    let num = |v: &Value, path: &[&str]| {
        path.iter()
            .fold(v, |v, key| &v[*key])
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    println!(
        "producer benchmark: one redis-server, {} single adds, {} adds with {} in flight, {} batches of {}",
        plan.single, plan.concurrent, plan.in_flight, plan.bulk_batches, plan.batch_size
    );
    println!(
        "{:<34} {:>14} {:>14} {:>10}",
        "measure",
        "bullmq-rs",
        node["impl"].as_str().unwrap_or("node"),
        "ratio"
    );
    let rows: [(&str, &[&str], bool); 5] = [
        (
            "1 in flight: p50 latency (us)",
            &["single", "p50_us"],
            false,
        ),
        (
            "1 in flight: p99 latency (us)",
            &["single", "p99_us"],
            false,
        ),
        ("1 in flight: adds/s", &["single", "ops_per_s"], true),
        ("64 in flight: adds/s", &["concurrent", "ops_per_s"], true),
        ("bulk (100/batch): jobs/s", &["bulk", "jobs_per_s"], true),
    ];
    for (label, path, higher_is_better) in rows {
        let (r, n) = (num(rust, path), num(node, path));
        // Ratios read as "how many times better": throughput Rust/Node, latency Node/Rust.
        let ratio = if higher_is_better { r / n } else { n / r };
        println!("{label:<34} {r:>14.1} {n:>14.1} {ratio:>9.2}x");
    }
    println!(
        "redis-server CPU busy during the Rust 64-in-flight phase: {:.0}% (100% = Redis' own ceiling)",
        num(rust, &["concurrent", "redis_busy_pct"])
    );
}
