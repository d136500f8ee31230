//! Job methods against Node BullMQ (6 and 5): the same jobs, staged the same way, then
//! removed or retried by Node (`node-worker-compat/control.js`, db 1) and by this crate
//! (db 2), must leave the same key space, events included, and give the same outcome
//! (`ok`, or the typed refusal: `missing`, `locked`, `not-in-state`, `scheduler-run`).

use bullmq_rs::{
    BullmqMajor, Error, JobId, JobState, Queue, Refusal, RemoveOptions, RetryJobsOptions,
    RetryOptions,
};
use std::time::Duration;

use serde_json::{Value, json};
use testkit::{RedisServer, dump_keyspace};

use crate::differential::assert_same_keyspace;
use crate::steps::{PREFIX, QUEUE, add, play_with_node, play_with_rust, raw};

const FINISHED_AT: &str = "1700000000000";

fn remove(id: &str, remove_children: bool) -> Value {
    json!({ "op": "remove", "id": id, "removeChildren": remove_children })
}

fn retry(id: &str, state: &str, reset_made: bool, reset_started: bool) -> Value {
    json!({ "op": "retry", "id": id, "state": state,
            "resetAttemptsMade": reset_made, "resetAttemptsStarted": reset_started })
}

fn promote(id: &str) -> Value {
    json!({ "op": "promote", "id": id })
}

fn retry_jobs(state: &str, count: u32, timestamp: Option<u64>) -> Value {
    json!({ "op": "retryJobs", "state": state, "count": count, "timestamp": timestamp })
}

