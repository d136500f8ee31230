//! `lua/clean_jobs.lua`: remove the old jobs of one state, a bounded number per call.

use crate::connection::Connection;

use super::Script;
use crate::Result;
use crate::job::JobId;
use crate::keys::QueueKeys;

/// The key of the state being cleaned and the name the script knows it by (BullMQ's key
/// suffix: `wait`, `paused`, `active`, `delayed`, ...).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CleanTarget<'a> {
    pub(crate) key: &'a str,
    pub(crate) suffix: &'static str,
}

/// The clean script (`KEYS` the state's list or zset, events, repeat, waiting-children).
pub(crate) struct CleanJobs(pub(super) Script<4>);

impl CleanJobs {
    /// Removes at most `limit` jobs (0: no limit) of `target` last seen at or before
    /// `cutoff_ms`; returns their ids in the order the script found them.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        target: CleanTarget<'_>,
        cutoff_ms: u64,
        limit: u64,
    ) -> Result<Vec<JobId>> {
        let script_keys = [
            target.key,
            &keys.events,
            &keys.repeat,
            &keys.waiting_children,
        ];
        let (cutoff, limit) = (cutoff_ms.to_string(), limit.to_string());
        let ids: Vec<String> = self
            .0
            .call(
                conn,
                script_keys,
                [keys.base(), cutoff.as_str(), limit.as_str(), target.suffix],
            )
            .await?;
        Ok(ids.into_iter().map(JobId::from).collect())
    }
}
