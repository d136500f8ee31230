//! The Rust worker against real BullMQ: the same Node-produced jobs, processed by a Node
//! worker in one db and by the Rust worker in another, end in the same key space; retries,
//! keep counts, rate limits and shutdown behave as BullMQ's. (Node and Rust workers on
//! one queue: `worker_interop.rs`.)

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bullmq_rs::{ActiveJob, BullmqMajor, JobError, JobOptions, NewJob, Queue, Worker};
use serde_json::{Value, json};
use testkit::{RedisServer, dump_keyspace};

use crate::steps::{PREFIX, QUEUE, add, play_with_node};

/// The Node test worker's behaviour: return the data, fail on `"fail": true`, sleep on `sleepMs`.
pub(crate) async fn like_node(job: ActiveJob) -> Result<Value, JobError> {
    if let Some(ms) = job.data.get("sleepMs").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if job.data.get("fail") == Some(&Value::Bool(true)) {
        return Err(JobError::new("requested failure"));
    }
    Ok(job.data.clone())
}

/// Runs a Rust worker on db `db` until nothing is left to run.
async fn run_rust_worker(redis: &RedisServer, db: u8, major: BullmqMajor) {
    let url = redis.url_db(db);
    let worker = Worker::builder(QUEUE)
        .prefix(PREFIX)
        .major(major)
        .drain_delay(Duration::from_millis(200))
        .connect(&url, like_node)
        .await
        .unwrap();
    let queue = Queue::builder(QUEUE)
        .prefix(PREFIX)
        .major(major)
        .connect(&url)
        .await
        .unwrap();
    let done = async move {
        loop {
            let counts = queue.get_job_counts().await.unwrap();
            if counts.waiting + counts.prioritized + counts.delayed + counts.active == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), worker.run_until(done))
        .await
        .expect("the worker finishes in time")
        .unwrap();
}

fn scenario() -> Vec<Value> {
    vec![
        add("first", json!({"n": 1}), json!({})),
        add("second", json!({"n": 2}), json!({"lifo": true})),
        add("high", json!({"n": 3}), json!({"priority": 1})),
        add("low", json!({"n": 4}), json!({"priority": 7})),
        add("fails-once", json!({"fail": true}), json!({})),
        add(
            "fails-thrice",
            json!({"fail": true}),
            json!({"attempts": 3}),
        ),
        add(
            "removed",
            json!({"n": 5}),
            json!({"removeOnComplete": true}),
        ),
        add(
            "removed-failure",
            json!({"fail": true}),
            json!({"removeOnFail": true}),
        ),
        add(
            "keep-an-hour",
            json!({"n": 6}),
            json!({"removeOnComplete": {"age": 3600}}),
        ),
        add(
            "custom",
            json!({"n": 8}),
            json!({"jobId": "custom-1", "keepLogs": 2}),
        ),
        add(
            "dedup",
            json!({"n": 9}),
            json!({"deduplication": {"id": "d1"}}),
        ),
        add(
            "dedup",
            json!({"n": 10}),
            json!({"deduplication": {"id": "d1"}}),
        ),
        add(
            "later",
            json!({"n": 11}),
            json!({"delay": 1500, "priority": 2}),
        ),
        add(
            "backoff",
            json!({"fail": true}),
            json!({"attempts": 2, "backoff": 200}),
        ),
    ]
}

/// What may differ between two workers that did the same thing: the marker (a wake-up
/// signal, consumed by whichever worker blocks on it last), stack trace text (Node's has
/// JavaScript frames; their number must match) and the order of finished jobs that share
/// a millisecond.
fn comparable(
    mut dump: std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    dump.remove("bull:q:marker");
    for (key, text) in dump.iter_mut() {
        let mut lines: Vec<String> = text
            .lines()
            .map(|line| match line.strip_prefix("  stacktrace = ") {
                Some(traces) => format!(
                    "  stacktrace = {} trace(s)",
                    serde_json::from_str::<Vec<String>>(traces).unwrap().len()
                ),
                None => line.to_owned(),
            })
            .collect();
        if key.ends_with(":completed") || key.ends_with(":failed") {
            lines[1..].sort();
        }
        *text = lines.join("\n");
    }
    dump
}

