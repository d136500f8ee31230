//! The crash-safe local spool: events acknowledged while Redis was unreachable wait here, in
//! arrival order, until the drainer moves them to Redis; records that can never become a
//! job are set aside as dead letters, kept until an operator requeues or exports them.
//!
//! # Why redb
//!
//! The spool is the only copy of an acknowledged event until it reaches Redis, so it must
//! survive a crash at any instant. redb is a copy-on-write B-tree in one file: a transaction
//! either commits whole or leaves no trace, a commit with the default
//! `Durability::Immediate` fsyncs before it returns, and a file torn by a crash is repaired
//! on the next open. That gives us crash safety without a file format, checksums or a
//! recovery routine of our own to get wrong. New files use redb's v3 file format, the only
//! one redb 3 reads, so upgrading the dependency cannot strand a spool that holds events.
//!
//! # Durability contract
//!
//! - [`Spool::append`] returns `Ok` only after its records are fsynced: from then on they
//!   survive a crash, `kill -9` and power loss, and may be acknowledged. When it returns
//!   `Err`, none of its records are stored. (A commit whose fsync failed may still have
//!   reached the disk; its records are deleted before the spool is used again, see below.)
//! - [`Spool::remove`], [`Spool::mark_attempted`], [`Spool::dead_letter`] and
//!   [`Spool::requeue_dead_letters`] are each one durable transaction: after a crash all of
//!   it happened or none of it. Nothing is ever deleted but by `remove`.
//! - Sequence numbers come from a counter in the same file, advanced in the same
//!   transaction as the insert: they only grow and are never reused.
//! - [`Spool::open`] fsyncs the directory holding the file and the parent of every
//!   directory it creates: an fsync of a file does not persist its directory entry.
//!
//! # Faults heal by themselves
//!
//! After a redb or I/O error (a full disk, EIO), redb refuses every later transaction of
//! that handle. The spool then drops the handle and, on the next call (or
//! [`Spool::health`]), at most once per [`REOPEN_INTERVAL`], opens the file again, repairs
//! it if needed, deletes the records of an append whose commit failed, and recounts. Calls
//! in between fail fast with [`Error::Spool`].

mod capacity;
mod heal;
mod record;
mod store;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use redb::Database;

use self::capacity::{HEALTH_BATCH, Occupancy};
pub use self::record::{RecordError, SpoolRecord};
use self::store::{Failure, Tally};
use crate::error::Error;

/// The spool's file name inside the directory given to [`Spool::open`].
const FILE_NAME: &str = "spool.redb";

/// Least time between two attempts to reopen the file after an error.
pub(crate) const REOPEN_INTERVAL: Duration = Duration::from_millis(500);

/// A record's place in arrival order: a later append always gets a greater number, and a
/// number is never given twice, even across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpoolSeq(pub u64);

impl fmt::Display for SpoolSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A pending record read back, decoded, with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// Where the record stands in arrival order; pass it to [`Spool::remove`].
    pub seq: SpoolSeq,
    /// The record, or why it cannot be one (then [`Spool::dead_letter`] it).
    pub record: Result<SpoolRecord, RecordError>,
}

/// A record as `spool export` shows it. `Debug` leaves the body out.
#[derive(Clone, PartialEq, Eq)]
pub struct ExportedRecord {
    /// Its sequence number (a dead letter keeps the one it had while pending).
    pub seq: SpoolSeq,
    /// Its job id; `None` when the record does not decode.
    pub job_id: Option<String>,
    /// The job data (the event body); the raw bytes, lossily, when the record does not decode.
    pub body: String,
    /// Unix ms when the listener received it; `None` when unknown (previous release's
    /// records, undecodable ones).
    pub received_ms: Option<u64>,
    /// Why it was set aside (dead letters), or why it does not decode; else `None`.
    pub last_error: Option<String>,
    /// The job is known to be stored on the Redis primary (see [`SpoolRecord::in_redis`]);
    /// `false` when unknown or when the record does not decode.
    pub in_redis: bool,
}

impl ExportedRecord {
    fn new(seq: SpoolSeq, bytes: &[u8], reason: Option<String>) -> Self {
        match SpoolRecord::decode(bytes) {
            Ok(record) => Self {
                seq,
                job_id: Some(record.job_id),
                body: record.data,
                received_ms: Some(record.received_ms).filter(|&ms| ms != 0),
                last_error: reason,
                in_redis: record.in_redis,
            },
            Err(err) => Self {
                seq,
                job_id: None,
                body: String::from_utf8_lossy(bytes).into_owned(),
                received_ms: None,
                last_error: Some(reason.unwrap_or_else(|| err.to_string())),
                in_redis: false,
            },
        }
    }
}

