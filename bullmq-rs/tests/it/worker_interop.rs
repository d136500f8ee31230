//! Node and Rust workers on one queue: each job processed exactly once; the jobs of a
//! killed worker are recovered by the other kind's stalled check; Node's QueueEvents and
//! job states see what the Rust worker does.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bullmq_rs::{ActiveJob, JobOptions, NewJob, Queue, Worker};
use serde_json::{Value, json};
use testkit::RedisServer;

use crate::steps::{PREFIX, QUEUE};
use crate::worker::like_node;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_rust_workers_share_a_queue_each_job_once() {
    let redis = RedisServer::start();
    let total = 10_000u64;
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    for chunk in (0..total).collect::<Vec<_>>().chunks(1000) {
        let jobs: Vec<NewJob> = chunk
            .iter()
            .map(|i| NewJob::new("n", &json!({"i": i}), JobOptions::default()).unwrap())
            .collect();
        queue.add_bulk(&jobs).await.unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let worker = Worker::builder(QUEUE)
        .concurrency(8)
        .drain_delay(Duration::from_millis(200))
        .connect(&redis.url(), move |job: ActiveJob| {
            record.lock().unwrap().push(job.id.to_string());
            async { Ok(Value::Null) }
        })
        .await
        .unwrap();
    let url = redis.url();
    let node = tokio::task::spawn_blocking(move || {
        testkit::node::run(
            "work.js",
            &json!({"redisUrl": url, "major": 6, "prefix": PREFIX, "queue": QUEUE, "concurrency": 8,
                    "expect": 0, "untilTotal": total, "timeoutMs": 120000}),
        )
    });
    let counter = queue.clone();
    let all_done = async move {
        loop {
            let counts = counter.get_job_counts().await.unwrap();
            if counts.completed == total && counts.active == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    worker.run_until(all_done).await.unwrap();
    let node = node.await.unwrap();

    let rust_ids: Vec<String> = seen.lock().unwrap().clone();
    let node_ids: Vec<String> = node["processed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let all: BTreeSet<&String> = rust_ids.iter().chain(&node_ids).collect();
    println!(
        "rust processed {}, node processed {}",
        rust_ids.len(),
        node_ids.len()
    );
    assert_eq!(
        rust_ids.len() + node_ids.len(),
        total as usize,
        "each job exactly once"
    );
    assert_eq!(all.len(), total as usize);
    assert!(
        !rust_ids.is_empty() && !node_ids.is_empty(),
        "both workers took jobs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_rust_worker_s_job_is_recovered_by_a_node_worker() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let id = queue
        .add("slow", &json!({"sleepMs": 60000}), JobOptions::default())
        .await
        .unwrap();
    let worker = Worker::builder(QUEUE)
        .lock_duration(Duration::from_millis(500))
        .stalled_interval(Duration::from_millis(300))
        .connect(&redis.url(), like_node)
        .await
        .unwrap();
    // A worker that dies mid-job: its task is dropped, nothing renews or finishes the lock.
    let running = tokio::spawn(worker.run_until(std::future::pending()));
    let check = queue.clone();
    let job_id = id.clone();
    eventually_async(|| {
        let (check, job_id) = (check.clone(), job_id.clone());
        async move {
            check.get_job(&job_id).await.unwrap().unwrap().state == bullmq_rs::JobState::Active
        }
    })
    .await;
    running.abort();
    let _ = running.await;
    redis::cmd("HSET")
        .arg(format!("bull:q:{id}"))
        .arg("data")
        .arg("{}")
        .exec(&mut redis.connection(0))
        .unwrap();

    let url = redis.url();
    let node = tokio::task::spawn_blocking(move || {
        testkit::node::run(
            "work.js",
            &json!({"redisUrl": url, "major": 6, "prefix": PREFIX, "queue": QUEUE, "concurrency": 1,
                    "expect": 1, "stalledInterval": 300, "lockDuration": 1000, "timeoutMs": 20000}),
        )
    })
    .await
    .unwrap();

    assert_eq!(node["completed"], json!([id.as_str()]));
    let job = queue.get_job(&id).await.unwrap().unwrap();
    assert_eq!((job.stalled_counter, job.attempts_started), (1, 2));
}

async fn eventually_async<F, Fut>(mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_worker_s_job_is_recovered_by_a_rust_worker() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let id = queue
        .add("slow", &json!({"sleepMs": 60000}), JobOptions::default())
        .await
        .unwrap();
    let mut node = testkit::node::spawn(
        "work.js",
        &json!({"redisUrl": redis.url(), "major": 6, "prefix": PREFIX, "queue": QUEUE, "concurrency": 1,
                "expect": 1, "stalledInterval": 300, "lockDuration": 500, "timeoutMs": 60000}),
    );
    let check = queue.clone();
    let job_id = id.clone();
    eventually_async(|| {
        let (check, job_id) = (check.clone(), job_id.clone());
        async move {
            check.get_job(&job_id).await.unwrap().unwrap().state == bullmq_rs::JobState::Active
        }
    })
    .await;
    node.kill().unwrap();
    node.wait().unwrap();
    redis::cmd("HSET")
        .arg(format!("bull:q:{id}"))
        .arg("data")
        .arg("{}")
        .exec(&mut redis.connection(0))
        .unwrap();

    let worker = Worker::builder(QUEUE)
        .stalled_interval(Duration::from_millis(300))
        .connect(&redis.url(), like_node)
        .await
        .unwrap();
    let done = queue.clone();
    let finished = async move {
        while done.get_job_counts().await.unwrap().completed == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), worker.run_until(finished))
        .await
        .expect("recovered in time")
        .unwrap();

    let job = queue.get_job(&id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.stalled_counter, job.attempts_started),
        (bullmq_rs::JobState::Completed, 1, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_queue_events_and_job_states_see_the_rust_worker() {
    let redis = RedisServer::start();
    let url = redis.url();
    let watcher = tokio::task::spawn_blocking(move || {
        testkit::node::Watcher::start(
            "observe.js",
            &json!({"redisUrl": url, "major": 6, "prefix": PREFIX, "queue": QUEUE, "until": 3, "timeoutMs": 20000}),
        )
    })
    .await
    .unwrap();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    for data in [
        json!({"n": 1}),
        json!({"fail": true}),
        json!({"progress": 50}),
    ] {
        queue
            .add("job", &data, JobOptions::default())
            .await
            .unwrap();
    }
    let worker = Worker::builder(QUEUE)
        .connect(&redis.url(), |job: ActiveJob| async move {
            if let Some(progress) = job.data.get("progress") {
                job.update_progress(progress).await?;
                job.log("half way").await?;
            }
            like_node(job).await
        })
        .await
        .unwrap();
    let counter = queue.clone();
    let finished = async move {
        loop {
            let counts = counter.get_job_counts().await.unwrap();
            if counts.completed + counts.failed == 3 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    worker.run_until(finished).await.unwrap();
    let observed = tokio::task::spawn_blocking(move || watcher.finish())
        .await
        .unwrap();

    let events: Vec<(String, String)> = observed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["jobId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("active", "1"),
        ("completed", "1"),
        ("failed", "2"),
        ("retries-exhausted", "2"),
        ("progress", "3"),
        ("completed", "3"),
    ] {
        assert!(
            events.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} missing from {events:?}"
        );
    }
    let completed = observed["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "completed" && e["jobId"] == "1")
        .unwrap();
    assert_eq!(
        completed["returnvalue"],
        json!({"n": 1}),
        "QueueEvents parses the Rust worker's return value"
    );
    let progress = observed["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "progress")
        .unwrap();
    assert_eq!(progress["data"], json!(50));
    for (id, node_state) in observed["states"].as_object().unwrap() {
        let rust_state = queue
            .get_job(&id.as_str().into())
            .await
            .unwrap()
            .unwrap()
            .state;
        assert_eq!(node_state.as_str(), Some(rust_state.as_str()), "job {id}");
    }
    let logs: Vec<String> = redis::cmd("LRANGE")
        .arg("bull:q:3:logs")
        .arg(0)
        .arg(-1)
        .query(&mut redis.connection(0))
        .unwrap();
    assert_eq!(logs, ["half way"]);
}
