//! The prober: while Redis counts as unreachable, asks it (`PING`, then a write of the
//! queue's meta) with a backoff of 100 ms doubling to 5 s, and tells the router as soon as
//! it answers. A task of its own, on the shared queue connection, so that nothing the
//! drainer waits for (a slow batch, `WAIT` for replicas) delays the return to Redis.

use std::sync::Arc;
use std::time::Duration;

use crate::backoff::Backoff;
use crate::ingest::Shared;

/// Also bounds how long a missing Redis delays start-up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The background task; see the module docs.
pub(crate) struct Prober {
    shared: Arc<Shared>,
}

impl Prober {
    /// A prober of the shared queue's Redis.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Runs until `shutdown` resolves.
    pub(crate) async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = self.until_redis_answers() => {}
            }
        }
    }

    /// Waits until Redis is lost (unless it is already), then probes until it answers.
    async fn until_redis_answers(&self) {
        let router = &self.shared.router;
        if router.redis_accepting() {
            router.redis_lost().await;
        }
        let mut backoff = Backoff::new();
        while !router.redis_accepting() {
            if redis_answers(&self.shared).await {
                router.redis_recovered();
                return;
            }
            backoff.wait().await;
        }
    }
}

/// Whether Redis takes writes now: `PING`, then a write of the queue's meta (a replica or
/// a read-only primary answers PING but refuses the write), within a second.
pub(crate) async fn redis_answers(shared: &Shared) -> bool {
    let probe = async {
        shared.queue.ping().await?;
        shared.queue.write_meta().await
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(())))
}
