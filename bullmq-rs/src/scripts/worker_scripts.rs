//! The worker's scripts: `lua/move_to_active.lua`, `move_to_finished.lua`,
//! `retry_job.lua`, `move_to_delayed.lua`, `extend_locks.lua`,
//! `move_stalled_jobs_to_wait.lua` and `job_updates.lua`. Each wrapper owns its script's
//! argument order and turns the reply into Rust types.

use std::collections::HashMap;

use crate::connection::Connection;
use redis::Value;

use super::Script;
use crate::error::ScriptError;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::worker::Limiter;
use crate::{Error, Result, codec};

/// What `move_to_active` answered.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// A job, now active and locked: its id and hash.
    Job(JobId, HashMap<String, String>),
    /// The rate limit is reached for this long (ms).
    RateLimited(u64),
    /// Nothing ready; the earliest delayed job is due at this time (ms), if any.
    Nothing(Option<u64>),
}

/// The lock and limits a fetch runs with.
pub(crate) struct FetchArgs<'a> {
    pub(crate) now: u64,
    pub(crate) token: &'a str,
    pub(crate) lock_ms: u64,
    pub(crate) limiter: Option<Limiter>,
    pub(crate) worker_name: &'a str,
}

pub(crate) struct MoveToActive(pub(super) Script<11>);

impl MoveToActive {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        args: &FetchArgs<'_>,
    ) -> Result<Fetched> {
        let script_keys = [
            keys.wait.as_str(),
            &keys.active,
            &keys.prioritized,
            &keys.events,
            &keys.stalled,
            &keys.limiter,
            &keys.delayed,
            &keys.paused,
            &keys.meta,
            &keys.pc,
            &keys.marker,
        ];
        let reply: Vec<Value> = self
            .0
            .call(conn, script_keys, fetch_argv(keys, major, args))
            .await?;
        decode_fetched(self.0.name(), reply)
    }
}

fn fetch_argv(keys: &QueueKeys, major: BullmqMajor, args: &FetchArgs<'_>) -> [String; 8] {
    let (limit_max, limit_ms) = args
        .limiter
        .map_or((String::new(), String::new()), |limit| {
            (
                limit.max.to_string(),
                codec::as_millis(limit.duration).to_string(),
            )
        });
    [
        keys.base().to_owned(),
        args.now.to_string(),
        args.token.to_owned(),
        args.lock_ms.to_string(),
        limit_max,
        limit_ms,
        args.worker_name.to_owned(),
        major.as_arg().to_owned(),
    ]
}

/// Decodes `[job hash | 0, job id | 0, rate limit ttl, next due]`.
fn decode_fetched(script: &'static str, reply: Vec<Value>) -> Result<Fetched> {
    let unexpected = |detail: String| Error::UnexpectedReply {
        command: script,
        detail,
    };
    let [hash, id, ttl, next] =
        <[Value; 4]>::try_from(reply).map_err(|reply| unexpected(format!("{reply:?}")))?;
    let int = |value: &Value| {
        redis::from_redis_value::<u64>(value.clone()).map_err(|err| unexpected(err.to_string()))
    };
    if let Value::Array(_) = hash {
        let hash: HashMap<String, String> =
            redis::from_redis_value(hash).map_err(|err| unexpected(err.to_string()))?;
        let id: String = redis::from_redis_value(id).map_err(|err| unexpected(err.to_string()))?;
        return Ok(Fetched::Job(JobId::from(id), hash));
    }
    match (int(&ttl)?, int(&next)?) {
        (0, 0) => Ok(Fetched::Nothing(None)),
        (0, due) => Ok(Fetched::Nothing(Some(due))),
        (ttl, _) => Ok(Fetched::RateLimited(ttl)),
    }
}

/// How a job ends for good.
pub(crate) struct Finish<'a> {
    pub(crate) job_id: &'a JobId,
    pub(crate) token: &'a str,
    pub(crate) now: u64,
    pub(crate) outcome: Outcome<'a>,
    pub(crate) keep: Retention,
    pub(crate) attempts: u32,
    /// JSON array of field, value pairs written first.
    pub(crate) fields_json: &'a str,
    /// Most metrics data points kept, when the worker collects metrics.
    pub(crate) metrics: Option<u64>,
}

/// What to keep of the finished set the job enters (BullMQ's `keepJobs`, from
/// `removeOnComplete` / `removeOnFail`); `move_to_finished` trims the set by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    /// Jobs kept: -1 keeps every job, 0 removes this one at once, n keeps the newest n.
    pub(crate) count: i64,
    /// Jobs older than this (seconds) are removed; `None` keeps them whatever their age.
    pub(crate) age_secs: Option<u64>,
    /// Most jobs one trim removes.
    pub(crate) limit: u64,
}

