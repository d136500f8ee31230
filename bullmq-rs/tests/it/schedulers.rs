//! Job schedulers against Node BullMQ (5 and 6): the same upserts and removals through
//! `node-worker-compat/scheduler.js` (db 1) and this crate (db 2) leave the same key space
//! once clock readings are masked; schedulers defined by either side and served by
//! either kind of worker produce the same runs, hash for hash; cron next runs equal the
//! ones BullMQ's own strategy computes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bullmq_rs::{ActiveJob, BullmqMajor, JobError, JobTemplate, Queue, RepeatOptions, Worker};
use serde_json::{Value, json};
use testkit::{RedisServer, dump_keyspace, mask_timestamps};

use crate::differential::assert_same_keyspace;
use crate::steps::{PREFIX, QUEUE};

fn node(redis: &RedisServer, db: u8, major: BullmqMajor, steps: &[Value]) -> Vec<Value> {
    let input = json!({"redisUrl": redis.url_db(db), "major": major.number(), "prefix": PREFIX,
        "queue": QUEUE, "steps": steps});
    let output = testkit::node::run("scheduler.js", &input);
    output
        .as_array()
        .expect("scheduler.js prints an array")
        .clone()
}

async fn rust(redis: &RedisServer, db: u8, major: BullmqMajor, steps: &[Value]) -> Vec<Value> {
    let url = redis.url_db(db);
    let queue = Queue::builder(QUEUE)
        .prefix(PREFIX)
        .major(major)
        .connect(&url)
        .await
        .unwrap();
    let mut results = Vec::new();
    for step in steps {
        let id = step["id"].as_str().unwrap_or_default();
        let result = match step["op"].as_str().unwrap() {
            "upsert" => {
                let repeat: RepeatOptions = serde_json::from_value(step["repeat"].clone()).unwrap();
                let template: JobTemplate =
                    serde_json::from_value(step.get("template").cloned().unwrap_or(json!({})))
                        .unwrap();
                match queue.upsert_job_scheduler(id, &repeat, &template).await {
                    Ok(run) => json!(run.map(|run| run.to_string())),
                    Err(err) => json!({ "error": err.to_string() }),
                }
            }
            "remove" => json!(queue.remove_job_scheduler(id).await.unwrap()),
            "get" => json!(queue.get_job_scheduler(id).await.unwrap()),
            "list" => {
                let (start, end) = (
                    step["start"].as_i64().unwrap(),
                    step["end"].as_i64().unwrap(),
                );
                let list = queue
                    .get_job_schedulers(start as isize, end as isize, step["asc"] == true)
                    .await
                    .unwrap();
                json!(list)
            }
            "work" => json!(work(&url, major, step["ms"].as_u64().unwrap()).await),
            "pause" => queue.pause().await.map(|()| Value::Null).unwrap(),
            "resume" => queue.resume().await.map(|()| Value::Null).unwrap(),
            "sleep" => {
                tokio::time::sleep(Duration::from_millis(step["ms"].as_u64().unwrap())).await;
                Value::Null
            }
            other => panic!("unknown step {other}"),
        };
        results.push(result);
    }
    results
}

/// A Rust worker returning the job's data, for `ms`; returns the ids it ran.
async fn work(url: &str, major: BullmqMajor, ms: u64) -> Vec<String> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let worker = Worker::builder(QUEUE)
        .prefix(PREFIX)
        .major(major)
        .drain_delay(Duration::from_secs(1))
        .on_error(|err| eprintln!("rust worker: {err}"))
        .connect(url, move |job: ActiveJob| {
            record.lock().unwrap().push(job.id.to_string());
            let data = job.data.clone();
            async move { Ok::<_, JobError>(data) }
        })
        .await
        .unwrap();
    worker
        .run_until(tokio::time::sleep(Duration::from_millis(ms)))
        .await
        .unwrap();
    seen.lock().unwrap().clone()
}

fn upsert(id: &str, repeat: Value, template: Value) -> Value {
    json!({"op": "upsert", "id": id, "repeat": repeat, "template": template})
}

fn op(op: &str, id: &str) -> Value {
    json!({"op": op, "id": id})
}

/// Masks what depends on the clock beyond ms timestamps: a run's delay (due time minus
/// now) and the offset an `every` scheduler derives from its first run's time.
fn mask_clock(text: &str) -> String {
    let mut out = mask_timestamps(text);
    for marker in ["delay = ", "\"delay\":", "offset = ", "\"offset\":"] {
        let mut masked = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(marker) {
            let start = at + marker.len();
            masked.push_str(&rest[..start]);
            rest = &rest[start..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                masked.push_str("<N>");
            }
            rest = &rest[digits..];
        }
        masked.push_str(rest);
        out = masked;
    }
    out
}

