//! The crash-safe local spool: events acknowledged while Redis was unreachable wait here, in
//! arrival order, until the drainer moves them to Redis.
//!
//! # Why redb
//!
//! The spool is the only copy of an acknowledged event until it reaches Redis, so it must
//! survive a crash at any instant. redb is a copy-on-write B-tree in one file: a transaction
//! either commits whole or leaves no trace, a commit with the default
//! `Durability::Immediate` fsyncs before it returns, and a file torn by a crash is repaired
//! on the next open. That gives us crash safety without a file format, checksums or a
//! recovery routine of our own to get wrong.
//!
//! # Durability contract
//!
//! - [`Spool::append`] returns `Ok` only after its records are fsynced to disk: from then on
//!   they survive a process crash, `kill -9` and power loss, and may be acknowledged. When it
//!   returns `Err`, none of its records are stored and none may be acknowledged.
//! - [`Spool::remove`] is one durable transaction: after a crash either all of its records
//!   are gone or none are, so the drainer sends a batch twice at worst, never loses one.
//! - Sequence numbers come from a counter kept in the same file and advanced in the same
//!   transaction as the insert, so they only grow and are never reused, across restarts and
//!   after the spool was emptied.
//! - [`Spool::open`] also fsyncs the directory that holds the file, and the parent of every
//!   directory it creates: an fsync of a file does not persist its directory entry.
//! - After an I/O error (a full disk), redb refuses every later transaction of this handle
//!   until the file is opened again; what was committed before stays on disk and is found by
//!   the next [`Spool::open`].
//!
//! New files use redb's v3 file format, the only one redb 3 reads, so upgrading the
//! dependency cannot strand a spool that still holds events.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::error::Error;

/// The spool's file name inside the directory given to [`Spool::open`].
const FILE_NAME: &str = "spool.redb";

/// redb's page cache limit. Its default, 1 GiB, would let a long outage grow the
/// listener's memory; each spooled record is written once and read back about once.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Spooled records by sequence number; redb keeps `u64` keys in numeric order.
const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");

/// Small facts about the spool itself, by name.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Key in [`META`] of the sequence number the next appended record gets.
const NEXT_SEQ: &str = "next_seq";

/// The sequence number of the first record ever appended.
const FIRST_SEQ: u64 = 1;

/// A record's place in arrival order: a later append always gets a greater number, and a
/// number is never given twice, even across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpoolSeq(pub u64);

impl fmt::Display for SpoolSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A record read back from the spool with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledRecord {
    /// Where the record stands in arrival order; pass it to [`Spool::remove`].
    pub seq: SpoolSeq,
    /// The bytes given to [`Spool::append`].
    pub record: Vec<u8>,
}

/// The local store of acknowledged events, one redb file. It is `Send + Sync`: share it in
/// an `Arc`. Its methods block on disk I/O, so async callers run them on a blocking thread.
pub struct Spool {
    db: Database,
    path: PathBuf,
    /// Held by `append` and `remove` from the start of their transaction until `len` is
    /// updated, so `len` changes in commit order. redb serializes the transactions
    /// themselves, not what we do after their commit.
    writer: Mutex<()>,
    /// Records held; written only under `writer`.
    len: AtomicU64,
}

