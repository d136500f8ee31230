//! Sentinel failover under webhook load: with `--min-replicas-acks 1` every event
//! answered 200 is on the promoted replica exactly once; with 0 acks the test reports how
//! many acknowledged events the failover lost (the trade-off the README documents).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use testkit::{MASTER_NAME, SentinelSet, eventually};

use crate::durability::{Outcome, load};
use crate::support::{InProcess, SECRET, TempDir, request};

/// What one failover run ended with.
struct Failover {
    outcome: Outcome,
    /// Acknowledged events missing from the new primary once the spool is empty.
    lost: usize,
    /// Job ids in the wait list, and how many of them are distinct.
    waiting: usize,
    distinct: usize,
}

async fn spool_depth(addr: SocketAddr) -> Option<u64> {
    let metrics = request(addr, "GET", "/metrics", &[], b"").await.ok()?;
    String::from_utf8_lossy(&metrics.body)
        .lines()
        .find_map(|line| line.strip_prefix("sellsy_listener_spool_depth "))
        .and_then(|value| value.trim().parse().ok())
}

/// Webhook load on a listener that reaches Redis through the sentinels; the primary is
/// SIGKILLed under load, the sentinels promote the replica, the old primary comes back
/// (as a replica of the new one), then the spool drains.
async fn failover_under_load(min_replicas_acks: u32) -> Failover {
    let mut set = SentinelSet::start(&[]);
    let spool = TempDir::new("failover");
    let acks = min_replicas_acks.to_string();
    let listener = InProcess::start(&[
        "--redis-url",
        &set.sentinel_urls(),
        "--redis-sentinel-master",
        MASTER_NAME,
        "--min-replicas-acks",
        &acks,
        "--secret",
        SECRET,
        "--spool-dir",
        spool.0.to_str().unwrap(),
        "--redis-deadline-ms",
        "200",
    ])
    .await;

    let numbers = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(6);
    let first = tokio::spawn(load(listener.addr, 8, until, numbers.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let old_primary = set.server(0).port();
    set.server_mut(0).kill();
    let killed = Instant::now();
    let promoted = tokio::task::spawn_blocking(move || {
        eventually(
            Duration::from_secs(30),
            "the sentinels to promote the replica",
            || set.primary_port().is_some_and(|port| port != old_primary),
        );
        println!(
            "the sentinels promoted the replica {:.1} s after the kill",
            killed.elapsed().as_secs_f64()
        );
        // Back as a replica of the new primary, so that acknowledgements are possible again.
        set.server_mut(0).restart();
        set
    });
    let mut outcome = first.await.unwrap();
    let set = promoted.await.unwrap();
    // Load after the failover too, however long the promotion took.
    let after = load(
        listener.addr,
        8,
        Instant::now() + Duration::from_secs(2),
        numbers,
    )
    .await;
    outcome.acked.extend(after.acked);
    outcome.refused += after.refused;
    outcome.unanswered += after.unanswered;

    let deadline = Instant::now() + Duration::from_secs(60);
    while spool_depth(listener.addr).await != Some(0) {
        assert!(Instant::now() < deadline, "the spool did not drain");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let primary = set.primary().expect("a primary");
    let mut conn = primary.connection(0);
    let lost = outcome
        .acked
        .values()
        .filter(|id| {
            !redis::cmd("EXISTS")
                .arg(format!("bull:sellsy-webhooks:{id}"))
                .query::<bool>(&mut conn)
                .unwrap()
        })
        .count();
    let ids: Vec<String> = redis::cmd("LRANGE")
        .arg("bull:sellsy-webhooks:wait")
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    let distinct = ids.iter().collect::<BTreeSet<_>>().len();
    println!(
        "min-replicas-acks {min_replicas_acks}: acknowledged {} (503: {}, unanswered: {}), \
         lost in the failover: {lost}, jobs: {} ({distinct} distinct)",
        outcome.acked.len(),
        outcome.refused,
        outcome.unanswered,
        ids.len()
    );
    listener.stop().await;
    Failover {
        outcome,
        lost,
        waiting: ids.len(),
        distinct,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_replica_ack_a_failover_loses_no_acknowledged_event() {
    let run = failover_under_load(1).await;
    assert!(!run.outcome.acked.is_empty());
    assert_eq!(run.lost, 0, "every 200 is on the promoted replica");
    assert_eq!(run.waiting, run.distinct, "no event twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replica_acks_a_failover_may_lose_acknowledged_events() {
    let run = failover_under_load(0).await;
    assert!(!run.outcome.acked.is_empty());
    assert_eq!(run.waiting, run.distinct, "no event twice");
    // Not asserted: how many acknowledged events were only on the killed primary; the
    // line printed above documents the trade-off.
}
