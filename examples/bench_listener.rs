//! Run with: cargo run --release --example bench_listener -- [--duration-secs 5]
//!           [--listener-workers N]
//!
//! Load test of the webhook listener against the Node/Fastify/BullMQ design it replaces
//! (`node-worker-compat/poc-listener.js`), in one run on one private redis-server: oha
//! drives both with keep-alive connections at concurrency 1, 16 and 64 and at a fixed
//! 1 000 req/s, and the results are printed side by side.
//!
//! Two tables: A, the same ~600-byte signed Sellsy event for every request (signatures
//! checked by both); B, a distinct event per request with signatures off on both, so
//! every 200 is a new job on both sides (our listener recognises a repeated event and
//! stores it once, which would make A cheaper for it). After each run the jobs stored are
//! counted against the 200s; oha draws `-Z` lines at random, so some requests of B repeat
//! an event, which our listener stores once (a redelivery) and the Node design again.
//! Needs `oha` (`cargo install oha`) and `npm ci` in node-worker-compat.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use examples::{Args, fail};
use serde_json::Value;
use testkit::RedisServer;

#[path = "bench_support.rs"]
mod bench_support;
use bench_support::{SECRET, build_listener, event, free_port, sign};

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

/// One oha run's figures.
struct Run {
    /// Events the listener acknowledged from its spool during the run (Redis missed the deadline).
    spooled: u64,
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    ok: u64,
    stored: u64,
    /// CPU time per request of the listener process and of redis-server, in µs.
    listener_cpu_us: f64,
    redis_cpu_us: f64,
}

#[derive(Clone, Copy)]
enum Load {
    Concurrency(u32),
    Rate(u32),
}

impl Load {
    fn label(self) -> String {
        match self {
            Self::Concurrency(c) => format!("c={c}"),
            Self::Rate(q) => format!("{q} req/s"),
        }
    }
}

