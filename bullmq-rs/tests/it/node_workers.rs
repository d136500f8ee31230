//! Real Node BullMQ workers (6 and 5) process jobs this crate added exactly as they
//! process jobs BullMQ added: same order (priority, lifo), same retries and backoff,
//! same final states.

use bullmq_rs::{BullmqMajor, JobState, Queue};
use serde_json::{Value, json};
use testkit::RedisServer;

use crate::steps::{PREFIX, QUEUE, add, play_with_node, play_with_rust};

fn scenario() -> Vec<Value> {
    vec![
        add("first", json!({"n": 1}), json!({})),
        add("second", json!({"n": 2}), json!({})),
        add("jumps-the-line", json!({"n": 3}), json!({"lifo": true})),
        add("low", json!({"n": 4}), json!({"priority": 10})),
        add("high", json!({"n": 5}), json!({"priority": 1})),
        add("mid", json!({"n": 6}), json!({"priority": 5})),
        add("high-too", json!({"n": 7}), json!({"priority": 1})),
        add("soon", json!({"n": 8}), json!({"delay": 300})),
        add(
            "fails-fixed",
            json!({"fail": true}),
            json!({"attempts": 3, "backoff": 100}),
        ),
        add(
            "fails-exp",
            json!({"fail": true}),
            json!({"attempts": 2, "backoff": {"type": "exponential", "delay": 50}}),
        ),
        add("fails-once", json!({"fail": true}), json!({})),
        add(
            "custom",
            json!({"n": 9}),
            json!({"jobId": "custom-1", "removeOnComplete": true}),
        ),
    ]
}

/// What a worker run tells: processing order (name and attempt) and final outcomes.
fn work(redis: &RedisServer, db: u8, major: BullmqMajor, expect: usize) -> Value {
    testkit::node::run(
        "work.js",
        &json!({
            "redisUrl": redis.url_db(db), "major": major.number(), "prefix": PREFIX, "queue": QUEUE,
            "concurrency": 1, "expect": expect, "timeoutMs": 30000,
        }),
    )
}

/// Every processing as `name#attemptsMade`, in processing order.
fn attempts(run: &Value) -> Vec<String> {
    run["processed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            format!(
                "{}#{}",
                entry["name"].as_str().unwrap(),
                entry["attemptsMade"]
            )
        })
        .collect()
}

/// The order of first attempts of jobs that were ready at once: retries and the delayed
/// job run when their time comes, which depends on how long the producer took.
fn ready_order(run: &Value) -> Vec<String> {
    attempts(run)
        .into_iter()
        .filter(|entry| entry.ends_with("#0") && !entry.starts_with("soon"))
        .collect()
}

fn sorted(mut entries: Vec<String>) -> Vec<String> {
    entries.sort();
    entries
}

fn sorted_ids(ids: &Value) -> Vec<String> {
    sorted(
        ids.as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect(),
    )
}

async fn rust_jobs_run_like_bullmq_jobs(major: BullmqMajor) {
    let redis = RedisServer::start();
    let steps = scenario();
    let node_ids = play_with_node(&redis, 1, major, &steps);
    let rust_ids = play_with_rust(&redis, 2, major, &steps).await;
    assert_eq!(rust_ids, node_ids);

    let node_run = work(&redis, 1, major, steps.len());
    let rust_run = work(&redis, 2, major, steps.len());

    assert_eq!(
        ready_order(&rust_run),
        ready_order(&node_run),
        "processing order"
    );
    assert_eq!(
        sorted(attempts(&rust_run)),
        sorted(attempts(&node_run)),
        "attempts per job"
    );
    assert_eq!(
        sorted_ids(&rust_run["completed"]),
        sorted_ids(&node_run["completed"])
    );
    assert_eq!(
        sorted_ids(&rust_run["failed"]),
        sorted_ids(&node_run["failed"])
    );
    assert_eq!(
        ready_order(&rust_run),
        [
            "jumps-the-line#0",
            "first#0",
            "second#0",
            "fails-fixed#0",
            "fails-exp#0",
            "fails-once#0",
            "custom#0",
            "high#0",
            "high-too#0",
            "mid#0",
            "low#0"
        ]
    );
    let fixed: Vec<String> = attempts(&rust_run)
        .into_iter()
        .filter(|entry| entry.starts_with("fails-fixed"))
        .collect();
    assert_eq!(fixed, ["fails-fixed#0", "fails-fixed#1", "fails-fixed#2"]);

    for db in [1, 2] {
        let queue = Queue::builder(QUEUE)
            .major(major)
            .connect(&redis.url_db(db))
            .await
            .unwrap();
        let failed = queue.get_job(&"9".into()).await.unwrap().unwrap();
        assert_eq!(
            (failed.state, failed.attempts_made, failed.attempts_started),
            (JobState::Failed, 3, 3)
        );
        assert_eq!(failed.failed_reason.as_deref(), Some("requested failure"));
        let done = queue.get_job(&"1".into()).await.unwrap().unwrap();
        assert_eq!(
            (done.state, done.return_value),
            (JobState::Completed, Some(json!({"n": 1})))
        );
        assert!(
            queue.get_job(&"custom-1".into()).await.unwrap().is_none(),
            "removeOnComplete: true"
        );
    }
}

#[tokio::test]
async fn bullmq6_workers_process_rust_jobs_like_their_own() {
    rust_jobs_run_like_bullmq_jobs(BullmqMajor::V6).await;
}

#[tokio::test]
async fn bullmq5_workers_process_rust_jobs_like_their_own() {
    rust_jobs_run_like_bullmq_jobs(BullmqMajor::V5).await;
}