/// [`mask_clock`] for returned values, compared as JSON (key order aside).
fn mask_value(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = match key.as_str() {
                        "offset" | "delay" => json!("<N>"),
                        _ => mask_value(value),
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(mask_value).collect()),
        Value::Number(n) if n.as_u64().is_some_and(|n| n >= 1_000_000_000_000) => json!("<TS>"),
        Value::String(text) => Value::String(mask_timestamps(&text)),
        other => other,
    }
}

fn masked_keyspace(redis: &RedisServer, db: u8) -> BTreeMap<String, String> {
    dump_keyspace(&mut redis.connection(db), "bull:*")
        .into_iter()
        .map(|(key, dump)| (mask_timestamps(&key), mask_clock(&dump)))
        .collect()
}

async fn compare(major: BullmqMajor, steps: Vec<Value>) {
    let redis = RedisServer::start();
    let node_results = node(&redis, 1, major, &steps);
    let rust_results = rust(&redis, 2, major, &steps).await;
    assert_eq!(
        mask_value(Value::Array(rust_results)),
        mask_value(Value::Array(node_results)),
        "results differ (left: Rust, right: Node BullMQ {major})"
    );
    assert_same_keyspace(
        &masked_keyspace(&redis, 2),
        &masked_keyspace(&redis, 1),
        major,
    );
}

/// Option keys are given in declaration order (`RepeatOptions`, `JobOptions`): the order
/// this crate stores, and Node keeps the order it is given.
fn every_with_a_template() -> Vec<Value> {
    vec![
        upsert(
            "e",
            json!({"every": 60000}),
            json!({"name": "tick", "data": {"a": 1}, "opts": {"attempts": 2, "removeOnComplete": true}}),
        ),
        op("get", "e"),
    ]
}

fn cron_pattern_in_a_time_zone() -> Vec<Value> {
    let repeat = json!({"pattern": "*/5 * * * *", "tz": "Europe/Paris"});
    vec![
        upsert("c", repeat.clone(), json!({"name": "c"})),
        upsert("c", repeat, json!({"name": "c", "data": {"v": 2}})),
        op("get", "c"),
    ]
}

fn every_with_limit_and_offset() -> Vec<Value> {
    vec![
        upsert(
            "l",
            json!({"every": 1000, "limit": 3, "offset": 250}),
            json!({}),
        ),
        upsert("z", json!({"every": 1000, "limit": 0}), json!({})),
        op("get", "l"),
    ]
}

fn replacing_keeps_the_run_time_unless_every_changes() -> Vec<Value> {
    vec![
        upsert("e", json!({"every": 60000}), json!({"data": {"v": 1}})),
        upsert(
            "e",
            json!({"every": 60000}),
            json!({"data": {"v": 2}, "opts": {"priority": 3}}),
        ),
        upsert("e", json!({"every": 30000}), json!({"name": "renamed"})),
    ]
}

fn start_and_end_dates() -> Vec<Value> {
    vec![
        upsert(
            "s",
            json!({"every": 5000, "startDate": 4_102_444_800_000_u64, "endDate": 4_102_448_400_000_u64}),
            json!({}),
        ),
        upsert(
            "p",
            json!({"pattern": "0 0 * * *", "tz": "UTC", "startDate": 4_102_444_800_000_u64}),
            json!({"opts": {"attempts": 3, "backoff": {"type": "exponential", "delay": 100}}}),
        ),
        json!({"op": "list", "start": 0, "end": -1, "asc": true}),
    ]
}

fn immediately_runs_a_pattern_now() -> Vec<Value> {
    vec![upsert(
        "i",
        json!({"pattern": "0 0 1 1 *", "tz": "UTC", "immediately": true}),
        json!({"opts": {"lifo": true}}),
    )]
}

fn removal() -> Vec<Value> {
    vec![
        upsert("e", json!({"every": 60000}), json!({})),
        upsert("c", json!({"pattern": "0 * * * *"}), json!({})),
        op("remove", "e"),
        op("remove", "e"),
        op("remove", "c"),
        op("remove", "never"),
        op("get", "c"),
        json!({"op": "list", "start": 0, "end": -1, "asc": false}),
    ]
}

