//! Flows against Node BullMQ (6 and 5): the same flows added by Node's FlowProducer (db 1)
//! and by ours (db 2) leave the same key space, key for key (random UUID ids are renamed
//! after their job's name); processed by Node workers, by Rust workers, or by both at
//! once, they end in the same state: parents released, processed, failed or waiting as
//! their children's failure flags say.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bullmq_rs::{ActiveJob, BullmqMajor, FlowJob, FlowProducer, JobError, Worker};
use serde_json::{Value, json};
use testkit::{RedisServer, dump_keyspace};

use crate::differential::assert_same_keyspace;

const PREFIX: &str = "bull";
const QUEUES: [&str; 2] = ["pq", "cq"];

/// Depth 1: a parent and two children in another queue, one of which fails its parent.
fn depth_one() -> Value {
    json!({
        "name": "p1", "queueName": "pq", "data": {"n": 1}, "opts": {"jobId": "p1"},
        "children": [
            {"name": "p1-ok", "queueName": "cq", "data": {"n": 2}},
            {"name": "p1-fails", "queueName": "cq", "data": {"fail": true},
             "opts": {"failParentOnFailure": true}},
        ]
    })
}

/// Depth 3 across both queues with every failure flag, a prioritized and a delayed parent;
/// `leaf` fails `mid` in turn when its own fpof child fails it.
fn depth_three() -> Value {
    json!({
        "name": "root", "queueName": "pq", "opts": {"jobId": "root", "priority": 3},
        "children": [
            {"name": "mid-cpof", "queueName": "cq", "opts": {"continueParentOnFailure": true, "attempts": 1},
             "data": {"fail": true}},
            {"name": "mid", "queueName": "cq", "opts": {"jobId": "mid", "delay": 50},
             "children": [
                {"name": "leaf-idof", "queueName": "pq", "data": {"fail": true},
                 "opts": {"ignoreDependencyOnFailure": true}},
                {"name": "leaf-rdof", "queueName": "cq", "data": {"fail": true},
                 "opts": {"removeDependencyOnFailure": true}},
                {"name": "leaf", "queueName": "pq", "opts": {"jobId": "leaf", "failParentOnFailure": true},
                 "children": [
                    {"name": "deep", "queueName": "cq", "data": {"deep": true}},
                    {"name": "deep-fpof", "queueName": "pq", "data": {"fail": true},
                     "opts": {"failParentOnFailure": true, "removeOnFail": true}},
                 ]},
             ]},
        ]
    })
}

/// A flow whose child fails without a flag: its parent waits for good.
fn stuck_parent() -> Value {
    json!({
        "name": "stuck", "queueName": "pq", "opts": {"jobId": "stuck"},
        "children": [{"name": "stuck-child", "queueName": "cq", "data": {"fail": true}, "opts": {"jobId": "sc"}}]
    })
}

/// A child failing without a flag but removed at once: BullMQ drops it from its parent's
/// dependencies, which releases the parent.
fn released_by_removal() -> Value {
    json!({
        "name": "freed", "queueName": "cq", "opts": {"jobId": "freed"},
        "children": [{"name": "freed-child", "queueName": "pq", "data": {"fail": true},
                      "opts": {"removeOnFail": true}}]
    })
}

fn flows() -> Vec<Value> {
    vec![
        depth_one(),
        depth_three(),
        stuck_parent(),
        released_by_removal(),
    ]
}

fn node(redis: &RedisServer, db: u8, major: BullmqMajor, input: Value) -> Value {
    let mut input = input;
    input["redisUrl"] = json!(redis.url_db(db));
    input["major"] = json!(major.number());
    input["prefix"] = json!(PREFIX);
    testkit::node::run("flow.js", &input)
}

async fn rust_producer(redis: &RedisServer, db: u8, major: BullmqMajor) -> FlowProducer {
    FlowProducer::builder()
        .major(major)
        .connect(&redis.url_db(db))
        .await
        .unwrap()
}

async fn add_with_rust(redis: &RedisServer, db: u8, major: BullmqMajor, flows: &[Value]) -> Value {
    let producer = rust_producer(redis, db, major).await;
    let mut ids = Vec::new();
    for flow in flows {
        let flow: FlowJob = serde_json::from_value(flow.clone()).unwrap();
        ids.push(json!(producer.add(&flow).await.unwrap().id.as_str()));
    }
    Value::Array(ids)
}