impl Spool {
    /// Opens or creates `<dir>/spool.redb`, creating `dir` and its parents if missing, and
    /// resumes the sequence after the highest number ever given.
    ///
    /// # Errors
    /// [`Error::Spool`] when `dir` cannot be created or synced, when the file cannot be
    /// created or is not a redb database, or when it is already open (in this process or
    /// another one).
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(FILE_NAME);
        create_dir_durably(dir).map_err(open_failed(&path, "creating the directory of"))?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create_with_file_format_v3(true)
            .create(&path)
            .map_err(open_failed(&path, "opening"))?;
        sync_dir(dir).map_err(open_failed(&path, "syncing the directory of"))?;
        let len = prepare(&db, &path)?;
        Ok(Self {
            db,
            path,
            writer: Mutex::new(()),
            len: AtomicU64::new(len),
        })
    }

    /// Stores the records in one durable transaction, fsynced before this returns, and
    /// returns their sequence numbers in the order of `records`. An empty slice stores
    /// nothing and touches no disk.
    ///
    /// # Errors
    /// [`Error::Spool`] when the transaction cannot be committed (full disk, I/O error);
    /// then none of the records are stored.
    pub fn append(&self, records: &[&[u8]]) -> Result<Vec<SpoolSeq>, Error> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let _writer = self.lock_writer();
        let txn = self.db.begin_write().map_err(failed("append"))?;
        let seqs = {
            let mut table = txn.open_table(RECORDS).map_err(failed("append"))?;
            let mut meta = txn.open_table(META).map_err(failed("append"))?;
            let mut next = read_next_seq(&meta).map_err(failed("append"))?;
            let mut seqs = Vec::with_capacity(records.len());
            for record in records {
                table.insert(next, *record).map_err(failed("append"))?;
                seqs.push(SpoolSeq(next));
                next = next.checked_add(1).ok_or_else(|| Error::Spool {
                    action: "append",
                    detail: "sequence numbers exhausted".to_owned(),
                })?;
            }
            meta.insert(NEXT_SEQ, next).map_err(failed("append"))?;
            seqs
        };
        // An early return above drops `txn` uncommitted, which aborts it: nothing is stored.
        txn.commit().map_err(failed("append"))?;
        self.add_len(seqs.len(), u64::saturating_add);
        Ok(seqs)
    }

    /// Up to `limit` records in arrival order, lowest sequence numbers first. The records
    /// are copied into memory, so `limit` bounds what one call holds.
    ///
    /// # Errors
    /// [`Error::Spool`] when the file cannot be read.
    pub fn oldest(&self, limit: usize) -> Result<Vec<SpooledRecord>, Error> {
        let txn = self.db.begin_read().map_err(failed("read"))?;
        let table = txn.open_table(RECORDS).map_err(failed("read"))?;
        let entries = table.iter().map_err(failed("read"))?;
        entries
            .take(limit)
            .map(|entry| {
                let (seq, record) = entry.map_err(failed("read"))?;
                Ok(SpooledRecord {
                    seq: SpoolSeq(seq.value()),
                    record: record.value().to_vec(),
                })
            })
            .collect()
    }

    /// Deletes these records in one durable transaction, fsynced before this returns.
    /// Sequence numbers not in the spool (already removed, never given) are ignored; when
    /// none is found nothing is written.
    ///
    /// # Errors
    /// [`Error::Spool`] when the transaction cannot be committed; then every record is
    /// still there.
    pub fn remove(&self, seqs: &[SpoolSeq]) -> Result<(), Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        let _writer = self.lock_writer();
        let txn = self.db.begin_write().map_err(failed("remove"))?;
        let removed = {
            let mut table = txn.open_table(RECORDS).map_err(failed("remove"))?;
            let mut removed = 0_usize;
            for seq in seqs {
                if table.remove(seq.0).map_err(failed("remove"))?.is_some() {
                    removed += 1;
                }
            }
            removed
        };
        if removed == 0 {
            return txn.abort().map_err(failed("remove"));
        }
        txn.commit().map_err(failed("remove"))?;
        self.add_len(removed, u64::saturating_sub);
        Ok(())
    }

    /// Number of records held: exact after [`Spool::open`], then kept in memory by
    /// [`Spool::append`] and [`Spool::remove`].
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the spool holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The spool's file: `<dir>/spool.redb`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        // The mutex guards no data (the state is in redb, and a panic inside a transaction
        // aborts it), so a poisoned lock is as good as a clean one.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `change` to `len` by `count`; callers hold `writer`, so load then store
    /// cannot lose another writer's update.
    fn add_len(&self, count: usize, change: fn(u64, u64) -> u64) {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        let len = self.len.load(Ordering::Relaxed);
        self.len.store(change(len, count), Ordering::Relaxed);
    }
}

