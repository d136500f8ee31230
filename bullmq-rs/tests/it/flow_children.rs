//! Children outside FlowProducer: `Queue::add` with a `parent` option (compared with Node
//! BullMQ 6 and 5), a missing parent refused, a handler that adds children and waits for
//! them (BullMQ's moveToWaitingChildren), and flows on a Redis Cluster.

use std::time::Duration;

use bullmq_rs::{
    ActiveJob, BullmqMajor, ConnectionOptions, FlowJob, FlowProducer, JobError, Worker,
};
use serde_json::{Value, json};
use testkit::RedisServer;

/// `Queue::add` with a `parent` option, as Node's `queue.add(.., {parent})`: the child
/// joins the parent's dependencies; an existing id is adopted again.
fn queue_add_with_a_parent() -> Vec<Value> {
    use crate::steps::add;
    vec![
        add("parent", json!({}), json!({"jobId": "p"})),
        add(
            "child",
            json!({"n": 1}),
            json!({"parent": {"id": "p", "queue": "bull:q"}}),
        ),
        add(
            "child-fpof",
            json!({}),
            json!({"jobId": "c2", "failParentOnFailure": true, "parent": {"id": "p", "queue": "bull:q"}}),
        ),
        add(
            "child-again",
            json!({}),
            json!({"jobId": "c2", "parent": {"id": "p", "queue": "bull:q"}}),
        ),
    ]
}

async fn queue_add_with_a_parent_is_like_node(major: BullmqMajor) {
    crate::differential::compare(major, queue_add_with_a_parent()).await;
}

#[tokio::test]
async fn a_child_of_a_missing_parent_is_refused_and_nothing_is_written() {
    let redis = RedisServer::start();
    let queue = bullmq_rs::Queue::connect(&redis.url(), "q").await.unwrap();
    let parent = bullmq_rs::ParentRef::new("bull", "q", "nope".into());
    let opts = bullmq_rs::JobOptions {
        parent: Some(parent),
        ..Default::default()
    };
    let err = queue.add("orphan", &json!({}), opts).await.unwrap_err();
    assert!(
        matches!(
            err,
            bullmq_rs::Error::Script {
                code: bullmq_rs::ScriptError::ParentMissing,
                ..
            }
        ),
        "{err}"
    );
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("bull:q:*")
        .query(&mut redis.connection(0))
        .unwrap();
    assert_eq!(keys, ["bull:q:meta"]);
}