/// The key space with every UUID renamed `<uuid:NAME>` after its job's name, and the
/// stack traces (Node's and ours differ in their frames) masked.
fn dump(redis: &RedisServer, db: u8) -> BTreeMap<String, String> {
    dump_naming(redis, db, &mut BTreeMap::new())
}

/// [`dump`], with the UUID names learnt before (jobs removed since keep their name).
fn dump_naming(
    redis: &RedisServer,
    db: u8,
    names: &mut BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut conn = redis.connection(db);
    let raw = dump_keyspace(&mut conn, "bull:*");
    for key in raw.keys() {
        let Some(uuid) = find_uuid(key) else { continue };
        if key.ends_with(uuid) {
            let name: Option<String> = redis::cmd("HGET")
                .arg(key)
                .arg("name")
                .query(&mut conn)
                .unwrap();
            if let Some(name) = name {
                names.insert(uuid.to_owned(), format!("<uuid:{name}>"));
            }
        }
    }
    let names = &*names;
    let rename = |text: &str| {
        let mut text = text.to_owned();
        for (uuid, name) in names {
            text = text.replace(uuid, name);
        }
        let mut lines: Vec<String> = text
            .lines()
            .map(|line| match line.find("stacktrace = ") {
                Some(at) => format!("{}stacktrace = <masked>", &line[..at]),
                None => line.to_owned(),
            })
            .collect();
        // Members were ordered by their UUIDs, which differ between the two sides, or by
        // clock readings (each Node flow node reads the clock, ours read it once).
        let renamed = !names.is_empty() && text.contains("<uuid:");
        let clocked = lines[1..].iter().all(|line| line.ends_with("@ <TS>"));
        if lines.len() > 1
            && (lines[0] == "set" || (lines[0].starts_with("zset") && (renamed || clocked)))
        {
            lines[1..].sort();
        }
        lines.join("\n")
    };
    raw.iter()
        .map(|(key, dump)| (rename(key), rename(dump)))
        .collect()
}

fn find_uuid(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(35)).find_map(|at| {
        let candidate = &text.get(at..at + 36)?;
        let ok = candidate.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
        ok.then_some(*candidate)
    })
}

/// After workers ran: the events streams as sorted lines (two queues run side by side, so
/// their interleaving varies), without the markers and the stalled-check lock (timing).
fn settled(mut dump: BTreeMap<String, String>) -> BTreeMap<String, String> {
    dump.retain(|key, _| !key.ends_with(":marker") && !key.ends_with(":stalled-check"));
    for (key, value) in dump.iter_mut() {
        if key.ends_with(":events") {
            let mut lines: Vec<&str> = value
                .lines()
                .filter(|line| !line.ends_with("event drained"))
                .collect();
            lines.sort();
            *value = lines.join("\n");
        }
    }
    dump
}

fn work_with_node(redis: &RedisServer, db: u8, major: BullmqMajor, queues: &[&str]) -> Value {
    node(
        redis,
        db,
        major,
        json!({"op": "work", "queues": queues, "idleMs": 1500, "timeoutMs": 30000}),
    )
}

/// Rust workers on `queues` until none had anything to do for 1.5 s; the handler does what
/// flow.js's does.
async fn work_with_rust(redis: &RedisServer, db: u8, major: BullmqMajor, queues: &[&str]) {
    let last = Arc::new(Mutex::new(Instant::now()));
    let mut runs = Vec::new();
    for queue in queues {
        let seen = last.clone();
        let worker = Worker::builder(queue)
            .major(major)
            .drain_delay(Duration::from_millis(200))
            .connect(&redis.url_db(db), move |job: ActiveJob| {
                *seen.lock().unwrap() = Instant::now();
                let seen = seen.clone();
                async move {
                    if job.data["fail"] == json!(true) {
                        return Err(JobError::new("requested failure"));
                    }
                    let children = job.get_children_values().await.unwrap();
                    *seen.lock().unwrap() = Instant::now();
                    Ok(json!({"name": job.name, "children": children.len()}))
                }
            })
            .await
            .unwrap();
        let idle = last.clone();
        runs.push(tokio::spawn(worker.run_until(async move {
            while idle.lock().unwrap().elapsed() < Duration::from_millis(1500) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })));
    }
    for run in runs {
        run.await.unwrap().unwrap();
    }
}

