//! The worker's events (BullMQ's `worker.on(...)`): active, progress, completed, failed
//! (every attempt), stalled, in the order they happen to each job.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bullmq_rs::{ActiveJob, JobError, JobOptions, Queue, Worker, WorkerEvent};
use redis::Commands;
use serde_json::{Value, json};
use testkit::RedisServer;

use crate::steps::QUEUE;

async fn handle(job: ActiveJob) -> Result<Value, JobError> {
    match job.id.as_str() {
        "fails" => Err(JobError::new("no luck")),
        _ => {
            job.update_progress(&json!(50)).await?;
            Ok(json!("done"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reports_each_job_s_events_in_order() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    for (id, attempts) in [("works", 1), ("fails", 2), ("stalls", 1)] {
        let opts = JobOptions {
            job_id: Some(id.into()),
            attempts: Some(attempts),
            ..Default::default()
        };
        queue.add("n", &json!({}), opts).await.unwrap();
    }
    // "stalls" was taken by a worker that died: active, unlocked, seen by a stalled check.
    let mut conn = redis.connection(0);
    let _: () = conn.lrem("bull:q:wait", 1, "stalls").unwrap();
    let _: () = conn.lpush("bull:q:active", "stalls").unwrap();
    let _: () = conn.sadd("bull:q:stalled", "stalls").unwrap();

    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let worker = Worker::builder(QUEUE)
        .drain_delay(Duration::from_millis(100))
        .on_event(move |event| {
            let line = match event {
                WorkerEvent::Active(job) => format!("{} active", job.id),
                WorkerEvent::Progress(job, progress) => format!("{} progress {progress}", job.id),
                WorkerEvent::Completed(job, value) => format!("{} completed {value}", job.id),
                WorkerEvent::Failed {
                    job,
                    error,
                    retried,
                } => {
                    format!("{} failed {error} retried={retried}", job.id)
                }
                WorkerEvent::Stalled(id) => format!("{id} stalled"),
                other => format!("{other:?}"),
            };
            record.lock().unwrap().push(line);
        })
        .connect(&redis.url(), handle)
        .await
        .unwrap();
    let counter = queue.clone();
    let done = async move {
        loop {
            let counts = counter.get_job_counts().await.unwrap();
            if counts.completed + counts.failed == 3 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), worker.run_until(done))
        .await
        .expect("the jobs finish in time")
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    let of = |id: &str| -> Vec<String> {
        seen.iter()
            .filter(|line| line.starts_with(&format!("{id} ")))
            .cloned()
            .collect()
    };
    assert_eq!(
        of("works"),
        [
            "works active",
            "works progress 50",
            "works completed \"done\""
        ]
    );
    assert_eq!(
        of("fails"),
        [
            "fails active",
            "fails failed no luck retried=true",
            "fails active",
            "fails failed no luck retried=false"
        ]
    );
    assert_eq!(
        of("stalls"),
        [
            "stalls stalled",
            "stalls active",
            "stalls progress 50",
            "stalls completed \"done\""
        ]
    );
    assert_eq!(seen.len(), 11, "unexpected events: {seen:?}");
}
