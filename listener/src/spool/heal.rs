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
        if writer
            .last_reopen
            .is_some_and(|last| last.elapsed() < REOPEN_INTERVAL)
        {
            return Err(closed(action));
        }
        writer.last_reopen = Some(Instant::now());
        let db = store::open_db(&self.path, false).map_err(reopen_failed(action))?;
        let tally = store::prepare(&db, &writer.doubtful).map_err(|failure| match failure {
            Failure::Storage(err) => reopen_failed(action)(err),
            Failure::Refused(err) => err,
        })?;
        writer.doubtful.clear();
        writer.tally = tally;
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
