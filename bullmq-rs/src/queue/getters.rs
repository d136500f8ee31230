//! `Queue::get_jobs`, `get_job_counts_of`, `count` and `get_job_logs`: the job getters of
//! Node BullMQ's `Queue`, with its ranges, order and states per major.

use std::collections::HashMap;

use super::Queue;
use crate::job::{Job, JobId, JobState};
use crate::layout::BullmqMajor;
use crate::scripts::{JobWindow, SCRIPTS, StateKey};
use crate::{Error, Result};

/// Passes BullMQ 6's `getJobs` makes over a bounded window to fill it past jobs removed
/// while it reads (`GET_JOBS_MAX_BACKFILL_ITERATIONS`); BullMQ 5 reads the window once.
const BULLMQ6_WINDOW_PASSES: u32 = 5;

/// A job's log lines and how many it has, as BullMQ's `getJobLogs` returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLogs {
    /// The lines of the requested window, in the requested order.
    pub logs: Vec<String>,
    /// How many lines the job has in all.
    pub count: u64,
}

impl Queue {
    /// The jobs in `states`, a window `start..=end` of each (0-based, `-1` for the last),
    /// state after state; a job in two of them comes once. BullMQ's
    /// `Queue.getJobs(types, start, end, asc)`, with its order: `asc` gives the oldest
    /// first (for lists the job added first, for sorted sets the lowest score: soonest
    /// due, highest priority, earliest finished), otherwise the newest first. An empty
    /// `states` means every state BullMQ lists by default.
    ///
    /// As in BullMQ 5, asking for [`JobState::Waiting`] also reads BullMQ 5's `paused`
    /// list (its default states include it too); BullMQ 6 reads `wait` only. Jobs whose
    /// hash is gone are left out; with BullMQ 6, as its `getJobs` does, a bounded window
    /// then reads on (up to five times) to stay full. BullMQ 5 returns `undefined` in
    /// their place.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{JobState, Queue};
    /// let queue = Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// // The ten most recently failed jobs.
    /// for job in queue.get_jobs(&[JobState::Failed], 0, 9, false).await? {
    ///     println!("{} failed: {:?}", job.id, job.failed_reason);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for [`JobState::Unknown`], which no list holds,
    /// [`Error::UnexpectedReply`] when a job's stored options are not BullMQ's,
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn get_jobs(
        &self,
        states: &[JobState],
        start: i64,
        end: i64,
        asc: bool,
    ) -> Result<Vec<Job>> {
        let states = self.listed_states(states);
        let places = state_keys(&states)?;
        let window = JobWindow {
            start,
            end,
            ascending: asc,
            passes: match self.major() {
                BullmqMajor::V5 => 1,
                BullmqMajor::V6 => BULLMQ6_WINDOW_PASSES,
            },
        };
        let found = SCRIPTS
            .get_jobs
            .call(&mut self.connection(), self.keys(), window, &places)
            .await?;
        let mut seen = std::collections::HashSet::new();
        let mut jobs = Vec::new();
        for (state, entries) in states.iter().zip(found) {
            // BullMQ's getState calls a job in the `paused` list waiting.
            let state = match state {
                JobState::Paused => JobState::Waiting,
                other => *other,
            };
            for (id, hash) in entries {
                if seen.insert(id.clone()) {
                    jobs.push(Job::from_hash(JobId::from(id), state, hash)?);
                }
            }
        }
        Ok(jobs)
    }

    /// How many jobs each of `states` holds, keyed by state: BullMQ's
    /// `Queue.getJobCounts(...types)`. An empty `states` means every state BullMQ counts
    /// by default.
    ///
    /// The states are BullMQ's for the queue's major: with BullMQ 5, asking for
    /// [`JobState::Waiting`] also counts its `paused` list, reported apart under
    /// [`JobState::Paused`], and the default states include it; BullMQ 6 parks no jobs
    /// there, so it reports `paused` only when asked. [`Queue::get_job_counts`] instead
    /// folds `paused` into `waiting`.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{JobState, Queue};
    /// let queue = Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// let counts = queue.get_job_counts_of(&[JobState::Active, JobState::Failed]).await?;
    /// println!("{} active, {} failed", counts[&JobState::Active], counts[&JobState::Failed]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for [`JobState::Unknown`], which no list holds,
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn get_job_counts_of(&self, states: &[JobState]) -> Result<HashMap<JobState, u64>> {
        let states = self.listed_states(states);
        let counts = SCRIPTS
            .get_counts
            .call(&mut self.connection(), self.keys(), &state_keys(&states)?)
            .await?;
        Ok(states.into_iter().zip(counts).collect())
    }

