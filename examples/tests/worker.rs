//! The `worker` example: one line per job, the data as result, `requested failure` for
//! `"fail": true`, exit 0 on SIGTERM; and, killed with SIGKILL mid-job, its job is
//! recovered by a Node BullMQ worker's stalled check.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bullmq_rs::{JobOptions, JobState, Queue};
use serde_json::json;
use testkit::{RedisServer, eventually};

fn start_worker(redis: &RedisServer, extra: &[&str]) -> Child {
    Command::new(testkit::example_binary("worker"))
        .args(extra)
        .arg("q")
        .env("REDIS_URL", redis.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the worker example is built by cargo test")
}

fn job_state(rt: &tokio::runtime::Runtime, queue: &Queue, id: &str) -> Option<JobState> {
    rt.block_on(queue.get_job(&id.into()))
        .unwrap()
        .map(|job| job.state)
}

#[test]
fn processes_jobs_line_by_line_and_stops_on_sigterm() {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let queue = rt.block_on(Queue::connect(&redis.url(), "q")).unwrap();
    rt.block_on(queue.add("ok", &json!({"n": 1}), JobOptions::default()))
        .unwrap();
    rt.block_on(queue.add("bad", &json!({"fail": true}), JobOptions::default()))
        .unwrap();
    let mut worker = start_worker(&redis, &[]);
    let mut lines = BufReader::new(worker.stdout.take().unwrap()).lines();

    let mut seen: Vec<String> = Vec::new();
    while seen.len() < 3 {
        seen.push(lines.next().unwrap().unwrap());
    }
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let status = worker.wait().unwrap();

    assert_eq!(
        seen,
        [
            "worker ready on queue q",
            "job 1 ok attempt 1 -> completed",
            "job 2 bad attempt 1 -> failed: requested failure"
        ]
    );
    assert!(status.success(), "{status:?}");
    let done = rt.block_on(queue.get_job(&"1".into())).unwrap().unwrap();
    assert_eq!(done.return_value, Some(json!({"n": 1})));
    let failed = rt.block_on(queue.get_job(&"2".into())).unwrap().unwrap();
    assert_eq!(failed.failed_reason.as_deref(), Some("requested failure"));
}

#[test]
fn a_worker_killed_mid_job_is_recovered_by_a_node_worker() {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let queue = rt.block_on(Queue::connect(&redis.url(), "q")).unwrap();
    let id = rt
        .block_on(queue.add("slow", &json!({"sleepMs": 60000}), JobOptions::default()))
        .unwrap();
    let mut worker = start_worker(
        &redis,
        &["--lock-duration-ms", "500", "--stalled-interval-ms", "300"],
    );
    eventually(Duration::from_secs(10), "the job to be taken", || {
        job_state(&rt, &queue, id.as_str()) == Some(JobState::Active)
    });

    worker.kill().unwrap();
    worker.wait().unwrap();
    // The Node worker should finish at once when it gets the job.
    redis::cmd("HSET")
        .arg(format!("bull:q:{id}"))
        .arg("data")
        .arg("{}")
        .exec(&mut redis.connection(0))
        .unwrap();
    let node = testkit::node::run(
        "work.js",
        &json!({"redisUrl": redis.url(), "major": 6, "prefix": "bull", "queue": "q", "concurrency": 1,
                "expect": 1, "stalledInterval": 300, "lockDuration": 1000, "timeoutMs": 20000}),
    );

    assert_eq!(node["completed"], json!([id.as_str()]));
    let job = rt.block_on(queue.get_job(&id)).unwrap().unwrap();
    assert_eq!(
        (job.state, job.stalled_counter, job.attempts_started),
        (JobState::Completed, 1, 2)
    );
}

#[test]
fn with_sentinel_enqueue_and_worker_reach_the_primary_the_sentinels_name() {
    let set = testkit::SentinelSet::start(&[]);
    let sentinel = ["--sentinel", testkit::MASTER_NAME];
    let added = Command::new(testkit::example_binary("enqueue"))
        .args(sentinel)
        .args(["q", "via-sentinel", r#"{"n":7}"#])
        .env("REDIS_URL", set.sentinel_urls())
        .output()
        .expect("the enqueue example is built by cargo test");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&added.stdout), "1\n");

    let mut worker = KillOnDrop(
        Command::new(testkit::example_binary("worker"))
            .args(sentinel)
            .arg("q")
            .env("REDIS_URL", set.sentinel_urls())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the worker example is built by cargo test"),
    );
    // Read on a thread of its own, so that a silent worker fails the test instead of
    // hanging it.
    let stdout = worker.0.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let seen: Vec<String> = (0..2)
        .map(|_| {
            received
                .recv_timeout(Duration::from_secs(30))
                .expect("the worker prints a line within 30 s")
        })
        .collect();
    drop(worker);

    assert_eq!(
        seen,
        [
            "worker ready on queue q",
            "job 1 via-sentinel attempt 1 -> completed"
        ]
    );
    let on_primary: bool = redis::cmd("EXISTS")
        .arg("bull:q:1")
        .query(&mut set.server(0).connection(0))
        .unwrap();
    assert!(on_primary);
}

/// A child process killed when the test ends, also when it fails early.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn processes_flow_children_then_their_parent() {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let queue = rt.block_on(Queue::connect(&redis.url(), "q")).unwrap();
    let producer = rt
        .block_on(bullmq_rs::FlowProducer::connect(&redis.url()))
        .unwrap();
    let flow: bullmq_rs::FlowJob = serde_json::from_value(json!({
        "name": "parent", "queueName": "q", "opts": {"jobId": "parent"},
        "children": [{"name": "child", "queueName": "q", "data": {"n": 1}, "opts": {"jobId": "child"}}]
    }))
    .unwrap();
    rt.block_on(producer.add(&flow)).unwrap();
    let mut worker = start_worker(&redis, &[]);

    eventually(Duration::from_secs(10), "the parent to complete", || {
        job_state(&rt, &queue, "parent") == Some(JobState::Completed)
    });
    let _ = worker.kill();
    let _ = worker.wait();
    let processed: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg("bull:q:parent:processed")
        .query(&mut redis.connection(0))
        .unwrap();
    assert_eq!(processed["bull:q:child"], r#"{"n":1}"#);
}