/// Completed with a return value (JSON), or failed with a reason.
pub(crate) enum Outcome<'a> {
    Completed(&'a str),
    Failed(&'a str),
}

pub(crate) struct MoveToFinished(pub(super) Script<15>);

impl MoveToFinished {
    /// Ends the job; with `next`, also takes the next job in the same call and returns
    /// what `move_to_active` would (`None`: nothing at all to take).
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        finish: &Finish<'_>,
        next: Option<&FetchArgs<'_>>,
    ) -> Result<Option<Fetched>> {
        let (target_key, target, field, value) = match finish.outcome {
            Outcome::Completed(json) => (&keys.completed, "completed", "returnvalue", json),
            Outcome::Failed(reason) => (&keys.failed, "failed", "failedReason", reason),
        };
        let job_key = keys.job(finish.job_id);
        let metrics_key = keys.metrics(target);
        let script_keys = [
            keys.wait.as_str(),
            &keys.active,
            &keys.prioritized,
            &keys.events,
            &keys.stalled,
            &keys.delayed,
            &keys.paused,
            &keys.meta,
            &keys.pc,
            &keys.marker,
            target_key,
            &job_key,
            &keys.id,
            &keys.limiter,
            &metrics_key,
        ];
        let Retention {
            count,
            age_secs,
            limit,
        } = finish.keep;
        let mut argv: Vec<String> = [
            finish.job_id.as_str(),
            &finish.now.to_string(),
            field,
            value,
            target,
            keys.base(),
            finish.token,
            &count.to_string(),
            &age_secs.map(|age| age.to_string()).unwrap_or_default(),
            &limit.to_string(),
            &finish.attempts.to_string(),
            finish.fields_json,
            major.as_arg(),
            &finish
                .metrics
                .map(|points| points.to_string())
                .unwrap_or_default(),
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(next) = next {
            // The tail of move_to_active's ARGV (3 to 7): token, lock, limiter, worker name.
            argv.extend(fetch_argv(keys, major, next).into_iter().skip(2).take(5));
        }
        match self.0.call::<Value>(conn, script_keys, argv).await? {
            Value::Int(code) => code_to_result(self.0.name(), code).map(|()| None),
            Value::Array(reply) => decode_fetched(self.0.name(), reply).map(Some),
            other => Err(Error::UnexpectedReply {
                command: self.0.name(),
                detail: format!("{other:?}"),
            }),
        }
    }
}

/// A failed attempt that runs again: at once (`delay` 0) or after a backoff.
pub(crate) struct Retry<'a> {
    pub(crate) job_id: &'a JobId,
    pub(crate) token: &'a str,
    pub(crate) now: u64,
    pub(crate) delay_ms: u64,
    pub(crate) lifo: bool,
    pub(crate) fields_json: &'a str,
}

pub(crate) struct RetryJob(pub(super) Script<11>);

impl RetryJob {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        retry: &Retry<'_>,
    ) -> Result<()> {
        let job_key = keys.job(retry.job_id);
        let script_keys = [
            keys.active.as_str(),
            &keys.wait,
            &keys.paused,
            &job_key,
            &keys.meta,
            &keys.events,
            &keys.delayed,
            &keys.prioritized,
            &keys.pc,
            &keys.marker,
            &keys.stalled,
        ];
        let push = if retry.lifo { "RPUSH" } else { "LPUSH" };
        let argv = [
            keys.base(),
            &retry.now.to_string(),
            push,
            retry.job_id.as_str(),
            retry.token,
            retry.fields_json,
            major.as_arg(),
        ];
        code_to_result(self.0.name(), self.0.call(conn, script_keys, argv).await?)
    }
}

pub(crate) struct MoveToDelayed(pub(super) Script<7>);

impl MoveToDelayed {
    /// Delays the job by `retry.delay_ms`; `skip_attempt` counts no attempt (`atm`).
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        retry: &Retry<'_>,
        skip_attempt: bool,
    ) -> Result<()> {
        let job_key = keys.job(retry.job_id);
        let script_keys = [
            keys.marker.as_str(),
            &keys.active,
            &keys.delayed,
            &job_key,
            &keys.events,
            &keys.meta,
            &keys.stalled,
        ];
        let argv: [&str; 6] = [
            &retry.now.to_string(),
            retry.job_id.as_str(),
            retry.token,
            &retry.delay_ms.to_string(),
            retry.fields_json,
            if skip_attempt { "1" } else { "0" },
        ];
        code_to_result(self.0.name(), self.0.call(conn, script_keys, argv).await?)
    }
}

