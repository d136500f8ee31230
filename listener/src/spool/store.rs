//! The spool's tables and the transactions on them, one function each. Every write here is
//! one redb transaction with the default `Durability::Immediate`: it is fsynced before
//! `commit` returns, and an error before that leaves no trace of it.

use std::fs::{self, File};
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use redb::backends::FileBackend;
use redb::{Database, ReadableTable, ReadableTableMetadata, StorageBackend, TableDefinition};

use super::record::SpoolRecord;
use super::{ExportedRecord, SpoolSeq};
use crate::error::Error;

/// redb's page cache limit. Its default, 1 GiB, would let a long outage grow the
/// listener's memory; each spooled record is written once and read back about once.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Pending records by sequence number; redb keeps `u64` keys in numeric order. The name is
/// the previous release's, so its files open with their records where they were.
const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");

/// Records set aside for good, by their sequence number: the record's bytes and why.
const DEAD_LETTERS: TableDefinition<u64, (&[u8], &str)> = TableDefinition::new("dead_letters");

/// Small facts about the spool itself, by name.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Key in [`META`] of the sequence number the next appended record gets.
const NEXT_SEQ: &str = "next_seq";

/// The sequence number of the first record ever appended.
pub(super) const FIRST_SEQ: u64 = 1;

/// What went wrong inside a transaction: the storage (the handle may be broken) or a rule
/// of ours (the handle is fine).
#[derive(Debug)]
pub(super) enum Failure {
    Storage(Box<redb::Error>),
    Refused(Error),
}

macro_rules! storage_failures {
    ($($error:ty),*) => {$(
        impl From<$error> for Failure {
            fn from(err: $error) -> Self {
                Self::Storage(Box::new(err.into()))
            }
        }
    )*};
}
storage_failures!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::CompactionError
);

/// What the spool holds, recomputed on every open and carried along by every write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) pending: u64,
    pub(super) dead_letters: u64,
    /// Bytes of the stored values (records and reasons), the floor of the file's size.
    pub(super) stored_bytes: u64,
}

/// Opens the file at `path`, creating it only when `create`.
pub(super) fn open_db(path: &Path, create: bool) -> Result<Database, redb::DatabaseError> {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    if create {
        builder.create_with_file_format_v3(true).create(path)
    } else {
        builder.open(path)
    }
}

/// Opens the file at `path` for reading only, never writing to it, so that a read-only copy
/// opens too. redb 2 writes its header on every open (and repairs a file not closed
/// cleanly), so those writes are kept in memory, over the file opened read-only, and lost
/// when the handle is dropped. The file is locked as [`open_db`] locks it: a listener using
/// it makes this fail with `DatabaseAlreadyOpen`.
pub(super) fn open_db_read_only(path: &Path) -> Result<Database, redb::DatabaseError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let backend = InMemoryWrites {
        file: FileBackend::new(file)?,
        state: Mutex::new(Written {
            len,
            writes: Vec::new(),
        }),
    };
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    builder.create_with_backend(backend)
}

/// A file read through redb's own backend, with every write kept in memory instead.
#[derive(Debug)]
struct InMemoryWrites {
    file: FileBackend,
    state: Mutex<Written>,
}

#[derive(Debug)]
struct Written {
    /// The length redb set; bytes past the file's end read as zeros.
    len: u64,
    /// Writes in the order made: a later one wins where they overlap.
    writes: Vec<(u64, Vec<u8>)>,
}

impl StorageBackend for InMemoryWrites {
    fn len(&self) -> io::Result<u64> {
        Ok(self.written().len)
    }

    fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let written = self.written();
        let end = offset + len as u64;
        let in_file = self.file.len()?.min(end).saturating_sub(offset);
        let mut bytes = if in_file == 0 {
            Vec::new()
        } else {
            self.file.read(offset, in_file as usize)?
        };
        bytes.resize(len, 0);
        for (at, data) in &written.writes {
            let (from, to) = ((*at).max(offset), (at + data.len() as u64).min(end));
            if from < to {
                bytes[(from - offset) as usize..(to - offset) as usize]
                    .copy_from_slice(&data[(from - at) as usize..(to - at) as usize]);
            }
        }
        Ok(bytes)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.written().len = len;
        Ok(())
    }

    fn sync_data(&self, _eventual: bool) -> io::Result<()> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.written().writes.push((offset, data.to_vec()));
        Ok(())
    }
}