impl fmt::Debug for ExportedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedRecord")
            .field("seq", &self.seq)
            .field("job_id", &self.job_id)
            .field("body_bytes", &self.body.len())
            .field("received_ms", &self.received_ms)
            .field("last_error", &self.last_error)
            .field("in_redis", &self.in_redis)
            .finish()
    }
}

/// The local store of acknowledged events, one redb file. It is `Send + Sync`: share it in
/// an `Arc`. Its methods block on disk I/O, so async callers run them on a blocking thread.
pub struct Spool {
    path: PathBuf,
    max_bytes: u64,
    /// Whether a reopen may create the file (and its directory): not for the `spool`
    /// commands, which must never create a spool.
    create: bool,
    /// Opened by [`Spool::open_read_only`]: every write is refused and nothing reopens.
    read_only: bool,
    /// `None` after an error, until the file is opened again (see the module docs).
    db: RwLock<Option<Database>>,
    /// Held by every write from before its transaction until the counts are updated, so
    /// counts change in commit order; always taken before `db`.
    writer: Mutex<Writer>,
    pending: AtomicU64,
    dead_letters: AtomicU64,
    file_bytes: AtomicU64,
}

/// What the writers share besides the file.
#[derive(Debug, Default)]
struct Writer {
    tally: Tally,
    /// Sequence numbers of appends whose commit failed; deleted on the next open.
    doubtful: Vec<Range<u64>>,
    last_reopen: Option<Instant>,
    /// Whether the loud "spool full" line was logged since the spool last took an append.
    full_logged: bool,
    /// What is known of the pages the data occupies; `None` until measured.
    occupancy: Option<Occupancy>,
}

