//! The drainer: moves spooled events into Redis with the job ids they were given when
//! received (so sending one twice adds nothing twice) while Redis accepts writes, and
//! sorts every failure once, where it arises:
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

use crate::backoff::Backoff;
use crate::ingest::Shared;
use crate::ingest::now_ms;
use crate::ingest::redis::{AddOutcome, RedisStore};
use crate::spool::{Spool, SpoolSeq, Spooled};

/// Most events moved per Redis call.
pub(crate) const DRAIN_BATCH: usize = 512;
/// Most job data, in bytes, moved per Redis call.
pub(crate) const DRAIN_BATCH_BYTES: usize = 4 << 20;
/// Limit on one drain call; larger than the request deadline since nobody waits on it.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long before the end of an event's deduplication window the drainer stops sending
/// it (an add can take this long to reach Redis); a quarter of the window when shorter.
const WINDOW_MARGIN: Duration = Duration::from_secs(15);
/// While the spool is empty, how often the drainer asks it whether it has reopened (a
/// spool that could not be opened may hold records once it opens).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The background task; see the module docs.
pub(crate) struct Drainer {
    shared: Arc<Shared>,
    /// A connection of the drainer's own: with `--min-replicas-acks`, WAIT holds the
    /// connection it is sent on, which must not stall readiness probes or webhooks.
    store: RedisStore,
    backoff: Backoff,
    /// Where the current pass over the spool stands: records up to here were tried.
    cursor: Option<SpoolSeq>,
    /// Whether the current pass left records behind (replicas behind).
    left_behind: bool,
}

/// A record ready to be sent: its job, when an add of it was first attempted, and
/// whether Redis is known to hold it already (only its replication is missing).
struct Sendable {
    seq: SpoolSeq,
    job: NewJob,
    attempted_ms: Option<u64>,
    in_redis: bool,
}

/// A record set aside for good, with the reason.
type DeadLetter = (SpoolSeq, String);

impl Drainer {
    /// A drainer over the shared ingest state, adding through `queue`.
    pub(crate) fn new(shared: Arc<Shared>, queue: bullmq_rs::Queue) -> Self {
        let store = RedisStore::new(queue, shared.durability);
        Self {
            shared,
            store,
            backoff: Backoff::new(),
            cursor: None,
            left_behind: false,
        }
    }

