//! Running one job and ending its attempt as BullMQ's worker does: completed with its
//! return value; failed and retried (at once, or after the backoff or a requested delay)
//! while attempts remain and the failure is not unrecoverable; else failed for good.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;

use super::Shared;
use super::backoff::{self, Next};
use super::job::{ActiveJob, JobError};
use crate::codec;
use crate::job::{Job, JobId, JobState};
use crate::options::RemoveOn;
use crate::scripts::{FetchArgs, Fetched, Finish, Outcome, Retry, SCRIPTS};
use crate::{Error, Result};

/// BullMQ's default number of finished jobs removed per trim by age.
const DEFAULT_KEEP_LIMIT: u64 = 1000;

/// A job taken for this worker: its id, its hash and the lock token it was taken with.
pub(super) struct Taken {
    pub(super) id: JobId,
    pub(super) hash: HashMap<String, String>,
    pub(super) token: String,
}

/// Runs `first`, then, while the worker is not stopping, the jobs that finishing each one
/// took in the same call (BullMQ's fetchNext): one round trip per job under load.
pub(super) async fn run_jobs<H, F>(
    shared: &Arc<Shared>,
    handler: &H,
    first: Taken,
    stopping: &watch::Receiver<bool>,
) where
    H: Fn(ActiveJob) -> F,
    F: Future<Output = std::result::Result<Value, JobError>> + Send + 'static,
{
    let mut current = Some(first);
    while let Some(taken) = current.take() {
        let next_token = (!*stopping.borrow()).then(|| shared.new_token());
        let fetched = match run_job(shared, handler, &taken, next_token.as_deref()).await {
            Ok(fetched) => fetched,
            Err(err) => {
                shared.report(&err);
                None
            }
        };
        shared.held().remove(&taken.id);
        if let (Some(Fetched::Job(id, hash)), Some(token)) = (fetched, next_token) {
            shared.held().insert(id.clone(), token.clone());
            current = Some(Taken { id, hash, token });
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
        None => run_handler(handler, ActiveJob::new(job.clone(), shared.clone())).await,
    };
    let next = next_token.map(|token| FetchArgs {
        now: codec::now_millis(),
        token,
        lock_ms: shared.lock_ms(),
        limiter: shared
            .options
            .limiter
            .map(|limit| (limit.max, codec::as_millis(limit.duration))),
        worker_name: shared.options.worker_name.as_deref().unwrap_or(""),
    });
    finish(shared, &job, &taken.token, result, next.as_ref()).await
}

/// Runs the handler in a task of its own, so that a panic fails the job instead of the worker.
async fn run_handler<H, F>(handler: &H, job: ActiveJob) -> std::result::Result<Value, JobError>
where
    H: Fn(ActiveJob) -> F,
    F: Future<Output = std::result::Result<Value, JobError>> + Send + 'static,
{
    match tokio::spawn(handler(job)).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => Err(JobError::new("the job handler panicked")),
        Err(_) => Err(JobError::new("the job handler was cancelled")),
    }
}

