//! Redis Cluster: queues with hash-tagged prefixes land on different nodes; adds and the
//! Rust worker run there unchanged; a prefix without a hash tag is refused with advice.

use std::collections::BTreeSet;
use std::time::Duration;

use bullmq_rs::{ActiveJob, ConnectionOptions, Error, JobError, JobOptions, NewJob, Queue, Worker};
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
            .connection(ConnectionOptions::default().cluster())
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
            .connection(ConnectionOptions::default().cluster())
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
        .connection(ConnectionOptions::default().cluster())
        .connect(&cluster.url())
        .await
        .unwrap_err();

    assert!(matches!(err, Error::InvalidQueue { .. }), "{err}");
    assert!(
        err.to_string().contains("use a prefix such as {sellsy}"),
        "{err}"
    );
}

/// Dumps the keys of `prefix` from every node, with the prefix cut off so that two
/// prefixes' key spaces compare.
fn dump_cluster(
    cluster: &RedisCluster,
    prefix: &str,
) -> std::collections::BTreeMap<String, String> {
    cluster
        .nodes()
        .iter()
        .flat_map(|node| testkit::dump_keyspace(&mut node.connection(0), &format!("{prefix}:*")))
        .map(|(key, dump)| (key.replacen(prefix, "bull", 1), dump))
        .collect()
}

async fn play_on_cluster(
    url: &str,
    prefix: &str,
    steps: &[serde_json::Value],
) -> Vec<serde_json::Value> {
    let queue = Queue::builder("q")
        .prefix(prefix)
        .connection(ConnectionOptions::default().cluster())
        .connect(url)
        .await
        .unwrap();
    let mut results = Vec::new();
    for step in steps {
        let job = |value: &serde_json::Value| {
            let opts: JobOptions = serde_json::from_value(value["opts"].clone()).unwrap();
            NewJob::new(value["name"].as_str().unwrap(), &value["data"], opts).unwrap()
        };
        let ids = match step["op"].as_str().unwrap() {
            "add" => queue.add_bulk(&[job(step)]).await.unwrap(),
            "addBulk" => queue
                .add_bulk(
                    &step["jobs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(job)
                        .collect::<Vec<_>>(),
                )
                .await
                .unwrap(),
            other => panic!("step {other} is not played on the cluster"),
        };
        let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        results.push(if step["op"] == "add" {
            json!(ids[0])
        } else {
            json!(ids)
        });
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_rust_adds_leave_the_key_space_bullmq_6_leaves() {
    use crate::differential as scenarios;
    let cluster = RedisCluster::start(3);
    let cases = [
        scenarios::standard(),
        scenarios::lifo(),
        scenarios::delayed(),
        scenarios::prioritized(),
        scenarios::priority_with_delay(),
        scenarios::duplicate_custom_id_keeps_the_first_job(),
        scenarios::dedup_with_ttl(),
        scenarios::every_option_at_once(),
        scenarios::unicode_and_large_data(),
        scenarios::bulk_add(),
    ];
    for (case, steps) in cases.iter().enumerate() {
        let (node_prefix, rust_prefix) = (format!("{{node{case}}}"), format!("{{rust{case}}}"));
        let node_ids = testkit::node::run(
            "produce.js",
            &json!({"redisUrl": cluster.url(), "major": 6, "prefix": node_prefix, "queue": "q", "cluster": true, "steps": steps}),
        );
        let rust_ids = play_on_cluster(&cluster.url(), &rust_prefix, steps).await;
        assert_eq!(json!(rust_ids), node_ids, "case {case}: returned ids");
        let (node, rust) = (
            dump_cluster(&cluster, &node_prefix),
            dump_cluster(&cluster, &rust_prefix),
        );
        crate::differential::assert_same_keyspace(&rust, &node, bullmq_rs::BullmqMajor::V6);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_node_worker_processes_rust_jobs() {
    let cluster = RedisCluster::start(3);
    let queue = Queue::builder("q")
        .prefix("{interop}")
        .connection(ConnectionOptions::default().cluster())
        .connect(&cluster.url())
        .await
        .unwrap();
    let jobs: Vec<NewJob> = (0..20)
        .map(|i| {
            NewJob::new(
                "n",
                &json!({"i": i, "fail": i == 7}),
                JobOptions {
                    priority: Some(i % 2),
                    ..Default::default()
                },
            )
            .unwrap()
        })
        .collect();
    queue.add_bulk(&jobs).await.unwrap();

    let url = cluster.url();
    let node = tokio::task::spawn_blocking(move || {
        testkit::node::run(
            "work.js",
            &json!({"redisUrl": url, "major": 6, "prefix": "{interop}", "queue": "q", "cluster": true,
                    "concurrency": 2, "expect": 20, "timeoutMs": 30000}),
        )
    })
    .await
    .unwrap();

    assert_eq!(
        (
            node["completed"].as_array().unwrap().len(),
            node["failed"].as_array().unwrap().len()
        ),
        (19, 1)
    );
    let counts = queue.get_job_counts().await.unwrap();
    assert_eq!(
        (
            counts.completed,
            counts.failed,
            counts.waiting,
            counts.prioritized
        ),
        (19, 1, 0, 0)
    );
}
