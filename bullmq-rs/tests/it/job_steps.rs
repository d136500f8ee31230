//! The harness of the job-method differential tests (`job_methods.rs`, `job_edits.rs`):
//! steps played by Node BullMQ (`node-worker-compat/control.js`, db 1) and by this crate
//! (db 2), outcomes and key spaces compared; and the steps that stage jobs the same way on
//! both sides. An outcome is `ok`, a number or bool a method returns, or the typed
//! refusal: `missing`, `locked`, `not-in-state`, `scheduler-run`.

use std::time::Duration;

use bullmq_rs::{
    BullmqMajor, Error, JobId, JobState, Queue, Refusal, RemoveOptions, RetryJobsOptions,
    RetryOptions,
};
use serde_json::{Value, json};
use testkit::{RedisServer, dump_keyspace};

use crate::differential::assert_same_keyspace;
use crate::steps::{PREFIX, QUEUE, add, play_with_node, play_with_rust, raw};

pub(crate) const FINISHED_AT: &str = "1700000000000";

pub(crate) fn remove(id: &str, remove_children: bool) -> Value {
    json!({ "op": "remove", "id": id, "removeChildren": remove_children })
}

pub(crate) fn retry(id: &str, state: &str, reset_made: bool, reset_started: bool) -> Value {
    json!({ "op": "retry", "id": id, "state": state,
            "resetAttemptsMade": reset_made, "resetAttemptsStarted": reset_started })
}

pub(crate) fn promote(id: &str) -> Value {
    json!({ "op": "promote", "id": id })
}

pub(crate) fn retry_jobs(state: &str, count: u32, timestamp: Option<u64>) -> Value {
    json!({ "op": "retryJobs", "state": state, "count": count, "timestamp": timestamp })
}

pub(crate) fn promote_jobs(count: u32) -> Value {
    json!({ "op": "promoteJobs", "count": count })
}

fn state_named(name: &str) -> JobState {
    match name {
        "failed" => JobState::Failed,
        "completed" => JobState::Completed,
        other => panic!("no finished state {other}"),
    }
}

