//! Run with: cargo run --release --example bench_cluster -- [--duration-secs N]
//!           [--in-flight N] [--batch-size N]
//!
//! Scale-out benchmark: adds per second on one redis-server against a local 3-primary
//! Redis Cluster, in one run (every server started here on free loopback ports), and what
//! the durability settings cost on one server (AOF with `appendfsync always`; every add
//! waiting for one replica with `WAIT`). Three queues with hash-tagged prefixes that land
//! on three different primaries; every setup gets the same total load, single adds
//! (`--in-flight` per queue, times three queues) and bulk adds (batches of `--batch-size`,
//! two in flight per queue, times three), split over the setup's queues. Prints adds/s,
//! the ratio to one plain server, and how busy each redis-server was.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bullmq_rs::{ConnectionOptions, JobOptions, NewJob, Queue, Topology};
use examples::{Args, fail};
use serde_json::json;
use testkit::{RedisCluster, RedisServer};

/// How the queues are loaded.
#[derive(Clone, Copy)]
enum Load {
    /// One job per add, this many adds in flight per queue.
    Single(usize),
    /// Batches of this many jobs, two batches in flight per queue.
    Bulk(usize),
}

/// One setup under test: where the queues are and which servers to watch.
struct Setup<'a> {
    label: &'static str,
    url: String,
    topology: Topology,
    prefixes: Vec<String>,
    servers: Vec<&'a RedisServer>,
    /// Replicas each add waits for (`Queue::add_bulk_replicated`); 0 does not wait.
    wait_replicas: u32,
}

/// One measurement.
struct Measured {
    adds_per_s: f64,
    busy_pct: Vec<f64>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse(
        std::env::args().skip(1),
        &["duration-secs", "in-flight", "batch-size"],
    )
    .unwrap_or_else(|err| fail(&err.to_string()));
    let number = |flag: &str, default: u64| args.number_or(flag, default);
    let duration = Duration::from_secs(number("duration-secs", 5));
    let in_flight = number("in-flight", 32) as usize;
    let batch_size = number("batch-size", 100) as usize;

    let single = RedisServer::start();
    let with_aof = RedisServer::with_aof();
    let primary = RedisServer::start();
    let replica =
        RedisServer::start_with(&["--replicaof", "127.0.0.1", &primary.port().to_string()]);
    testkit::eventually(Duration::from_secs(20), "the replica to sync", || {
        redis::cmd("INFO")
            .arg("replication")
            .query::<String>(&mut replica.connection(0))
            .is_ok_and(|info| info.contains("master_link_status:up"))
    });
    let cluster = RedisCluster::start(3);
    let tags = tags_on_distinct_primaries(&cluster);
    let setups = [
        Setup {
            label: "one redis-server, 3 queues",
            url: single.url(),
            topology: Topology::Single,
            prefixes: tags.clone(),
            servers: vec![&single],
            wait_replicas: 0,
        },
        Setup {
            label: "one redis-server, appendfsync always",
            url: with_aof.url(),
            topology: Topology::Single,
            prefixes: tags.clone(),
            servers: vec![&with_aof],
            wait_replicas: 0,
        },
        Setup {
            label: "one redis-server, WAIT 1 replica",
            url: primary.url(),
            topology: Topology::Single,
            prefixes: tags.clone(),
            servers: vec![&primary, &replica],
            wait_replicas: 1,
        },
        Setup {
            label: "cluster, 1 queue (same load)",
            url: cluster.url(),
            topology: Topology::Cluster,
            prefixes: tags[..1].to_vec(),
            servers: cluster.nodes().iter().collect(),
            wait_replicas: 0,
        },
        Setup {
            label: "cluster, 3 queues (1 per primary)",
            url: cluster.url(),
            topology: Topology::Cluster,
            prefixes: tags.clone(),
            servers: cluster.nodes().iter().collect(),
            wait_replicas: 0,
        },
    ];

