//! Differential tests: the same adds through real BullMQ (db 1) and through this crate
//! (db 2) of one Redis must leave the same key space, key for key and field for field,
//! once clock readings and stream ids are masked; the returned ids must match too.
//! Option keys are given in `JobOptions` declaration order, the order this crate stores.

use std::collections::BTreeMap;

use bullmq_rs::BullmqMajor;
use serde_json::{Value, json};
use testkit::{RedisServer, dump_keyspace};

use crate::steps::{add, play_with_node, play_with_rust, raw};

pub(crate) async fn compare(major: BullmqMajor, steps: Vec<Value>) {
    let redis = RedisServer::start();
    let node_results = play_with_node(&redis, 1, major, &steps);
    let rust_results = play_with_rust(&redis, 2, major, &steps).await;
    assert_eq!(
        rust_results, node_results,
        "returned ids differ (left: Rust, right: Node BullMQ {major})"
    );

    let node = dump_keyspace(&mut redis.connection(1), "bull:*");
    let rust = dump_keyspace(&mut redis.connection(2), "bull:*");
    assert_same_keyspace(&rust, &node, major);
}

pub(crate) fn assert_same_keyspace(
    rust: &BTreeMap<String, String>,
    node: &BTreeMap<String, String>,
    major: BullmqMajor,
) {
    let mut report = String::new();
    for key in node.keys().filter(|key| !rust.contains_key(*key)) {
        report.push_str(&format!("\nonly Node wrote {key}:\n{}\n", node[key]));
    }
    for key in rust.keys().filter(|key| !node.contains_key(*key)) {
        report.push_str(&format!("\nonly Rust wrote {key}:\n{}\n", rust[key]));
    }
    for (key, node_dump) in node {
        if let Some(rust_dump) = rust.get(key)
            && rust_dump != node_dump
        {
            report.push_str(&format!(
                "\n{key} differs\n  Node:\n{node_dump}\n  Rust:\n{rust_dump}\n"
            ));
        }
    }
    assert!(
        report.is_empty(),
        "key spaces differ from Node BullMQ {major}:{report}"
    );
    assert!(!node.is_empty(), "the scenario wrote nothing");
}

pub(crate) fn standard() -> Vec<Value> {
    vec![
        add("std", json!({"a": 1, "b": "x"}), json!({})),
        add("std", json!({"a": 2}), json!({})),
    ]
}

pub(crate) fn lifo() -> Vec<Value> {
    vec![
        add("first", json!({}), json!({})),
        add("urgent", json!({}), json!({"lifo": true})),
        add("second", json!({}), json!({"lifo": false})),
    ]
}

pub(crate) fn delayed() -> Vec<Value> {
    vec![
        add("later", json!({"n": 1}), json!({"delay": 60000})),
        add("sooner", json!({"n": 2}), json!({"delay": 5000})),
    ]
}

fn same_due_time_keeps_insertion_order() -> Vec<Value> {
    let opts = json!({"delay": 1000, "timestamp": 1700000000000_u64});
    vec![
        add("a", json!({}), opts.clone()),
        add("b", json!({}), opts.clone()),
        add("c", json!({}), opts),
    ]
}

pub(crate) fn prioritized() -> Vec<Value> {
    vec![
        add("p5", json!({}), json!({"priority": 5})),
        add("p1", json!({}), json!({"priority": 1})),
        add("p5-again", json!({}), json!({"priority": 5})),
        add("plain", json!({}), json!({})),
    ]
}

pub(crate) fn priority_with_delay() -> Vec<Value> {
    vec![add(
        "both",
        json!({}),
        json!({"delay": 5000, "priority": 3}),
    )]
}

fn zero_delay_and_priority_are_a_standard_add() -> Vec<Value> {
    vec![add(
        "zeros",
        json!({}),
        json!({"delay": 0, "priority": 0, "lifo": false}),
    )]
}

fn custom_id() -> Vec<Value> {
    vec![
        add("order", json!({"order": 7}), json!({"jobId": "order-7"})),
        add("auto", json!({}), json!({})),
    ]
}

pub(crate) fn duplicate_custom_id_keeps_the_first_job() -> Vec<Value> {
    vec![
        add("order", json!({"v": 1}), json!({"jobId": "order-7"})),
        add(
            "order",
            json!({"v": 2}),
            json!({"jobId": "order-7", "delay": 1000}),
        ),
        add("after", json!({}), json!({})),
    ]
}

