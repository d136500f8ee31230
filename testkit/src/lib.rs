//! Test support shared by the workspace's integration tests: private `redis-server`
//! instances, the Node runner for `node-worker-compat/`, key-space dumps, `eventually`.

mod cluster;
mod dump;
pub mod node;
mod redis_server;
mod sentinel;

use std::time::{Duration, Instant};

pub use cluster::RedisCluster;
pub use dump::{dump_keyspace, mask_timestamps};
pub use redis_server::{RedisServer, process_cpu_time};
pub use sentinel::{MASTER_NAME, SentinelSet};

/// The path of an example binary of the package whose test calls this: cargo builds
/// examples next to the test binaries' `deps` directory.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let test_binary = std::env::current_exe().expect("a test knows its own path");
    let deps = test_binary
        .parent()
        .expect("test binaries live in target/<profile>/deps");
    deps.parent()
        .expect("deps has a parent")
        .join("examples")
        .join(name)
}

/// Polls `condition` every 10 ms until it holds, and panics with `what` after `timeout`.
pub fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
