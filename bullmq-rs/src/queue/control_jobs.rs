//! What an operator does to stored jobs: `Queue::remove`, `retry_job`, `promote_job` (one
//! job, by id), `retry_jobs`, `promote_jobs` and `drain` (in bulk), leaving Redis as Node BullMQ's
//! `Queue.remove`, `Job.retry`, `Job.promote`, `Queue.retryJobs`, `Queue.promoteJobs`
//! and `Queue.drain` do.
//!
//! Every job method of the crate has this shape: a method of [`Queue`] taking the job's
//! [`JobId`] (and, when BullMQ's takes options, a plain options struct). A job that does not
//! exist is [`Error::JobNotFound`]; an operation BullMQ's rules refuse is
//! [`Error::JobRefused`] with the [`Refusal`].

use super::Queue;
use crate::codec;
use crate::error::Refusal;
use crate::job::{JobId, JobState};
use crate::scripts::{FinishedSet, Removal, Reprocess, SCRIPTS};
use crate::{Error, Result};

/// Options of [`Queue::remove`], as BullMQ's `Queue.remove(id, { removeChildren })`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoveOptions {
    /// Remove the job's children too, depth first, in whatever queue they are (BullMQ's
    /// default: `true`).
    pub remove_children: bool,
}

impl Default for RemoveOptions {
    fn default() -> Self {
        Self {
            remove_children: true,
        }
    }
}

/// Options of [`Queue::retry_job`], as BullMQ's `Job.retry(state, opts)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryOptions {
    /// Forget the attempts made (`atm`), so the job gets all its `attempts` again.
    pub reset_attempts_made: bool,
    /// Forget the attempts started (`ats`).
    pub reset_attempts_started: bool,
}

/// Options of [`Queue::retry_jobs`], as BullMQ's `Queue.retryJobs({ count, timestamp })`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryJobsOptions {
    /// Jobs moved per script call (BullMQ's default: 1000); calls repeat until none is left.
    pub count: u32,
    /// Only jobs finished at or before this time, ms since the epoch (`None`: now).
    pub timestamp: Option<u64>,
}

impl Default for RetryJobsOptions {
    fn default() -> Self {
        Self {
            count: 1000,
            timestamp: None,
        }
    }
}

