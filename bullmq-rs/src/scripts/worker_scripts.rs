//! The worker's scripts: `lua/move_to_active.lua`, `move_to_finished.lua`,
//! `retry_job.lua`, `move_to_delayed.lua`, `extend_locks.lua`,
//! `move_stalled_jobs_to_wait.lua` and `job_updates.lua`. Each wrapper owns its script's
//! argument order and turns the reply into Rust types.

use std::collections::HashMap;

use crate::connection::Connection;
use redis::Value;

use super::Script;
use crate::error::ScriptError;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::worker::Limiter;
use crate::{Error, Result, codec};

/// What `move_to_active` answered.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// A job, now active and locked: its id and hash.
    Job(JobId, HashMap<String, String>),
    /// The rate limit is reached for this long (ms).
    RateLimited(u64),
    /// Nothing ready; the earliest delayed job is due at this time (ms), if any.
    Nothing(Option<u64>),
}

/// The lock and limits a fetch runs with.
pub(crate) struct FetchArgs<'a> {
    pub(crate) now: u64,
    pub(crate) token: &'a str,
    pub(crate) lock_ms: u64,
    pub(crate) limiter: Option<Limiter>,
    pub(crate) worker_name: &'a str,
}

pub(crate) struct MoveToActive(pub(super) Script<11>);

impl MoveToActive {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        args: &FetchArgs<'_>,
    ) -> Result<Fetched> {
        let script_keys = [
            keys.wait.as_str(),
            &keys.active,
            &keys.prioritized,
            &keys.events,
            &keys.stalled,
            &keys.limiter,
            &keys.delayed,
            &keys.paused,
            &keys.meta,
            &keys.pc,
            &keys.marker,
        ];
        let reply: Vec<Value> = self
            .0
            .call(conn, script_keys, fetch_argv(keys, major, args))
            .await?;
        decode_fetched(self.0.name(), reply)
    }
}

/// A worker limiter as its two arguments, max and duration ms ("" when there is none).
fn limiter_args(limiter: Option<Limiter>) -> (String, String) {
    limiter.map_or((String::new(), String::new()), |limit| {
        (
            limit.max.to_string(),
            codec::as_millis(limit.duration).to_string(),
        )
    })
}

fn fetch_argv(keys: &QueueKeys, major: BullmqMajor, args: &FetchArgs<'_>) -> [String; 8] {
    let (limit_max, limit_ms) = limiter_args(args.limiter);
    [
        keys.base().to_owned(),
        args.now.to_string(),
        args.token.to_owned(),
        args.lock_ms.to_string(),
        limit_max,
        limit_ms,
        args.worker_name.to_owned(),
        major.as_arg().to_owned(),
    ]
}

/// Decodes `[job hash | 0, job id | 0, rate limit ttl, next due]`.
fn decode_fetched(script: &'static str, reply: Vec<Value>) -> Result<Fetched> {
    let unexpected = |detail: String| Error::UnexpectedReply {
        command: script,
        detail,
    };
    let [hash, id, ttl, next] =
        <[Value; 4]>::try_from(reply).map_err(|reply| unexpected(format!("{reply:?}")))?;
    let int = |value: &Value| {
        redis::from_redis_value::<u64>(value.clone()).map_err(|err| unexpected(err.to_string()))
    };
    if let Value::Array(_) = hash {
        let hash: HashMap<String, String> =
            redis::from_redis_value(hash).map_err(|err| unexpected(err.to_string()))?;
        let id: String = redis::from_redis_value(id).map_err(|err| unexpected(err.to_string()))?;
        return Ok(Fetched::Job(JobId::from(id), hash));
    }
    match (int(&ttl)?, int(&next)?) {
        (0, 0) => Ok(Fetched::Nothing(None)),
        (0, due) => Ok(Fetched::Nothing(Some(due))),
        (ttl, _) => Ok(Fetched::RateLimited(ttl)),
    }
}

/// How a job ends for good, owned so that the worker can hand it to the task that sends
/// the endings of several jobs in one call.
pub(crate) struct Finish {
    pub(crate) job_id: JobId,
    pub(crate) token: String,
    pub(crate) now: u64,
    pub(crate) outcome: Outcome,
    pub(crate) keep: Retention,
    pub(crate) attempts: u32,
    /// JSON array of field, value pairs written first ("" = none).
    pub(crate) fields_json: String,
    /// Most metrics data points kept, when the worker collects metrics.
    pub(crate) metrics: Option<u64>,
    /// The lock token to take the next job with in the same call (BullMQ's fetchNext).
    pub(crate) next_token: Option<String>,
}

