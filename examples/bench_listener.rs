//! Run with: cargo run --release --example bench_listener -- [--duration-secs 5]
//!           [--listener-workers N]
//!
//! Load test of the webhook listener against the Node/Fastify/BullMQ design it replaces
//! (`node-worker-compat/poc-listener.js`), in one run on one private redis-server with
//! AOF `appendfsync everysec`, each side on a db of its own, emptied after every run.
//!
//! Table B (printed first): a distinct ~600-byte Sellsy event per request (the bodies of
//! `examples::bench_data::event`, numbered apart across wrk's threads and runs; see
//! bench_wrk.rs), signatures off on both, so every 200 must be a new job on both sides.
//! wrk drives each side closed-loop on keep-alive connections (`-t 2 -c N`) at c=1, 16
//! and 64, taking turns (rust, node, rust, node) and printing the median of the two runs:
//! r/s, latency p50/p99/p99.9 (µs); the jobs stored (`LLEN wait`) against the 200s and
//! the requests sent (ok when 200s ≤ jobs ≤ sent: a request still in flight when wrk
//! stops may be stored without its 200 being counted); and the CPU per event (µs, /proc,
//! 10 ms ticks) of the listener process, redis-server and wrk, with the ceiling they set
//! on this machine: 2 cores / (listener + redis + wrk CPU per event), and how close the
//! run came to it.
//!
//! Table A: the same signed event every request (signatures checked by both; our listener
//! recognises a repeated event and stores it once, which makes A cheaper for it), driven
//! by oha at c=1, 16, 64 and at a fixed 1 000 req/s, then the c=1 floor of an HTTP round
//! trip. Skipped, with a line saying so, when oha is missing (`cargo install oha`).
//! Needs wrk and `npm ci` in node-worker-compat.

use std::cell::Cell;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use examples::bench_data::event;
use examples::{Args, fail};
use testkit::RedisServer;

#[path = "bench_support.rs"]
mod bench_support;
use bench_support::{build_listener, free_port};

#[path = "bench_oha.rs"]
mod bench_oha;

#[path = "bench_wrk.rs"]
mod bench_wrk;
use bench_wrk::{RUN_SPAN, WrkRun, WrkScript};

const QUEUE: &str = "sellsy-webhooks";

