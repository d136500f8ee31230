//! `lua/add_jobs.lua`: a batch of adds in one call.

use std::time::Duration;

use redis::{ErrorKind, ServerErrorKind, Value};

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
    pub(crate) opts_json: &'a str,
}

/// The add script (`KEYS` wait, paused, meta, id, delayed, prioritized, pc, marker, events, active).
pub(crate) struct AddJobs(pub(super) Script<10>);

/// Replicas that must acknowledge a batch (Redis `WAIT`), asked on the connection that
/// sent it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplicaWait {
    pub(crate) replicas: u32,
    pub(crate) timeout: Duration,
}

impl AddJobs {
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
        let timestamps: Vec<String> = jobs.iter().map(|job| job.timestamp.to_string()).collect();
        let mut args: Vec<&str> = Vec::with_capacity(2 + jobs.len() * 5);
        args.extend([keys.base(), major.as_arg()]);
        for (job, timestamp) in jobs.iter().zip(&timestamps) {
            args.extend([
                job.custom_id,
                job.name,
                timestamp,
                job.data_json,
                job.opts_json,
            ]);
        }
        let (reply, acked): (Value, u32) = match wait {
            None => (self.0.call(conn, script_keys, args).await?, 0),
            Some(wait) => {
                let mut pipe = redis::pipe();
                pipe.add_command(self.0.evalsha(script_keys, &args))
                    .cmd("WAIT")
                    .arg(wait.replicas)
                    .arg(codec::as_millis(wait.timeout).max(1));
                match pipe.query_async(conn).await {
                    Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                        self.0.load(conn).await?;
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
                    script: self.0.name(),
                    code: ScriptError::from_job_code(code),
                });
            }
            reply => redis::from_redis_value(reply).map_err(|err| Error::UnexpectedReply {
                command: self.0.name(),
                detail: err.to_string(),
            })?,
        };
        if ids.len() != jobs.len() {
            return Err(Error::UnexpectedReply {
                command: self.0.name(),
                detail: format!("{} ids for {} jobs", ids.len(), jobs.len()),
            });
        }
        Ok((ids.into_iter().map(JobId::from).collect(), acked))
    }
}
