//! Queue getters against Node BullMQ's: the same state is built twice through Node (db 1
//! and db 2), Node's getters read db 1 and ours db 2; every answer must be Node's (ids,
//! order, counts, logs, meta), and the key spaces must still match afterwards (the getters
//! drop a pre-BullMQ-5 marker as Node's do). Both majors.

use std::collections::HashMap;
use std::time::Duration;

use bullmq_rs::{BullmqMajor, ConnectionOptions, JobId, JobState, Queue};
use serde_json::{Value, json};
use testkit::{RedisCluster, RedisServer, dump_keyspace};

use crate::differential::assert_same_keyspace;
use crate::steps::{PREFIX, QUEUE, add, play_with_node, raw};

/// Moves the job `id`, added to `wait` (or BullMQ 5's `paused`), into `place` with `score`.
fn move_to(id: &str, place: &str, score: &str) -> Vec<Value> {
    let mut steps = vec![
        raw(&["LREM", "{base}wait", "0", id]),
        raw(&["LREM", "{base}paused", "0", id]),
    ];
    steps.push(if place == "active" {
        raw(&["LPUSH", "{base}active", id])
    } else {
        raw(&["ZADD", &format!("{{base}}{place}"), score, id])
    });
    steps
}

/// Jobs in every state, a job id whose hash is gone, a pre-BullMQ-5 marker, logs,
/// deduplication, a paused queue, a global concurrency that is reached and a rate limit
/// that is hit.
fn every_state() -> Vec<Value> {
    let mut steps = vec![
        add("w1", json!({}), json!({})),
        add("w2", json!({}), json!({})),
        raw(&["LPUSH", "{base}wait", "ghost"]),
        add("w3", json!({}), json!({})),
        add("w-lifo", json!({}), json!({"lifo": true})),
        raw(&["RPUSH", "{base}wait", "0:1000"]),
        add("p3", json!({}), json!({"priority": 3})),
        add("p1", json!({}), json!({"priority": 1})),
        add("p2", json!({}), json!({"priority": 2})),
        add("d60", json!({}), json!({"delay": 60000})),
        add("d5", json!({}), json!({"delay": 5000})),
        add("d30", json!({}), json!({"delay": 30000})),
        add(
            "dedup",
            json!({"v": 1}),
            json!({"deduplication": {"id": "d1"}}),
        ),
        add(
            "dedup",
            json!({"v": 2}),
            json!({"deduplication": {"id": "d1"}}),
        ),
    ];
    for (id, place, score) in [
        ("c1", "completed", "1000"),
        ("c2", "completed", "3000"),
        ("c3", "completed", "2000"),
        ("f1", "failed", "5000"),
        ("f2", "failed", "4000"),
        ("a1", "active", ""),
        ("a2", "active", ""),
        ("parent", "waiting-children", "7000"),
    ] {
        steps.push(add(id, json!({}), json!({"jobId": id})));
        steps.extend(move_to(id, place, score));
    }
    steps.extend([
        raw(&[
            "RPUSH",
            "{base}1:logs",
            "one",
            "two",
            "three",
            "four",
            "five",
        ]),
        raw(&[
            "HSET",
            "{base}meta",
            "concurrency",
            "2",
            "max",
            "10",
            "duration",
            "1000",
        ]),
        raw(&["SET", "{base}limiter", "12", "PX", "600000"]),
        json!({"op": "pause"}),
        add("while-paused", json!({}), json!({})),
        add("while-paused-2", json!({}), json!({})),
    ]);
    steps
}

/// Windows `start..=end` of job lists: whole, first, overrunning, from the end, empty, and
/// around the vanished job of `wait` (where BullMQ 6 reads on and BullMQ 5 does not).
const WINDOWS: [(i64, i64); 9] = [
    (0, -1),
    (0, 0),
    (0, 1),
    (1, 2),
    (3, 4),
    (4, 5),
    (2, 10),
    (-2, -1),
    (3, 1),
];

