//! A worker that takes a run of a job scheduler adds the scheduler's next run, before
//! running the job, as Node workers (BullMQ 5 and 6) do: without it a scheduler served by
//! this worker would stop after one run.
//!
//! The next run's time: for a pattern, its next time after now (or after the taken run's
//! time, if later); for `every`, the script computes it from the stored scheduler. Nothing
//! is added past the scheduler's `limit` or `endDate`. Runs of legacy repeatable jobs
//! (BullMQ 5's `add` with `repeat`) are not schedulers: they are run and not repeated.

use serde_json::{Map, Value};

use super::Shared;
use super::finish::Taken;
use crate::codec;
use crate::scheduler::cron::Schedule;
use crate::scheduler::looks_legacy;
use crate::scheduler::run_opts::{RunOpts, as_worker_reads};
use crate::scripts::{RunArgs, SCRIPTS, TakenRun};
use crate::{Error, Result};

/// Adds the next run when `taken` is a scheduler's run; errors go to the worker's error
/// hook, and the taken job runs all the same.
pub(super) async fn schedule_next_run(shared: &Shared, taken: &Taken) {
    let Some(scheduler_id) = taken.hash.get("rjk") else {
        return;
    };
    if let Err(err) = add_next_run(shared, taken, scheduler_id).await {
        shared.report(&err);
    }
}

async fn add_next_run(shared: &Shared, taken: &Taken, scheduler_id: &str) -> Result<()> {
    let major = shared.major;
    let mut conn = shared.conn.clone();
    if looks_legacy(scheduler_id, major) {
        let is_scheduler: bool = redis::cmd("HEXISTS")
            .arg(shared.keys.scheduler(scheduler_id))
            .arg("ic")
            .query_async(&mut conn)
            .await?;
        if !is_scheduler {
            return Err(unreadable(format!(
                "{scheduler_id:?} is a legacy repeatable job, which is not repeated here"
            )));
        }
    }
    let stored = taken.hash.get("opts").map_or("{}", String::as_str);
    let base = match serde_json::from_str(stored) {
        Ok(Value::Object(map)) => as_worker_reads(map),
        _ => {
            return Err(unreadable(format!(
                "its opts are not a JSON object: {stored}"
            )));
        }
    };
    let repeat = match base.get("repeat") {
        Some(Value::Object(repeat)) => repeat.clone(),
        _ => return Err(unreadable("its opts hold no repeat options".to_owned())),
    };
    let Some(plan) = plan_next_run(&repeat, &base, codec::now_millis())? else {
        return Ok(());
    };
    let (opts_json, repeat_pairs_json) = RunOpts {
        base,
        repeat,
        scheduler_id,
        next_millis: plan.next_millis,
        offset: plan.offset,
        count: plan.count,
        now: codec::now_millis(),
    }
    .encode();
    let run = RunArgs {
        scheduler_id,
        now: codec::now_millis(),
        next_millis: plan.next_millis,
        opts_json: &opts_json,
        repeat_pairs_json: &repeat_pairs_json,
    };
    let taken = TakenRun {
        id: &taken.id,
        data: taken.hash.get("data").map_or("{}", String::as_str),
    };
    SCRIPTS
        .update_job_scheduler
        .call(&mut conn, &shared.keys, major, &run, taken)
        .await?;
    Ok(())
}

/// The next run as BullMQ's `upsertJobScheduler` plans it for a worker.
struct Plan {
    next_millis: Option<u64>,
    offset: Option<u64>,
    count: u64,
}

/// `None` when the scheduler has no run left (limit reached, end date passed, no more
/// pattern times).
fn plan_next_run(
    repeat: &Map<String, Value>,
    opts: &Map<String, Value>,
    now: u64,
) -> Result<Option<Plan>> {
    let int = |key: &str| repeat.get(key).and_then(Value::as_u64);
    let pattern = repeat.get("pattern").and_then(Value::as_str);
    let every = int("every").filter(|ms| *ms > 0);
    if pattern.is_some() == every.is_some() {
        return Err(unreadable(
            "its repeat options need exactly one of pattern and every".to_owned(),
        ));
    }
    let count = int("count").filter(|count| *count > 0).map_or(1, |c| c + 1);
    if repeat.contains_key("limit") && int("limit").is_none_or(|limit| count > limit) {
        return Ok(None);
    }
    let end_date = int("endDate").filter(|ms| *ms > 0);
    if end_date.is_some_and(|end| now > end) {
        return Ok(None);
    }
    let now = now.max(opts.get("prevMillis").and_then(Value::as_u64).unwrap_or(0));
    let next_millis = match pattern {
        Some(pattern) => {
            let tz = repeat.get("tz").and_then(Value::as_str);
            let from = now.max(int("startDate").unwrap_or(0));
            match Schedule::parse(pattern, tz)?.next_after(from, end_date) {
                Some(next) => Some(next.max(now)),
                None => return Ok(None),
            }
        }
        None => None,
    };
    Ok(Some(Plan {
        next_millis,
        offset: every.and(int("offset")).filter(|ms| *ms > 0),
        count,
    }))
}

fn unreadable(reason: String) -> Error {
    Error::InvalidOption {
        option: "repeat",
        reason: format!("cannot schedule the next run of a scheduler's job: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn limit_and_end_date_stop_the_runs() {
        let opts = Map::new();
        let limited = map(json!({"every": 100, "limit": 3, "count": 3}));
        assert!(plan_next_run(&limited, &opts, 10).unwrap().is_none());
        let under = map(json!({"every": 100, "limit": 3, "count": 2}));
        assert_eq!(plan_next_run(&under, &opts, 10).unwrap().unwrap().count, 3);
        let ended = map(json!({"every": 100, "endDate": 5}));
        assert!(plan_next_run(&ended, &opts, 10).unwrap().is_none());
    }

    #[test]
    fn a_pattern_runs_after_the_later_of_now_and_the_previous_run() {
        let repeat = map(json!({"pattern": "* * * * * *", "tz": "UTC", "count": 1}));
        let opts = map(json!({"prevMillis": 1_767_268_810_000_u64}));
        let plan = plan_next_run(&repeat, &opts, 1_767_268_800_000)
            .unwrap()
            .unwrap();
        assert_eq!(plan.next_millis, Some(1_767_268_811_000));
        assert_eq!(plan.count, 2);
    }
}
