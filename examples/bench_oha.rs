//! Table A of bench_listener: oha posting the same signed ~600-byte Sellsy event every
//! request to both listeners, at c=1, 16, 64 and at a fixed 1 000 req/s, then the c=1
//! floor of an HTTP round trip. Included with `#[path]` by bench_listener, whose targets
//! and Redis counts it uses.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use examples::bench_data::event;
use examples::fail;
use serde_json::Value;
use testkit::RedisServer;

use super::bench_support::{SECRET, sign};
use super::{Target, spooled, start_node, start_rust, waiting};

/// Whether oha can be run.
pub(crate) fn installed() -> bool {
    Command::new("oha").arg("--version").output().is_ok()
}

/// Runs and prints table A; the listeners use dbs 1 (Rust) and 2 (Node) of `redis`.
pub(crate) fn table_a(
    listener_bin: &Path,
    redis: &RedisServer,
    workers: &str,
    work: &Path,
    duration: u64,
) {
    let body = event(0);
    let body_path = work.join("event.json");
    std::fs::write(&body_path, &body).unwrap_or_else(|err| fail(&err.to_string()));
    let loads = [
        Load::Concurrency(1),
        Load::Concurrency(16),
        Load::Concurrency(64),
        Load::Rate(1000),
    ];
    let targets = [
        start_rust(
            listener_bin,
            redis,
            1,
            Some(SECRET),
            workers,
            &work.join("spool-a"),
        ),
        start_node(redis, 2, Some(SECRET)),
    ];
    let body_args = [
        "-D".to_owned(),
        body_path.display().to_string(),
        "-H".to_owned(),
        format!("X-Webhook-Signature: {}", sign(&body)),
    ];
    let rows = measure(&targets, &loads, &body_args, duration, redis);
    report(
        "A: the same signed event every request (oha)",
        &rows,
        &loads,
    );
    println!("{}", floor(&targets[0], duration));
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

/// Warms both targets up, then runs every load on each with oha's body arguments.
fn measure(
    targets: &[Target; 2],
    loads: &[Load],
    body_args: &[String],
    duration: u64,
    redis: &RedisServer,
) -> Vec<[Run; 2]> {
    for target in targets {
        oha(target, Load::Concurrency(16), body_args, 1, redis);
    }
    loads
        .iter()
        .map(|load| {
            [
                oha(&targets[0], *load, body_args, duration, redis),
                oha(&targets[1], *load, body_args, duration, redis),
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
