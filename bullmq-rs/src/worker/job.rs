//! What a handler receives (`ActiveJob`) and returns on failure (`JobError`).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::Shared;
use crate::Result;
use crate::codec;
use crate::flow::{Dependencies, read_children_values, read_dependencies};
use crate::job::Job;
use crate::scripts::{JobUpdate, SCRIPTS};

/// A job a worker is running: the [`Job`] (through `Deref`) plus what a running job may
/// report: progress, log lines, new data.
pub struct ActiveJob {
    job: Job,
    token: String,
    cancel: watch::Receiver<bool>,
    shared: Arc<Shared>,
}

impl ActiveJob {
    pub(super) fn new(
        job: Job,
        token: String,
        cancel: watch::Receiver<bool>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            job,
            token,
            cancel,
            shared,
        }
    }

    /// Resolves when the worker gives this job up: closed with
    /// [`super::WorkerControl::close`] and the deadline passed. The job then goes back to
    /// `wait` and the handler's future is dropped; work the handler started elsewhere (a
    /// spawned task, a child process) can await this to stop.
    ///
    /// ```no_run
    /// # async fn handle(job: bullmq_rs::ActiveJob) -> Result<serde_json::Value, bullmq_rs::JobError> {
    /// let watched = job.cancellation();
    /// tokio::spawn(async move {
    ///     watched.cancelled().await;
    ///     // kill the child process, roll back...
    /// });
    /// # Ok(serde_json::Value::Null) }
    /// ```
    pub async fn cancelled(&self) {
        self.cancellation().cancelled().await;
    }

    /// Whether [`ActiveJob::cancelled`] has fired.
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// The job's cancellation as a value of its own, to hand to other tasks.
    pub fn cancellation(&self) -> JobCancellation {
        JobCancellation(self.cancel.clone())
    }

    /// The job's data as `T` (BullMQ's typed `Job<T>`).
    ///
    /// # Errors
    /// [`crate::Error::Serialize`] when the data does not fit `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(T::deserialize(&self.job.data)?)
    }

    /// The job as read when it was taken.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Records progress (any JSON) in the job and emits a `progress` event.
    ///
    /// # Errors
    /// [`crate::Error::Serialize`], [`crate::Error::Script`] when the job no longer
    /// exists, [`crate::Error::Redis`].
    pub async fn update_progress<T: Serialize + ?Sized>(&self, progress: &T) -> Result<()> {
        let json = serde_json::to_string(progress)?;
        self.update(JobUpdate::Progress(&json)).await?;
        if self.shared.options.on_event.is_some() {
            let value: serde_json::Value = serde_json::from_str(&json)?;
            self.shared
                .emit(&super::WorkerEvent::Progress(&self.job, &value));
        }
        Ok(())
    }

    /// Appends a line to the job's logs (trimmed to the job's `keepLogs`); returns how
    /// many lines the job now keeps.
    ///
    /// # Errors
    /// [`crate::Error::Script`] when the job no longer exists, [`crate::Error::Redis`].
    pub async fn log(&self, line: &str) -> Result<u64> {
        let kept = self
            .update(JobUpdate::Log {
                line,
                keep: self.job.opts.keep_logs,
            })
            .await?;
        Ok(u64::try_from(kept).unwrap_or_default())
    }

    /// Replaces the job's data (seen by later attempts).
    ///
    /// # Errors
    /// [`crate::Error::Serialize`], [`crate::Error::Script`] when the job no longer
    /// exists, [`crate::Error::Redis`].
    pub async fn update_data<T: Serialize + ?Sized>(&mut self, data: &T) -> Result<()> {
        let json = serde_json::to_string(data)?;
        self.update(JobUpdate::Data(&json)).await?;
        self.job.data = serde_json::from_str(&json)?;
        Ok(())
    }

    /// The return values of this job's completed children, by child job key
    /// (`bull:renders:<id>`), as BullMQ's `getChildrenValues`.
    ///
    /// ```no_run
    /// # async fn handle(job: bullmq_rs::ActiveJob) -> Result<serde_json::Value, bullmq_rs::JobError> {
    /// let values = job.get_children_values().await.map_err(|err| bullmq_rs::JobError::new(err.to_string()))?;
    /// Ok(serde_json::json!({ "children": values.len() }))
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`], [`crate::Error::UnexpectedReply`] when a value is not JSON.
    pub async fn get_children_values(&self) -> Result<BTreeMap<String, serde_json::Value>> {
        let job_key = self.shared.keys.job(&self.job.id);
        read_children_values(&mut self.shared.conn.clone(), &job_key).await
    }

    /// This job's children by outcome: processed, pending, failed, ignored (BullMQ's
    /// `getDependencies`).
    ///
    /// # Errors
    /// [`crate::Error::Redis`], [`crate::Error::UnexpectedReply`] when a value is not JSON.
    pub async fn get_dependencies(&self) -> Result<Dependencies> {
        let job_key = self.shared.keys.job(&self.job.id);
        read_dependencies(&mut self.shared.conn.clone(), &job_key).await
    }

    /// Ends this attempt to wait for the children the job added (with
    /// [`crate::JobOptions::parent`] naming it), as BullMQ's `moveToWaitingChildren`:
    /// `true` when the job now waits in `waiting-children` — the handler must then return
    /// [`JobError::waiting_children`], and the job runs again (same attempt count) once its
    /// children are done; `false` when no child is pending, so the handler goes on.
    ///
    /// ```no_run
    /// # async fn handle(job: bullmq_rs::ActiveJob, queue: bullmq_rs::Queue) -> Result<serde_json::Value, bullmq_rs::JobError> {
    /// use bullmq_rs::{JobError, JobOptions, ParentRef};
    /// let fail = |err: bullmq_rs::Error| JobError::new(err.to_string());
    /// if job.data["step"] == "start" {
    ///     let parent = ParentRef::new("bull", queue.name(), job.id.clone());
    ///     let opts = JobOptions { parent: Some(parent), ..Default::default() };
    ///     queue.add("part", &serde_json::json!({}), opts).await.map_err(fail)?;
    ///     // (a real handler also records in its data that it moved on to the next step)
    ///     if job.move_to_waiting_children().await.map_err(fail)? {
    ///         return Err(JobError::waiting_children());
    ///     }
    /// }
    /// Ok(serde_json::json!("done"))
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Script`] with [`crate::ScriptError::FailedChildren`] when a child
    /// that had to succeed failed, or a lost lock; [`crate::Error::Redis`].
    pub async fn move_to_waiting_children(&self) -> Result<bool> {
        SCRIPTS
            .move_to_waiting_children
            .call(
                &mut self.shared.conn.clone(),
                &self.shared.keys,
                &self.job.id,
                &self.token,
                codec::now_millis(),
            )
            .await
    }

    async fn update(&self, update: JobUpdate<'_>) -> Result<i64> {
        SCRIPTS
            .job_updates
            .call(
                &mut self.shared.conn.clone(),
                &self.shared.keys,
                &self.job.id,
                update,
            )
            .await
    }
}

/// The cancellation of a running job, fired when the worker gives the job up (see
/// [`ActiveJob::cancelled`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobCancellation(watch::Receiver<bool>);

impl JobCancellation {
    /// Resolves once the job is given up; never, if the job ends otherwise.
    pub async fn cancelled(mut self) {
        if self.0.wait_for(|fired| *fired).await.is_err() {
            // The job ended without being given up.
            std::future::pending::<()>().await;
        }
    }

    /// Whether the job was given up.
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }
}

impl Deref for ActiveJob {
    type Target = Job;

    fn deref(&self) -> &Job {
        &self.job
    }
}

impl fmt::Debug for ActiveJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ActiveJob").field(&self.job).finish()
    }
}

/// Why a handler failed a job, and whether it may run again.
///
/// Any `std::error::Error` converts into a retryable `JobError`, so `?` works in handlers.
/// Retries follow the job's `attempts` and `backoff`, as BullMQ's do.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    message: String,
    trace: Vec<String>,
    kind: FailureKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FailureKind {
    Retryable,
    RetryAfter(Duration),
    RateLimited(Duration),
    Delayed(SystemTime),
    Unrecoverable,
    WaitingChildren,
}

impl JobError {
    /// A failure that may be retried per the job's attempts and backoff.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            trace: Vec::new(),
            kind: FailureKind::Retryable,
        }
    }

    /// A failure that ends the job at once (BullMQ's `UnrecoverableError`).
    pub fn unrecoverable(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Unrecoverable,
            ..Self::new(message)
        }
    }

    /// A retryable failure whose next try must wait at least `delay` (e.g. an HTTP
    /// `Retry-After`), instead of the job's backoff.
    pub fn retry_after(message: impl Into<String>, delay: Duration) -> Self {
        Self {
            kind: FailureKind::RetryAfter(delay),
            ..Self::new(message)
        }
    }

    /// Not a failure of the job: an outside service asked to slow down (HTTP 429). The
    /// whole queue is rate-limited for `delay` and the job goes back to the front of the
    /// queue without counting an attempt, as BullMQ's `RateLimitError` after
    /// `rateLimit(delay)` does. Workers respect the queue's rate limit when configured with
    /// a limiter ([`super::WorkerBuilder::limiter`], BullMQ's `limiter`).
    pub fn rate_limited(message: impl Into<String>, delay: Duration) -> Self {
        Self {
            kind: FailureKind::RateLimited(delay),
            ..Self::new(message)
        }
    }

    /// Not a failure: the job is to run again at `until`, without using an attempt
    /// (BullMQ's `job.moveToDelayed(timestamp)` followed by `DelayedError`). The worker
    /// moves it to `delayed`, its `delay` field set to the time left.
    pub fn delayed(until: SystemTime) -> Self {
        Self {
            kind: FailureKind::Delayed(until),
            ..Self::new("delayed")
        }
    }

    /// When the job is to run again, for a [`JobError::delayed`].
    pub fn delayed_until(&self) -> Option<SystemTime> {
        match self.kind {
            FailureKind::Delayed(until) => Some(until),
            _ => None,
        }
    }

    /// Not a failure: the handler moved the job to wait for its children
    /// ([`ActiveJob::move_to_waiting_children`] returned `true`), so the worker leaves the
    /// job there (BullMQ's `WaitingChildrenError`).
    pub fn waiting_children() -> Self {
        Self {
            kind: FailureKind::WaitingChildren,
            ..Self::new("waiting for children")
        }
    }

    /// Whether this is [`JobError::waiting_children`].
    pub fn is_waiting_children(&self) -> bool {
        self.kind == FailureKind::WaitingChildren
    }

    /// How long the queue must pause, for a [`JobError::rate_limited`].
    pub fn rate_limit(&self) -> Option<Duration> {
        match self.kind {
            FailureKind::RateLimited(delay) => Some(delay),
            _ => None,
        }
    }

    /// The failure message, stored as the job's `failedReason`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the job must not be retried.
    pub fn is_unrecoverable(&self) -> bool {
        self.kind == FailureKind::Unrecoverable
    }

    /// The delay the failure asks for before the next try, if any.
    pub fn retry_delay(&self) -> Option<Duration> {
        match self.kind {
            FailureKind::RetryAfter(delay) => Some(delay),
            _ => None,
        }
    }

    /// The trace stored in the job's `stacktrace`: the message, then the error's causes.
    pub(super) fn trace(&self) -> String {
        std::iter::once(format!("Error: {}", self.message))
            .chain(
                self.trace
                    .iter()
                    .map(|cause| format!("    caused by: {cause}")),
            )
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for JobError {
    fn from(err: E) -> Self {
        let mut trace = Vec::new();
        let mut source = err.source();
        while let Some(cause) = source {
            trace.push(cause.to_string());
            source = cause.source();
        }
        Self {
            trace,
            ..Self::new(err.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_convert_with_their_causes() {
        let io = std::io::Error::other("disk on fire");
        let err = JobError::from(io);
        assert_eq!(err.message(), "disk on fire");
        assert!(!err.is_unrecoverable());
        assert_eq!(err.trace(), "Error: disk on fire");
    }

    #[test]
    fn kinds_say_whether_and_when_to_retry() {
        assert!(JobError::unrecoverable("bad input").is_unrecoverable());
        let later = JobError::retry_after("429", Duration::from_secs(2));
        assert_eq!(
            (later.is_unrecoverable(), later.retry_delay()),
            (false, Some(Duration::from_secs(2)))
        );
        assert_eq!(JobError::new("x").retry_delay(), None);
        let limited = JobError::rate_limited("429", Duration::from_secs(1));
        assert_eq!(
            (limited.rate_limit(), limited.retry_delay()),
            (Some(Duration::from_secs(1)), None)
        );
    }
}
