//! The drainer: moves spooled events into Redis in arrival order, with the job ids they
//! were given when received (so a replay after a crash adds nothing twice), backing off
//! while Redis is away. It also notices when Redis comes back.

use std::sync::Arc;
use std::time::Duration;

use bullmq_rs::Queue;

use crate::ingest::Shared;

/// Events moved per Redis call.
const DRAIN_BATCH: usize = 256;
/// Limit on one drain call; larger than the request deadline since nobody waits on it.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The background task; see the module docs.
pub struct Drainer {
    shared: Arc<Shared>,
    /// A connection of the drainer's own: with `--min-replicas-acks`, WAIT holds the
    /// connection it is sent on, which must not stall readiness probes or webhooks.
    queue: Queue,
    backoff: Duration,
}

impl Drainer {
    /// A drainer over the shared ingest state, adding through `queue`.
    pub fn new(shared: Arc<Shared>, queue: Queue) -> Self {
        Self {
            shared,
            queue,
            backoff: FIRST_BACKOFF,
        }
    }

    /// Runs until `shutdown` resolves; the spool keeps whatever is left.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let step = async {
                if self.shared.spool_len() == 0 {
                    self.when_spool_is_empty().await;
                } else {
                    self.drain_once().await;
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = step => {}
            }
        }
    }

    async fn when_spool_is_empty(&mut self) {
        if !self.shared.redis_down() {
            self.shared.drain_needed().await;
            return;
        }
        // Nothing to move, but Redis was seen down: probe it so events go back to Redis.
        let probe = async {
            self.shared.queue.ping().await?;
            self.shared.queue.write_meta().await
        };
        match tokio::time::timeout(DRAIN_TIMEOUT, probe).await {
            Ok(Ok(())) => self.recovered(),
            _ => self.wait_and_back_off().await,
        }
    }

    async fn drain_once(&mut self) {
        let Some(spool) = self.shared.spool.clone() else {
            return;
        };
        let reader = spool.clone();
        let oldest = match tokio::task::spawn_blocking(move || {
            reader.pending(None, DRAIN_BATCH, usize::MAX)
        })
        .await
        {
            Ok(Ok(records)) => records,
            Ok(Err(err)) => {
                tracing::error!(error = %err, "cannot read the spool");
                return self.wait_and_back_off().await;
            }
            Err(_) => return self.wait_and_back_off().await,
        };
        let mut jobs = Vec::with_capacity(oldest.len());
        let mut seqs = Vec::with_capacity(oldest.len());
        let mut letters = Vec::new();
        for spooled in &oldest {
            match spooled
                .record
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|r| r.to_job())
            {
                Ok(job) => {
                    jobs.push(job);
                    seqs.push(spooled.seq);
                }
                // Permanent: set it aside (kept) rather than block every later event.
                Err(err) => {
                    tracing::error!(seq = %spooled.seq, error = %err, "spool record set aside as a dead letter");
                    letters.push((spooled.seq, err.to_string()));
                }
            }
        }
        if !letters.is_empty() {
            let dead = spool.clone();
            if !matches!(
                tokio::task::spawn_blocking(move || dead.dead_letter(&letters)).await,
                Ok(Ok(()))
            ) {
                return self.wait_and_back_off().await;
            }
        }
        let durability = self.shared.durability;
        match durability.add(&self.queue, &jobs, DRAIN_TIMEOUT).await {
            Ok(_) => {
                let left = spool.clone();
                let removed = tokio::task::spawn_blocking(move || spool.remove(&seqs)).await;
                if !matches!(removed, Ok(Ok(()))) {
                    // Left in the spool, they are sent again: same job ids, so no duplicates.
                    tracing::error!("cannot remove drained events from the spool");
                    return self.wait_and_back_off().await;
                }
                self.shared.metrics.drained(jobs.len() as u64);
                tracing::info!(
                    events = jobs.len(),
                    left = left.len(),
                    "drained spooled events to redis"
                );
                if left.is_empty() {
                    self.recovered();
                }
                self.backoff = FIRST_BACKOFF;
            }
            Err(why) => {
                tracing::warn!(reason = %why, "spooled events not stored yet: retrying");
                self.shared.metrics.redis_error();
                self.wait_and_back_off().await;
            }
        }
    }

    fn recovered(&mut self) {
        self.backoff = FIRST_BACKOFF;
        self.shared.set_redis_down(false);
    }

    async fn wait_and_back_off(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}
