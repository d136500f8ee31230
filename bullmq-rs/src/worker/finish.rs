//! Running one job and ending its attempt as BullMQ's worker does: completed with its
//! return value; failed and retried (at once, or after the backoff or a requested delay)
//! while attempts remain and the failure is not unrecoverable; else failed for good.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::Value;
use tokio::sync::watch;

use super::backoff::{self, AfterFailure, after_failure};
use super::job::{ActiveJob, JobError};
use super::{Shared, WorkerEvent};
use crate::codec;
use crate::job::{Job, JobId, JobState};
use crate::options::RemoveOn;
use crate::scripts::{Fetched, Finish, Outcome, Retention, Retry, SCRIPTS};
use crate::{Error, Result, ScriptError};

/// BullMQ's default number of finished jobs removed per trim by age.
const DEFAULT_KEEP_LIMIT: u64 = 1000;

/// A job taken for this worker: its id, its hash and the lock token it was taken with.
pub(super) struct Taken {
    pub(super) id: JobId,
    pub(super) hash: HashMap<String, String>,
    pub(super) token: String,
    /// Fires when the worker hands its jobs back (closed past its deadline).
    pub(super) cancel: watch::Receiver<bool>,
}

/// Runs `first`, then, while the worker is not stopping, the jobs that finishing each one
/// took in the same call (BullMQ's fetchNext); under load, the endings of many jobs share
/// one call (finisher.rs).
pub(super) async fn run_jobs<H, F>(shared: &Arc<Shared>, handler: &H, first: Taken)
where
    H: Fn(ActiveJob) -> F,
    F: Future<Output = std::result::Result<Value, JobError>> + Send + 'static,
{
    let mut current = Some(first);
    while let Some(taken) = current.take() {
        super::schedule_next::schedule_next_run(shared, &taken).await;
        let busy = shared.busy.load(Ordering::Relaxed);
        let next_token = shared
            .state
            .borrow()
            .may_take_next(busy)
            .then(|| shared.new_token());
        let fetched = match run_job(shared, handler, &taken, next_token.as_deref()).await {
            Ok(fetched) => fetched,
            Err(err) => {
                shared.report(&err);
                None
            }
        };
        shared.held().remove(&taken.id);
        if let (Some(Fetched::Job(id, hash)), Some(token)) = (fetched, next_token) {
            let cancel = shared.hold(id.clone(), token.clone());
            current = Some(Taken {
                id,
                hash,
                token,
                cancel,
            });
        }
    }
}

async fn run_job<H, F>(
    shared: &Arc<Shared>,
    handler: &H,
    taken: &Taken,
    next_token: Option<&str>,
) -> Result<Option<Fetched>>
where
    H: Fn(ActiveJob) -> F,
    F: Future<Output = std::result::Result<Value, JobError>> + Send + 'static,
{
    let job = match Job::from_hash(taken.id.clone(), JobState::Active, taken.hash.clone()) {
        Ok(job) => job,
        Err(err) => {
            return fail_unreadable(shared, &taken.id, &taken.token, &err)
                .await
                .map(|()| None);
        }
    };
    let result = match &job.deferred_failure {
        // Stalled too often (or failed by a child): BullMQ fails it without running it.
        Some(reason) => Err(JobError::unrecoverable(reason.clone())),
        None => {
            let active = ActiveJob::new(
                job.clone(),
                taken.token.clone(),
                taken.cancel.clone(),
                shared.clone(),
            );
            shared.emit(&WorkerEvent::Active(&job));
            let mut cancel = taken.cancel.clone();
            // `false` when the job ends otherwise (its cancellation dropped).
            let given_up = async move { cancel.wait_for(|fired| *fired).await.is_ok() };
            tokio::select! {
                result = run_handler(handler, active) => result,
                true = given_up => {
                    return hand_back(shared, &job.id, &taken.token).await.map(|()| None);
                }
            }
        }
    };
    finish(shared, &job, &taken.token, result, next_token).await
}

/// Puts a job this worker gives up (closed past its deadline) back at the front of `wait`,
/// releasing its lock, with no attempt and no stall counted.
async fn hand_back(shared: &Shared, id: &JobId, token: &str) -> Result<()> {
    let mut conn = shared.conn.clone();
    SCRIPTS
        .rate_limit_job
        .move_to_wait(&mut conn, &shared.keys, shared.major, id, token)
        .await
}

