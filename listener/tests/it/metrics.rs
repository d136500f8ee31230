//! `/metrics`: the queue's figures are read from Redis at most once a second and left out
//! while Redis does not answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use testkit::RedisServer;

use crate::support::{InProcess, SECRET, TempDir, event, post_signed, request};

const WAITING: &str = r#"sellsy_listener_queue_jobs{state="waiting"}"#;
const OLDEST: &str = "sellsy_listener_queue_oldest_waiting_seconds";

async fn start(redis: &RedisServer, spool: &TempDir) -> InProcess {
    InProcess::start(&[
        "--redis-url",
        &redis.url(),
        "--secret",
        SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
    ])
    .await
}

async fn scrape(addr: SocketAddr) -> String {
    let response = request(addr, "GET", "/metrics", &[], b"").await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    String::from_utf8(response.body).unwrap()
}

/// The value of the sample `name` (with its labels, if any), if the text has it.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

/// Scrapes until `done` holds for the text, for at most `timeout`.
async fn scrape_until(addr: SocketAddr, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = scrape(addr).await;
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_scrape_within_a_second_reuses_the_last_read_of_the_queue() {
    let redis = RedisServer::start();
    let spool = TempDir::new("metrics-cache");
    let listener = start(&redis, &spool).await;
    for n in 0..2 {
        assert_eq!(
            post_signed(listener.addr, &event(n)).await.unwrap().status,
            200
        );
    }

    let first = scrape(listener.addr).await;
    assert_eq!(
        post_signed(listener.addr, &event(2)).await.unwrap().status,
        200
    );
    let second = scrape(listener.addr).await;
    let later = scrape_until(listener.addr, Duration::from_secs(5), |text| {
        sample(text, WAITING) == Some(3.0)
    })
    .await;

    assert_eq!(sample(&first, WAITING), Some(2.0), "{first}");
    assert_eq!(
        sample(&second, WAITING),
        Some(2.0),
        "the job added after the first scrape is counted a second later:\n{second}"
    );
    for state in ["active", "delayed", "prioritized", "completed", "failed"] {
        let name = format!("sellsy_listener_queue_jobs{{state=\"{state}\"}}");
        assert_eq!(sample(&later, &name), Some(0.0), "{state}: {later}");
    }
    assert!(
        sample(&later, OLDEST).is_some_and(|age| age >= 0.0),
        "{later}"
    );
    assert_eq!(sample(&later, "sellsy_listener_spool_depth"), Some(0.0));
    let stored = r#"sellsy_listener_events_stored_total{store="redis"}"#;
    assert_eq!(sample(&later, stored), Some(3.0), "{later}");
    listener.stop().await;
}

#[tokio::test]
async fn the_queue_figures_are_left_out_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let spool = TempDir::new("metrics-down");
    let listener = start(&redis, &spool).await;
    assert!(sample(&scrape(listener.addr).await, WAITING).is_some());

    redis.kill();
    let down = scrape_until(listener.addr, Duration::from_secs(5), |text| {
        !text.contains("sellsy_listener_queue")
    })
    .await;

    assert!(
        down.contains("sellsy_listener_http_requests_total"),
        "{down}"
    );
    assert!(down.ends_with("# EOF\n"), "{down}");
    listener.stop().await;
}
