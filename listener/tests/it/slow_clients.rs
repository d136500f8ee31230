//! What a client can make the server hold is bounded: stalled requests are closed at the
//! client timeout (every request of a connection, head and body), idle kept-alive
//! connections at the keep-alive, open connections at --max-connections, body bytes in
//! flight at --max-inflight-body-bytes. The real binary runs, so that its RSS can be read.
//!
//! The stalled-connections test holds 2 000 client sockets here and 2 000 in the listener
//! (which inherits this process' limit): it needs a soft limit of 4 096 open files or more.
//! nextest raises the soft limit to the hard one; under `cargo test`, run `ulimit -n 8192`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::support::{Process, SECRET, TempDir, event, sign};

const MIB: usize = 1 << 20;

fn start(redis: &RedisServer, spool: &TempDir, extra: &[&str]) -> Process {
    let url = redis.url();
    let spool = spool.0.to_str().unwrap();
    let mut args = vec![
        "--redis-url",
        url.as_str(),
        "--secret",
        SECRET,
        "--spool-dir",
        spool,
    ];
    args.extend_from_slice(extra);
    Process::start(&args)
}

/// The resident set of a process, in MiB (`VmRSS` of /proc/PID/status).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap();
    kib / 1024.0
}

/// The highest RSS seen until `stop` is set, sampled every 20 ms.
fn watch_rss(
    pid: u32,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<f64>,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let peak = std::thread::spawn(move || {
        let mut peak: f64 = 0.0;
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(rss_mib(pid));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    (stop, peak)
}

fn assert_open_files_at_least(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let soft: u64 = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(0);
    assert!(
        soft >= needed,
        "this test needs {needed} open files, the soft limit is {soft}: run `ulimit -n 8192` first (nextest raises it itself)"
    );
}

/// Reads one response of a kept-alive connection (a `Content-Length` body) and returns its status.
async fn read_response(stream: &mut TcpStream) -> std::io::Result<u16> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |value| value.trim().parse().unwrap());
            if raw.len() >= end + 4 + length {
                let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                return Ok(status);
            }
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// Reads until the server closes the connection (end of stream or an error such as a reset).
/// `None` when it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

fn signed_head(body: &[u8]) -> String {
    format!(
        "POST /webhook/sellsy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Webhook-Signature: {}\r\nContent-Length: {}\r\n\r\n",
        sign(body),
        body.len()
    )
}

/// Half stall in a body, half in the head of their second request; each returns how long
/// after its stall the server closed it.
async fn stall(
    addr: SocketAddr,
    n: u64,
    setup: Arc<Semaphore>,
    stalled: tokio::sync::mpsc::Sender<()>,
) -> Option<Duration> {
    let permit = setup.acquire_owned().await.unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    if n.is_multiple_of(2) {
        let head = format!(
            "POST /webhook/sellsy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {MIB}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&[b'{'; 1024]).await.unwrap();
    } else {
        let body = event(10_000 + n);
        stream
            .write_all(signed_head(&body).as_bytes())
            .await
            .unwrap();
        stream.write_all(&body).await.unwrap();
        assert_eq!(read_response(&mut stream).await.unwrap(), 200);
        stream
            .write_all(b"POST /webhook/sellsy HTTP/1.1\r\nHost: x\r\nContent-Ty")
            .await
            .unwrap();
    }
    drop(permit);
    let _ = stalled.send(()).await;
    closed_within(&mut stream, Duration::from_secs(10)).await
}

/// Sends `count` signed requests one after the other on one kept-alive connection (as a
/// webhook sender keeps its connections) and returns their latencies, sorted. It runs on a
/// runtime of its own, so that the test's other tasks do not delay it.
fn probe(addr: SocketAddr, first: u64, count: u64) -> Vec<Duration> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut latencies = Vec::new();
        for n in first..first + count {
            let body = event(n);
            let request = [signed_head(&body).as_bytes(), &body].concat();
            let sent = Instant::now();
            stream.write_all(&request).await.unwrap();
            assert_eq!(read_response(&mut stream).await.unwrap(), 200);
            latencies.push(sent.elapsed());
            tokio::time::sleep(PROBE_PAUSE).await;
        }
        latencies.sort();
        latencies
    })
}

/// Between two probes: the rounds then span the stalls and the closes 2 s later.
const PROBE_PAUSE: Duration = Duration::from_millis(3);