/// What to keep of the finished set the job enters (BullMQ's `keepJobs`, from
/// `removeOnComplete` / `removeOnFail`); `move_to_finished` trims the set by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    /// Jobs kept: -1 keeps every job, 0 removes this one at once, n keeps the newest n.
    pub(crate) count: i64,
    /// Jobs older than this (seconds) are removed; `None` keeps them whatever their age.
    pub(crate) age_secs: Option<u64>,
    /// Most jobs one trim removes.
    pub(crate) limit: u64,
}

/// Completed with a return value (JSON), or failed with a reason.
pub(crate) enum Outcome {
    Completed(String),
    Failed(String),
}

/// How the jobs taken next are locked and limited: the same for every job of a call.
pub(crate) struct NextFetch<'a> {
    pub(crate) lock_ms: u64,
    pub(crate) limiter: Option<Limiter>,
    pub(crate) worker_name: &'a str,
}

/// What ending one job answered: `Some` when it also took the next job, or found none
/// and says how long to wait; `None` when it did not look for one.
pub(crate) type Ended = Result<Option<Fetched>>;

pub(crate) struct MoveToFinished(pub(super) Script<12>);

impl MoveToFinished {
    /// Arguments before the jobs', and per job (lua/move_to_finished.lua).
    const HEAD: usize = 6;
    const PER_JOB: usize = 12;

    /// Ends `jobs` in one call, in order, each as a call of its own would. Each job has
    /// its own answer, an error raised while ending it included; the outer error is the
    /// call's (refused as a whole, or a connection failure that leaves unknown whether it
    /// ran, as for a call of one job).
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        next: &NextFetch<'_>,
        jobs: &[Finish],
    ) -> Result<Vec<Ended>> {
        let script_keys = [
            keys.wait.as_str(),
            &keys.active,
            &keys.prioritized,
            &keys.events,
            &keys.stalled,
            &keys.delayed,
            &keys.paused,
            &keys.meta,
            &keys.pc,
            &keys.marker,
            &keys.id,
            &keys.limiter,
        ];
        let (limit_max, limit_ms) = limiter_args(next.limiter);
        let mut argv: Vec<String> = Vec::with_capacity(Self::HEAD + Self::PER_JOB * jobs.len());
        argv.extend([
            keys.base().to_owned(),
            major.as_arg().to_owned(),
            next.lock_ms.to_string(),
            limit_max,
            limit_ms,
            next.worker_name.to_owned(),
        ]);
        for job in jobs {
            let (target, value) = match &job.outcome {
                Outcome::Completed(json) => ("completed", json),
                Outcome::Failed(reason) => ("failed", reason),
            };
            let Retention {
                count,
                age_secs,
                limit,
            } = job.keep;
            argv.extend([
                job.job_id.as_str().to_owned(),
                job.now.to_string(),
                target.to_owned(),
                value.clone(),
                job.token.clone(),
                count.to_string(),
                age_secs.map(|age| age.to_string()).unwrap_or_default(),
                limit.to_string(),
                job.attempts.to_string(),
                job.fields_json.clone(),
                job.metrics
                    .map(|points| points.to_string())
                    .unwrap_or_default(),
                job.next_token.clone().unwrap_or_default(),
            ]);
        }
        let name = self.0.name();
        let unexpected = |detail: String| Error::UnexpectedReply {
            command: name,
            detail,
        };
        let answers: Vec<Value> = self.0.call(conn, script_keys, argv).await?;
        if answers.len() != jobs.len() {
            return Err(unexpected(format!(
                "{} answers for {} jobs",
                answers.len(),
                jobs.len()
            )));
        }
        Ok(answers
            .into_iter()
            .map(|answer| match answer {
                Value::Int(code) => code_to_result(name, code).map(|()| None),
                // The error the job's ending raised (lua/move_to_finished.lua).
                Value::BulkString(text) => Err(unexpected(String::from_utf8_lossy(&text).into())),
                Value::Array(reply) => decode_fetched(name, reply).map(Some),
                other => Err(unexpected(format!("{other:?}"))),
            })
            .collect())
    }
}

/// A failed attempt that runs again: at once (`delay` 0) or after a backoff.
pub(crate) struct Retry<'a> {
    pub(crate) job_id: &'a JobId,
    pub(crate) token: &'a str,
    pub(crate) now: u64,
    pub(crate) delay_ms: u64,
    pub(crate) lifo: bool,
    pub(crate) fields_json: &'a str,
}

