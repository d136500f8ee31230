//! `lua/remove_job.lua`, `reprocess_job.lua`, `move_jobs_to_wait.lua`, `promote.lua`,
//! `change_delay.lua`, `change_priority.lua`, `drain.lua` and `remove_deduplication_key.lua`:
//! what an operator does to stored jobs.

use super::Script;
use crate::connection::Connection;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::queue::RetryOptions;
use crate::{Error, Result};

/// What `remove_job` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    Removed,
    Missing,
    Locked,
    SchedulerRun,
}

/// The remove script (`KEYS` job, repeat).
pub(crate) struct RemoveJob(pub(super) Script<2>);

impl RemoveJob {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        id: &JobId,
        with_children: bool,
    ) -> Result<Removal> {
        let job_key = keys.job(id);
        let children = if with_children { "1" } else { "0" };
        let argv = [id.as_str(), children, keys.base(), major.as_arg()];
        let code: i64 = self
            .0
            .call(conn, [job_key.as_str(), &keys.repeat], argv)
            .await?;
        Ok(match code {
            1 => Removal::Removed,
            0 => Removal::Locked,
            -1 => Removal::Missing,
            -8 => Removal::SchedulerRun,
            other => return Err(unexpected(self.0.name(), other)),
        })
    }
}

/// The state a finished job is sent back from: its zset and BullMQ's name for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FinishedSet<'a> {
    pub(crate) key: &'a str,
    pub(crate) name: &'static str,
}

/// What `reprocess_job` or `promote` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reprocess {
    Done,
    Missing,
    NotInState,
}

impl Reprocess {
    /// Reads a script's reply code: `done` (its own success code), -1 missing job, -3 not
    /// in the state the script moves jobs from.
    fn from_code(script: &'static str, code: i64, done: i64) -> Result<Self> {
        match code {
            -1 => Ok(Self::Missing),
            -3 => Ok(Self::NotInState),
            code if code == done => Ok(Self::Done),
            other => Err(unexpected(script, other)),
        }
    }
}

/// The reprocess script (`KEYS` job, events, state zset, wait, meta, active, marker,
/// prioritized, pc, paused).
pub(crate) struct ReprocessJob(pub(super) Script<10>);

impl ReprocessJob {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        id: &JobId,
        from: FinishedSet<'_>,
        reset: RetryOptions,
    ) -> Result<Reprocess> {
        let job_key = keys.job(id);
        let script_keys = [
            job_key.as_str(),
            &keys.events,
            from.key,
            &keys.wait,
            &keys.meta,
            &keys.active,
            &keys.marker,
            &keys.prioritized,
            &keys.pc,
            &keys.paused,
        ];
        let flag = |on: bool| if on { "1" } else { "0" };
        let argv = [
            id.as_str(),
            from.name,
            flag(reset.reset_attempts_made),
            flag(reset.reset_attempts_started),
            major.as_arg(),
        ];
        let code: i64 = self.0.call(conn, script_keys, argv).await?;
        Reprocess::from_code(self.0.name(), code, 1)
    }
}

/// The move-jobs-to-wait script (`KEYS` events, state zset, wait, paused, meta, active,
/// marker).
pub(crate) struct MoveJobsToWait(pub(super) Script<7>);

impl MoveJobsToWait {
    /// Moves at most `count` jobs scored up to `max_score` (a number or `+inf`); returns
    /// whether `count` were moved (more may be left).
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        from: FinishedSet<'_>,
        count: u32,
        max_score: &str,
    ) -> Result<bool> {
        let script_keys = [
            keys.events.as_str(),
            from.key,
            &keys.wait,
            &keys.paused,
            &keys.meta,
            &keys.active,
            &keys.marker,
        ];
        let count = count.to_string();
        let argv = [keys.base(), &count, max_score, from.name, major.as_arg()];
        match self.0.call::<i64>(conn, script_keys, argv).await? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(unexpected(self.0.name(), other)),
        }
    }
}

/// The promote script (`KEYS` delayed, wait, paused, meta, prioritized, active, pc,
/// events, marker).
pub(crate) struct Promote(pub(super) Script<9>);