impl Spool {
    /// Opens or creates `<dir>/spool.redb`, creating `dir` and its parents if missing, and
    /// resumes the sequence after the highest number ever given. An empty spool whose file
    /// grew large is compacted.
    ///
    /// # Errors
    /// [`Error::SpoolInUse`] when the file is open (in this process or another one),
    /// [`Error::Spool`] when `dir` cannot be created or synced, or the file cannot be
    /// created or is not a redb database.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, Error> {
        let path = dir.join(FILE_NAME);
        store::create_dir_durably(dir).map_err(open_failed(&path, "creating the directory of"))?;
        Self::open_file(path, max_bytes, true)
    }

    /// Opens `<dir>/spool.redb` only if it exists: for the `spool` commands, which must not
    /// create a spool.
    ///
    /// # Errors
    /// [`Error::SpoolMissing`] when there is no such file; otherwise as [`Spool::open`].
    pub fn open_existing(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(FILE_NAME);
        if !path.is_file() {
            return Err(Error::SpoolMissing(path));
        }
        Self::open_file(path, u64::MAX, false)
    }

    /// Opens `<dir>/spool.redb` only if it exists, and only to read it: for the `spool`
    /// commands that change nothing (`stats`, `export`). Nothing is written to the file,
    /// not even the commit and compaction of [`Spool::open`], so a read-only copy opens
    /// too. Every write is refused with [`Error::Spool`]; after a read error the spool stays
    /// closed. [`Spool::bytes`] is the file's size on disk, as for [`Spool::open`].
    ///
    /// # Errors
    /// [`Error::SpoolMissing`] when there is no such file, [`Error::SpoolInUse`] when it
    /// is open (in this process or another one), [`Error::Spool`] when it cannot be read or
    /// is not a redb database.
    pub fn open_read_only(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(FILE_NAME);
        if !path.is_file() {
            return Err(Error::SpoolMissing(path));
        }
        let db = store::open_db_read_only(&path).map_err(|err| match err {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::SpoolInUse(path.clone()),
            other => open_failed(&path, "opening")(other),
        })?;
        let tally = store::count_read_only(&db).map_err(|failure| match failure {
            Failure::Storage(err) => open_failed(&path, "reading")(err),
            Failure::Refused(err) => err,
        })?;
        let spool = Self {
            path,
            max_bytes: u64::MAX,
            create: false,
            read_only: true,
            db: RwLock::new(Some(db)),
            writer: Mutex::new(Writer {
                tally,
                ..Writer::default()
            }),
            pending: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            file_bytes: AtomicU64::new(0),
        };
        spool.publish(&spool.lock_writer());
        Ok(spool)
    }

    /// [`Spool::open`], or, when that fails, a spool whose file is not open yet: every call
    /// tries to open it again (at most every 500 ms) and fails until it
    /// can, so that a spool that cannot be opened at start (a full or read-only disk, a
    /// directory not mounted yet, a previous listener still holding the file) is used as
    /// soon as it can be, without a restart. The error is returned beside it, to be said.
    pub fn open_or_retry_later(dir: &Path, max_bytes: u64) -> (Self, Option<Error>) {
        match Self::open(dir, max_bytes) {
            Ok(spool) => (spool, None),
            Err(err) => {
                let spool = Self {
                    path: dir.join(FILE_NAME),
                    max_bytes,
                    create: true,
                    read_only: false,
                    db: RwLock::new(None),
                    writer: Mutex::new(Writer {
                        last_reopen: Some(Instant::now()),
                        ..Writer::default()
                    }),
                    pending: AtomicU64::new(0),
                    dead_letters: AtomicU64::new(0),
                    file_bytes: AtomicU64::new(0),
                };
                (spool, Some(err))
            }
        }
    }

    fn open_file(path: PathBuf, max_bytes: u64, create: bool) -> Result<Self, Error> {
        let db = store::open_db(&path, create).map_err(|err| match err {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::SpoolInUse(path.clone()),
            other => open_failed(&path, "opening")(other),
        })?;
        if let Some(dir) = path.parent() {
            store::sync_dir(dir).map_err(open_failed(&path, "syncing the directory of"))?;
        }
        let tally = store::prepare(&db, &[]).map_err(|failure| match failure {
            Failure::Storage(err) => open_failed(&path, "reading")(err),
            Failure::Refused(err) => err,
        })?;
        let spool = Self {
            path,
            max_bytes,
            create,
            read_only: false,
            db: RwLock::new(Some(db)),
            writer: Mutex::new(Writer {
                tally,
                ..Writer::default()
            }),
            pending: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            file_bytes: AtomicU64::new(0),
        };
        let mut writer = spool.lock_writer();
        spool.publish(&writer);
        spool.compact_if_empty(&mut writer);
        drop(writer);
        Ok(spool)
    }

    /// Stores the records in one durable transaction, fsynced before this returns, and
    /// returns their sequence numbers in the order of `records`. An empty slice stores
    /// nothing and touches no disk.
    ///
    /// # Errors
    /// [`Error::SpoolFull`] past capacity (see the module docs), [`Error::Spool`] when the
    /// transaction cannot be committed (full disk, I/O error); either way none of the
    /// records are stored.
    pub fn append(&self, records: &[SpoolRecord]) -> Result<Vec<SpoolSeq>, Error> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let encoded = records
            .iter()
            .map(SpoolRecord::encode)
            .collect::<serde_json::Result<Vec<_>>>()
            .map_err(|err| Error::Spool {
                action: "append",
                detail: err.to_string(),
            })?;
        let mut writer = self.lock_writer();
        self.reopen_if_closed(&mut writer, "append")?;
        let batch: u64 = encoded.iter().map(|record| record.len() as u64).sum();
        self.check_room(&mut writer, "append", batch)?;
        let mut doubt = None;
        let result = self.write(&mut writer, "append", |db, tally| {
            store::append(db, &encoded, tally, &mut doubt)
        });
        match result {
            Ok((seqs, tally)) => {
                self.committed(&mut writer, tally);
                Ok(seqs)
            }
            Err(err) => {
                writer.doubtful.extend(doubt);
                Err(err)
            }
        }
    }

    /// Pending records in arrival order with a number above `after` (all when `None`), up
    /// to `limit` records or until `max_bytes` of record bytes were collected (at least one
    /// record when `limit` > 0). Each is decoded; one that does not decode says why.
    ///
    /// # Errors
    /// [`Error::Spool`] when the file cannot be read.
    pub fn pending(
        &self,
        after: Option<SpoolSeq>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Spooled>, Error> {
        let found = self.read("read", |db| store::pending(db, after, limit, max_bytes))?;
        Ok(found
            .into_iter()
            .map(|(seq, bytes)| Spooled {
                seq,
                record: SpoolRecord::decode(&bytes),
            })
            .collect())
    }

    /// Deletes these pending records in one durable transaction. Numbers not pending are
    /// ignored; when none is found nothing is written. A spool left empty is compacted.
    ///
    /// # Errors
    /// [`Error::Spool`] when the transaction cannot be committed; then every record is
    /// still there.
    pub fn remove(&self, seqs: &[SpoolSeq]) -> Result<(), Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut writer = self.lock_writer();
        let tally = self.write(&mut writer, "remove", |db, tally| {
            store::remove(db, seqs, tally)
        })?;
        self.committed(&mut writer, tally);
        self.compact_if_empty(&mut writer);
        Ok(())
    }

    /// Sets `attempted_ms` to `at_ms` on those of these records that have none, in one
    /// durable transaction; call it before an add whose outcome may go unknown.
    ///
    /// # Errors
    /// [`Error::Spool`] when the transaction cannot be committed; then nothing changed.
    pub fn mark_attempted(&self, seqs: &[SpoolSeq], at_ms: u64) -> Result<(), Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut writer = self.lock_writer();
        let tally = self.write(&mut writer, "mark attempted", |db, tally| {
            store::mark_attempted(db, seqs, at_ms, tally)
        })?;
        self.committed(&mut writer, tally);
        Ok(())
    }

    /// Moves these pending records to the dead letters, each with its reason as its last
    /// error, in one durable transaction. Nothing is deleted; numbers not pending are
    /// ignored.
    ///
    /// # Errors
    /// [`Error::Spool`] when the transaction cannot be committed; then nothing moved.
    pub fn dead_letter(&self, letters: &[(SpoolSeq, String)]) -> Result<(), Error> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut writer = self.lock_writer();
        let tally = self.write(&mut writer, "dead-letter", |db, tally| {
            store::dead_letter(db, letters, tally)
        })?;
        self.committed(&mut writer, tally);
        Ok(())
    }

    /// Moves every dead letter back to the pending records, at new numbers after the last
    /// one, in one durable transaction, and returns how many moved.
    ///
    /// Requeueing is the operator's decision, taken after checking the queue, so each
    /// record is made sendable again: its `attempted_ms` is cleared (else a record set aside
    /// because an add may have run longer ago than its deduplication window would be set
    /// aside again at once) and so is `in_redis`. The drainer then adds it like a record
    /// never sent; its job id still keeps BullMQ from adding a job that exists twice.
    /// Records that do not decode (unknown version, garbage) move back unchanged.
    ///
    /// # Errors
    /// [`Error::Spool`] when the transaction cannot be committed; then nothing moved.
    pub fn requeue_dead_letters(&self) -> Result<u64, Error> {
        let mut writer = self.lock_writer();
        let (moved, tally) = self.write(&mut writer, "requeue", |db, tally| {
            store::requeue_dead_letters(db, tally)
        })?;
        self.committed(&mut writer, tally);
        Ok(moved)
    }

    /// Calls `visit` with each pending record, or each dead letter, in order, from one
    /// consistent snapshot.
    ///
    /// # Errors
    /// [`Error::Spool`] when the file cannot be read (records visited so far stay visited).
    pub fn export(
        &self,
        dead_letters: bool,
        mut visit: impl FnMut(ExportedRecord),
    ) -> Result<(), Error> {
        self.read("export", |db| store::export(db, dead_letters, &mut visit))
    }

    /// Pending records: exact, kept in memory.
    pub fn len(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Whether no record is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dead letters: exact, kept in memory.
    pub fn dead_letters(&self) -> u64 {
        self.dead_letters.load(Ordering::Relaxed)
    }

    /// The spool file's size on disk (the blocks it occupies, as `du` counts them), as of
    /// the last write.
    pub fn bytes(&self) -> u64 {
        self.file_bytes.load(Ordering::Relaxed)
    }

    /// The spool's file: `<dir>/spool.redb`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Ok` when the spool can take an append now: open (reopened if an error closed it,
    /// at most every 500 ms) and not full: it would take a batch of 64 KiB.
    ///
    /// # Errors
    /// [`Error::Spool`] while the file cannot be opened, [`Error::SpoolFull`] when full.
    pub fn health(&self) -> Result<(), Error> {
        let mut writer = self.lock_writer();
        self.reopen_if_closed(&mut writer, "health")?;
        self.check_room(&mut writer, "health", HEALTH_BATCH)
    }

    /// Makes the counts and the file size visible to the lock-free getters.
    fn publish(&self, writer: &Writer) {
        self.pending.store(writer.tally.pending, Ordering::Relaxed);
        self.dead_letters
            .store(writer.tally.dead_letters, Ordering::Relaxed);
        if let Ok(bytes) = store::size_on_disk(&self.path) {
            self.file_bytes.store(bytes, Ordering::Relaxed);
        }
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // A panic inside a transaction aborts it, and the counts are rewritten whole after
        // each commit, so a poisoned lock is as good as a clean one.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_db(&self) -> RwLockReadGuard<'_, Option<Database>> {
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Spool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .field("pending", &self.len())
            .field("dead_letters", &self.dead_letters())
            .field("bytes", &self.bytes())
            .finish_non_exhaustive()
    }
}

/// Turns an error met while opening `path` into [`Error::Spool`], saying at which `step`.
fn open_failed<E: fmt::Display>(path: &Path, step: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Spool {
        action: "open",
        detail: format!("{step} {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests;
