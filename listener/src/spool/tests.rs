use std::collections::HashSet;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::thread;

use bullmq_rs::{JobId, JobOptions, NewJob};

use super::*;

/// Large enough that no test but the capacity ones meets the limit.
pub(super) const NO_LIMIT: u64 = u64::MAX;

/// A fresh directory under the system temp dir, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(test: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "listener-spool-{test}-{}-{unique}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        Self(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The record of event `id` with `data` as its body.
pub(super) fn record(id: &str, data: &str) -> SpoolRecord {
    let opts = JobOptions {
        job_id: Some(JobId::from(id)),
        ..Default::default()
    };
    SpoolRecord::from_job(
        &NewJob::from_json("event", data.to_owned(), opts),
        1_000,
        None,
    )
}

/// Records `prefix-0` … with bodies `{"n":i}`.
pub(super) fn records(prefix: &str, count: usize) -> Vec<SpoolRecord> {
    (0..count)
        .map(|i| record(&format!("{prefix}-{i}"), &format!(r#"{{"n":{i}}}"#)))
        .collect()
}

pub(super) fn ids_of(spooled: &[Spooled]) -> Vec<String> {
    spooled
        .iter()
        .map(|s| s.record.as_ref().unwrap().job_id.clone())
        .collect()
}

pub(super) fn seqs_of(spooled: &[Spooled]) -> Vec<SpoolSeq> {
    spooled.iter().map(|s| s.seq).collect()
}

pub(super) fn all_pending(spool: &Spool) -> Vec<Spooled> {
    spool.pending(None, usize::MAX, usize::MAX).unwrap()
}

pub(super) fn exported(spool: &Spool, dead_letters: bool) -> Vec<ExportedRecord> {
    let mut out = Vec::new();
    spool
        .export(dead_letters, |record| out.push(record))
        .unwrap();
    out
}

pub(super) fn assert_spool_error<T: fmt::Debug>(result: Result<T, Error>, expected_action: &str) {
    match result {
        Err(Error::Spool { action, detail }) => {
            assert_eq!(action, expected_action);
            assert!(!detail.is_empty());
        }
        other => panic!("expected a spool {expected_action} error, got {other:?}"),
    }
}

fn with_db<T>(spool: &Spool, op: impl FnOnce(&Database) -> T) -> T {
    op(spool.read_db().as_ref().unwrap())
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

    let spool = Spool::open(&dir, NO_LIMIT).unwrap();

    assert_eq!(spool.path(), dir.join("spool.redb"));
    assert!(spool.path().is_file());
    assert_eq!((spool.len(), spool.dead_letters()), (0, 0));
    assert_eq!(spool.bytes(), store::size_on_disk(spool.path()).unwrap());
    assert!(spool.bytes() <= fs::metadata(spool.path()).unwrap().len());
    assert_eq!(all_pending(&spool), Vec::new());
}

#[test]
fn append_then_pending_returns_arrival_order_decoded() {
    let tmp = TempDir::new("order");
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();

    let first = spool.append(&records("a", 2)).unwrap();
    let second = spool.append(&records("b", 1)).unwrap();

    assert_eq!(first, vec![SpoolSeq(1), SpoolSeq(2)]);
    assert_eq!(second, vec![SpoolSeq(3)]);
    let pending = all_pending(&spool);
    assert_eq!(
        seqs_of(&pending),
        vec![SpoolSeq(1), SpoolSeq(2), SpoolSeq(3)]
    );
    let expected: Vec<SpoolRecord> = records("a", 2).into_iter().chain(records("b", 1)).collect();
    let read: Vec<SpoolRecord> = pending.into_iter().map(|s| s.record.unwrap()).collect();
    assert_eq!(read, expected);
}

#[test]
fn pending_starts_after_the_given_seq_and_stops_at_limit_or_bytes() {
    let tmp = TempDir::new("pending-window");
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
    let seqs = spool.append(&records("e", 300)).unwrap();
    let one_record = records("e", 1)[0].encode().unwrap().len();

    let after = spool.pending(Some(seqs[9]), 5, usize::MAX).unwrap();
    assert_eq!(seqs_of(&after), seqs[10..15]);

    let by_bytes = spool.pending(None, usize::MAX, 3 * one_record).unwrap();
    assert_eq!(seqs_of(&by_bytes), seqs[..3]);

    let at_least_one = spool.pending(Some(seqs[0]), 10, 1).unwrap();
    assert_eq!(seqs_of(&at_least_one), vec![seqs[1]]);

    assert_eq!(spool.pending(None, 0, usize::MAX).unwrap(), Vec::new());
    assert_eq!(
        spool.pending(Some(seqs[299]), 10, usize::MAX).unwrap(),
        Vec::new()
    );
    assert_eq!(
        spool
            .pending(Some(SpoolSeq(u64::MAX)), 10, usize::MAX)
            .unwrap(),
        Vec::new()
    );
    // Numbers order numerically past one byte.
    assert_eq!(seqs_of(&all_pending(&spool)), seqs);
}

#[test]
fn removed_records_are_not_pending_and_counts_follow() {
    let tmp = TempDir::new("remove");
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
    let seqs = spool.append(&records("r", 4)).unwrap();

    spool.remove(&[seqs[0], seqs[2]]).unwrap();

    assert_eq!(seqs_of(&all_pending(&spool)), vec![seqs[1], seqs[3]]);
    assert_eq!(spool.len(), 2);
    spool
        .remove(&[SpoolSeq(999), seqs[0], SpoolSeq(0)])
        .unwrap();
    assert_eq!(spool.len(), 2);
    spool.remove(&[]).unwrap();
    spool.remove(&[seqs[1], seqs[3]]).unwrap();
    assert_eq!((spool.len(), spool.is_empty()), (0, true));
}

#[test]
fn empty_append_stores_nothing_and_uses_no_seq() {
    let tmp = TempDir::new("empty");
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();

    assert_eq!(spool.append(&[]).unwrap(), Vec::new());

    assert!(spool.is_empty());
    assert_eq!(
        spool.append(&records("x", 1)).unwrap(),
        vec![SpoolSeq(store::FIRST_SEQ)]
    );
}

#[test]
fn counts_are_exact_after_reopen_and_seqs_continue() {
    let tmp = TempDir::new("reopen");
    {
        let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
        let seqs = spool.append(&records("c", 5)).unwrap();
        spool
            .dead_letter(&[(seqs[1], "bad".to_owned()), (seqs[3], "worse".to_owned())])
            .unwrap();
        spool.remove(&[seqs[0]]).unwrap();
    }

    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();

    assert_eq!((spool.len(), spool.dead_letters()), (2, 2));
    assert_eq!(spool.append(&records("d", 1)).unwrap(), vec![SpoolSeq(6)]);
}

#[test]
fn seqs_are_not_reused_after_emptying_and_reopening() {
    let tmp = TempDir::new("no-reuse");
    {
        let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
        let seqs = spool.append(&records("a", 3)).unwrap();
        spool.remove(&seqs).unwrap();
    }

    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();

    assert!(spool.is_empty());
    assert_eq!(spool.append(&records("d", 1)).unwrap(), vec![SpoolSeq(4)]);
}

#[test]
fn counter_behind_the_records_is_raised_on_open() {
    let tmp = TempDir::new("counter-behind");
    {
        let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
        spool.append(&records("a", 3)).unwrap();
        with_db(&spool, |db| store::set_next_seq(db, 2));
    }

    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();

    assert_eq!(spool.append(&records("d", 1)).unwrap(), vec![SpoolSeq(4)]);
    assert_eq!(spool.len(), 4);
}

#[test]
fn failed_append_stores_nothing_and_keeps_counts() {
    let tmp = TempDir::new("failed-append");
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
    spool.append(&records("kept", 1)).unwrap();
    // One number is left before the counter would overflow: a batch of two fails after
    // its first insert, which must be rolled back with the counter.
    with_db(&spool, |db| store::set_next_seq(db, u64::MAX - 1));

    assert_spool_error(spool.append(&records("x", 2)), "append");

    assert_eq!(spool.len(), 1);
    assert_eq!(ids_of(&all_pending(&spool)), vec!["kept-0"]);
    assert_eq!(
        spool.append(&records("last", 1)).unwrap(),
        vec![SpoolSeq(u64::MAX - 1)]
    );
}

#[test]
fn dead_letters_keep_their_reason_and_requeue_moves_them_back_at_the_end() {
    let tmp = TempDir::new("dead-letters");
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
    let seqs = spool.append(&records("d", 4)).unwrap();

    spool
        .dead_letter(&[
            (seqs[0], "redis refused: bad options".to_owned()),
            (seqs[2], "too large".to_owned()),
            (SpoolSeq(999), "not pending: ignored".to_owned()),
        ])
        .unwrap();

    assert_eq!((spool.len(), spool.dead_letters()), (2, 2));
    assert_eq!(ids_of(&all_pending(&spool)), vec!["d-1", "d-3"]);
    let dead = exported(&spool, true);
    assert_eq!(dead.len(), 2);
    assert_eq!((dead[0].seq, dead[1].seq), (seqs[0], seqs[2]));
    assert_eq!(dead[0].job_id.as_deref(), Some("d-0"));
    assert_eq!(dead[0].body, r#"{"n":0}"#);
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("redis refused: bad options")
    );
    assert_eq!(dead[1].last_error.as_deref(), Some("too large"));

    assert_eq!(spool.requeue_dead_letters().unwrap(), 2);

    assert_eq!((spool.len(), spool.dead_letters()), (4, 0));
    let pending = all_pending(&spool);
    assert_eq!(ids_of(&pending), vec!["d-1", "d-3", "d-0", "d-2"]);
    assert_eq!(seqs_of(&pending)[2..], [SpoolSeq(5), SpoolSeq(6)]);
    assert_eq!(exported(&spool, true), Vec::new());
    assert_eq!(spool.requeue_dead_letters().unwrap(), 0);
    assert_eq!(spool.append(&records("n", 1)).unwrap(), vec![SpoolSeq(7)]);
}

#[test]
fn requeued_dead_letters_are_sendable_again_and_undecodable_ones_move_back_unchanged() {
    let tmp = TempDir::new("requeue-sendable");
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
    let mut batch = records("q", 3);
    // Set aside by the drainer: an add may have run more than its dedup window ago.
    batch[0].attempted_ms = Some(5);
    batch[1] = batch[1].clone().stored_in_redis();
    let seqs = spool.append(&batch).unwrap();
    let future = br#"{"v":9,"attempted_ms":5}"#;
    with_db(&spool, |db| store::insert_raw(db, 10, future));
    let letters: Vec<(SpoolSeq, String)> = seqs
        .iter()
        .chain([&SpoolSeq(10)])
        .map(|seq| (*seq, "held back".to_owned()))
        .collect();
    spool.dead_letter(&letters).unwrap();
    let in_redis: Vec<bool> = exported(&spool, true).iter().map(|r| r.in_redis).collect();
    assert_eq!(in_redis, vec![false, true, false, false]);
    drop(spool);
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();

    assert_eq!(spool.requeue_dead_letters().unwrap(), 4);

    let pending = all_pending(&spool);
    let expected: Vec<SpoolRecord> = records("q", 3);
    let decoded: Vec<SpoolRecord> = pending[..3]
        .iter()
        .map(|s| s.record.clone().unwrap())
        .collect();
    assert_eq!(decoded, expected);
    assert_eq!(pending[3].record, Err(RecordError::UnknownVersion(9)));
    assert_eq!(exported(&spool, false)[3].body.as_bytes(), future);
    // The counts stay exact through the rewrite: a reopen recounts the same.
    let stored_bytes = spool.lock_writer().tally.stored_bytes;
    drop(spool);
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
    assert_eq!(spool.lock_writer().tally.stored_bytes, stored_bytes);
}

#[test]
fn mark_attempted_sets_only_missing_attempt_times_durably() {
    let tmp = TempDir::new("attempted");
    let seqs = {
        let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
        let mut batch = records("m", 3);
        batch[1].attempted_ms = Some(5);
        let seqs = spool.append(&batch).unwrap();
        spool
            .mark_attempted(&[seqs[0], seqs[1], SpoolSeq(999)], 7_000)
            .unwrap();
        seqs
    };

    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();

    let attempted: Vec<Option<u64>> = all_pending(&spool)
        .into_iter()
        .map(|s| s.record.unwrap().attempted_ms)
        .collect();
    assert_eq!(attempted, vec![Some(7_000), Some(5), None]);
    spool.mark_attempted(&seqs, 9_000).unwrap();
    let attempted: Vec<Option<u64>> = all_pending(&spool)
        .into_iter()
        .map(|s| s.record.unwrap().attempted_ms)
        .collect();
    assert_eq!(attempted, vec![Some(7_000), Some(5), Some(9_000)]);
}

#[test]
fn unknown_version_and_garbage_come_back_as_record_errors_in_order() {
    let tmp = TempDir::new("unknown-version");
    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
    spool.append(&records("ok", 1)).unwrap();
    with_db(&spool, |db| {
        store::insert_raw(db, 2, br#"{"v":2,"job_id":"from-the-future"}"#);
        store::insert_raw(db, 3, b"\xff not json");
    });

    let pending = all_pending(&spool);

    assert_eq!(
        seqs_of(&pending),
        vec![SpoolSeq(1), SpoolSeq(2), SpoolSeq(3)]
    );
    assert!(pending[0].record.is_ok());
    assert_eq!(pending[1].record, Err(RecordError::UnknownVersion(2)));
    assert!(matches!(
        pending[2].record,
        Err(RecordError::Undecodable(_))
    ));
    let exported = exported(&spool, false);
    assert_eq!(exported[2].job_id, None);
    assert_eq!(exported[2].body, "\u{fffd} not json");
    assert!(
        exported[2]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("undecodable")
    );
    assert_eq!(exported[0].last_error, None);
    assert_eq!(exported[0].received_ms, Some(1_000));
}

#[test]
fn previous_release_spool_reads_back_as_jobs_with_their_ids() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/spool-previous-release/spool.redb");
    let tmp = TempDir::new("previous-release");
    fs::create_dir_all(tmp.path()).unwrap();
    fs::copy(&fixture, tmp.path().join(FILE_NAME)).unwrap();

    let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();

    assert_eq!((spool.len(), spool.dead_letters()), (3, 0));
    let jobs: Vec<NewJob> = all_pending(&spool)
        .into_iter()
        .map(|s| s.record.unwrap().to_job().unwrap())
        .collect();
    let ids: Vec<&str> = jobs
        .iter()
        .map(|job| job.opts().job_id.as_ref().unwrap().as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            "sellsy-a064f8fc72255f0305155eceac9e5d8b",
            "sellsy-bdb397522370b85fcc13690e140dd983",
            "sellsy-359c75fa72579dfd8bc7f72286f31d07",
        ]
    );
    for (n, job) in jobs.iter().enumerate() {
        let data: serde_json::Value = serde_json::from_str(job.data_json()).unwrap();
        assert_eq!(data["relatedid"], format!("4800000{}", n + 1));
        assert_eq!(job.name(), "event");
        assert!(job.opts().deduplication.is_some());
    }
    let record = all_pending(&spool)[0].record.clone().unwrap();
    assert_eq!((record.received_ms, record.attempted_ms), (0, None));
    assert_eq!(spool.append(&records("new", 1)).unwrap(), vec![SpoolSeq(4)]);
}

#[test]
fn a_full_spool_refuses_appends_whole_and_recovers_after_remove_and_compaction() {
    const MAX: u64 = 8 * 1024 * 1024;
    let tmp = TempDir::new("full");
    let spool = Spool::open(tmp.path(), MAX).unwrap();
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(64 * 1024));
    let batch = |n: usize| -> Vec<SpoolRecord> {
        (0..8)
            .map(|i| record(&format!("f-{n}-{i}"), &body))
            .collect()
    };

    let mut stored = Vec::new();
    let refused = loop {
        match spool.append(&batch(stored.len())) {
            Ok(seqs) => stored.extend(seqs),
            Err(err) => break err,
        }
        assert!(stored.len() < 10_000, "never full");
    };

    assert!(
        matches!(refused, Error::SpoolFull { max_bytes: MAX, .. }),
        "{refused}"
    );
    assert_eq!(spool.len(), stored.len() as u64);
    assert_eq!(seqs_of(&all_pending(&spool)), stored);
    assert!(matches!(
        spool.append(&batch(0)),
        Err(Error::SpoolFull { .. })
    ));

    spool.remove(&stored).unwrap();

    assert!(
        spool.bytes() < MAX / 2,
        "not compacted: {} bytes",
        spool.bytes()
    );
    spool.health().unwrap();
    assert_eq!(spool.append(&batch(0)).unwrap().len(), 8);
}

/// `count` records of 64 KiB each.
fn big_batch(tag: &str, count: usize) -> Vec<SpoolRecord> {
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(64 * 1024));
    (0..count)
        .map(|i| record(&format!("{tag}-{i}"), &body))
        .collect()
}