impl Queue {
    /// Removes a job from whatever state it is in, with all its keys, as BullMQ's
    /// `Queue.remove(id, { removeChildren })`.
    ///
    /// A child leaves its parent's dependencies; when it was the last one, the parent, if
    /// still waiting for its children, goes to the front of `wait`. With
    /// [`RemoveOptions::remove_children`] (the default) the job's children go too, depth
    /// first, in whatever queue they are. Each removed job writes `removed` (with `prev`,
    /// the state it left) to its queue's events, and frees its deduplication slot.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{Error, JobId, Queue};
    /// let queue = Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// match queue.remove(&JobId::from("42"), Default::default()).await {
    ///     Ok(()) => println!("removed"),
    ///     Err(Error::JobNotFound(id)) => println!("no job {id}"),
    ///     Err(Error::JobRefused { reason, .. }) => println!("refused: {reason}"),
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::JobNotFound`] when no key of the job exists (nothing was written),
    /// [`Error::JobRefused`] with [`Refusal::Locked`] while a worker holds the job (or,
    /// with children, a pending child) and with [`Refusal::SchedulerRun`] for the pending
    /// run of a job scheduler (nothing is removed then), [`Error::Redis`] when Redis
    /// cannot be reached.
    pub async fn remove(&self, id: &JobId, opts: RemoveOptions) -> Result<()> {
        let removal = SCRIPTS
            .remove_job
            .call(
                &mut self.connection(),
                self.keys(),
                self.major(),
                id,
                opts.remove_children,
            )
            .await?;
        let refused = |reason| Error::JobRefused {
            job_id: id.clone(),
            reason,
        };
        match removal {
            Removal::Removed => Ok(()),
            Removal::Missing => Err(Error::JobNotFound(id.clone())),
            Removal::Locked => Err(refused(Refusal::Locked)),
            Removal::SchedulerRun => Err(refused(Refusal::SchedulerRun)),
        }
    }

    /// Sends a completed or failed job back to run again, as BullMQ's
    /// `Job.retry(state, opts)`: the replay of a failed event.
    ///
    /// The job loses `finishedOn`, `processedOn` and its result (`returnvalue` or
    /// `failedReason`; the stack traces stay), and, when asked, its attempt counters. It
    /// goes to `wait` as its `lifo` option says (BullMQ 6 puts a job with a priority in
    /// `prioritized`; BullMQ 5 parks it in `paused` while the queue is paused) and writes
    /// `waiting` with `prev` = `state`. A child goes back into its parent's dependencies
    /// when the parent recorded its result.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{JobId, JobState, Queue, RetryOptions};
    /// let queue = Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// let fresh = RetryOptions { reset_attempts_made: true, ..Default::default() };
    /// queue.retry_job(&JobId::from("42"), JobState::Failed, fresh).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a `state` other than completed or failed,
    /// [`Error::JobNotFound`] when the job does not exist, [`Error::JobRefused`] with
    /// [`Refusal::NotInState`] when it is not in `state`, [`Error::Redis`] when Redis
    /// cannot be reached (with BullMQ 5, also when a failed child's parent keeps a
    /// `failed` hash, which BullMQ 5 reads as a zset).
    pub async fn retry_job(&self, id: &JobId, state: JobState, opts: RetryOptions) -> Result<()> {
        let from = self.finished_set(state)?;
        let reprocess = SCRIPTS
            .reprocess_job
            .call(
                &mut self.connection(),
                self.keys(),
                self.major(),
                id,
                from,
                opts,
            )
            .await?;
        match reprocess {
            Reprocess::Done => Ok(()),
            Reprocess::Missing => Err(Error::JobNotFound(id.clone())),
            Reprocess::NotInState => Err(Error::JobRefused {
                job_id: id.clone(),
                reason: Refusal::NotInState(state),
            }),
        }
    }

    /// Makes a delayed job ready now, as BullMQ's `Job.promote`: to the head of `wait`
    /// (BullMQ 5: of `paused` while the queue is paused), or to `prioritized` when it has a
    /// priority, with `waiting prev delayed`; its `delay` field becomes 0.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.promote_job(&bullmq_rs::JobId::from("42")).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::JobNotFound`] when the job does not exist, [`Error::JobRefused`] with
    /// [`Refusal::NotInState`] when it is not delayed, [`Error::Redis`] when Redis cannot
    /// be reached.
    pub async fn promote_job(&self, id: &JobId) -> Result<()> {
        let promoted = SCRIPTS
            .promote
            .call(&mut self.connection(), self.keys(), self.major(), id)
            .await?;
        match promoted {
            Reprocess::Done => Ok(()),
            Reprocess::Missing => Err(Error::JobNotFound(id.clone())),
            Reprocess::NotInState => Err(Error::JobRefused {
                job_id: id.clone(),
                reason: Refusal::NotInState(JobState::Delayed),
            }),
        }
    }

    /// Sends every failed (or completed) job finished at or before `opts.timestamp` back
    /// to `wait`, as BullMQ's `Queue.retryJobs({ state, count, timestamp })`: the oldest
    /// first, `opts.count` per script call until none is left.
    ///
    /// As in BullMQ, and unlike [`Queue::retry_job`], priority and `lifo` are ignored (all
    /// go to the head of `wait`, or of `paused` with BullMQ 5 while the queue is paused),
    /// and the attempt counters stay. Each job loses `finishedOn`, `processedOn` and its
    /// result and writes `waiting prev <state>`; with BullMQ 6 a child is pending again for
    /// its parent.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{JobState, RetryJobsOptions};
    /// queue.retry_jobs(JobState::Failed, RetryJobsOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a state other than completed or failed, or a count of 0
    /// (BullMQ would loop for ever), [`Error::Redis`] when Redis cannot be reached (jobs
    /// moved by earlier calls stay moved).
    pub async fn retry_jobs(&self, state: JobState, opts: RetryJobsOptions) -> Result<()> {
        let from = self.finished_set(state)?;
        let before = opts.timestamp.unwrap_or_else(codec::now_millis).to_string();
        self.move_jobs_to_wait(from, opts.count, &before).await
    }

    /// Makes every delayed job ready now, as BullMQ's `Queue.promoteJobs({ count })`:
    /// earliest due first, `count` per script call until none is left, each to the head
    /// of `wait` (or of `paused` with BullMQ 5 while the queue is paused), priority
    /// ignored and `delay` field kept as BullMQ does, with `waiting prev delayed`.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.promote_jobs(1000).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a count of 0, [`Error::Redis`] when Redis cannot be
    /// reached (jobs moved by earlier calls stay moved).
    pub async fn promote_jobs(&self, count: u32) -> Result<()> {
        let from = FinishedSet {
            key: &self.keys().delayed,
            name: "delayed",
        };
        self.move_jobs_to_wait(from, count, "+inf").await
    }

    /// Removes every job waiting to run — waiting, prioritized and, with `delayed`,
    /// delayed ones — with their keys, but not active, finished or waiting-children jobs
    /// nor the pending run of a job scheduler (BullMQ's `Queue.drain(delayed)`). A child's
    /// parent is told as BullMQ tells it: a parent left without children is deleted when
    /// it is of this queue, released to `wait` when of another. No event is written.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.drain(true).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn drain(&self, delayed: bool) -> Result<()> {
        SCRIPTS
            .drain
            .call(&mut self.connection(), self.keys(), self.major(), delayed)
            .await
    }

    async fn move_jobs_to_wait(&self, from: FinishedSet<'_>, count: u32, max: &str) -> Result<()> {
        if count == 0 {
            return Err(Error::InvalidOption {
                option: "count",
                reason: "must be at least 1".to_owned(),
            });
        }
        let mut conn = self.connection();
        while SCRIPTS
            .move_jobs_to_wait
            .call(&mut conn, self.keys(), self.major(), from, count, max)
            .await?
        {}
        Ok(())
    }

    /// The zset of `state`, which must be completed or failed.
    fn finished_set(&self, state: JobState) -> Result<FinishedSet<'_>> {
        let keys = self.keys();
        match state {
            JobState::Completed => Ok(FinishedSet {
                key: &keys.completed,
                name: "completed",
            }),
            JobState::Failed => Ok(FinishedSet {
                key: &keys.failed,
                name: "failed",
            }),
            other => Err(Error::InvalidOption {
                option: "state",
                reason: format!("BullMQ retries completed or failed jobs, not {other}"),
            }),
        }
    }
}
