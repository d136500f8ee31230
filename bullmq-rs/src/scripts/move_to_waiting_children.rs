//! `lua/move_to_waiting_children.lua`: a running job waits for its children.

use super::Script;
use crate::connection::Connection;
use crate::error::ScriptError;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::{Error, Result};

pub(crate) struct MoveToWaitingChildren(pub(super) Script<5>);

impl MoveToWaitingChildren {
    /// True when the job now waits for its children (its attempt is over), false when
    /// nothing is pending (it stays active).
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        job_id: &JobId,
        token: &str,
        now: u64,
    ) -> Result<bool> {
        let job_key = keys.job(job_id);
        let script_keys = [
            keys.active.as_str(),
            &keys.waiting_children,
            &job_key,
            &keys.stalled,
            &keys.events,
        ];
        let argv = [token, job_id.as_str(), &now.to_string(), ""];
        match self.0.call::<i64>(conn, script_keys, argv).await? {
            0 => Ok(true),
            1 => Ok(false),
            code => Err(Error::Script {
                script: self.0.name(),
                code: ScriptError::from_job_code(code),
            }),
        }
    }
}
