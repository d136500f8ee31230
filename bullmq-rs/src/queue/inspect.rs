//! `Queue::get_job`, `get_job_counts` and `is_paused`: reads, one round trip each.

use std::collections::HashMap;

use redis::{FromRedisValue, Value};

use super::Queue;
use crate::job::{Job, JobCounts, JobId, JobState};
use crate::{Error, Result};

impl Queue {
    /// Reads a job back: name, data, options, state, times, attempts, result or failure.
    /// `None` when no such job exists.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached,
    /// [`crate::Error::UnexpectedReply`] when the stored options are not BullMQ's.
    pub async fn get_job(&self, id: &JobId) -> Result<Option<Job>> {
        let keys = self.keys();
        let id_str = id.as_str();
        // One pipeline: the hash, then membership in each place a job can be, in the
        // order BullMQ's getState checks them; the first place that knows the id wins.
        let places = [
            (
                JobState::Completed,
                redis::cmd("ZSCORE")
                    .arg(&keys.completed)
                    .arg(id_str)
                    .clone(),
            ),
            (
                JobState::Failed,
                redis::cmd("ZSCORE").arg(&keys.failed).arg(id_str).clone(),
            ),
            (
                JobState::Delayed,
                redis::cmd("ZSCORE").arg(&keys.delayed).arg(id_str).clone(),
            ),
            (
                JobState::Prioritized,
                redis::cmd("ZSCORE")
                    .arg(&keys.prioritized)
                    .arg(id_str)
                    .clone(),
            ),
            (
                JobState::Active,
                redis::cmd("LPOS").arg(&keys.active).arg(id_str).clone(),
            ),
            (
                JobState::Waiting,
                redis::cmd("LPOS").arg(&keys.wait).arg(id_str).clone(),
            ),
            (
                JobState::Waiting,
                redis::cmd("LPOS").arg(&keys.paused).arg(id_str).clone(),
            ),
            (
                JobState::WaitingChildren,
                redis::cmd("ZSCORE")
                    .arg(&keys.waiting_children)
                    .arg(id_str)
                    .clone(),
            ),
        ];
        let mut pipe = redis::pipe();
        pipe.hgetall(keys.job(id));
        for (_, cmd) in &places {
            pipe.add_command(cmd.clone());
        }
        let (hash, found): (HashMap<String, String>, Vec<Value>) = {
            let mut replies = pipe
                .query_async::<Vec<Value>>(&mut self.connection())
                .await?
                .into_iter();
            let hash = replies
                .next()
                .map(HashMap::from_redis_value)
                .transpose()
                .map_err(|err| Error::UnexpectedReply {
                    command: "HGETALL",
                    detail: err.to_string(),
                })?
                .unwrap_or_default();
            (hash, replies.collect())
        };
        if hash.is_empty() {
            return Ok(None);
        }
        let state = places
            .iter()
            .zip(&found)
            .find(|(_, reply)| !matches!(reply, Value::Nil))
            .map_or(JobState::Unknown, |((state, _), _)| *state);
        Job::from_hash(id.clone(), state, hash).map(Some)
    }

    /// How many jobs the queue holds in each state.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn get_job_counts(&self) -> Result<JobCounts> {
        let keys = self.keys();
        let (wait, paused, prioritized, delayed, active, completed, failed, waiting_children): (
            u64,
            u64,
            u64,
            u64,
            u64,
            u64,
            u64,
            u64,
        ) = redis::pipe()
            .llen(&keys.wait)
            .llen(&keys.paused)
            .zcard(&keys.prioritized)
            .zcard(&keys.delayed)
            .llen(&keys.active)
            .zcard(&keys.completed)
            .zcard(&keys.failed)
            .zcard(&keys.waiting_children)
            .query_async(&mut self.connection())
            .await?;
        Ok(JobCounts {
            waiting: wait + paused,
            prioritized,
            delayed,
            active,
            completed,
            failed,
            waiting_children,
        })
    }

    /// Checks that Redis answers (`PING`).
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn ping(&self) -> Result<()> {
        redis::cmd("PING")
            .exec_async(&mut self.connection())
            .await?;
        Ok(())
    }

    /// How many replicas have acknowledged every write made so far through this queue's
    /// connection (Redis `WAIT 0 0`, which answers at once). Check it before a write that
    /// must not land on the primary alone: [`Queue::add_bulk_replicated`] can only report
    /// afterwards that too few replicas acknowledged. On a cluster the question goes, with
    /// a read of the queue's meta, to the primary holding the queue.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn replicas_in_sync(&self) -> Result<u32> {
        let (_, replicas): (bool, u32) = redis::pipe()
            .exists(&self.keys().meta)
            .cmd("WAIT")
            .arg(0)
            .arg(0)
            .query_async(&mut self.connection())
            .await?;
        Ok(replicas)
    }

    /// Whether the queue is paused (meta has a `paused` field).
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn is_paused(&self) -> Result<bool> {
        let paused: bool = redis::cmd("HEXISTS")
            .arg(&self.keys().meta)
            .arg("paused")
            .query_async(&mut self.connection())
            .await?;
        Ok(paused)
    }
}
