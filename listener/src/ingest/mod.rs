//! The acknowledgement rule: an event is answered 200 only once it is stored, in Redis
//! within the deadline or else in the local spool; when neither can take it, the answer
//! is 503. Concurrent events are coalesced: one batcher per HTTP worker sends all events
//! waiting at that moment in one `add_bulk` (one round trip, one script call), so
//! throughput grows with load instead of hitting Redis' per-call ceiling.
//!
//! Where a batch goes is decided by [`state::Router`]; how it is added to Redis by
//! [`redis::RedisStore`]; the spool's record format lives in [`crate::spool`].
//!
//! # An add that outlives its deadline
//!
//! When Redis answers after the deadline, the batch was already spooled and acknowledged.
//! The add is not cancelled: the batcher keeps waiting for its outcome in the background,
//! and when the jobs turn out to be stored it removes their spool records. Every record
//! whose add may have run keeps the time of that attempt (`attempted_ms`), so that the
//! drainer never adds an event again once the deduplication window that would recognise
//! it may have passed (see [`crate::drain`]).
//!
//! # Memory
//!
//! Each batcher holds at most [`QUEUE_CAPACITY`] events and [`QUEUE_MAX_BYTES`] of job data
//! (senders wait beyond either), and one Redis call carries at most [`MAX_BATCH`] events and
//! [`MAX_BATCH_BYTES`] of data.

pub(crate) mod redis;
pub(crate) mod state;

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bullmq_rs::{JobId, NewJob, Queue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::metrics::{Metrics, StoredIn};
use crate::spool::{Spool, SpoolRecord, SpoolSeq};

pub use self::redis::Durability;
use self::redis::{AddOutcome, RedisStore};
use self::state::{Destination, Router};

/// Most events sent in one Redis call.
pub(crate) const MAX_BATCH: usize = 512;
/// Most job data, in bytes, sent in one Redis call (one event larger than this goes alone).
pub(crate) const MAX_BATCH_BYTES: usize = 4 << 20;
/// Events that may wait for one batcher before senders wait too.
pub(crate) const QUEUE_CAPACITY: usize = 8192;
/// Job data, in bytes, that may wait for one batcher (or be in its batch) before senders
/// wait too.
pub(crate) const QUEUE_MAX_BYTES: usize = 32 << 20;

/// Where an acknowledged event is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A BullMQ job (or the job that already holds this event's id).
    InRedis(JobId),
    /// In the local spool, under this sequence number.
    InSpool(SpoolSeq),
}

/// Neither Redis nor the spool could store the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unavailable;

/// State shared by the batchers, the drainer and the routes.
pub(crate) struct Shared {
    /// The queue events go to (the drainer, probes and metrics use it; each HTTP worker
    /// adds through a connection of its own).
    pub queue: Queue,
    /// Where events go now.
    pub router: Router,
    /// When an event counts as stored in Redis.
    pub durability: Durability,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

impl Shared {
    /// Shares these parts; Redis counts as unreachable until it answers.
    pub(crate) fn new(
        queue: Queue,
        spool: Arc<Spool>,
        durability: Durability,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            queue,
            router: Router::new(spool),
            durability,
            metrics,
        })
    }

    /// The spool (it may be failing: see [`Spool::health`]).
    pub(crate) fn spool(&self) -> &Arc<Spool> {
        self.router.spool()
    }

    /// Events waiting in the spool.
    pub(crate) fn spool_len(&self) -> u64 {
        self.spool().len()
    }
}

/// Milliseconds since the Unix epoch, for spool records.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

struct Pending {
    job: NewJob,
    waiter: Waiter,
}

impl Pending {
    fn bytes(&self) -> usize {
        self.job.data_json().len()
    }
}

/// The sender of an event, waiting for its answer.
struct Waiter {
    received: Instant,
    received_ms: u64,
    reply: oneshot::Sender<Result<Stored, Unavailable>>,
    /// Holds this event's bytes of the batcher's budget until it is answered, or until
    /// an add of it that missed its deadline ends (it holds the job till then).
    budget: Option<OwnedSemaphorePermit>,
}

/// A batch: the jobs, shared with the add that may outlive the answer (no copy of them
/// is made), and their waiters in the same order.
struct Batch {
    jobs: Arc<[NewJob]>,
    waiters: Vec<Waiter>,
}

impl Batch {
    fn new(pending: Vec<Pending>) -> Self {
        let (jobs, waiters): (Vec<_>, Vec<_>) =
            pending.into_iter().map(|p| (p.job, p.waiter)).unzip();
        Self {
            jobs: jobs.into(),
            waiters,
        }
    }
}

