//! The `queue` example's command-line contract, run as the real binary against a private
//! Redis: what it prints is what Node BullMQ's `Queue` answers on the same keys (counts,
//! `Job.asJSON()` lines in `getJobs` order, states, logs, deduplication owners, workers),
//! for both majors; a mutating command prints `{"ok":true}`; exit codes 2 (bad input), 1
//! (Redis unreachable), 3 (no such job), 4 (refused by BullMQ's rules).

use std::process::{Command, Output};

use bullmq_rs::{BullmqMajor, FlowJob, FlowProducer, JobId, JobOptions, Queue};
use serde_json::{Value, json};
use testkit::RedisServer;

const QUEUE: &str = "q";

/// Runs the example on queue `q` of `url` with BullMQ `major`; `args` follow the queue.
fn queue_cmd(url: &str, major: BullmqMajor, args: &[&str]) -> Output {
    Command::new(testkit::example_binary("queue"))
        .args(["--redis-url", url, "--bullmq-major"])
        .arg(major.number().to_string())
        .arg(QUEUE)
        .args(args)
        .env_remove("REDIS_URL")
        .output()
        .expect("the queue example is built by cargo test")
}

/// The lines printed by a run that must succeed.
fn lines(output: &Output) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts exit `code`, nothing on stdout and one `error: ` line on stderr.
fn fails_with(output: &Output, code: i32) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

fn opts(json: Value) -> JobOptions {
    serde_json::from_value(json).unwrap()
}

