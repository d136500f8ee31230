//! Run with: cargo run --release --example bench_add -- [--data sellsy|small|listener]
//!           [--single N] [--concurrent N] [--in-flight N] [--bulk-batches N]
//!           [--batch-size N] [--repeat N]
//!
//! Producer benchmark: our add (bullmq-rs), the floor (`floor_add.lua`: only the writes
//! our add script makes, arguments ready-made, sent by the same Rust client the same way)
//! and Node BullMQ 6, in one run. Each job data (`--data`, default all three in this
//! order):
//!   sellsy    the ~600-byte Sellsy event (`examples::bench_data::event`), distinct per job;
//!   small     the 100-byte job `{"i": n, "payload": "xxx…"}`;
//!   listener  the event as the listener sends it: custom id `sellsy-<dedup id>`,
//!             deduplication {id, ttl 24 h}, `{"removeOnComplete": true}`.
//! goes through three phases: 1 add in flight (`--single`, latency p50/p99), `--in-flight`
//! (64) adds in flight (`--concurrent` adds), and bulk adds of `--batch-size` (100) jobs
//! (`--bulk-batches` calls). Every phase of every implementation gets a fresh private
//! redis-server with AOF `appendfsync everysec`, warms up, then is measured; the three
//! implementations take turns (ours, floor, BullMQ, ours, floor, BullMQ, …) `--repeat`
//! times (2) and the median of each figure is printed.
//!
//! Printed per data and phase, for ours, the floor and BullMQ: adds/s, Redis script time
//! per job (`INFO commandstats`, usec of `evalsha` + `eval` and kin, after `CONFIG
//! RESETSTAT`) and redis-server CPU per job (`INFO cpu`, which also counts reading the
//! commands and writing the replies), with the ratios ours/floor and ours/BullMQ checked
//! against the goals: script time ≤ 1.1x the floor and ≤ 0.7x BullMQ's; 64 in flight
//! ≥ 1.15x and bulk ≥ 3x BullMQ's adds/s. Needs `npm ci` in node-worker-compat.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bullmq_rs::{Deduplication, JobOptions, NewJob, Queue, RemoveOn};
use examples::bench_data::{dedup_id, event, small};
use examples::{Args, fail};
use testkit::RedisServer;

#[path = "bench_cost.rs"]
mod bench_cost;
use bench_cost::{RedisCost, RedisMeter};

#[path = "bench_floor.rs"]
mod bench_floor;
use bench_floor::Floor;

const WARM_UP: usize = 200;
/// Warm-up jobs are numbered from here, apart from the measured ones (0, 1, …).
const WARM_UP_BASE: u64 = 1_000_000_000;
/// The listener's default deduplication window (`--dedup-ttl-secs`).
const DEDUP_TTL: Duration = Duration::from_secs(24 * 3600);

struct Plan {
    single: usize,
    concurrent: usize,
    in_flight: usize,
    bulk_batches: usize,
    batch_size: usize,
    repeat: usize,
}

/// The job every add of a run sends.
#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Sellsy,
    Small,
    Listener,
}

impl Workload {
    const ALL: [Self; 3] = [Self::Sellsy, Self::Small, Self::Listener];

