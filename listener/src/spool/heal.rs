//! The spool's file handle heals itself: after a storage error it is dropped (redb refuses
//! every later transaction of a handle that met an I/O error, and only a new open repairs
//! the file), and the next call opens the file again, at most once per
//! [`REOPEN_INTERVAL`], deleting the records of an append whose commit failed and
//! recounting everything.

use std::fmt;
use std::sync::PoisonError;
use std::time::Instant;

use redb::Database;

use super::store::{self, Failure, Tally};
use super::{REOPEN_INTERVAL, Spool, Writer};
use crate::error::Error;

impl Spool {
    /// Runs one write transaction on the open file (reopening it first if an error closed
    /// it), giving it the counts as they are now; a storage error closes the file.
    pub(super) fn write<T>(
        &self,
        writer: &mut Writer,
        action: &'static str,
        op: impl FnOnce(&Database, Tally) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        if self.read_only {
            return Err(Error::Spool {
                action,
                detail: "the spool was opened read-only".to_owned(),
            });
        }
        self.reopen_if_closed(writer, action)?;
        let tally = writer.tally;
        self.with_db(action, |db| op(db, tally))
    }

    /// Runs one read transaction; when the file was closed by an error, reopens it first.
    pub(super) fn read<T>(
        &self,
        action: &'static str,
        op: impl FnOnce(&Database) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        if self.read_db().is_none() {
            let mut writer = self.lock_writer();
            self.reopen_if_closed(&mut writer, action)?;
        }
        self.with_db(action, op)
    }

    fn with_db<T>(
        &self,
        action: &'static str,
        op: impl FnOnce(&Database) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        let db = self.read_db();
        let Some(handle) = db.as_ref() else {
            return Err(closed(action));
        };
        match op(handle) {
            Ok(value) => Ok(value),
            Err(Failure::Refused(err)) => Err(err),
            Err(Failure::Storage(err)) => {
                drop(db);
                self.close(action, &err);
                Err(Error::Spool {
                    action,
                    detail: err.to_string(),
                })
            }
        }
    }

    /// Drops the handle after `err`: redb refuses every later transaction of a handle that
    /// met an I/O error, and only a new open repairs the file.
    pub(super) fn close(&self, action: &'static str, err: &redb::Error) {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if db.take().is_some() {
            tracing::error!(path = %self.path.display(), action, error = %err, "spool storage error: the file will be reopened");
        }
    }

    /// Opens the file again if an error closed it, at most once per [`REOPEN_INTERVAL`].
    pub(super) fn reopen_if_closed(
        &self,
        writer: &mut Writer,
        action: &'static str,
    ) -> Result<(), Error> {
        if self.read_db().is_some() {
            return Ok(());
        }
        if self.read_only
            || writer
                .last_reopen
                .is_some_and(|last| last.elapsed() < REOPEN_INTERVAL)
        {
            return Err(closed(action));
        }
        writer.last_reopen = Some(Instant::now());
        if self.create
            && let Some(dir) = self.path.parent()
        {
            store::create_dir_durably(dir).map_err(reopen_failed(action))?;
        }
        let db = store::open_db(&self.path, self.create).map_err(reopen_failed(action))?;
        let tally = store::prepare(&db, &writer.doubtful).map_err(|failure| match failure {
            Failure::Storage(err) => reopen_failed(action)(err),
            Failure::Refused(err) => err,
        })?;
        writer.doubtful.clear();
        writer.tally = tally;
        // A repaired file may hold its data in other pages.
        writer.occupancy = None;
        *self.db.write().unwrap_or_else(PoisonError::into_inner) = Some(db);
        self.publish(writer);
        tracing::warn!(path = %self.path.display(), pending = tally.pending, dead_letters = tally.dead_letters, "spool reopened after a storage error");
        Ok(())
    }
}

/// The error of a call made while the file is closed after an error.
fn closed(action: &'static str) -> Error {
    Error::Spool {
        action,
        detail: "the file is closed after a storage error and will be reopened".to_owned(),
    }
}

