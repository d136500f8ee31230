//! `QueueEvents` against Node's: for one scripted run of jobs (complete, fail, retry,
//! delay, progress, duplicate, dedup, stall, pause, clean, a custom entry) the Rust reader
//! yields the events a Node BullMQ `QueueEvents` emits (BullMQ 6 and 5), in the same order
//! and with the same values; the reader is a `Stream` and a dropped read loses nothing.
//! (Restarts and failovers: `queue_events_faults.rs`; waiting on a job:
//! `wait_until_finished.rs`.)

use std::collections::BTreeSet;
use std::time::Duration;

use bullmq_rs::{
    ActiveJob, BullmqMajor, JobError, JobOptions, JobState, Queue, QueueEvent, QueueEvents, Worker,
};
use serde_json::{Map, Value, json};
use testkit::RedisServer;

use crate::steps::{PREFIX, QUEUE};
use crate::worker::like_node;

/// A custom entry that ends the run: both readers stop at it (and must keep it).
const END: &str = "scenario-end";

/// The Node test worker's behaviour, plus a progress report for `"progress": n`.
async fn reporting(job: ActiveJob) -> Result<Value, JobError> {
    if let Some(progress) = job.data.get("progress") {
        job.update_progress(progress).await?;
    }
    like_node(job).await
}

pub(crate) fn opts(json: Value) -> JobOptions {
    serde_json::from_value(json).unwrap()
}

pub(crate) async fn state_of(queue: &Queue, id: &bullmq_rs::JobId) -> Option<JobState> {
    queue.get_job(id).await.unwrap().map(|job| job.state)
}

async fn eventually_state(queue: &Queue, id: &bullmq_rs::JobId, state: JobState) {
    for _ in 0..1000 {
        if state_of(queue, id).await == Some(state) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} not {state} within 10 s");
}

/// Plays the run, from a worker that dies mid-job to a custom `END` entry.
async fn play_scenario(redis: &RedisServer, queue: &Queue, major: BullmqMajor) {
    // A worker dies with its job: the live worker's stalled check puts it back.
    let stalled = queue
        .add("stall", &json!({"sleepMs": 60000}), JobOptions::default())
        .await
        .unwrap();
    let dying = Worker::builder(QUEUE)
        .major(major)
        .lock_duration(Duration::from_millis(500))
        // Its own first check blocks others' for this long (the `stalled-check` key).
        .stalled_interval(Duration::from_millis(300))
        .connect(&redis.url(), like_node)
        .await
        .unwrap();
    let running = tokio::spawn(dying.run_until(std::future::pending()));
    eventually_state(queue, &stalled, JobState::Active).await;
    running.abort();
    let _ = running.await;
    redis::cmd("HSET")
        .arg(queue.keys().job(&stalled))
        .arg("data")
        .arg("{}")
        .exec(&mut redis.connection(0))
        .unwrap();

    // Added before the live worker starts, so that the duplicates meet their first job.
    let adds = [
        ("ok", json!({"n": 1}), json!({})),
        ("progress", json!({"progress": 40}), json!({})),
        ("fail", json!({"fail": true}), json!({})),
        (
            "retry",
            json!({"fail": true}),
            json!({"attempts": 2, "backoff": 100}),
        ),
        ("later", json!({"n": 2}), json!({"delay": 300})),
        ("custom", json!({"n": 3}), json!({"jobId": "custom-1"})),
        ("custom", json!({"n": 4}), json!({"jobId": "custom-1"})),
        (
            "dedup",
            json!({"n": 5}),
            json!({"deduplication": {"id": "d1"}}),
        ),
        (
            "dedup",
            json!({"n": 6}),
            json!({"deduplication": {"id": "d1"}}),
        ),
    ];
    for (name, data, options) in adds {
        queue.add(name, &data, opts(options)).await.unwrap();
    }
    let finals = 8;

    let worker = Worker::builder(QUEUE)
        .major(major)
        .stalled_interval(Duration::from_millis(300))
        .drain_delay(Duration::from_millis(200))
        .connect(&redis.url(), reporting)
        .await
        .unwrap();
    let counter = queue.clone();
    let all_finished = async move {
        loop {
            let counts = counter.get_job_counts().await.unwrap();
            if counts.completed + counts.failed == finals && counts.active == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), worker.run_until(all_finished))
        .await
        .is_err()
    {
        let counts = queue.get_job_counts().await.unwrap();
        let dump = testkit::dump_keyspace(&mut redis.connection(0), "bull:*");
        panic!("not every job finished in time: {counts:?}\n{dump:#?}");
    }

    queue.pause().await.unwrap();
    queue.resume().await.unwrap();
    queue
        .clean(Duration::ZERO, 100, JobState::Completed)
        .await
        .unwrap();
    redis::cmd("XADD")
        .arg(format!("{PREFIX}:{QUEUE}:events"))
        .arg("*")
        .arg("event")
        .arg(END)
        .arg("by")
        .arg("test")
        .exec(&mut redis.connection(0))
        .unwrap();
}