    fn flag(self) -> &'static str {
        match self {
            Self::Sellsy => "sellsy",
            Self::Small => "small",
            Self::Listener => "listener",
        }
    }

    fn title(self) -> String {
        let bytes = event(0).len();
        match self {
            Self::Sellsy => {
                format!("sellsy: the {bytes}-byte Sellsy event, distinct per job, default options")
            }
            Self::Small => "small: the 100-byte job, default options".to_owned(),
            Self::Listener => format!(
                "listener: the {bytes}-byte event as the listener sends it (custom id, deduplication ttl 24 h, removeOnComplete)"
            ),
        }
    }

    fn job_name(self) -> &'static str {
        match self {
            Self::Listener => "event",
            Self::Sellsy | Self::Small => "bench",
        }
    }

    fn data(self, n: u64) -> String {
        match self {
            Self::Small => small(n).to_string(),
            Self::Sellsy | Self::Listener => String::from_utf8(event(n)).unwrap_or_default(),
        }
    }

    /// The custom id and deduplication id of job `n`, for the listener's jobs.
    fn dedup(self, n: u64) -> Option<String> {
        (self == Self::Listener).then(|| dedup_id(n))
    }

    fn options(self, n: u64) -> JobOptions {
        match self.dedup(n) {
            None => JobOptions::default(),
            Some(dedup) => JobOptions {
                job_id: Some(format!("sellsy-{dedup}").into()),
                deduplication: Some(Deduplication {
                    id: dedup,
                    ttl: Some(DEDUP_TTL),
                    ..Default::default()
                }),
                remove_on_complete: Some(RemoveOn::Remove(true)),
                ..Default::default()
            },
        }
    }
}

#[derive(Clone, Copy)]
enum Phase {
    Single,
    Concurrent,
    Bulk,
}

impl Phase {
    const ALL: [Self; 3] = [Self::Single, Self::Concurrent, Self::Bulk];

    fn key(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Concurrent => "concurrent",
            Self::Bulk => "bulk",
        }
    }
}

#[derive(Clone, Copy)]
enum Implementation {
    Ours,
    Floor,
    Node,
}

/// One phase's figures.
#[derive(Clone, Copy)]
struct Measure {
    jobs_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    cost: RedisCost,
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
            "repeat",
            "data",
        ],
    )
    .unwrap_or_else(|err| fail(&err.to_string()));
    let number = |flag: &str, default: u64| args.number_or(flag, default) as usize;
    let plan = Plan {
        single: number("single", 20_000),
        concurrent: number("concurrent", 100_000),
        in_flight: number("in-flight", 64),
        bulk_batches: number("bulk-batches", 500),
        batch_size: number("batch-size", 100).max(1),
        repeat: number("repeat", 2).max(1),
    };
    let workloads: Vec<Workload> = match args.flag("data") {
        None => Workload::ALL.to_vec(),
        Some(flag) => vec![
            Workload::ALL
                .into_iter()
                .find(|w| w.flag() == flag)
                .unwrap_or_else(|| fail("--data expects sellsy, small or listener")),
        ],
    };
    println!(
        "producer benchmark: {} single adds, {} adds with {} in flight, {} batches of {}; a fresh redis-server (AOF everysec) per phase and implementation; median of {}",
        plan.single,
        plan.concurrent,
        plan.in_flight,
        plan.bulk_batches,
        plan.batch_size,
        plan.repeat
    );
    for workload in workloads {
        println!("\n{}", workload.title());
        for phase in Phase::ALL {
            let mut runs: [Vec<Measure>; 3] = Default::default();
            for _ in 0..plan.repeat {
                for (i, implementation) in [
                    Implementation::Ours,
                    Implementation::Floor,
                    Implementation::Node,
                ]
                .into_iter()
                .enumerate()
                {
                    let redis = RedisServer::with_aof_everysec();
                    runs[i].push(measure(&redis, implementation, workload, phase, &plan).await);
                }
            }
            report(phase, &runs.map(|runs| median(&runs)), &plan);
        }
    }
}

async fn measure(
    redis: &RedisServer,
    implementation: Implementation,
    workload: Workload,
    phase: Phase,
    plan: &Plan,
) -> Measure {
    let url = redis.url();
    let producer = match implementation {
        Implementation::Node => return node(&url, workload, phase, plan),
        Implementation::Ours => Producer::Ours(
            Queue::connect(&url, "rust")
                .await
                .unwrap_or_else(|err| fail(&err.to_string())),
        ),
        Implementation::Floor => Producer::Floor(Floor::connect(&url, "floor", workload).await),
    };
    match phase {
        Phase::Single => single(&producer, workload, plan.single, &url).await,
        Phase::Concurrent => concurrent(&producer, workload, plan, &url).await,
        Phase::Bulk => bulk(&producer, workload, plan, &url).await,
    }
}

