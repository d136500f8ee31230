//! `Queue::clean`: remove old jobs of one state, as BullMQ's `Queue.clean` does.

use std::time::Duration;

use super::Queue;
use crate::codec;
use crate::job::{JobId, JobState};
use crate::scripts::{CleanTarget, SCRIPTS};
use crate::{Error, Result};

/// Jobs removed per script call at most, as BullMQ's `clean` loops, so that Redis is never
/// blocked for long.
const CLEAN_JOBS_PER_CALL: u64 = 10_000;

impl Queue {
    /// Removes the jobs of `state` older than `grace`, at most `limit` of them (0: no
    /// limit), and returns their ids; BullMQ's `Queue.clean(grace, limit, type)`.
    ///
    /// "Older" is measured as BullMQ measures it: completed and failed jobs by
    /// `finishedOn`, waiting and active ones by the last of `finishedOn`, `processedOn`,
    /// `timestamp` that is set, delayed ones by `processedOn` or `timestamp`, prioritized
    /// ones by `timestamp`, parents waiting for children by when they started waiting.
    /// Active jobs still holding their lock, and the pending run of a job scheduler, stay.
    /// Every key of a removed job goes (hash, logs, dependencies, its deduplication slot
    /// when the slot points at it), and each script call writes one `cleaned` event with
    /// its count, so Node listeners see the same events.
    ///
    /// [`JobState::Waiting`] cleans `wait`, then the `paused` list when it exists (BullMQ
    /// 5 parks a paused queue's jobs there; see [`crate::BullmqMajor`]), as Node's
    /// `clean(grace, limit, 'wait')` then `clean(grace, rest, 'paused')` would. Ids come
    /// back in the order BullMQ returns them: a list from its head within the looked-at
    /// tail, a zset by score. Unlike Node, a `limit` above 10 000 is never exceeded.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use std::time::Duration;
    /// use bullmq_rs::{JobState, Queue};
    /// let queue = Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// let week = Duration::from_secs(7 * 24 * 3600);
    /// let removed = queue.clean(week, 1000, JobState::Completed).await?;
    /// println!("removed {} completed jobs", removed.len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for [`JobState::Unknown`], which BullMQ cannot clean,
    /// [`Error::Redis`] when Redis cannot be reached (jobs removed by earlier calls of
    /// the same clean stay removed).
    pub async fn clean(&self, grace: Duration, limit: u64, state: JobState) -> Result<Vec<JobId>> {
        let cutoff = codec::now_millis().saturating_sub(codec::as_millis(grace));
        let mut removed = Vec::new();
        for target in self.clean_targets(state).await? {
            let rest = limit.saturating_sub(removed.len() as u64);
            if limit > 0 && rest == 0 {
                break;
            }
            removed.extend(self.clean_one(target, cutoff, rest).await?);
        }
        Ok(removed)
    }

    /// The lists or zsets holding jobs of `state`, with their BullMQ names.
    async fn clean_targets(&self, state: JobState) -> Result<Vec<CleanTarget<'_>>> {
        let keys = self.keys();
        let one = |key, suffix| vec![CleanTarget { key, suffix }];
        Ok(match state {
            JobState::Waiting => {
                let mut targets = one(&keys.wait, "wait");
                let paused: bool = redis::cmd("EXISTS")
                    .arg(&keys.paused)
                    .query_async(&mut self.connection())
                    .await?;
                if paused {
                    targets.extend(one(&keys.paused, "paused"));
                }
                targets
            }
            JobState::Active => one(&keys.active, "active"),
            JobState::Delayed => one(&keys.delayed, "delayed"),
            JobState::Prioritized => one(&keys.prioritized, "prioritized"),
            JobState::Completed => one(&keys.completed, "completed"),
            JobState::Failed => one(&keys.failed, "failed"),
            JobState::WaitingChildren => one(&keys.waiting_children, "waiting-children"),
            JobState::Paused => one(&keys.paused, "paused"),
            JobState::Unknown => {
                return Err(Error::InvalidOption {
                    option: "type",
                    reason: "BullMQ cleans no `unknown` state".to_owned(),
                });
            }
        })
    }

    /// Cleans one list or zset in calls of at most [`CLEAN_JOBS_PER_CALL`] jobs, until a
    /// call removes fewer than it could or `limit` is reached.
    async fn clean_one(
        &self,
        target: CleanTarget<'_>,
        cutoff: u64,
        limit: u64,
    ) -> Result<Vec<JobId>> {
        let mut conn = self.connection();
        let mut removed = Vec::new();
        loop {
            let budget = if limit == 0 {
                CLEAN_JOBS_PER_CALL
            } else {
                (limit - removed.len() as u64).min(CLEAN_JOBS_PER_CALL)
            };
            let ids = SCRIPTS
                .clean_jobs
                .call(&mut conn, self.keys(), target, cutoff, budget)
                .await?;
            let done = (ids.len() as u64) < budget;
            removed.extend(ids);
            if done || (limit > 0 && removed.len() as u64 >= limit) {
                return Ok(removed);
            }
        }
    }
}