fn promote_jobs(count: u32) -> Value {
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
fn finished(id: &str, set: &str, attempts: &str) -> Vec<Value> {
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
fn waiting_for_children(id: &str) -> Vec<Value> {
    vec![
        raw(&["LREM", "{base}wait", "0", id]),
        raw(&["ZADD", "{base}waiting-children", FINISHED_AT, id]),
    ]
}

/// A child of `parent`, its options in `JobOptions` order (the order this crate stores).
fn child_of(parent: &str, id: &str, extra: Value) -> Value {
    let mut opts = json!({ "jobId": id });
    let fields = opts.as_object_mut().unwrap();
    fields.extend(extra.as_object().unwrap().clone());
    fields.insert("parent".into(), json!({ "id": parent, "queue": "bull:q" }));
    add(id, json!({}), opts)
}

fn custom(id: &str, extra: Value) -> Value {
    let mut opts = json!({ "jobId": id });
    opts.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    add(id, json!({ "id": id }), opts)
}

async fn compare(major: BullmqMajor, steps: Vec<Value>) {
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
        let id = JobId::from(step["id"].as_str().unwrap_or_default());
        let outcome = match step["op"].as_str().unwrap() {
            "remove" => {
                let opts = RemoveOptions {
                    remove_children: step["removeChildren"].as_bool().unwrap(),
                };
                queue.remove(&id, opts).await
            }
            "promote" => queue.promote_job(&id).await,
            "retryJobs" => {
                let opts = RetryJobsOptions {
                    count: u32::try_from(step["count"].as_u64().unwrap()).unwrap(),
                    timestamp: step["timestamp"].as_u64(),
                };
                let state = state_named(step["state"].as_str().unwrap());
                queue.retry_jobs(state, opts).await
            }
            "promoteJobs" => {
                let count = u32::try_from(step["count"].as_u64().unwrap()).unwrap();
                queue.promote_jobs(count).await
            }
            "changeDelay" => {
                let delay = Duration::from_millis(step["delay"].as_u64().unwrap());
                queue.change_delay(&id, delay).await
            }
            "changePriority" => {
                let priority = u32::try_from(step["priority"].as_u64().unwrap()).unwrap();
                let lifo = step["lifo"].as_bool().unwrap();
                queue.change_priority(&id, priority, lifo).await
            }
            "updateData" => queue.update_data(&id, &step["data"]).await,
            "updateProgress" => queue.update_progress(&id, &step["progress"]).await,
            "log" => {
                let keep = step["keepLogs"]
                    .as_u64()
                    .map(|keep| u32::try_from(keep).unwrap());
                let line = step["line"].as_str().unwrap();
                results.push(match queue.log(&id, line, keep).await {
                    Ok(kept) => json!(kept),
                    Err(err) => outcome_name(Err(err)),
                });
                continue;
            }
            "clearLogs" => {
                let keep = u32::try_from(step["keep"].as_u64().unwrap()).unwrap();
                queue.clear_logs(&id, keep).await
            }
            "trimEvents" => queue
                .trim_events(step["maxLen"].as_u64().unwrap())
                .await
                .map(drop),
            "removeDeduplicationKey" => {
                let dedup_id = step["dedupId"].as_str().unwrap();
                results.push(json!(
                    queue.remove_deduplication_key(dedup_id).await.unwrap()
                ));
                continue;
            }
            "drain" => queue.drain(step["delayed"].as_bool().unwrap()).await,
            "setGlobalConcurrency" => {
                let concurrency = step["concurrency"].as_u64().unwrap();
                let concurrency = u32::try_from(concurrency).unwrap();
                queue.set_global_concurrency(concurrency).await
            }
            "removeGlobalConcurrency" => queue.remove_global_concurrency().await,
            "setGlobalRateLimit" => {
                let max = u32::try_from(step["max"].as_u64().unwrap()).unwrap();
                let duration = Duration::from_millis(step["duration"].as_u64().unwrap());
                queue.set_global_rate_limit(max, duration).await
            }
            "removeGlobalRateLimit" => queue.remove_global_rate_limit().await,
            "rateLimit" => {
                let expire = Duration::from_millis(step["expire"].as_u64().unwrap());
                queue.rate_limit(expire).await
            }
            "retry" => {
                let state = state_named(step["state"].as_str().unwrap());
                let opts = RetryOptions {
                    reset_attempts_made: step["resetAttemptsMade"].as_bool().unwrap(),
                    reset_attempts_started: step["resetAttemptsStarted"].as_bool().unwrap(),
                };
                queue.retry_job(&id, state, opts).await
            }
            _ => {
                let played = play_with_rust(redis, db, major, std::slice::from_ref(step)).await;
                results.extend(played);
                continue;
            }
        };
        results.push(outcome_name(outcome));
    }
    results
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

/// One job in each state, one with a deduplication slot and logs; an unknown id; a locked
/// active job, refused.
fn remove_from_every_state() -> Vec<Value> {
    let mut steps = vec![
        custom("w", json!({ "deduplication": { "id": "d-w" } })),
        custom("p", json!({ "priority": 4 })),
        custom("d", json!({ "delay": 60000 })),
        custom("c", json!({})),
        custom("f", json!({})),
        custom("a", json!({})),
        custom("lk", json!({})),
        custom("free", json!({})),
        raw(&["RPUSH", "{base}w:logs", "line 1", "line 2"]),
        raw(&["LREM", "{base}wait", "0", "lk"]),
        raw(&["LPUSH", "{base}active", "lk"]),
        raw(&["SET", "{base}lk:lock", "a-worker-token"]),
        raw(&["LREM", "{base}wait", "0", "free"]),
        raw(&["LPUSH", "{base}active", "free"]),
    ];
    steps.extend(finished("c", "completed", "1"));
    steps.extend(finished("f", "failed", "2"));
    for id in ["w", "p", "d", "c", "f", "free", "lk", "nope"] {
        steps.push(remove(id, true));
    }
    steps
}

/// The last pending child removed releases its parent to the front of `wait` (delay and
/// priority ignored); one removed before it only leaves the dependencies.
fn removed_children_release_their_parent() -> Vec<Value> {
    let mut steps = vec![custom("parent", json!({ "priority": 2 }))];
    steps.extend(waiting_for_children("parent"));
    steps.extend([
        child_of("parent", "c1", json!({})),
        child_of("parent", "c2", json!({ "delay": 5000 })),
        custom("other", json!({})),
        remove("c1", true),
        remove("c2", false),
    ]);
    steps
}

/// A parent removed with its children: pending, processed and failed ones, depth first;
/// without children, its children stay, pointing at a parent that is gone.
fn removed_parent_takes_its_children() -> Vec<Value> {
    let mut steps = vec![custom("parent", json!({})), custom("keep", json!({}))];
    steps.extend(waiting_for_children("parent"));
    steps.extend(waiting_for_children("keep"));
    steps.extend([
        child_of("parent", "pending", json!({})),
        child_of("parent", "done", json!({})),
        child_of("parent", "bad", json!({ "failParentOnFailure": true })),
        child_of("keep", "kept", json!({})),
    ]);
    steps.extend(finished("done", "completed", "1"));
    steps.extend(finished("bad", "failed", "1"));
    steps.extend([
        raw(&[
            "SREM",
            "{base}parent:dependencies",
            "bull:q:done",
            "bull:q:bad",
        ]),
        raw(&[
            "HSET",
            "{base}parent:processed",
            "bull:q:done",
            r#"{"ok":true}"#,
        ]),
        raw(&[
            "ZADD",
            "{base}parent:unsuccessful",
            FINISHED_AT,
            "bull:q:bad",
        ]),
        remove("parent", true),
        remove("keep", false),
    ]);
    steps
}

/// A parent whose pending child is locked is refused; a scheduler's pending run too.
fn locked_child_and_scheduler_run_are_refused() -> Vec<Value> {
    let run = format!("repeat:sched:{FINISHED_AT}");
    let mut steps = vec![custom("parent", json!({}))];
    steps.extend(waiting_for_children("parent"));
    steps.extend([
        child_of("parent", "busy", json!({})),
        raw(&["LREM", "{base}wait", "0", "busy"]),
        raw(&["LPUSH", "{base}active", "busy"]),
        raw(&["SET", "{base}busy:lock", "a-worker-token"]),
        raw(&["ZADD", "{base}repeat", FINISHED_AT, "sched"]),
        raw(&[
            "HSET",
            &format!("{{base}}{run}"),
            "name",
            "tick",
            "rjk",
            "sched",
        ]),
        raw(&["LPUSH", "{base}wait", &run]),
        remove("parent", true),
        remove(&run, true),
        remove("parent", false),
    ]);
    steps
}

/// A paused queue: the released parent goes to `paused` with BullMQ 5, and no marker.
fn removal_on_a_paused_queue() -> Vec<Value> {
    let mut steps = vec![custom("parent", json!({}))];
    steps.extend(waiting_for_children("parent"));
    steps.extend([
        child_of("parent", "only", json!({})),
        json!({ "op": "pause" }),
        remove("only", true),
    ]);
    steps
}

/// Failed and completed jobs sent back, with and without resetting their counters; a
/// lifo one to the front; a prioritized one (BullMQ 6: `prioritized`, 5: `wait`);
/// refusals for a job in another state and for an unknown job.
fn retry_finished_jobs() -> Vec<Value> {
    let mut steps = vec![
        custom("f1", json!({ "attempts": 3 })),
        custom("f2", json!({ "attempts": 3 })),
        custom("c1", json!({})),
        custom("lifo", json!({ "lifo": true })),
        custom("prio", json!({ "priority": 7 })),
        custom("waiting", json!({})),
    ];
    steps.extend(finished("f1", "failed", "3"));
    steps.extend(finished("f2", "failed", "3"));
    steps.extend(finished("c1", "completed", "1"));
    steps.extend(finished("lifo", "failed", "1"));
    steps.extend(finished("prio", "failed", "1"));
    steps.extend([
        retry("f1", "failed", false, false),
        retry("f2", "failed", true, true),
        retry("c1", "completed", true, false),
        retry("lifo", "failed", false, true),
        retry("prio", "failed", false, false),
        retry("c1", "completed", false, false),
        retry("waiting", "failed", false, false),
        retry("nope", "failed", false, false),
    ]);
    steps
}

/// While paused: BullMQ 5 parks the retried job in `paused`; no marker either way.
fn retry_on_a_paused_queue() -> Vec<Value> {
    let mut steps = vec![custom("f", json!({}))];
    steps.extend(finished("f", "failed", "1"));
    steps.extend([json!({ "op": "pause" }), retry("f", "failed", false, false)]);
    steps
}

/// A retried child is pending again for its parent: a completed one leaves `processed`, a
/// failed one `unsuccessful` (fpof) or, with BullMQ 6, `failed` (ignoreDependencyOnFailure).
fn retried_children_are_pending_again() -> Vec<Value> {
    let mut steps = vec![custom("parent", json!({}))];
    steps.extend(waiting_for_children("parent"));
    steps.extend([
        child_of("parent", "done", json!({})),
        child_of("parent", "bad", json!({ "failParentOnFailure": true })),
        child_of("parent", "stay", json!({})),
    ]);
    steps.extend(finished("done", "completed", "1"));
    steps.extend(finished("bad", "failed", "1"));
    steps.extend([
        raw(&[
            "SREM",
            "{base}parent:dependencies",
            "bull:q:done",
            "bull:q:bad",
        ]),
        raw(&[
            "HSET",
            "{base}parent:processed",
            "bull:q:done",
            r#"{"ok":true}"#,
        ]),
        raw(&[
            "ZADD",
            "{base}parent:unsuccessful",
            FINISHED_AT,
            "bull:q:bad",
        ]),
        retry("done", "completed", false, false),
        retry("bad", "failed", true, true),
    ]);
    steps
}

fn retried_ignored_child_is_pending_again() -> Vec<Value> {
    let mut steps = vec![custom("parent", json!({}))];
    steps.extend(waiting_for_children("parent"));
    steps.push(child_of(
        "parent",
        "ign",
        json!({ "ignoreDependencyOnFailure": true }),
    ));
    steps.extend(finished("ign", "failed", "1"));
    steps.extend([
        raw(&["SREM", "{base}parent:dependencies", "bull:q:ign"]),
        raw(&["HSET", "{base}parent:failed", "bull:q:ign", "boom"]),
        retry("ign", "failed", false, false),
    ]);
    steps
}

/// Delayed jobs promoted one by one: plain, prioritized, lifo; refusals for a waiting job
/// and an unknown one; then on a paused queue (BullMQ 5: to `paused`).
fn promote_delayed_jobs() -> Vec<Value> {
    vec![
        custom("d1", json!({ "delay": 60000 })),
        custom("d2", json!({ "delay": 30000, "priority": 3 })),
        custom("d3", json!({ "delay": 90000, "lifo": true })),
        custom("d4", json!({ "delay": 90000 })),
        custom("w", json!({})),
        promote("d1"),
        promote("d2"),
        promote("d3"),
        promote("w"),
        promote("nope"),
        promote("d1"),
        json!({ "op": "pause" }),
        promote("d4"),
    ]
}

/// Finished jobs in bulk, by batches of 2 (the loop runs until none is left), only those
/// finished before the timestamp; priority and lifo ignored, counters kept; a child of a
/// parent waiting for it is pending again (BullMQ 6 only).
fn retry_jobs_in_bulk() -> Vec<Value> {
    let mut steps = vec![custom("parent", json!({}))];
    steps.extend(waiting_for_children("parent"));
    steps.push(child_of("parent", "child", json!({})));
    for (id, extra) in [
        ("f1", json!({})),
        ("f2", json!({ "priority": 5 })),
        ("f3", json!({ "lifo": true })),
        ("f4", json!({})),
        ("f5", json!({})),
        ("c1", json!({})),
        ("c2", json!({})),
    ] {
        steps.push(custom(id, extra));
    }
    for id in ["f1", "f2", "f3", "f4", "child"] {
        steps.extend(finished(id, "failed", "2"));
    }
    steps.extend(finished("f5", "failed", "2"));
    steps.push(raw(&["ZADD", "{base}failed", "1800000000000", "f5"]));
    steps.extend(finished("c1", "completed", "1"));
    steps.extend(finished("c2", "completed", "1"));
    steps.extend([
        raw(&["SREM", "{base}parent:dependencies", "bull:q:child"]),
        raw(&[
            "ZADD",
            "{base}parent:unsuccessful",
            FINISHED_AT,
            "bull:q:child",
        ]),
        retry_jobs("failed", 2, Some(1_750_000_000_000)),
        retry_jobs("completed", 1000, None),
    ]);
    steps
}

/// Every delayed job at once, by batches of 2, earliest due first; then on a paused queue.
fn promote_jobs_in_bulk() -> Vec<Value> {
    let mut steps: Vec<Value> = (1..=5)
        .map(|i| {
            custom(
                &format!("d{i}"),
                json!({ "delay": 10000 * (6 - i), "priority": i % 2 }),
            )
        })
        .collect();
    steps.push(promote_jobs(2));
    steps.push(custom("later", json!({ "delay": 5000 })));
    steps.push(json!({ "op": "pause" }));
    steps.push(promote_jobs(1000));
    steps
}

fn op(name: &str, fields: Value) -> Value {
    let mut step = json!({ "op": name });
    step.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    step
}

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
/// same on an unknown job; the events stream trimmed; a deduplication slot freed.
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

macro_rules! job_method_tests {
    ($($case:ident),* $(,)?) => {
        mod bullmq6 {
            use super::*;
            $(#[tokio::test] async fn $case() { compare(BullmqMajor::V6, super::$case()).await })*

            #[tokio::test]
            async fn retried_ignored_child_is_pending_again() {
                compare(BullmqMajor::V6, super::retried_ignored_child_is_pending_again()).await
            }
        }
        mod bullmq5 {
            use super::*;
            $(#[tokio::test] async fn $case() { compare(BullmqMajor::V5, super::$case()).await })*
        }
    };
}

job_method_tests!(
    remove_from_every_state,
    removed_children_release_their_parent,
    removed_parent_takes_its_children,
    locked_child_and_scheduler_run_are_refused,
    removal_on_a_paused_queue,
    retry_finished_jobs,
    retry_on_a_paused_queue,
    retried_children_are_pending_again,
    promote_delayed_jobs,
    retry_jobs_in_bulk,
    promote_jobs_in_bulk,
    change_delay_and_priority,
    job_fields_logs_events_and_dedup,
    drain_waiting_then_delayed,
    global_limits,
);
