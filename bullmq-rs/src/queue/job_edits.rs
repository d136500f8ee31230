//! Changes to one stored job's fields, by id: delay, priority, data, progress and logs,
//! leaving Redis as Node BullMQ's `Job.changeDelay`, `Job.changePriority`,
//! `Job.updateData`, `Queue.updateJobProgress`, `Queue.addJobLog` and `Job.clearLogs` do.
//! Same shape as the other job methods (see `control_jobs.rs`): a [`Queue`] method taking
//! the [`JobId`].

use std::time::Duration;

use serde::Serialize;

use super::Queue;
use crate::error::{Refusal, ScriptError};
use crate::job::{JobId, JobState};
use crate::scripts::{JobUpdate, NewPriority, Reprocess, SCRIPTS};
use crate::{Error, Result, codec};

impl Queue {
    /// Gives a delayed job a new delay, counted from now, as BullMQ's
    /// `Job.changeDelay(delay)`: a new place in `delayed`, its `delay` field, a `delayed`
    /// event with the new due time and the delay marker.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// use std::time::Duration;
    /// queue.change_delay(&bullmq_rs::JobId::from("42"), Duration::from_secs(60)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::JobRefused`] with [`Refusal::NotInState`] when the
    /// job is not delayed, [`Error::Redis`] when Redis cannot be reached.
    pub async fn change_delay(&self, id: &JobId, delay: Duration) -> Result<()> {
        let changed = SCRIPTS
            .change_delay
            .call(
                &mut self.connection(),
                self.keys(),
                id,
                codec::as_millis(delay),
                codec::now_millis(),
            )
            .await?;
        match changed {
            Reprocess::Done => Ok(()),
            Reprocess::Missing => Err(Error::JobNotFound(id.clone())),
            Reprocess::NotInState => Err(Error::JobRefused {
                job_id: id.clone(),
                reason: Refusal::NotInState(JobState::Delayed),
            }),
        }
    }

    /// Gives a job a new priority (0: none), as BullMQ's
    /// `Job.changePriority({ priority, lifo })`. A waiting or prioritized job is placed
    /// again (`lifo`: ahead of the jobs of its priority); a job in another state keeps its
    /// place and runs with the new priority if it is queued again.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.change_priority(&bullmq_rs::JobId::from("42"), 1, false).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a priority above the major's limit
    /// ([`crate::BullmqMajor::priority_limit`]), [`Error::JobNotFound`], [`Error::Redis`]
    /// when Redis cannot be reached.
    pub async fn change_priority(&self, id: &JobId, priority: u32, lifo: bool) -> Result<()> {
        let limit = self.major().priority_limit();
        if priority > limit {
            return Err(Error::InvalidOption {
                option: "priority",
                reason: format!("{priority} is above BullMQ {}'s {limit}", self.major()),
            });
        }
        let found = SCRIPTS
            .change_priority
            .call(
                &mut self.connection(),
                self.keys(),
                self.major(),
                id,
                NewPriority { priority, lifo },
            )
            .await?;
        if found {
            Ok(())
        } else {
            Err(Error::JobNotFound(id.clone()))
        }
    }

    /// Replaces a job's data, as BullMQ's `Job.updateData(data)`.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// let data = serde_json::json!({ "to": "grace@example.com" });
    /// queue.update_data(&bullmq_rs::JobId::from("42"), &data).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Serialize`], [`Error::JobNotFound`], [`Error::Redis`].
    pub async fn update_data<T: Serialize + ?Sized>(&self, id: &JobId, data: &T) -> Result<()> {
        let json = serde_json::to_string(data)?;
        self.job_update(id, JobUpdate::Data(&json)).await.map(drop)
    }

    /// Records a job's progress (any JSON) and writes a `progress` event, as BullMQ's
    /// `Queue.updateJobProgress(id, progress)`.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.update_progress(&bullmq_rs::JobId::from("42"), &50).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Serialize`], [`Error::JobNotFound`], [`Error::Redis`].
    pub async fn update_progress<T: Serialize + ?Sized>(
        &self,
        id: &JobId,
        progress: &T,
    ) -> Result<()> {
        let json = serde_json::to_string(progress)?;
        self.job_update(id, JobUpdate::Progress(&json))
            .await
            .map(drop)
    }

    /// Appends a line to a job's logs, keeping the last `keep_logs` lines when given, as
    /// BullMQ's `Queue.addJobLog(id, row, keepLogs)`; returns how many lines it keeps.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.log(&bullmq_rs::JobId::from("42"), "replayed by ops", None).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::Redis`].
    pub async fn log(&self, id: &JobId, line: &str, keep_logs: Option<u32>) -> Result<u64> {
        let kept = self
            .job_update(
                id,
                JobUpdate::Log {
                    line,
                    keep: keep_logs,
                },
            )
            .await?;
        Ok(u64::try_from(kept).unwrap_or_default())
    }

    /// Drops a job's log lines but the last `keep` (all with 0), as BullMQ's
    /// `Job.clearLogs(keepLogs)`. A job without logs is left as it is.
    ///
    /// ```no_run
    /// # async fn demo(queue: bullmq_rs::Queue) -> bullmq_rs::Result<()> {
    /// queue.clear_logs(&bullmq_rs::JobId::from("42"), 0).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn clear_logs(&self, id: &JobId, keep: u32) -> Result<()> {
        let logs = format!("{}:logs", self.keys().job(id));
        let mut cmd = if keep == 0 {
            redis::cmd("DEL")
        } else {
            redis::cmd("LTRIM")
        };
        cmd.arg(&logs);
        if keep > 0 {
            cmd.arg(-i64::from(keep)).arg(-1);
        }
        cmd.exec_async(&mut self.connection()).await?;
        Ok(())
    }

    async fn job_update(&self, id: &JobId, update: JobUpdate<'_>) -> Result<i64> {
        SCRIPTS
            .job_updates
            .call(&mut self.connection(), self.keys(), id, update)
            .await
            .map_err(|err| match err {
                Error::Script {
                    code: ScriptError::JobMissing,
                    ..
                } => Error::JobNotFound(id.clone()),
                other => other,
            })
    }
}