async fn single(producer: &Producer, workload: Workload, count: usize, url: &str) -> Measure {
    for n in 0..WARM_UP as u64 {
        producer.add(workload, WARM_UP_BASE + n, 1).await;
    }
    let meter = RedisMeter::start(url).await;
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for n in 0..count as u64 {
        let t = Instant::now();
        producer.add(workload, n, 1).await;
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    let cost = meter.finish(count).await;
    latencies.sort();
    Measure {
        jobs_per_s: count as f64 / elapsed.as_secs_f64(),
        p50_us: micros(percentile(&latencies, 50.0)),
        p99_us: micros(percentile(&latencies, 99.0)),
        cost,
    }
}

/// `plan.in_flight` tasks sharing one counter, so that many adds are outstanding until
/// the counter runs out.
async fn concurrent(producer: &Producer, workload: Workload, plan: &Plan, url: &str) -> Measure {
    for n in 0..WARM_UP as u64 {
        producer.add(workload, WARM_UP_BASE + n, 1).await;
    }
    let total = plan.concurrent as u64;
    let next = Arc::new(AtomicU64::new(0));
    let meter = RedisMeter::start(url).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..plan.in_flight)
        .map(|_| {
            let (producer, next) = (producer.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    producer.add(workload, n, 1).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap_or_else(|err| fail(&err.to_string()));
    }
    let elapsed = started.elapsed();
    Measure {
        jobs_per_s: plan.concurrent as f64 / elapsed.as_secs_f64(),
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        cost: meter.finish(plan.concurrent).await,
    }
}

async fn bulk(producer: &Producer, workload: Workload, plan: &Plan, url: &str) -> Measure {
    let size = plan.batch_size;
    for b in 0..WARM_UP.div_ceil(size) {
        producer
            .add(workload, WARM_UP_BASE + (b * size) as u64, size)
            .await;
    }
    let meter = RedisMeter::start(url).await;
    let started = Instant::now();
    for b in 0..plan.bulk_batches {
        producer.add(workload, (b * size) as u64, size).await;
    }
    let elapsed = started.elapsed();
    let jobs = plan.bulk_batches * size;
    Measure {
        jobs_per_s: jobs as f64 / elapsed.as_secs_f64(),
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        cost: meter.finish(jobs).await,
    }
}

/// What sends the adds: our `Queue` or the floor script, through the same Rust client.
#[derive(Clone)]
enum Producer {
    Ours(Queue),
    Floor(Floor),
}

impl Producer {
    /// Adds jobs `first..first + count` of `workload` in one call.
    async fn add(&self, workload: Workload, first: u64, count: usize) {
        let numbers = first..first + count as u64;
        match self {
            Self::Ours(queue) => {
                let jobs: Vec<NewJob> = numbers
                    .map(|n| {
                        NewJob::from_json(
                            workload.job_name(),
                            workload.data(n),
                            workload.options(n),
                        )
                    })
                    .collect();
                queue
                    .add_bulk(&jobs)
                    .await
                    .unwrap_or_else(|err| fail(&err.to_string()));
            }
            Self::Floor(floor) => floor.add(workload, numbers).await,
        }
    }
}

/// One phase of `node-worker-compat/bench-add.js` on its own server.
fn node(url: &str, workload: Workload, phase: Phase, plan: &Plan) -> Measure {
    let result = testkit::node::run_args(
        "bench-add.js",
        &[
            "--redis-url",
            url,
            "--major",
            "6",
            "--queue",
            "node",
            "--data",
            workload.flag(),
            "--phases",
            phase.key(),
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
    let phase = &result[phase.key()];
    let num = |key: &str| phase[key].as_f64().unwrap_or(f64::NAN);
    Measure {
        jobs_per_s: num("jobs_per_s"),
        p50_us: num("p50_us"),
        p99_us: num("p99_us"),
        cost: RedisCost::from_node(
            &phase["redis"],
            phase["jobs"].as_u64().unwrap_or(0) as usize,
        ),
    }
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

/// The median of each figure over the repeats (the mean of the middle two when even).
fn median(runs: &[Measure]) -> Measure {
    let of = |figure: fn(&Measure) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(figure).collect();
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        if values.len().is_multiple_of(2) {
            (values[mid - 1] + values[mid]) / 2.0
        } else {
            values[mid]
        }
    };
    Measure {
        jobs_per_s: of(|m| m.jobs_per_s),
        p50_us: of(|m| m.p50_us),
        p99_us: of(|m| m.p99_us),
        cost: RedisCost {
            script_us: of(|m| m.cost.script_us),
            cpu_us: of(|m| m.cost.cpu_us),
        },
    }
}

/// A goal on a ratio ours/other: at most or at least `bound`.
#[derive(Clone, Copy)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Goal {
    fn verdict(self, ratio: f64) -> String {
        let (met, sign, bound) = match self {
            Self::AtMost(bound) => (ratio <= bound, "<=", bound),
            Self::AtLeast(bound) => (ratio >= bound, ">=", bound),
        };
        format!("{} ({sign}{bound}x)", if met { "ok" } else { "MISSED" })
    }
}

struct Row {
    label: &'static str,
    figure: fn(&Measure) -> f64,
    /// Goals on ours/floor and ours/BullMQ.
    goals: (Option<Goal>, Option<Goal>),
}

fn report(phase: Phase, [ours, floor, node]: &[Measure; 3], plan: &Plan) {
    let (title, throughput_goal) = match phase {
        Phase::Single => (format!("1 in flight, {} adds", plan.single), None),
        Phase::Concurrent => (
            format!("{} in flight, {} adds", plan.in_flight, plan.concurrent),
            Some(Goal::AtLeast(1.15)),
        ),
        Phase::Bulk => (
            format!("bulk, {} calls of {}", plan.bulk_batches, plan.batch_size),
            Some(Goal::AtLeast(3.0)),
        ),
    };
    println!(
        "  {title:<36} {:>10} {:>10} {:>10}  {:<24} {:<24}",
        "ours", "floor", "BullMQ", "ours/floor", "ours/BullMQ"
    );
    let mut rows = vec![Row {
        label: "adds/s",
        figure: |m| m.jobs_per_s,
        goals: (None, throughput_goal),
    }];
    if let Phase::Single = phase {
        rows.push(Row {
            label: "latency p50 (us)",
            figure: |m| m.p50_us,
            goals: (None, None),
        });
        rows.push(Row {
            label: "latency p99 (us)",
            figure: |m| m.p99_us,
            goals: (None, None),
        });
    }
    rows.push(Row {
        label: "redis script us/job",
        figure: |m| m.cost.script_us,
        goals: (Some(Goal::AtMost(1.1)), Some(Goal::AtMost(0.7))),
    });
    rows.push(Row {
        label: "redis CPU us/job",
        figure: |m| m.cost.cpu_us,
        goals: (None, None),
    });
    for row in rows {
        let (o, f, n) = ((row.figure)(ours), (row.figure)(floor), (row.figure)(node));
        let ratio = |ratio: f64, goal: Option<Goal>| {
            let verdict = goal.map(|g| g.verdict(ratio)).unwrap_or_default();
            format!("{ratio:>6.2}x {verdict}")
        };
        println!(
            "    {:<34} {o:>10.1} {f:>10.1} {n:>10.1}  {:<24} {:<24}",
            row.label,
            ratio(o / f, row.goals.0),
            ratio(o / n, row.goals.1),
        );
    }
}