fn get_jobs(types: &[&str], start: i64, end: i64, asc: bool) -> Value {
    json!({"op": "getJobs", "types": types, "start": start, "end": end, "asc": asc})
}

fn logs(id: &str, start: i64, end: i64, asc: bool) -> Value {
    json!({"op": "getJobLogs", "id": id, "start": start, "end": end, "asc": asc})
}

/// Every getter, each state alone and together, both orders, windows that fit, overrun,
/// skip a vanished job and count from the end.
fn every_getter() -> Vec<Value> {
    let mut calls = Vec::new();
    let states = [
        "waiting",
        "paused",
        "active",
        "prioritized",
        "delayed",
        "completed",
        "failed",
        "waiting-children",
    ];
    for state in states {
        for asc in [true, false] {
            for (start, end) in WINDOWS {
                calls.push(get_jobs(&[state], start, end, asc));
            }
        }
    }
    for asc in [true, false] {
        calls.extend([
            get_jobs(&[], 0, -1, asc),
            get_jobs(&[], 0, 1, asc),
            get_jobs(&["delayed", "waiting", "completed"], 0, -1, asc),
            get_jobs(&["failed", "completed", "failed"], 1, 1, asc),
        ]);
    }
    for types in [
        json!([]),
        json!(["waiting"]),
        json!(["paused"]),
        json!(["active", "failed", "completed"]),
        json!(["waiting-children", "prioritized", "delayed", "waiting"]),
    ] {
        calls.push(json!({"op": "getJobCounts", "types": types}));
    }
    for asc in [true, false] {
        for (start, end) in [(0, -1), (0, 1), (1, 3), (3, 10), (-2, -1)] {
            calls.push(logs("1", start, end, asc));
        }
    }
    // Ids in every place: waiting, prioritized, delayed, completed, failed, active,
    // waiting-children, added while paused (BullMQ 5's `paused` list), no hash, nothing.
    for id in [
        "1",
        "5",
        "9",
        "c1",
        "f2",
        "a1",
        "parent",
        "13",
        "14",
        "ghost",
        "no-such-job",
    ] {
        calls.push(json!({"op": "getJobState", "id": id}));
    }
    calls.extend([
        logs("no-such-job", 0, -1, true),
        json!({"op": "count"}),
        json!({"op": "getDeduplicationJobId", "id": "d1"}),
        json!({"op": "getDeduplicationJobId", "id": "nobody"}),
        json!({"op": "isMaxed"}),
        json!({"op": "getMeta"}),
        json!({"op": "getVersion"}),
        json!({"op": "getRateLimitTtl"}),
        json!({"op": "getRateLimitTtl", "maxJobs": 12}),
        json!({"op": "getRateLimitTtl", "maxJobs": 13}),
        json!({"op": "getRateLimitTtl", "maxJobs": 0}),
        json!({"op": "getGlobalConcurrency"}),
        json!({"op": "getGlobalRateLimit"}),
    ]);
    calls
}

/// A queue with nothing set: no limiter, no global limits; then a limiter without expiry.
fn bare_queue() -> Vec<Value> {
    vec![add("only", json!({}), json!({}))]
}

fn bare_getters() -> Vec<Value> {
    vec![
        json!({"op": "getRateLimitTtl"}),
        json!({"op": "getRateLimitTtl", "maxJobs": 3}),
        json!({"op": "getGlobalConcurrency"}),
        json!({"op": "getGlobalRateLimit"}),
        json!({"op": "isMaxed"}),
        json!({"op": "getMeta"}),
        json!({"op": "count"}),
        json!({"op": "getJobCounts", "types": []}),
    ]
}

fn state(name: &str) -> JobState {
    [
        JobState::Waiting,
        JobState::Paused,
        JobState::Prioritized,
        JobState::Delayed,
        JobState::Active,
        JobState::Completed,
        JobState::Failed,
        JobState::WaitingChildren,
    ]
    .into_iter()
    .find(|state| state.as_str() == name)
    .unwrap_or_else(|| panic!("no job state {name}"))
}

