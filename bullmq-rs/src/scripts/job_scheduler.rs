//! `lua/upsert_job_scheduler.lua`, `update_job_scheduler.lua` and
//! `remove_job_scheduler.lua`: argument order and replies.

use redis::Value;

use super::Script;
use crate::connection::Connection;
use crate::error::ScriptError;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::{Error, Result};

/// One run to add: the scheduler, the clock, the run's options (see `scheduler/run_opts.rs`).
pub(crate) struct RunArgs<'a> {
    pub(crate) scheduler_id: &'a str,
    pub(crate) now: u64,
    /// From a cron pattern; `None` for `every` (the script computes it).
    pub(crate) next_millis: Option<u64>,
    pub(crate) opts_json: &'a str,
    pub(crate) repeat_pairs_json: &'a str,
}

impl RunArgs<'_> {
    fn next_millis(&self) -> String {
        self.next_millis
            .map(|ms| ms.to_string())
            .unwrap_or_default()
    }
}

/// What upsert stores besides the run: scheduler fields, template data and options.
pub(crate) struct SchedulerArgs<'a> {
    pub(crate) fields_json: &'a str,
    pub(crate) data_json: &'a str,
    pub(crate) template_opts_json: &'a str,
}

fn queue_keys(keys: &QueueKeys) -> [&str; 11] {
    [
        &keys.repeat,
        &keys.delayed,
        &keys.wait,
        &keys.paused,
        &keys.meta,
        &keys.prioritized,
        &keys.marker,
        &keys.id,
        &keys.events,
        &keys.pc,
        &keys.active,
    ]
}

pub(crate) struct UpsertJobScheduler(pub(super) Script<11>);

impl UpsertJobScheduler {
    /// Stores the scheduler and its next run; returns the run's id and delay (ms).
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        run: &RunArgs<'_>,
        scheduler: &SchedulerArgs<'_>,
    ) -> Result<(JobId, u64)> {
        let argv = [
            keys.base(),
            major.as_arg(),
            run.scheduler_id,
            &run.now.to_string(),
            &run.next_millis(),
            scheduler.fields_json,
            scheduler.data_json,
            scheduler.template_opts_json,
            run.opts_json,
            run.repeat_pairs_json,
        ];
        match self.0.call::<Value>(conn, queue_keys(keys), argv).await? {
            Value::Int(code) => Err(Error::Script {
                script: self.0.name(),
                code: ScriptError::from_job_code(code),
            }),
            reply => redis::from_redis_value::<(String, u64)>(reply)
                .map(|(id, delay)| (JobId::from(id), delay))
                .map_err(|err| Error::UnexpectedReply {
                    command: self.0.name(),
                    detail: err.to_string(),
                }),
        }
    }
}

/// The run of a scheduler a worker has just taken, from which the next run is planned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TakenRun<'a> {
    pub(crate) id: &'a JobId,
    /// Its data (JSON), which the next run inherits.
    pub(crate) data: &'a str,
}

pub(crate) struct UpdateJobScheduler(pub(super) Script<12>);

impl UpdateJobScheduler {
    /// Adds the run after `taken` (a run of the scheduler just taken by a worker); `None`
    /// when none was added (scheduler gone, `taken` not its current run, next run exists).
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        run: &RunArgs<'_>,
        taken: TakenRun<'_>,
    ) -> Result<Option<JobId>> {
        let taken_key = keys.job(taken.id);
        let [k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11] = queue_keys(keys);
        let script_keys = [k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, &taken_key];
        let argv = [
            keys.base(),
            major.as_arg(),
            run.scheduler_id,
            &run.now.to_string(),
            &run.next_millis(),
            taken.id.as_str(),
            taken.data,
            run.opts_json,
            run.repeat_pairs_json,
        ];
        let id: Option<String> = self.0.call(conn, script_keys, argv).await?;
        Ok(id.map(JobId::from))
    }
}

pub(crate) struct RemoveJobScheduler(pub(super) Script<3>);

impl RemoveJobScheduler {
    /// Removes the scheduler and its delayed run; `true` when the scheduler existed.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        scheduler_id: &str,
    ) -> Result<bool> {
        let script_keys = [keys.repeat.as_str(), &keys.delayed, &keys.events];
        let removed: i64 = self
            .0
            .call(conn, script_keys, [keys.base(), scheduler_id])
            .await?;
        Ok(removed == 1)
    }
}
