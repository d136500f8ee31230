//! `sellsy-listener spool …`: inspect or repair the spool of a stopped listener. Each
//! command opens the spool only if it exists (it never creates one), prints JSON on stdout
//! and needs neither Redis nor a signing key. Only `export` prints event bodies.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, SecondsFormat};
use listener::Error;
use listener::SpoolCommand;
use listener::{ExportedRecord, Spool};
use serde_json::json;

/// Runs `command` on the spool in `spool_dir`, writing to stdout.
///
/// # Errors
/// [`Error::SpoolMissing`] when there is no spool, [`Error::SpoolInUse`] when a listener
/// has it open, [`Error::Spool`] when it cannot be read or written, [`Error::Io`] when
/// stdout cannot be written.
pub(crate) fn run(command: &SpoolCommand, spool_dir: &Path) -> Result<(), Error> {
    // Reading commands write nothing, so they also work on a read-only copy.
    let spool = match command {
        SpoolCommand::RequeueDeadLetters => Spool::open_existing(spool_dir)?,
        SpoolCommand::Stats | SpoolCommand::Export { .. } => Spool::open_read_only(spool_dir)?,
    };
    let mut out = BufWriter::new(io::stdout().lock());
    match command {
        SpoolCommand::Stats => {
            let stats = json!({
                "pending": spool.len(),
                "dead_letters": spool.dead_letters(),
                "bytes": spool.bytes(),
            });
            writeln!(out, "{stats}")?;
        }
        SpoolCommand::Export { dead_letters } => {
            let mut written = Ok(());
            spool.export(*dead_letters, |record| {
                if written.is_ok() {
                    written = writeln!(out, "{}", export_line(&record));
                }
            })?;
            written?;
        }
        SpoolCommand::RequeueDeadLetters => {
            let requeued = spool.requeue_dead_letters()?;
            writeln!(out, "{}", json!({ "requeued": requeued }))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One line of `spool export`; `received_at` is null when the time is unknown (records of
/// the previous release, undecodable records).
fn export_line(record: &ExportedRecord) -> serde_json::Value {
    let received_at = record
        .received_ms
        .and_then(|ms| i64::try_from(ms).ok())
        .and_then(DateTime::from_timestamp_millis)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true));
    let mut line = json!({
        "seq": record.seq.0,
        "job_id": record.job_id,
        "body": record.body,
        "received_at": received_at,
        "last_error": record.last_error,
    });
    if record.in_redis {
        line["in_redis"] = true.into();
    }
    line
}
