//! `QueueEvents` against Node's: for one scripted run of jobs (complete, fail, retry,
//! delay, progress, duplicate, dedup, stall, pause, clean) the Rust reader yields the
//! events a Node BullMQ `QueueEvents` emits, in the same order and with the same values;
//! it reads on from its last entry across a Redis restart; `wait_until_finished` returns
//! a job's result or failure however the race with the worker goes.

use std::collections::BTreeSet;
use std::time::Duration;

use bullmq_rs::{
    ActiveJob, BullmqMajor, EventId, JobError, JobOptions, JobOutcome, JobState, Queue, QueueEvent,
    QueueEvents, Worker,
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

fn opts(json: Value) -> JobOptions {
    serde_json::from_value(json).unwrap()
}

async fn state_of(queue: &Queue, id: &bullmq_rs::JobId) -> Option<JobState> {
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

/// Reads events until one named `name` (for job `job`, if given); returns them all.
async fn read_until(events: &mut QueueEvents, name: &str, job: &str) -> Vec<QueueEvent> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let Ok(event) = events.next().await else {
                continue;
            };
            let done = event.name() == name && event.job_id().map(|j| j.as_str()) == Some(job);
            seen.push(event);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {name} for job {job}; saw {seen:?}"));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_is_read_on_from_the_last_entry() {
    let mut redis = RedisServer::with_aof();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let mut events = QueueEvents::builder(QUEUE)
        .block_time(Duration::from_millis(500))
        .connect(&redis.url())
        .await
        .unwrap();
    let first = queue
        .add("before", &json!({}), JobOptions::default())
        .await
        .unwrap();
    read_until(&mut events, "waiting", first.as_str()).await;
    let before = events.position().clone();

    redis.kill();
    let lost = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("a read fails once the server is gone");
    assert!(lost.is_err(), "{lost:?}");
    redis.restart();
    // Added before the reader reconnects: reading from the end (`$`) would miss them.
    let second = Queue::connect(&redis.url(), QUEUE)
        .await
        .unwrap()
        .add("after", &json!({}), JobOptions::default())
        .await
        .unwrap();

    let seen = read_until(&mut events, "waiting", second.as_str()).await;
    let read: Vec<(&str, &str)> = seen
        .iter()
        .map(|e| (e.name(), e.job_id().map_or("", |j| j.as_str())))
        .collect();
    assert_eq!(
        read,
        [("added", second.as_str()), ("waiting", second.as_str())],
        "nothing skipped, nothing read twice"
    );
    assert!(seen[0].id() > &before);
}

async fn worker_until_finished(redis: &RedisServer, queue: &Queue, jobs: u64) {
    let worker = Worker::builder(QUEUE)
        .drain_delay(Duration::from_millis(200))
        .connect(&redis.url(), like_node)
        .await
        .unwrap();
    let counter = queue.clone();
    let finished = async move {
        loop {
            let counts = counter.get_job_counts().await.unwrap();
            if counts.completed + counts.failed == jobs {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), worker.run_until(finished))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_until_finished_returns_the_result_or_the_failure() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let ok = queue
        .add(
            "ok",
            &json!({"n": 1, "sleepMs": 200}),
            JobOptions::default(),
        )
        .await
        .unwrap();
    let bad = queue
        .add(
            "bad",
            &json!({"fail": true, "sleepMs": 200}),
            JobOptions::default(),
        )
        .await
        .unwrap();
    let url = redis.url();
    let waiting = tokio::spawn(async move {
        let mut events = QueueEvents::connect(&url, QUEUE).await.unwrap();
        let ok = events
            .wait_until_finished(&ok, Duration::from_secs(20))
            .await;
        let bad = events
            .wait_until_finished(&bad, Duration::from_secs(20))
            .await;
        (ok.unwrap(), bad.unwrap())
    });

    worker_until_finished(&redis, &queue, 2).await;

    assert_eq!(
        waiting.await.unwrap(),
        (
            JobOutcome::Completed {
                return_value: json!({"n": 1, "sleepMs": 200})
            },
            JobOutcome::Failed {
                failed_reason: "requested failure".to_owned()
            }
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_until_finished_sees_jobs_that_finished_before_it() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let kept = queue
        .add("kept", &json!({"n": 1}), JobOptions::default())
        .await
        .unwrap();
    // Removed as it completes: only the stream still tells its result.
    let removed = queue
        .add(
            "removed",
            &json!({"n": 2}),
            opts(json!({"removeOnComplete": true})),
        )
        .await
        .unwrap();
    let failed = queue
        .add("failed", &json!({"fail": true}), JobOptions::default())
        .await
        .unwrap();
    let mut events = QueueEvents::builder(QUEUE)
        .start_after(EventId::zero())
        .connect(&redis.url())
        .await
        .unwrap();

    worker_until_finished(&redis, &queue, 2).await;

    let wait = Duration::from_secs(1);
    assert_eq!(
        events.wait_until_finished(&kept, wait).await.unwrap(),
        JobOutcome::Completed {
            return_value: json!({"n": 1})
        }
    );
    assert_eq!(
        events.wait_until_finished(&failed, wait).await.unwrap(),
        JobOutcome::Failed {
            failed_reason: "requested failure".to_owned()
        }
    );
    assert!(queue.get_job(&removed).await.unwrap().is_none());
    assert_eq!(
        events.wait_until_finished(&removed, wait).await.unwrap(),
        JobOutcome::Completed {
            return_value: json!({"n": 2})
        }
    );
    let unknown = events
        .wait_until_finished(&"nope".into(), wait)
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, bullmq_rs::Error::JobNotFound(id) if id.as_str() == "nope"),
        "{unknown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_until_finished_gives_up_after_its_timeout() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let id = queue
        .add("never-run", &json!({}), JobOptions::default())
        .await
        .unwrap();
    let mut events = QueueEvents::connect(&redis.url(), QUEUE).await.unwrap();

    let started = std::time::Instant::now();
    let err = events
        .wait_until_finished(&id, Duration::from_millis(300))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, bullmq_rs::Error::WaitTimedOut { job_id, timeout }
            if job_id == &id && *timeout == Duration::from_millis(300)),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(state_of(&queue, &id).await, Some(JobState::Waiting));

    // Its XREAD is still blocked in Redis (for 10 s): the next wait does not queue behind it.
    let started = std::time::Instant::now();
    let missing = events
        .wait_until_finished(&"nope".into(), Duration::from_secs(5))
        .await;
    assert!(
        matches!(missing, Err(bullmq_rs::Error::JobNotFound(_))),
        "{missing:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_tagged_queue_is_followed_on_a_cluster() {
    let cluster = testkit::RedisCluster::start(3);
    let queue = Queue::builder(QUEUE)
        .prefix("{events}")
        .cluster()
        .connect(&cluster.url())
        .await
        .unwrap();
    let mut events = QueueEvents::builder(QUEUE)
        .prefix("{events}")
        .cluster()
        .connect(&cluster.url())
        .await
        .unwrap();
    let unfinished = tokio::time::timeout(Duration::from_millis(100), events.next()).await;
    assert!(unfinished.is_err(), "nothing happened yet: {unfinished:?}");
    let id = queue
        .add("greet", &json!({"n": 1}), JobOptions::default())
        .await
        .unwrap();
    let worker = Worker::builder(QUEUE)
        .prefix("{events}")
        .cluster()
        .connect(&cluster.url(), like_node)
        .await
        .unwrap();
    let waited = id.clone();
    let finished = async move {
        let outcome = events
            .wait_until_finished(&waited, Duration::from_secs(10))
            .await;
        assert_eq!(
            outcome.unwrap(),
            JobOutcome::Completed {
                return_value: json!({"n": 1})
            }
        );
    };

    tokio::time::timeout(Duration::from_secs(20), worker.run_until(finished))
        .await
        .expect("the job finishes in time")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_is_read_on_from_the_last_entry() {
    use crate::jobs::numbered;

    let mut set = testkit::SentinelSet::start(&[]);
    let urls = set.sentinel_urls();
    let queue = Queue::builder(QUEUE)
        .sentinel(testkit::MASTER_NAME)
        .connect(&urls)
        .await
        .unwrap();
    let mut events = QueueEvents::builder(QUEUE)
        .sentinel(testkit::MASTER_NAME)
        .block_time(Duration::from_millis(500))
        .connect(&urls)
        .await
        .unwrap();
    let (_, replicas) = queue
        .add_bulk_replicated(&[numbered(1)], 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(replicas, 1, "the replica has the first job's events");
    read_until(&mut events, "waiting", "job-1").await;

    set.server_mut(0).kill();
    // Once the sentinels promote the replica, adds reach it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while queue
        .add_bulk_replicated(&[numbered(2)], 0, Duration::from_millis(100))
        .await
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "no failover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let seen = read_until(&mut events, "waiting", "job-2").await;
    assert!(
        matches!(&seen[0], QueueEvent::Added { job_id, .. } if job_id.as_str() == "job-2"),
        "read on right after the last entry: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|event| event.job_id().is_some_and(|id| id.as_str() == "job-2")),
        "nothing read twice: {seen:?}"
    );
}
