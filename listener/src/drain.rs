//! The drainer: moves spooled events into Redis with the job ids they were given when
//! received (so sending one twice adds nothing twice), probes Redis while it is
//! unreachable, and sorts every failure once, where it arises:
//!
//! - **permanent** (a record that cannot be decoded, has an unknown format version, or no
//!   longer validates after an upgrade of the options or of the BullMQ major; a script
//!   refusal; an add whose outcome can no longer be checked, below): the record moves to
//!   the spool's dead letters, is never retried automatically and never deleted. An
//!   operator exports, fixes and requeues it (`sellsy-listener spool …`).
//! - **transient** (Redis away or slow, replicas behind): the record stays. Redis away
//!   stops the pass and backs off; replicas behind only skip the batch, so the records
//!   after it are still tried, and the next pass starts again from the oldest.
//!
//! # Never a second job
//!
//! An add that missed its deadline may still run in Redis; its record keeps the time of
//! that attempt, and so does every record the drainer sends (written to the spool before
//! the add). Sending such a record again is harmless while the job's deduplication key
//! (`--dedup-ttl-secs`, set by the first add) lives: Redis recognises the event. Past
//! that window Redis would take it for a new event, so the drainer does not send it: it
//! becomes a dead letter saying why, for an operator to check and requeue. Records never
//! sent to Redis (spooled while Redis was known to be unreachable) have no attempt time
//! and are drained however old they are.

use std::sync::Arc;
use std::time::Duration;

use bullmq_rs::{BullmqMajor, NewJob};

use crate::ingest::Shared;
use crate::ingest::now_ms;
use crate::ingest::redis::{AddOutcome, RedisStore};
use crate::spool::{Spool, SpoolSeq, Spooled};

/// Most events moved per Redis call.
pub const DRAIN_BATCH: usize = 512;
/// Most job data, in bytes, moved per Redis call.
pub const DRAIN_BATCH_BYTES: usize = 4 << 20;
/// Limit on one drain call; larger than the request deadline since nobody waits on it.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long before the end of an event's deduplication window the drainer stops sending
/// it (an add can take this long to reach Redis); a quarter of the window when shorter.
const WINDOW_MARGIN: Duration = Duration::from_secs(15);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The background task; see the module docs.
pub struct Drainer {
    shared: Arc<Shared>,
    /// A connection of the drainer's own: with `--min-replicas-acks`, WAIT holds the
    /// connection it is sent on, which must not stall readiness probes or webhooks.
    store: RedisStore,
    backoff: Duration,
    /// Where the current pass over the spool stands: records up to here were tried.
    cursor: Option<SpoolSeq>,
    /// Whether the current pass left records behind (replicas behind).
    left_behind: bool,
}

/// What one record becomes in a drain batch (the job boxed: it is far larger than a
/// dead letter).
enum Sorted {
    Send(SpoolSeq, Box<NewJob>, Option<u64>),
    DeadLetter(SpoolSeq, String),
}

impl Drainer {
    /// A drainer over the shared ingest state, adding through `queue`.
    pub fn new(shared: Arc<Shared>, queue: bullmq_rs::Queue) -> Self {
        let store = RedisStore::new(queue, shared.durability);
        Self {
            shared,
            store,
            backoff: FIRST_BACKOFF,
            cursor: None,
            left_behind: false,
        }
    }

