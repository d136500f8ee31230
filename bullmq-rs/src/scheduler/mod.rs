//! Job schedulers: what BullMQ stores for one (`repeat` zset, `repeat:<id>` hash) read back
//! as a [`JobScheduler`], the cron arithmetic and how a run's options are built. Creating,
//! removing and listing schedulers is in `queue/scheduler.rs`; creating the next run when
//! a worker takes a run is in `worker/schedule_next.rs`; the Redis side is in
//! `lua/upsert_job_scheduler.lua`, `update_job_scheduler.lua` and
//! `remove_job_scheduler.lua`.
//!
//! A run is a job with id `repeat:<schedulerId>:<runMillis>`, field `rjk` = the scheduler
//! id, and `repeat`, `prevMillis` and `repeatJobKey` in its options; `ic` in the scheduler's
//! hash counts the runs created.

pub(crate) mod cron;
pub(crate) mod run_opts;

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::options::JobOptions;

/// A job scheduler as stored, with the same fields (and JSON names) as BullMQ's
/// `Queue.getJobScheduler` returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobScheduler {
    /// The scheduler's id.
    pub key: String,
    /// The name of the jobs it creates.
    pub name: String,
    /// When its next run is due (ms since the epoch).
    pub next: Option<u64>,
    /// Runs created so far (`ic`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iteration_count: Option<u64>,
    /// At most this many runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// No run before this time (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<u64>,
    /// No run after this time (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<u64>,
    /// The pattern's time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// The cron pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The interval.
    #[serde(skip_serializing_if = "Option::is_none", with = "crate::codec::millis")]
    pub every: Option<Duration>,
    /// Where runs fall within each interval.
    #[serde(skip_serializing_if = "Option::is_none", with = "crate::codec::millis")]
    pub offset: Option<Duration>,
    /// The data and options of the jobs it creates, when either is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<SchedulerTemplate>,
}

/// The stored template of a scheduler's jobs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulerTemplate {
    /// The jobs' data (absent when it is `{}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The jobs' options (absent when there are none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opts: Option<JobOptions>,
}

impl JobScheduler {
    /// Reads the `repeat:<id>` hash as BullMQ does: empty numeric fields are left out,
    /// `offset` "0" is kept. `None` for an empty hash.
    pub(crate) fn from_hash(
        key: String,
        next: Option<u64>,
        mut hash: HashMap<String, String>,
    ) -> crate::Result<Option<Self>> {
        if hash.is_empty() {
            return Ok(None);
        }
        let mut take = |field: &str| hash.remove(field).filter(|value| !value.is_empty());
        let int = |value: Option<String>| value.and_then(|v| v.parse::<u64>().ok());
        let data = take("data").and_then(|json| serde_json::from_str(&json).ok());
        let opts = match take("opts") {
            Some(json) => Some(crate::codec::template_options_from_stored(&json)?),
            None => None,
        };
        Ok(Some(Self {
            key,
            name: take("name").unwrap_or_default(),
            next,
            iteration_count: int(take("ic")).filter(|ic| *ic > 0),
            limit: int(take("limit")).filter(|limit| *limit > 0),
            start_date: int(take("startDate")).filter(|ms| *ms > 0),
            end_date: int(take("endDate")).filter(|ms| *ms > 0),
            tz: take("tz"),
            pattern: take("pattern"),
            every: int(take("every"))
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            offset: int(take("offset")).map(Duration::from_millis),
            template: (data.is_some() || opts.is_some())
                .then_some(SchedulerTemplate { data, opts }),
        }))
    }
}

/// BullMQ 6's test for the `rjk` of a legacy repeatable job (`name:id:endDate:tz:pattern`,
/// the end date empty or digits, the last part a pattern or a number of ms); BullMQ 5 only
/// counts 5 or more `:`-separated parts. Such a job is a scheduler's run only when its
/// scheduler hash exists.
pub(crate) fn looks_legacy(repeat_job_key: &str, major: crate::BullmqMajor) -> bool {
    let parts: Vec<&str> = repeat_job_key.splitn(5, ':').collect();
    if major == crate::BullmqMajor::V5 {
        return repeat_job_key.split(':').count() >= 5;
    }
    let [_, _, end_date, _, suffix] = parts[..] else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (end_date.is_empty() || digits(end_date))
        && !suffix.is_empty()
        && (suffix.contains(' ') || digits(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BullmqMajor;

    #[test]
    fn legacy_repeat_keys_are_told_apart_from_scheduler_ids() {
        assert!(looks_legacy("name:id::UTC:0 * * * *", BullmqMajor::V6));
        assert!(looks_legacy("name:id:1700000000000::5000", BullmqMajor::V6));
        assert!(!looks_legacy("a:b:c:d:e", BullmqMajor::V6));
        assert!(looks_legacy("a:b:c:d:e", BullmqMajor::V5));
        assert!(!looks_legacy("my-scheduler", BullmqMajor::V6));
    }

    #[test]
    fn scheduler_hash_reads_as_bullmq_returns_it() {
        let hash: HashMap<String, String> = [
            ("name", "tick"),
            ("every", "60000"),
            ("offset", "0"),
            ("data", r#"{"a":1}"#),
            ("ic", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let scheduler = JobScheduler::from_hash("s".into(), Some(7), hash)
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&scheduler).unwrap(),
            serde_json::json!({"key": "s", "name": "tick", "next": 7, "iterationCount": 2,
                "every": 60000, "offset": 0, "template": {"data": {"a": 1}}})
        );
    }
}
