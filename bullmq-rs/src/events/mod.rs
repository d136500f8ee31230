//! `QueueEvents`: follows a queue's `events` stream (BullMQ's `QueueEvents`) with
//! `XREAD BLOCK` on a connection of its own, and survives lost connections by reading on
//! from the last entry it read.

mod entry;
mod event;
mod wait;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use redis::Value;

pub use entry::{EventEntry, EventId};
pub use event::QueueEvent;
pub use wait::JobOutcome;

use crate::Result;
use crate::connection::{self, Connection, ConnectionOptions};
use crate::keys::QueueKeys;
use entry::{parse_entries, parse_xread};

/// How long one `XREAD` blocks by default (BullMQ's `blockingTimeout`).
const DEFAULT_BLOCK_TIME: Duration = Duration::from_secs(10);
/// Most entries one read returns (BullMQ reads without a limit; this only pages).
const READ_BATCH: u32 = 500;
/// Extra time a blocked read may take to answer before it counts as lost.
const REPLY_MARGIN: Duration = Duration::from_secs(5);

type Read = Pin<Box<dyn Future<Output = Result<Vec<EventEntry>>> + Send>>;

/// Follows the `events` stream of one queue, as BullMQ's `QueueEvents` does: a
/// [`futures_core::Stream`] of [`QueueEvent`]s (or call [`QueueEvents::next`]).
///
/// It reads with `XREAD BLOCK` on a connection of its own, so a blocked read never delays
/// other requests ([`QueueEvents::wait_until_finished`] makes a second one on first use,
/// for reads that must not wait behind a blocked one). It starts at the end of the stream as it is when [`connect`] returns
/// (or after a given entry), and reads on from the last entry it read: when the connection
/// is lost, the read fails with an `Err` item, and the next poll waits a little (100 ms,
/// doubling up to 5 s), reconnects and goes on where it stopped, so no entry is skipped or
/// repeated. An `Err` item does not end the stream.
///
/// ```no_run
/// use bullmq_rs::{QueueEvent, QueueEvents};
///
/// # async fn demo() -> bullmq_rs::Result<()> {
/// let mut events = QueueEvents::connect("redis://127.0.0.1:6379", "emails").await?;
/// loop {
///     match events.next().await {
///         Ok(QueueEvent::Completed { job_id, return_value, .. }) => {
///             println!("{job_id} returned {return_value}");
///         }
///         Ok(QueueEvent::Failed { job_id, failed_reason, .. }) => {
///             println!("{job_id} failed: {failed_reason}");
///         }
///         Ok(other) => println!("{} {:?}", other.name(), other.job_id()),
///         Err(err) => eprintln!("events: {err} (reading on)"),
///     }
/// }
/// # }
/// ```
///
/// [`connect`]: QueueEventsBuilder::connect
pub struct QueueEvents {
    /// Blocked in `XREAD` most of the time: nothing else waits behind it.
    blocking: Connection,
    /// For what must not wait behind a blocked read ([`QueueEvents::wait_until_finished`]);
    /// made on first use.
    commands: Connection,
    keys: QueueKeys,
    block: Duration,
    /// The last entry read from Redis: the next read starts after it.
    read_after: EventId,
    /// Entries read and not handed out yet.
    buffer: VecDeque<EventEntry>,
    /// The last entry handed out (or the starting point).
    position: EventId,
    /// Failed reads in a row, for the wait before the next one.
    failures: u32,
    /// A read in flight, kept across polls (and across dropped `next` calls). Only ever
    /// reached through `&mut self` (`Mutex::get_mut`, no locking): the mutex is there so
    /// that a reader is `Sync` although the read is not.
    reading: Mutex<Option<Read>>,
}

