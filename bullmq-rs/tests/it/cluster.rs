//! Redis Cluster: queues with hash-tagged prefixes land on different nodes; adds and the
//! Rust worker run there unchanged; a prefix without a hash tag is refused with advice.

use std::collections::BTreeSet;
use std::time::Duration;

use bullmq_rs::{ActiveJob, Error, JobError, JobOptions, NewJob, Queue, Worker};
use serde_json::json;
use testkit::RedisCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_on_a_three_primary_cluster_add_and_process_jobs() {
    let cluster = RedisCluster::start(3);
    let prefixes = ["{alpha}", "{beta}", "{gamma}"];
    let mut slots_on = BTreeSet::new();
    for prefix in prefixes {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(prefix)
            .query(&mut cluster.nodes()[0].connection(0))
            .unwrap();
        slots_on.insert(slot / (16384 / 3 + 1));
    }
    assert!(
        slots_on.len() > 1,
        "the test queues must not all share one node"
    );

    for prefix in prefixes {
        let queue = Queue::builder("jobs")
            .prefix(prefix)
            .cluster()
            .connect(&cluster.url())
            .await
            .unwrap();
        let jobs: Vec<NewJob> = (0..50)
            .map(|i| {
                NewJob::new(
                    "n",
                    &json!({"i": i}),
                    JobOptions {
                        priority: Some(i % 3),
                        ..Default::default()
                    },
                )
                .unwrap()
            })
            .collect();
        assert_eq!(queue.add_bulk(&jobs).await.unwrap().len(), 50);
        queue
            .add(
                "later",
                &json!({}),
                JobOptions {
                    delay: Some(Duration::from_millis(200)),
                    ..Default::default()
                },
            )
            .await
            .unwrap();

        let worker = Worker::builder("jobs")
            .prefix(prefix)
            .cluster()
            .concurrency(4)
            .drain_delay(Duration::from_millis(200))
            .connect(&cluster.url(), |job: ActiveJob| async move {
                Ok::<_, JobError>(job.data.clone())
            })
            .await
            .unwrap();
        let counter = queue.clone();
        let done = async move {
            while counter.get_job_counts().await.unwrap().completed < 51 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), worker.run_until(done))
            .await
            .expect("processed in time")
            .unwrap();
        let job = queue.get_job(&"1".into()).await.unwrap().unwrap();
        assert_eq!(job.return_value, Some(json!({"i": 0})));
    }
}

#[tokio::test]
async fn a_prefix_without_hash_tag_is_refused_on_a_cluster() {
    let cluster = RedisCluster::start(3);

    let err = Queue::builder("jobs")
        .cluster()
        .connect(&cluster.url())
        .await
        .unwrap_err();

    assert!(matches!(err, Error::InvalidQueue { .. }), "{err}");
    assert!(
        err.to_string().contains("use a prefix such as {sellsy}"),
        "{err}"
    );
}
