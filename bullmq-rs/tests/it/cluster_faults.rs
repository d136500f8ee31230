//! Redis Cluster under change: a primary restarted, or the queue's slot moved to another
//! primary, while jobs are being added; every job ends up in the queue exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bullmq_rs::{ConnectionOptions, Queue};
use testkit::{RedisCluster, RedisServer};

use crate::jobs::numbered;

const JOBS: u32 = 600;

fn slot_of(cluster: &RedisCluster, key: &str) -> u16 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(&mut cluster.nodes()[0].connection(0))
        .unwrap()
}

/// Adds `JOBS` jobs one by one, each retried until Redis takes it (the custom id makes a
/// retry safe); `progress` counts the jobs stored so far. Returns the refused attempts.
async fn add_all(queue: Queue, progress: Arc<AtomicU32>) -> u32 {
    let mut refused = 0;
    for i in 0..JOBS {
        while queue.add_bulk(&[numbered(i)]).await.is_err() {
            refused += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        progress.store(i + 1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    refused
}

async fn wait_for_progress(progress: &AtomicU32, at_least: u32) {
    while progress.load(Ordering::Relaxed) < at_least {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The queue's wait list must hold every job once.
async fn assert_every_job_once(queue: &Queue, wait_key: &str, node: &RedisServer) {
    let ids: Vec<String> = redis::cmd("LRANGE")
        .arg(wait_key)
        .arg(0)
        .arg(-1)
        .query(&mut node.connection(0))
        .unwrap();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    let expected: BTreeSet<String> = (0..JOBS).map(|i| format!("job-{i}")).collect();
    assert_eq!(ids.len(), distinct.len(), "no job twice");
    assert_eq!(
        distinct.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(
        queue.get_job_counts().await.unwrap().waiting,
        u64::from(JOBS)
    );
}

/// What happened around a fault: the queue, the fault's result, and how far the adds were
/// when it started and when it ended.
struct DuringAdds<R> {
    queue: Queue,
    fault: R,
    before: u32,
    after: u32,
    refused: u32,
}

/// Adds `JOBS` jobs to the queue of `prefix` on `cluster` and runs `fault` (blocking, on
/// the cluster) once a quarter of them are stored; returns when every job is stored.
async fn fault_during_adds<R: Send + 'static>(
    cluster: RedisCluster,
    prefix: &str,
    fault: impl FnOnce(RedisCluster) -> R + Send + 'static,
) -> DuringAdds<R> {
    let queue = Queue::builder("jobs")
        .prefix(prefix)
        .connection(ConnectionOptions::default().cluster())
        .connect(&cluster.url())
        .await
        .unwrap();
    let progress = Arc::new(AtomicU32::new(0));
    let adding = tokio::spawn(add_all(queue.clone(), progress.clone()));
    wait_for_progress(&progress, JOBS / 4).await;
    let before = progress.load(Ordering::Relaxed);
    let fault = tokio::task::spawn_blocking(move || fault(cluster))
        .await
        .unwrap();
    let after = progress.load(Ordering::Relaxed);
    let refused = adding.await.unwrap();
    assert!(after < JOBS, "the fault ended before the adds did");
    DuringAdds {
        queue,
        fault,
        before,
        after,
        refused,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_restarted_during_adds_loses_nothing() {
    let cluster =
        RedisCluster::start_with(3, 0, &["--appendonly", "yes", "--appendfsync", "always"]);
    let owner_port = cluster.primary_of(slot_of(&cluster, "{restart}")).port();
    let owner = cluster
        .nodes()
        .iter()
        .position(|node| node.port() == owner_port)
        .unwrap();

    let run = fault_during_adds(cluster, "{restart}", move |mut cluster| {
        cluster.node_mut(owner).kill();
        std::thread::sleep(Duration::from_secs(1));
        cluster.node_mut(owner).restart();
        cluster
    })
    .await;

    println!(
        "primary restarted between job {} and job {}; adds refused to the caller: {}",
        run.before, run.after, run.refused
    );
    let cluster = run.fault;
    assert_every_job_once(&run.queue, "{restart}:jobs:wait", &cluster.nodes()[owner]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_the_queue_slot_to_another_primary_during_adds_loses_nothing() {
    let cluster = RedisCluster::start(3);
    let slot = slot_of(&cluster, "{reshard}");

    let run = fault_during_adds(cluster, "{reshard}", move |cluster| {
        let target = migrate_slot(&cluster, slot);
        (cluster, target)
    })
    .await;

    let (cluster, target) = run.fault;
    assert_eq!(cluster.primary_of(slot).port(), target, "the slot moved");
    println!(
        "slot moved between job {} and job {}; adds refused to the caller: {}",
        run.before, run.after, run.refused
    );
    // The move started once a quarter of the jobs were stored and ended before the last
    // (checked by `fault_during_adds`); whether adds also went on between its batches
    // depends on how busy the machine is (a multi-key script meets TRYAGAIN mid-move), so
    // it is printed above rather than asserted.
    assert_every_job_once(&run.queue, "{reshard}:jobs:wait", cluster.primary_of(slot)).await;
}

/// Moves `slot` to another primary as `redis-cli --cluster reshard` does: mark it
/// importing and migrating, MIGRATE its keys in small batches, then give it to the target
/// on every node. Returns the target's port.
fn migrate_slot(cluster: &RedisCluster, slot: u16) -> u16 {
    let source = cluster.primary_of(slot);
    let target = cluster
        .nodes()
        .iter()
        .find(|node| node.port() != source.port())
        .unwrap();
    let (source_id, target_id) = (RedisCluster::node_id(source), RedisCluster::node_id(target));
    let mut src = source.connection(0);
    let mut dst = target.connection(0);
    let setslot = |conn: &mut redis::Connection, state: &str, node: &str| {
        let () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg(state)
            .arg(node)
            .query(conn)
            .unwrap();
    };
    setslot(&mut dst, "IMPORTING", &source_id);
    setslot(&mut src, "MIGRATING", &target_id);
    loop {
        let keys: Vec<String> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(5)
            .query(&mut src)
            .unwrap();
        if keys.is_empty() {
            break;
        }
        let () = redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(target.port())
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(&keys)
            .query(&mut src)
            .unwrap();
        // Slow enough that adds keep running between batches.
        std::thread::sleep(Duration::from_millis(20));
    }
    setslot(&mut dst, "NODE", &target_id);
    setslot(&mut src, "NODE", &target_id);
    for node in cluster.nodes() {
        setslot(&mut node.connection(0), "NODE", &target_id);
    }
    target.port()
}