fn states(types: &Value) -> Vec<JobState> {
    let names = types.as_array().unwrap();
    names
        .iter()
        .map(|name| state(name.as_str().unwrap()))
        .collect()
}

fn int(call: &Value, field: &str) -> i64 {
    call[field].as_i64().unwrap()
}

/// Runs one call with our getters and answers in the JSON shape getters.js prints.
async fn rust_call(queue: &Queue, call: &Value) -> Value {
    match call["op"].as_str().unwrap() {
        "getJobs" => {
            let (start, end) = (int(call, "start"), int(call, "end"));
            let asc = call["asc"].as_bool().unwrap();
            let jobs = queue
                .get_jobs(&states(&call["types"]), start, end, asc)
                .await
                .unwrap();
            json!(
                jobs.iter()
                    .map(|job| json!([job.id.as_str(), job.name]))
                    .collect::<Vec<_>>()
            )
        }
        "getJobCounts" => {
            let counts: HashMap<JobState, u64> = queue
                .get_job_counts_of(&states(&call["types"]))
                .await
                .unwrap();
            let by_name: serde_json::Map<String, Value> = counts
                .into_iter()
                .map(|(state, count)| (state.as_str().to_owned(), json!(count)))
                .collect();
            Value::Object(by_name)
        }
        "count" => json!(queue.count().await.unwrap()),
        "getJobLogs" => {
            let id = JobId::from(call["id"].as_str().unwrap());
            let asc = call["asc"].as_bool().unwrap();
            let logs = queue
                .get_job_logs(&id, int(call, "start"), int(call, "end"), asc)
                .await
                .unwrap();
            json!({"logs": logs.logs, "count": logs.count})
        }
        "getDeduplicationJobId" => {
            let id = queue
                .get_deduplication_job_id(call["id"].as_str().unwrap())
                .await
                .unwrap();
            json!(id.map(JobId::into_string))
        }
        "getJobState" => {
            let id = JobId::from(call["id"].as_str().unwrap());
            json!(queue.get_job_state(&id).await.unwrap().as_str())
        }
        "isMaxed" => json!(queue.is_maxed().await.unwrap()),
        "getMeta" => meta_as_node(queue).await,
        "getVersion" => json!(queue.get_version().await.unwrap()),
        "getRateLimitTtl" => {
            let max_jobs = call["maxJobs"].as_u64();
            json!(queue.get_rate_limit_ttl(max_jobs).await.unwrap())
        }
        "getGlobalConcurrency" => json!(queue.get_global_concurrency().await.unwrap()),
        "getGlobalRateLimit" => match queue.get_global_rate_limit().await.unwrap() {
            Some(limit) => json!({"max": limit.max, "duration": limit.duration.as_millis()}),
            None => Value::Null,
        },
        other => panic!("unknown call {other}"),
    }
}

/// `get_meta` in the shape of Node's `getMeta()`: numbers parsed, the rest as stored.
async fn meta_as_node(queue: &Queue) -> Value {
    let meta = queue.get_meta().await.unwrap();
    let mut node: serde_json::Map<String, Value> = meta
        .other
        .into_iter()
        .map(|(field, value)| (field, json!(value)))
        .collect();
    node.insert("paused".into(), json!(meta.paused));
    let numbers = [
        ("concurrency", meta.concurrency),
        ("max", meta.max),
        ("duration", meta.duration.map(|d| d.as_millis() as u64)),
        ("maxLenEvents", meta.max_len_events),
    ];
    for (field, value) in numbers {
        if let Some(value) = value {
            node.insert(field.into(), json!(value));
        }
    }
    if let Some(version) = meta.version {
        node.insert("version".into(), json!(version));
    }
    Value::Object(node)
}