async fn flows_are_added_like_node(major: BullmqMajor) {
    let redis = RedisServer::start();
    let flows = flows();
    let node_ids = node(&redis, 1, major, json!({"op": "add", "flows": flows}));
    let rust_ids = add_with_rust(&redis, 2, major, &flows).await;
    assert_eq!(rust_ids, node_ids);
    assert_same_keyspace(&dump(&redis, 2), &dump(&redis, 1), major);
}

async fn bulk_flows_are_added_like_node(major: BullmqMajor) {
    let redis = RedisServer::start();
    let flows = vec![depth_one(), stuck_parent()];
    let node_ids = node(&redis, 1, major, json!({"op": "addBulk", "flows": flows}));
    let parsed: Vec<FlowJob> = flows
        .iter()
        .map(|f| serde_json::from_value(f.clone()).unwrap())
        .collect();
    let producer = rust_producer(&redis, 2, major).await;
    let added = producer.add_bulk(&parsed).await.unwrap();
    let rust_ids: Vec<&str> = added.iter().map(|flow| flow.id.as_str()).collect();
    assert_eq!(json!(rust_ids), node_ids);
    assert_same_keyspace(&dump(&redis, 2), &dump(&redis, 1), major);
}

/// Node workers (db 1) and Rust workers (db 2) finish the same Node-added flows alike.
async fn flows_are_processed_like_node(major: BullmqMajor) {
    let redis = RedisServer::start();
    let flows = flows();
    for db in [1, 2] {
        node(&redis, db, major, json!({"op": "add", "flows": flows}));
    }
    let (mut node_names, mut rust_names) = (BTreeMap::new(), BTreeMap::new());
    dump_naming(&redis, 1, &mut node_names);
    dump_naming(&redis, 2, &mut rust_names);
    let node_run = work_with_node(&redis, 1, major, &QUEUES);
    work_with_rust(&redis, 2, major, &QUEUES).await;
    assert_same_keyspace(
        &settled(dump_naming(&redis, 2, &mut rust_names)),
        &settled(dump_naming(&redis, 1, &mut node_names)),
        major,
    );
    assert!(
        node_run["processed"]
            .as_array()
            .unwrap()
            .contains(&json!("root")),
        "the root ran: {node_run}"
    );
    let mut conn = redis.connection(2);
    let (root_state, stuck): (Option<f64>, Option<f64>) = redis::pipe()
        .zscore("bull:pq:failed", "root")
        .zscore("bull:pq:waiting-children", "stuck")
        .query(&mut conn)
        .unwrap();
    assert!(
        root_state.is_some() && stuck.is_some(),
        "root released early by its cpof child and failed (BullMQ does so), stuck still waits"
    );
    let (freed, mid_reason): (Option<f64>, Option<String>) = redis::pipe()
        .zscore("bull:cq:completed", "freed")
        .hget("bull:cq:mid", "failedReason")
        .query(&mut conn)
        .unwrap();
    assert!(freed.is_some(), "a removed failed child frees its parent");
    assert_eq!(
        mid_reason.as_deref(),
        Some("child bull:pq:leaf failed"),
        "fpof fails up the tree"
    );
}

/// Rust-added flows, cq worked by Node and pq by Rust at once, end as Node alone leaves them.
async fn mixed_workers_finish_flows_like_node(major: BullmqMajor) {
    let redis = RedisServer::start();
    let flows = flows();
    node(&redis, 1, major, json!({"op": "add", "flows": flows}));
    add_with_rust(&redis, 2, major, &flows).await;
    let (mut node_names, mut rust_names) = (BTreeMap::new(), BTreeMap::new());
    dump_naming(&redis, 1, &mut node_names);
    dump_naming(&redis, 2, &mut rust_names);
    work_with_node(&redis, 1, major, &QUEUES);
    let url_major = (redis.url_db(2), major);
    let node_half = tokio::task::spawn_blocking(move || {
        let (url, major) = url_major;
        testkit::node::run(
            "flow.js",
            &json!({"op": "work", "redisUrl": url, "major": major.number(), "prefix": PREFIX,
                    "queues": ["cq"], "idleMs": 3000, "timeoutMs": 30000}),
        )
    });
    work_with_rust(&redis, 2, major, &["pq"]).await;
    node_half.await.unwrap();
    assert_same_keyspace(
        &settled(dump_naming(&redis, 2, &mut rust_names)),
        &settled(dump_naming(&redis, 1, &mut node_names)),
        major,
    );
}