impl InMemoryWrites {
    fn written(&self) -> std::sync::MutexGuard<'_, Written> {
        // The state is a length and a list, whole after every push: a panic cannot tear it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Creates the tables, so readers never meet a missing one; makes the sequence counter at
/// least one past the highest record; deletes the records of appends whose commit failed
/// (`doubtful`: their commit may have reached the disk, but they were refused); and counts.
pub(super) fn prepare(db: &Database, doubtful: &[Range<u64>]) -> Result<Tally, Failure> {
    let txn = db.begin_write()?;
    let tally = {
        let mut records = txn.open_table(RECORDS)?;
        let dead = txn.open_table(DEAD_LETTERS)?;
        let mut meta = txn.open_table(META)?;
        for range in doubtful {
            for seq in range.clone() {
                records.remove(seq)?;
            }
        }
        let stored_next = read_next_seq(&meta)?;
        let after_last = match records.last()? {
            Some((seq, _)) => seq.value().saturating_add(1),
            None => FIRST_SEQ,
        };
        let after_dead = match dead.last()? {
            Some((seq, _)) => seq.value().saturating_add(1),
            None => FIRST_SEQ,
        };
        // Only a file written without the counter (or edited by hand) can lag behind its
        // records; then a reused number would overwrite a record.
        if after_last.max(after_dead) > stored_next {
            meta.insert(NEXT_SEQ, after_last.max(after_dead))?;
        }
        let (pending, record_bytes) = count_records(&records)?;
        let (dead_letters, dead_bytes) = count_dead_letters(&dead)?;
        Tally {
            pending,
            dead_letters,
            stored_bytes: record_bytes + dead_bytes,
        }
    };
    txn.commit()?;
    Ok(tally)
}

/// Counts what the spool holds, writing nothing; a missing table holds nothing.
pub(super) fn count_read_only(db: &Database) -> Result<Tally, Failure> {
    let txn = db.begin_read()?;
    let (pending, record_bytes) = match txn.open_table(RECORDS) {
        Err(redb::TableError::TableDoesNotExist(_)) => (0, 0),
        table => count_records(&table?)?,
    };
    let (dead_letters, dead_bytes) = match txn.open_table(DEAD_LETTERS) {
        Err(redb::TableError::TableDoesNotExist(_)) => (0, 0),
        table => count_dead_letters(&table?)?,
    };
    Ok(Tally {
        pending,
        dead_letters,
        stored_bytes: record_bytes + dead_bytes,
    })
}

/// How many records, and their bytes.
fn count_records(
    table: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<(u64, u64), redb::StorageError> {
    let mut bytes = 0_u64;
    for entry in table.iter()? {
        bytes += entry?.1.value().len() as u64;
    }
    Ok((table.len()?, bytes))
}

/// How many dead letters, and the bytes of their records and reasons.
fn count_dead_letters(
    table: &impl ReadableTable<u64, (&'static [u8], &'static str)>,
) -> Result<(u64, u64), redb::StorageError> {
    let mut bytes = 0_u64;
    for entry in table.iter()? {
        let (_, letter) = entry?;
        let (record, reason) = letter.value();
        bytes += (record.len() + reason.len()) as u64;
    }
    Ok((table.len()?, bytes))
}

/// Inserts the records at the next sequence numbers. `doubt` is set to their numbers just
/// before the commit: if the commit fails, it may still have reached the disk.
pub(super) fn append(
    db: &Database,
    encoded: &[Vec<u8>],
    tally: Tally,
    doubt: &mut Option<Range<u64>>,
) -> Result<(Vec<SpoolSeq>, Tally), Failure> {
    let txn = db.begin_write()?;
    let (seqs, pending) = {
        let mut table = txn.open_table(RECORDS)?;
        let mut meta = txn.open_table(META)?;
        let first = read_next_seq(&meta)?;
        let mut next = first;
        let mut seqs = Vec::with_capacity(encoded.len());
        for record in encoded {
            table.insert(next, record.as_slice())?;
            seqs.push(SpoolSeq(next));
            next = next.checked_add(1).ok_or_else(|| {
                Failure::Refused(Error::Spool {
                    action: "append",
                    detail: "sequence numbers exhausted".to_owned(),
                })
            })?;
        }
        meta.insert(NEXT_SEQ, next)?;
        *doubt = Some(first..next);
        (seqs, table.len()?)
    };
    // An early return above drops `txn` uncommitted, which aborts it: nothing is stored.
    txn.commit()?;
    let added: u64 = encoded.iter().map(|record| record.len() as u64).sum();
    Ok((
        seqs,
        Tally {
            pending,
            stored_bytes: tally.stored_bytes + added,
            ..tally
        },
    ))
}

/// Pending records with a number above `after`, in order, up to `limit` of them or until
/// `max_bytes` were collected (at least one).
pub(super) fn pending(
    db: &Database,
    after: Option<SpoolSeq>,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<(SpoolSeq, Vec<u8>)>, Failure> {
    let txn = db.begin_read()?;
    let table = txn.open_table(RECORDS)?;
    let start = after.map_or(0, |seq| seq.0.saturating_add(1));
    let mut found = Vec::new();
    let mut bytes = 0_usize;
    if after.is_some_and(|seq| seq.0 == u64::MAX) {
        return Ok(found);
    }
    for entry in table.range(start..)? {
        if found.len() >= limit || (!found.is_empty() && bytes >= max_bytes) {
            break;
        }
        let (seq, record) = entry?;
        bytes += record.value().len();
        found.push((SpoolSeq(seq.value()), record.value().to_vec()));
    }
    Ok(found)
}

/// Deletes pending records; numbers not found are ignored.
pub(super) fn remove(db: &Database, seqs: &[SpoolSeq], tally: Tally) -> Result<Tally, Failure> {
    let txn = db.begin_write()?;
    let (removed_bytes, pending) = {
        let mut table = txn.open_table(RECORDS)?;
        let mut removed_bytes = 0_u64;
        for seq in seqs {
            if let Some(record) = table.remove(seq.0)? {
                removed_bytes += record.value().len() as u64;
            }
        }
        (removed_bytes, table.len()?)
    };
    if pending == tally.pending {
        txn.abort()?;
        return Ok(tally);
    }
    txn.commit()?;
    Ok(Tally {
        pending,
        stored_bytes: tally.stored_bytes.saturating_sub(removed_bytes),
        ..tally
    })
}

/// Sets `attempted_ms` of the decodable records that have none.
pub(super) fn mark_attempted(
    db: &Database,
    seqs: &[SpoolSeq],
    at_ms: u64,
    tally: Tally,
) -> Result<Tally, Failure> {
    let txn = db.begin_write()?;
    let mut stored_bytes = tally.stored_bytes;
    let mut changed = false;
    {
        let mut table = txn.open_table(RECORDS)?;
        for seq in seqs {
            let Some(bytes) = table.get(seq.0)?.map(|record| record.value().to_vec()) else {
                continue;
            };
            let Ok(mut record) = SpoolRecord::decode(&bytes) else {
                continue;
            };
            if record.attempted_ms.is_some() {
                continue;
            }
            record.attempted_ms = Some(at_ms);
            let encoded = record.encode().map_err(|err| {
                Failure::Refused(Error::Spool {
                    action: "mark attempted",
                    detail: err.to_string(),
                })
            })?;
            table.insert(seq.0, encoded.as_slice())?;
            stored_bytes = (stored_bytes + encoded.len() as u64).saturating_sub(bytes.len() as u64);
            changed = true;
        }
    }
    if !changed {
        txn.abort()?;
        return Ok(tally);
    }
    txn.commit()?;
    Ok(Tally {
        stored_bytes,
        ..tally
    })
}

/// Moves pending records to the dead letters with their reasons; numbers not pending are
/// ignored.
pub(super) fn dead_letter(
    db: &Database,
    letters: &[(SpoolSeq, String)],
    tally: Tally,
) -> Result<Tally, Failure> {
    let txn = db.begin_write()?;
    let mut reasons_bytes = 0_u64;
    let counts = {
        let mut records = txn.open_table(RECORDS)?;
        let mut dead = txn.open_table(DEAD_LETTERS)?;
        for (seq, reason) in letters {
            let Some(record) = records.remove(seq.0)?.map(|record| record.value().to_vec()) else {
                continue;
            };
            dead.insert(seq.0, (record.as_slice(), reason.as_str()))?;
            reasons_bytes += reason.len() as u64;
        }
        (records.len()?, dead.len()?)
    };
    if counts == (tally.pending, tally.dead_letters) {
        txn.abort()?;
        return Ok(tally);
    }
    txn.commit()?;
    Ok(Tally {
        pending: counts.0,
        dead_letters: counts.1,
        stored_bytes: tally.stored_bytes + reasons_bytes,
    })
}

/// Moves every dead letter back to the pending records, at new numbers after the last one,
/// in their old order, each made sendable (see [`sendable`]). Returns how many moved.
pub(super) fn requeue_dead_letters(db: &Database, tally: Tally) -> Result<(u64, Tally), Failure> {
    let txn = db.begin_write()?;
    let mut stored_bytes = tally.stored_bytes;
    let mut moved = 0_u64;
    let pending = {
        let mut records = txn.open_table(RECORDS)?;
        let mut dead = txn.open_table(DEAD_LETTERS)?;
        let mut meta = txn.open_table(META)?;
        let mut next = read_next_seq(&meta)?;
        while let Some((_, letter)) = dead.pop_first()? {
            let (record, reason) = letter.value();
            let requeued = sendable(record).map_err(|err| {
                Failure::Refused(Error::Spool {
                    action: "requeue",
                    detail: err.to_string(),
                })
            })?;
            let requeued = requeued.as_deref().unwrap_or(record);
            records.insert(next, requeued)?;
            stored_bytes = (stored_bytes + requeued.len() as u64)
                .saturating_sub((record.len() + reason.len()) as u64);
            moved += 1;
            next = next.checked_add(1).ok_or_else(|| {
                Failure::Refused(Error::Spool {
                    action: "requeue",
                    detail: "sequence numbers exhausted".to_owned(),
                })
            })?;
        }
        meta.insert(NEXT_SEQ, next)?;
        records.len()?
    };
    txn.commit()?;
    Ok((
        moved,
        Tally {
            pending,
            dead_letters: 0,
            stored_bytes,
        },
    ))
}

/// A requeued record is the operator's decision, taken after checking the queue, so it
/// forgets what made the drainer hold it back: the time of an earlier add (an add older
/// than its deduplication window is set aside at once) and that it is in Redis. Returns
/// the new bytes, or `None` to keep the bytes as they are: nothing to forget, or a record
/// that does not decode (unknown version, garbage), which moves back untouched.
fn sendable(bytes: &[u8]) -> serde_json::Result<Option<Vec<u8>>> {
    let Ok(mut record) = SpoolRecord::decode(bytes) else {
        return Ok(None);
    };
    if record.attempted_ms.is_none() && !record.in_redis {
        return Ok(None);
    }
    record.attempted_ms = None;
    record.in_redis = false;
    record.encode().map(Some)
}

/// The bytes of the pages holding the spool's data (records, dead letters, their indexes
/// and redb's own tables) inside the file, as redb counts them; the rest of the file is
/// free pages that later writes reuse. Pages freed by a commit are released only by the
/// next commit (`WriteTransaction::durable_commit` in redb 2.6), so an empty commit comes
/// first. Reads every page of the data: call it rarely.
pub(super) fn occupied_bytes(db: &Database) -> Result<u64, Failure> {
    db.begin_write()?.commit()?;
    let txn = db.begin_write()?;
    let stats = txn.stats()?;
    txn.abort()?;
    Ok(stats.allocated_pages() * stats.page_size() as u64)
}

/// Calls `visit` with each pending record (or each dead letter), in order.
pub(super) fn export(
    db: &Database,
    dead_letters: bool,
    visit: &mut dyn FnMut(ExportedRecord),
) -> Result<(), Failure> {
    let txn = db.begin_read()?;
    if dead_letters {
        for entry in txn.open_table(DEAD_LETTERS)?.iter()? {
            let (seq, letter) = entry?;
            let (record, reason) = letter.value();
            visit(ExportedRecord::new(
                SpoolSeq(seq.value()),
                record,
                Some(reason.to_owned()),
            ));
        }
    } else {
        for entry in txn.open_table(RECORDS)?.iter()? {
            let (seq, record) = entry?;
            visit(ExportedRecord::new(
                SpoolSeq(seq.value()),
                record.value(),
                None,
            ));
        }
    }
    Ok(())
}

/// The sequence number the next appended record gets.
fn read_next_seq(meta: &impl ReadableTable<&'static str, u64>) -> Result<u64, redb::StorageError> {
    Ok(meta.get(NEXT_SEQ)?.map_or(FIRST_SEQ, |next| next.value()))
}

/// Creates `dir` and its missing parents, then fsyncs the parent of each directory created,
/// so that a crash cannot forget a directory the spool lives in.
pub(super) fn create_dir_durably(dir: &Path) -> io::Result<()> {
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

/// The disk space the file at `path` occupies: its allocated blocks, so that the sparse
/// tail redb adds when it grows the file does not count.
#[cfg(unix)]
pub(super) fn size_on_disk(path: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    // st_blocks counts 512-byte units whatever the file system's block size (POSIX).
    Ok(fs::metadata(path)?.blocks() * 512)
}

/// Without block counts, the file's length (an upper bound of its size on disk).
#[cfg(not(unix))]
pub(super) fn size_on_disk(path: &Path) -> io::Result<u64> {
    Ok(fs::metadata(path)?.len())
}

/// Persists the entries of `dir` (file creations, renames) by fsyncing the directory.
#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a `File`; NTFS journals directory entries itself.
#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Test access to the counter, for tests of what happens near its end.
#[cfg(test)]
pub(super) fn set_next_seq(db: &Database, next: u64) {
    let txn = db.begin_write().unwrap();
    txn.open_table(META)
        .unwrap()
        .insert(NEXT_SEQ, next)
        .unwrap();
    txn.commit().unwrap();
}

/// Test access: stores raw bytes as a pending record, as another release might have.
#[cfg(test)]
pub(super) fn insert_raw(db: &Database, seq: u64, bytes: &[u8]) {
    let txn = db.begin_write().unwrap();
    txn.open_table(RECORDS).unwrap().insert(seq, bytes).unwrap();
    txn.commit().unwrap();
}