pub(crate) struct RetryJob(pub(super) Script<11>);

impl RetryJob {
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        retry: &Retry<'_>,
    ) -> Result<()> {
        let job_key = keys.job(retry.job_id);
        let script_keys = [
            keys.active.as_str(),
            &keys.wait,
            &keys.paused,
            &job_key,
            &keys.meta,
            &keys.events,
            &keys.delayed,
            &keys.prioritized,
            &keys.pc,
            &keys.marker,
            &keys.stalled,
        ];
        let push = if retry.lifo { "RPUSH" } else { "LPUSH" };
        let argv = [
            keys.base(),
            &retry.now.to_string(),
            push,
            retry.job_id.as_str(),
            retry.token,
            retry.fields_json,
            major.as_arg(),
        ];
        code_to_result(self.0.name(), self.0.call(conn, script_keys, argv).await?)
    }
}

pub(crate) struct MoveToDelayed(pub(super) Script<7>);

impl MoveToDelayed {
    /// Delays the job by `retry.delay_ms`; `skip_attempt` counts no attempt (`atm`).
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        retry: &Retry<'_>,
        skip_attempt: bool,
    ) -> Result<()> {
        let job_key = keys.job(retry.job_id);
        let script_keys = [
            keys.marker.as_str(),
            &keys.active,
            &keys.delayed,
            &job_key,
            &keys.events,
            &keys.meta,
            &keys.stalled,
        ];
        let argv: [&str; 6] = [
            &retry.now.to_string(),
            retry.job_id.as_str(),
            retry.token,
            &retry.delay_ms.to_string(),
            retry.fields_json,
            if skip_attempt { "1" } else { "0" },
        ];
        code_to_result(self.0.name(), self.0.call(conn, script_keys, argv).await?)
    }
}

pub(crate) struct RateLimitJob(pub(super) Script<10>);

impl RateLimitJob {
    /// Puts the job back in front of `wait` (or in `prioritized`), lock released, no
    /// attempt counted, the queue not rate-limited (BullMQ's moveJobFromActiveToWait).
    pub(crate) async fn move_to_wait(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        job_id: &JobId,
        token: &str,
    ) -> Result<()> {
        self.call(conn, keys, major, job_id, token, 0).await
    }

    /// Rate-limits the queue for `limit_ms` and puts the job back in front, no attempt counted.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        job_id: &JobId,
        token: &str,
        limit_ms: u64,
    ) -> Result<()> {
        let job_key = keys.job(job_id);
        let script_keys = [
            keys.active.as_str(),
            &keys.wait,
            &keys.stalled,
            &keys.paused,
            &keys.meta,
            &keys.limiter,
            &keys.prioritized,
            &keys.marker,
            &keys.events,
            &job_key,
        ];
        let argv = [
            job_id.as_str(),
            token,
            &limit_ms.to_string(),
            major.as_arg(),
        ];
        code_to_result(self.0.name(), self.0.call(conn, script_keys, argv).await?)
    }
}

pub(crate) struct ExtendLocks(pub(super) Script<1>);

impl ExtendLocks {
    /// Renews the locks; returns the ids whose lock this worker no longer holds.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        lock_ms: u64,
        held: &[(JobId, String)],
    ) -> Result<Vec<JobId>> {
        let mut argv = vec![keys.base().to_owned(), lock_ms.to_string()];
        for (id, token) in held {
            argv.push(id.as_str().to_owned());
            argv.push(token.clone());
        }
        let lost: Vec<String> = self.0.call(conn, [keys.stalled.as_str()], argv).await?;
        Ok(lost.into_iter().map(JobId::from).collect())
    }
}

pub(crate) struct MoveStalledJobsToWait(pub(super) Script<9>);

impl MoveStalledJobsToWait {
    /// Runs one stalled check (unless another worker ran one within the interval);
    /// returns the ids moved back to wait.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        max_stalled: u32,
        now: u64,
        interval_ms: u64,
    ) -> Result<Vec<JobId>> {
        let repeat = format!("{}repeat", keys.base());
        let script_keys = [
            keys.stalled.as_str(),
            &keys.wait,
            &keys.active,
            &keys.stalled_check,
            &keys.meta,
            &keys.paused,
            &keys.marker,
            &keys.events,
            &repeat,
        ];
        let argv = [
            max_stalled.to_string(),
            keys.base().to_owned(),
            now.to_string(),
            interval_ms.to_string(),
            major.as_arg().to_owned(),
        ];
        let moved: Vec<String> = self.0.call(conn, script_keys, argv).await?;
        Ok(moved.into_iter().map(JobId::from).collect())
    }
}

