//! Faults: every event answered 200 ends up in Redis exactly once, whatever happens to
//! Redis or to the listener; when nothing can store an event the answer is 503.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::Commands;
use testkit::{RedisServer, eventually};

use crate::support::{InProcess, Process, TempDir, event, post_signed, request};

/// What a load run saw: acknowledged events (event number → job id), 503s, and requests
/// that got no answer at all (the listener was killed).
#[derive(Default, Debug)]
pub(crate) struct Outcome {
    pub(crate) acked: BTreeMap<u64, String>,
    pub(crate) refused: u64,
    pub(crate) unanswered: u64,
}

/// `clients` concurrent senders posting distinct signed events until `until`.
pub(crate) async fn load(
    addr: SocketAddr,
    clients: usize,
    until: Instant,
    numbers: Arc<AtomicU64>,
) -> Outcome {
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let numbers = numbers.clone();
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                while Instant::now() < until {
                    let n = numbers.fetch_add(1, Ordering::Relaxed);
                    match post_signed(addr, &event(n)).await {
                        Ok(response) if response.status == 200 => {
                            outcome
                                .acked
                                .insert(n, response.json()["jobId"].as_str().unwrap().to_owned());
                        }
                        Ok(response) => {
                            assert_eq!(
                                response.status,
                                503,
                                "{}",
                                String::from_utf8_lossy(&response.body)
                            );
                            assert!(response.header("retry-after").is_some());
                            outcome.refused += 1;
                        }
                        Err(_) => {
                            outcome.unanswered += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                outcome
            })
        })
        .collect();
    let mut total = Outcome::default();
    for task in tasks {
        let outcome = task.await.unwrap();
        total.acked.extend(outcome.acked);
        total.refused += outcome.refused;
        total.unanswered += outcome.unanswered;
    }
    total
}

/// Waits until every acknowledged job is in Redis, then returns how many jobs wait.
fn assert_every_ack_is_in_redis(redis: &RedisServer, outcome: &Outcome, within: Duration) -> usize {
    let mut conn = redis.connection(0);
    eventually(within, "every acknowledged event to reach redis", || {
        outcome.acked.values().all(|id| {
            conn.exists::<_, bool>(format!("bull:sellsy-webhooks:{id}"))
                .unwrap_or(false)
        })
    });
    let waiting: usize = conn.llen("bull:sellsy-webhooks:wait").unwrap();
    println!(
        "acknowledged {} (503: {}, unanswered: {}), jobs in redis: {waiting}",
        outcome.acked.len(),
        outcome.refused,
        outcome.unanswered
    );
    waiting
}