fn main() {
    let args = Args::parse(
        std::env::args().skip(1),
        &["duration-secs", "listener-workers"],
    )
    .unwrap_or_else(|err| fail(&err.to_string()));
    let duration = args.number_or("duration-secs", 5);
    let workers = args.flag("listener-workers").unwrap_or("1").to_owned();
    if Command::new("oha").arg("--version").output().is_err() {
        fail("oha is not installed: cargo install oha");
    }
    let listener_bin = build_listener();
    let redis = RedisServer::start();
    let work = std::env::temp_dir().join(format!("bench-listener-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap_or_else(|err| fail(&err.to_string()));

    let body = event(0);
    let body_path = work.join("event.json");
    std::fs::write(&body_path, &body).unwrap_or_else(|err| fail(&err.to_string()));
    let signature = sign(&body);
    println!(
        "event: {} bytes, signed; redis-server on 127.0.0.1:{}; {duration} s per run; listener workers: {workers}",
        body.len(),
        redis.port()
    );

    let loads = [
        Load::Concurrency(1),
        Load::Concurrency(16),
        Load::Concurrency(64),
        Load::Rate(1000),
    ];
    let signed = Some(SECRET);
    let table_a = {
        let rust = start_rust(
            &listener_bin,
            &redis,
            1,
            signed,
            &workers,
            &work.join("spool-a"),
        );
        let node = start_node(&redis, 2, signed);
        let header = format!("X-Webhook-Signature: {signature}");
        let body_args = vec![
            "-D".to_owned(),
            body_path.display().to_string(),
            "-H".to_owned(),
            header,
        ];
        let targets = [rust, node];
        let rows = measure(&targets, &loads, &|_| body_args.clone(), duration, &redis);
        (rows, floor(&targets[0], duration))
    };
    let (table_a, floor_line) = table_a;
    report("A: the same signed event every request", &table_a, &loads);
    println!("{floor_line}");

    // oha reads a -Z file from scratch on every run: each run gets events of its own, more
    // than it can send. They are written and flushed to disk before any listener runs, so
    // that no run competes with the page cache writing them out.
    let event_files: Vec<PathBuf> = (0..=loads.len())
        .map(|run| {
            let lines = work.join(format!("events-{run}.jsonl"));
            write_distinct_events(&lines, run as u64 * 10_000_000, 60_000 * duration.max(1));
            lines
        })
        .collect();
    let _ = Command::new("sync").status();
    let table_b = {
        let rust = start_rust(
            &listener_bin,
            &redis,
            3,
            None,
            &workers,
            &work.join("spool-b"),
        );
        let node = start_node(&redis, 4, None);
        let distinct = |run: usize| vec!["-Z".to_owned(), event_files[run].display().to_string()];
        measure(&[rust, node], &loads, &distinct, duration, &redis)
    };
    report(
        "B: a distinct event every request (signatures off on both)",
        &table_b,
        &loads,
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// Warms both targets up, then runs every load on each; `bodies(run)` gives oha's body
/// arguments for the run (0 is the warm-up).
fn measure(
    targets: &[Target; 2],
    loads: &[Load],
    bodies: &dyn Fn(usize) -> Vec<String>,
    duration: u64,
    redis: &RedisServer,
) -> Vec<[Run; 2]> {
    for target in targets {
        oha(target, Load::Concurrency(16), &bodies(0), 1, redis);
    }
    loads
        .iter()
        .enumerate()
        .map(|(i, load)| {
            let body_args = bodies(i + 1);
            [
                oha(&targets[0], *load, &body_args, duration, redis),
                oha(&targets[1], *load, &body_args, duration, redis),
            ]
        })
        .collect()
}

fn oha(
    target: &Target,
    load: Load,
    body_args: &[String],
    duration: u64,
    redis: &RedisServer,
) -> Run {
    let before = waiting(redis, target.db);
    let spooled_before = spooled(target);
    let cpu = || {
        (
            testkit::process_cpu_time(target.process.id()),
            redis.cpu_time(),
        )
    };
    let cpu_before = cpu();
    let mut command = Command::new("oha");
    command
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "-m",
            "POST",
            "-z",
            &format!("{duration}s"),
        ])
        .args(["-H", "Content-Type: application/json"])
        .args(body_args);
    match load {
        Load::Concurrency(c) => command.args(["-c", &c.to_string()]),
        Load::Rate(q) => command.args(["-c", "16", "-q", &q.to_string(), "--latency-correction"]),
    };
    let output = command
        .arg(&target.url)
        .output()
        .unwrap_or_else(|err| fail(&format!("oha: {err}")));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        fail(&format!(
            "oha printed no JSON: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    });
    let cpu_after = cpu();
    let percentile = |key: &str| {
        report["latencyPercentiles"][key]
            .as_f64()
            .unwrap_or(f64::NAN)
            * 1e6
    };
    let ok = report["statusCodeDistribution"]["200"]
        .as_u64()
        .unwrap_or(0);
    let total: u64 = report["statusCodeDistribution"]
        .as_object()
        .map_or(0, |codes| codes.values().filter_map(Value::as_u64).sum());
    if ok != total {
        eprintln!(
            "warning: {} answered {:?} at {}",
            target.label,
            report["statusCodeDistribution"],
            load.label()
        );
    }
    let per_request = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
        (Some(before), Some(after)) if total > 0 => {
            after.saturating_sub(before).as_secs_f64() * 1e6 / total as f64
        }
        _ => f64::NAN,
    };
    let listener_cpu_us = per_request(cpu_before.0, cpu_after.0);
    let redis_cpu_us = per_request(cpu_before.1, cpu_after.1);
    std::thread::sleep(Duration::from_millis(300));
    let stored = waiting(redis, target.db).saturating_sub(before);
    // Start every run from an empty db: a Redis holding hundreds of thousands of jobs from
    // earlier runs is slower, which would favour whichever listener ran first.
    let _: redis::RedisResult<()> = redis::cmd("FLUSHDB").query(&mut redis.connection(target.db));
    Run {
        spooled: spooled(target).saturating_sub(spooled_before),
        rps: report["summary"]["requestsPerSec"]
            .as_f64()
            .unwrap_or(f64::NAN),
        p50: percentile("p50"),
        p99: percentile("p99"),
        p999: percentile("p99.9"),
        ok,
        stored,
        listener_cpu_us,
        redis_cpu_us,
    }
}

fn report(title: &str, rows: &[[Run; 2]], loads: &[Load]) {
    println!("\n{title}");
    println!(
        "{:<10} | {:>9} {:>8} {:>8} {:>9} {:>15} | {:>9} {:>8} {:>8} {:>9} {:>15} | {:>7} {:>7}",
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
    let spooled: u64 = rows.iter().map(|[rust, _]| rust.spooled).sum();
    if spooled > 0 {
        println!(
            "(the Rust listener acknowledged {spooled} of these events from its spool: Redis missed the deadline)"
        );
    }
    for (load, [rust, node]) in loads.iter().zip(rows) {
        println!(
            "{:<10} | {:>9.0} {:>8.0} {:>8.0} {:>9.0} {:>15} | {:>9.0} {:>8.0} {:>8.0} {:>9.0} {:>15} | {:>6.2}x {:>6.2}x",
            load.label(),
            rust.rps,
            rust.p50,
            rust.p99,
            rust.p999,
            format!("{}/{}", rust.stored, rust.ok),
            node.rps,
            node.p50,
            node.p99,
            node.p999,
            format!("{}/{}", node.stored, node.ok),
            rust.rps / node.rps,
            node.p99 / rust.p99,
        );
    }
    println!("CPU per request (us; /proc, 10 ms ticks), listener + redis-server:");
    for (load, [rust, node]) in loads.iter().zip(rows) {
        println!(
            "{:<10} | rust {:>6.1} + {:>5.1} | node {:>6.1} + {:>5.1}",
            load.label(),
            rust.listener_cpu_us,
            rust.redis_cpu_us,
            node.listener_cpu_us,
            node.redis_cpu_us
        );
    }
}

/// The c=1 floor of this machine for any listener: one HTTP round trip to the Rust
/// listener that touches nothing else (`GET /healthz`, oha). A webhook adds the signature,
/// the parsing and a Redis round trip to it.
fn floor(rust: &Target, duration: u64) -> String {
    let health = rust.url.replace("/webhook/sellsy", "/healthz");
    let output = Command::new("oha")
        .args(["--no-tui", "--output-format", "json", "-c", "1", "-z"])
        .arg(format!("{duration}s"))
        .arg(&health)
        .output()
        .unwrap_or_else(|err| fail(&format!("oha: {err}")));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let percentile = |key: &str| {
        report["latencyPercentiles"][key]
            .as_f64()
            .unwrap_or(f64::NAN)
            * 1e6
    };
    format!(
        "c=1 floor here: an HTTP round trip that does nothing (GET /healthz on the Rust listener) p50 {:.0} us, p99 {:.0} us",
        percentile("p50"),
        percentile("p99")
    )
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

fn write_distinct_events(path: &Path, first: u64, count: u64) {
    let mut text = Vec::with_capacity(count as usize * 620);
    for n in first..first + count {
        text.extend(event(n));
        text.push(b'\n');
    }
    std::fs::write(path, text).unwrap_or_else(|err| fail(&err.to_string()));
}
