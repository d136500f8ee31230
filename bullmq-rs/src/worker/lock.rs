//! Renews the locks of the jobs running here, so that no stalled checker takes them back.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::Error;
use crate::error::ScriptError;
use crate::scripts::SCRIPTS;

pub(super) struct LockRenewer {
    shared: Arc<Shared>,
    every: Duration,
}

impl LockRenewer {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let every = shared.options.lock_renew_every();
        Self { shared, every }
    }

    /// Runs until aborted, once the worker's jobs have all finished.
    pub(super) async fn run(self) {
        loop {
            tokio::time::sleep(self.every).await;
            let held: Vec<_> = self
                .shared
                .held()
                .iter()
                .map(|(id, held)| (id.clone(), held.token.clone()))
                .collect();
            if held.is_empty() {
                continue;
            }
            let shared = &self.shared;
            match SCRIPTS
                .extend_locks
                .call(
                    &mut shared.conn.clone(),
                    &shared.keys,
                    shared.lock_ms(),
                    &held,
                )
                .await
            {
                Ok(lost) => {
                    for _ in lost.iter().filter(|id| shared.held().contains_key(*id)) {
                        shared.report(&Error::Script {
                            script: "extend_locks",
                            code: ScriptError::LockLost,
                        });
                    }
                }
                Err(err) => shared.report(&err),
            }
        }
    }
}