    /// Runs until `shutdown` resolves; the spool keeps whatever is left (a batch stopped
    /// between its add and its removal is sent again at the next start: same job ids).
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = self.step() => {}
            }
        }
    }

    async fn step(&mut self) {
        if !self.shared.router.redis_accepting() {
            return self.probe().await;
        }
        match self.shared.spool().cloned() {
            Some(spool) if !spool.is_empty() => self.drain_once(spool).await,
            _ => {
                self.cursor = None;
                self.shared.router.drainer_woken().await;
            }
        }
    }

    async fn probe(&mut self) {
        match tokio::time::timeout(DRAIN_TIMEOUT, self.store.probe()).await {
            Ok(Ok(())) => {
                self.backoff = FIRST_BACKOFF;
                self.shared.router.redis_recovered();
            }
            _ => self.wait_and_back_off().await,
        }
    }

    async fn drain_once(&mut self, spool: Arc<Spool>) {
        let after = self.cursor;
        let reader = spool.clone();
        let read = tokio::task::spawn_blocking(move || {
            reader.pending(after, DRAIN_BATCH, DRAIN_BATCH_BYTES)
        })
        .await;
        let records = match read {
            Ok(Ok(records)) => records,
            Ok(Err(err)) => {
                tracing::error!(error = %err, "cannot read the spool");
                return self.wait_and_back_off().await;
            }
            Err(_) => return self.wait_and_back_off().await,
        };
        let Some(last) = records.last().map(|r| r.seq) else {
            // End of a pass: start again from the oldest, after a pause if records were
            // left behind (else they would be retried in a tight loop).
            self.cursor = None;
            if std::mem::take(&mut self.left_behind) {
                self.wait_and_back_off().await;
            }
            return;
        };
        let (sendable, letters) = sort(records, self.shared.queue.major(), now_ms());
        if !self.set_aside(&spool, letters).await {
            return self.wait_and_back_off().await;
        }
        if sendable.is_empty() {
            self.cursor = Some(last);
            return;
        }
        self.send(&spool, sendable, last).await;
    }

    /// Sends one batch: marks the attempt, adds, and removes what Redis stored.
    async fn send(
        &mut self,
        spool: &Arc<Spool>,
        batch: Vec<(SpoolSeq, NewJob, Option<u64>)>,
        last: SpoolSeq,
    ) {
        let unmarked: Vec<SpoolSeq> = batch
            .iter()
            .filter(|(_, _, attempted)| attempted.is_none())
            .map(|(seq, _, _)| *seq)
            .collect();
        if !unmarked.is_empty()
            && !blocking(spool, move |s| s.mark_attempted(&unmarked, now_ms())).await
        {
            return self.wait_and_back_off().await;
        }
        let (seqs, jobs): (Vec<SpoolSeq>, Vec<NewJob>) =
            batch.into_iter().map(|(seq, job, _)| (seq, job)).unzip();
        let add = self
            .store
            .add(&jobs, RedisStore::replica_wait_within(DRAIN_TIMEOUT));
        let outcome = tokio::time::timeout(DRAIN_TIMEOUT, add)
            .await
            .unwrap_or(AddOutcome::Lost);
        match outcome {
            AddOutcome::Stored(_) => {
                let count = seqs.len();
                if !blocking(spool, move |s| s.remove(&seqs)).await {
                    // Left in the spool, they are sent again: same job ids, no duplicates.
                    return self.wait_and_back_off().await;
                }
                self.shared.metrics.drained(count as u64);
                tracing::info!(
                    events = count,
                    left = spool.len(),
                    "drained spooled events to redis"
                );
                self.backoff = FIRST_BACKOFF;
                self.cursor = Some(last);
            }
            AddOutcome::Unreplicated { acked } => {
                tracing::warn!(
                    events = seqs.len(),
                    acked,
                    "spooled events are in redis but not yet on enough replicas: kept"
                );
                self.left_behind = true;
                self.cursor = Some(last);
            }
            outcome if outcome.is_permanent() && jobs.len() > 1 => {
                // Some job of the batch is refused: find which, one by one.
                tracing::warn!(reason = %outcome, events = jobs.len(), "a spooled batch was refused: sending its events one by one");
                for (seq, job) in seqs.into_iter().zip(jobs) {
                    Box::pin(self.send(spool, vec![(seq, job, Some(0))], seq)).await;
                }
                self.cursor = Some(last);
            }
            outcome if outcome.is_permanent() => {
                let letters = seqs
                    .into_iter()
                    .map(|seq| (seq, outcome.to_string()))
                    .collect();
                if self.set_aside(spool, letters).await {
                    self.cursor = Some(last);
                }
            }
            outcome => {
                tracing::warn!(reason = %outcome, "spooled events not stored yet: retrying");
                self.shared.metrics.redis_error();
                self.shared.router.redis_failed();
                self.cursor = None;
                self.wait_and_back_off().await;
            }
        }
    }

    /// Moves these records to the dead letters; false when the spool could not.
    async fn set_aside(&self, spool: &Arc<Spool>, letters: Vec<(SpoolSeq, String)>) -> bool {
        if letters.is_empty() {
            return true;
        }
        let count = letters.len();
        for (seq, reason) in &letters {
            tracing::error!(%seq, %reason, "spooled event set aside as a dead letter: see `sellsy-listener spool export --dead-letters`");
        }
        let moved = blocking(spool, move |s| s.dead_letter(&letters)).await;
        if moved {
            self.shared.metrics.dead_lettered(count as u64);
        }
        moved
    }

    async fn wait_and_back_off(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// A sorted batch: the records to send (with their last attempt), the dead letters.
type SortedBatch = (
    Vec<(SpoolSeq, NewJob, Option<u64>)>,
    Vec<(SpoolSeq, String)>,
);

/// Sorts a batch read from the spool into what can be sent and what is set aside for
/// good (see the module docs), in spool order.
fn sort(records: Vec<Spooled>, major: BullmqMajor, now_ms: u64) -> SortedBatch {
    let mut sendable = Vec::with_capacity(records.len());
    let mut letters = Vec::new();
    for spooled in records {
        match sort_one(spooled, major, now_ms) {
            Sorted::Send(seq, job, attempted) => sendable.push((seq, *job, attempted)),
            Sorted::DeadLetter(seq, reason) => letters.push((seq, reason)),
        }
    }
    (sendable, letters)
}

fn sort_one(spooled: Spooled, major: BullmqMajor, now_ms: u64) -> Sorted {
    let seq = spooled.seq;
    let record = match spooled.record {
        Ok(record) => record,
        Err(err) => return Sorted::DeadLetter(seq, err.to_string()),
    };
    let job = match record.to_job() {
        Ok(job) => job,
        Err(err) => return Sorted::DeadLetter(seq, err.to_string()),
    };
    if let Err(err) = job.validate(major) {
        return Sorted::DeadLetter(seq, format!("no longer a valid job: {err}"));
    }
    if let Some(attempted) = record.attempted_ms
        && !within_dedup_window(&job, attempted, now_ms)
    {
        return Sorted::DeadLetter(
            seq,
            format!(
                "not sent again: an add of job {} may have run in redis more than its deduplication window ago; check the queue for it, then requeue if it is missing",
                record.job_id
            ),
        );
    }
    Sorted::Send(seq, Box::new(job), record.attempted_ms)
}

/// Whether an add sent now would still meet the deduplication key that an add attempted
/// at `attempted_ms` set, if that add ran.
fn within_dedup_window(job: &NewJob, attempted_ms: u64, now_ms: u64) -> bool {
    let Some(ttl) = job.opts().deduplication.as_ref().and_then(|d| d.ttl) else {
        return false;
    };
    let margin = WINDOW_MARGIN.min(ttl / 4);
    let open_for = u64::try_from(ttl.saturating_sub(margin).as_millis()).unwrap_or(u64::MAX);
    now_ms < attempted_ms.saturating_add(open_for)
}

/// Runs a spool call on a blocking thread; false (logged) when it failed.
async fn blocking(
    spool: &Arc<Spool>,
    call: impl FnOnce(&Spool) -> Result<(), crate::Error> + Send + 'static,
) -> bool {
    let spool = spool.clone();
    match tokio::task::spawn_blocking(move || call(&spool)).await {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            tracing::error!(error = %err, "spool write failed");
            false
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use bullmq_rs::{Deduplication, JobOptions};

    use super::*;

    fn job_with_ttl(ttl: Option<Duration>) -> NewJob {
        let opts = JobOptions {
            job_id: Some("sellsy-x".into()),
            deduplication: Some(Deduplication {
                id: "x".to_owned(),
                ttl,
                ..Default::default()
            }),
            ..Default::default()
        };
        NewJob::from_json("event", "{}".to_owned(), opts)
    }

    #[test]
    fn a_record_is_sent_again_only_well_inside_its_dedup_window() {
        let job = job_with_ttl(Some(Duration::from_secs(86_400)));
        let attempted = 1_000_000;
        assert!(within_dedup_window(&job, attempted, attempted + 1));
        let margin = WINDOW_MARGIN.as_millis() as u64;
        assert!(within_dedup_window(
            &job,
            attempted,
            attempted + 86_400_000 - margin - 1
        ));
        assert!(!within_dedup_window(
            &job,
            attempted,
            attempted + 86_400_000 - margin
        ));
    }

    #[test]
    fn a_short_window_keeps_a_quarter_as_margin() {
        let job = job_with_ttl(Some(Duration::from_secs(2)));
        assert!(within_dedup_window(&job, 0, 1_499));
        assert!(!within_dedup_window(&job, 0, 1_500));
    }

    #[test]
    fn without_a_dedup_window_an_attempted_record_is_never_sent_again() {
        assert!(!within_dedup_window(&job_with_ttl(None), 0, 1));
    }
}