async fn get_flow_reads_the_tree_as_node_does(major: BullmqMajor) {
    let redis = RedisServer::start();
    add_with_rust(&redis, 1, major, &[depth_three()]).await;
    let node_tree = node(
        &redis,
        1,
        major,
        json!({"op": "getFlow", "queue": "pq", "id": "root", "depth": 10, "maxChildren": 20}),
    );
    let producer = rust_producer(&redis, 1, major).await;
    let tree = producer
        .get_flow("pq", &"root".into(), 10, 20)
        .await
        .unwrap()
        .unwrap();
    fn names(node: &bullmq_rs::JobNode) -> Value {
        let mut children: Vec<Value> = node.children.iter().map(names).collect();
        children.sort_by_key(|child| child["name"].to_string());
        json!({"name": node.job.name, "children": children})
    }
    fn node_names(node: &Value) -> Value {
        let mut children: Vec<Value> = node["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(node_names)
            .collect();
        children.sort_by_key(|child| child["name"].to_string());
        json!({"name": node["name"], "children": children})
    }
    assert_eq!(names(&tree), node_names(&node_tree));
    let shallow = producer
        .get_flow("pq", &"root".into(), 1, 20)
        .await
        .unwrap()
        .unwrap();
    assert!(shallow.children.is_empty());
}

/// A flow whose child id exists already and is completed: the child's result counts as
/// processed at once and the parent, with nothing pending, is released (BullMQ 6 once the
/// whole flow is written, BullMQ 5 right away); a child id pending elsewhere is adopted.
async fn a_flow_over_existing_children_is_like_node(major: BullmqMajor) {
    let redis = RedisServer::start();
    let stage = [
        vec![
            "HSET",
            "bull:cq:done",
            "name",
            "done",
            "data",
            "{}",
            "opts",
            "{\"attempts\":0}",
            "timestamp",
            "1700000000000",
            "delay",
            "0",
            "priority",
            "0",
            "returnvalue",
            "42",
            "finishedOn",
            "1700000000001",
            "atm",
            "1",
        ],
        vec!["ZADD", "bull:cq:completed", "1700000000001", "done"],
        vec![
            "HSET",
            "bull:cq:pending",
            "name",
            "pending",
            "data",
            "{}",
            "opts",
            "{\"attempts\":0}",
            "timestamp",
            "1700000000000",
            "delay",
            "0",
            "priority",
            "0",
        ],
        vec!["LPUSH", "bull:cq:wait", "pending"],
    ];
    for db in [1, 2] {
        let mut conn = redis.connection(db);
        for words in &stage {
            let mut cmd = redis::cmd(words[0]);
            for word in &words[1..] {
                cmd.arg(*word);
            }
            let _: redis::Value = cmd.query(&mut conn).unwrap();
        }
    }
    let flows = vec![
        json!({"name": "released", "queueName": "pq", "opts": {"jobId": "released", "priority": 2},
               "children": [{"name": "done", "queueName": "cq", "opts": {"jobId": "done"}}]}),
        json!({"name": "waits", "queueName": "pq", "opts": {"jobId": "waits"},
               "children": [{"name": "pending", "queueName": "cq", "opts": {"jobId": "pending"}}]}),
    ];
    let node_ids = node(&redis, 1, major, json!({"op": "add", "flows": flows}));
    let rust_ids = add_with_rust(&redis, 2, major, &flows).await;
    assert_eq!(rust_ids, node_ids);
    assert_same_keyspace(&dump(&redis, 2), &dump(&redis, 1), major);
    let state: Option<f64> = redis::cmd("ZSCORE")
        .arg("bull:pq:prioritized")
        .arg("released")
        .query(&mut redis.connection(2))
        .unwrap();
    assert!(
        state.is_some(),
        "the parent of a completed child is released"
    );
}

macro_rules! per_major {
    ($($case:ident),* $(,)?) => {
        mod bullmq6 {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $case() { super::$case(bullmq_rs::BullmqMajor::V6).await })*
        }
        mod bullmq5 {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $case() { super::$case(bullmq_rs::BullmqMajor::V5).await })*
        }
    };
}

per_major!(
    flows_are_added_like_node,
    bulk_flows_are_added_like_node,
    flows_are_processed_like_node,
    mixed_workers_finish_flows_like_node,
    get_flow_reads_the_tree_as_node_does,
    a_flow_over_existing_children_is_like_node,
);
