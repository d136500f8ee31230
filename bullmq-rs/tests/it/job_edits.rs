//! Job edits, queue limits, drain and housekeeping against Node BullMQ (6 and 5): the same
//! jobs, staged the same way, then changed by Node and by this crate, must leave the same
//! key space, events included, and give the same outcome (see `job_steps.rs`).

use bullmq_rs::BullmqMajor;
use serde_json::{Value, json};

use crate::job_steps::{
    FINISHED_AT, child_of, compare, custom, finished, op, waiting_for_children,
};
use crate::steps::{add, raw};

/// New delays for delayed jobs (refused for a waiting job); new priorities for waiting,
/// prioritized (lifo: ahead of its equals) and delayed jobs, then on a paused queue.
fn change_delay_and_priority() -> Vec<Value> {
    let delay = |id: &str, ms: u64| op("changeDelay", json!({ "id": id, "delay": ms }));
    let priority = |id: &str, p: u32, lifo: bool| {
        op(
            "changePriority",
            json!({ "id": id, "priority": p, "lifo": lifo }),
        )
    };
    vec![
        custom("d1", json!({ "delay": 60000 })),
        custom("d2", json!({ "delay": 60000 })),
        custom("w", json!({})),
        custom("w2", json!({})),
        custom("w3", json!({})),
        custom("p", json!({ "priority": 5 })),
        custom("p2", json!({ "priority": 2 })),
        delay("d1", 5000),
        delay("d2", 0),
        delay("w", 5000),
        delay("nope", 5000),
        priority("w", 3, false),
        priority("p", 0, false),
        priority("p2", 4, true),
        priority("w2", 0, true),
        priority("d1", 9, false),
        priority("nope", 1, false),
        json!({ "op": "pause" }),
        priority("w3", 0, false),
    ]
}

/// Data, progress and log lines of a stored job (kept lines trimmed), logs cleared, the
/// same on an unknown job; the events stream trimmed; deduplication slots freed by id,
/// and by job (only while the slot points at the job).
fn job_fields_logs_events_and_dedup() -> Vec<Value> {
    let log = |id: &str, line: &str, keep: Option<u32>| {
        op("log", json!({ "id": id, "line": line, "keepLogs": keep }))
    };
    let clear = |id: &str, keep: u32| op("clearLogs", json!({ "id": id, "keep": keep }));
    let unlog = |dedup: &str| op("removeDeduplicationKey", json!({ "dedupId": dedup }));
    vec![
        custom("w", json!({})),
        custom("x", json!({})),
        custom("dd", json!({ "deduplication": { "id": "dd" } })),
        op(
            "updateData",
            json!({ "id": "w", "data": { "to": "ada", "n": [1, 2] } }),
        ),
        op("updateProgress", json!({ "id": "w", "progress": 42 })),
        op(
            "updateProgress",
            json!({ "id": "w", "progress": { "pct": 50, "step": "b" } }),
        ),
        log("w", "first", None),
        log("w", "second", Some(1)),
        log("w", "third", None),
        log("w", "fourth", None),
        clear("w", 2),
        log("x", "one", None),
        log("x", "two", None),
        clear("x", 0),
        op("updateData", json!({ "id": "nope", "data": {} })),
        op("updateProgress", json!({ "id": "nope", "progress": 1 })),
        log("nope", "line", None),
        op("trimEvents", json!({ "maxLen": 0 })),
        unlog("dd"),
        unlog("dd"),
        custom("own", json!({ "deduplication": { "id": "own" } })),
        custom("lost", json!({ "deduplication": { "id": "lost" } })),
        raw(&["SET", "{base}de:lost", "someone-else"]),
        op("removeJobDeduplicationKey", json!({ "id": "own" })),
        op("removeJobDeduplicationKey", json!({ "id": "own" })),
        op("removeJobDeduplicationKey", json!({ "id": "lost" })),
        op("removeJobDeduplicationKey", json!({ "id": "w" })),
        op("removeJobDeduplicationKey", json!({ "id": "nope" })),
    ]
}

/// Drained without and then with delayed jobs: waiting, paused (BullMQ 5), prioritized
/// and delayed jobs go with their keys and deduplication slots; active, finished and
/// waiting-children jobs stay, and so does a scheduler's pending run; a same-queue parent
/// left without children is deleted, one of another queue released.
fn drain_waiting_then_delayed() -> Vec<Value> {
    let run = format!("repeat:sched:{FINISHED_AT}");
    let mut steps = vec![
        custom("parent", json!({})),
        custom("w1", json!({ "deduplication": { "id": "dw" } })),
        custom("p1", json!({ "priority": 3 })),
        custom("d1", json!({ "delay": 60000 })),
        custom("a1", json!({})),
        custom("f1", json!({})),
        raw(&["LREM", "{base}wait", "0", "a1"]),
        raw(&["LPUSH", "{base}active", "a1"]),
        raw(&["RPUSH", "{base}w1:logs", "a line"]),
        raw(&["ZADD", "{base}repeat", FINISHED_AT, "sched"]),
        raw(&[
            "HSET",
            &format!("{{base}}{run}"),
            "name",
            "tick",
            "rjk",
            "sched",
        ]),
        raw(&["ZADD", "{base}delayed", "1", &run]),
        raw(&[
            "HSET",
            "bull:other:op",
            "name",
            "op",
            "timestamp",
            FINISHED_AT,
        ]),
        raw(&["ZADD", "bull:other:waiting-children", FINISHED_AT, "op"]),
    ];
    steps.extend(waiting_for_children("parent"));
    steps.extend(finished("f1", "failed", "1"));
    steps.extend([
        child_of("parent", "c1", json!({})),
        // Node refuses deduplication with a parent; a slot set by hand shows which one
        // a deleted parent frees.
        raw(&["HSET", "{base}c1", "deid", "dc"]),
        raw(&["SET", "{base}de:dc", "someone-else"]),
        add(
            "c2",
            json!({}),
            json!({ "jobId": "c2", "parent": { "id": "op", "queue": "bull:other" } }),
        ),
        json!({ "op": "pause" }),
        custom("w2", json!({})),
        op("drain", json!({ "delayed": false })),
        op("drain", json!({ "delayed": true })),
    ]);
    steps
}

/// Global concurrency and rate limit set and removed; the queue rate-limited for a while.
fn global_limits() -> Vec<Value> {
    vec![
        op("setGlobalConcurrency", json!({ "concurrency": 3 })),
        op("setGlobalRateLimit", json!({ "max": 10, "duration": 1000 })),
        op("rateLimit", json!({ "expire": 60000 })),
        custom("after", json!({})),
        op("setGlobalConcurrency", json!({ "concurrency": 5 })),
        op("removeGlobalRateLimit", json!({})),
        op("setGlobalRateLimit", json!({ "max": 2, "duration": 500 })),
        op("removeGlobalConcurrency", json!({})),
    ]
}

macro_rules! job_edit_tests {
    ($($case:ident),* $(,)?) => {
        mod bullmq6 {
            use super::*;
            $(#[tokio::test] async fn $case() { compare(BullmqMajor::V6, super::$case()).await })*
        }
        mod bullmq5 {
            use super::*;
            $(#[tokio::test] async fn $case() { compare(BullmqMajor::V5, super::$case()).await })*
        }
    };
}

job_edit_tests!(
    change_delay_and_priority,
    job_fields_logs_events_and_dedup,
    drain_waiting_then_delayed,
    global_limits,
);