/// Runs the handler in a task of its own, so that a panic fails the job instead of the
/// worker; the task is aborted when this future is dropped (the job handed back).
async fn run_handler<H, F>(handler: &H, job: ActiveJob) -> std::result::Result<Value, JobError>
where
    H: Fn(ActiveJob) -> F,
    F: Future<Output = std::result::Result<Value, JobError>> + Send + 'static,
{
    let mut task = super::AbortOnDrop(tokio::spawn(handler(job)));
    match (&mut task.0).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => Err(JobError::new("the job handler panicked")),
        Err(_) => Err(JobError::new("the job handler was cancelled")),
    }
}

/// Ends the attempt; a completion or final failure also takes the next job when
/// `next_token` says how to lock it.
async fn finish(
    shared: &Shared,
    job: &Job,
    token: &str,
    result: std::result::Result<Value, JobError>,
    next_token: Option<&str>,
) -> Result<Option<Fetched>> {
    let err = match result {
        Ok(value) => match complete(shared, job, token, &value, next_token).await {
            Ok(fetched) => {
                shared.emit(&WorkerEvent::Completed(job, &value));
                return Ok(fetched);
            }
            // A parent whose children are not all done cannot complete: BullMQ's worker
            // fails the attempt with these messages instead.
            Err(Error::Script {
                code: ScriptError::PendingChildren,
                ..
            }) => JobError::new(format!(
                "Job {} has pending dependencies. moveToFinished",
                job.id
            )),
            Err(Error::Script {
                code: ScriptError::FailedChildren,
                ..
            }) => JobError::unrecoverable(format!(
                "Cannot complete job {} because it has at least one failed child. moveToFinished",
                job.id
            )),
            other => return other,
        },
        Err(err) => err,
    };
    if err.is_waiting_children() {
        // The job is in waiting-children already; its lock went with its attempt.
        return Ok(None);
    }
    if let Some(until) = err.delayed_until() {
        return delay_without_attempt(shared, job, token, until)
            .await
            .map(|()| None);
    }
    if let Some(limit) = err.rate_limit() {
        let limit_ms = codec::as_millis(limit).max(1);
        let mut conn = shared.conn.clone();
        let major = shared.major;
        SCRIPTS
            .rate_limit_job
            .call(&mut conn, &shared.keys, major, &job.id, token, limit_ms)
            .await?;
        return Ok(None);
    }
    let strategies = &shared.options.backoff_strategies;
    let after = after_failure(job, &err, strategies, backoff::random_unit());
    let reason = match &after {
        AfterFailure::Fail(reason) => reason.as_str(),
        _ => err.message(),
    };
    let fields = failure_fields(job, reason, &err)?;
    let mut conn = shared.conn.clone();
    let (now, major) = (codec::now_millis(), shared.major);
    let retry = |delay_ms| Retry {
        job_id: &job.id,
        token,
        now,
        delay_ms,
        lifo: job.opts.lifo == Some(true),
        fields_json: &fields,
    };
    let retried = !matches!(after, AfterFailure::Fail(_));
    let ended = match after {
        AfterFailure::RetryNow => SCRIPTS
            .retry_job
            .call(&mut conn, &shared.keys, major, &retry(0))
            .await
            .map(|()| None),
        AfterFailure::RetryAfter(delay) => {
            let retry = retry(codec::as_millis(delay));
            SCRIPTS
                .move_to_delayed
                .call(&mut conn, &shared.keys, &retry, false)
                .await
                .map(|()| None)
        }
        AfterFailure::Fail(reason) => {
            let remove_on = job
                .opts
                .remove_on_fail
                .as_ref()
                .or(shared.options.remove_on_fail.as_ref());
            let finish = Finish {
                job_id: job.id.clone(),
                token: token.to_owned(),
                now,
                outcome: Outcome::Failed(reason),
                keep: keep_jobs(remove_on),
                attempts: job.opts.attempts.unwrap_or(0),
                fields_json: fields.clone(),
                metrics: shared.options.metrics,
                next_token: next_token.map(str::to_owned),
            };
            shared.finisher.end(finish).await
        }
    };
    if ended.is_ok() {
        shared.emit(&WorkerEvent::Failed {
            job,
            error: &err,
            retried,
        });
    }
    ended
}