/// Appends batches of 8 records of 64 KiB, then single ones, until the spool refuses one
/// (then it is full for [`Spool::health`] too); returns the numbers stored.
fn fill(spool: &Spool, tag: &str) -> Vec<SpoolSeq> {
    let mut stored = Vec::new();
    for count in [8, 1] {
        loop {
            match spool.append(&big_batch(&format!("{tag}-{}", stored.len()), count)) {
                Ok(seqs) => stored.extend(seqs),
                Err(Error::SpoolFull { .. }) => break,
                Err(err) => panic!("{err}"),
            }
            assert!(stored.len() < 10_000, "never full");
        }
    }
    stored
}

#[test]
fn a_drained_spool_takes_appends_again_with_a_dead_letter_left_and_no_compaction() {
    const MAX: u64 = 8 * 1024 * 1024;
    let tmp = TempDir::new("full-dead-letter");
    let spool = Spool::open(tmp.path(), MAX).unwrap();
    let stored = fill(&spool, "f");
    assert!(matches!(spool.health(), Err(Error::SpoolFull { .. })));
    let full_file = spool.bytes();

    spool
        .dead_letter(&[(stored[0], "held back".to_owned())])
        .unwrap();
    // One record stays pending, so nothing is compacted.
    spool.remove(&stored[1..stored.len() - 1]).unwrap();

    assert_eq!((spool.len(), spool.dead_letters()), (1, 1));
    assert!(spool.bytes() >= full_file, "compacted: {}", spool.bytes());
    spool.health().unwrap();
    assert_eq!(spool.append(&big_batch("again", 8)).unwrap().len(), 8);
    drop(spool);
    // The same after a restart, when nothing is known of the file but its size.
    let spool = Spool::open(tmp.path(), MAX).unwrap();
    spool.health().unwrap();
    assert_eq!(spool.append(&big_batch("restarted", 8)).unwrap().len(), 8);
}

