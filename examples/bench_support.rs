//! What the listener benchmarks share: building the release listener, a free loopback
//! port, an event's signature (the event is `examples::bench_data::event`). Included with
//! `#[path]` by each benchmark (examples cannot share a dev-dependency module otherwise).

use std::path::PathBuf;
use std::process::Command;

use examples::fail;
use sha1::{Digest, Sha1};

/// The signing key both listeners are given.
pub(crate) const SECRET: &str = "3f6c1d2e-8a4b-4c7d-9e10-5b2a7f9c0d11";

/// Builds `sellsy-listener` in release mode and returns its path.
pub(crate) fn build_listener() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "listener",
            "--bin",
            "sellsy-listener",
        ])
        .status()
        .unwrap_or_else(|err| fail(&format!("cargo build: {err}")));
    if !status.success() {
        fail("cannot build the listener");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target_dir.join("release/sellsy-listener")
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| fail(&err.to_string()))
}

/// Sellsy's signature of `body` with [`SECRET`].
pub(crate) fn sign(body: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(SECRET.as_bytes());
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
