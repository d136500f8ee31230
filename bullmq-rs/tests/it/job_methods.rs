//! Job methods against Node BullMQ (6 and 5): the same jobs, staged the same way, then
//! removed, retried or promoted by Node and by this crate, must leave the same key space,
//! events included, and give the same outcome (see `job_steps.rs`).

use bullmq_rs::BullmqMajor;
use serde_json::{Value, json};

use crate::job_steps::{
    FINISHED_AT, child_of, compare, custom, finished, promote, promote_jobs, remove, retry,
    retry_jobs, waiting_for_children,
};
use crate::steps::raw;

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
);

/// What Node would refuse before any script runs (or, for a count of 0, loop on for
/// ever) is refused here before Redis is touched.
#[tokio::test]
async fn invalid_arguments_are_refused_before_redis_is_touched() {
    use bullmq_rs::{Error, JobId, JobState, Queue, RetryJobsOptions};
    let redis = testkit::RedisServer::start();
    let queue = Queue::builder("q")
        .major(BullmqMajor::V6)
        .connect(&redis.url())
        .await
        .unwrap();
    let before = testkit::dump_keyspace(&mut redis.connection(0), "bull:*");
    let id = JobId::from("any");

    let wrong_state = queue
        .retry_job(&id, JobState::Active, Default::default())
        .await;
    let no_count = RetryJobsOptions {
        count: 0,
        ..Default::default()
    };
    let zero = queue.retry_jobs(JobState::Failed, no_count).await;
    let zero_promote = queue.promote_jobs(0).await;
    let too_high = queue.change_priority(&id, 2_097_152, false).await;

    for (what, outcome) in [
        ("state", wrong_state),
        ("count", zero),
        ("count", zero_promote),
        ("priority", too_high),
    ] {
        assert!(
            matches!(outcome, Err(Error::InvalidOption { option, .. }) if option == what),
            "{what}: {outcome:?}"
        );
    }
    let after = testkit::dump_keyspace(&mut redis.connection(0), "bull:*");
    assert_eq!(after, before);
}
