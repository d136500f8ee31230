//! Custom backoff strategies give the delays Node's give, and a handler may delay its job
//! without using an attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bullmq_rs::{ActiveJob, Backoff, JobError, JobOptions, Queue, Worker};
use redis::Commands;
use serde_json::{Value, json};
use testkit::RedisServer;

use crate::steps::{PREFIX, QUEUE};
use crate::worker::like_node;

fn custom(strategy: &str) -> JobOptions {
    JobOptions {
        attempts: Some(3),
        backoff: Some(Backoff::Custom {
            strategy: strategy.into(),
            delay: None,
            jitter: None,
        }),
        ..Default::default()
    }
}

async fn add_failing_jobs(url: &str) {
    let queue = Queue::connect(url, QUEUE).await.unwrap();
    for (id, strategy) in [("linear", "linear"), ("giveup", "giveup")] {
        let opts = JobOptions {
            job_id: Some(id.into()),
            ..custom(strategy)
        };
        let data = json!({"fail": true, "stepMs": 100});
        queue.add("n", &data, opts).await.unwrap();
    }
}

/// The backoff delays, from the `delayed` events: the due time they carry minus the time of
/// the event (its stream id), rounded to 50 ms.
fn backoffs(redis: &RedisServer, db: u8) -> Vec<(String, u64)> {
    let mut conn = redis.connection(db);
    let events: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("bull:q:events")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    events
        .iter()
        .filter(|(_, fields)| fields.first().is_some_and(|(_, event)| event == "delayed"))
        .map(|(id, fields)| {
            let field = |name: &str| fields.iter().find(|(k, _)| k == name).unwrap().1.clone();
            let at: u64 = id.split('-').next().unwrap().parse().unwrap();
            let due: u64 = field("delay").parse().unwrap();
            (field("jobId"), (due - at + 25) / 50 * 50)
        })
        .collect()
}

/// `atm`, `delay`, `failedReason` and where each job ended.
fn outcome(redis: &RedisServer, db: u8) -> Vec<(String, Vec<Option<String>>, bool)> {
    let mut conn = redis.connection(db);
    ["linear", "giveup"]
        .iter()
        .map(|id| {
            let fields: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(format!("bull:q:{id}"))
                .arg(&["atm", "delay", "failedReason"])
                .query(&mut conn)
                .unwrap();
            let failed: Option<f64> = conn.zscore("bull:q:failed", id).unwrap();
            ((*id).to_owned(), fields, failed.is_some())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_backoff_gives_the_delays_node_s_gives() {
    let redis = RedisServer::start();
    add_failing_jobs(&redis.url_db(0)).await;
    add_failing_jobs(&redis.url_db(1)).await;
    let url = redis.url_db(0);
    tokio::task::spawn_blocking(move || {
        testkit::node::run(
            "work.js",
            &json!({"redisUrl": url, "major": 6, "prefix": PREFIX, "queue": QUEUE,
                    "expect": 0, "untilTotal": 2, "backoffStrategy": true, "timeoutMs": 20000}),
        )
    })
    .await
    .unwrap();

    let worker = Worker::builder(QUEUE)
        .drain_delay(Duration::from_millis(100))
        .backoff_strategy("linear", |attempts_made, _kind, _err, job| {
            let step = job.data["stepMs"].as_u64().unwrap();
            Some(Duration::from_millis(attempts_made * step))
        })
        .backoff_strategy("giveup", |_, _, _, _| None)
        .connect(&redis.url_db(1), like_node)
        .await
        .unwrap();
    let queue = Queue::connect(&redis.url_db(1), QUEUE).await.unwrap();
    let done = async move {
        while queue.get_job_counts().await.unwrap().failed < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), worker.run_until(done))
        .await
        .expect("both jobs fail in time")
        .unwrap();

    let node = outcome(&redis, 0);
    let failure = Some("requested failure".to_owned());
    let expected = vec![
        (
            "linear".to_owned(),
            vec![Some("3".to_owned()), Some("0".to_owned()), failure.clone()],
            true,
        ),
        (
            "giveup".to_owned(),
            vec![Some("1".to_owned()), Some("0".to_owned()), failure],
            true,
        ),
    ];
    assert_eq!(node, expected);
    assert_eq!(outcome(&redis, 1), node);
    let linear = vec![("linear".to_owned(), 100), ("linear".to_owned(), 200)];
    assert_eq!(backoffs(&redis, 0), linear);
    assert_eq!(backoffs(&redis, 1), linear);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_job_runs_again_without_using_an_attempt() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let opts = JobOptions {
        job_id: Some("later".into()),
        attempts: Some(1),
        ..Default::default()
    };
    queue.add("n", &json!({}), opts).await.unwrap();
    let runs = Arc::new(AtomicU64::new(0));
    let counted = runs.clone();
    let worker = Worker::builder(QUEUE)
        .drain_delay(Duration::from_millis(100))
        .connect(&redis.url(), move |_job: ActiveJob| {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if run == 0 {
                    let until = SystemTime::now() + Duration::from_millis(300);
                    return Err(JobError::delayed(until));
                }
                Ok(Value::from("done"))
            }
        })
        .await
        .unwrap();
    let counter = queue.clone();
    let done = async move {
        while counter.get_job_counts().await.unwrap().completed < 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), worker.run_until(done))
        .await
        .expect("the job completes after its delay")
        .unwrap();

    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let mut conn = redis.connection(0);
    let fields: Vec<Option<String>> = redis::cmd("HMGET")
        .arg("bull:q:later")
        .arg(&["atm", "ats", "returnvalue"])
        .query(&mut conn)
        .unwrap();
    // One attempt used (the one that completed) of the two started.
    assert_eq!(
        fields,
        vec![
            Some("1".to_owned()),
            Some("2".to_owned()),
            Some("\"done\"".to_owned())
        ]
    );
    // It went through `delayed` (its `delay` is reset when it is promoted).
    let events: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("bull:q:events")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    let delayed = events
        .iter()
        .filter(|(_, fields)| fields.first().is_some_and(|(_, event)| event == "delayed"))
        .count();
    assert_eq!(delayed, 1);
}
