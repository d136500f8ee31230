//! `lua/pause.lua`: pause or resume a queue.

use crate::connection::Connection;

use super::Script;
use crate::Result;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;

/// Which way [`Pause`] goes; the names are the events it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PauseAction {
    Pause,
    Resume,
}

/// The pause script (`KEYS` wait, paused, meta, prioritized, events, delayed, marker).
pub(crate) struct Pause(pub(super) Script<7>);

impl Pause {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        action: PauseAction,
    ) -> Result<()> {
        let event = match action {
            PauseAction::Pause => "paused",
            PauseAction::Resume => "resumed",
        };
        let script_keys = [
            keys.wait.as_str(),
            &keys.paused,
            &keys.meta,
            &keys.prioritized,
            &keys.events,
            &keys.delayed,
            &keys.marker,
        ];
        let _: i64 = self
            .0
            .call(conn, script_keys, [event, major.as_arg()])
            .await?;
        Ok(())
    }
}