async fn rust_worker_leaves_the_state_a_node_worker_leaves(major: BullmqMajor) {
    let redis = RedisServer::start();
    let steps = scenario();
    let finals = 13;

    // Each side's jobs are added right before its worker starts, so that delays and
    // backoffs play out the same way on both sides.
    play_with_node(&redis, 1, major, &steps);
    let node = testkit::node::run(
        "work.js",
        &json!({"redisUrl": redis.url_db(1), "major": major.number(), "prefix": PREFIX, "queue": QUEUE,
                "concurrency": 1, "expect": finals, "timeoutMs": 30000}),
    );
    assert_eq!(
        node["completed"].as_array().unwrap().len() + node["failed"].as_array().unwrap().len(),
        finals as usize
    );
    play_with_node(&redis, 2, major, &steps);
    run_rust_worker(&redis, 2, major).await;

    let node_keys = comparable(dump_keyspace(&mut redis.connection(1), "bull:*"));
    let rust_keys = comparable(dump_keyspace(&mut redis.connection(2), "bull:*"));
    let differing: Vec<String> = node_keys
        .keys()
        .chain(rust_keys.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|key| node_keys.get(*key) != rust_keys.get(*key))
        .map(|key| {
            format!(
                "{key}\n  Node: {:?}\n  Rust: {:?}",
                node_keys.get(key),
                rust_keys.get(key)
            )
        })
        .collect();
    assert!(
        differing.is_empty(),
        "key spaces differ after processing (BullMQ {major}):\n{}",
        differing.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_worker_leaves_the_state_a_bullmq6_worker_leaves() {
    rust_worker_leaves_the_state_a_node_worker_leaves(BullmqMajor::V6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_worker_leaves_the_state_a_bullmq5_worker_leaves() {
    rust_worker_leaves_the_state_a_node_worker_leaves(BullmqMajor::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_backoff_end_like_bullmq() {
    let redis = RedisServer::start();
    let steps = vec![
        add(
            "exp",
            json!({"fail": true}),
            json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 100}}),
        ),
        add(
            "fixed",
            json!({"fail": true}),
            json!({"attempts": 2, "backoff": 150}),
        ),
    ];
    play_with_node(&redis, 2, BullmqMajor::V6, &steps);

    run_rust_worker(&redis, 2, BullmqMajor::V6).await;

    let queue = Queue::connect(&redis.url_db(2), QUEUE).await.unwrap();
    let exp = queue.get_job(&"1".into()).await.unwrap().unwrap();
    assert_eq!(
        (
            exp.attempts_made,
            exp.attempts_started,
            exp.stacktrace.len()
        ),
        (3, 3, 3)
    );
    assert_eq!(exp.failed_reason.as_deref(), Some("requested failure"));
    let events: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("bull:q:events")
        .arg("-")
        .arg("+")
        .query(&mut redis.connection(2))
        .unwrap();
    let delays: Vec<String> = events
        .iter()
        .filter(|(_, fields)| fields[1] == "delayed" && fields[3] == "1")
        .map(|(id, fields)| {
            let at: u64 = id.split('-').next().unwrap().parse().unwrap();
            (fields[5].parse::<u64>().unwrap() - at).to_string()
        })
        .collect();
    assert_eq!(delays.len(), 2, "{events:?}");
    let waits: Vec<u64> = delays.iter().map(|d| d.parse().unwrap()).collect();
    assert!(
        (95..=110).contains(&waits[0]) && (195..=210).contains(&waits[1]),
        "exponential backoff 100 then 200 ms: {waits:?}"
    );
    let exhausted = events
        .iter()
        .filter(|(_, fields)| fields[1] == "retries-exhausted")
        .count();
    assert_eq!(exhausted, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_loses_nothing() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let jobs: Vec<NewJob> = (0..300)
        .map(|i| NewJob::new("n", &json!({"i": i, "sleepMs": 25}), JobOptions::default()).unwrap())
        .collect();
    queue.add_bulk(&jobs).await.unwrap();
    let worker = Worker::builder(QUEUE)
        .concurrency(16)
        .connect(&redis.url(), like_node)
        .await
        .unwrap();

    worker
        .run_until(tokio::time::sleep(Duration::from_millis(150)))
        .await
        .unwrap();

    let counts = queue.get_job_counts().await.unwrap();
    assert_eq!(counts.active, 0, "no job left active");
    assert!(counts.completed > 0 && counts.waiting > 0, "{counts:?}");
    assert_eq!(counts.completed + counts.waiting, 300, "{counts:?}");
    let locks: Vec<String> = redis::cmd("KEYS")
        .arg("bull:q:*:lock")
        .query(&mut redis.connection(0))
        .unwrap();
    assert!(locks.is_empty(), "{locks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_on_complete_keeps_the_most_recent_jobs() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let opts: JobOptions = serde_json::from_str(r#"{"removeOnComplete": 2}"#).unwrap();
    // Each job takes a few ms, so that no two finish in the same millisecond (BullMQ breaks
    // such ties by id, not by order).
    let jobs: Vec<NewJob> = (0..5)
        .map(|i| NewJob::new("n", &json!({"i": i, "sleepMs": 3}), opts.clone()).unwrap())
        .collect();
    queue.add_bulk(&jobs).await.unwrap();

    run_rust_worker(&redis, 0, BullmqMajor::V6).await;

    let kept: Vec<String> = redis::cmd("ZRANGE")
        .arg("bull:q:completed")
        .arg(0)
        .arg(-1)
        .query(&mut redis.connection(0))
        .unwrap();
    assert_eq!(kept, ["4", "5"]);
    for removed in 1..=3 {
        assert!(
            queue
                .get_job(&removed.to_string().into())
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_job_waits_without_using_an_attempt() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let id = queue
        .add("call", &json!({}), JobOptions::default())
        .await
        .unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let record = calls.clone();
    let worker = Worker::builder(QUEUE)
        .limiter(bullmq_rs::Limiter {
            max: 100,
            duration: Duration::from_secs(1),
        })
        .connect(&redis.url(), move |_job: ActiveJob| {
            let mut calls = record.lock().unwrap();
            calls.push(std::time::Instant::now());
            let first = calls.len() == 1;
            async move {
                if first {
                    return Err(JobError::rate_limited(
                        "429 Too Many Requests",
                        Duration::from_millis(500),
                    ));
                }
                Ok(json!("done"))
            }
        })
        .await
        .unwrap();
    let done = queue.clone();
    let finished = async move {
        while done.get_job_counts().await.unwrap().completed == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), worker.run_until(finished))
        .await
        .unwrap()
        .unwrap();

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1] - calls[0] >= Duration::from_millis(450),
        "{:?}",
        calls[1] - calls[0]
    );
    let job = queue.get_job(&id).await.unwrap().unwrap();
    assert_eq!(
        (job.attempts_made, job.attempts_started, job.return_value),
        (1, 2, Some(json!("done")))
    );
}
