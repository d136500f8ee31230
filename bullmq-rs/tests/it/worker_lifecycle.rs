//! A worker's life seen from outside: Node's `getWorkers` lists it; closing it with a
//! deadline hands the jobs still running back to `wait`, for a Node worker to finish;
//! pause, resume and concurrency change while it runs.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bullmq_rs::{ActiveJob, JobOptions, NewJob, Queue, Worker};
use redis::Commands;
use serde_json::{Value, json};
use testkit::RedisServer;

use crate::steps::{PREFIX, QUEUE};

fn node_view(redis: &RedisServer, major: u8) -> Value {
    testkit::node::run(
        "worker-view.js",
        &json!({"redisUrl": redis.url(), "major": major, "prefix": PREFIX, "queue": QUEUE}),
    )
}

async fn add_jobs(queue: &Queue, data: impl Iterator<Item = Value>) {
    let jobs: Vec<NewJob> = data
        .map(|data| NewJob::new("n", &data, JobOptions::default()).unwrap())
        .collect();
    queue.add_bulk(&jobs).await.unwrap();
}

/// The data the Rust handlers here read, typed.
#[derive(serde::Deserialize)]
struct Sleep {
    /// How long the Rust handler runs (a field Node's test worker ignores).
    #[serde(rename = "rustSleepMs", default)]
    ms: u64,
}