/// BullMQ looks for the pending run to replace in the `paused` list while the queue is
/// paused, in both majors: with BullMQ 6 (run in `wait`) it is not found and stays.
fn paused_queue() -> Vec<Value> {
    vec![
        json!({"op": "pause"}),
        upsert("e", json!({"every": 60000}), json!({})),
        upsert("e", json!({"every": 60000}), json!({"data": {"v": 2}})),
        upsert("c", json!({"pattern": "0 * * * *"}), json!({})),
        json!({"op": "resume"}),
    ]
}

macro_rules! scheduler_differential_tests {
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

scheduler_differential_tests!(
    every_with_a_template,
    cron_pattern_in_a_time_zone,
    every_with_limit_and_offset,
    replacing_keeps_the_run_time_unless_every_changes,
    start_and_end_dates,
    immediately_runs_a_pattern_now,
    removal,
    paused_queue,
);

/// Who defines a scheduler, or serves it.
#[derive(Debug, Clone, Copy)]
enum Side {
    Node,
    Rust,
}

/// One completed run: its time (from its id) and its hash, masked.
type Run = (u64, String);

/// Scheduler `s` defined by the first side, then, `idle` ms later, served for `ms` by a
/// worker of the second; returns the completed runs in time order.
async fn serve(
    redis: &RedisServer,
    db: u8,
    major: BullmqMajor,
    sides: (Side, Side),
    repeat: Value,
    (idle, ms): (u64, u64),
) -> Vec<Run> {
    let template =
        json!({"name": "tick", "data": {"n": 1}, "opts": {"attempts": 2, "keepLogs": 5}});
    let define = [upsert("s", repeat, template)];
    let work = [
        json!({"op": "sleep", "ms": idle}),
        json!({"op": "work", "ms": ms}),
    ];
    for (side, steps) in [(sides.0, &define[..]), (sides.1, &work[..])] {
        let results = match side {
            Side::Node => node(redis, db, major, steps),
            Side::Rust => rust(redis, db, major, steps).await,
        };
        assert!(
            results.iter().all(|r| r.get("error").is_none()),
            "{side:?}: {results:?}"
        );
    }
    let mut conn = redis.connection(db);
    let ids: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{PREFIX}:{QUEUE}:completed"))
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    let mut runs: Vec<Run> = ids
        .iter()
        .map(|id| {
            let millis = id.rsplit(':').next().unwrap().parse().unwrap();
            let key = format!("{PREFIX}:{QUEUE}:{id}");
            let dump = dump_keyspace(&mut conn, &key).remove(&key).unwrap();
            (millis, mask_clock(&dump))
        })
        .collect();
    runs.sort();
    runs
}

/// Runs under `sides` against runs under Node alone: at least `min_runs`, all on one
/// grid of `step` ms, and run k's hash equal to Node's run k (same id scheme, options,
/// fields; clock readings masked).
async fn assert_runs_as_under_node(
    major: BullmqMajor,
    sides: (Side, Side),
    repeat: Value,
    step: u64,
    min_runs: usize,
) {
    assert_runs_after_idle_as_under_node(major, sides, repeat, (step, min_runs), 0).await
}

/// [`assert_runs_as_under_node`] with the worker starting `idle` ms late: the runs
/// missed meanwhile are skipped and the next ones stay on the grid.
async fn assert_runs_after_idle_as_under_node(
    major: BullmqMajor,
    sides: (Side, Side),
    repeat: Value,
    (step, min_runs): (u64, usize),
    idle: u64,
) {
    let redis = RedisServer::start();
    let times = (idle, 2500);
    let node_sides = (Side::Node, Side::Node);
    let baseline = serve(&redis, 1, major, node_sides, repeat.clone(), times).await;
    let runs = serve(&redis, 2, major, sides, repeat, times).await;
    assert!(
        runs.len() >= min_runs,
        "only {} runs under {sides:?}: {runs:#?}",
        runs.len()
    );
    assert!(
        baseline.len() >= min_runs,
        "only {} runs under Node",
        baseline.len()
    );
    let grid = runs[0].0 % step;
    assert!(
        runs.iter().all(|(millis, _)| millis % step == grid),
        "runs off the {step} ms grid: {runs:#?}"
    );
    for (k, (run, node_run)) in runs.iter().zip(&baseline).enumerate() {
        assert_eq!(
            run.1, node_run.1,
            "run {k} differs (left: {sides:?}, right: Node BullMQ {major})"
        );
    }
}

macro_rules! serving_tests {
    ($($major:ident: $v:expr),* $(,)?) => {$(
        mod $major {
            use super::*;

            #[tokio::test]
            async fn every_200ms_defined_by_node_keeps_running_under_a_rust_worker() {
                assert_runs_as_under_node($v, (Side::Node, Side::Rust), json!({"every": 200}), 200, 8).await
            }

            #[tokio::test]
            async fn every_200ms_defined_by_rust_runs_under_a_node_worker() {
                assert_runs_as_under_node($v, (Side::Rust, Side::Node), json!({"every": 200}), 200, 8).await
            }

            #[tokio::test]
            async fn every_200ms_served_late_by_a_rust_worker_skips_missed_runs_on_its_grid() {
                assert_runs_after_idle_as_under_node($v, (Side::Node, Side::Rust), json!({"every": 200, "offset": 30}), (200, 8), 900).await
            }

            #[tokio::test]
            async fn cron_defined_by_node_keeps_running_under_a_rust_worker() {
                assert_runs_as_under_node($v, (Side::Node, Side::Rust), json!({"pattern": "* * * * * *"}), 1000, 2).await
            }

            #[tokio::test]
            async fn cron_defined_by_rust_runs_under_a_rust_worker() {
                assert_runs_as_under_node($v, (Side::Rust, Side::Rust), json!({"pattern": "* * * * * *", "tz": "UTC"}), 1000, 2).await
            }

            #[tokio::test]
            async fn cron_defined_by_rust_runs_under_a_node_worker() {
                assert_runs_as_under_node($v, (Side::Rust, Side::Node), json!({"pattern": "*/1 * * * * *"}), 1000, 2).await
            }
        }
    )*};
}

serving_tests!(serving_bullmq6: BullmqMajor::V6, serving_bullmq5: BullmqMajor::V5);

/// Patterns on which cron-parser 4.9 (BullMQ 5.79) and 5.10 (BullMQ 6.7) agree, at times
/// on, just after and just before matches, with and without time zones, start and end
/// dates. Known difference (not listed): a time skipped by a DST change (see
/// `scheduler/cron.rs`).
fn cron_cases() -> Vec<Value> {
    const BASE: u64 = 1_767_268_800_000; // 2026-01-01T12:00:00Z
    let mut cases = Vec::new();
    for (pattern, tz) in [
        ("*/5 * * * *", Some("UTC")),
        ("* * * * * *", Some("UTC")),
        ("*/10 * * * * *", Some("Europe/Paris")),
        ("0 12 * * *", Some("UTC")),
        ("0 0 L * *", Some("UTC")),
        ("0 9 * * 1-5", Some("America/New_York")),
        ("0 9 * * MON#2", Some("Asia/Tokyo")),
        ("0/15 * * * *", Some("UTC")),
        ("15,45 8-18/2 * * *", Some("Europe/London")),
        ("0 0 1,15 * 5", Some("UTC")),
        ("0 0 * * 5L", Some("Australia/Sydney")),
        ("0 0 1 JAN,JUL *", Some("UTC")),
        ("30 3 * * SUN", None),
    ] {
        for millis in [BASE, BASE + 1, BASE + 999, BASE - 1, BASE + 86_399_999] {
            cases.push(json!({"op": "next", "pattern": pattern, "tz": tz, "millis": millis}));
        }
    }
    cases.push(
        json!({"op": "next", "pattern": "0 12 * * *", "tz": "UTC", "millis": BASE,
        "startDate": BASE + 5 * 86_400_000}),
    );
    cases.push(
        json!({"op": "next", "pattern": "0 12 * * *", "tz": "UTC", "millis": BASE,
        "endDate": BASE + 3_600_000}),
    );
    cases
}

async fn assert_cron_next_runs_equal_bullmq_s(major: BullmqMajor) {
    let redis = RedisServer::start();
    let cases = cron_cases();
    let expected = node(&redis, 1, major, &cases);
    for (case, expected) in cases.iter().zip(expected) {
        let repeat = RepeatOptions {
            pattern: case["pattern"].as_str().map(str::to_owned),
            tz: case["tz"].as_str().map(str::to_owned),
            start_date: case["startDate"].as_u64(),
            end_date: case["endDate"].as_u64(),
            ..Default::default()
        };
        let next = repeat
            .next_run_after(case["millis"].as_u64().unwrap())
            .unwrap();
        assert_eq!(json!(next), expected, "{case} with BullMQ {major}");
    }
}

#[tokio::test]
async fn cron_next_runs_equal_bullmq_6_s() {
    assert_cron_next_runs_equal_bullmq_s(BullmqMajor::V6).await;
}

#[tokio::test]
async fn cron_next_runs_equal_bullmq_5_s() {
    assert_cron_next_runs_equal_bullmq_s(BullmqMajor::V5).await;
}
