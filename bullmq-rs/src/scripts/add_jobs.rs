//! `lua/add_jobs.lua`: a batch of adds in one call.

use crate::connection::Connection;

use super::Script;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::{Error, Result};

/// The arguments of one job, already encoded.
pub(crate) struct JobArgs<'a> {
    /// The custom id, or `""` for the next counter value.
    pub(crate) custom_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) timestamp: u64,
    pub(crate) data_json: &'a str,
    pub(crate) opts_json: &'a str,
}

/// The add script (`KEYS` wait, paused, meta, id, delayed, prioritized, pc, marker, events, active).
pub(crate) struct AddJobs(pub(super) Script<10>);

impl AddJobs {
    /// Adds the jobs and returns one id per job, in order.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        jobs: &[JobArgs<'_>],
    ) -> Result<Vec<JobId>> {
        let script_keys = [
            keys.wait.as_str(),
            &keys.paused,
            &keys.meta,
            &keys.id,
            &keys.delayed,
            &keys.prioritized,
            &keys.pc,
            &keys.marker,
            &keys.events,
            &keys.active,
        ];
        let timestamps: Vec<String> = jobs.iter().map(|job| job.timestamp.to_string()).collect();
        let mut args: Vec<&str> = Vec::with_capacity(2 + jobs.len() * 5);
        args.extend([keys.base(), major.as_arg()]);
        for (job, timestamp) in jobs.iter().zip(&timestamps) {
            args.extend([
                job.custom_id,
                job.name,
                timestamp,
                job.data_json,
                job.opts_json,
            ]);
        }
        let ids: Vec<String> = self.0.call(conn, script_keys, args).await?;
        if ids.len() != jobs.len() {
            return Err(Error::UnexpectedReply {
                command: self.0.name(),
                detail: format!("{} ids for {} jobs", ids.len(), jobs.len()),
            });
        }
        Ok(ids.into_iter().map(JobId::from).collect())
    }
}