impl std::fmt::Debug for QueueEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueEvents")
            .field("keys", &self.keys)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl QueueEvents {
    /// Follows queue `name` (default prefix) from now on.
    ///
    /// # Errors
    /// See [`QueueEventsBuilder::connect`].
    pub async fn connect(url: &str, name: &str) -> Result<Self> {
        Self::builder(name).connect(url).await
    }

    /// Starts configuring a reader for queue `name`, e.g. one that resumes after the
    /// last entry a previous run handled:
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use bullmq_rs::{ConnectionOptions, EventId, QueueEvents};
    ///
    /// # async fn demo(saved: &str) -> bullmq_rs::Result<()> {
    /// let mut events = QueueEvents::builder("emails")
    ///     .prefix("{mail}")
    ///     .connection(ConnectionOptions::default().cluster())
    ///     .start_after(saved.parse::<EventId>()?)
    ///     .block_time(Duration::from_secs(5))
    ///     .connect("redis://10.0.0.5:6379")
    ///     .await?;
    /// let event = events.next().await?;
    /// println!("{} at {}", event.name(), events.position()); // store it to resume
    /// # Ok(()) }
    /// ```
    pub fn builder(name: &str) -> QueueEventsBuilder {
        QueueEventsBuilder {
            name: name.to_owned(),
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            connection: ConnectionOptions::default(),
            start_after: None,
            block: DEFAULT_BLOCK_TIME,
        }
    }

    /// The queue's keys.
    pub fn keys(&self) -> &QueueKeys {
        &self.keys
    }

    /// The id of the last entry handed out, or the starting point before the first one.
    /// Store it to resume later with [`QueueEventsBuilder::start_after`].
    pub fn position(&self) -> &EventId {
        &self.position
    }

    /// The next event, waiting for one as long as it takes.
    ///
    /// Cancel-safe: a call dropped while waiting loses nothing.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when a read fails (the connection is lost, Redis restarts); call
    /// again to wait a little and read on from the same place.
    /// [`crate::Error::UnexpectedReply`] when the key is not a stream.
    pub async fn next(&mut self) -> Result<QueueEvent> {
        self.next_entry().await.map(QueueEvent::from_entry)
    }

    /// The next entry as stored, untyped (as [`QueueEvents::next`] otherwise).
    ///
    /// # Errors
    /// As [`QueueEvents::next`].
    pub async fn next_entry(&mut self) -> Result<EventEntry> {
        std::future::poll_fn(|cx| self.poll_entry(cx)).await
    }

    fn poll_entry(&mut self, cx: &mut Context<'_>) -> Poll<Result<EventEntry>> {
        loop {
            if let Some(entry) = self.take_buffered() {
                return Poll::Ready(Ok(entry));
            }
            let reading = match self.in_flight().take() {
                Some(reading) => reading,
                None => Box::pin(read(self.read_request(Some(self.block)))),
            };
            let reading = self.in_flight().insert(reading);
            let result = ready!(reading.as_mut().poll(cx));
            *self.in_flight() = None;
            if let Err(err) = self.absorb(result) {
                return Poll::Ready(Err(err));
            }
        }
    }

    fn in_flight(&mut self) -> &mut Option<Read> {
        self.reading
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take_buffered(&mut self) -> Option<EventEntry> {
        let entry = self.buffer.pop_front()?;
        self.position = entry.id.clone();
        Some(entry)
    }

    /// What the next read asks for: after the last entry read, waiting first when the
    /// previous reads failed.
    fn read_request(&self, block: Option<Duration>) -> ReadRequest {
        // A read that answers at once goes through `commands`, so that it does not wait
        // behind a blocked read left in flight.
        let conn = match block {
            Some(_) => &self.blocking,
            None => &self.commands,
        };
        ReadRequest {
            conn: conn.clone(),
            key: self.keys.events.clone(),
            after: self.read_after.clone(),
            block,
            retry_delay: connection::retry_delay(self.failures),
        }
    }

    /// Keeps what a read brought, or counts its failure. Entries an overlapping read
    /// brought already are dropped (a blocked read and one that answers at once may both
    /// start from the same entry).
    fn absorb(&mut self, result: Result<Vec<EventEntry>>) -> Result<()> {
        match result {
            Ok(entries) => {
                self.failures = 0;
                for entry in entries {
                    if entry.id > self.read_after {
                        self.read_after = entry.id.clone();
                        self.buffer.push_back(entry);
                    }
                }
                Ok(())
            }
            Err(err) => {
                self.failures = self.failures.saturating_add(1);
                Err(err)
            }
        }
    }

    /// Reads what the stream holds now, without blocking (and without waiting for a read
    /// in flight); `false` when it held nothing new.
    async fn read_now(&mut self) -> Result<bool> {
        let result = read(self.read_request(None)).await;
        let before = self.buffer.len();
        self.absorb(result)?;
        Ok(self.buffer.len() > before)
    }
}

impl futures_core::Stream for QueueEvents {
    type Item = Result<QueueEvent>;

    /// Never ends: errors are items (see [`QueueEvents::next`]).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_entry(cx)
            .map(|entry| Some(entry.map(QueueEvent::from_entry)))
    }
}