/// Moves waiting (or prioritized) job `id` into `set` as a worker would have finished it.
pub(crate) fn finished(id: &str, set: &str, attempts: &str) -> Vec<Value> {
    let (field, value) = if set == "completed" {
        ("returnvalue", r#"{"ok":true}"#)
    } else {
        ("failedReason", "boom")
    };
    vec![
        raw(&["LREM", "{base}wait", "0", id]),
        raw(&["ZREM", "{base}prioritized", id]),
        raw(&["ZADD", &format!("{{base}}{set}"), FINISHED_AT, id]),
        raw(&[
            "HSET",
            &format!("{{base}}{id}"),
            "processedOn",
            FINISHED_AT,
            "finishedOn",
            FINISHED_AT,
            "atm",
            attempts,
            "ats",
            attempts,
            field,
            value,
            "stacktrace",
            r#"["Error: boom"]"#,
        ]),
    ]
}

/// Moves waiting job `id` into `waiting-children`, as a parent of a flow.
pub(crate) fn waiting_for_children(id: &str) -> Vec<Value> {
    vec![
        raw(&["LREM", "{base}wait", "0", id]),
        raw(&["ZADD", "{base}waiting-children", FINISHED_AT, id]),
    ]
}

/// A child of `parent`, its options in `JobOptions` order (the order this crate stores).
pub(crate) fn child_of(parent: &str, id: &str, extra: Value) -> Value {
    let mut opts = json!({ "jobId": id });
    let fields = opts.as_object_mut().unwrap();
    fields.extend(extra.as_object().unwrap().clone());
    fields.insert("parent".into(), json!({ "id": parent, "queue": "bull:q" }));
    add(id, json!({}), opts)
}

pub(crate) fn custom(id: &str, extra: Value) -> Value {
    let mut opts = json!({ "jobId": id });
    opts.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    add(id, json!({ "id": id }), opts)
}

/// A step of operation `name` with `fields`.
pub(crate) fn op(name: &str, fields: Value) -> Value {
    let mut step = json!({ "op": name });
    step.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    step
}

pub(crate) async fn compare(major: BullmqMajor, steps: Vec<Value>) {
    let redis = RedisServer::start();
    let node_results = play_node(&redis, 1, major, &steps);
    let rust_results = play_rust(&redis, 2, major, &steps).await;
    assert_eq!(
        rust_results, node_results,
        "outcomes differ (left: Rust, right: Node BullMQ {major})"
    );
    assert!(
        !node_results
            .iter()
            .any(|outcome| outcome.get("error").is_some()),
        "a step failed: {node_results:?}"
    );
    let node = dump_keyspace(&mut redis.connection(1), "bull:*");
    let rust = dump_keyspace(&mut redis.connection(2), "bull:*");
    assert_same_keyspace(&rust, &node, major);
}

/// Raw steps run by the test itself; every run of other steps by one `control.js`.
fn play_node(redis: &RedisServer, db: u8, major: BullmqMajor, steps: &[Value]) -> Vec<Value> {
    let mut results = Vec::new();
    let mut batch: Vec<Value> = Vec::new();
    let flush = |batch: &mut Vec<Value>, results: &mut Vec<Value>| {
        if batch.is_empty() {
            return;
        }
        let input = json!({
            "redisUrl": redis.url_db(db), "major": major.number(),
            "prefix": PREFIX, "queue": QUEUE, "steps": std::mem::take(batch),
        });
        let output = testkit::node::run("control.js", &input);
        results.extend(output.as_array().expect("an array").iter().cloned());
    };
    for step in steps {
        if step["op"] == "redis" {
            flush(&mut batch, &mut results);
            results.extend(play_with_node(redis, db, major, std::slice::from_ref(step)));
        } else {
            batch.push(step.clone());
        }
    }
    flush(&mut batch, &mut results);
    results
}

async fn play_rust(redis: &RedisServer, db: u8, major: BullmqMajor, steps: &[Value]) -> Vec<Value> {
    let queue = Queue::builder(QUEUE)
        .prefix(PREFIX)
        .major(major)
        .connect(&redis.url_db(db))
        .await
        .unwrap();
    let mut results = Vec::new();
    for step in steps {
        let outcome = match control(&queue, step).await {
            Some(outcome) => outcome,
            None => match edit(&queue, step).await {
                Some(outcome) => outcome,
                None => {
                    play_with_rust(redis, db, major, std::slice::from_ref(step)).await[0].clone()
                }
            },
        };
        results.push(outcome);
    }
    results
}

fn step_id(step: &Value) -> JobId {
    JobId::from(step["id"].as_str().unwrap_or_default())
}

fn int(step: &Value, field: &str) -> u32 {
    u32::try_from(step[field].as_u64().unwrap()).unwrap()
}

fn millis(step: &Value, field: &str) -> Duration {
    Duration::from_millis(step[field].as_u64().unwrap())
}

/// Remove, retry, promote, drain: `None` for another op.
async fn control(queue: &Queue, step: &Value) -> Option<Value> {
    let id = step_id(step);
    let outcome = match step["op"].as_str().unwrap() {
        "remove" => {
            let opts = RemoveOptions {
                remove_children: step["removeChildren"].as_bool().unwrap(),
            };
            queue.remove(&id, opts).await
        }
        "retry" => {
            let opts = RetryOptions {
                reset_attempts_made: step["resetAttemptsMade"].as_bool().unwrap(),
                reset_attempts_started: step["resetAttemptsStarted"].as_bool().unwrap(),
            };
            let state = state_named(step["state"].as_str().unwrap());
            queue.retry_job(&id, state, opts).await
        }
        "promote" => queue.promote_job(&id).await,
        "retryJobs" => {
            let opts = RetryJobsOptions {
                count: int(step, "count"),
                timestamp: step["timestamp"].as_u64(),
            };
            let state = state_named(step["state"].as_str().unwrap());
            queue.retry_jobs(state, opts).await
        }
        "promoteJobs" => queue.promote_jobs(int(step, "count")).await,
        "drain" => queue.drain(step["delayed"].as_bool().unwrap()).await,
        _ => return None,
    };
    Some(outcome_name(outcome))
}

/// Changes to a job's fields, the queue's limits and housekeeping: `None` for another op.
async fn edit(queue: &Queue, step: &Value) -> Option<Value> {
    let id = step_id(step);
    let outcome = match step["op"].as_str().unwrap() {
        "changeDelay" => queue.change_delay(&id, millis(step, "delay")).await,
        "changePriority" => {
            let lifo = step["lifo"].as_bool().unwrap();
            queue
                .change_priority(&id, int(step, "priority"), lifo)
                .await
        }
        "updateData" => queue.update_data(&id, &step["data"]).await,
        "updateProgress" => queue.update_progress(&id, &step["progress"]).await,
        "log" => {
            let keep = step["keepLogs"]
                .as_u64()
                .map(|keep| u32::try_from(keep).unwrap());
            let logged = queue.log(&id, step["line"].as_str().unwrap(), keep).await;
            return Some(logged.map_or_else(|err| outcome_name(Err(err)), |kept| json!(kept)));
        }
        "clearLogs" => queue.clear_logs(&id, int(step, "keep")).await,
        "trimEvents" => queue
            .trim_events(step["maxLen"].as_u64().unwrap())
            .await
            .map(drop),
        "removeDeduplicationKey" => {
            let dedup_id = step["dedupId"].as_str().unwrap();
            return Some(json!(
                queue.remove_deduplication_key(dedup_id).await.unwrap()
            ));
        }
        "removeJobDeduplicationKey" => {
            let freed = queue.remove_job_deduplication_key(&id).await;
            return Some(freed.map_or_else(|err| outcome_name(Err(err)), |freed| json!(freed)));
        }
        "setGlobalConcurrency" => queue.set_global_concurrency(int(step, "concurrency")).await,
        "removeGlobalConcurrency" => queue.remove_global_concurrency().await,
        "setGlobalRateLimit" => {
            let duration = millis(step, "duration");
            queue
                .set_global_rate_limit(int(step, "max"), duration)
                .await
        }
        "removeGlobalRateLimit" => queue.remove_global_rate_limit().await,
        "rateLimit" => queue.rate_limit(millis(step, "expire")).await,
        _ => return None,
    };
    Some(outcome_name(outcome))
}

fn outcome_name(outcome: bullmq_rs::Result<()>) -> Value {
    match outcome {
        Ok(()) => json!("ok"),
        Err(Error::JobNotFound(_)) => json!("missing"),
        Err(Error::JobRefused { reason, .. }) => match reason {
            Refusal::Locked => json!("locked"),
            Refusal::NotInState(_) => json!("not-in-state"),
            Refusal::SchedulerRun => json!("scheduler-run"),
            other => json!({ "error": other.to_string() }),
        },
        Err(other) => json!({ "error": other.to_string() }),
    }
}
