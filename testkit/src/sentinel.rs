//! A Sentinel-managed replica set on loopback: a primary, a replica and three sentinels
//! (quorum 2) that fail over one second after the primary stops answering.

use std::time::Duration;

use crate::{RedisServer, eventually};

/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "testkit-primary";

/// A primary, its replica and three sentinels; everything is stopped on drop.
pub struct SentinelSet {
    servers: [RedisServer; 2],
    sentinels: Vec<RedisServer>,
}

impl SentinelSet {
    /// Starts the set with `server_args` for the primary and the replica (e.g. AOF), and
    /// waits until the replica is in sync and every sentinel knows the replica and the
    /// other sentinels, so that a failover can happen.
    pub fn start(server_args: &[&str]) -> Self {
        let primary = RedisServer::start_with(server_args);
        let port = primary.port().to_string();
        let mut replica_args = server_args.to_vec();
        replica_args.extend(["--replicaof", "127.0.0.1", &port]);
        let replica = RedisServer::start_with(&replica_args);
        let config = format!(
            "sentinel monitor {MASTER_NAME} 127.0.0.1 {port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
             sentinel failover-timeout {MASTER_NAME} 5000\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n"
        );
        let sentinels = (0..3)
            .map(|_| RedisServer::start_sentinel(&config))
            .collect();
        let set = Self {
            servers: [primary, replica],
            sentinels,
        };
        eventually(Duration::from_secs(20), "the replica to sync", || {
            info(&set.servers[1], "replication").contains("master_link_status:up")
        });
        eventually(
            Duration::from_secs(30),
            "every sentinel to see the replica and the two other sentinels",
            || {
                set.sentinels.iter().all(|sentinel| {
                    let master: Vec<String> = redis::cmd("SENTINEL")
                        .arg("MASTER")
                        .arg(MASTER_NAME)
                        .query(&mut sentinel.connection(0))
                        .unwrap_or_default();
                    let field = |name: &str| {
                        master
                            .iter()
                            .position(|key| key == name)
                            .and_then(|at| master.get(at + 1))
                            .and_then(|value| value.parse::<u32>().ok())
                            .unwrap_or(0)
                    };
                    field("num-slaves") >= 1 && field("num-other-sentinels") >= 2
                })
            },
        );
        set
    }

    /// The sentinels' URLs, comma-separated (what `--sentinel` clients take).
    pub fn sentinel_urls(&self) -> String {
        self.sentinels
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The server that was started as primary (index 0) or replica (index 1).
    pub fn server(&self, index: usize) -> &RedisServer {
        &self.servers[index]
    }

    /// Mutable access to a server, to kill or restart it.
    pub fn server_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.servers[index]
    }

    /// The port of the primary the sentinels currently name.
    pub fn primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|sentinel| {
            let address: Vec<String> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(MASTER_NAME)
                .query(&mut sentinel.connection(0))
                .ok()?;
            address.get(1)?.parse().ok()
        })
    }

    /// The server the sentinels currently name as primary.
    pub fn primary(&self) -> Option<&RedisServer> {
        let port = self.primary_port()?;
        self.servers.iter().find(|server| server.port() == port)
    }
}

fn info(server: &RedisServer, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query(&mut server.connection(0))
        .unwrap_or_default()
}
