//! Pause, resume, counts, the oldest waiting job and obliterate.

use bullmq_rs::{BullmqMajor, Error, JobOptions, Queue, ScriptError};
use redis::Commands;
use serde_json::json;
use testkit::RedisServer;

#[tokio::test]
async fn pause_and_resume_toggle_is_paused_and_the_marker() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    queue
        .add("a", &json!({}), JobOptions::default())
        .await
        .unwrap();

    queue.pause().await.unwrap();
    let marker_while_paused: bool = redis.connection(0).exists("bull:q:marker").unwrap();
    assert!(queue.is_paused().await.unwrap());
    queue.resume().await.unwrap();

    assert!(!marker_while_paused);
    assert!(!queue.is_paused().await.unwrap());
    let marker: Vec<(String, f64)> = redis
        .connection(0)
        .zrange_withscores("bull:q:marker", 0, -1)
        .unwrap();
    assert_eq!(marker, vec![("0".to_owned(), 0.0)]);
}

#[tokio::test]
async fn job_counts_cover_every_state() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    for opts in [r#"{}"#, r#"{"priority":1}"#, r#"{"delay":1000}"#, r#"{}"#] {
        queue
            .add("a", &json!({}), serde_json::from_str(opts).unwrap())
            .await
            .unwrap();
    }
    let mut conn = redis.connection(0);
    let _: () = conn.zadd("bull:q:completed", "x", 1).unwrap();
    let _: () = conn.zadd("bull:q:failed", "y", 1).unwrap();

    let counts = queue.get_job_counts().await.unwrap();

    assert_eq!(
        (
            counts.waiting,
            counts.prioritized,
            counts.delayed,
            counts.active,
            counts.completed,
            counts.failed
        ),
        (2, 1, 1, 0, 1, 1)
    );
}

#[tokio::test]
async fn oldest_waiting_timestamp_is_the_tail_of_wait_or_of_a_v5_paused_list() {
    let redis = RedisServer::start();
    for major in [BullmqMajor::V5, BullmqMajor::V6] {
        let name = format!("q{major}");
        let queue = Queue::builder(&name)
            .major(major)
            .connect(&redis.url())
            .await
            .unwrap();
        assert_eq!(queue.oldest_waiting_timestamp().await.unwrap(), None);
        let first = queue
            .add("a", &json!({}), JobOptions::default())
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let delayed = r#"{"delay":60000}"#;
        queue
            .add("b", &json!({}), serde_json::from_str(delayed).unwrap())
            .await
            .unwrap();
        queue
            .add("c", &json!({}), JobOptions::default())
            .await
            .unwrap();
        let added = queue.get_job(&first).await.unwrap().unwrap().timestamp;

        let running = queue.oldest_waiting_timestamp().await.unwrap();
        queue.pause().await.unwrap();
        let paused = queue.oldest_waiting_timestamp().await.unwrap();

        assert_eq!((running, paused), (Some(added), Some(added)), "{major:?}");
        let paused_list: u64 = redis
            .connection(0)
            .llen(format!("bull:{name}:paused"))
            .unwrap();
        assert_eq!(paused_list, if major == BullmqMajor::V5 { 2 } else { 0 });
    }
}

#[tokio::test]
async fn obliterate_removes_every_key_of_the_queue_only() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    let neighbour = Queue::connect(&redis.url(), "other").await.unwrap();
    for i in 0..2500 {
        let opts = JobOptions {
            delay: (i % 3 == 0).then(|| std::time::Duration::from_secs(9)),
            ..Default::default()
        };
        queue.add("a", &json!({"i": i}), opts).await.unwrap();
    }
    neighbour
        .add("keep", &json!({}), JobOptions::default())
        .await
        .unwrap();

    queue.obliterate().await.unwrap();

    let left: Vec<String> = redis.connection(0).keys("bull:q:*").unwrap();
    assert!(left.is_empty(), "{left:?}");
    let other: Vec<String> = redis.connection(0).keys("bull:other:*").unwrap();
    assert!(!other.is_empty());
}

#[tokio::test]
async fn obliterate_refuses_while_jobs_are_active_unless_forced() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), "q").await.unwrap();
    queue
        .add("a", &json!({}), JobOptions::default())
        .await
        .unwrap();
    let _: () = redis::cmd("RPOPLPUSH")
        .arg("bull:q:wait")
        .arg("bull:q:active")
        .query(&mut redis.connection(0))
        .unwrap();

    let err = queue.obliterate().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Script {
                code: ScriptError::ActiveJobs,
                ..
            }
        ),
        "{err}"
    );
    queue.force_obliterate().await.unwrap();

    let left: Vec<String> = redis.connection(0).keys("bull:q:*").unwrap();
    assert!(left.is_empty(), "{left:?}");
}
