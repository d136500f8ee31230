//! Behaviour of the add paths on their own (no Node): scores, refusals, whole-state checks.

use std::time::Duration;

use bullmq_rs::{BullmqMajor, Error, JobOptions, JobState, NewJob, Queue};
use redis::Commands;
use serde_json::json;
use testkit::RedisServer;

#[tokio::test]
async fn delayed_job_is_scored_by_its_due_time() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    let opts = JobOptions {
        delay: Some(Duration::from_secs(5)),
        ..Default::default()
    };

    let id = queue.add("send", &json!({}), opts).await.unwrap();

    let job = queue.get_job(&id).await.unwrap().unwrap();
    let score: u64 = redis
        .connection(0)
        .zscore("bull:q:delayed", id.as_str())
        .unwrap();
    assert_eq!(score, (job.timestamp + 5_000) * 4096);
    assert_eq!(job.state, JobState::Delayed);
    assert_eq!(job.delay, 5_000);
}

#[tokio::test]
async fn get_job_reads_back_what_was_added() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    let opts: JobOptions = serde_json::from_str(
        r#"{"jobId":"j-1","priority":4,"attempts":2,"keepLogs":3,"deduplication":{"id":"d"}}"#,
    )
    .unwrap();

    let id = queue
        .add("name", &json!({"k": [1, 2]}), opts.clone())
        .await
        .unwrap();

    let job = queue.get_job(&id).await.unwrap().unwrap();
    assert_eq!(id.as_str(), "j-1");
    assert_eq!(
        (job.name.as_str(), job.state, job.priority),
        ("name", JobState::Prioritized, 4)
    );
    assert_eq!(job.data, json!({"k": [1, 2]}));
    assert_eq!(job.opts, opts);
    assert_eq!(job.deduplication_id.as_deref(), Some("d"));
    assert_eq!(
        (job.attempts_made, job.attempts_started, job.processed_on),
        (0, 0, None)
    );
    assert!(queue.get_job(&"missing".into()).await.unwrap().is_none());
}

#[tokio::test]
async fn invalid_options_send_nothing_to_redis() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    let good = NewJob::new("ok", &json!({}), JobOptions::default()).unwrap();
    let bad = NewJob::new(
        "bad",
        &json!({}),
        JobOptions {
            priority: Some(3_000_000),
            ..Default::default()
        },
    )
    .unwrap();

    let err = queue.add_bulk(&[good, bad]).await.unwrap_err();

    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "priority",
                ..
            }
        ),
        "{err}"
    );
    let counter: Option<u64> = redis.connection(0).get("bull:q:id").unwrap();
    assert_eq!(counter, None, "no job of a refused batch may be written");
}

#[tokio::test]
async fn bulk_add_returns_ids_in_order_and_counts_every_add() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    let jobs: Vec<NewJob> = (0..100)
        .map(|i| NewJob::new("n", &json!({"i": i}), JobOptions::default()).unwrap())
        .collect();

    let ids = queue.add_bulk(&jobs).await.unwrap();

    let expected: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    assert_eq!(
        ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        expected
    );
    let wait: Vec<String> = redis.connection(0).lrange("bull:q:wait", 0, -1).unwrap();
    assert_eq!(
        wait.last().map(String::as_str),
        Some("1"),
        "the first job is taken first"
    );
    assert_eq!(queue.get_job_counts().await.unwrap().waiting, 100);
}

#[tokio::test]
async fn hash_tagged_prefix_keeps_every_key_under_the_tag() {
    let redis = RedisServer::start();
    let queue = Queue::builder("sellsy-webhooks")
        .prefix("{sellsy}")
        .connect(&redis.url())
        .await
        .unwrap();

    queue
        .add("event", &json!({}), JobOptions::default())
        .await
        .unwrap();

    let keys: Vec<String> = redis.connection(0).keys("*").unwrap();
    assert!(!keys.is_empty());
    assert!(
        keys.iter()
            .all(|key| key.starts_with("{sellsy}:sellsy-webhooks:")),
        "{keys:?}"
    );
}

#[tokio::test]
async fn scripts_are_reloaded_after_script_flush() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    queue
        .add("a", &json!({}), JobOptions::default())
        .await
        .unwrap();

    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut redis.connection(0))
        .unwrap();
    let id = queue
        .add("b", &json!({}), JobOptions::default())
        .await
        .unwrap();

    assert_eq!(id.as_str(), "2");
}

#[tokio::test]
async fn unreachable_redis_is_a_connect_error_naming_the_address() {
    let redis = RedisServer::start();
    let url = redis.url();
    drop(redis);

    let err = Queue::connect(&url, "q").await.unwrap_err();

    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("cannot connect to redis at 127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn bullmq_5_layout_parks_adds_of_a_paused_queue_in_the_paused_list() {
    let redis = RedisServer::start();
    let queue = Queue::builder("q")
        .major(BullmqMajor::V5)
        .connect(&redis.url())
        .await
        .unwrap();
    queue.pause().await.unwrap();

    let id = queue
        .add("a", &json!({}), JobOptions::default())
        .await
        .unwrap();

    let mut conn = redis.connection(0);
    let paused: Vec<String> = conn.lrange("bull:q:paused", 0, -1).unwrap();
    let wait_exists: bool = conn.exists("bull:q:wait").unwrap();
    let marker_exists: bool = conn.exists("bull:q:marker").unwrap();
    assert_eq!(
        (paused, wait_exists, marker_exists),
        (vec![id.to_string()], false, false)
    );
    assert_eq!(
        queue.get_job(&id).await.unwrap().unwrap().state,
        JobState::Waiting
    );
}