/// The handle the routes store events through. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Ingest {
    sender: mpsc::Sender<Pending>,
    bytes: Arc<Semaphore>,
}

impl Ingest {
    /// Starts a batcher on the current thread's runtime, adding through `queue` (a
    /// connection of this thread's own, so that a request, its batch and the Redis reply
    /// never wait for another thread to wake up). It ends when every `Ingest` is dropped,
    /// after storing what was already handed to it.
    pub(crate) fn start(shared: Arc<Shared>, queue: Queue) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        // Connects and loads the add scripts now rather than on the first event, which would
        // otherwise pay for both within its deadline (with replica acknowledgements, a
        // NOSCRIPT reply would make it wait for the replicas twice).
        let warm = queue.clone();
        tokio::task::spawn_local(async move {
            let _ = warm.load_add_scripts().await;
        });
        let store = RedisStore::new(queue, shared.durability);
        tokio::task::spawn_local(
            Batcher {
                shared,
                store,
                receiver,
            }
            .run(),
        );
        Self {
            sender,
            bytes: Arc::new(Semaphore::new(QUEUE_MAX_BYTES)),
        }
    }

    /// Stores one event; resolves once it is in Redis or in the spool.
    ///
    /// # Errors
    /// [`Unavailable`] when neither could take it.
    pub(crate) async fn store(
        &self,
        job: NewJob,
        received: Instant,
    ) -> Result<Stored, Unavailable> {
        let cost = job.data_json().len().clamp(1, QUEUE_MAX_BYTES);
        let permit = self
            .bytes
            .clone()
            .acquire_many_owned(u32::try_from(cost).unwrap_or(u32::MAX))
            .await
            .map_err(|_| Unavailable)?;
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending {
                job,
                waiter: Waiter {
                    received,
                    received_ms: now_ms(),
                    reply,
                    budget: Some(permit),
                },
            })
            .await
            .map_err(|_| Unavailable)?;
        answer.await.unwrap_or(Err(Unavailable))
    }
}

struct Batcher {
    shared: Arc<Shared>,
    store: RedisStore,
    receiver: mpsc::Receiver<Pending>,
}

/// What the spool is told of an add of the events it takes.
#[derive(Debug, Clone, Copy)]
enum Attempt {
    /// Never sent to Redis.
    None,
    /// Sent at this time (ms); it may or may not have run.
    MaybeRan(u64),
    /// Sent at this time (ms) and stored on the primary; only replicas are missing.
    Stored(u64),
}

/// How an add ended as seen at the deadline.
enum AtDeadline {
    /// Redis answered in time.
    Answered(AddOutcome),
    /// Redis had not answered; the add goes on in this task.
    Missed(tokio::task::JoinHandle<AddOutcome>),
}