impl fmt::Debug for Spool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Turns a redb error into [`Error::Spool`] for `action`.
fn failed<E: fmt::Display>(action: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Spool {
        action,
        detail: e.to_string(),
    }
}

/// Turns an error met while opening `path` into [`Error::Spool`], saying at which `step`.
fn open_failed<E: fmt::Display>(path: &Path, step: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Spool {
        action: "open",
        detail: format!("{step} {}: {e}", path.display()),
    }
}

/// The step of [`Spool::open`] that reads the file once redb accepted it.
const READING: &str = "reading";

/// Creates both tables, so readers never meet a missing one, makes the sequence counter at
/// least one past the highest stored record, and returns the number of records held.
fn prepare(db: &Database, path: &Path) -> Result<u64, Error> {
    let txn = db.begin_write().map_err(open_failed(path, READING))?;
    let len = {
        let records = txn
            .open_table(RECORDS)
            .map_err(open_failed(path, READING))?;
        let mut meta = txn.open_table(META).map_err(open_failed(path, READING))?;
        let stored_next = read_next_seq(&meta).map_err(open_failed(path, READING))?;
        let after_last = match records.last().map_err(open_failed(path, READING))? {
            Some((seq, _)) => seq.value().saturating_add(1),
            None => FIRST_SEQ,
        };
        // Only a file written without the counter (or edited by hand) can lag behind its
        // records; then a reused number would overwrite a record.
        if after_last > stored_next {
            meta.insert(NEXT_SEQ, after_last)
                .map_err(open_failed(path, READING))?;
        }
        records.len().map_err(open_failed(path, READING))?
    };
    txn.commit().map_err(open_failed(path, READING))?;
    Ok(len)
}

/// The sequence number the next appended record gets.
fn read_next_seq(meta: &impl ReadableTable<&'static str, u64>) -> Result<u64, redb::StorageError> {
    Ok(meta.get(NEXT_SEQ)?.map_or(FIRST_SEQ, |next| next.value()))
}