    /// How many jobs are still to be processed: BullMQ's `Queue.count()`, the jobs
    /// waiting, delayed, prioritized and waiting for children, plus, with BullMQ 5, those
    /// in its `paused` list.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// println!("{} jobs to go", queue.count().await?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn count(&self) -> Result<u64> {
        let counts = self
            .get_job_counts_of(&[
                JobState::Waiting,
                JobState::Delayed,
                JobState::Prioritized,
                JobState::WaitingChildren,
            ])
            .await?;
        Ok(counts.values().sum())
    }

    /// The log lines of job `id` (`job.log(..)`), a window `start..=end` of them (0-based,
    /// `-1` for the last), oldest first when `asc`, newest first otherwise, with how many
    /// it has in all: BullMQ's `Queue.getJobLogs(id, start, end, asc)`. A job without
    /// logs, or no such job, has none.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{JobId, Queue};
    /// let queue = Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// let last = queue.get_job_logs(&JobId::from("42"), 0, 9, false).await?;
    /// println!("the last {} of {} lines: {:?}", last.logs.len(), last.count, last.logs);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis cannot be reached.
    pub async fn get_job_logs(
        &self,
        id: &JobId,
        start: i64,
        end: i64,
        asc: bool,
    ) -> Result<JobLogs> {
        let key = format!("{}:logs", self.keys().job(id));
        // Newest first reads the same window counted from the end, then turns it around.
        let (from, to) = if asc {
            (start, end)
        } else {
            (-(end + 1), -(start + 1))
        };
        let (mut logs, count): (Vec<String>, u64) = redis::pipe()
            .atomic()
            .lrange(&key, from as isize, to as isize)
            .llen(&key)
            .query_async(&mut self.connection())
            .await?;
        if !asc {
            logs.reverse();
        }
        Ok(JobLogs { logs, count })
    }

    /// `states` as BullMQ's `sanitizeJobTypes` leaves them for this major: each once, in
    /// order; BullMQ 5 adds `paused` to `waiting`; none means BullMQ's default list.
    fn listed_states(&self, states: &[JobState]) -> Vec<JobState> {
        let v5 = self.major() == BullmqMajor::V5;
        let mut listed: Vec<JobState> = if states.is_empty() {
            let mut all = vec![
                JobState::Active,
                JobState::Completed,
                JobState::Delayed,
                JobState::Failed,
                JobState::Paused,
                JobState::Prioritized,
                JobState::Waiting,
                JobState::WaitingChildren,
            ];
            all.retain(|state| v5 || *state != JobState::Paused);
            all
        } else {
            states.to_vec()
        };
        if v5 && listed.contains(&JobState::Waiting) {
            listed.push(JobState::Paused);
        }
        let mut seen = std::collections::HashSet::new();
        listed.retain(|state| seen.insert(*state));
        listed
    }
}

/// The list or zset of each state, for the getter scripts.
fn state_keys(states: &[JobState]) -> Result<Vec<StateKey>> {
    states
        .iter()
        .map(|state| {
            Ok(match state {
                JobState::Waiting => StateKey::Wait,
                JobState::Paused => StateKey::Paused,
                JobState::Active => StateKey::Active,
                JobState::Prioritized => StateKey::Prioritized,
                JobState::Delayed => StateKey::Delayed,
                JobState::Completed => StateKey::Completed,
                JobState::Failed => StateKey::Failed,
                JobState::WaitingChildren => StateKey::WaitingChildren,
                JobState::Unknown => {
                    return Err(Error::InvalidOption {
                        option: "types",
                        reason: "no list or set of BullMQ holds `unknown` jobs".to_owned(),
                    });
                }
            })
        })
        .collect()
}