/// BullMQ's moveToWaitingChildren pattern: the handler adds children naming its job,
/// waits for them, and runs again once they are done, reading their results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_waits_for_the_children_it_adds() {
    let redis = RedisServer::start();
    let url = redis.url();
    let queue = bullmq_rs::Queue::connect(&url, "q").await.unwrap();
    queue
        .add(
            "parent",
            &json!({"step": "start"}),
            bullmq_rs::JobOptions {
                job_id: Some("p".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let producer = queue.clone();
    let worker = Worker::builder("q")
        .drain_delay(Duration::from_millis(100))
        .connect(&url, move |mut job: ActiveJob| {
            let queue = producer.clone();
            async move {
                let fail = |err: bullmq_rs::Error| JobError::new(err.to_string());
                if job.name != "parent" {
                    return Ok(json!(job.data["n"].as_u64().unwrap() * 10));
                }
                if job.data["step"] == "start" {
                    for n in [1, 2] {
                        let opts = bullmq_rs::JobOptions {
                            parent: Some(bullmq_rs::ParentRef::new("bull", "q", job.id.clone())),
                            ..Default::default()
                        };
                        queue
                            .add("child", &json!({"n": n}), opts)
                            .await
                            .map_err(fail)?;
                    }
                    job.update_data(&json!({"step": "wait"}))
                        .await
                        .map_err(fail)?;
                    assert!(job.move_to_waiting_children().await.map_err(fail)?);
                    return Err(JobError::waiting_children());
                }
                let deps = job.get_dependencies().await.map_err(fail)?;
                assert!(deps.unprocessed.is_empty() && deps.failed.is_empty());
                let values = job.get_children_values().await.map_err(fail)?;
                assert_eq!(values, deps.processed);
                Ok(json!(
                    values.values().map(|v| v.as_u64().unwrap()).sum::<u64>()
                ))
            }
        })
        .await
        .unwrap();
    let done = queue.clone();
    worker
        .run_until(async move {
            while done.get_job(&"p".into()).await.unwrap().unwrap().state
                != bullmq_rs::JobState::Completed
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
    let parent = queue.get_job(&"p".into()).await.unwrap().unwrap();
    assert_eq!(parent.return_value, Some(json!(30)));
    assert_eq!((parent.attempts_started, parent.attempts_made), (2, 1));
    let events: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("bull:q:events")
        .arg("-")
        .arg("+")
        .query(&mut redis.connection(0))
        .unwrap();
    let parent_events: Vec<String> = events
        .into_iter()
        .map(|(_, fields)| fields.join(" "))
        .filter(|line| line.contains("jobId p ") || line.ends_with("jobId p"))
        .collect();
    assert_eq!(
        parent_events,
        [
            "event added jobId p name parent",
            "event waiting jobId p",
            "event active jobId p prev waiting",
            "event waiting-children jobId p prev active",
            "event waiting jobId p prev waiting-children",
            "event active jobId p prev waiting",
            "event completed jobId p returnvalue 30 prev active",
        ]
    );
}

/// On a cluster a flow runs in one slot: queues sharing a hash tag are added and worked
/// (the child's finish updates its parent in the other queue); another tag is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_flow_shares_one_hash_tag() {
    let cluster = testkit::RedisCluster::start(3);
    let producer = FlowProducer::builder()
        .prefix("{shop}")
        .connection(ConnectionOptions::default().cluster())
        .connect(&cluster.url())
        .await
        .unwrap();
    let flow: FlowJob = serde_json::from_value(json!({
        "name": "order", "queueName": "orders", "opts": {"jobId": "o1"},
        "children": [{"name": "invoice", "queueName": "invoices", "data": {"n": 1}}]
    }))
    .unwrap();
    producer.add(&flow).await.unwrap();

    let mut spread = flow.clone();
    spread.children[0].prefix = Some("{elsewhere}".to_owned());
    let err = producer.add(&spread).await.unwrap_err();
    assert!(
        matches!(&err, bullmq_rs::Error::InvalidFlow(reason) if reason.contains("hash tag")),
        "{err}"
    );

    let orders = bullmq_rs::Queue::builder("orders")
        .prefix("{shop}")
        .connection(ConnectionOptions::default().cluster())
        .connect(&cluster.url())
        .await
        .unwrap();
    let mut runs = Vec::new();
    for queue in ["orders", "invoices"] {
        let worker = Worker::builder(queue)
            .prefix("{shop}")
            .connection(ConnectionOptions::default().cluster())
            .drain_delay(Duration::from_millis(100))
            .connect(&cluster.url(), |job: ActiveJob| async move {
                Ok(job.data.clone())
            })
            .await
            .unwrap();
        let done = orders.clone();
        runs.push(tokio::spawn(worker.run_until(async move {
            while done.get_job(&"o1".into()).await.unwrap().unwrap().state
                != bullmq_rs::JobState::Completed
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })));
    }
    for run in runs {
        run.await.unwrap().unwrap();
    }
}

mod bullmq6 {
    #[tokio::test]
    async fn queue_add_with_a_parent_is_like_node() {
        super::queue_add_with_a_parent_is_like_node(bullmq_rs::BullmqMajor::V6).await
    }
}

mod bullmq5 {
    #[tokio::test]
    async fn queue_add_with_a_parent_is_like_node() {
        super::queue_add_with_a_parent_is_like_node(bullmq_rs::BullmqMajor::V5).await
    }
}