fn spool_args(redis: &RedisServer, spool: &TempDir) -> Vec<String> {
    [
        "--redis-url",
        &redis.url(),
        "--secret",
        crate::support::SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
        "--redis-deadline-ms",
        "100",
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect()
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load_loses_nothing() {
    redis_killed_and_restarted_under_load(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load_loses_nothing_with_four_http_workers() {
    redis_killed_and_restarted_under_load(&["--workers", "4"]).await;
}

async fn redis_killed_and_restarted_under_load(extra: &[&str]) {
    let mut redis = RedisServer::with_aof();
    let spool = TempDir::new("redis-kill");
    let mut args = spool_args(&redis, &spool);
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let listener = InProcess::start(&as_strs(&args)).await;
    let numbers = Arc::new(AtomicU64::new(0));

    let until = Instant::now() + Duration::from_secs(4);
    let load = tokio::spawn(load(listener.addr, 8, until, numbers));
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart();
    let outcome = load.await.unwrap();

    let waiting = assert_every_ack_is_in_redis(&redis, &outcome, Duration::from_secs(30));
    assert_eq!((outcome.refused, outcome.unanswered), (0, 0));
    assert_eq!(
        waiting,
        outcome.acked.len(),
        "one job per acknowledged event, no duplicates"
    );
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_for_ten_seconds_under_load_spools_then_drains() {
    redis_down_for_ten_seconds_under_load(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_for_ten_seconds_under_load_spools_then_drains_with_four_http_workers() {
    redis_down_for_ten_seconds_under_load(&["--workers", "4"]).await;
}

async fn redis_down_for_ten_seconds_under_load(extra: &[&str]) {
    let mut redis = RedisServer::with_aof();
    let spool = TempDir::new("redis-down");
    let mut args = spool_args(&redis, &spool);
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let listener = InProcess::start(&as_strs(&args)).await;
    let numbers = Arc::new(AtomicU64::new(0));

    let until = Instant::now() + Duration::from_secs(13);
    let load = tokio::spawn(load(listener.addr, 4, until, numbers));
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let during = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap()
        .json();
    redis.restart();
    let outcome = load.await.unwrap();

    assert_eq!(during["stores_to"], "spool", "{during}");
    assert!(during["spool_depth"].as_u64().unwrap() > 0, "{during}");
    let waiting = assert_every_ack_is_in_redis(&redis, &outcome, Duration::from_secs(30));
    assert_eq!((outcome.refused, outcome.unanswered), (0, 0));
    assert_eq!(waiting, outcome.acked.len());
    // A drain batch is in Redis a moment before its records leave the spool.
    let emptied_by = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = request(listener.addr, "GET", "/metrics", &[], b"")
            .await
            .unwrap();
        let metrics = String::from_utf8(metrics.body).unwrap();
        if metrics.contains("sellsy_listener_spool_depth 0") {
            break;
        }
        assert!(Instant::now() < emptied_by, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_killed_under_load_replays_its_spool_after_restart() {
    listener_killed_under_load(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_killed_under_load_replays_its_spool_after_restart_with_four_http_workers() {
    listener_killed_under_load(&["--workers", "4"]).await;
}

async fn listener_killed_under_load(extra: &[&str]) {
    let mut redis = RedisServer::with_aof();
    let spool = TempDir::new("listener-kill");
    let mut args = spool_args(&redis, &spool);
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    redis.kill();
    let process = Process::start(&as_strs(&args));
    let addr = process.addr;
    let numbers = Arc::new(AtomicU64::new(0));

    let until = Instant::now() + Duration::from_secs(3);
    let load = tokio::spawn(load(addr, 8, until, numbers));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    process.kill();
    let outcome = load.await.unwrap();
    redis.restart();
    let restarted = Process::start(&as_strs(&args));

    assert!(!outcome.acked.is_empty());
    let waiting = assert_every_ack_is_in_redis(&redis, &outcome, Duration::from_secs(30));
    assert!(
        waiting >= outcome.acked.len()
            && waiting <= outcome.acked.len() + outcome.unanswered as usize,
        "{waiting}"
    );
    drop(restarted);
}

#[tokio::test]
async fn with_redis_down_and_no_usable_spool_the_answer_is_503_never_200() {
    let mut redis = RedisServer::start();
    let blocker = TempDir::new("no-spool");
    let file = blocker.0.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let spool_dir = file.join("spool");
    let listener = InProcess::start(&[
        "--redis-url",
        &redis.url(),
        "--secret",
        crate::support::SECRET,
        "--spool-dir",
        spool_dir.to_str().unwrap(),
    ])
    .await;
    redis.kill();

    for n in 0..5 {
        let response = post_signed(listener.addr, &event(n)).await.unwrap();
        assert_eq!(
            response.status,
            503,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        assert!(response.header("retry-after").is_some());
    }
    let ready = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap();
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["stores_to"], "nothing");

    redis.restart();
    let mut recovered = false;
    for _ in 0..100 {
        if post_signed(listener.addr, &event(99)).await.unwrap().status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "with redis back, events are accepted again");
    listener.stop().await;
}

#[tokio::test]
async fn started_without_redis_it_spools_and_drains_when_redis_appears() {
    let mut redis = RedisServer::start();
    let spool = TempDir::new("fresh");
    let args = spool_args(&redis, &spool);
    redis.kill();
    let listener = InProcess::start(&as_strs(&args)).await;

    let mut acked = BTreeMap::new();
    for n in 0..20 {
        let response = post_signed(listener.addr, &event(n)).await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.json()["status"], "spooled");
        acked.insert(n, response.json()["jobId"].as_str().unwrap().to_owned());
    }
    let ready = request(listener.addr, "GET", "/readyz", &[], b"")
        .await
        .unwrap()
        .json();
    assert_eq!(
        (ready["redis"].as_str(), ready["stores_to"].as_str()),
        (Some("unreachable"), Some("spool"))
    );
    redis.restart();

    let outcome = Outcome {
        acked,
        ..Default::default()
    };
    let waiting = assert_every_ack_is_in_redis(&redis, &outcome, Duration::from_secs(30));
    assert_eq!(waiting, 20);
    let order: Vec<String> = redis
        .connection(0)
        .lrange("bull:sellsy-webhooks:wait", 0, -1)
        .unwrap();
    let expected: Vec<String> = outcome.acked.values().rev().cloned().collect();
    assert_eq!(order, expected, "drained in arrival order");
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replica_acks_an_event_waits_for_the_replica_or_goes_to_the_spool() {
    let primary = RedisServer::start();
    let mut replica =
        RedisServer::start_with(&["--replicaof", "127.0.0.1", &primary.port().to_string()]);
    let linked = |replica: &RedisServer| {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut replica.connection(0))
            .unwrap_or_default();
        info.contains("master_link_status:up")
    };
    eventually(Duration::from_secs(10), "the replica to sync", || {
        linked(&replica)
    });
    let spool = TempDir::new("replicas");
    let listener = InProcess::start(&[
        "--redis-url",
        &primary.url(),
        "--secret",
        crate::support::SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
        "--min-replicas-acks",
        "1",
        "--redis-deadline-ms",
        "200",
    ])
    .await;

    let with_replica = post_signed(listener.addr, &event(1)).await.unwrap();
    replica.kill();
    let without_replica = post_signed(listener.addr, &event(2)).await.unwrap();
    replica.restart();
    eventually(Duration::from_secs(10), "the replica to sync again", || {
        linked(&replica)
    });

    assert_eq!(
        (with_replica.status, with_replica.json()["status"].as_str()),
        (200, Some("queued"))
    );
    assert_eq!(
        (
            without_replica.status,
            without_replica.json()["status"].as_str()
        ),
        (200, Some("spooled"))
    );
    let spooled_id = without_replica.json()["jobId"].as_str().unwrap().to_owned();
    let mut conn = replica.connection(0);
    eventually(
        Duration::from_secs(30),
        "the spooled event to reach the primary and the replica",
        || {
            conn.exists::<_, bool>(format!("bull:sellsy-webhooks:{spooled_id}"))
                .unwrap_or(false)
        },
    );
    listener.stop().await;
}
