//! Run with: cargo run --release --example bench_drain -- [--events 1000000] [--live-rps 500]
//!
//! How fast the listener's drainer empties a large spool while live traffic goes on: a
//! spool of `--events` distinct Sellsy events (the records the listener writes while
//! Redis is away) is written first, then the release listener starts on it with Redis up
//! (AOF everysec) while one client sends `--live-rps` signed distinct events per second
//! over a kept-alive connection. Prints the drain rate, the live requests' latencies
//! during the drain, CPU per drained event of the listener and of redis-server, and
//! checks that Redis ends with exactly one job per event.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bullmq_rs::JobOptions;
use examples::bench_data::event;
use examples::{Args, fail};
use listener::JobTemplate;
use listener::{Spool, SpoolRecord};
use testkit::{RedisServer, process_cpu_time};

#[path = "bench_support.rs"]
mod bench_support;
use bench_support::{SECRET, build_listener, free_port, sign};

/// Records written to the spool per transaction while preparing the backlog.
const FILL_BATCH: u64 = 10_000;

fn main() {
    let args = Args::parse(std::env::args().skip(1), &["events", "live-rps"])
        .unwrap_or_else(|err| fail(&err.to_string()));
    let events = args.number_or("events", 1_000_000);
    let live_rps = args.number_or("live-rps", 500);
    let bin = build_listener();
    let redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let spool_dir = std::env::temp_dir().join(format!("bench-drain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool_dir);

    let filling = Instant::now();
    let bytes = fill_spool(&spool_dir, events);
    println!(
        "backlog: {events} events, spool file {:.1} MiB, written in {:.1} s",
        bytes as f64 / (1 << 20) as f64,
        filling.elapsed().as_secs_f64()
    );

    let port = free_port();
    let mut listener = start_listener(&bin, &redis, &spool_dir, port);
    let redis_cpu_before = redis.cpu_time().unwrap_or_default();
    let started = Instant::now();
    let stop_live = Arc::new(AtomicBool::new(false));
    let live = {
        let stop = stop_live.clone();
        std::thread::spawn(move || live_traffic(port, live_rps, events, &stop))
    };
    while spool_depth(port) > 0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let drained_in = started.elapsed();
    let listener_cpu = process_cpu_time(listener.id()).unwrap_or_default();
    let redis_cpu = redis.cpu_time().unwrap_or_default() - redis_cpu_before;
    stop_live.store(true, Ordering::Relaxed);
    let live = live
        .join()
        .unwrap_or_else(|_| fail("the live client panicked"));
    let _ = listener.kill();
    let _ = listener.wait();
    let _ = std::fs::remove_dir_all(&spool_dir);

    let jobs: u64 = redis::cmd("LLEN")
        .arg("bull:sellsy-webhooks:wait")
        .query(&mut redis.connection(0))
        .unwrap_or_else(|err| fail(&err.to_string()));
    let per_event = |cpu: Duration| cpu.as_secs_f64() * 1e6 / (events + live.ok) as f64;
    println!(
        "drained {events} events in {:.1} s: {:.0} events/s",
        drained_in.as_secs_f64(),
        events as f64 / drained_in.as_secs_f64()
    );
    println!(
        "live traffic during the drain: {} requests at {live_rps}/s target, {} answered 200 ({} queued straight to redis), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        live.sent,
        live.ok,
        live.queued,
        live.percentile(0.50),
        live.percentile(0.99),
        live.percentile(1.0)
    );
    println!(
        "CPU per event (backlog + live): listener {:.1} µs, redis-server {:.1} µs",
        per_event(listener_cpu),
        per_event(redis_cpu)
    );
    println!(
        "jobs in redis: {jobs}, expected {} (backlog + live 200s): {}",
        events + live.ok,
        if jobs == events + live.ok {
            "exact"
        } else {
            "MISMATCH"
        }
    );
}

/// Writes `events` records as the listener would have spooled them; returns the file size.
fn fill_spool(dir: &Path, events: u64) -> u64 {
    let spool = Spool::open(dir, u64::MAX).unwrap_or_else(|err| fail(&err.to_string()));
    let template = JobTemplate {
        name: "event".to_owned(),
        options: serde_json::from_str::<JobOptions>(r#"{"removeOnComplete":true}"#)
            .unwrap_or_else(|err| fail(&err.to_string())),
        dedup_ttl: Duration::from_secs(86_400),
    };
    let received = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let mut first = 0;
    while first < events {
        let records: Vec<SpoolRecord> = (first..events.min(first + FILL_BATCH))
            .map(|n| {
                let parsed = listener::parse_sellsy(Some("application/json"), &event(n))
                    .unwrap_or_else(|err| fail(&err.to_string()));
                SpoolRecord::from_job(&template.job_for(&parsed), received, None)
            })
            .collect();
        spool
            .append(&records)
            .unwrap_or_else(|err| fail(&err.to_string()));
        first += FILL_BATCH;
    }
    spool.bytes()
}

fn start_listener(bin: &Path, redis: &RedisServer, spool: &Path, port: u16) -> Child {
    let mut child = Command::new(bin)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--redis-url", &redis.url(), "--secret", SECRET])
        .arg("--spool-dir")
        .arg(spool)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| fail(&format!("sellsy-listener: {err}")));
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    fail("the listener did not start")
}

/// Events still in the spool, from `/readyz`.
fn spool_depth(port: u16) -> u64 {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|err| fail(&err.to_string()));
    let (_, body) = exchange(&mut stream, "GET", "/readyz", &[], b"")
        .unwrap_or_else(|err| fail(&format!("/readyz: {err}")));
    let ready: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or_else(|err| fail(&err.to_string()));
    ready["spool_depth"].as_u64().unwrap_or(u64::MAX)
}

/// What the live client saw.
#[derive(Default)]
struct Live {
    sent: u64,
    ok: u64,
    queued: u64,
    latencies_ms: Vec<f64>,
}

impl Live {
    fn percentile(&self, q: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let index = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
        sorted.get(index).copied().unwrap_or(f64::NAN)
    }
}

/// Signed distinct events at `rps` per second over one kept-alive connection, numbered
/// after the backlog's, until `stop`.
fn live_traffic(port: u16, rps: u64, first: u64, stop: &AtomicBool) -> Live {
    let mut live = Live::default();
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|err| fail(&err.to_string()));
    // Head and body are two writes: without this, Nagle holds the body until the server's
    // delayed ACK, adding about 40 ms to every request.
    stream
        .set_nodelay(true)
        .unwrap_or_else(|err| fail(&err.to_string()));
    let interval = Duration::from_secs_f64(1.0 / rps.max(1) as f64);
    let mut next = Instant::now();
    let mut n = first;
    while !stop.load(Ordering::Relaxed) {
        let body = event(n);
        n += 1;
        let signature = sign(&body);
        let sent = Instant::now();
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Webhook-Signature", signature.as_str()),
        ];
        let (status, answer) = exchange(&mut stream, "POST", "/webhook/sellsy", &headers, &body)
            .unwrap_or_else(|err| fail(&format!("live request: {err}")));
        live.latencies_ms.push(sent.elapsed().as_secs_f64() * 1e3);
        live.sent += 1;
        if status == 200 {
            live.ok += 1;
            if answer.windows(8).any(|w| w == b"\"queued\"") {
                live.queued += 1;
            }
        }
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    live
}

/// One HTTP/1.1 request on a kept-alive connection; returns the status and the body.
fn exchange(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut answer = vec![0; length];
    reader.read_exact(&mut answer)?;
    Ok((status, answer))
}