/// Jobs in every state of `major`: waiting (one with logs, one deduplicated), prioritized,
/// delayed, completed, failed, active (locked), waiting for children, a flow's parent
/// and child (`failParentOnFailure`), and, the queue
/// paused, one added while paused (BullMQ 5 parks it in `paused`). Returns the queue.
async fn every_state(redis: &RedisServer, major: BullmqMajor) -> Queue {
    let queue = Queue::builder(QUEUE)
        .major(major)
        .connect(&redis.url())
        .await
        .unwrap();
    let add = |name: &'static str, data: Value, options: Value| {
        let queue = queue.clone();
        async move { queue.add(name, &data, opts(options)).await.unwrap() }
    };
    let first = add("welcome", json!({"to": "ada", "n": 1}), json!({})).await;
    for line in ["sent", "opened", "clicked"] {
        queue.log(&first, line, None).await.unwrap();
    }
    add(
        "retrying",
        json!([1, "two"]),
        json!({"attempts": 3, "backoff": 1000}),
    )
    .await;
    add("urgent", json!({}), json!({"priority": 2})).await;
    add(
        "later",
        json!({}),
        json!({"delay": 60000, "removeOnComplete": true}),
    )
    .await;
    add("once", json!({}), json!({"deduplication": {"id": "d1"}})).await;
    let mut conn = redis.connection(0);
    let base = format!("bull:{QUEUE}:");
    let mut cmd = |args: &[&str]| {
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(arg.replace("{base}", &base));
        }
        command.exec(&mut conn).unwrap();
    };
    for (id, place) in [
        ("c1", "completed"),
        ("f1", "failed"),
        ("f2", "failed"),
        ("a1", "active"),
        ("parent", "waiting-children"),
    ] {
        add(
            "custom",
            json!({"id": id}),
            json!({"jobId": id, "keepLogs": 5}),
        )
        .await;
        cmd(&["LREM", "{base}wait", "0", id]);
        let job = format!("{{base}}{id}");
        match place {
            "active" => {
                cmd(&["LPUSH", "{base}active", id]);
                cmd(&["HSET", &job, "processedOn", "1700000001000", "ats", "1"]);
                cmd(&["SET", &format!("{job}:lock"), "token"]);
            }
            "completed" => {
                cmd(&["ZADD", "{base}completed", "1700000002000", id]);
                cmd(&["HSET", &job, "returnvalue", r#"{"sent":true}"#, "atm", "1"]);
                cmd(&["HSET", &job, "processedOn", "1700000001000", "ats", "1"]);
                cmd(&["HSET", &job, "finishedOn", "1700000002000"]);
            }
            "failed" => {
                cmd(&["ZADD", "{base}failed", "1700000003000", id]);
                cmd(&["HSET", &job, "failedReason", "boom \"quoted\"", "atm", "1"]);
                cmd(&["HSET", &job, "stacktrace", r#"["Error: boom\n    at x"]"#]);
                cmd(&["HSET", &job, "processedOn", "1700000001000", "ats", "1"]);
                cmd(&[
                    "HSET",
                    &job,
                    "finishedOn",
                    "1700000003000",
                    "progress",
                    "42",
                ]);
            }
            _ => cmd(&["ZADD", "{base}waiting-children", "1700000004000", id]),
        }
    }
    let flow: FlowJob = serde_json::from_value(json!({
        "name": "invoice", "queueName": QUEUE, "opts": {"jobId": "flow-parent"},
        "children": [{
            "name": "line", "queueName": QUEUE, "data": {"n": 1},
            "opts": {"jobId": "flow-child", "failParentOnFailure": true},
        }],
    }))
    .unwrap();
    let flows = FlowProducer::connect(&redis.url()).await.unwrap();
    flows.add(&flow).await.unwrap();
    queue.pause().await.unwrap();
    add(
        "while-paused",
        json!({"x": null}),
        json!({"lifo": true, "jobId": "late"}),
    )
    .await;
    queue
}

const STATES: [&str; 8] = [
    "waiting",
    "active",
    "delayed",
    "prioritized",
    "completed",
    "failed",
    "paused",
    "waiting-children",
];

/// Node's answers to getters.js `calls` on the queue of `redis`.
fn node(redis: &RedisServer, major: BullmqMajor, calls: &[Value]) -> Vec<Value> {
    let input = json!({
        "redisUrl": redis.url(), "major": major.number(),
        "prefix": "bull", "queue": QUEUE, "calls": calls,
    });
    let output = testkit::node::run("getters.js", &input);
    output
        .as_array()
        .expect("getters.js prints an array")
        .clone()
}

/// Node's JSON values as the lines the example must print (serde_json keeps Node's order).
fn as_lines(values: &Value) -> Vec<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect()
}

async fn reads_answer_as_node(major: BullmqMajor) {
    let redis = RedisServer::start();
    let url = redis.url();
    every_state(&redis, major).await;
    let run = |args: &[&str]| lines(&queue_cmd(&url, major, args));

    let counts_order = [
        "active",
        "completed",
        "delayed",
        "failed",
        "paused",
        "prioritized",
        "waiting",
        "waiting-children",
    ];
    let windows: [(&str, &str, bool); 3] =
        [("0", "-1", false), ("0", "1", true), ("1", "2", false)];
    let mut calls = vec![json!({"op": "getJobCounts", "types": counts_order})];
    let mut ours = vec![run(&["counts"])];
    for state in STATES {
        for (start, end, asc) in windows {
            calls.push(json!({
                "op": "asJSON", "types": [state], "start": start.parse::<i64>().unwrap(),
                "end": end.parse::<i64>().unwrap(), "asc": asc,
            }));
            let mut args = vec!["jobs", state, "--start", start, "--end", end];
            if asc {
                args.push("--asc");
            }
            ours.push(run(&args));
        }
    }
    calls.push(json!({"op": "getJobLogs", "id": "1", "start": 0, "end": -1, "asc": true}));
    ours.push(run(&["logs", "1"]));
    calls.push(json!({"op": "getJobLogs", "id": "1", "start": 1, "end": 5, "asc": true}));
    ours.push(run(&["logs", "1", "--start", "1", "--end", "5"]));
    for dedup in ["d1", "nobody"] {
        calls.push(json!({"op": "getDeduplicationJobId", "id": dedup}));
        ours.push(run(&["dedup", dedup]));
    }
    let node_answers = node(&redis, major, &calls);

    let mut report = String::new();
    for ((call, ours), theirs) in calls.iter().zip(&ours).zip(&node_answers) {
        let expected = match call["op"].as_str().unwrap() {
            "asJSON" => as_lines(theirs),
            "getJobLogs" => as_lines(&theirs["logs"]),
            _ => vec![theirs.to_string()],
        };
        if *ours != expected {
            report.push_str(&format!("\n{call}\n  Node: {expected:?}\n  Rust: {ours:?}"));
        }
    }
    assert!(
        report.is_empty(),
        "differs from Node BullMQ {major}:{report}"
    );
    assert_eq!(ours[0].len(), 1);
    assert!(
        ours.iter().any(|lines| lines.len() > 1),
        "some lists are not empty"
    );

    // `get` is the job as `jobs` prints it, plus its state, which is Node's getJobState.
    let ids = [
        "1",
        "3",
        "4",
        "c1",
        "f1",
        "a1",
        "parent",
        "flow-child",
        "late",
    ];
    let states: Vec<Value> = ids
        .iter()
        .map(|id| json!({"op": "getJobState", "id": id}))
        .collect();
    let node_states = node(&redis, major, &states);
    let all_jobs = node(
        &redis,
        major,
        &[json!({"op": "asJSON", "types": [], "start": 0, "end": -1, "asc": false})],
    );
    for (id, state) in ids.iter().zip(&node_states) {
        let mut job = all_jobs[0]
            .as_array()
            .unwrap()
            .iter()
            .find(|job| job["id"] == *id)
            .unwrap_or_else(|| panic!("Node lists job {id}"))
            .clone();
        job["state"] = state.clone();
        assert_eq!(run(&["get", id]), [job.to_string()], "get {id}");
    }
}

#[tokio::test]
async fn reads_answer_as_node_bullmq6() {
    reads_answer_as_node(BullmqMajor::V6).await
}

#[tokio::test]
async fn reads_answer_as_node_bullmq5() {
    reads_answer_as_node(BullmqMajor::V5).await
}

#[tokio::test]
async fn workers_lists_the_node_workers_connected() {
    let redis = RedisServer::start();
    let major = BullmqMajor::V6;
    let input = json!({
        "redisUrl": redis.url(), "major": major.number(), "prefix": "bull",
        "queue": QUEUE, "workers": [{}, {"name": "mailer"}],
    });
    let watcher = testkit::node::Watcher::start("getters.js", &input);
    let ours = lines(&queue_cmd(&redis.url(), major, &["workers"]));
    redis::cmd("SET")
        .arg(format!("bull:{QUEUE}:getters-done"))
        .arg("1")
        .exec(&mut redis.connection(0))
        .unwrap();
    let node = watcher.finish();
    // Counters (age, idle, memory, last command) move between the two reads.
    let stable = |worker: &Value| {
        let fields = worker.as_object().unwrap();
        let mut keys: Vec<&String> = fields.keys().collect();
        keys.sort();
        let same: Vec<&Value> = ["id", "addr", "laddr", "fd", "name", "rawname", "db"]
            .iter()
            .map(|field| &fields[*field])
            .collect();
        format!("{keys:?} {same:?}")
    };
    let mut ours: Vec<String> = ours
        .iter()
        .map(|line| stable(&serde_json::from_str(line).unwrap()))
        .collect();
    let mut theirs: Vec<String> = node.as_array().unwrap().iter().map(stable).collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours.len(), 2, "{ours:#?}");
    assert_eq!(ours, theirs);
}

#[tokio::test]
async fn retry_state_failed_moves_the_failed_jobs_back() {
    let redis = RedisServer::start();
    let major = BullmqMajor::V6;
    let queue = every_state(&redis, major).await;
    let run = |args: &[&str]| lines(&queue_cmd(&redis.url(), major, args));
    let before = queue.get_job_counts().await.unwrap();

    assert_eq!(
        run(&["retry", "--state", "failed", "--count", "1"]),
        [r#"{"ok":true}"#]
    );

    let after = queue.get_job_counts().await.unwrap();
    assert_eq!((before.failed, after.failed), (2, 0));
    assert_eq!(after.waiting, before.waiting + 2);
    for id in ["f1", "f2"] {
        let state = queue.get_job_state(&JobId::from(id)).await.unwrap();
        assert_eq!(state.as_str(), "waiting", "{id}");
    }
    assert_eq!(run(&["concurrency", "3"]), [r#"{"ok":true}"#]);
    assert_eq!(queue.get_global_concurrency().await.unwrap(), Some(3));
    assert_eq!(
        run(&["clean", "completed", "--grace-ms", "0"]),
        [r#"{"removed":1}"#]
    );
}

#[tokio::test]
async fn refusals_exit_3_and_4_with_one_line() {
    let redis = RedisServer::start();
    let major = BullmqMajor::V6;
    every_state(&redis, major).await;
    let run = |args: &[&str]| queue_cmd(&redis.url(), major, args);

    for missing in [
        &["get", "nope"][..],
        &["retry", "nope"],
        &["remove", "nope"],
    ] {
        fails_with(&run(missing), 3);
    }
    // A waiting job cannot be retried, a locked one not removed, a queue with an active
    // job not obliterated without --force.
    fails_with(&run(&["retry", "1"]), 4);
    fails_with(&run(&["remove", "a1"]), 4);
    fails_with(&run(&["obliterate"]), 4);
    assert_eq!(lines(&run(&["obliterate", "--force"])), [r#"{"ok":true}"#]);
    let counts = lines(&run(&["counts"]));
    assert_eq!(
        counts,
        [
            r#"{"active":0,"completed":0,"delayed":0,"failed":0,"paused":0,"prioritized":0,"waiting":0,"waiting-children":0}"#
        ]
    );
}

#[test]
fn bad_input_exits_2_and_unreachable_redis_exits_1() {
    let redis = RedisServer::start();
    let url = redis.url();
    for args in [
        &[][..],
        &["counts", "extra"],
        &["frob"],
        &["jobs"],
        &["jobs", "bogus"],
        &["jobs", "unknown"],
        &["jobs", "failed", "--start", "x"],
        &["jobs", "failed", "--force"],
        &["get"],
        &["retry"],
        &["retry", "1", "--state", "active"],
        &["clean", "failed"],
        &["concurrency", "0"],
        &["rate-limit", "--max", "1"],
        &["promote"],
        &["counts", "--nope", "1"],
    ] {
        fails_with(&queue_cmd(&url, BullmqMajor::V6, args), 2);
    }
    let bad_major = Command::new(testkit::example_binary("queue"))
        .args(["--redis-url", &url, "--bullmq-major", "7", QUEUE, "counts"])
        .output()
        .unwrap();
    fails_with(&bad_major, 2);
    fails_with(
        &queue_cmd("redis://127.0.0.1:1", BullmqMajor::V6, &["counts"]),
        1,
    );
}
