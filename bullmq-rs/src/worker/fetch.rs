//! The fetch loop: take a job whenever a slot is free; when none is ready, wait on the
//! queue's marker like an idle Node worker (BZPOPMIN), at most until the next delayed job
//! is due or the drain delay passes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use super::job::{ActiveJob, JobError};
use super::{Shared, finish};
use crate::codec;
use crate::scripts::{FetchArgs, Fetched, SCRIPTS};

/// Longest single wait on the marker when a delayed job is due later (BullMQ's cap).
const MAX_BLOCK: Duration = Duration::from_secs(10);
/// Wait after a failed fetch before the next one.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

pub(super) struct Fetcher<H> {
    shared: Arc<Shared>,
    handler: Arc<H>,
    slots: Arc<Semaphore>,
    /// The jobs running; dropping the fetcher (the worker's future) aborts them, as the
    /// death of a process would.
    running: JoinSet<()>,
    /// Turns true when the worker stops: job tasks then take no next job.
    stopping: watch::Receiver<bool>,
}

impl<H, F> Fetcher<H>
where
    H: Fn(ActiveJob) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    pub(super) fn new(
        shared: Arc<Shared>,
        handler: Arc<H>,
        concurrency: usize,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(concurrency));
        Self {
            shared,
            handler,
            slots,
            running: JoinSet::new(),
            stopping,
        }
    }

    /// Runs until `stopping` turns true, then waits for the jobs in flight to finish.
    pub(super) async fn run(mut self) {
        let stopping = self.stopping.clone();
        self.take_jobs(stopping).await;
        while self.running.join_next().await.is_some() {}
    }

    /// Only waits are cut short by `stopping`: a script call in flight always completes,
    /// so no job is taken and then forgotten.
    async fn take_jobs(&mut self, mut stopping: watch::Receiver<bool>) {
        loop {
            while self.running.try_join_next().is_some() {}
            let slot = tokio::select! {
                slot = self.slots.clone().acquire_owned() => slot,
                _ = stopping.changed() => return,
            };
            let Ok(slot) = slot else { return };
            if *stopping.borrow() {
                return;
            }
            let wait = match self.fetch(slot).await {
                Ok(None) => continue,
                Ok(Some(wait)) => wait,
                Err(err) => {
                    self.shared.report(&err);
                    Wait::Pause(ERROR_PAUSE)
                }
            };
            tokio::select! {
                () = self.wait(wait) => {}
                _ = stopping.changed() => return,
            }
        }
    }

    /// Takes one job into `slot`; `Some(wait)` when there was none to take.
    async fn fetch(&mut self, slot: OwnedSemaphorePermit) -> crate::Result<Option<Wait>> {
        let shared = &self.shared;
        let token = shared.new_token();
        let options = &shared.options;
        let args = FetchArgs {
            now: codec::now_millis(),
            token: &token,
            lock_ms: shared.lock_ms(),
            limiter: options
                .limiter
                .map(|limit| (limit.max, codec::as_millis(limit.duration))),
            worker_name: options.worker_name.as_deref().unwrap_or(""),
        };
        let fetched = SCRIPTS
            .move_to_active
            .call(&mut shared.conn.clone(), &shared.keys, options.major, &args)
            .await?;
        match fetched {
            Fetched::Job(id, hash) => {
                shared.held().insert(id.clone(), token.clone());
                let (shared, handler, stopping) =
                    (shared.clone(), self.handler.clone(), self.stopping.clone());
                self.running.spawn(async move {
                    finish::run_jobs(
                        &shared,
                        handler.as_ref(),
                        finish::Taken { id, hash, token },
                        &stopping,
                    )
                    .await;
                    drop(slot);
                });
                Ok(None)
            }
            Fetched::RateLimited(ms) => Ok(Some(Wait::Pause(Duration::from_millis(ms)))),
            Fetched::Nothing(next_due) => Ok(Some(Wait::Marker(next_due))),
        }
    }

    async fn wait(&self, wait: Wait) {
        match wait {
            Wait::Pause(pause) => tokio::time::sleep(pause).await,
            Wait::Marker(next_due) => {
                let block = match next_due {
                    Some(due) => Duration::from_millis(due.saturating_sub(codec::now_millis()))
                        .min(MAX_BLOCK),
                    None => self.shared.options.drain_delay,
                }
                .max(Duration::from_millis(1));
                let mut command = redis::cmd("BZPOPMIN");
                command
                    .arg(&self.shared.keys.marker)
                    .arg(format!("{:.3}", block.as_secs_f64()));
                let mut conn = self.shared.blocking.clone();
                let popped = command.query_async::<redis::Value>(&mut conn);
                // A connection that stopped answering must not stall the loop.
                if let Ok(Err(err)) =
                    tokio::time::timeout(block + Duration::from_secs(2), popped).await
                {
                    self.shared.report(&err.into());
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
            }
        }
    }
}

/// What to do when no job was taken.
enum Wait {
    /// Sleep this long (rate limited, or Redis failing).
    Pause(Duration),
    /// Block on the marker, at most until this due time (ms) or the drain delay.
    Marker(Option<u64>),
}