/// The 99th percentile of sorted latencies.
fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() * 99).div_ceil(100) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_requests_are_closed_at_the_client_timeout_while_others_are_served() {
    const STALLED: u64 = 2_000;
    const ROUNDS: u64 = 3;
    const PROBES: u64 = 200;
    assert_open_files_at_least(4_096);
    let redis = RedisServer::start();
    let spool = TempDir::new("stalled");
    let listener = start(&redis, &spool, &["--client-timeout-ms", "2000"]);
    let addr = listener.addr;
    let idle_rss = rss_mib(listener.pid());
    let (stop_watching, peak_rss) = watch_rss(listener.pid());

    let setup = Arc::new(Semaphore::new(100));
    let (stalling, mut stalls) = tokio::sync::mpsc::channel(STALLED as usize);
    let stalled: Vec<_> = (0..STALLED)
        .map(|n| tokio::spawn(stall(addr, n, setup.clone(), stalling.clone())))
        .collect();
    // The probes start once most connections stall: the first close 2 s after their stall.
    for _ in 0..STALLED * 9 / 10 {
        stalls.recv().await.unwrap();
    }
    // Rounds, each one's p99 computed apart: on a shared machine a neighbour's burst can
    // spoil one round (the p99 of one round without any stalled connection was 5 to 11 ms
    // here), and the claim is about the listener.
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let latencies =
            tokio::task::spawn_blocking(move || probe(addr, round * PROBES, PROBES)).await;
        rounds.push(latencies.unwrap());
    }
    let mut closes = Vec::new();
    for task in stalled {
        closes.push(task.await.unwrap());
    }
    stop_watching.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak_rss = peak_rss.join().unwrap();

    let p50s: Vec<_> = rounds.iter().map(|round| round[round.len() / 2]).collect();
    let p99s: Vec<_> = rounds.iter().map(|round| p99(round)).collect();
    let slowest_close = closes.iter().flatten().max().copied();
    println!(
        "{STALLED} stalled connections: slowest closed {slowest_close:?} after its stall; \
         {ROUNDS} rounds of {PROBES} signed requests meanwhile: p50 {p50s:?}, p99 {p99s:?}; \
         RSS {idle_rss:.1} MiB idle, {peak_rss:.1} MiB peak"
    );
    let open = closes.iter().filter(|close| close.is_none()).count();
    assert_eq!(open, 0, "connections still open 10 s after their stall");
    assert!(
        closes
            .iter()
            .flatten()
            .all(|close| *close <= Duration::from_secs(3)),
        "closed later than the client timeout + 1 s: {slowest_close:?}"
    );
    // The p99 of the signed requests is printed, not asserted: latency is a benchmark's
    // business, never a test's (this test runs alone, see .config/nextest.toml, so the
    // printed figure means something; measured alone: p99 0.9 to 6.1 ms).
    // Each connection holds at most actix's read buffer (it stops reading at 32 KiB, and
    // grows it by 8 KiB) and write buffer (8 KiB): 48 KiB. Bodies are the budget's (here
    // 1 KiB each). Measured: about 68 MiB over the idle process, 34 KiB a connection.
    let bound = idle_rss + STALLED as f64 * 48.0 / 1024.0;
    assert!(
        peak_rss < bound,
        "RSS {peak_rss:.1} MiB over {bound:.1} MiB (idle {idle_rss:.1} MiB)"
    );
}

