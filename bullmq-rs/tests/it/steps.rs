//! Producer scenarios written once as JSON steps and played by real Node BullMQ
//! (`node-worker-compat/produce.js`) or by this crate, so both sides do the same thing.
//!
//! Steps: `add {name, data, opts}`, `addBulk {jobs}`, `pause`, `resume`,
//! `clean {graceMs, limit, state}` (its removed ids), and `redis {cmd}`
//! (a raw command run by the test itself, e.g. to stage an active job; `{base}` in it is
//! replaced by the queue's key base).

use std::time::Duration;

use bullmq_rs::{BullmqMajor, JobOptions, JobState, NewJob, Queue};
use serde_json::{Value, json};
use testkit::RedisServer;

pub(crate) const PREFIX: &str = "bull";
pub(crate) const QUEUE: &str = "q";

/// Plays `steps` through Node BullMQ of `major` into db `db`; returns one result per step.
pub(crate) fn play_with_node(
    redis: &RedisServer,
    db: u8,
    major: BullmqMajor,
    steps: &[Value],
) -> Vec<Value> {
    let mut results = Vec::new();
    for segment in segments(steps) {
        match segment {
            Segment::Raw(step) => results.push(run_raw(redis, db, step)),
            Segment::Queue(batch) => {
                let input = json!({
                    "redisUrl": redis.url_db(db), "major": major.number(),
                    "prefix": PREFIX, "queue": QUEUE, "steps": batch,
                });
                let output = testkit::node::run("produce.js", &input);
                results.extend(
                    output
                        .as_array()
                        .expect("produce.js prints an array")
                        .iter()
                        .cloned(),
                );
            }
        }
    }
    results
}

/// Plays `steps` through this crate into db `db`; returns one result per step.
pub(crate) async fn play_with_rust(
    redis: &RedisServer,
    db: u8,
    major: BullmqMajor,
    steps: &[Value],
) -> Vec<Value> {
    let queue = Queue::builder(QUEUE)
        .prefix(PREFIX)
        .major(major)
        .connect(&redis.url_db(db))
        .await
        .unwrap();
    let mut results = Vec::new();
    for step in steps {
        let result = match step["op"].as_str().unwrap() {
            "add" => {
                let opts: JobOptions = serde_json::from_value(step["opts"].clone()).unwrap();
                match queue
                    .add(step["name"].as_str().unwrap(), &step["data"], opts)
                    .await
                {
                    Ok(id) => json!(id.as_str()),
                    Err(err) => json!({ "error": err.to_string() }),
                }
            }
            "addBulk" => {
                let jobs: Vec<NewJob> = step["jobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|job| {
                        let opts: JobOptions = serde_json::from_value(job["opts"].clone()).unwrap();
                        NewJob::new(job["name"].as_str().unwrap(), &job["data"], opts).unwrap()
                    })
                    .collect();
                let ids = queue.add_bulk(&jobs).await.unwrap();
                json!(ids.iter().map(|id| id.as_str()).collect::<Vec<_>>())
            }
            "pause" => queue.pause().await.map(|()| Value::Null).unwrap(),
            "resume" => queue.resume().await.map(|()| Value::Null).unwrap(),
            "clean" => {
                let grace = Duration::from_millis(step["graceMs"].as_u64().unwrap());
                let limit = step["limit"].as_u64().unwrap();
                let ids = queue
                    .clean(grace, limit, job_state(step["state"].as_str().unwrap()))
                    .await
                    .unwrap();
                json!(ids.iter().map(|id| id.as_str()).collect::<Vec<_>>())
            }
            "redis" => run_raw(redis, db, step),
            other => panic!("unknown step {other}"),
        };
        results.push(result);
    }
    results
}

enum Segment<'a> {
    Raw(&'a Value),
    Queue(Vec<&'a Value>),
}

fn segments(steps: &[Value]) -> Vec<Segment<'_>> {
    let mut out: Vec<Segment<'_>> = Vec::new();
    for step in steps {
        if step["op"] == "redis" {
            out.push(Segment::Raw(step));
        } else if let Some(Segment::Queue(batch)) = out.last_mut() {
            batch.push(step);
        } else {
            out.push(Segment::Queue(vec![step]));
        }
    }
    out
}

fn run_raw(redis: &RedisServer, db: u8, step: &Value) -> Value {
    let base = format!("{PREFIX}:{QUEUE}:");
    let words: Vec<String> = step["cmd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|word| word.as_str().unwrap().replace("{base}", &base))
        .collect();
    let mut cmd = redis::cmd(&words[0]);
    for word in &words[1..] {
        cmd.arg(word);
    }
    let _: redis::Value = cmd.query(&mut redis.connection(db)).unwrap();
    Value::Null
}

/// One `add` step.
pub(crate) fn add(name: &str, data: Value, opts: Value) -> Value {
    json!({ "op": "add", "name": name, "data": data, "opts": opts })
}

/// A raw Redis command step.
pub(crate) fn raw(words: &[&str]) -> Value {
    json!({ "op": "redis", "cmd": words })
}

/// One `clean` step: `state` as BullMQ names it (`waiting`, `delayed`, `completed`, ...).
pub(crate) fn clean(grace_ms: u64, limit: u64, state: &str) -> Value {
    json!({ "op": "clean", "graceMs": grace_ms, "limit": limit, "state": state })
}

fn job_state(name: &str) -> JobState {
    [
        JobState::Waiting,
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