impl Batcher {
    async fn run(mut self) {
        let mut carried: Option<Pending> = None;
        loop {
            let first = match carried.take() {
                Some(pending) => pending,
                None => match self.receiver.recv().await {
                    Some(pending) => pending,
                    None => return,
                },
            };
            let mut bytes = first.bytes();
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                let Ok(next) = self.receiver.try_recv() else {
                    break;
                };
                if bytes + next.bytes() > MAX_BATCH_BYTES {
                    carried = Some(next);
                    break;
                }
                bytes += next.bytes();
                batch.push(next);
            }
            self.store(Batch::new(batch)).await;
        }
    }

    async fn store(&self, batch: Batch) {
        let router = &self.shared.router;
        if router.destination() == Destination::Spool {
            self.spool(batch, Attempt::None).await;
            return;
        }
        let attempted = now_ms();
        match self.add_within_deadline(batch.jobs.clone()).await {
            AtDeadline::Answered(AddOutcome::Stored(ids)) => {
                for (waiter, id) in batch.waiters.into_iter().zip(ids) {
                    self.shared
                        .metrics
                        .stored(StoredIn::Redis, waiter.received.elapsed());
                    let _ = waiter.reply.send(Ok(Stored::InRedis(id)));
                }
            }
            AtDeadline::Answered(AddOutcome::Unreplicated { acked }) => {
                tracing::warn!(
                    acked,
                    events = batch.jobs.len(),
                    "replicas behind: the events are in redis and kept in the spool until replicated"
                );
                self.spool(batch, Attempt::Stored(attempted)).await;
            }
            AtDeadline::Answered(outcome) => {
                tracing::warn!(reason = %outcome, events = batch.jobs.len(), "spooling the events");
                self.shared.metrics.redis_error();
                router.redis_failed();
                self.spool(batch, Attempt::MaybeRan(attempted)).await;
            }
            AtDeadline::Missed(add) => {
                tracing::warn!(
                    events = batch.jobs.len(),
                    "redis missed the deadline: spooling the events"
                );
                self.shared.metrics.redis_error();
                router.redis_failed();
                let mut batch = batch;
                let budget: Vec<_> = batch
                    .waiters
                    .iter_mut()
                    .filter_map(|w| w.budget.take())
                    .collect();
                if let Some(seqs) = self.spool(batch, Attempt::MaybeRan(attempted)).await {
                    let late = LateAdd { add, seqs, budget };
                    tokio::task::spawn_local(late.confirm(self.shared.clone()));
                }
            }
        }
    }

    /// Starts the add as a task of its own, so that missing the deadline does not cancel it.
    async fn add_within_deadline(&self, jobs: Arc<[NewJob]>) -> AtDeadline {
        let deadline = self.store.durability().deadline;
        let store = self.store.clone();
        let mut add = tokio::task::spawn_local(async move {
            store
                .add(&jobs, RedisStore::replica_wait_within(deadline))
                .await
        });
        match tokio::time::timeout(deadline, &mut add).await {
            Ok(Ok(outcome)) => AtDeadline::Answered(outcome),
            Ok(Err(_)) => AtDeadline::Answered(AddOutcome::Lost),
            Err(_) => AtDeadline::Missed(add),
        }
    }

    /// Appends the batch to the spool and answers it: 200 (spooled) for every event once
    /// the append is durable, 503 for every event when it is not. Returns the sequence
    /// numbers on success.
    async fn spool(&self, batch: Batch, attempt: Attempt) -> Option<Vec<SpoolSeq>> {
        let records: Vec<SpoolRecord> = batch
            .jobs
            .iter()
            .zip(&batch.waiters)
            .map(|(job, w)| match attempt {
                Attempt::None => SpoolRecord::from_job(job, w.received_ms, None),
                Attempt::MaybeRan(at) => SpoolRecord::from_job(job, w.received_ms, Some(at)),
                Attempt::Stored(at) => {
                    SpoolRecord::from_job(job, w.received_ms, Some(at)).stored_in_redis()
                }
            })
            .collect();
        let spool = self.shared.spool().clone();
        let appended = tokio::task::spawn_blocking(move || spool.append(&records))
            .await
            .unwrap_or_else(|join| Err(crate::Error::Io(std::io::Error::other(join))));
        match appended {
            Ok(seqs) => {
                for (waiter, seq) in batch.waiters.into_iter().zip(&seqs) {
                    self.shared
                        .metrics
                        .stored(StoredIn::Spool, waiter.received.elapsed());
                    let _ = waiter.reply.send(Ok(Stored::InSpool(*seq)));
                }
                self.shared.router.wake_drainer();
                Some(seqs)
            }
            Err(err) => {
                let events = batch.waiters.len();
                tracing::error!(error = %err, events, "the spool cannot store the events: answering 503");
                self.shared.metrics.unavailable(events as u64);
                for waiter in batch.waiters {
                    let _ = waiter.reply.send(Err(Unavailable));
                }
                None
            }
        }
    }
}

/// An add that missed its deadline, still running, with the spool records of its events
/// and their share of the batcher's memory budget (the add holds the jobs).
struct LateAdd {
    add: tokio::task::JoinHandle<AddOutcome>,
    seqs: Vec<SpoolSeq>,
    budget: Vec<OwnedSemaphorePermit>,
}

impl LateAdd {
    /// Waits for the outcome; when the jobs turn out to be stored, their spool records are
    /// removed first (the drainer would otherwise add them again, harmlessly within the
    /// deduplication window, but needlessly) and Redis counts as accepting again.
    async fn confirm(self, shared: Arc<Shared>) {
        let outcome = self.add.await;
        drop(self.budget);
        match outcome {
            Ok(AddOutcome::Stored(ids)) => {
                let spool = shared.spool().clone();
                let seqs = self.seqs;
                match tokio::task::spawn_blocking(move || spool.remove(&seqs)).await {
                    Ok(Ok(())) => tracing::info!(
                        events = ids.len(),
                        "a late add stored spooled events: their records are removed"
                    ),
                    // Left in the spool, the drainer sends them again with the same job ids.
                    _ => tracing::warn!("cannot remove the records of a late add from the spool"),
                }
                shared.router.redis_recovered();
            }
            // Redis took the writes, only the replicas lag: it accepts events again.
            Ok(AddOutcome::Unreplicated { .. }) => shared.router.redis_recovered(),
            _ => {}
        }
    }
}