/// The handler asked to run the job again at `until` ([`JobError::delayed`]).
async fn delay_without_attempt(
    shared: &Shared,
    job: &Job,
    token: &str,
    until: std::time::SystemTime,
) -> Result<()> {
    let left = until
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    let retry = Retry {
        job_id: &job.id,
        token,
        now: codec::now_millis(),
        delay_ms: codec::as_millis(left),
        lifo: false,
        fields_json: "",
    };
    let mut conn = shared.conn.clone();
    SCRIPTS
        .move_to_delayed
        .call(&mut conn, &shared.keys, &retry, true)
        .await
}

async fn complete(
    shared: &Shared,
    job: &Job,
    token: &str,
    value: &Value,
    next_token: Option<&str>,
) -> Result<Option<Fetched>> {
    let json = serde_json::to_string(value)?;
    let remove_on = job
        .opts
        .remove_on_complete
        .as_ref()
        .or(shared.options.remove_on_complete.as_ref());
    let finish = Finish {
        job_id: job.id.clone(),
        token: token.to_owned(),
        now: codec::now_millis(),
        outcome: Outcome::Completed(json),
        keep: keep_jobs(remove_on),
        attempts: job.opts.attempts.unwrap_or(0),
        fields_json: String::new(),
        metrics: shared.options.metrics,
        next_token: next_token.map(str::to_owned),
    };
    shared.finisher.end(finish).await
}

/// `failedReason` and the stack traces so far plus this one, trimmed to the job's
/// `stackTraceLimit`, as JSON field/value pairs.
fn failure_fields(job: &Job, reason: &str, err: &JobError) -> Result<String> {
    let mut traces = job.stacktrace.clone();
    traces.push(err.trace());
    if let Some(limit) = job.opts.stack_trace_limit.filter(|limit| *limit > 0) {
        let surplus = traces.len().saturating_sub(limit as usize);
        traces.drain(..surplus);
    }
    let traces = serde_json::to_string(&traces)?;
    Ok(serde_json::to_string(&[
        "failedReason",
        reason,
        "stacktrace",
        traces.as_str(),
    ])?)
}

/// BullMQ's keepJobs from `removeOnComplete` / `removeOnFail`: nothing said keeps every
/// job, `true` none.
fn keep_jobs(remove_on: Option<&RemoveOn>) -> Retention {
    let count = |count: u64| i64::try_from(count).unwrap_or(i64::MAX);
    let (count, age_secs, limit) = match remove_on {
        None | Some(RemoveOn::Remove(false)) => (-1, None, None),
        Some(RemoveOn::Remove(true)) => (0, None, None),
        Some(RemoveOn::KeepLast(kept)) => (count(*kept), None, None),
        Some(RemoveOn::Keep(keep)) => (
            keep.count.map_or(-1, count),
            keep.age.map(|age| age.as_secs()),
            keep.limit,
        ),
    };
    Retention {
        count,
        age_secs,
        limit: limit.unwrap_or(DEFAULT_KEEP_LIMIT),
    }
}

/// A job whose hash cannot be read (options of a future BullMQ, say) fails for good, with
/// the reason, rather than running with options this worker does not understand.
async fn fail_unreadable(shared: &Shared, id: &JobId, token: &str, err: &Error) -> Result<()> {
    let reason = format!("unreadable job: {err}");
    let finish = Finish {
        job_id: id.clone(),
        token: token.to_owned(),
        now: codec::now_millis(),
        outcome: Outcome::Failed(reason),
        keep: keep_jobs(None),
        attempts: 0,
        fields_json: String::new(),
        metrics: shared.options.metrics,
        next_token: None,
    };
    shared.finisher.end(finish).await.map(drop)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::options::KeepJobs;

    fn retention(count: i64, age_secs: Option<u64>, limit: u64) -> Retention {
        Retention {
            count,
            age_secs,
            limit,
        }
    }

    #[test]
    fn keep_jobs_follows_bullmq() {
        assert_eq!(keep_jobs(None), retention(-1, None, 1000));
        let remove = RemoveOn::Remove(true);
        assert_eq!(keep_jobs(Some(&remove)), retention(0, None, 1000));
        let last = RemoveOn::KeepLast(5);
        assert_eq!(keep_jobs(Some(&last)), retention(5, None, 1000));
        let keep = KeepJobs {
            age: Some(Duration::from_secs(60)),
            count: None,
            limit: Some(10),
        };
        let keep = RemoveOn::Keep(keep);
        assert_eq!(keep_jobs(Some(&keep)), retention(-1, Some(60), 10));
    }
}
