//! Redis Sentinel: a queue and a worker reach the primary through the sentinels, keep
//! working after the primary is killed and a replica promoted, the replicated add reports
//! replica acknowledgements, and an unknown master name is a connect error naming it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bullmq_rs::{ActiveJob, ConnectionOptions, JobError, Queue, Worker};
use serde_json::json;
use testkit::{MASTER_NAME, SentinelSet};

use crate::jobs::numbered;

/// Adds `numbered(i)` until Redis takes it and `replicas` replicas have it (a custom id makes
/// a retry safe), within 30 s.
async fn add_until_stored(queue: &Queue, i: u32, replicas: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failures = 0;
    loop {
        assert!(Instant::now() < deadline, "job {i} was never stored");
        match queue
            .add_bulk_replicated(&[numbered(i)], replicas, Duration::from_millis(500))
            .await
        {
            Ok((_, acked)) if acked >= replicas => return failures,
            Ok(_) | Err(_) => {
                failures += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_worker_follow_a_failover() {
    let mut set = SentinelSet::start(&[]);
    let urls = set.sentinel_urls();
    let queue = Queue::builder("jobs")
        .connection(ConnectionOptions::default().sentinel(MASTER_NAME))
        .connect(&urls)
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let worker = {
        let seen = seen.clone();
        Worker::builder("jobs")
            .connection(ConnectionOptions::default().sentinel(MASTER_NAME))
            .concurrency(4)
            .drain_delay(Duration::from_millis(200))
            .connect(&urls, move |job: ActiveJob| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().insert(job.job().id.to_string());
                    Ok::<_, JobError>(json!(null))
                }
            })
            .await
            .unwrap()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run_until(async move {
        let _ = stopped.await;
    }));

    for i in 0..20 {
        add_until_stored(&queue, i, 1).await;
    }
    let old_primary = set.primary_port().unwrap();
    set.server_mut(0).kill();
    let mut failures = 0;
    // The promoted replica has no replica of its own until the old primary returns.
    for i in 20..40 {
        failures += add_until_stored(&queue, i, 0).await;
    }
    let new_primary = set.primary_port().unwrap();
    assert_ne!(
        old_primary, new_primary,
        "the sentinels promoted the replica"
    );
    println!("adds refused while the sentinels failed over: {failures}");

    let expected: BTreeSet<String> = (0..40).map(|i| format!("job-{i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while *seen.lock().unwrap() != expected {
        assert!(
            Instant::now() < deadline,
            "the worker did not process every job, before and after the failover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_add_counts_replicas_and_an_unknown_master_is_a_connect_error() {
    let mut set = SentinelSet::start(&[]);
    let queue = Queue::builder("jobs")
        .connection(ConnectionOptions::default().sentinel(MASTER_NAME))
        .connect(&set.sentinel_urls())
        .await
        .unwrap();
    let (ids, acked) = queue
        .add_bulk_replicated(&[numbered(1), numbered(2)], 1, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!((ids.len(), acked), (2, 1));
    let replica_has: bool = redis::cmd("EXISTS")
        .arg("bull:jobs:job-2")
        .query(&mut set.server(1).connection(0))
        .unwrap();
    assert!(replica_has, "acknowledged means on the replica");

    let unknown = Queue::builder("jobs")
        .connection(ConnectionOptions::default().sentinel("no-such-master"))
        .connect(&set.sentinel_urls())
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("master no-such-master"),
        "the error names the master: {unknown}"
    );

    set.server_mut(1).kill();
    let (_, acked) = queue
        .add_bulk_replicated(&[numbered(3)], 1, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(acked, 0, "no replica left to acknowledge");
}
