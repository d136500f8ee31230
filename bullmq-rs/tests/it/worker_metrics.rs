//! The worker's `metrics` option: the counts Node's `Queue.getMetrics` reads, kept as a
//! Node worker keeps them.

use std::time::Duration;

use bullmq_rs::{JobOptions, Queue, Worker};
use redis::Commands;
use serde_json::{Value, json};
use testkit::RedisServer;

use crate::steps::{PREFIX, QUEUE};
use crate::worker::like_node;

const JOBS: [bool; 5] = [false, true, false, false, true];

/// Five jobs (two failing); the metrics hashes as if the last data point was written
/// three minutes ago, with 7 completed and 3 failed jobs counted, 2 and 1 of them then.
async fn seed(redis: &RedisServer, db: u8) {
    let queue = Queue::connect(&redis.url_db(db), QUEUE).await.unwrap();
    for fail in JOBS {
        queue
            .add("n", &json!({"fail": fail}), JobOptions::default())
            .await
            .unwrap();
    }
    let three_minutes_ago = bullmq_now() - 3 * 60_000;
    let mut conn = redis.connection(db);
    for (target, count, prev) in [("completed", 7, 2), ("failed", 3, 1)] {
        let _: () = conn
            .hset_multiple(
                format!("bull:q:metrics:{target}"),
                &[
                    ("count", count),
                    ("prevCount", prev),
                    ("prevTS", three_minutes_ago),
                ],
            )
            .unwrap();
    }
}

fn bullmq_now() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_millis() as u64
}

/// What Node's `getMetrics` reads, without the time of the last data point.
fn node_metrics(redis: &RedisServer, db: u8) -> Value {
    let mut view = testkit::node::run(
        "worker-view.js",
        &json!({"redisUrl": redis.url_db(db), "major": 6, "prefix": PREFIX, "queue": QUEUE}),
    );
    let metrics = view["metrics"].take();
    let mut metrics = metrics.as_object().unwrap().clone();
    for target in metrics.values_mut() {
        target["meta"].as_object_mut().unwrap().remove("prevTS");
    }
    Value::Object(metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_get_metrics_reads_the_rust_worker_s_counts_as_a_node_worker_s() {
    let redis = RedisServer::start();
    seed(&redis, 0).await;
    seed(&redis, 1).await;
    let url = redis.url_db(0);
    tokio::task::spawn_blocking(move || {
        testkit::node::run(
            "work.js",
            &json!({"redisUrl": url, "major": 6, "prefix": PREFIX, "queue": QUEUE,
                    "expect": JOBS.len(), "metricsMaxDataPoints": 10, "timeoutMs": 20000}),
        )
    })
    .await
    .unwrap();

    let worker = Worker::builder(QUEUE)
        .drain_delay(Duration::from_millis(100))
        .metrics(10)
        .connect(&redis.url_db(1), like_node)
        .await
        .unwrap();
    let queue = Queue::connect(&redis.url_db(1), QUEUE).await.unwrap();
    let done = async move {
        loop {
            let counts = queue.get_job_counts().await.unwrap();
            if counts.completed + counts.failed == JOBS.len() as u64 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), worker.run_until(done))
        .await
        .expect("the jobs finish in time")
        .unwrap();

    let (node, rust) =
        tokio::task::spawn_blocking(move || (node_metrics(&redis, 0), node_metrics(&redis, 1)))
            .await
            .unwrap();
    // The first job of each kind closes the three minutes: its count, then two idle ones.
    let expected = json!({
        "completed": {"meta": {"count": 10, "prevCount": 7}, "data": [0, 0, 5], "count": 3},
        "failed": {"meta": {"count": 5, "prevCount": 3}, "data": [0, 0, 2], "count": 3},
    });
    assert_eq!(node, expected);
    assert_eq!(rust, node);
}