async fn sleepy(job: ActiveJob) -> Result<Value, bullmq_rs::JobError> {
    let sleep: Sleep = job.data_as()?;
    tokio::time::sleep(Duration::from_millis(sleep.ms)).await;
    Ok(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_get_workers_lists_rust_workers_by_client_name() {
    let redis = RedisServer::start();
    let mut controls = Vec::new();
    let mut runs = Vec::new();
    for name in [Some("alpha"), None] {
        let builder = Worker::builder(QUEUE).drain_delay(Duration::from_millis(100));
        let builder = match name {
            Some(name) => builder.name(name),
            None => builder,
        };
        let worker = builder.connect(&redis.url(), sleepy).await.unwrap();
        controls.push(worker.control());
        runs.push(tokio::spawn(worker.run()));
    }

    // The server goes with the blocking task and comes back, alive until the workers close.
    let (views, _redis) =
        tokio::task::spawn_blocking(move || ([node_view(&redis, 5), node_view(&redis, 6)], redis))
            .await
            .unwrap();

    // base64("q") = "cQ==", as Node (5 and 6) names its own workers.
    for view in views {
        assert_eq!(view["workers"], json!(["bull:cQ==", "bull:cQ==:w:alpha"]));
    }
    for control in &controls {
        control.close(Duration::from_secs(1)).await;
    }
    for run in runs {
        run.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_past_the_deadline_hands_jobs_back_and_node_finishes_them() {
    let redis = RedisServer::start();
    let total = 40u64;
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    // Every fifth job would run for a minute here; the others take a few ms.
    add_jobs(
        &queue,
        (0..total).map(|i| json!({"i": i, "rustSleepMs": if i % 5 == 0 { 60_000 } else { 5 }})),
    )
    .await;
    let completed = Arc::new(Mutex::new(BTreeSet::new()));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let (record, cancels) = (completed.clone(), cancelled.clone());
    let worker = Worker::builder(QUEUE)
        .concurrency(4)
        .drain_delay(Duration::from_millis(100))
        .connect(&redis.url(), move |job: ActiveJob| {
            let (record, cancels) = (record.clone(), cancels.clone());
            let watched = job.cancellation();
            tokio::spawn(async move {
                watched.cancelled().await;
                cancels.fetch_add(1, Ordering::SeqCst);
            });
            async move {
                let id = job.id.to_string();
                sleepy(job).await?;
                record.lock().unwrap().insert(id);
                Ok(Value::Null)
            }
        })
        .await
        .unwrap();
    let control = worker.control();
    let run = tokio::spawn(worker.run());
    // Load: every slot ends up on a long job.
    let counter = queue.clone();
    tokio::time::timeout(Duration::from_secs(20), async {
        while counter.get_job_counts().await.unwrap().active < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the worker takes jobs");

    let started = std::time::Instant::now();
    control.close(Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "close waited out the jobs"
    );
    run.await.unwrap().unwrap();

    let counts = queue.get_job_counts().await.unwrap();
    let done_here = completed.lock().unwrap().clone();
    assert_eq!(counts.active, 0);
    assert_eq!(counts.completed, done_here.len() as u64);
    assert_eq!(counts.waiting, total - done_here.len() as u64);
    let handed_back = cancelled.load(Ordering::SeqCst);
    assert!(handed_back >= 1, "no job was running at the deadline");
    let mut conn = redis.connection(0);
    let locks: Vec<String> = conn.keys("bull:q:*:lock").unwrap();
    assert_eq!(locks, Vec::<String>::new());
    let stalled: Vec<String> = conn.smembers("bull:q:stalled").unwrap();
    assert_eq!(stalled, Vec::<String>::new());

    // A Node worker takes what was handed back: each job once, no stall, no attempt used.
    let url = redis.url();
    let node = tokio::task::spawn_blocking(move || {
        testkit::node::run(
            "work.js",
            &json!({"redisUrl": url, "major": 6, "prefix": PREFIX, "queue": QUEUE,
                    "concurrency": 8, "expect": total - done_here.len() as u64,
                    "timeoutMs": 30000}),
        )
    })
    .await
    .unwrap();
    let done_here = completed.lock().unwrap().clone();
    let processed = node["processed"].as_array().unwrap();
    let node_ids: BTreeSet<String> = processed
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(node_ids.len(), processed.len(), "a job ran twice in Node");
    assert!(node_ids.is_disjoint(&done_here));
    assert_eq!(node_ids.len() + done_here.len(), total as usize);
    assert!(processed.iter().all(|job| job["attemptsMade"] == json!(0)));
    for id in &node_ids {
        let stc: Option<String> = conn.hget(format!("bull:q:{id}"), "stc").unwrap();
        assert_eq!(stc, None, "job {id} counted a stall");
    }
    let events: Vec<redis::Value> = redis::cmd("XRANGE")
        .arg("bull:q:events")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .unwrap();
    assert!(!format!("{events:?}").contains("stalled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_concurrency_change_while_running() {
    let redis = RedisServer::start();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now, most) = (running.clone(), peak.clone());
    let worker = Worker::builder(QUEUE)
        .drain_delay(Duration::from_millis(100))
        .connect(&redis.url(), move |job: ActiveJob| {
            let (now, most) = (now.clone(), most.clone());
            async move {
                let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(at_once, Ordering::SeqCst);
                sleepy(job).await?;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(Value::Null)
            }
        })
        .await
        .unwrap();
    let control = worker.control();
    control.pause();
    let run = tokio::spawn(worker.run());
    add_jobs(&queue, (0..12).map(|_| json!({"rustSleepMs": 100}))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        queue.get_job_counts().await.unwrap().waiting,
        12,
        "paused, yet took jobs"
    );

    control.set_concurrency(3);
    control.resume();
    let counter = queue.clone();
    tokio::time::timeout(Duration::from_secs(20), async {
        while counter.get_job_counts().await.unwrap().completed < 12 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the jobs run after resume");
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(control.concurrency(), 3);
    control.close(Duration::from_secs(1)).await;
    run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_client_commands_still_runs_workers() {
    // Some hosted Redis lack CLIENT; BullMQ then runs its workers unnamed.
    let redis = RedisServer::start_with(&["--rename-command", "CLIENT", "\"\""]);
    let no_client = redis::cmd("CLIENT")
        .arg("GETNAME")
        .query::<redis::Value>(&mut redis.connection(0));
    assert!(no_client.is_err(), "CLIENT still answers: {no_client:?}");
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    add_jobs(&queue, (0..3).map(|_| json!({}))).await;
    let worker = Worker::builder(QUEUE)
        .drain_delay(Duration::from_millis(50))
        .connect(&redis.url(), sleepy)
        .await
        .unwrap();
    let counter = queue.clone();
    let done = async move {
        while counter.get_job_counts().await.unwrap().completed < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), worker.run_until(done))
        .await
        .expect("the jobs complete")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_connected_while_redis_is_down_works_once_redis_starts() {
    let mut redis = RedisServer::start();
    redis.kill();
    let errors = Arc::new(AtomicUsize::new(0));
    let worker = {
        let errors = errors.clone();
        Worker::builder(QUEUE)
            .name("lazy")
            .drain_delay(Duration::from_millis(100))
            .on_error(move |_| {
                errors.fetch_add(1, Ordering::Relaxed);
            })
            .connect_lazy(&redis.url(), sleepy)
            .expect("no Redis is needed to prepare a worker")
    };
    let control = worker.control();
    let run = tokio::spawn(worker.run());
    let reported = async {
        while errors.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), reported)
        .await
        .expect("the worker reports that Redis is down");

    let redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    let queue = Queue::connect(&redis.url(), QUEUE).await.unwrap();
    add_jobs(&queue, std::iter::once(json!({}))).await;
    let completed = async {
        while queue.get_job_counts().await.unwrap().completed < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), completed)
        .await
        .expect("the job completes once Redis is up");

    // Named once Redis answered, as Node's `getWorkers` expects (base64("q") = "cQ==").
    let redis = tokio::task::spawn_blocking(move || {
        testkit::eventually(Duration::from_secs(30), "the worker's client name", || {
            let clients: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query(&mut redis.connection(0))
                .unwrap();
            clients.contains(" name=bull:cQ==:w:lazy ")
        });
        redis
    })
    .await
    .unwrap();
    control.close(Duration::from_secs(1)).await;
    run.await.unwrap().unwrap();
    drop(redis);
}