fn attempts_with_numeric_backoff() -> Vec<Value> {
    vec![add(
        "retry",
        json!({}),
        json!({"attempts": 3, "backoff": 1000}),
    )]
}

fn attempts_with_backoff_object() -> Vec<Value> {
    vec![add(
        "retry",
        json!({}),
        json!({"attempts": 5, "backoff": {"type": "exponential", "delay": 500, "jitter": 0.5}}),
    )]
}

fn remove_on_flags_and_counts() -> Vec<Value> {
    vec![
        add(
            "a",
            json!({}),
            json!({"removeOnComplete": true, "removeOnFail": 100}),
        ),
        add(
            "b",
            json!({}),
            json!({"removeOnComplete": false, "removeOnFail": false}),
        ),
    ]
}

fn remove_on_age_and_count() -> Vec<Value> {
    vec![add(
        "a",
        json!({}),
        json!({"removeOnComplete": {"age": 3600, "count": 10}, "removeOnFail": {"count": 5, "limit": 50}}),
    )]
}

fn keep_logs_stack_trace_and_size_limit() -> Vec<Value> {
    vec![add(
        "a",
        json!({"x": "y"}),
        json!({"keepLogs": 5, "stackTraceLimit": 3, "sizeLimit": 10000}),
    )]
}

fn parent_failure_flags() -> Vec<Value> {
    vec![
        add("a", json!({}), json!({"failParentOnFailure": true})),
        add("b", json!({}), json!({"ignoreDependencyOnFailure": true})),
    ]
}

pub(crate) fn every_option_at_once() -> Vec<Value> {
    vec![add(
        "all",
        json!({"k": "v"}),
        json!({
            "attempts": 4, "jobId": "all-1", "delay": 2000, "priority": 9, "lifo": true,
            "backoff": {"type": "fixed", "delay": 300}, "removeOnComplete": 50,
            "removeOnFail": {"age": 60}, "keepLogs": 2, "stackTraceLimit": 1, "sizeLimit": 1000,
            "deduplication": {"id": "all-dedup", "ttl": 30000}
        }),
    )]
}

fn dedup_simple() -> Vec<Value> {
    let opts = json!({"deduplication": {"id": "d1"}});
    vec![
        add("a", json!({"v": 1}), opts.clone()),
        add("a", json!({"v": 2}), opts),
        add("other", json!({}), json!({})),
    ]
}

pub(crate) fn dedup_with_ttl() -> Vec<Value> {
    let opts = json!({"deduplication": {"id": "d1", "ttl": 60000}});
    vec![add("a", json!({}), opts.clone()), add("a", json!({}), opts)]
}

fn dedup_ttl_extend() -> Vec<Value> {
    let opts = json!({"deduplication": {"id": "d1", "ttl": 60000, "extend": true}});
    vec![
        add("a", json!({}), opts.clone()),
        add("a", json!({}), opts.clone()),
        add("a", json!({}), opts),
    ]
}

fn dedup_replace_of_a_delayed_job() -> Vec<Value> {
    let opts = json!({"delay": 5000, "deduplication": {"id": "d1", "ttl": 60000, "replace": true}});
    vec![
        add("a", json!({"v": 1}), opts.clone()),
        add("a", json!({"v": 2}), opts),
    ]
}

fn dedup_replace_of_a_waiting_job_keeps_it() -> Vec<Value> {
    vec![
        add(
            "a",
            json!({"v": 1}),
            json!({"deduplication": {"id": "d1", "replace": true}}),
        ),
        add(
            "a",
            json!({"v": 2}),
            json!({"delay": 100, "deduplication": {"id": "d1", "replace": true}}),
        ),
    ]
}

pub(crate) fn dedup_keep_last_if_active() -> Vec<Value> {
    let opts = json!({"deduplication": {"id": "d1", "keepLastIfActive": true}});
    vec![
        add("a", json!({"v": 1}), opts.clone()),
        raw(&["RPOPLPUSH", "{base}wait", "{base}active"]),
        add("a", json!({"v": 2}), opts.clone()),
        add("a", json!({"v": 3}), opts),
    ]
}

fn dedup_slot_whose_owner_is_gone() -> Vec<Value> {
    let opts = json!({"deduplication": {"id": "d1"}});
    vec![
        add("a", json!({"v": 1}), opts.clone()),
        raw(&["DEL", "{base}1"]),
        add("a", json!({"v": 2}), opts),
    ]
}