/// Rate-limit TTLs count down between the two reads: a positive one becomes `"counting
/// down"` once checked to be within the window set.
fn settle_ttls(calls: &[Value], results: &mut [Value]) {
    for (call, result) in calls.iter().zip(results.iter_mut()) {
        if call["op"] == "getRateLimitTtl"
            && let Some(ttl) = result.as_i64().filter(|ttl| *ttl > 0)
        {
            assert!(ttl <= 600_000, "{call}: {ttl}");
            *result = json!("counting down");
        }
    }
}

async fn compare_getters(major: BullmqMajor, steps: Vec<Value>, calls: Vec<Value>) {
    let redis = RedisServer::start();
    play_with_node(&redis, 1, major, &steps);
    play_with_node(&redis, 2, major, &steps);

    let input = json!({
        "redisUrl": redis.url_db(1), "major": major.number(),
        "prefix": PREFIX, "queue": QUEUE, "calls": calls,
    });
    let output = testkit::node::run("getters.js", &input);
    let mut node = output
        .as_array()
        .expect("getters.js prints an array")
        .clone();
    let queue = Queue::builder(QUEUE)
        .prefix(PREFIX)
        .major(major)
        .connect(&redis.url_db(2))
        .await
        .unwrap();
    let mut rust = Vec::new();
    for call in &calls {
        rust.push(rust_call(&queue, call).await);
    }

    settle_ttls(&calls, &mut node);
    settle_ttls(&calls, &mut rust);
    let mut report = String::new();
    for ((call, ours), theirs) in calls.iter().zip(&rust).zip(&node) {
        if ours != theirs {
            report.push_str(&format!("\n{call}\n  Node: {theirs}\n  Rust: {ours}"));
        }
    }
    assert!(
        report.is_empty(),
        "getters differ from Node BullMQ {major}:{report}"
    );
    // The getJobState calls reach every state getState names.
    let mut states: Vec<&str> = calls
        .iter()
        .zip(&node)
        .filter(|(call, _)| call["op"] == "getJobState")
        .filter_map(|(_, state)| state.as_str())
        .collect();
    states.sort_unstable();
    states.dedup();
    if !states.is_empty() {
        assert_eq!(
            states,
            [
                "active",
                "completed",
                "delayed",
                "failed",
                "prioritized",
                "unknown",
                "waiting",
                "waiting-children"
            ]
        );
    }
    let node_keys = dump_keyspace(&mut redis.connection(1), "bull:*");
    let rust_keys = dump_keyspace(&mut redis.connection(2), "bull:*");
    assert_same_keyspace(&rust_keys, &node_keys, major);
}

/// Where the workers test runs: one server, or a cluster with a hash-tagged prefix.
struct Target {
    url: String,
    prefix: &'static str,
    cluster: bool,
}