/// Ends the attempt; a completion or final failure also takes the next job when `next`
/// says how to lock it.
async fn finish(
    shared: &Shared,
    job: &Job,
    token: &str,
    result: std::result::Result<Value, JobError>,
    next: Option<&FetchArgs<'_>>,
) -> Result<Option<Fetched>> {
    let options = &shared.options;
    let now = codec::now_millis();
    let attempts = job.opts.attempts.unwrap_or(0);
    let err = match result {
        Ok(value) => {
            let json = serde_json::to_string(&value)?;
            let keep = keep_jobs(
                job.opts
                    .remove_on_complete
                    .as_ref()
                    .or(options.remove_on_complete.as_ref()),
            );
            let finish = Finish {
                job_id: &job.id,
                token,
                now,
                outcome: Outcome::Completed(&json),
                keep,
                attempts,
                fields_json: "",
            };
            return SCRIPTS
                .move_to_finished
                .call(
                    &mut shared.conn.clone(),
                    &shared.keys,
                    options.major,
                    &finish,
                    next,
                )
                .await;
        }
        Err(err) => err,
    };

    if let Some(limit) = err.rate_limit() {
        let limit_ms = codec::as_millis(limit).max(1);
        let mut conn = shared.conn.clone();
        SCRIPTS
            .rate_limit_job
            .call(
                &mut conn,
                &shared.keys,
                options.major,
                &job.id,
                token,
                limit_ms,
            )
            .await?;
        return Ok(None);
    }
    let attempts_made = job.attempts_made + 1;
    let mut plan = Next::Unknown;
    let mut reason = err.message().to_owned();
    if !err.is_unrecoverable() && attempts_made < u64::from(attempts) {
        plan = match err.retry_delay() {
            Some(delay) => Next::After(delay),
            None => backoff::next_try(
                job.opts.backoff.as_ref(),
                attempts_made,
                backoff::random_unit(),
            ),
        };
        if plan == Next::Unknown {
            let kind = job.opts.backoff.as_ref().map_or("", |b| b.kind());
            reason = format!(
                "Unknown backoff strategy {kind}. If a custom backoff strategy is used, specify it when the queue is created."
            );
        }
    }
    let fields = failure_fields(job, &reason, &err)?;
    let mut conn = shared.conn.clone();
    let retry = |delay_ms| Retry {
        job_id: &job.id,
        token,
        now,
        delay_ms,
        lifo: job.opts.lifo == Some(true),
        fields_json: &fields,
    };
    match plan {
        Next::Now if !err.is_unrecoverable() && attempts_made < u64::from(attempts) => SCRIPTS
            .retry_job
            .call(&mut conn, &shared.keys, options.major, &retry(0))
            .await
            .map(|()| None),
        Next::After(delay) => SCRIPTS
            .move_to_delayed
            .call(&mut conn, &shared.keys, &retry(codec::as_millis(delay)))
            .await
            .map(|()| None),
        _ => {
            let keep = keep_jobs(
                job.opts
                    .remove_on_fail
                    .as_ref()
                    .or(options.remove_on_fail.as_ref()),
            );
            let finish = Finish {
                job_id: &job.id,
                token,
                now,
                outcome: Outcome::Failed(&reason),
                keep,
                attempts,
                fields_json: &fields,
            };
            SCRIPTS
                .move_to_finished
                .call(&mut conn, &shared.keys, options.major, &finish, next)
                .await
        }
    }
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

/// BullMQ's keepJobs from `removeOnComplete` / `removeOnFail`: (count, age in s, limit),
/// where count -1 keeps every job and 0 removes the job at once.
fn keep_jobs(remove_on: Option<&RemoveOn>) -> (i64, Option<u64>, u64) {
    match remove_on {
        None | Some(RemoveOn::Remove(false)) => (-1, None, DEFAULT_KEEP_LIMIT),
        Some(RemoveOn::Remove(true)) => (0, None, DEFAULT_KEEP_LIMIT),
        Some(RemoveOn::KeepLast(count)) => (
            i64::try_from(*count).unwrap_or(i64::MAX),
            None,
            DEFAULT_KEEP_LIMIT,
        ),
        Some(RemoveOn::Keep(keep)) => (
            keep.count
                .map_or(-1, |count| i64::try_from(count).unwrap_or(i64::MAX)),
            keep.age.map(|age| age.as_secs()),
            keep.limit.unwrap_or(DEFAULT_KEEP_LIMIT),
        ),
    }
}

/// A job whose hash cannot be read (options of a future BullMQ, say) fails for good, with
/// the reason, rather than running with options this worker does not understand.
async fn fail_unreadable(shared: &Shared, id: &JobId, token: &str, err: &Error) -> Result<()> {
    let reason = format!("unreadable job: {err}");
    let finish = Finish {
        job_id: id,
        token,
        now: codec::now_millis(),
        outcome: Outcome::Failed(&reason),
        keep: keep_jobs(None),
        attempts: 0,
        fields_json: "",
    };
    SCRIPTS
        .move_to_finished
        .call(
            &mut shared.conn.clone(),
            &shared.keys,
            shared.options.major,
            &finish,
            None,
        )
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::options::KeepJobs;

    #[test]
    fn keep_jobs_follows_bullmq() {
        assert_eq!(keep_jobs(None), (-1, None, 1000));
        assert_eq!(keep_jobs(Some(&RemoveOn::Remove(true))), (0, None, 1000));
        assert_eq!(keep_jobs(Some(&RemoveOn::KeepLast(5))), (5, None, 1000));
        let keep = KeepJobs {
            age: Some(Duration::from_secs(60)),
            count: None,
            limit: Some(10),
        };
        assert_eq!(keep_jobs(Some(&RemoveOn::Keep(keep))), (-1, Some(60), 10));
    }
}
