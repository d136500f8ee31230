//! The stalled checker: at every interval, jobs whose worker stopped renewing their lock
//! go back to `wait` (whichever worker, Node or Rust, runs the check first).

use std::sync::Arc;

use super::Shared;
use crate::codec;
use crate::scripts::SCRIPTS;

pub(super) struct StalledChecker {
    shared: Arc<Shared>,
}

impl StalledChecker {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Runs until aborted, when the worker stops.
    pub(super) async fn run(self) {
        let shared = &self.shared;
        let options = &shared.options;
        let interval = options.stalled_interval;
        loop {
            let checked = SCRIPTS
                .move_stalled
                .call(
                    &mut shared.conn.clone(),
                    &shared.keys,
                    shared.major,
                    options.max_stalled_count,
                    codec::now_millis(),
                    codec::as_millis(interval),
                )
                .await;
            match checked {
                Ok(ids) => {
                    for id in &ids {
                        shared.emit(&super::WorkerEvent::Stalled(id));
                    }
                }
                Err(err) => shared.report(&err),
            }
            tokio::time::sleep(interval).await;
        }
    }
}
