//! The fetch loop: take a job whenever a slot is free; when none is ready, wait on the
//! queue's marker like an idle Node worker (BZPOPMIN), at most until the next delayed job
//! is due or the drain delay passes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::control::{RunState, Stop};
use super::job::{ActiveJob, JobError};
use super::{Shared, finish};
use crate::codec;
use crate::connection;
use crate::scripts::{Fetched, SCRIPTS};

/// Longest single wait on the marker when a delayed job is due later (BullMQ's cap).
const MAX_BLOCK: Duration = Duration::from_secs(10);

pub(super) struct Fetcher<H> {
    shared: Arc<Shared>,
    handler: Arc<H>,
    /// The jobs running, one task per concurrency slot; dropping the fetcher (the worker's
    /// future) aborts them, as the death of a process would.
    running: JoinSet<()>,
    /// Paused, concurrency and stopping, as [`super::WorkerControl`] sets them.
    state: watch::Receiver<RunState>,
    /// Failed requests in a row (Redis down, say), for the pause before the next one.
    failures: u32,
}

impl<H, F> Fetcher<H>
where
    H: Fn(ActiveJob) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    pub(super) fn new(shared: Arc<Shared>, handler: Arc<H>) -> Self {
        let state = shared.state.subscribe();
        Self {
            shared,
            handler,
            running: JoinSet::new(),
            state,
            failures: 0,
        }
    }

    /// Takes jobs until the worker stops, then lets the jobs in flight finish until the
    /// deadline, if any, and hands back those still running past it.
    pub(super) async fn run(mut self) {
        self.take_jobs().await;
        self.drain().await;
    }

    /// Only waits are cut short by a change of state: a script call in flight always
    /// completes, so no job is taken and then forgotten. A failed request is reported and
    /// followed by a pause that grows while failures go on (Redis down), so the loop
    /// neither spins nor gives up.
    async fn take_jobs(&mut self) {
        while self.wait_for_slot().await {
            let wait = match self.fetch().await {
                Ok(None) => continue,
                Ok(Some(wait)) => wait,
                Err(err) => Wait::Pause(self.failed(&err)),
            };
            let mut changed = self.state.clone();
            tokio::select! {
                () = self.wait(wait) => {}
                _ = changed.changed() => {}
            }
        }
    }

    /// Waits until the worker may take a job (not paused, a slot free); `false` once it
    /// stops.
    async fn wait_for_slot(&mut self) -> bool {
        loop {
            while self.running.try_join_next().is_some() {}
            let state = self.state.borrow_and_update().clone();
            if state.stop != Stop::Running {
                return false;
            }
            if !state.paused && self.running.len() < state.concurrency {
                return true;
            }
            tokio::select! {
                Some(_) = self.running.join_next(), if !self.running.is_empty() => {}
                _ = self.state.changed() => {}
            }
        }
    }

    /// Waits for the jobs in flight; past the deadline, fires their cancellation, which
    /// makes each task hand its job back to `wait`, and waits for that.
    async fn drain(&mut self) {
        loop {
            let deadline = match self.state.borrow_and_update().stop {
                Stop::HandingBack => break,
                Stop::Draining(deadline) => deadline,
                Stop::Running => None,
            };
            let past_deadline = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                joined = self.running.join_next() => if joined.is_none() { return },
                () = past_deadline => {
                    self.shared.state.send_modify(|state| state.stop = Stop::HandingBack);
                }
                _ = self.state.changed() => {}
            }
        }
        self.shared.cancel_all();
        while self.running.join_next().await.is_some() {}
    }

    /// Reports a failed request and counts it; the pause to make before the next.
    fn failed(&mut self, err: &crate::Error) -> Duration {
        self.shared.report(err);
        self.failures = self.failures.saturating_add(1);
        connection::retry_delay(self.failures)
    }

    /// Takes one job into a new task; `Some(wait)` when there was none to take.
    async fn fetch(&mut self) -> crate::Result<Option<Wait>> {
        let shared = &self.shared;
        let token = shared.new_token();
        let args = shared.fetch_args(&token);
        let fetched = SCRIPTS
            .move_to_active
            .call(&mut shared.conn.clone(), &shared.keys, shared.major, &args)
            .await?;
        self.failures = 0;
        match fetched {
            Fetched::Job(id, hash) => {
                let cancel = shared.hold(id.clone(), token.clone());
                shared.busy.fetch_add(1, Ordering::Relaxed);
                let (shared, handler) = (shared.clone(), self.handler.clone());
                self.running.spawn(async move {
                    let first = finish::Taken {
                        id,
                        hash,
                        token,
                        cancel,
                    };
                    finish::run_jobs(&shared, handler.as_ref(), first).await;
                    shared.busy.fetch_sub(1, Ordering::Relaxed);
                });
                Ok(None)
            }
            Fetched::RateLimited(ms) => Ok(Some(Wait::Pause(Duration::from_millis(ms)))),
            Fetched::Nothing(next_due) => Ok(Some(Wait::Marker(next_due))),
        }
    }

    async fn wait(&mut self, wait: Wait) {
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
                let shared = self.shared.clone();
                let popped = async {
                    let conn = shared.blocking.clone();
                    match shared.client_name.resolve(&conn).await? {
                        Some(name) => Ok(connection::named_call(conn, name, command).await?),
                        None => Ok(command
                            .query_async::<redis::Value>(&mut conn.clone())
                            .await?),
                    }
                };
                // A connection that stopped answering must not stall the loop.
                let waited: Result<crate::Result<redis::Value>, _> =
                    tokio::time::timeout(block + Duration::from_secs(2), popped).await;
                if let Ok(Err(err)) = waited {
                    tokio::time::sleep(self.failed(&err)).await;
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
