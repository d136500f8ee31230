//! `QueueEvents::wait_until_finished`, as Node's `job.waitUntilFinished`: the result or
//! the failure, for jobs finishing while it waits and jobs finished before (also removed on
//! completion); a missing job; the timeout, after which the reader still answers at once.

use std::time::Duration;

use bullmq_rs::{EventId, JobOptions, JobOutcome, JobState, Queue, QueueEvents, Worker};
use serde_json::json;
use testkit::RedisServer;

use crate::queue_events::{opts, state_of};
use crate::steps::QUEUE;
use crate::worker::like_node;

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
async fn returns_the_result_or_the_failure() {
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
async fn sees_jobs_that_finished_before_it() {
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
async fn gives_up_after_its_timeout() {
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
