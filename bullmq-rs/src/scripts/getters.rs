//! `lua/get_counts.lua`, `lua/get_jobs.lua` and `lua/get_rate_limit_ttl.lua`: the reads of
//! a queue's getters that must see one consistent state.

use std::collections::HashMap;

use crate::connection::Connection;

use super::Script;
use crate::Result;
use crate::keys::QueueKeys;

/// Where a job state lives, as the getter scripts number their KEYS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateKey {
    Wait = 1,
    Paused,
    Active,
    Prioritized,
    Delayed,
    Completed,
    Failed,
    WaitingChildren,
}

impl StateKey {
    fn arg(self) -> String {
        (self as u8).to_string()
    }
}

/// The KEYS of the scripts that read states, in [`StateKey`] order.
fn state_keys(keys: &QueueKeys) -> [&str; 8] {
    [
        keys.wait.as_str(),
        &keys.paused,
        &keys.active,
        &keys.prioritized,
        &keys.delayed,
        &keys.completed,
        &keys.failed,
        &keys.waiting_children,
    ]
}

/// The window of [`GetJobs`]: BullMQ's `start`, `end`, `asc`, and how many passes a
/// bounded window may take to fill up past vanished jobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobWindow {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) ascending: bool,
    pub(crate) passes: u32,
}

/// One job found by [`GetJobs`]: its id and its hash.
pub(crate) type FoundJob = (String, HashMap<String, String>);

/// The counting script (`KEYS` the eight state lists and zsets).
pub(crate) struct GetCounts(pub(super) Script<8>);

impl GetCounts {
    /// One count per state, in the order given.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        states: &[StateKey],
    ) -> Result<Vec<u64>> {
        let args: Vec<String> = states.iter().map(|state| state.arg()).collect();
        Ok(self.0.call(conn, state_keys(keys), args).await?)
    }
}

/// The range script (`KEYS` the eight state lists and zsets).
pub(crate) struct GetJobs(pub(super) Script<8>);

impl GetJobs {
    /// Per state, in the order given, the jobs of the window that still have a hash.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        window: JobWindow,
        states: &[StateKey],
    ) -> Result<Vec<Vec<FoundJob>>> {
        let mut args = vec![
            keys.base().to_owned(),
            window.start.to_string(),
            window.end.to_string(),
            if window.ascending { "1" } else { "0" }.to_owned(),
            window.passes.to_string(),
        ];
        args.extend(states.iter().map(|state| state.arg()));
        Ok(self.0.call(conn, state_keys(keys), args).await?)
    }
}

/// The rate-limit script (`KEYS` limiter, meta).
pub(crate) struct GetRateLimitTtl(pub(super) Script<2>);

impl GetRateLimitTtl {
    /// BullMQ's answer for `max_jobs` (0: the queue's global max).
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        max_jobs: u64,
    ) -> Result<i64> {
        let script_keys = [keys.limiter.as_str(), &keys.meta];
        Ok(self.0.call(conn, script_keys, [max_jobs]).await?)
    }
}