struct Target {
    label: &'static str,
    url: String,
    db: u8,
    process: Child,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Connections of table B's runs.
const LOADS_B: [u32; 3] = [1, 16, 64];
/// Runs of each side per load in table B, taking turns; the median is printed.
const REPEATS_B: usize = 2;
/// Cores of the machine the ceiling is worked out for.
const CORES: f64 = 2.0;

/// One wrk run of table B against one listener.
struct DistinctRun {
    wrk: WrkRun,
    stored: u64,
    /// Events the listener acknowledged from its spool during the run (Redis missed the deadline).
    spooled: u64,
    /// CPU time per 200 of the listener process, redis-server and wrk, in µs.
    listener_cpu_us: f64,
    redis_cpu_us: f64,
    wrk_cpu_us: f64,
}

fn main() {
    let args = Args::parse(
        std::env::args().skip(1),
        &["duration-secs", "listener-workers"],
    )
    .unwrap_or_else(|err| fail(&err.to_string()));
    let duration = args.number_or("duration-secs", 5);
    let workers = args.flag("listener-workers").unwrap_or("1").to_owned();
    if Command::new("wrk").arg("--version").output().is_err() {
        fail("wrk is not installed: apt-get install wrk");
    }
    let listener_bin = build_listener();
    let redis = RedisServer::with_aof_everysec();
    let work = std::env::temp_dir().join(format!("bench-listener-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap_or_else(|err| fail(&err.to_string()));
    println!(
        "event: {} bytes; redis-server on 127.0.0.1:{} (AOF everysec); {duration} s per run; listener workers: {workers}",
        event(0).len(),
        redis.port()
    );

    table_b(&listener_bin, &redis, &workers, &work, duration);
    if bench_oha::installed() {
        bench_oha::table_a(&listener_bin, &redis, &workers, &work, duration);
    } else {
        println!("\nA: skipped: oha is not installed (cargo install oha)");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// Runs and prints table B; the listeners use dbs 3 (Rust) and 4 (Node) of `redis`.
fn table_b(listener_bin: &Path, redis: &RedisServer, workers: &str, work: &Path, duration: u64) {
    let bench = Distinct {
        script: WrkScript::write(work),
        redis,
        runs: Cell::new(0),
    };
    let targets = [
        start_rust(listener_bin, redis, 3, None, workers, &work.join("spool-b")),
        start_node(redis, 4, None),
    ];
    for target in &targets {
        bench.run(target, 16, 1);
    }
    let rows: Vec<(u32, [Vec<DistinctRun>; 2])> = LOADS_B
        .into_iter()
        .map(|connections| {
            let mut runs: [Vec<DistinctRun>; 2] = Default::default();
            for _ in 0..REPEATS_B {
                for (side, target) in targets.iter().enumerate() {
                    runs[side].push(bench.run(target, connections, duration));
                }
            }
            (connections, runs)
        })
        .collect();
    report_b(&rows);
}

fn report_b(rows: &[(u32, [Vec<DistinctRun>; 2])]) {
    println!(
        "\nB: a distinct event every request (signatures off on both; wrk -t 2, keep-alive; median of {REPEATS_B} runs each, taking turns)"
    );
    println!(
        "{:<6} | {:>8} {:>7} {:>7} {:>8} {:>16} | {:>8} {:>7} {:>7} {:>8} {:>16} | {:>6} {:>6}",
        "load",
        "rust r/s",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "jobs/200s",
        "node r/s",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "jobs/200s",
        "r/s x",
        "p99 x"
    );
    let of = median_of;
    for (connections, [rust, node]) in rows {
        println!(
            "c={connections:<4} | {} | {} | {:>5.2}x {:>5.2}x",
            latency_columns(rust),
            latency_columns(node),
            of(rust, |run| run.wrk.rps) / of(node, |run| run.wrk.rps),
            of(node, |run| run.wrk.p99) / of(rust, |run| run.wrk.p99),
        );
    }
    println!("r/s x: rust/node; p99 x: node/rust (above 1, the Rust listener does better)");
    println!(
        "jobs/200s: jobs stored / 200s over the {REPEATS_B} runs; ok when 200s <= jobs <= requests sent (a request in flight when wrk stops may be stored unanswered)"
    );
    let spooled: u64 = rows
        .iter()
        .flat_map(|(_, [rust, _])| rust.iter().map(|run| run.spooled))
        .sum();
    if spooled > 0 {
        println!(
            "(the Rust listener acknowledged {spooled} of these events from its spool: Redis missed the deadline)"
        );
    }
    println!(
        "CPU per event (us; /proc, 10 ms ticks): listener process + redis-server + wrk; ceiling = {CORES} cores / their sum"
    );
    for (connections, [rust, node]) in rows {
        println!(
            "c={connections:<4} | rust {} | node {}",
            cpu_columns(rust),
            cpu_columns(node)
        );
    }
}

/// r/s, p50, p99, p99.9 (medians) and the jobs stored against the 200s, with the check.
fn latency_columns(runs: &[DistinctRun]) -> String {
    let of = |figure: fn(&DistinctRun) -> f64| median_of(runs, figure);
    let (stored, ok): (u64, u64) = runs
        .iter()
        .fold((0, 0), |(s, o), run| (s + run.stored, o + run.wrk.ok));
    let consistent = runs
        .iter()
        .all(|run| run.wrk.ok <= run.stored && run.stored <= run.wrk.sent);
    format!(
        "{:>8.0} {:>7.0} {:>7.0} {:>8.0} {:>16}",
        of(|run| run.wrk.rps),
        of(|run| run.wrk.p50),
        of(|run| run.wrk.p99),
        of(|run| run.wrk.p999),
        format!("{stored}/{ok} {}", if consistent { "ok" } else { "BAD" }),
    )
}

/// CPU per event of each process (medians), their sum, the ceiling it sets, and how close
/// the run came to it.
fn cpu_columns(runs: &[DistinctRun]) -> String {
    let of = |figure: fn(&DistinctRun) -> f64| median_of(runs, figure);
    let (listener, redis, wrk) = (
        of(|run| run.listener_cpu_us),
        of(|run| run.redis_cpu_us),
        of(|run| run.wrk_cpu_us),
    );
    let total = listener + redis + wrk;
    let ceiling = CORES * 1e6 / total;
    format!(
        "{listener:>6.1} + {redis:>5.1} + {wrk:>5.1} = {total:>6.1} -> ceiling {ceiling:>6.0} ev/s, run at {:>3.0}%",
        of(|run| run.wrk.rps) / ceiling * 100.0
    )
}

/// The median of one figure over runs (the mean of the middle two when even).
fn median_of(runs: &[DistinctRun], figure: fn(&DistinctRun) -> f64) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(figure).collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        n if n.is_multiple_of(2) => (values[mid - 1] + values[mid]) / 2.0,
        _ => values[mid],
    }
}

/// Table B's runs: wrk with its script against one Redis; each run numbers its events
/// from a base of its own.
struct Distinct<'a> {
    script: WrkScript,
    redis: &'a RedisServer,
    runs: Cell<u64>,
}

impl Distinct<'_> {
    /// One wrk run of `duration` s with `connections` against `target`.
    fn run(&self, target: &Target, connections: u32, duration: u64) -> DistinctRun {
        let redis = self.redis;
        let base = self.runs.replace(self.runs.get() + 1) * RUN_SPAN;
        let spooled_before = spooled(target);
        let cpu = || {
            (
                testkit::process_cpu_time(target.process.id()),
                redis.cpu_time(),
            )
        };
        let cpu_before = cpu();
        let wrk = self.script.run(&target.url, connections, duration, base);
        let cpu_after = cpu();
        if wrk.ok != wrk.responses || wrk.socket_errors > 0 {
            eprintln!(
                "warning: {} at c={connections}: {} of {} responses not 2xx, {} socket errors",
                target.label,
                wrk.responses - wrk.ok,
                wrk.responses,
                wrk.socket_errors
            );
        }
        let per_event = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
            (Some(before), Some(after)) if wrk.ok > 0 => {
                after.saturating_sub(before).as_secs_f64() * 1e6 / wrk.ok as f64
            }
            _ => f64::NAN,
        };
        let stored = settled_waiting(redis, target.db);
        // Start every run from an empty db: a Redis holding hundreds of thousands of jobs from
        // earlier runs is slower, which would favour whichever listener ran first.
        let _: redis::RedisResult<()> =
            redis::cmd("FLUSHDB").query(&mut redis.connection(target.db));
        DistinctRun {
            stored,
            spooled: spooled(target).saturating_sub(spooled_before),
            listener_cpu_us: per_event(cpu_before.0, cpu_after.0),
            redis_cpu_us: per_event(cpu_before.1, cpu_after.1),
            wrk_cpu_us: wrk.cpu.as_secs_f64() * 1e6 / wrk.ok.max(1) as f64,
            wrk,
        }
    }
}

