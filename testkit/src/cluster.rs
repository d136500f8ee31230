//! A local Redis Cluster: `n` primaries on free loopback ports, each a private
//! `redis-server` in cluster mode, joined with `redis-cli --cluster create`.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{RedisServer, eventually};

/// A Redis Cluster of primaries only, stopped on drop.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `primaries` nodes (at least 3, as Redis requires) and waits until the
    /// cluster is ok on every node.
    pub fn start(primaries: usize) -> Self {
        let nodes: Vec<RedisServer> = (0..primaries.max(3))
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli comes with redis-server");
        assert!(
            output.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = Self { nodes };
        eventually(
            Duration::from_secs(20),
            "the cluster to be ok on every node",
            || {
                cluster.nodes.iter().all(|node| {
                    redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query::<String>(&mut node.connection(0))
                        .is_ok_and(|info| info.contains("cluster_state:ok"))
                })
            },
        );
        cluster
    }

    /// `redis://` URL of one node (any node leads to the whole cluster).
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}