/// Options of a [`QueueEvents`].
#[derive(Debug, Clone)]
pub struct QueueEventsBuilder {
    name: String,
    prefix: String,
    connection: ConnectionOptions,
    start_after: Option<EventId>,
    block: Duration,
}

impl QueueEventsBuilder {
    /// Key prefix (default `bull`).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// How to reach Redis: topology and limits (default [`ConnectionOptions::default`]).
    /// The reply timeout applies to reads that answer at once; a blocked `XREAD` is
    /// bounded by [`QueueEventsBuilder::block_time`] instead.
    pub fn connection(mut self, connection: ConnectionOptions) -> Self {
        self.connection = connection;
        self
    }

    /// Reads the entries after `id` first (BullMQ's `lastEventId`), e.g. a
    /// [`QueueEvents::position`] stored earlier, or [`EventId::zero`] for the whole
    /// stream. By default reading starts at the end of the stream.
    pub fn start_after(mut self, id: EventId) -> Self {
        self.start_after = Some(id);
        self
    }

    /// How long one `XREAD` blocks before it is sent again (default 10 s, BullMQ's
    /// `blockingTimeout`). A read not answered 5 s after that counts as lost, so this also
    /// bounds how long a silently dead connection goes unnoticed. Zero blocks for ever.
    pub fn block_time(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// Opens a connection of its own to `url` and, unless [`start_after`] says otherwise,
    /// notes where the stream ends now: events from then on are read.
    ///
    /// # Errors
    /// [`crate::Error::InvalidQueue`] for a bad name or prefix, [`crate::Error::InvalidUrl`],
    /// [`crate::Error::Connect`] when Redis cannot be reached, [`crate::Error::Redis`] when the end of
    /// the stream cannot be read.
    ///
    /// [`start_after`]: QueueEventsBuilder::start_after
    pub async fn connect(self, url: &str) -> Result<QueueEvents> {
        let keys = QueueKeys::for_connection(&self.prefix, &self.name, &self.connection.topology)?;
        let blocking_options = self
            .connection
            .clone()
            .response_timeout((!self.block.is_zero()).then_some(self.block + REPLY_MARGIN));
        let mut blocking = connection::open(url, &blocking_options).await?;
        let commands = connection::open_lazy(url, &self.connection)?;
        let start = match self.start_after {
            Some(id) => id,
            None => stream_end(&mut blocking, &keys.events).await?,
        };
        Ok(QueueEvents {
            blocking,
            commands,
            keys,
            block: self.block,
            read_after: start.clone(),
            buffer: VecDeque::new(),
            position: start,
            failures: 0,
            reading: Mutex::new(None),
        })
    }
}

/// One `XREAD`, with what it needs owned, so that it can outlive a poll.
struct ReadRequest {
    conn: Connection,
    key: String,
    after: EventId,
    /// `None` answers at once.
    block: Option<Duration>,
    retry_delay: Duration,
}

async fn read(request: ReadRequest) -> Result<Vec<EventEntry>> {
    let ReadRequest {
        mut conn,
        key,
        after,
        block,
        retry_delay,
    } = request;
    if !retry_delay.is_zero() {
        tokio::time::sleep(retry_delay).await;
    }
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT").arg(READ_BATCH);
    if let Some(block) = block {
        cmd.arg("BLOCK").arg(crate::codec::as_millis(block));
    }
    let reply: Value = cmd
        .arg("STREAMS")
        .arg(&key)
        .arg(after.as_str())
        .query_async(&mut conn)
        .await?;
    parse_xread(reply)
}

/// The id of the stream's last entry, or `0-0` when it has none (yet).
async fn stream_end(conn: &mut Connection, key: &str) -> Result<EventId> {
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(parse_entries(reply, "XREVRANGE")?
        .pop()
        .map_or_else(EventId::zero, |entry| entry.id))
}
