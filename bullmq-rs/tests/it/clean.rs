//! `Queue::clean` against Node BullMQ's `Queue.clean`: the same jobs, staged the same way,
//! cleaned on one db by Node and on another by this crate, must leave the same key space
//! (events included) and return the same ids in the same order, for both majors.

use bullmq_rs::BullmqMajor;
use serde_json::{Value, json};

use crate::differential::compare;
use crate::steps::{add, clean, raw};

/// Creation time of the "old" jobs: long before any grace period used here.
const OLD: u64 = 1_700_000_000_000;
const OLD_STR: &str = "1700000000000";
const GRACE_MS: u64 = 60_000;

fn old(extra: Value) -> Value {
    let mut opts = json!({ "timestamp": OLD });
    opts.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    opts
}

fn now_ms() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string()
}

/// Old and fresh waiting jobs, one old by timestamp but processed just now, one with a
/// deduplication slot, logs and dependencies, and a child whose same-queue parent waits
/// only for it; first a limited clean, then an unlimited one.
fn waiting() -> Vec<Value> {
    vec![
        add(
            "old-dedup",
            json!({}),
            old(json!({"deduplication": {"id": "d1"}})),
        ),
        add("fresh", json!({}), json!({})),
        add("old-but-processed-now", json!({}), old(json!({}))),
        add("old-with-keys", json!({}), old(json!({"jobId": "keys"}))),
        raw(&["HSET", "{base}3", "processedOn", &now_ms()]),
        raw(&["RPUSH", "{base}keys:logs", "a log line"]),
        raw(&["SADD", "{base}keys:dependencies", "bull:q:gone"]),
        add("parent", json!({}), old(json!({"jobId": "parent"}))),
        raw(&["LREM", "{base}wait", "0", "parent"]),
        raw(&["ZADD", "{base}waiting-children", OLD_STR, "parent"]),
        add("child", json!({}), json!({"jobId": "child"})),
        raw(&[
            "HSET",
            "{base}child",
            "parentKey",
            "bull:q:parent",
            "timestamp",
            OLD_STR,
        ]),
        raw(&["SADD", "{base}parent:dependencies", "bull:q:child"]),
        add("old-last", json!({}), old(json!({}))),
        clean(GRACE_MS, 1, "waiting"),
        clean(GRACE_MS, 0, "waiting"),
    ]
}

/// BullMQ 5 parks a paused queue's jobs in `paused`; BullMQ 6 leaves them in `wait`.
fn waiting_of_a_paused_queue() -> Vec<Value> {
    vec![
        add("old-before", json!({}), old(json!({}))),
        json!({"op": "pause"}),
        add("old-paused", json!({}), old(json!({}))),
        add("fresh-paused", json!({}), json!({})),
        add("old-paused-2", json!({}), old(json!({}))),
        clean(GRACE_MS, 2, "waiting"),
        clean(GRACE_MS, 0, "waiting"),
    ]
}

fn delayed_and_prioritized() -> Vec<Value> {
    vec![
        add("old-delayed", json!({}), old(json!({"delay": 5000}))),
        add("fresh-delayed", json!({}), json!({"delay": 5000})),
        add("old-delayed-2", json!({}), old(json!({"delay": 9000}))),
        add("old-prioritized", json!({}), old(json!({"priority": 3}))),
        add("fresh-prioritized", json!({}), json!({"priority": 1})),
        add("old-prioritized-2", json!({}), old(json!({"priority": 1}))),
        clean(GRACE_MS, 1, "delayed"),
        clean(GRACE_MS, 0, "delayed"),
        clean(GRACE_MS, 0, "prioritized"),
    ]
}

/// Finished jobs are judged by their zset score (finishedOn); an active job holding its
/// lock stays, a lock-less old one goes; an old parent waiting for children goes.
fn finished_active_and_waiting_children() -> Vec<Value> {
    let now = now_ms();
    let mut steps = Vec::new();
    for (id, set, finished) in [
        ("done-old", "completed", OLD_STR),
        ("done-new", "completed", now.as_str()),
        ("done-old-2", "completed", OLD_STR),
        ("failed-old", "failed", OLD_STR),
        ("failed-old-2", "failed", OLD_STR),
    ] {
        steps.extend([
            add(
                id,
                json!({}),
                old(json!({"jobId": id, "deduplication": {"id": id}})),
            ),
            raw(&["LREM", "{base}wait", "0", id]),
            raw(&["ZADD", &format!("{{base}}{set}"), finished, id]),
            raw(&["HSET", &format!("{{base}}{id}"), "finishedOn", finished]),
        ]);
    }
    for id in ["active-locked", "active-free"] {
        steps.extend([
            add(id, json!({}), old(json!({"jobId": id}))),
            raw(&["LREM", "{base}wait", "0", id]),
            raw(&["LPUSH", "{base}active", id]),
        ]);
    }
    steps.extend([
        raw(&["SET", "{base}active-locked:lock", "token"]),
        add("waiting-parent", json!({}), old(json!({"jobId": "wp"}))),
        raw(&["LREM", "{base}wait", "0", "wp"]),
        raw(&["ZADD", "{base}waiting-children", OLD_STR, "wp"]),
        clean(GRACE_MS, 0, "completed"),
        clean(GRACE_MS, 1, "failed"),
        clean(GRACE_MS, 0, "active"),
        clean(GRACE_MS, 0, "waiting-children"),
    ]);
    steps
}

/// The pending run of a job scheduler (`repeat:<id>:<next ms>`, the scheduler's score)
/// stays; a job naming a scheduler whose next run is another one goes.
fn scheduler_runs_stay() -> Vec<Value> {
    let run = format!("repeat:sched:{OLD_STR}");
    let stale = "repeat:sched:1600000000000";
    let mut steps = vec![raw(&["ZADD", "{base}repeat", OLD_STR, "sched"])];
    for (id, place) in [
        (run.as_str(), "wait"),
        (stale, "wait"),
        (run.as_str(), "delayed"),
    ] {
        steps.push(raw(&[
            "HSET",
            &format!("{{base}}{id}"),
            "name",
            "tick",
            "timestamp",
            OLD_STR,
            "rjk",
            "sched",
        ]));
        steps.push(if place == "wait" {
            raw(&["LPUSH", "{base}wait", id])
        } else {
            raw(&["ZADD", "{base}delayed", "1", id])
        });
    }
    steps.extend([
        add("plain-old", json!({}), old(json!({}))),
        clean(GRACE_MS, 0, "waiting"),
        clean(GRACE_MS, 0, "delayed"),
    ]);
    steps
}

macro_rules! clean_tests {
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

clean_tests!(
    waiting,
    waiting_of_a_paused_queue,
    delayed_and_prioritized,
    finished_active_and_waiting_children,
    scheduler_runs_stay,
);