#[test]
fn fill_and_drain_cycles_keep_the_file_near_the_limit() {
    const MAX: u64 = 8 * 1024 * 1024;
    let tmp = TempDir::new("cycles");
    let spool = Spool::open(tmp.path(), MAX).unwrap();
    let first = spool.append(&big_batch("dead", 1)).unwrap();
    spool
        .dead_letter(&[(first[0], "held back".to_owned())])
        .unwrap();
    let mut largest = 0;
    let mut stored_per_cycle = Vec::new();

    for cycle in 0..6 {
        let stored = fill(&spool, &format!("c{cycle}"));
        largest = largest.max(spool.bytes());
        stored_per_cycle.push(stored.len());
        // The last record stays pending, so the file is never compacted.
        spool.remove(&stored[..stored.len() - 1]).unwrap();
    }

    eprintln!(
        "max {MAX}, largest file {largest} ({:.3} × max), records per fill {stored_per_cycle:?}",
        largest as f64 / MAX as f64
    );
    assert!(largest <= MAX + MAX / 10, "{largest}");
    assert!(
        stored_per_cycle
            .iter()
            .all(|&n| n >= stored_per_cycle[0] / 2)
    );
    assert_eq!(spool.dead_letters(), 1);
}

#[test]
fn emptied_spool_is_compacted_and_keeps_its_dead_letters() {
    const MAX: u64 = 8 * 1024 * 1024;
    let tmp = TempDir::new("compact-dead");
    let spool = Spool::open(tmp.path(), MAX).unwrap();
    let stored = fill(&spool, "e");
    spool
        .dead_letter(&[(stored[0], "held back".to_owned())])
        .unwrap();

    spool.remove(&stored[1..]).unwrap();

    assert!(spool.bytes() < MAX / 2, "not compacted: {}", spool.bytes());
    assert_eq!((spool.len(), spool.dead_letters()), (0, 1));
    assert_eq!(exported(&spool, true)[0].job_id.as_deref(), Some("e-0-0"));
}