    println!(
        "scale-out benchmark: {} s per row, {in_flight} adds in flight per queue, or batches of {batch_size} (2 in flight per queue); {} cores",
        duration.as_secs(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    for load in [Load::Single(in_flight), Load::Bulk(batch_size)] {
        let title = match load {
            Load::Single(n) => format!("single adds, {n} in flight per queue"),
            Load::Bulk(n) => format!("bulk adds, {n} per batch"),
        };
        println!("\n{title}");
        println!(
            "{:<36} {:>12} {:>10}   redis-server CPU busy",
            "setup", "adds/s", "vs one"
        );
        let mut baseline = None;
        for setup in &setups {
            let measured = run(setup, load, duration).await;
            let base = *baseline.get_or_insert(measured.adds_per_s);
            let busy: Vec<String> = measured
                .busy_pct
                .iter()
                .map(|pct| format!("{pct:.0}%"))
                .collect();
            println!(
                "{:<36} {:>12.0} {:>9.2}x   {}",
                setup.label,
                measured.adds_per_s,
                measured.adds_per_s / base,
                busy.join(" ")
            );
        }
    }
}

/// Three hash tags whose slots belong to three different primaries.
fn tags_on_distinct_primaries(cluster: &RedisCluster) -> Vec<String> {
    let mut owners = Vec::new();
    let mut tags = Vec::new();
    for n in 0.. {
        let tag = format!("{{bench{n}}}");
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&tag)
            .query(&mut cluster.nodes()[0].connection(0))
            .unwrap_or_else(|err| fail(&err.to_string()));
        let owner = cluster.primary_of(slot).port();
        if !owners.contains(&owner) {
            owners.push(owner);
            tags.push(tag);
        }
        if tags.len() == 3 {
            break;
        }
    }
    tags
}

async fn run(setup: &Setup<'_>, load: Load, duration: Duration) -> Measured {
    let mut queues = Vec::new();
    for prefix in &setup.prefixes {
        let queue = Queue::builder("bench")
            .prefix(prefix)
            .connection(ConnectionOptions::default().topology(setup.topology.clone()))
            .connect(&setup.url)
            .await
            .unwrap_or_else(|err| fail(&err.to_string()));
        queues.push(queue);
    }
    // Warm up: scripts loaded, connections made.
    for queue in &queues {
        queue
            .add("warm-up", &json!({}), JobOptions::default())
            .await
            .unwrap_or_else(|err| fail(&err.to_string()));
    }
    let added = Arc::new(AtomicU64::new(0));
    let cpu_before: Vec<_> = setup.servers.iter().map(|s| s.cpu_time()).collect();
    let started = Instant::now();
    let until = started + duration;
    let mut tasks = Vec::new();
    // Every setup gets the same load in total: three queues' worth, split over its queues.
    let share = |per_queue: usize| per_queue * 3 / queues.len();
    for queue in &queues {
        let (senders, batch) = match load {
            Load::Single(in_flight) => (share(in_flight), 1),
            Load::Bulk(size) => (share(2), size),
        };
        let wait_replicas = setup.wait_replicas;
        for _ in 0..senders {
            let (queue, added) = (queue.clone(), added.clone());
            tasks.push(tokio::spawn(async move {
                let payload = "x".repeat(100);
                let jobs: Vec<NewJob> = (0..batch)
                    .map(|i| {
                        NewJob::new(
                            "bench",
                            &json!({"i": i, "payload": payload}),
                            JobOptions::default(),
                        )
                        .unwrap_or_else(|err| fail(&err.to_string()))
                    })
                    .collect();
                while Instant::now() < until {
                    if wait_replicas == 0 {
                        queue.add_bulk(&jobs).await.map(drop)
                    } else {
                        let wait = Duration::from_secs(1);
                        match queue.add_bulk_replicated(&jobs, wait_replicas, wait).await {
                            Ok((_, acked)) if acked < wait_replicas => {
                                fail("the replica did not acknowledge within 1 s")
                            }
                            other => other.map(drop),
                        }
                    }
                    .unwrap_or_else(|err| fail(&err.to_string()));
                    added.fetch_add(jobs.len() as u64, Ordering::Relaxed);
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap_or_else(|err| fail(&err.to_string()));
    }
    let elapsed = started.elapsed();
    let busy_pct = setup
        .servers
        .iter()
        .zip(cpu_before)
        .map(|(server, before)| match (before, server.cpu_time()) {
            (Some(before), Some(after)) => {
                (after - before).as_secs_f64() / elapsed.as_secs_f64() * 100.0
            }
            _ => f64::NAN,
        })
        .collect();
    Measured {
        adds_per_s: added.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        busy_pct,
    }
}
