//! `Queue::get_job`, `get_job_counts`, `oldest_waiting_timestamp` and `is_paused`: reads.

use std::collections::HashMap;

use redis::{FromRedisValue, Value};

use super::Queue;
use crate::connection::Connection;
use crate::job::{Job, JobCounts, JobId, JobState};
use crate::keys::QueueKeys;
use crate::{Error, Result};

impl Queue {
    /// Reads a job back: name, data, options, state, times, attempts, result or failure.
    /// `None` when no such job exists.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached,
    /// [`crate::Error::UnexpectedReply`] when the stored options are not BullMQ's.
    pub async fn get_job(&self, id: &JobId) -> Result<Option<Job>> {
        read_job(&mut self.connection(), self.keys(), id).await
    }

    /// Where job `id` is now: BullMQ's `Queue.getJobState(id)`. The places are checked
    /// in BullMQ's order (completed, failed, delayed, prioritized, active, wait, BullMQ
    /// 5's `paused` list, which counts as waiting, waiting-children);
    /// [`JobState::Unknown`] when none holds the id, whether or not its hash exists.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// use bullmq_rs::{JobId, Queue};
    /// let queue = Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// println!("job 42 is {}", queue.get_job_state(&JobId::from("42")).await?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn get_job_state(&self, id: &JobId) -> Result<JobState> {
        let places = state_lookups(self.keys(), id);
        let mut pipe = redis::pipe();
        for (_, cmd) in &places {
            pipe.add_command(cmd.clone());
        }
        let found: Vec<Value> = pipe.query_async(&mut self.connection()).await?;
        Ok(first_state(&places, &found))
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

    /// When the job next in line was added (its `timestamp`, ms since the Unix epoch), or
    /// `None` when no job is waiting. BullMQ `LPUSH`es new jobs and workers take from the
    /// right, so the tail of `wait` is the oldest waiting job (a `lifo` job jumps the line
    /// and is then the one reported). BullMQ 5 keeps the jobs of a paused queue in
    /// `paused` instead, so its tail counts too. Prioritized and delayed jobs are not
    /// waiting in this sense.
    ///
    /// ```no_run
    /// # async fn demo() -> bullmq_rs::Result<()> {
    /// let queue = bullmq_rs::Queue::connect("redis://127.0.0.1:6379", "emails").await?;
    /// if let Some(added) = queue.oldest_waiting_timestamp().await? {
    ///     println!("the next job was added at {added} ms");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached,
    /// [`crate::Error::UnexpectedReply`] when a waiting job has no numeric `timestamp`, or
    /// when workers took the tail job between the two reads three times in a row.
    pub async fn oldest_waiting_timestamp(&self) -> Result<Option<u64>> {
        const ATTEMPTS: usize = 3;
        let keys = self.keys();
        for _ in 0..ATTEMPTS {
            let tails: (Option<String>, Option<String>) = redis::pipe()
                .lindex(&keys.wait, -1)
                .lindex(&keys.paused, -1)
                .query_async(&mut self.connection())
                .await?;
            let ids: Vec<JobId> = [tails.0, tails.1]
                .into_iter()
                .flatten()
                .map(JobId::from)
                .collect();
            if ids.is_empty() {
                return Ok(None);
            }
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.hget(keys.job(id), "timestamp");
            }
            let stamps: Vec<Option<String>> = pipe.query_async(&mut self.connection()).await?;
            // A missing hash means a worker took the job (and removed it) in between: the
            // tail has moved on, so read it again.
            if stamps.iter().any(Option::is_none) {
                continue;
            }
            let mut oldest = None;
            for stamp in stamps.into_iter().flatten() {
                let millis: u64 = stamp.parse().map_err(|_| Error::UnexpectedReply {
                    command: "HGET timestamp",
                    detail: format!("{stamp:?} is not a number of milliseconds"),
                })?;
                oldest = Some(oldest.map_or(millis, |o: u64| o.min(millis)));
            }
            return Ok(oldest);
        }
        Err(Error::UnexpectedReply {
            command: "LINDEX wait -1",
            detail: format!("the oldest waiting job left the queue {ATTEMPTS} times while read"),
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

/// [`Queue::get_job`] for any queue: the hash and the state in one pipeline.
pub(crate) async fn read_job(
    conn: &mut Connection,
    keys: &QueueKeys,
    id: &JobId,
) -> Result<Option<Job>> {
    // One pipeline: the hash, then membership in each place a job can be.
    let places = state_lookups(keys, id);
    let mut pipe = redis::pipe();
    pipe.hgetall(keys.job(id));
    for (_, cmd) in &places {
        pipe.add_command(cmd.clone());
    }
    let (hash, found): (HashMap<String, String>, Vec<Value>) = {
        let mut replies = pipe.query_async::<Vec<Value>>(conn).await?.into_iter();
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
    Job::from_hash(id.clone(), first_state(&places, &found), hash).map(Some)
}

/// The membership test of each place a job can be, in the order BullMQ's `getState`
/// script checks them (`getStateV2`): the first place that knows the id wins.
fn state_lookups(keys: &QueueKeys, id: &JobId) -> [(JobState, redis::Cmd); 8] {
    let id_str = id.as_str();
    [
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
    ]
}

/// The state of the first place whose reply is not nil, else [`JobState::Unknown`].
fn first_state(places: &[(JobState, redis::Cmd)], found: &[Value]) -> JobState {
    places
        .iter()
        .zip(found)
        .find(|(_, reply)| !matches!(reply, Value::Nil))
        .map_or(JobState::Unknown, |((state, _), _)| *state)
}