/// What a running job reports.
pub(crate) enum JobUpdate<'a> {
    Progress(&'a str),
    Log { line: &'a str, keep: Option<u32> },
    Data(&'a str),
}

pub(crate) struct JobUpdates(pub(super) Script<4>);

impl JobUpdates {
    /// Applies the update; for a log line returns the number of lines kept.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        job_id: &JobId,
        update: JobUpdate<'_>,
    ) -> Result<i64> {
        let job_key = keys.job(job_id);
        let logs_key = format!("{job_key}:logs");
        let (operation, value, keep) = match update {
            JobUpdate::Progress(json) => ("progress", json, String::new()),
            JobUpdate::Log { line, keep } => (
                "log",
                line,
                keep.map(|keep| keep.to_string()).unwrap_or_default(),
            ),
            JobUpdate::Data(json) => ("data", json, String::new()),
        };
        let reply: i64 = self
            .0
            .call(
                conn,
                [job_key.as_str(), &logs_key, &keys.events, &keys.meta],
                [operation, job_id.as_str(), value, &keep],
            )
            .await?;
        if reply < 0 {
            return Err(Error::Script {
                script: self.0.name(),
                code: ScriptError::from_job_code(reply),
            });
        }
        Ok(reply)
    }
}

fn code_to_result(script: &'static str, code: i64) -> Result<()> {
    if code < 0 {
        return Err(Error::Script {
            script,
            code: ScriptError::from_job_code(code),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::options::{Deduplication, JobOptions};
    use crate::scripts::SCRIPTS;
    use crate::{ConnectionOptions, NewJob, Queue};

    const NOW: u64 = 1_700_000_000_000;
    const QUEUE: &str = "q";

    /// Ten jobs, the first six taken by a worker, then a global concurrency of four: `active`
    /// stays full for the first endings, then has room again. Also a job delayed until
    /// NOW + 7, due for the endings at NOW + 10 but not for those at NOW + 5; job j5 with a
    /// parent field its ending cannot read (it raises an error); no marker.
    async fn six_taken(url: &str) -> (Connection, QueueKeys) {
        let queue = Queue::connect(url, QUEUE).await.unwrap();
        let delayed = JobOptions {
            job_id: Some(JobId::from("late")),
            timestamp: Some(NOW),
            delay: Some(std::time::Duration::from_millis(7)),
            ..Default::default()
        };
        let jobs: Vec<NewJob> = (1..=10)
            .map(|n| {
                let opts = JobOptions {
                    job_id: Some(JobId::from(format!("j{n}"))),
                    attempts: Some(1),
                    deduplication: (n == 3).then(|| Deduplication {
                        id: "d3".to_owned(),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                NewJob::from_json("n", format!("{{\"n\":{n}}}"), opts)
            })
            .chain([NewJob::from_json("n", "{}".to_owned(), delayed)])
            .collect();
        queue.add_bulk(&jobs).await.unwrap();
        let mut conn = crate::connection::open(url, &ConnectionOptions::default())
            .await
            .unwrap();
        let keys = QueueKeys::new("bull", QUEUE).unwrap();
        for n in 1..=6 {
            let token = format!("t{n}");
            let args = FetchArgs {
                now: NOW,
                token: &token,
                lock_ms: 30_000,
                limiter: None,
                worker_name: "",
            };
            let fetched = SCRIPTS
                .move_to_active
                .call(&mut conn, &keys, BullmqMajor::V6, &args)
                .await
                .unwrap();
            assert!(matches!(fetched, Fetched::Job(..)), "{fetched:?}");
        }
        let _: () = redis::pipe()
            .cmd("HSET")
            .arg(&keys.meta)
            .arg("concurrency")
            .arg(4)
            .ignore()
            .cmd("HSET")
            .arg(keys.job(&JobId::from("j5")))
            .arg("parent")
            .arg("{\"id\":\"p\"}")
            .ignore()
            .cmd("DEL")
            .arg(&keys.marker)
            .ignore()
            .query_async(&mut conn)
            .await
            .unwrap();
        (conn, keys)
    }

    /// Endings of every kind: removed and kept completions, a failure for good, a lock held
    /// by another token, a job that does not exist, an ending that raises an error, a kept
    /// set trimmed; most take a job next; the last two come later than the others.
    fn endings() -> Vec<Finish> {
        let finish = |id: &str, token: &str, outcome, count, next: Option<&str>| Finish {
            job_id: JobId::from(id),
            token: token.to_owned(),
            now: NOW
                + if matches!(id, "j6" | "j3") && token != "not-t3" {
                    10
                } else {
                    5
                },
            outcome,
            keep: Retention {
                count,
                age_secs: None,
                limit: 1000,
            },
            attempts: 1,
            fields_json: String::new(),
            metrics: None,
            next_token: next.map(str::to_owned),
        };
        let done = || Outcome::Completed("{\"ok\":true}".to_owned());
        let mut kept_with_metrics = finish("j2", "t2", done(), -1, Some("n2"));
        kept_with_metrics.metrics = Some(10);
        let mut failed = finish(
            "j4",
            "t4",
            Outcome::Failed("boom".to_owned()),
            -1,
            Some("n4"),
        );
        failed.fields_json = "[\"failedReason\",\"boom\",\"stacktrace\",\"[]\"]".to_owned();
        vec![
            finish("j1", "t1", done(), 0, Some("n1")),
            kept_with_metrics,
            finish("j3", "not-t3", done(), 0, Some("n3")),
            failed,
            finish("missing", "t9", done(), 0, None),
            finish("j5", "t5", done(), 1, None),
            finish("j6", "t6", done(), 1, Some("n6")),
            finish("j3", "t3", done(), 0, Some("n3")),
        ]
    }

    fn summary(ended: &Ended) -> String {
        match ended {
            Ok(Some(Fetched::Job(id, hash))) => format!("took {id}, attempt {:?}", hash.get("ats")),
            other => format!("{other:?}"),
        }
    }

    /// The jobs of a batch end exactly as they would in one call each, one after the other:
    /// same answers, same keys, same events.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_of_endings_leaves_what_one_call_per_job_leaves() {
        let redis = testkit::RedisServer::start();
        let next = NextFetch {
            lock_ms: 30_000,
            limiter: None,
            worker_name: "w",
        };
        let script = &SCRIPTS.move_to_finished;

        let (mut conn, keys) = six_taken(&redis.url_db(1)).await;
        let batched: Vec<String> = script
            .call(&mut conn, &keys, BullmqMajor::V6, &next, &endings())
            .await
            .unwrap()
            .iter()
            .map(summary)
            .collect();

        let (mut conn, keys) = six_taken(&redis.url_db(2)).await;
        let mut one_by_one = Vec::new();
        for ending in endings() {
            let mut answers = script
                .call(&mut conn, &keys, BullmqMajor::V6, &next, &[ending])
                .await
                .unwrap();
            assert_eq!(answers.len(), 1);
            one_by_one.push(summary(&answers.remove(0)));
        }

        assert_eq!(batched, one_by_one);
        // Six active for four allowed: nothing is taken until an ending makes room.
        assert_eq!(batched[0], "Ok(Some(Nothing(None)))");
        assert!(batched[3].starts_with("took j7"), "{batched:?}");
        assert!(batched[2].contains("LockMismatch"), "{batched:?}");
        assert!(batched[4].contains("JobMissing"), "{batched:?}");
        // The error of one job is its own: the jobs after it still end.
        assert!(batched[5].contains("job j5"), "{batched:?}");
        assert!(batched[6].starts_with("took"), "{batched:?}");
        let dump = |db| -> BTreeMap<String, String> {
            testkit::dump_keyspace(&mut redis.connection(db), "bull:*")
        };
        let batched_keys = dump(1);
        assert_eq!(batched_keys, dump(2));
        assert!(
            !batched_keys.contains_key("bull:q:delayed"),
            "promoted: {batched_keys:?}"
        );

        // A batch that takes a job leaves the marker set, as a fetch of its own does.
        let (mut conn, keys) = (redis.connection(1), QueueKeys::new("bull", QUEUE).unwrap());
        let _: () = redis::cmd("DEL")
            .arg(&keys.marker)
            .query(&mut conn)
            .unwrap();
        let mut async_conn =
            crate::connection::open(&redis.url_db(1), &ConnectionOptions::default())
                .await
                .unwrap();
        let mut last = endings().remove(0);
        (last.job_id, last.token, last.next_token) =
            (JobId::from("j7"), "n4".into(), Some("n7".into()));
        let answers = script
            .call(&mut async_conn, &keys, BullmqMajor::V6, &next, &[last])
            .await
            .unwrap();
        assert!(summary(&answers[0]).starts_with("took j10"), "{answers:?}");
        let marker: i64 = redis::cmd("EXISTS")
            .arg(&keys.marker)
            .query(&mut conn)
            .unwrap();
        assert_eq!(marker, 1);
    }
}
