//! `sellsy-listener spool stats | export [--dead-letters] | requeue-dead-letters` on a spool
//! prepared through `listener::spool`: JSON on stdout and exit 0, or one line on stderr and
//! exit 2; never a spool created where there was none.

use std::path::Path;
use std::process::{Command, Output};

use bullmq_rs::{JobId, JobOptions, NewJob};
use listener::{Spool, SpoolRecord};

use crate::support::TempDir;

/// 2023-11-14T22:13:20.123Z
const RECEIVED_MS: u64 = 1_700_000_000_123;

/// Runs `sellsy-listener --spool-dir DIR spool ARGS…` with no other configuration.
fn spool_command(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sellsy-listener"))
        .arg("--spool-dir")
        .arg(dir)
        .arg("spool")
        .args(args)
        .env_remove("SELLSY_WEBHOOK_SECRET")
        .env_remove("SPOOL_DIR")
        .output()
        .unwrap()
}

fn stdout_lines(output: &Output) -> Vec<serde_json::Value> {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The one line on stderr of a command that exited 2.
fn failure_line(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

fn record(id: &str, body: &str) -> SpoolRecord {
    let opts = JobOptions {
        job_id: Some(JobId::from(id)),
        ..Default::default()
    };
    let job = NewJob::from_json("event", body.to_owned(), opts);
    SpoolRecord::from_job(&job, RECEIVED_MS, None)
}

/// A stopped listener's spool: events `e1`..`e4`, of which `e2` and `e4` are dead letters;
/// `e4` was set aside after an add that may have run (it has an attempt time).
fn prepared_spool(dir: &Path) {
    let spool = Spool::open(dir, u64::MAX).unwrap();
    let seqs = spool
        .append(&[
            record("e1", r#"{"n":1}"#),
            record("e2", r#"{"n":2}"#),
            record("e3", r#"{"n":3}"#),
            SpoolRecord {
                attempted_ms: Some(RECEIVED_MS),
                ..record("e4", r#"{"n":4}"#)
            },
        ])
        .unwrap();
    spool
        .dead_letter(&[
            (seqs[1], "redis refused the job".to_owned()),
            (seqs[3], "invalid job options".to_owned()),
        ])
        .unwrap();
}

#[test]
fn stats_counts_pending_records_dead_letters_and_the_file_size() {
    let dir = TempDir::new("cli-stats");
    prepared_spool(&dir.0);

    let lines = stdout_lines(&spool_command(&dir.0, &["stats"]));

    // Its size on disk: the blocks it occupies (as `du` counts them), not its partly sparse
    // length. Opening the spool commits a transaction, which may take a page more.
    let metadata = std::fs::metadata(dir.0.join("spool.redb")).unwrap();
    let on_disk = std::os::unix::fs::MetadataExt::blocks(&metadata) * 512;
    let bytes = lines[0]["bytes"].as_u64().unwrap();
    assert!(bytes.abs_diff(on_disk) <= 64 * 1024, "{bytes} vs {on_disk}");
    assert!(bytes <= metadata.len());
    assert_eq!(
        serde_json::to_string(&lines[0]).unwrap(),
        format!(r#"{{"pending":2,"dead_letters":2,"bytes":{bytes}}}"#)
    );
}

#[test]
fn export_prints_one_line_per_pending_record_or_dead_letter() {
    let dir = TempDir::new("cli-export");
    prepared_spool(&dir.0);

    let pending = stdout_lines(&spool_command(&dir.0, &["export"]));
    let dead = stdout_lines(&spool_command(&dir.0, &["export", "--dead-letters"]));

    let line = |seq: u64, id: &str, body: &str, error: Option<&str>| {
        serde_json::json!({
            "seq": seq, "job_id": id, "body": body,
            "received_at": "2023-11-14T22:13:20.123Z", "last_error": error,
        })
    };
    assert_eq!(
        pending,
        vec![
            line(1, "e1", r#"{"n":1}"#, None),
            line(3, "e3", r#"{"n":3}"#, None)
        ]
    );
    assert_eq!(
        dead,
        vec![
            line(2, "e2", r#"{"n":2}"#, Some("redis refused the job")),
            line(4, "e4", r#"{"n":4}"#, Some("invalid job options")),
        ]
    );
}

#[test]
fn export_shows_an_undecodable_record_raw_with_why() {
    let dir = TempDir::new("cli-undecodable");
    prepared_spool(&dir.0);
    {
        // Bytes no release writes, stored as the spool stores records (table "records").
        let db = redb::Database::open(dir.0.join("spool.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let records: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("records");
        txn.open_table(records)
            .unwrap()
            .insert(100, &b"not a record"[..])
            .unwrap();
        txn.commit().unwrap();
    }

    let pending = stdout_lines(&spool_command(&dir.0, &["export"]));

    let last = pending.last().unwrap();
    assert_eq!(last["seq"], 100);
    assert_eq!(last["job_id"], serde_json::Value::Null);
    assert_eq!(last["body"], "not a record");
    assert_eq!(last["received_at"], serde_json::Value::Null);
    assert!(
        last["last_error"]
            .as_str()
            .unwrap()
            .starts_with("undecodable spool record"),
        "{last}"
    );
}

#[test]
fn requeue_dead_letters_moves_them_back_and_says_how_many() {
    let dir = TempDir::new("cli-requeue");
    prepared_spool(&dir.0);

    let requeued = stdout_lines(&spool_command(&dir.0, &["requeue-dead-letters"]));
    let again = stdout_lines(&spool_command(&dir.0, &["requeue-dead-letters"]));

    assert_eq!(requeued, vec![serde_json::json!({"requeued": 2})]);
    assert_eq!(again, vec![serde_json::json!({"requeued": 0})]);
    let spool = Spool::open(&dir.0, u64::MAX).unwrap();
    assert_eq!((spool.len(), spool.dead_letters()), (4, 0));
    let pending: Vec<(String, Option<u64>)> = spool
        .pending(None, 10, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|spooled| spooled.record.unwrap())
        .map(|record| (record.job_id, record.attempted_ms))
        .collect();
    // Requeued records are sent again: their attempt time is forgotten.
    let ids = ["e1", "e3", "e2", "e4"].map(|id| (id.to_owned(), None));
    assert_eq!(pending, ids);
}

#[test]
fn a_spool_in_use_exits_2_saying_so() {
    let dir = TempDir::new("cli-in-use");
    prepared_spool(&dir.0);
    let open = Spool::open(&dir.0, u64::MAX).unwrap();

    for args in [&["stats"][..], &["export"], &["requeue-dead-letters"]] {
        let line = failure_line(&spool_command(&dir.0, args));
        assert!(line.contains("in use"), "{args:?}: {line}");
    }
    assert_eq!(open.dead_letters(), 2);
}

#[test]
fn a_missing_spool_exits_2_and_none_is_created() {
    let dir = TempDir::new("cli-missing");
    let missing = dir.0.join("no-such-dir");

    for (spool_dir, args) in [
        (&missing, &["stats"][..]),
        (&missing, &["export", "--dead-letters"]),
        (&dir.0, &["requeue-dead-letters"]),
    ] {
        let line = failure_line(&spool_command(spool_dir, args));
        assert!(line.contains("no spool at"), "{args:?}: {line}");
    }
    assert!(!missing.exists());
    assert!(!dir.0.join("spool.redb").exists());
}

#[test]
fn the_spool_dir_comes_from_the_environment_too() {
    let dir = TempDir::new("cli-env");
    prepared_spool(&dir.0);

    let output = Command::new(env!("CARGO_BIN_EXE_sellsy-listener"))
        .args(["spool", "stats"])
        .env("SPOOL_DIR", &dir.0)
        .output()
        .unwrap();

    assert_eq!(stdout_lines(&output)[0]["pending"], 2);
}