impl Promote {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        id: &JobId,
    ) -> Result<Reprocess> {
        let script_keys = [
            keys.delayed.as_str(),
            &keys.wait,
            &keys.paused,
            &keys.meta,
            &keys.prioritized,
            &keys.active,
            &keys.pc,
            &keys.events,
            &keys.marker,
        ];
        let argv = [keys.base(), id.as_str(), major.as_arg()];
        let code: i64 = self.0.call(conn, script_keys, argv).await?;
        Reprocess::from_code(self.0.name(), code, 0)
    }
}

/// The change-delay script (`KEYS` delayed, meta, marker, events, job).
pub(crate) struct ChangeDelay(pub(super) Script<5>);

impl ChangeDelay {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        id: &JobId,
        delay_ms: u64,
        now: u64,
    ) -> Result<Reprocess> {
        let job_key = keys.job(id);
        let script_keys = [
            keys.delayed.as_str(),
            &keys.meta,
            &keys.marker,
            &keys.events,
            &job_key,
        ];
        let argv = [
            delay_ms.to_string(),
            now.to_string(),
            id.as_str().to_owned(),
        ];
        let code: i64 = self.0.call(conn, script_keys, argv).await?;
        Reprocess::from_code(self.0.name(), code, 0)
    }
}

/// A job's new priority, and where it goes among the jobs of that priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NewPriority {
    /// 0 for none; otherwise lower runs first.
    pub(crate) priority: u32,
    /// Before the jobs of the same priority rather than after them (BullMQ's `lifo`).
    pub(crate) lifo: bool,
}

/// The change-priority script (`KEYS` wait, paused, meta, prioritized, active, pc,
/// marker, job).
pub(crate) struct ChangePriority(pub(super) Script<8>);

impl ChangePriority {
    /// `false` when the job does not exist.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        id: &JobId,
        change: NewPriority,
    ) -> Result<bool> {
        let job_key = keys.job(id);
        let script_keys = [
            keys.wait.as_str(),
            &keys.paused,
            &keys.meta,
            &keys.prioritized,
            &keys.active,
            &keys.pc,
            &keys.marker,
            &job_key,
        ];
        let priority = change.priority.to_string();
        let argv = [
            priority.as_str(),
            id.as_str(),
            if change.lifo { "1" } else { "0" },
            major.as_arg(),
        ];
        match self.0.call::<i64>(conn, script_keys, argv).await? {
            0 => Ok(true),
            -1 => Ok(false),
            other => Err(unexpected(self.0.name(), other)),
        }
    }
}

/// The drain script (`KEYS` wait, paused, delayed, prioritized, repeat).
pub(crate) struct Drain(pub(super) Script<5>);

impl Drain {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        delayed: bool,
    ) -> Result<()> {
        let script_keys = [
            keys.wait.as_str(),
            &keys.paused,
            &keys.delayed,
            &keys.prioritized,
            &keys.repeat,
        ];
        let argv = [keys.base(), if delayed { "1" } else { "0" }, major.as_arg()];
        let _: i64 = self.0.call(conn, script_keys, argv).await?;
        Ok(())
    }
}

/// The script freeing a job's deduplication slot (`KEYS` job).
pub(crate) struct RemoveDeduplicationKey(pub(super) Script<1>);

impl RemoveDeduplicationKey {
    /// `Some(freed)`, or `None` when the job does not exist.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        id: &JobId,
    ) -> Result<Option<bool>> {
        let job_key = keys.job(id);
        match self
            .0
            .call::<i64>(conn, [job_key.as_str()], [keys.base(), id.as_str()])
            .await?
        {
            1 => Ok(Some(true)),
            0 => Ok(Some(false)),
            -1 => Ok(None),
            other => Err(unexpected(self.0.name(), other)),
        }
    }
}

fn unexpected(script: &'static str, code: i64) -> Error {
    Error::UnexpectedReply {
        command: script,
        detail: format!("reply code {code}"),
    }
}
