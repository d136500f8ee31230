//! A local Redis Cluster: `n` primaries on free loopback ports, each a private
//! `redis-server` in cluster mode, joined with `redis-cli --cluster create`.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{RedisServer, eventually};

/// A Redis Cluster, stopped on drop.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `primaries` nodes (at least 3, as Redis requires) and waits until the
    /// cluster is ok on every node.
    pub fn start(primaries: usize) -> Self {
        Self::start_with(primaries, 0, &[])
    }

    /// Starts `primaries` primaries with `replicas` replicas each, every node with
    /// `extra` `redis-server` arguments (e.g. AOF), and waits until the cluster is ok on
    /// every node and every replica is in sync.
    pub fn start_with(primaries: usize, replicas: usize, extra: &[&str]) -> Self {
        let mut args = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ];
        args.extend(extra);
        let nodes: Vec<RedisServer> = (0..primaries.max(3) * (1 + replicas))
            .map(|_| RedisServer::start_with(&args))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
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
                    let ok = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query::<String>(&mut node.connection(0))
                        .is_ok_and(|info| info.contains("cluster_state:ok"));
                    let replication: String = redis::cmd("INFO")
                        .arg("replication")
                        .query(&mut node.connection(0))
                        .unwrap_or_default();
                    ok && (replication.contains("role:master")
                        || replication.contains("master_link_status:up"))
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

    /// Mutable access to one node, to kill or restart it.
    pub fn node_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// The node that serves `slot` as primary now.
    pub fn primary_of(&self, slot: u16) -> &RedisServer {
        let port = self.slot_owner_port(slot);
        self.nodes
            .iter()
            .find(|node| node.port() == port)
            .expect("the slot's owner is one of the cluster's nodes")
    }

    /// The cluster ID of a node (`CLUSTER MYID`).
    pub fn node_id(node: &RedisServer) -> String {
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut node.connection(0))
            .expect("a cluster node answers CLUSTER MYID")
    }

    fn slot_owner_port(&self, slot: u16) -> u16 {
        let ranges: Vec<redis::Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut self.nodes[0].connection(0))
            .expect("a cluster node answers CLUSTER SLOTS");
        ranges
            .iter()
            .find_map(|range| {
                let redis::Value::Array(fields) = range else {
                    return None;
                };
                let number = |value: &redis::Value| match value {
                    redis::Value::Int(n) => Some(*n),
                    _ => None,
                };
                let (start, end) = (number(fields.first()?)?, number(fields.get(1)?)?);
                if !(start..=end).contains(&i64::from(slot)) {
                    return None;
                }
                let redis::Value::Array(primary) = fields.get(2)? else {
                    return None;
                };
                u16::try_from(number(primary.get(1)?)?).ok()
            })
            .expect("every slot is served")
    }
}
