//! `lua/obliterate.lua`: delete a paused queue, a bounded number of jobs per call.

use crate::connection::Connection;

use super::Script;
use crate::error::ScriptError;
use crate::keys::QueueKeys;
use crate::{Error, Result};

/// What one call of [`Obliterate`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObliterateStep {
    Done,
    MoreToDelete,
}

/// The obliterate script (20 keys: meta, the job lists and sets, the other queue keys).
pub(crate) struct Obliterate(pub(super) Script<20>);

impl Obliterate {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        jobs_per_call: u32,
        force: bool,
    ) -> Result<ObliterateStep> {
        let script_keys = [
            keys.meta.as_str(),
            &keys.active,
            &keys.wait,
            &keys.paused,
            &keys.delayed,
            &keys.prioritized,
            &keys.completed,
            &keys.failed,
            &keys.waiting_children,
            &keys.id,
            &keys.pc,
            &keys.marker,
            &keys.events,
            &keys.stalled,
            &keys.stalled_check,
            &keys.limiter,
            &keys.metrics_completed,
            &keys.metrics_completed_data,
            &keys.metrics_failed,
            &keys.metrics_failed_data,
        ];
        let budget = jobs_per_call.to_string();
        let force = if force { "force" } else { "" };
        let code: i64 = self
            .0
            .call(conn, script_keys, [keys.base(), budget.as_str(), force])
            .await?;
        match code {
            0 => Ok(ObliterateStep::Done),
            1 => Ok(ObliterateStep::MoreToDelete),
            negative => Err(Error::Script {
                script: self.0.name(),
                code: ScriptError::from_obliterate_code(negative),
            }),
        }
    }
}