#[test]
fn compaction_of_an_empty_spool_happens_at_open_too() {
    const MAX: u64 = 8 * 1024 * 1024;
    let tmp = TempDir::new("compact-open");
    let bytes = {
        let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
        let body = format!(r#"{{"pad":"{}"}}"#, "y".repeat(512 * 1024));
        let big: Vec<SpoolRecord> = (0..24).map(|i| record(&format!("b{i}"), &body)).collect();
        let seqs = spool.append(&big).unwrap();
        // Not compacted now: the limit is far away.
        spool.remove(&seqs).unwrap();
        spool.bytes()
    };
    assert!(bytes > MAX, "{bytes}");

    let spool = Spool::open(tmp.path(), MAX).unwrap();

    assert!(spool.bytes() < MAX / 2, "{}", spool.bytes());
}

#[test]
fn concurrent_appends_get_distinct_seqs_and_all_are_readable() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 100;
    let tmp = TempDir::new("concurrent");
    let spool = Arc::new(Spool::open(tmp.path(), NO_LIMIT).unwrap());

    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let spool = Arc::clone(&spool);
            thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| {
                        let id = format!("{thread}:{i}");
                        (spool.append(&[record(&id, "{}")]).unwrap()[0], id)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut written: Vec<(SpoolSeq, String)> = handles
        .into_iter()
        .flat_map(|handle| handle.join().unwrap())
        .collect();

    let distinct: HashSet<SpoolSeq> = written.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(distinct.len(), THREADS * PER_THREAD);
    assert_eq!(spool.len(), (THREADS * PER_THREAD) as u64);
    written.sort();
    let pending = all_pending(&spool);
    let read: Vec<(SpoolSeq, String)> = seqs_of(&pending)
        .into_iter()
        .zip(ids_of(&pending))
        .collect();
    assert_eq!(read, written);
}

#[test]
fn second_open_of_the_same_spool_is_in_use_while_the_first_lives() {
    let tmp = TempDir::new("twice");
    let first = Spool::open(tmp.path(), NO_LIMIT).unwrap();
    first.append(&records("a", 1)).unwrap();

    assert!(matches!(
        Spool::open(tmp.path(), NO_LIMIT),
        Err(Error::SpoolInUse(_))
    ));
    assert!(matches!(
        Spool::open_existing(tmp.path()),
        Err(Error::SpoolInUse(_))
    ));

    drop(first);
    assert_eq!(Spool::open_existing(tmp.path()).unwrap().len(), 1);
}

#[test]
fn open_existing_creates_nothing() {
    let tmp = TempDir::new("existing");

    assert!(matches!(
        Spool::open_existing(tmp.path()),
        Err(Error::SpoolMissing(_))
    ));
    assert!(!tmp.path().exists());
    fs::create_dir_all(tmp.path()).unwrap();
    assert!(matches!(
        Spool::open_existing(tmp.path()),
        Err(Error::SpoolMissing(_))
    ));
    assert!(!tmp.path().join(FILE_NAME).exists());
}

#[test]
fn new_spool_uses_the_file_format_redb_3_reads() {
    let tmp = TempDir::new("format");
    let path = Spool::open(tmp.path(), NO_LIMIT).unwrap().path().to_owned();

    let mut db = Database::open(&path).unwrap();

    assert!(!db.upgrade().unwrap(), "a v2 file would need an upgrade");
}

#[test]
fn open_under_a_regular_file_or_of_a_non_redb_file_fails_naming_the_path() {
    let tmp = TempDir::new("garbage");
    fs::create_dir_all(tmp.path()).unwrap();
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    assert_spool_error(Spool::open(&file.join("spool"), NO_LIMIT), "open");

    fs::write(tmp.path().join(FILE_NAME), b"not a database").unwrap();
    let message = Spool::open(tmp.path(), NO_LIMIT).unwrap_err().to_string();

    assert!(message.starts_with("spool open: "), "{message}");
    assert!(
        message.contains(&tmp.path().join(FILE_NAME).display().to_string()),
        "{message}"
    );
}

#[test]
fn read_only_open_reads_everything_writes_nothing_and_locks_the_file() {
    let tmp = TempDir::new("read-only");
    {
        let spool = Spool::open(tmp.path(), NO_LIMIT).unwrap();
        let seqs = spool.append(&records("r", 3)).unwrap();
        spool
            .dead_letter(&[(seqs[1], "held back".to_owned())])
            .unwrap();
    }
    let path = tmp.path().join(FILE_NAME);
    let before = fs::read(&path).unwrap();
    let mut permissions = fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    fs::set_permissions(&path, permissions).unwrap();

    let spool = Spool::open_read_only(tmp.path()).unwrap();

    assert_eq!((spool.len(), spool.dead_letters()), (2, 1));
    assert_eq!(spool.bytes(), store::size_on_disk(&path).unwrap());
    assert_eq!(ids_of(&all_pending(&spool)), vec!["r-0", "r-2"]);
    assert_eq!(exported(&spool, true)[0].job_id.as_deref(), Some("r-1"));
    assert!(matches!(
        Spool::open_existing(tmp.path()),
        Err(Error::SpoolInUse(_))
    ));
    assert_spool_error(spool.append(&records("n", 1)), "append");
    assert_spool_error(spool.requeue_dead_letters(), "requeue");
    assert_spool_error(spool.remove(&[SpoolSeq(1)]), "remove");
    drop(spool);
    assert!(fs::read(&path).unwrap() == before, "the file changed");
    let writer = Spool::open_existing(tmp.path());
    assert!(
        matches!(Spool::open_read_only(tmp.path()), Err(Error::SpoolInUse(_))),
        "{writer:?}"
    );
    assert!(matches!(
        Spool::open_read_only(&tmp.path().join("none")),
        Err(Error::SpoolMissing(_))
    ));
}

#[test]
fn read_only_open_of_a_copy_taken_while_in_use_repairs_in_memory_only() {
    let tmp = TempDir::new("read-only-copy");
    let copy = tmp.path().join("copy");
    fs::create_dir_all(&copy).unwrap();
    let spool = Spool::open(&tmp.path().join("live"), NO_LIMIT).unwrap();
    spool.append(&records("c", 3)).unwrap();
    // A file copied from a running listener is marked as not closed cleanly.
    fs::copy(spool.path(), copy.join(FILE_NAME)).unwrap();
    let before = fs::read(copy.join(FILE_NAME)).unwrap();

    let read_only = Spool::open_read_only(&copy).unwrap();

    assert_eq!(ids_of(&all_pending(&read_only)), vec!["c-0", "c-1", "c-2"]);
    drop(read_only);
    assert!(
        fs::read(copy.join(FILE_NAME)).unwrap() == before,
        "the copy changed"
    );
    assert_eq!(spool.len(), 3);
}