/// An event as Node's `QueueEvents` emits it: `(args, id)`, or `(id)` for `drained`.
/// BullMQ 6 turns `delayed.delay` into a number, BullMQ 5 leaves it a string.
fn as_node_emits(event: &QueueEvent, major: BullmqMajor) -> Value {
    let mut args = Map::new();
    let mut put = |field: &str, value: Value| {
        args.insert(field.to_owned(), value);
    };
    let text = |value: &str| Value::String(value.to_owned());
    match event {
        QueueEvent::Added { job_id, name, .. } => {
            put("jobId", text(job_id.as_str()));
            put("name", text(name));
        }
        QueueEvent::Waiting { job_id, prev, .. }
        | QueueEvent::Active { job_id, prev, .. }
        | QueueEvent::Removed { job_id, prev, .. }
        | QueueEvent::WaitingChildren { job_id, prev, .. } => {
            put("jobId", text(job_id.as_str()));
            if let Some(prev) = prev {
                put("prev", text(prev));
            }
        }
        QueueEvent::Progress { job_id, data, .. } => {
            put("jobId", text(job_id.as_str()));
            put("data", data.clone());
        }
        QueueEvent::Completed {
            job_id,
            return_value,
            prev,
            ..
        } => {
            put("jobId", text(job_id.as_str()));
            put("returnvalue", return_value.clone());
            if let Some(prev) = prev {
                put("prev", text(prev));
            }
        }
        QueueEvent::Failed {
            job_id,
            failed_reason,
            prev,
            ..
        } => {
            put("jobId", text(job_id.as_str()));
            put("failedReason", text(failed_reason));
            if let Some(prev) = prev {
                put("prev", text(prev));
            }
        }
        QueueEvent::Delayed { job_id, delay, .. } => {
            put("jobId", text(job_id.as_str()));
            let delay = match major {
                BullmqMajor::V5 => json!(delay.to_string()),
                _ => json!(delay),
            };
            put("delay", delay);
        }
        QueueEvent::Stalled { job_id, .. } | QueueEvent::Duplicated { job_id, .. } => {
            put("jobId", text(job_id.as_str()));
        }
        QueueEvent::RetriesExhausted {
            job_id,
            attempts_made,
            ..
        } => {
            put("jobId", text(job_id.as_str()));
            put("attemptsMade", text(&attempts_made.to_string()));
        }
        QueueEvent::Deduplicated {
            job_id,
            deduplication_id,
            deduplicated_job_id,
            ..
        } => {
            put("jobId", text(job_id.as_str()));
            put("deduplicationId", text(deduplication_id));
            put("deduplicatedJobId", text(deduplicated_job_id.as_str()));
        }
        QueueEvent::Debounced {
            job_id,
            debounce_id,
            ..
        } => {
            put("jobId", text(job_id.as_str()));
            put("debounceId", text(debounce_id));
        }
        QueueEvent::Drained { id, .. } => return json!({"event": "drained", "id": id.as_str()}),
        QueueEvent::Paused { .. } | QueueEvent::Resumed { .. } => {}
        QueueEvent::Cleaned { count, .. } => put("count", text(&count.to_string())),
        QueueEvent::Other { fields, .. } => {
            for (field, value) in fields {
                put(field, text(value));
            }
        }
        other => panic!("an event this test does not know: {other:?}"),
    }
    json!({"event": event.name(), "id": event.id().as_str(), "args": args})
}

