//! `QueueEvents::wait_until_finished`: BullMQ's `job.waitUntilFinished`.

use std::time::Duration;

use serde_json::Value;

use super::{QueueEvent, QueueEvents};
use crate::job::JobId;
use crate::{Error, Result};

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// It completed with this return value.
    Completed {
        /// What the processor returned (BullMQ's `returnvalue`).
        return_value: Value,
    },
    /// It failed for good with this reason.
    Failed {
        /// The error message (BullMQ's `failedReason`).
        failed_reason: String,
    },
}

/// What the job's keys say before the wait.
enum Found {
    Finished(JobOutcome),
    Unfinished,
    Missing,
}

impl QueueEvents {
    /// Waits until job `job_id` completes or fails for good, as BullMQ's
    /// `job.waitUntilFinished(queueEvents, ttl)` does, and returns how it ended.
    ///
    /// No finish is missed: the job's state is read after the reader's position is fixed,
    /// so a job that finishes before that read is found finished, and one that finishes
    /// after it shows up in the stream. Events read meanwhile are consumed: a reader that
    /// also serves a stream of events should not wait on jobs (use one reader for each).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use bullmq_rs::{JobOutcome, Queue, QueueEvents};
    ///
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let url = "redis://127.0.0.1:6379";
    /// let queue = Queue::connect(url, "emails").await?;
    /// let mut events = QueueEvents::connect(url, "emails").await?;
    /// let id = queue.add("welcome", &serde_json::json!({}), Default::default()).await?;
    /// match events.wait_until_finished(&id, Duration::from_secs(30)).await? {
    ///     JobOutcome::Completed { return_value } => println!("sent: {return_value}"),
    ///     JobOutcome::Failed { failed_reason } => println!("not sent: {failed_reason}"),
    ///     _ => {}
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::WaitTimedOut`] when `timeout` passes first, [`Error::JobNotFound`] when
    /// the job does not exist and the stream does not say it finished, [`Error::Redis`]
    /// when Redis cannot be reached (the reader stays usable; waiting again is safe),
    /// [`Error::UnexpectedReply`] for a stored return value that is not JSON.
    pub async fn wait_until_finished(
        &mut self,
        job_id: &JobId,
        timeout: Duration,
    ) -> Result<JobOutcome> {
        match tokio::time::timeout(timeout, self.wait_for(job_id)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::WaitTimedOut {
                job_id: job_id.clone(),
                timeout,
            }),
        }
    }

    async fn wait_for(&mut self, job_id: &JobId) -> Result<JobOutcome> {
        // Every entry not handed out yet lies after the reader's position, so anything
        // that happens to the job after the read below is among them. The read goes
        // through `commands`: it need not wait for a blocked read left in flight.
        match self.find(job_id).await? {
            Found::Finished(outcome) => Ok(outcome),
            Found::Unfinished => loop {
                if let Some(outcome) = outcome_of(&self.next().await?, job_id)? {
                    return Ok(outcome);
                }
            },
            // A job removed as it finished (`removeOnComplete`) may have finished after
            // the reader's position: then its event is in the stream already.
            Found::Missing => loop {
                while let Some(entry) = self.take_buffered() {
                    if let Some(outcome) = outcome_of(&QueueEvent::from_entry(entry), job_id)? {
                        return Ok(outcome);
                    }
                }
                if !self.read_now().await? {
                    return Err(Error::JobNotFound(job_id.clone()));
                }
            },
        }
    }

    /// Reads what BullMQ's `isFinished` script reads: the job hash's existence, its
    /// membership in `completed` and `failed`, its result or failure.
    async fn find(&self, job_id: &JobId) -> Result<Found> {
        let keys = &self.keys;
        let job = keys.job(job_id);
        let (exists, completed, failed, return_value, failed_reason): (
            bool,
            Option<f64>,
            Option<f64>,
            Option<String>,
            Option<String>,
        ) = redis::pipe()
            .exists(&job)
            .zscore(&keys.completed, job_id.as_str())
            .zscore(&keys.failed, job_id.as_str())
            .hget(&job, "returnvalue")
            .hget(&job, "failedReason")
            .query_async(&mut self.commands.clone())
            .await?;
        Ok(match (exists, completed, failed) {
            (false, _, _) => Found::Missing,
            (true, Some(_), _) => Found::Finished(JobOutcome::Completed {
                return_value: return_value
                    .map(|json| parse_return_value(&json))
                    .transpose()?
                    .unwrap_or(Value::Null),
            }),
            (true, None, Some(_)) => Found::Finished(JobOutcome::Failed {
                failed_reason: failed_reason.unwrap_or_default(),
            }),
            (true, None, None) => Found::Unfinished,
        })
    }
}

/// The outcome an event tells for `job_id`, if it tells one.
fn outcome_of(event: &QueueEvent, job_id: &JobId) -> Result<Option<JobOutcome>> {
    if event.job_id() != Some(job_id) {
        // `Other` has no job id: a finish whose fields did not parse is caught below.
        if let QueueEvent::Other { name, fields, .. } = event
            && (name == "completed" || name == "failed")
            && fields
                .iter()
                .any(|(f, v)| f == "jobId" && v == job_id.as_str())
        {
            return Err(Error::UnexpectedReply {
                command: "XREAD",
                detail: format!("malformed {name} event for job {job_id}: {fields:?}"),
            });
        }
        return Ok(None);
    }
    Ok(match event {
        QueueEvent::Completed { return_value, .. } => Some(JobOutcome::Completed {
            return_value: return_value.clone(),
        }),
        QueueEvent::Failed { failed_reason, .. } => Some(JobOutcome::Failed {
            failed_reason: failed_reason.clone(),
        }),
        _ => None,
    })
}

fn parse_return_value(json: &str) -> Result<Value> {
    serde_json::from_str(json).map_err(|err| Error::UnexpectedReply {
        command: "HGET returnvalue",
        detail: format!("{json:?} is not JSON: {err}"),
    })
}