/// A compact Sellsy event padded to exactly `size` bytes: still one valid event.
fn padded_event(size: usize) -> Vec<u8> {
    let mut body = event(1);
    body.pop(); // the closing brace
    let padding = size - body.len() - r#","padding":""}"#.len();
    body.extend_from_slice(br#","padding":""#);
    body.resize(body.len() + padding, b'x');
    body.extend_from_slice(br#""}"#);
    body
}

/// One request of the flood on its own connection, the body written while the answer is
/// read (a 503 or 413 can come before the body is sent). Returns the status and whether a
/// `Retry-After` came with it; status 0 when no answer came.
async fn send_large(addr: SocketAddr, head: String, body: Arc<Vec<u8>>) -> (u16, bool) {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return (0, false);
    };
    let (mut reader, mut writer) = stream.into_split();
    let writing = async {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(&body).await
    };
    let mut answer = Vec::new();
    let reading = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut answer));
    let _ = tokio::join!(writing, reading);
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let status = text
        .strip_prefix("http/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text.contains("\r\nretry-after: "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_large_bodies_is_held_within_the_inflight_budget() {
    const SENDERS: usize = 300;
    const BUDGET: usize = 64 * MIB;
    const FLOOD: Duration = Duration::from_secs(3);
    let redis = RedisServer::start();
    let spool = TempDir::new("flood");
    let budget = BUDGET.to_string();
    let listener = start(
        &redis,
        &spool,
        &[
            "--max-inflight-body-bytes",
            &budget,
            "--client-timeout-ms",
            "30000",
        ],
    );
    let addr = listener.addr;
    let idle_rss = rss_mib(listener.pid());
    let (stop_watching, peak_rss) = watch_rss(listener.pid());
    let signed = Arc::new(padded_event(MIB));
    let unsigned = Arc::new(vec![b'x'; MIB]);
    let unsigned_head =
        format!("POST /webhook/sellsy HTTP/1.1\r\nHost: x\r\nContent-Length: {MIB}\r\n\r\n");
    let oversized_head = unsigned_head.replace(&MIB.to_string(), &(MIB + 1).to_string());
    let close = |head: String| head.replacen("\r\n", "\r\nConnection: close\r\n", 1);

    let until = Instant::now() + FLOOD;
    let senders: Vec<_> = (0..SENDERS)
        .map(|n| {
            let (head, body) = match n % 6 {
                // A few valid events (parsing and storing 1 MiB is slow in a debug build)...
                _ if n < 3 => (close(signed_head(&signed)), signed.clone()),
                // ...some checked against the key to the last byte, some declared too large...
                0 => (
                    close(signed_head(&unsigned).replace(&sign(&unsigned), &sign(b"other"))),
                    unsigned.clone(),
                ),
                1 => (close(oversized_head.clone()), Arc::new(Vec::new())),
                // ...and most not signed at all.
                _ => (close(unsigned_head.clone()), unsigned.clone()),
            };
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while Instant::now() < until {
                    answers.push(send_large(addr, head.clone(), body.clone()).await);
                }
                answers
            })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    let mut unavailable_without_retry_after = 0;
    for sender in senders {
        for (status, retry_after) in sender.await.unwrap() {
            *counts.entry(status).or_default() += 1;
            if status == 503 && !retry_after {
                unavailable_without_retry_after += 1;
            }
        }
    }
    let after = crate::support::post_signed(addr, &event(2)).await.unwrap();
    stop_watching.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak_rss = peak_rss.join().unwrap();

    println!(
        "{SENDERS} senders of 1 MiB bodies for {FLOOD:?}, budget {} MiB: answers {counts:?}; RSS {idle_rss:.1} MiB idle, {peak_rss:.1} MiB peak",
        BUDGET / MIB
    );
    assert!(
        counts
            .keys()
            .all(|status| [200, 401, 413, 503].contains(status)),
        "{counts:?}"
    );
    assert!(
        [200, 401, 413, 503]
            .iter()
            .all(|status| counts.contains_key(status)),
        "{counts:?}"
    );
    assert_eq!(unavailable_without_retry_after, 0);
    assert_eq!(after.status, 200, "served after the flood");
    // Bodies take at most the budget. RSS also counts what the allocator keeps of freed
    // bodies for reuse (mimalloc returns it lazily: RSS stays at its peak after the flood)
    // and the copies of the few valid events while they are stored: measured 240-295 MiB
    // over 3-10 s floods, that is up to 4 budgets. Each connection busy receiving holds
    // actix's read buffer and payload queue (up to 32 KiB each) and write buffer, measured
    // 200 KiB with the allocator's slack (59 MiB for these 300 with a 1 MiB budget).
    let bound = idle_rss + (4 * BUDGET / MIB) as f64 + SENDERS as f64 * 200.0 / 1024.0;
    assert!(
        peak_rss < bound,
        "RSS {peak_rss:.1} MiB over {bound:.1} MiB (idle {idle_rss:.1} MiB)"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_at_the_keep_alive() {
    let redis = RedisServer::start();
    let spool = TempDir::new("keep-alive");
    let listener = start(&redis, &spool, &["--keep-alive-secs", "1"]);
    let mut stream = TcpStream::connect(listener.addr).await.unwrap();
    let body = event(1);
    stream
        .write_all(&[signed_head(&body).as_bytes(), &body].concat())
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await.unwrap(), 200);

    let closed = closed_within(&mut stream, Duration::from_secs(5)).await;

    assert!(
        closed.is_some_and(
            |after| after > Duration::from_millis(500) && after <= Duration::from_secs(2)
        ),
        "closed {closed:?} after the answer"
    );
}

#[tokio::test]
async fn connections_past_max_connections_wait_until_one_closes() {
    const MAX: usize = 50;
    const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let redis = RedisServer::start();
    let spool = TempDir::new("max-connections");
    let listener = start(&redis, &spool, &["--max-connections", &MAX.to_string()]);
    let mut open = Vec::new();
    for _ in 0..MAX {
        let mut stream = TcpStream::connect(listener.addr).await.unwrap();
        stream.write_all(HEALTH).await.unwrap();
        assert_eq!(read_response(&mut stream).await.unwrap(), 200);
        open.push(stream);
    }

    // Completed by the kernel (listen backlog), not accepted by the listener.
    let mut waiting = TcpStream::connect(listener.addr).await.unwrap();
    waiting.write_all(HEALTH).await.unwrap();
    let early = tokio::time::timeout(Duration::from_secs(1), read_response(&mut waiting)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");

    drop(open.pop());
    let served = tokio::time::timeout(Duration::from_secs(5), read_response(&mut waiting)).await;
    assert_eq!(served.unwrap().unwrap(), 200);

    drop(open);
    drop(waiting);
    let after = crate::support::post_signed(listener.addr, &event(1)).await;
    assert_eq!(after.unwrap().status, 200, "served once connections closed");
}
