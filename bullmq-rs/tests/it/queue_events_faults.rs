//! `QueueEvents` when Redis goes away: after a restart, and after a Sentinel failover,
//! the reader goes on right after the last entry it read, skipping and repeating nothing;
//! on a Redis Cluster it follows a hash-tagged queue (and waits on its jobs).

use std::time::Duration;

use bullmq_rs::{
    ConnectionOptions, JobOptions, JobOutcome, Queue, QueueEvent, QueueEvents, Worker,
};
use serde_json::json;
use testkit::RedisServer;

use crate::steps::QUEUE;
use crate::worker::like_node;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_tagged_queue_is_followed_on_a_cluster() {
    let cluster = testkit::RedisCluster::start(3);
    let queue = Queue::builder(QUEUE)
        .prefix("{events}")
        .connection(ConnectionOptions::default().cluster())
        .connect(&cluster.url())
        .await
        .unwrap();
    let mut events = QueueEvents::builder(QUEUE)
        .prefix("{events}")
        .connection(ConnectionOptions::default().cluster())
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
        .connection(ConnectionOptions::default().cluster())
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
        .connection(ConnectionOptions::default().sentinel(testkit::MASTER_NAME))
        .connect(&urls)
        .await
        .unwrap();
    let mut events = QueueEvents::builder(QUEUE)
        .connection(ConnectionOptions::default().sentinel(testkit::MASTER_NAME))
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
