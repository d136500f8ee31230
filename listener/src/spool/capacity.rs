//! The spool's capacity: how much of `--spool-max-bytes` its data takes, and when an
//! emptied file is compacted.
//!
//! `max_bytes` bounds the file's size on disk: the blocks it occupies, as `du` counts them,
//! not its length (redb doubles the length of a small file ahead of use, leaving a sparse
//! tail that takes no disk). redb never shrinks a file by itself: the pages of removed
//! records stay in it, free, and later writes reuse them. So the file's size says how full
//! the spool once was, not how full it is; capacity is judged by the pages the data
//! occupies inside the file (`occupied`, as redb's `WriteTransaction::stats` counts them).
//!
//! The rule: an append of `batch` record bytes is taken when
//! `occupied + GROWTH_FACTOR × batch + COMMIT_ALLOWANCE ≤ max_bytes`, else refused with
//! [`Error::SpoolFull`] (nothing stored, nothing evicted). The factor covers redb's pages
//! around the bytes (a value takes a power-of-two run of pages; leaves split half full),
//! the allowance the pages each commit copies. Measuring reads every page of the data, so
//! `occupied` is known by an upper bound instead: the last measurement plus the allowance of
//! every write since, or the file's size on disk when smaller. Only when that bound refuses
//! an append, and the writes and removals since the last measurement add up to at least
//! `max_bytes / REMEASURE_FRACTION`, is it measured again: a drained spool takes events
//! again, dead letters or not, without a compaction, and a full one is not measured at every
//! refused event. Measured on 64 KiB records (`tests.rs`), the file stays under 1.1 ×
//! `max_bytes` over repeated fills and drains. [`Spool::health`] says full a little
//! earlier, when a batch of 64 KiB would be refused.
//!
//! Once no record is pending, a file grown past [`COMPACT_ABOVE`] (or half the limit) whose
//! data (dead letters and all) takes less than half of it is compacted, which gives the
//! disk space back; the dead letters stay.

use std::sync::PoisonError;

use super::store::{self, Tally};
use super::{Spool, Writer};
use crate::error::Error;

/// A spool with nothing pending is compacted when its file is larger than this (or than
/// half the limit): a fresh file takes a few MiB, so smaller ones are not worth the rewrite.
pub(super) const COMPACT_ABOVE: u64 = 64 * 1024 * 1024;

/// Pages redb takes per byte of a record, at most (see the module docs).
pub(super) const GROWTH_FACTOR: u64 = 2;

/// Pages one commit may take besides its records: the copied path of each tree it changes.
pub(super) const COMMIT_ALLOWANCE: u64 = 64 * 1024;

/// A refused append measures the spool again only after writes and removals of at least
/// `max_bytes / REMEASURE_FRACTION` since the last measurement.
pub(super) const REMEASURE_FRACTION: u64 = 64;

/// [`Spool::health`] says full when an append of this many bytes would be refused.
pub(super) const HEALTH_BATCH: u64 = 64 * 1024;

/// The pages the spool's data occupies in its file, as known since the last measurement
/// (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Occupancy {
    /// Bytes: the measurement plus the allowance of every write since.
    bound: u64,
    /// How far the truth may have moved from `bound` since the measurement: the allowances
    /// added and the record bytes removed.
    drift: u64,
}

impl Occupancy {
    pub(super) fn measured(bytes: u64) -> Self {
        Self {
            bound: bytes,
            drift: 0,
        }
    }

    /// Accounts a commit that took the stored bytes from `before` to `after`.
    pub(super) fn committed(&mut self, before: u64, after: u64) {
        let allowance = room_for(after.saturating_sub(before));
        self.bound = self.bound.saturating_add(allowance);
        self.drift = self
            .drift
            .saturating_add(allowance)
            .saturating_add(before.saturating_sub(after));
    }
}

/// The bytes of pages an append of `batch` record bytes may take (see the module docs).
pub(super) fn room_for(batch: u64) -> u64 {
    batch
        .saturating_mul(GROWTH_FACTOR)
        .saturating_add(COMMIT_ALLOWANCE)
}

impl Spool {
    /// Refuses a batch of `batch` bytes past capacity (see the module docs),
    /// logging the first refusal loudly and the next acceptance.
    pub(super) fn check_room(
        &self,
        writer: &mut Writer,
        action: &'static str,
        batch: u64,
    ) -> Result<(), Error> {
        let need = room_for(batch);
        let bytes = self.occupied(writer, action, self.max_bytes.saturating_sub(need))?;
        if bytes.saturating_add(need) <= self.max_bytes {
            if writer.full_logged {
                writer.full_logged = false;
                tracing::info!(path = %self.path.display(), "spool has room again: it takes events again");
            }
            return Ok(());
        }
        if !writer.full_logged {
            writer.full_logged = true;
            tracing::error!(
                path = %self.path.display(), bytes, max_bytes = self.max_bytes,
                pending = writer.tally.pending, dead_letters = writer.tally.dead_letters,
                "SPOOL FULL: events that Redis cannot take now are refused with 503 until the spool drains"
            );
        }
        Err(Error::SpoolFull {
            bytes,
            max_bytes: self.max_bytes,
        })
    }

    /// Gives the space back when nothing is pending and the file is large and mostly free
    /// pages. Dead letters are kept: compaction moves pages, it drops none.
    pub(super) fn compact_if_empty(&self, writer: &mut Writer) {
        let disk = self.bytes();
        if writer.tally.pending != 0 || disk <= COMPACT_ABOVE.min(self.max_bytes / 2) {
            return;
        }
        // A measurement that fails closed the file; the next call reopens it.
        match self.occupied(writer, "compact", disk / 2) {
            Ok(occupied) if occupied <= disk / 2 => {}
            _ => return,
        }
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        let Some(handle) = db.as_mut() else {
            return;
        };
        match handle.compact() {
            Ok(_) => {
                drop(db);
                writer.occupancy = None;
                self.publish(writer);
            }
            // A storage error breaks the handle like any other; a refusal (a read
            // transaction still open) only postpones the compaction to the next drain.
            Err(redb::CompactionError::Storage(err)) => {
                drop(db);
                self.close("compact", &err.into());
            }
            Err(_) => {}
        }
    }

    /// An upper bound of the bytes the data occupies in the file (see the module docs): the best
    /// one known, measured again when it is above `enough` and the writes since the last
    /// measurement make a new one worth its cost.
    pub(super) fn occupied(
        &self,
        writer: &mut Writer,
        action: &'static str,
        enough: u64,
    ) -> Result<u64, Error> {
        let disk = self.bytes();
        let bound = writer
            .occupancy
            .map_or(disk, |occupancy| occupancy.bound.min(disk));
        let worth_measuring = writer
            .occupancy
            .is_none_or(|occupancy| occupancy.drift >= self.max_bytes / REMEASURE_FRACTION);
        if bound <= enough || !worth_measuring {
            return Ok(bound);
        }
        let measured = self.write(writer, action, |db, _| store::occupied_bytes(db))?;
        writer.occupancy = Some(Occupancy::measured(measured));
        Ok(measured)
    }

    /// Takes the counts after a write: accounts its pages (see the module docs) and publishes.
    pub(super) fn committed(&self, writer: &mut Writer, tally: Tally) {
        if tally != writer.tally
            && let Some(occupancy) = &mut writer.occupancy
        {
            occupancy.committed(writer.tally.stored_bytes, tally.stored_bytes);
        }
        writer.tally = tally;
        self.publish(writer);
    }
}
