//! The job data the benchmarks send, byte for byte what `node-worker-compat/lib/bench-data.js`
//! builds for the Node side: the ~600-byte Sellsy event and the 100-byte small job.

use serde_json::{Value, json};

/// A ~600-byte Sellsy estimate event in JSON mode with `relatedobject`, unique per `n`
/// (`relatedid` and `relatedobject.id` are `48213377 + n`).
pub fn event(n: u64) -> Vec<u8> {
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

/// The 100-byte job of the earlier producer benchmarks: `{"i": i, "payload": "xxx…"}`.
pub fn small(i: u64) -> Value {
    json!({"i": i, "payload": "x".repeat(100)})
}

/// The deduplication id the listener would give event `n`: 32 hex characters, like its
/// dedup key (the job id is `sellsy-` followed by it).
pub fn dedup_id(n: u64) -> String {
    format!("{n:032x}")
}