fn paused_queue() -> Vec<Value> {
    vec![
        add("before", json!({}), json!({})),
        json!({"op": "pause"}),
        add("while-paused", json!({}), json!({})),
        add("prioritized", json!({}), json!({"priority": 1})),
        add("delayed", json!({}), json!({"delay": 3000})),
        json!({"op": "resume"}),
        add("after", json!({}), json!({})),
    ]
}

fn maxed_queue_writes_no_marker() -> Vec<Value> {
    vec![
        raw(&["HSET", "{base}meta", "concurrency", "1"]),
        raw(&["LPUSH", "{base}active", "busy"]),
        add("a", json!({}), json!({})),
        add("p", json!({}), json!({"priority": 2})),
    ]
}

pub(crate) fn unicode_and_large_data() -> Vec<Value> {
    vec![
        add(
            "unicode",
            json!({"text": "héllo wörld 🌍 日本語 \u{2028}", "emoji": "👍🏽"}),
            json!({}),
        ),
        add(
            "large",
            json!({"blob": "x".repeat(120_000), "n": 1}),
            json!({}),
        ),
    ]
}

fn non_object_data() -> Vec<Value> {
    vec![
        add("string", json!("hello"), json!({})),
        add("number", json!(42), json!({})),
        add("array", json!([1, "two", {"three": 3}]), json!({})),
        add("null", Value::Null, json!({})),
        add(
            "nested",
            json!({"a": {"b": [{"c": true}, false]}}),
            json!({}),
        ),
    ]
}

fn odd_names() -> Vec<Value> {
    vec![
        add("", json!({}), json!({})),
        add("with space:and:colons", json!({}), json!({})),
        add("ünï 🚀", json!({}), json!({})),
        add("x".repeat(300).as_str(), json!({}), json!({})),
    ]
}

pub(crate) fn bulk_add() -> Vec<Value> {
    let jobs: Vec<Value> = (0..60)
        .map(|i| {
            let opts = match i % 6 {
                0 => json!({}),
                1 => json!({"priority": i % 4 + 1}),
                2 => json!({"delay": 1000 * (i + 1)}),
                3 => json!({"lifo": true}),
                4 => json!({"jobId": format!("bulk-{}", i / 12)}),
                _ => json!({"attempts": 2, "backoff": 100}),
            };
            json!({"name": format!("job-{i}"), "data": {"i": i}, "opts": opts})
        })
        .collect();
    vec![
        json!({"op": "addBulk", "jobs": jobs}),
        add("single", json!({}), json!({})),
    ]
}

macro_rules! differential_tests {
    ($($case:ident),* $(,)?) => {
        mod bullmq6 {
            use super::*;
            $(#[tokio::test] async fn $case() { compare(BullmqMajor::V6, super::$case()).await })*

            #[tokio::test]
            async fn dedup_reschedule_moves_the_delayed_owner() {
                compare(BullmqMajor::V6, vec![
                    add("a", json!({"v": 1}), json!({"delay": 5000, "deduplication": {"id": "d1", "reschedule": true}})),
                    add("a", json!({"v": 2}), json!({"delay": 90000, "deduplication": {"id": "d1", "reschedule": true}})),
                ]).await
            }
        }
        mod bullmq5 {
            use super::*;
            $(#[tokio::test] async fn $case() { compare(BullmqMajor::V5, super::$case()).await })*
        }
    };
}

differential_tests!(
    standard,
    lifo,
    delayed,
    same_due_time_keeps_insertion_order,
    prioritized,
    priority_with_delay,
    zero_delay_and_priority_are_a_standard_add,
    custom_id,
    duplicate_custom_id_keeps_the_first_job,
    attempts_with_numeric_backoff,
    attempts_with_backoff_object,
    remove_on_flags_and_counts,
    remove_on_age_and_count,
    keep_logs_stack_trace_and_size_limit,
    parent_failure_flags,
    every_option_at_once,
    dedup_simple,
    dedup_with_ttl,
    dedup_ttl_extend,
    dedup_replace_of_a_delayed_job,
    dedup_replace_of_a_waiting_job_keeps_it,
    dedup_keep_last_if_active,
    dedup_slot_whose_owner_is_gone,
    paused_queue,
    maxed_queue_writes_no_marker,
    unicode_and_large_data,
    non_object_data,
    odd_names,
    bulk_add,
);
