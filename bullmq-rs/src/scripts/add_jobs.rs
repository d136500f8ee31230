//! `lua/add_jobs.lua` and `lua/add_plain_jobs.lua`: a batch of adds in one call.

use std::time::Duration;

use redis::{ErrorKind, ServerErrorKind, ToRedisArgs, Value};

use crate::codec;
use crate::connection::Connection;

use super::Script;
use crate::error::ScriptError;
use crate::job::JobId;
use crate::keys::QueueKeys;
use crate::layout::BullmqMajor;
use crate::{Error, Result};

/// The arguments of one job, already encoded.
pub(crate) struct JobArgs<'a> {
    /// The custom id, or `""` for the next counter value.
    pub(crate) custom_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) timestamp: u64,
    pub(crate) data_json: &'a str,
    /// The options as the general script takes them (it re-encodes them).
    pub(crate) opts_json: &'a str,
    /// Set when the job may take the plain script.
    pub(crate) plain: Option<PlainFacts<'a>>,
}

/// What the plain script needs of a job that is ready at once (no delay, no priority), has
/// no parent and whose deduplication, if any, is the plain or ttl mode: its options in the
/// bytes cjson gives them, and the facts it would otherwise decode them for.
pub(crate) struct PlainFacts<'a> {
    pub(crate) opts_cjson: &'a str,
    pub(crate) lifo: bool,
    /// Set when the job is deduplicated.
    pub(crate) dedup: Option<PlainDedup<'a>>,
}

/// A deduplication in the plain or ttl mode.
pub(crate) struct PlainDedup<'a> {
    pub(crate) id: &'a str,
    /// How long the slot lives, in ms; `None` (or zero) for the plain mode.
    pub(crate) ttl_ms: Option<u64>,
}

/// The add scripts (`KEYS` wait, paused, meta, id, delayed, prioritized, pc, marker,
/// events, active): the general one, and the plain one for batches it can take.
pub(crate) struct AddJobs {
    pub(super) general: Script<10>,
    pub(super) plain: Script<10>,
}

/// Replicas that must acknowledge a batch (Redis `WAIT`), asked on the connection that
/// sent it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplicaWait {
    pub(crate) replicas: u32,
    pub(crate) timeout: Duration,
}

/// One script argument: text as it is, or a number written in decimal.
enum Arg<'a> {
    Text(&'a str),
    Number(u64),
}

impl ToRedisArgs for Arg<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        match self {
            Self::Text(text) => out.write_arg(text.as_bytes()),
            Self::Number(number) => number.write_redis_args(out),
        }
    }
}

/// The values both scripts take first for a job: custom id, name, timestamp, data.
fn job_head<'a>(job: &JobArgs<'a>) -> [Arg<'a>; 4] {
    [
        Arg::Text(job.custom_id),
        Arg::Text(job.name),
        Arg::Number(job.timestamp),
        Arg::Text(job.data_json),
    ]
}

/// The plain script's 8 values per job, or `None` when a job needs the general script.
fn plain_args<'a>(jobs: &'a [JobArgs<'a>], mut args: Vec<Arg<'a>>) -> Option<Vec<Arg<'a>>> {
    for job in jobs {
        let facts = job.plain.as_ref()?;
        let (dedup_id, dedup_ttl) = match &facts.dedup {
            Some(PlainDedup {
                id,
                ttl_ms: Some(ttl),
            }) if *ttl > 0 => (*id, Arg::Number(*ttl)),
            Some(PlainDedup { id, .. }) => (*id, Arg::Text("")),
            None => ("", Arg::Text("")),
        };
        args.extend(job_head(job));
        args.extend([
            Arg::Text(facts.opts_cjson),
            Arg::Text(if facts.lifo { "1" } else { "0" }),
            Arg::Text(dedup_id),
            dedup_ttl,
        ]);
    }
    Some(args)
}

/// The general script's 5 values per job.
fn general_args<'a>(jobs: &'a [JobArgs<'a>], mut args: Vec<Arg<'a>>) -> Vec<Arg<'a>> {
    for job in jobs {
        args.extend(job_head(job));
        args.push(Arg::Text(job.opts_json));
    }
    args
}

impl AddJobs {
    /// Loads both add scripts.
    pub(crate) async fn load(&self, conn: &mut Connection) -> Result<()> {
        self.general.load(conn).await?;
        self.plain.load(conn).await?;
        Ok(())
    }

    /// Adds the jobs and returns one id per job, in order; with `wait`, also how many
    /// replicas acknowledged them.
    ///
    /// The add and the `WAIT` go in one pipeline, so that both use one connection: a
    /// `WAIT` on a connection remade after a failure would count none of the add's writes
    /// and could vouch for a batch that was lost. On a cluster, the pipeline goes to the
    /// primary that owns the queue's slot, whose replicas `WAIT` counts.
    pub(crate) async fn call(
        &self,
        conn: &mut Connection,
        keys: &QueueKeys,
        major: BullmqMajor,
        jobs: &[JobArgs<'_>],
        wait: Option<ReplicaWait>,
    ) -> Result<(Vec<JobId>, u32)> {
        let script_keys = [
            keys.wait.as_str(),
            &keys.paused,
            &keys.meta,
            &keys.id,
            &keys.delayed,
            &keys.prioritized,
            &keys.pc,
            &keys.marker,
            &keys.events,
            &keys.active,
        ];
        let head = vec![Arg::Text(keys.base()), Arg::Text(major.as_arg())];
        let (script, args) = match plain_args(jobs, head) {
            Some(args) => (&self.plain, args),
            None => {
                let head = vec![Arg::Text(keys.base()), Arg::Text(major.as_arg())];
                (&self.general, general_args(jobs, head))
            }
        };
        let (reply, acked): (Value, u32) = match wait {
            None => (script.call(conn, script_keys, args).await?, 0),
            Some(wait) => {
                let mut pipe = redis::pipe();
                pipe.add_command(script.evalsha(script_keys, &args))
                    .cmd("WAIT")
                    .arg(wait.replicas)
                    .arg(codec::as_millis(wait.timeout).max(1));
                match pipe.query_async(conn).await {
                    Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                        script.load(conn).await?;
                        pipe.query_async(conn).await?
                    }
                    other => other?,
                }
            }
        };
        let ids: Vec<String> = match reply {
            // A refusal of the whole batch (-5 missing parent, -7 parent taken).
            Value::Int(code) => {
                return Err(Error::Script {
                    script: script.name(),
                    code: ScriptError::from_job_code(code),
                });
            }
            reply => redis::from_redis_value(reply).map_err(|err| Error::UnexpectedReply {
                command: script.name(),
                detail: err.to_string(),
            })?,
        };
        if ids.len() != jobs.len() {
            return Err(Error::UnexpectedReply {
                command: script.name(),
                detail: format!("{} ids for {} jobs", ids.len(), jobs.len()),
            });
        }
        Ok((ids.into_iter().map(JobId::from).collect(), acked))
    }
}