    /// Runs until `shutdown` resolves; the spool keeps whatever is left (a batch stopped
    /// between its add and its removal is sent again at the next start: same job ids).
    pub(crate) async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = self.step() => {}
            }
        }
    }

    async fn step(&mut self) {
        let router = &self.shared.router;
        let spool = self.shared.spool().clone();
        if router.redis_accepting() && !spool.is_empty() {
            return self.drain_once(spool).await;
        }
        // Nothing to move, or nowhere to move it: the prober says when Redis is back, the
        // batchers when events are spooled; a spool that reopens says nothing, so it is
        // asked now and then (its health check also reopens it).
        self.cursor = None;
        self.backoff.reset();
        tokio::select! {
            () = router.drainer_woken() => {}
            () = tokio::time::sleep(IDLE_CHECK) => {
                let _ = tokio::task::spawn_blocking(move || spool.health()).await;
            }
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

    /// Sends one batch: marks the attempts, adds the events not yet in Redis (or, when all
    /// are, only confirms their replication), then removes what Redis has as required.
    async fn send(&mut self, spool: &Arc<Spool>, batch: Vec<Sendable>, last: SpoolSeq) {
        if !mark_attempts(spool, &batch).await {
            return self.wait_and_back_off().await;
        }
        let seqs: Vec<SpoolSeq> = batch.iter().map(|record| record.seq).collect();
        let to_add: Vec<(SpoolSeq, NewJob)> = batch
            .into_iter()
            .filter(|record| !record.in_redis)
            .map(|record| (record.seq, record.job))
            .collect();
        let jobs: Vec<NewJob> = to_add.iter().map(|(_, job)| job.clone()).collect();
        let wait = RedisStore::replica_wait_within(DRAIN_TIMEOUT);
        let sent = async {
            if jobs.is_empty() {
                // A write and WAIT: the replicas then have every earlier write too.
                self.store.confirm_replicated(wait).await
            } else {
                self.store.add(&jobs, wait).await
            }
        };
        let outcome = tokio::time::timeout(DRAIN_TIMEOUT, sent)
            .await
            .unwrap_or(AddOutcome::Lost);
        match outcome {
            AddOutcome::Stored(_) => self.drained(spool, seqs, last).await,
            AddOutcome::Unreplicated { acked } => {
                tracing::warn!(
                    events = seqs.len(),
                    acked,
                    "spooled events are in redis but not yet on enough replicas: kept"
                );
                self.left_behind = true;
                self.cursor = Some(last);
            }
            outcome if outcome.is_permanent() => self.refused(spool, to_add, &outcome, last).await,
            outcome => {
                tracing::warn!(reason = %outcome, "spooled events not stored yet: retrying");
                self.shared.metrics.redis_error();
                self.shared.router.redis_failed();
                self.cursor = None;
                self.wait_and_back_off().await;
            }
        }
    }

    /// Redis has these records' events as required: they leave the spool.
    async fn drained(&mut self, spool: &Arc<Spool>, seqs: Vec<SpoolSeq>, last: SpoolSeq) {
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
        self.backoff.reset();
        self.cursor = Some(last);
    }

    /// Redis refused a batch for good: one event alone is set aside; a batch is sent again
    /// event by event to find which ones.
    async fn refused(
        &mut self,
        spool: &Arc<Spool>,
        sent: Vec<(SpoolSeq, NewJob)>,
        outcome: &AddOutcome,
        last: SpoolSeq,
    ) {
        if let [(seq, _)] = sent.as_slice() {
            if self
                .set_aside(spool, vec![(*seq, outcome.to_string())])
                .await
            {
                self.cursor = Some(last);
            }
            return;
        }
        tracing::warn!(reason = %outcome, events = sent.len(), "a spooled batch was refused: sending its events one by one");
        for (seq, job) in sent {
            if !self.shared.router.redis_accepting() {
                break;
            }
            let alone = Sendable {
                seq,
                job,
                // Marked before the batch was sent.
                attempted_ms: Some(0),
                in_redis: false,
            };
            Box::pin(self.send(spool, vec![alone], seq)).await;
        }
        self.cursor = Some(last);
    }

    /// Moves these records to the dead letters; false when the spool could not.
    async fn set_aside(&self, spool: &Arc<Spool>, letters: Vec<DeadLetter>) -> bool {
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
        self.backoff.wait().await;
    }
}

/// Sorts a batch read from the spool into what can be sent and what is set aside for
/// good (see the module docs), in spool order.
fn sort(
    records: Vec<Spooled>,
    major: BullmqMajor,
    now_ms: u64,
) -> (Vec<Sendable>, Vec<DeadLetter>) {
    let mut sendable = Vec::with_capacity(records.len());
    let mut letters = Vec::new();
    for spooled in records {
        match sort_one(spooled, major, now_ms) {
            Ok(record) => sendable.push(record),
            Err(letter) => letters.push(letter),
        }
    }
    (sendable, letters)
}

fn sort_one(spooled: Spooled, major: BullmqMajor, now_ms: u64) -> Result<Sendable, DeadLetter> {
    let seq = spooled.seq;
    let record = spooled.record.map_err(|err| (seq, err.to_string()))?;
    let job = record.to_job().map_err(|err| (seq, err.to_string()))?;
    job.validate(major)
        .map_err(|err| (seq, format!("no longer a valid job: {err}")))?;
    // A record known to be in Redis is never added again, only confirmed: no window.
    if let Some(attempted) = record.attempted_ms
        && !record.in_redis
        && !within_dedup_window(&job, attempted, now_ms)
    {
        return Err((
            seq,
            format!(
                "not sent again: an add of job {} may have run in redis more than its deduplication window ago; check the queue for it, then requeue if it is missing",
                record.job_id
            ),
        ));
    }
    Ok(Sendable {
        seq,
        job,
        attempted_ms: record.attempted_ms,
        in_redis: record.in_redis,
    })
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

/// Writes the attempt time of the records that have none, before they are sent: an add
/// may run even when its answer is lost. False when the spool could not.
async fn mark_attempts(spool: &Arc<Spool>, batch: &[Sendable]) -> bool {
    let unmarked: Vec<SpoolSeq> = batch
        .iter()
        .filter(|record| record.attempted_ms.is_none())
        .map(|record| record.seq)
        .collect();
    unmarked.is_empty() || blocking(spool, move |s| s.mark_attempted(&unmarked, now_ms())).await
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