/// The length of `wait` once it has stopped growing (the last events of a run may still
/// be on their way: batched, or drained from the spool), waiting at most 5 s.
fn settled_waiting(redis: &RedisServer, db: u8) -> u64 {
    let mut last = waiting(redis, db);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = waiting(redis, db);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// The Rust listener's count of events acknowledged from the spool (0 for the Node design).
fn spooled(target: &Target) -> u64 {
    use std::io::{Read, Write};
    let Some(addr) = target
        .url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
    else {
        return 0;
    };
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines()
        .find_map(|line| line.strip_prefix("sellsy_listener_events_stored_total{store=\"spool\"} "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

fn waiting(redis: &RedisServer, db: u8) -> u64 {
    redis::cmd("LLEN")
        .arg(format!("bull:{QUEUE}:wait"))
        .query(&mut redis.connection(db))
        .unwrap_or(0)
}

fn start_rust(
    bin: &Path,
    redis: &RedisServer,
    db: u8,
    secret: Option<&str>,
    workers: &str,
    spool: &Path,
) -> Target {
    let port = free_port();
    let mut command = Command::new(bin);
    command
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--redis-url",
            &redis.url_db(db),
            "--workers",
            workers,
        ])
        .arg("--spool-dir")
        .arg(spool)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match secret {
        Some(secret) => command.args(["--secret", secret]),
        None => command.arg("--allow-unsigned"),
    };
    let process = command
        .spawn()
        .unwrap_or_else(|err| fail(&format!("sellsy-listener: {err}")));
    ready(
        Target {
            label: "rust",
            url: format!("http://127.0.0.1:{port}/webhook/sellsy"),
            db,
            process,
        },
        port,
    )
}

fn start_node(redis: &RedisServer, db: u8, secret: Option<&str>) -> Target {
    let port = free_port();
    let dir = testkit::node::compat_dir();
    let mut command = Command::new("node");
    command
        .arg(dir.join("poc-listener.js"))
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("REDIS_URL", redis.url_db(db))
        .env_remove("SELLSY_WEBHOOK_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(secret) = secret {
        command.env("SELLSY_WEBHOOK_SECRET", secret);
    }
    let process = command
        .spawn()
        .unwrap_or_else(|err| fail(&format!("node poc-listener.js: {err}")));
    ready(
        Target {
            label: "node",
            url: format!("http://127.0.0.1:{port}/webhook/sellsy"),
            db,
            process,
        },
        port,
    )
}

fn ready(target: Target, port: u16) -> Target {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return target;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fail(&format!("the {} listener did not start", target.label))
}