/// Node workers (one unnamed, two named) on the queue and a worker of another queue: our
/// `get_workers` lists the same connections as Node's `getWorkers`; `done` sets a key.
async fn workers_match_node(major: BullmqMajor, target: Target, done: impl Fn(&str)) {
    let watch = |queue: &str, workers: Value| {
        let input = json!({
            "redisUrl": target.url, "major": major.number(), "prefix": target.prefix,
            "queue": queue, "cluster": target.cluster, "workers": workers,
        });
        testkit::node::Watcher::start("getters.js", &input)
    };
    let neighbour = watch("other", json!([{}]));
    let watcher = watch(
        QUEUE,
        json!([{}, {"name": "mailer"}, {"name": "with:colon"}]),
    );
    let builder = Queue::builder(QUEUE).prefix(target.prefix).major(major);
    let builder = if target.cluster {
        builder.connection(ConnectionOptions::default().cluster())
    } else {
        builder
    };
    let queue = builder.connect(&target.url).await.unwrap();

    let ours = queue.get_workers().await.unwrap();

    done(&format!("{}:{QUEUE}:getters-done", target.prefix));
    done(&format!("{}:other:getters-done", target.prefix));
    let node = watcher.finish();
    neighbour.finish();
    // Counters (age, idle, memory, last command) move between the two reads. On a cluster
    // a worker's connections may be named on several nodes with lists of equal length;
    // which of those wins depends on each client's order of nodes, so only what the lists
    // share is compared there.
    let compared: &[&str] = if target.cluster {
        &["name", "rawname", "db"]
    } else {
        &["id", "addr", "laddr", "fd", "name", "rawname", "db"]
    };
    let stable = |fields: &serde_json::Map<String, Value>| {
        let mut keys: Vec<&String> = fields.keys().collect();
        keys.sort();
        let same: Vec<(&str, &Value)> = compared
            .iter()
            .copied()
            .filter_map(|field| fields.get(field).map(|value| (field, value)))
            .collect();
        format!("{keys:?} {same:?}")
    };
    let mut node_list: Vec<String> = node
        .as_array()
        .unwrap()
        .iter()
        .map(|worker| stable(worker.as_object().unwrap()))
        .collect();
    let mut our_list: Vec<String> = ours
        .iter()
        .map(|worker| {
            let fields = worker
                .fields
                .iter()
                .map(|(field, value)| (field.clone(), json!(value)))
                .collect();
            stable(&fields)
        })
        .collect();
    node_list.sort();
    our_list.sort();
    assert_eq!(our_list.len(), 3, "{our_list:#?}");
    assert_eq!(our_list, node_list);
    let mut raw_names: Vec<&str> = ours.iter().map(|worker| worker.raw_name()).collect();
    raw_names.sort();
    let base = format!("{}:cQ==", target.prefix);
    assert_eq!(
        raw_names,
        [
            base.clone(),
            format!("{base}:w:mailer"),
            format!("{base}:w:with:colon")
        ]
    );
    assert!(ours.iter().all(|worker| worker.get("name") == Some(QUEUE)));
}

async fn workers_on_one_server(major: BullmqMajor) {
    let redis = RedisServer::start();
    let target = Target {
        url: redis.url(),
        prefix: PREFIX,
        cluster: false,
    };
    workers_match_node(major, target, |key| {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg("1")
            .query(&mut redis.connection(0))
            .unwrap();
    })
    .await
}

/// On a cluster each node is asked, as Node asks each, and the longest list is kept.
async fn workers_on_a_cluster(major: BullmqMajor) {
    let cluster = RedisCluster::start(3);
    let target = Target {
        url: cluster.url(),
        prefix: "{getters}",
        cluster: true,
    };
    workers_match_node(major, target, |key| {
        let mut any = cluster.nodes()[0].connection(0);
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut any)
            .unwrap();
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg("1")
            .query(&mut cluster.primary_of(slot).connection(0))
            .unwrap();
    })
    .await
}

macro_rules! getter_tests {
    ($($major:ident => $module:ident),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn every_getter_answers_as_node_on_jobs_in_every_state() {
                compare_getters(BullmqMajor::$major, every_state(), every_getter()).await
            }

            #[tokio::test]
            async fn getters_of_a_bare_queue_answer_as_node() {
                compare_getters(BullmqMajor::$major, bare_queue(), bare_getters()).await
            }

            #[tokio::test]
            async fn limiter_without_expiry_reads_as_node() {
                let mut steps = bare_queue();
                steps.push(raw(&["SET", "{base}limiter", "4"]));
                compare_getters(BullmqMajor::$major, steps, bare_getters()).await
            }

            #[tokio::test]
            async fn get_workers_lists_the_connections_node_lists() {
                tokio::time::timeout(Duration::from_secs(60), workers_on_one_server(BullmqMajor::$major))
                    .await
                    .unwrap()
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn get_workers_on_a_cluster_lists_the_connections_node_lists() {
                tokio::time::timeout(Duration::from_secs(90), workers_on_a_cluster(BullmqMajor::$major))
                    .await
                    .unwrap()
            }
        }
    )*};
}

getter_tests!(V6 => bullmq6, V5 => bullmq5);