fn reopen_failed<E: fmt::Display>(action: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Spool {
        action,
        detail: format!("reopening after a storage error: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::process::Command;
    use std::thread;

    use super::super::tests::{
        NO_LIMIT, TempDir, all_pending, assert_spool_error, exported, ids_of, record, records,
        seqs_of,
    };
    use super::super::{REOPEN_INTERVAL, SpoolSeq};
    use super::*;

    /// A tmpfs of `size` mounted at a fresh directory, unmounted on drop.
    struct SmallDisk(TempDir);

    impl SmallDisk {
        /// `None`, said on stderr, when this process may not mount (not root, no tmpfs).
        fn mount(size: &str) -> Option<Self> {
            let dir = TempDir::new("tmpfs");
            fs::create_dir_all(dir.path()).unwrap();
            let mounted = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .output();
            match mounted {
                Ok(out) if out.status.success() => Some(Self(dir)),
                Ok(out) => {
                    eprintln!(
                        "SKIPPED: cannot mount a tmpfs (needs root): {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                    None
                }
                Err(err) => {
                    eprintln!("SKIPPED: cannot run mount: {err}");
                    None
                }
            }
        }

        fn resize(&self, size: &str) {
            let status = Command::new("mount")
                .args(["-o", &format!("remount,size={size}")])
                .arg(self.0.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    impl Drop for SmallDisk {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0.path()).status();
        }
    }

    #[test]
    fn a_full_disk_fails_appends_cleanly_and_the_same_spool_heals_once_there_is_room() {
        let Some(disk) = SmallDisk::mount("4m") else {
            return;
        };
        let dir = disk.0.path().join("spool");
        let spool = Spool::open(&dir, NO_LIMIT).unwrap();
        let body = format!(r#"{{"pad":"{}"}}"#, "z".repeat(16 * 1024));
        let mut stored = Vec::new();

        let failure = loop {
            let n = stored.len();
            match spool.append(&[
                record(&format!("k{n}"), &body),
                record(&format!("k{n}b"), &body),
            ]) {
                Ok(seqs) => stored.extend(seqs),
                Err(err) => break err,
            }
            assert!(stored.len() < 2_000, "the disk never filled");
        };

        assert!(matches!(failure, Error::Spool { .. }), "{failure}");
        assert!(spool.read_db().is_none(), "the broken handle is dropped");
        // Calls right after the failure fail fast, or reopen and fail again: nothing is lost.
        if let Ok(seqs) = spool.append(&records("during", 1)) {
            stored.extend(seqs);
        }
        disk.resize("64m");
        thread::sleep(REOPEN_INTERVAL);
        spool.health().unwrap();
        assert_eq!(seqs_of(&all_pending(&spool)), stored);
        assert_eq!(spool.len(), stored.len() as u64);
        let after = spool.append(&records("after", 2)).unwrap();
        assert!(after[0] > *stored.last().unwrap());
        let pending = all_pending(&spool);
        assert_eq!(pending.len(), stored.len() + 2);
        assert!(pending.iter().all(|s| s.record.is_ok()));
        drop(spool);
        let reopened = Spool::open(&dir, NO_LIMIT).unwrap();
        assert_eq!(reopened.len(), stored.len() as u64 + 2);
    }

    #[test]
    fn records_of_an_append_whose_commit_failed_are_deleted_when_the_file_is_reopened() {
        let tmp = TempDir::new("doubtful");
        let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
        let seqs = spool.append(&records("a", 3)).unwrap();
        // As after a commit that reached the disk although its fsync reported an error.
        spool.lock_writer().doubtful.push(seqs[1].0..seqs[2].0 + 1);
        spool.close("append", &redb::Error::PreviousIo);

        spool
            .dead_letter(&[(seqs[0], "set aside".to_owned())])
            .unwrap();

        assert_eq!((spool.len(), spool.dead_letters()), (0, 1));
        assert_eq!(exported(&spool, true)[0].job_id.as_deref(), Some("a-0"));
        assert_eq!(all_pending(&spool), Vec::new());
    }

    #[test]
    fn a_closed_spool_is_reopened_at_most_once_per_interval() {
        let tmp = TempDir::new("rate-limit");
        let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
        spool.append(&records("a", 1)).unwrap();
        spool.lock_writer().last_reopen = Some(Instant::now());
        spool.close("append", &redb::Error::PreviousIo);

        assert_spool_error(spool.append(&records("b", 1)), "append");
        assert_spool_error(spool.pending(None, 10, usize::MAX), "read");

        thread::sleep(REOPEN_INTERVAL);
        assert_eq!(spool.append(&records("c", 1)).unwrap(), vec![SpoolSeq(2)]);
        assert_eq!(ids_of(&all_pending(&spool)), vec!["a-0", "c-0"]);
    }
}