async fn rust_reader_yields_what_node_queue_events_emits(major: BullmqMajor) {
    let redis = RedisServer::start();
    let queue = Queue::builder(QUEUE)
        .major(major)
        .connect(&redis.url())
        .await
        .unwrap();
    let mut events = QueueEvents::connect(&redis.url(), QUEUE).await.unwrap();
    let input = json!({"redisUrl": redis.url(), "major": major.number(), "prefix": PREFIX,
                       "queue": QUEUE, "lastEventId": events.position().as_str(),
                       "until": END, "timeoutMs": 60000});
    let node = tokio::task::spawn_blocking(move || {
        testkit::node::Watcher::start("queue-events.js", &input)
    })
    .await
    .unwrap();
    let rust = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let event = events.next().await.unwrap();
            let end = event.name() == END;
            seen.push(event);
            if end {
                return seen;
            }
        }
    });

    play_scenario(&redis, &queue, major).await;

    let rust = tokio::time::timeout(Duration::from_secs(10), rust)
        .await
        .expect("the Rust reader reaches the end")
        .unwrap();
    let node = tokio::task::spawn_blocking(move || node.finish())
        .await
        .unwrap();
    let rust_as_node: Vec<Value> = rust.iter().map(|e| as_node_emits(e, major)).collect();
    assert_eq!(
        Value::Array(rust_as_node),
        node["events"],
        "BullMQ {major}: Rust events (left) differ from Node's (right)"
    );
    let names: BTreeSet<&str> = rust.iter().map(QueueEvent::name).collect();
    let mut expected = BTreeSet::from([
        "added",
        "waiting",
        "active",
        "progress",
        "completed",
        "failed",
        "delayed",
        "stalled",
        "retries-exhausted",
        "duplicated",
        "deduplicated",
        "drained",
        "paused",
        "resumed",
        "cleaned",
        END,
    ]);
    if major == BullmqMajor::V5 {
        expected.insert("debounced");
    }
    assert_eq!(names, expected, "BullMQ {major}");
    assert!(
        matches!(rust.last(), Some(QueueEvent::Other { fields, .. }) if fields == &[("by".to_owned(), "test".to_owned())]),
        "the custom entry is kept as stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_reader_yields_what_bullmq6_queue_events_emits() {
    rust_reader_yields_what_node_queue_events_emits(BullmqMajor::V6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_reader_yields_what_bullmq5_queue_events_emits() {
    rust_reader_yields_what_node_queue_events_emits(BullmqMajor::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_read_loses_nothing_and_the_stream_yields_typed_events() {
    use futures_core::Stream;

    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let mut events = QueueEvents::connect(&redis.url(), QUEUE).await.unwrap();
    // Gives up while its XREAD is blocked in Redis: the read stays in flight.
    let gave_up = tokio::time::timeout(Duration::from_millis(100), events.next()).await;
    assert!(gave_up.is_err());

    let id = queue
        .add("greet", &json!({}), JobOptions::default())
        .await
        .unwrap();

    let mut stream = std::pin::Pin::new(&mut events);
    let added = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx))
        .await
        .unwrap()
        .unwrap();
    let waiting = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&added, QueueEvent::Added { job_id, name, .. } if job_id == &id && name == "greet"),
        "{added:?}"
    );
    assert!(
        matches!(&waiting, QueueEvent::Waiting { job_id, prev: None, .. } if job_id == &id),
        "{waiting:?}"
    );
    assert_eq!(events.position(), waiting.id());
}
