//! The quarantine is bounded: old quarantined requests are cleaned the BullMQ way, and past
//! its rate, body size or job count a badly signed request gets 401; with replicas required
//! and none in sync, 503 and nothing stored.

use std::net::SocketAddr;
use std::time::Duration;

use bullmq_rs::Queue;
use listener::Durability;
use listener::{Quarantine, QuarantineLimits};
use redis::Commands;
use testkit::{RedisServer, eventually};

use crate::support::{InProcess, SECRET, TempDir, event, request};

const QUARANTINE_KEYS: &str = "bull:sellsy-webhooks-quarantine:*";
const QUARANTINE_WAIT: &str = "bull:sellsy-webhooks-quarantine:wait";

/// The listener quarantining badly signed requests, with these extra flags.
async fn quarantining(redis: &RedisServer, spool: &TempDir, extra: &[&str]) -> InProcess {
    let mut args = vec![
        "--redis-url",
        &redis.url(),
        "--secret",
        SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
        "--on-bad-signature",
        "quarantine",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    InProcess::start(&args).await
}

async fn post_unsigned(addr: SocketAddr, body: &[u8]) -> u16 {
    let headers = [("Content-Type", "application/json")];
    request(addr, "POST", "/webhook/sellsy", &headers, body)
        .await
        .unwrap()
        .status
}

fn parked(redis: &RedisServer) -> usize {
    let ids: Vec<String> = redis.connection(0).lrange(QUARANTINE_WAIT, 0, -1).unwrap();
    ids.len()
}

// Multi-threaded: `eventually` blocks its thread while the cleaner runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantined_requests_older_than_the_ttl_are_cleaned() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "quarantine").await.unwrap();
    let limits = QuarantineLimits {
        ttl: Duration::from_secs(1),
        max_per_sec: 10,
        max_body_bytes: 1024,
        max_jobs: 100,
    };
    let durability = Durability {
        deadline: Duration::from_secs(1),
        min_replicas: 0,
    };
    let quarantine =
        Quarantine::new(queue, limits, durability).with_clean_period(Duration::from_millis(50));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cleaner = tokio::spawn(quarantine.clone().run(async {
        let _ = stopped.await;
    }));
    let mut conn = redis.connection(0);
    // A job a Node worker completed long ago is cleaned too.
    let _: () = conn
        .zadd("bull:quarantine:completed", "done", 1_000)
        .unwrap();
    let _: () = conn
        .hset_multiple(
            "bull:quarantine:done",
            &[("name", "quarantined"), ("finishedOn", "1000")],
        )
        .unwrap();

    let id = quarantine
        .park(Some("application/json"), b"{}", "missing")
        .await
        .unwrap();

    let job_key = format!("bull:quarantine:{id}");
    assert!(conn.exists::<_, bool>(&job_key).unwrap(), "kept at first");
    eventually(
        Duration::from_secs(10),
        "the quarantined job is cleaned",
        || !redis.connection(0).exists::<_, bool>(&job_key).unwrap(),
    );
    let wait: Vec<String> = conn.lrange("bull:quarantine:wait", 0, -1).unwrap();
    assert!(wait.is_empty(), "{wait:?}");
    assert!(!conn.exists::<_, bool>("bull:quarantine:done").unwrap());
    let completed: Vec<String> = conn.zrange("bull:quarantine:completed", 0, -1).unwrap();
    assert!(completed.is_empty(), "{completed:?}");
    let _ = stop.send(());
    cleaner.await.unwrap();
}

#[tokio::test]
async fn the_listener_cleans_its_quarantine_after_the_ttl() {
    let redis = RedisServer::start();
    let spool = TempDir::new("quarantine-ttl");
    let listener = quarantining(&redis, &spool, &["--quarantine-ttl-secs", "1"]).await;

    assert_eq!(post_unsigned(listener.addr, &event(1)).await, 200);
    assert_eq!(parked(&redis), 1);

    eventually(Duration::from_secs(10), "the quarantine is emptied", || {
        parked(&redis) == 0
    });
    listener.stop().await;
}

#[tokio::test]
async fn past_the_rate_limit_badly_signed_requests_get_401() {
    let redis = RedisServer::start();
    let spool = TempDir::new("quarantine-rate");
    let listener = quarantining(&redis, &spool, &["--quarantine-max-per-sec", "2"]).await;

    let mut statuses = Vec::new();
    for n in 0..5 {
        statuses.push(post_unsigned(listener.addr, &event(n)).await);
    }

    // Two requests fit in the bucket; refilling one more takes half a second.
    assert_eq!(statuses[..3], [200, 200, 401], "{statuses:?}");
    let kept = statuses.iter().filter(|status| **status == 200).count();
    assert!(kept <= 3, "{statuses:?}");
    assert_eq!(parked(&redis), kept);
    listener.stop().await;
}

#[tokio::test]
async fn a_body_over_the_quarantine_limit_gets_401() {
    let redis = RedisServer::start();
    let spool = TempDir::new("quarantine-body");
    let listener = quarantining(&redis, &spool, &["--quarantine-max-body-bytes", "64"]).await;

    let large = format!(r#"{{"padding":"{}"}}"#, "x".repeat(100));
    assert_eq!(post_unsigned(listener.addr, large.as_bytes()).await, 401);
    assert_eq!(post_unsigned(listener.addr, b"{}").await, 200);

    assert_eq!(parked(&redis), 1);
    listener.stop().await;
}

#[tokio::test]
async fn a_full_quarantine_queue_gets_401() {
    let redis = RedisServer::start();
    let spool = TempDir::new("quarantine-full");
    let listener = quarantining(&redis, &spool, &["--quarantine-max-jobs", "2"]).await;

    let mut statuses = Vec::new();
    for n in 0..3 {
        statuses.push(post_unsigned(listener.addr, &event(n)).await);
    }

    assert_eq!(statuses, [200, 200, 401]);
    assert_eq!(parked(&redis), 2);
    listener.stop().await;
}

#[tokio::test]
async fn without_the_required_replicas_the_answer_is_503_and_nothing_is_quarantined() {
    let redis = RedisServer::start();
    let spool = TempDir::new("quarantine-replicas");
    let listener = quarantining(&redis, &spool, &["--min-replicas-acks", "1"]).await;

    let response = request(
        listener.addr,
        "POST",
        "/webhook/sellsy",
        &[("Content-Type", "application/json")],
        &event(1),
    )
    .await
    .unwrap();

    assert_eq!(response.status, 503);
    assert!(response.header("retry-after").is_some());
    let keys: Vec<String> = redis.connection(0).keys(QUARANTINE_KEYS).unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    listener.stop().await;
}
