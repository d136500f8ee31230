//! What the listener benchmarks share: building the release listener, a free loopback
//! port, the ~600-byte Sellsy event and its signature. Included with `#[path]` by each
//! benchmark (examples cannot share a dev-dependency module otherwise).

use std::path::PathBuf;
use std::process::Command;

use examples::fail;
use serde_json::json;
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

/// A ~600-byte Sellsy estimate event in JSON mode with `relatedobject`, unique per `n`.
pub(crate) fn event(n: u64) -> Vec<u8> {
    json!({
        "eventType": "docslog", "timestamp": "1732400123", "event": "step",
        "relatedid": (48_213_377 + n).to_string(), "relatedtype": "estimate",
        "ownerid": "204551", "ownertype": "staff", "corpid": "90812",
        "relatedobject": {
            "id": 48_213_377 + n, "number": "DEV-2024-01137", "status": "accepted", "date": "2024-11-23",
            "currency": "EUR", "subject": "Refonte site e-commerce", "related": [{"id": 7_311_820, "type": "company"}],
            "amounts": {"total_raw_excl_tax": "12500.00", "total_excl_tax": "12500.00", "total_incl_tax": "15000.00"},
            "assigned_staff_id": 204_551, "issuer_address_id": 1_002_334, "decimal_number": {"unit_price": 2, "quantity": 2}
        }
    })
    .to_string()
    .into_bytes()
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