/// Creates `dir` and its missing parents, then fsyncs the parent of each directory created,
/// so that a crash cannot forget a directory the spool lives in.
fn create_dir_durably(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(candidate) = cursor
        && !candidate.as_os_str().is_empty()
        && !candidate.exists()
    {
        missing.push(candidate);
        cursor = candidate.parent();
    }
    fs::create_dir_all(dir)?;
    for created in missing {
        match created.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// Persists the entries of `dir` (file creations, renames) by fsyncing the directory.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a `File`; NTFS journals directory entries itself.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::thread;

    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "listener-spool-{test}-{}-{unique}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            Self(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn seqs_of(records: &[SpooledRecord]) -> Vec<SpoolSeq> {
        records.iter().map(|r| r.seq).collect()
    }

    fn bodies_of(records: &[SpooledRecord]) -> Vec<&[u8]> {
        records.iter().map(|r| r.record.as_slice()).collect()
    }

    fn assert_spool_error<T: fmt::Debug>(result: Result<T, Error>, expected_action: &str) {
        match result {
            Err(Error::Spool { action, detail }) => {
                assert_eq!(action, expected_action);
                assert!(!detail.is_empty());
            }
            other => panic!("expected a spool {expected_action} error, got {other:?}"),
        }
    }

    #[test]
    fn spool_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Spool>();
    }

    #[test]
    fn seq_displays_as_its_number() {
        assert_eq!(SpoolSeq(42).to_string(), "42");
        assert!(SpoolSeq(1) < SpoolSeq(2));
    }

    #[test]
    fn open_creates_the_directory_and_names_the_file() {
        let tmp = TempDir::new("creates");
        let dir = tmp.path().join("nested").join("spool");

        let spool = Spool::open(&dir).unwrap();

        assert_eq!(spool.path(), dir.join("spool.redb"));
        assert!(spool.path().is_file());
        assert!(spool.is_empty());
        assert_eq!(spool.oldest(10).unwrap(), Vec::new());
    }

    #[test]
    fn append_then_oldest_returns_arrival_order() {
        let tmp = TempDir::new("order");
        let spool = Spool::open(tmp.path()).unwrap();

        let first = spool.append(&[b"a", b"b"]).unwrap();
        let second = spool.append(&[b"c"]).unwrap();

        assert_eq!(first, vec![SpoolSeq(1), SpoolSeq(2)]);
        assert_eq!(second, vec![SpoolSeq(3)]);
        let oldest = spool.oldest(10).unwrap();
        assert_eq!(
            oldest,
            vec![
                SpooledRecord {
                    seq: SpoolSeq(1),
                    record: b"a".to_vec()
                },
                SpooledRecord {
                    seq: SpoolSeq(2),
                    record: b"b".to_vec()
                },
                SpooledRecord {
                    seq: SpoolSeq(3),
                    record: b"c".to_vec()
                },
            ]
        );
    }

    #[test]
    fn seqs_order_numerically_past_one_byte() {
        let tmp = TempDir::new("numeric");
        let spool = Spool::open(tmp.path()).unwrap();
        let records: Vec<Vec<u8>> = (0..300_u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();

        let seqs = spool.append(&refs).unwrap();

        let oldest = spool.oldest(1_000).unwrap();
        assert_eq!(seqs_of(&oldest), seqs);
        assert_eq!(bodies_of(&oldest), refs);
    }

    #[test]
    fn oldest_respects_its_limit() {
        let tmp = TempDir::new("limit");
        let spool = Spool::open(tmp.path()).unwrap();
        spool.append(&[b"1", b"2", b"3", b"4", b"5"]).unwrap();

        assert_eq!(bodies_of(&spool.oldest(2).unwrap()), vec![b"1", b"2"]);
        assert_eq!(spool.oldest(0).unwrap(), Vec::new());
        assert_eq!(spool.oldest(usize::MAX).unwrap().len(), 5);
    }

    #[test]
    fn removed_records_are_skipped_by_oldest() {
        let tmp = TempDir::new("remove");
        let spool = Spool::open(tmp.path()).unwrap();
        let seqs = spool.append(&[b"a", b"b", b"c", b"d"]).unwrap();

        spool.remove(&[seqs[0], seqs[2]]).unwrap();

        let oldest = spool.oldest(10).unwrap();
        assert_eq!(seqs_of(&oldest), vec![seqs[1], seqs[3]]);
        assert_eq!(bodies_of(&oldest), vec![b"b", b"d"]);
    }

    #[test]
    fn len_and_is_empty_track_appends_and_removes() {
        let tmp = TempDir::new("len");
        let spool = Spool::open(tmp.path()).unwrap();
        assert_eq!((spool.len(), spool.is_empty()), (0, true));

        let seqs = spool.append(&[b"a", b"b", b"c"]).unwrap();
        assert_eq!((spool.len(), spool.is_empty()), (3, false));

        spool.remove(&seqs[..2]).unwrap();
        assert_eq!(spool.len(), 1);

        spool.remove(&seqs[2..]).unwrap();
        assert_eq!((spool.len(), spool.is_empty()), (0, true));
    }

    #[test]
    fn unknown_and_repeated_seqs_in_remove_are_ignored() {
        let tmp = TempDir::new("unknown");
        let spool = Spool::open(tmp.path()).unwrap();
        let seqs = spool.append(&[b"a", b"b"]).unwrap();

        spool.remove(&[SpoolSeq(999)]).unwrap();
        assert_eq!(spool.len(), 2);

        spool.remove(&[seqs[0], seqs[0], SpoolSeq(0)]).unwrap();
        assert_eq!(spool.len(), 1);
        assert_eq!(seqs_of(&spool.oldest(10).unwrap()), vec![seqs[1]]);

        spool.remove(&[]).unwrap();
        assert_eq!(spool.len(), 1);
    }

    #[test]
    fn empty_append_stores_nothing_and_uses_no_seq() {
        let tmp = TempDir::new("empty");
        let spool = Spool::open(tmp.path()).unwrap();

        assert_eq!(spool.append(&[]).unwrap(), Vec::new());

        assert!(spool.is_empty());
        assert_eq!(spool.append(&[b"a"]).unwrap(), vec![SpoolSeq(FIRST_SEQ)]);
    }

    #[test]
    fn reopen_keeps_records_len_and_continues_seqs() {
        let tmp = TempDir::new("reopen");
        let before = {
            let spool = Spool::open(tmp.path()).unwrap();
            spool.append(&[b"a", b"b"]).unwrap()
        };

        let spool = Spool::open(tmp.path()).unwrap();

        assert_eq!(spool.len(), 2);
        let oldest = spool.oldest(10).unwrap();
        assert_eq!(seqs_of(&oldest), before);
        assert_eq!(bodies_of(&oldest), vec![b"a", b"b"]);
        assert_eq!(spool.append(&[b"c"]).unwrap(), vec![SpoolSeq(3)]);
    }

    #[test]
    fn seqs_are_not_reused_after_emptying_and_reopening() {
        let tmp = TempDir::new("no-reuse");
        {
            let spool = Spool::open(tmp.path()).unwrap();
            let seqs = spool.append(&[b"a", b"b", b"c"]).unwrap();
            spool.remove(&seqs).unwrap();
            assert!(spool.is_empty());
        }

        let spool = Spool::open(tmp.path()).unwrap();

        assert!(spool.is_empty());
        assert_eq!(spool.append(&[b"d"]).unwrap(), vec![SpoolSeq(4)]);
        drop(spool);
        let spool = Spool::open(tmp.path()).unwrap();
        assert_eq!(spool.len(), 1);
        assert_eq!(spool.append(&[b"e"]).unwrap(), vec![SpoolSeq(5)]);
    }

    #[test]
    fn counter_behind_the_records_is_raised_on_open() {
        let tmp = TempDir::new("counter-behind");
        {
            let spool = Spool::open(tmp.path()).unwrap();
            spool.append(&[b"a", b"b", b"c"]).unwrap();
            let txn = spool.db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert(NEXT_SEQ, 2).unwrap();
            txn.commit().unwrap();
        }

        let spool = Spool::open(tmp.path()).unwrap();

        assert_eq!(spool.append(&[b"d"]).unwrap(), vec![SpoolSeq(4)]);
        assert_eq!(
            bodies_of(&spool.oldest(10).unwrap()),
            vec![b"a", b"b", b"c", b"d"]
        );
    }

    #[test]
    fn failed_append_stores_nothing_and_keeps_len() {
        let tmp = TempDir::new("failed-append");
        let spool = Spool::open(tmp.path()).unwrap();
        spool.append(&[b"kept"]).unwrap();
        // One number is left before the counter would overflow: a batch of two fails after
        // its first insert, which must be rolled back with the counter.
        let txn = spool.db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(NEXT_SEQ, u64::MAX - 1)
            .unwrap();
        txn.commit().unwrap();

        assert_spool_error(spool.append(&[b"x", b"y"]), "append");

        assert_eq!(spool.len(), 1);
        assert_eq!(bodies_of(&spool.oldest(10).unwrap()), vec![b"kept"]);
        assert_eq!(
            spool.append(&[b"last"]).unwrap(),
            vec![SpoolSeq(u64::MAX - 1)]
        );
        assert_eq!(spool.len(), 2);
    }

    #[test]
    fn concurrent_appends_get_distinct_seqs_and_all_are_readable() {
        const THREADS: usize = 8;
        const PER_THREAD: usize = 200;
        let tmp = TempDir::new("concurrent");
        let spool = Arc::new(Spool::open(tmp.path()).unwrap());

        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let spool = Arc::clone(&spool);
                thread::spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let body = format!("{thread}:{i}");
                            let seqs = spool.append(&[body.as_bytes()]).unwrap();
                            (seqs[0], body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let written: Vec<(SpoolSeq, String)> = handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect();

        let total = THREADS * PER_THREAD;
        let distinct: HashSet<SpoolSeq> = written.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(distinct.len(), total);
        assert_eq!(spool.len(), total as u64);
        let mut expected = written;
        expected.sort();
        let read: Vec<(SpoolSeq, String)> = spool
            .oldest(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|r| (r.seq, String::from_utf8(r.record).unwrap()))
            .collect();
        assert_eq!(read, expected);
        // Each thread's records keep its own order.
        for thread in 0..THREADS {
            let prefix = format!("{thread}:");
            let mine: Vec<String> = read
                .iter()
                .filter(|(_, body)| body.starts_with(&prefix))
                .map(|(_, body)| body.clone())
                .collect();
            let in_order: Vec<String> = (0..PER_THREAD).map(|i| format!("{thread}:{i}")).collect();
            assert_eq!(mine, in_order);
        }
    }

    #[test]
    fn one_mebibyte_record_round_trips() {
        let tmp = TempDir::new("large");
        let big: Vec<u8> = (0..1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
        {
            let spool = Spool::open(tmp.path()).unwrap();
            spool.append(&[&big, b"small"]).unwrap();
        }

        let spool = Spool::open(tmp.path()).unwrap();

        let oldest = spool.oldest(10).unwrap();
        assert_eq!(bodies_of(&oldest), vec![big.as_slice(), b"small"]);
    }

    #[test]
    fn new_spool_uses_the_file_format_redb_3_reads() {
        let tmp = TempDir::new("format");
        let path = Spool::open(tmp.path()).unwrap().path().to_owned();

        let mut db = Database::open(&path).unwrap();

        assert!(!db.upgrade().unwrap(), "a v2 file would need an upgrade");
    }

    #[test]
    fn open_under_a_regular_file_fails() {
        let tmp = TempDir::new("under-file");
        fs::create_dir_all(tmp.path()).unwrap();
        let file = tmp.path().join("not-a-dir");
        fs::write(&file, b"x").unwrap();

        assert_spool_error(Spool::open(&file.join("spool")), "open");
        assert_spool_error(Spool::open(&file), "open");
    }

    #[test]
    fn open_of_a_file_that_is_not_redb_fails() {
        let tmp = TempDir::new("garbage");
        fs::create_dir_all(tmp.path()).unwrap();
        let path = tmp.path().join(FILE_NAME);

        fs::write(&path, b"not a database").unwrap();
        assert_spool_error(Spool::open(tmp.path()), "open");

        fs::write(&path, vec![0xA5_u8; 64 * 1024]).unwrap();
        assert_spool_error(Spool::open(tmp.path()), "open");
    }

    #[test]
    fn second_open_of_the_same_spool_fails_while_the_first_lives() {
        let tmp = TempDir::new("twice");
        let first = Spool::open(tmp.path()).unwrap();
        first.append(&[b"a"]).unwrap();

        assert_spool_error(Spool::open(tmp.path()), "open");

        drop(first);
        assert_eq!(Spool::open(tmp.path()).unwrap().len(), 1);
    }

    #[test]
    fn error_message_names_the_action_and_the_path() {
        let tmp = TempDir::new("message");
        fs::create_dir_all(tmp.path()).unwrap();
        fs::write(tmp.path().join(FILE_NAME), b"not a database").unwrap();

        let message = Spool::open(tmp.path()).unwrap_err().to_string();

        assert!(message.starts_with("spool open: "), "{message}");
        assert!(
            message.contains(&tmp.path().join(FILE_NAME).display().to_string()),
            "{message}"
        );
    }
}