pub(crate) struct RateLimitJob(pub(super) Script<10>);

impl RateLimitJob {
    /// Puts the job back in front of `wait` (or in `prioritized`), lock released, no
    /// attempt counted, the queue not rate-limited (BullMQ's moveJobFromActiveToWait).
    pub(crate) async fn move_to_wait(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        job_id: &JobId,
        token: &str,
    ) -> Result<()> {
        self.call(conn, keys, major, job_id, token, 0).await
    }

    /// Rate-limits the queue for `limit_ms` and puts the job back in front, no attempt counted.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        job_id: &JobId,
        token: &str,
        limit_ms: u64,
    ) -> Result<()> {
        let job_key = keys.job(job_id);
        let script_keys = [
            keys.active.as_str(),
            &keys.wait,
            &keys.stalled,
            &keys.paused,
            &keys.meta,
            &keys.limiter,
            &keys.prioritized,
            &keys.marker,
            &keys.events,
            &job_key,
        ];
        let argv = [
            job_id.as_str(),
            token,
            &limit_ms.to_string(),
            major.as_arg(),
        ];
        code_to_result(self.0.name(), self.0.call(conn, script_keys, argv).await?)
    }
}

pub(crate) struct ExtendLocks(pub(super) Script<1>);

impl ExtendLocks {
    /// Renews the locks; returns the ids whose lock this worker no longer holds.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        lock_ms: u64,
        held: &[(JobId, String)],
    ) -> Result<Vec<JobId>> {
        let mut argv = vec![keys.base().to_owned(), lock_ms.to_string()];
        for (id, token) in held {
            argv.push(id.as_str().to_owned());
            argv.push(token.clone());
        }
        let lost: Vec<String> = self.0.call(conn, [keys.stalled.as_str()], argv).await?;
        Ok(lost.into_iter().map(JobId::from).collect())
    }
}

pub(crate) struct MoveStalledJobsToWait(pub(super) Script<9>);

impl MoveStalledJobsToWait {
    /// Runs one stalled check (unless another worker ran one within the interval);
    /// returns the ids moved back to wait.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        max_stalled: u32,
        now: u64,
        interval_ms: u64,
    ) -> Result<Vec<JobId>> {
        let repeat = format!("{}repeat", keys.base());
        let script_keys = [
            keys.stalled.as_str(),
            &keys.wait,
            &keys.active,
            &keys.stalled_check,
            &keys.meta,
            &keys.paused,
            &keys.marker,
            &keys.events,
            &repeat,
        ];
        let argv = [
            max_stalled.to_string(),
            keys.base().to_owned(),
            now.to_string(),
            interval_ms.to_string(),
            major.as_arg().to_owned(),
        ];
        let moved: Vec<String> = self.0.call(conn, script_keys, argv).await?;
        Ok(moved.into_iter().map(JobId::from).collect())
    }
}

/// What a running job reports.
pub(crate) enum JobUpdate<'a> {
    Progress(&'a str),
    Log { line: &'a str, keep: Option<u32> },
    Data(&'a str),
}

pub(crate) struct JobUpdates(pub(super) Script<4>);

impl JobUpdates {
    /// Applies the update; for a log line returns the number of lines kept.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        job_id: &JobId,
        update: JobUpdate<'_>,
    ) -> Result<i64> {
        let job_key = keys.job(job_id);
        let logs_key = format!("{job_key}:logs");
        let (operation, value, keep) = match update {
            JobUpdate::Progress(json) => ("progress", json, String::new()),
            JobUpdate::Log { line, keep } => (
                "log",
                line,
                keep.map(|keep| keep.to_string()).unwrap_or_default(),
            ),
            JobUpdate::Data(json) => ("data", json, String::new()),
        };
        let reply: i64 = self
            .0
            .call(
                conn,
                [job_key.as_str(), &logs_key, &keys.events, &keys.meta],
                [operation, job_id.as_str(), value, &keep],
            )
            .await?;
        if reply < 0 {
            return Err(Error::Script {
                script: self.0.name(),
                code: ScriptError::from_job_code(reply),
            });
        }
        Ok(reply)
    }
}

fn code_to_result(script: &'static str, code: i64) -> Result<()> {
    if code < 0 {
        return Err(Error::Script {
            script,
            code: ScriptError::from_job_code(code),
        });
    }
    Ok(())
}
