//! Our Lua scripts: embedded at build time, loaded once, called by SHA.

mod add_flow;
mod add_jobs;
mod clean_jobs;
mod control_jobs;
mod getters;
mod job_scheduler;
mod move_to_waiting_children;
mod obliterate;
mod pause;
mod worker_scripts;

use std::sync::LazyLock;

use crate::connection::Connection;
use redis::{FromRedisValue, ToRedisArgs};

pub(crate) use add_flow::{AddFlow, FlowNodeArgs};
pub(crate) use add_jobs::{AddJobs, JobArgs, ReplicaWait};
pub(crate) use clean_jobs::{CleanJobs, CleanTarget};
pub(crate) use control_jobs::{ChangeDelay, ChangePriority, Drain, RemoveDeduplicationKey};
pub(crate) use control_jobs::{
    FinishedSet, MoveJobsToWait, Promote, Removal, RemoveJob, Reprocess, ReprocessJob,
};
pub(crate) use getters::{GetCounts, GetJobs, GetRateLimitTtl, JobWindow, StateKey};
pub(crate) use job_scheduler::{
    RemoveJobScheduler, RunArgs, SchedulerArgs, UpdateJobScheduler, UpsertJobScheduler,
};
pub(crate) use move_to_waiting_children::MoveToWaitingChildren;
pub(crate) use obliterate::{Obliterate, ObliterateStep};
pub(crate) use pause::{Pause, PauseAction};
pub(crate) use worker_scripts::{
    ExtendLocks, FetchArgs, Fetched, Finish, JobUpdate, JobUpdates, MoveStalledJobsToWait,
    MoveToActive, MoveToDelayed, MoveToFinished, Outcome, RateLimitJob, Retry, RetryJob,
};

/// Joins the listed includes and the main script at compile time: a missing file is a
/// build error and nothing is assembled at run time.
macro_rules! lua {
    ($main:literal $(, $include:literal)* $(,)?) => {
        concat!(
            $(include_str!(concat!("../../lua/includes/", $include, ".lua")), "\n",)*
            include_str!(concat!("../../lua/", $main, ".lua"))
        )
    };
}

/// One script taking exactly `N` keys. Its SHA is computed once; a call sends EVALSHA and,
/// when Redis answers NOSCRIPT (first use, restart, `SCRIPT FLUSH`), loads the script and
/// retries once.
pub(crate) struct Script<const N: usize> {
    name: &'static str,
    script: redis::Script,
}

impl<const N: usize> Script<N> {
    fn new(name: &'static str, source: &'static str) -> Self {
        Self {
            name,
            script: redis::Script::new(source),
        }
    }

    /// The script's name, as in `lua/<name>.lua`.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The EVALSHA command of one call, for a pipeline; when Redis answers NOSCRIPT,
    /// [`Script::load`] and send the pipeline again.
    fn evalsha(
        &self,
        keys: [&str; N],
        args: impl IntoIterator<Item = impl ToRedisArgs>,
    ) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash()).arg(N).arg(&keys[..]);
        for arg in args {
            cmd.arg(arg);
        }
        cmd
    }

    /// Loads the script (on every primary of a cluster).
    async fn load(&self, conn: &mut Connection) -> redis::RedisResult<()> {
        self.script
            .prepare_invoke()
            .load_async(conn)
            .await
            .map(drop)
    }

    async fn call<T: FromRedisValue>(
        &self,
        conn: &mut Connection,
        keys: [&str; N],
        args: impl IntoIterator<Item = impl ToRedisArgs>,
    ) -> redis::RedisResult<T> {
        let mut invocation = self.script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        invocation.invoke_async(conn).await
    }
}

const ADD_JOBS: &str = lua!(
    "add_jobs",
    "emit_event",
    "queue_context",
    "delayed",
    "delete_job",
    "store_job",
    "ready",
    "parent",
    "deduplicate"
);
const ADD_FLOW: &str = lua!(
    "add_flow",
    "emit_event",
    "queue_context",
    "delayed",
    "store_job",
    "ready",
    "parent"
);
const MOVE_TO_WAITING_CHILDREN: &str =
    lua!("move_to_waiting_children", "emit_event", "finish_checks");
const PAUSE: &str = lua!("pause");
const CLEAN_JOBS: &str = lua!("clean_jobs", "delete_job");
const OBLITERATE: &str = lua!("obliterate", "delete_job");
const MOVE_TO_ACTIVE: &str = lua!(
    "move_to_active",
    "emit_event",
    "queue_context",
    "delayed",
    "ready",
    "fetch_job"
);
const MOVE_TO_FINISHED: &str = lua!(
    "move_to_finished",
    "emit_event",
    "queue_context",
    "delayed",
    "delete_job",
    "store_job",
    "ready",
    "parent",
    "deduplicate",
    "finish_checks",
    "finished",
    "metrics",
    "fetch_job"
);
const RETRY_JOB: &str = lua!(
    "retry_job",
    "emit_event",
    "queue_context",
    "delayed",
    "ready",
    "finish_checks"
);
const MOVE_TO_DELAYED: &str = lua!(
    "move_to_delayed",
    "emit_event",
    "queue_context",
    "delayed",
    "finish_checks"
);
const EXTEND_LOCKS: &str = lua!("extend_locks");
const RATE_LIMIT_JOB: &str = lua!(
    "rate_limit_job",
    "emit_event",
    "queue_context",
    "delayed",
    "ready",
    "finish_checks"
);
const MOVE_STALLED: &str = lua!(
    "move_stalled_jobs_to_wait",
    "emit_event",
    "queue_context",
    "delayed",
    "ready"
);
const JOB_UPDATES: &str = lua!("job_updates", "emit_event", "queue_context");
const UPSERT_JOB_SCHEDULER: &str = lua!(
    "upsert_job_scheduler",
    "emit_event",
    "queue_context",
    "delayed",
    "delete_job",
    "store_job",
    "ready",
    "job_scheduler"
);
const UPDATE_JOB_SCHEDULER: &str = lua!(
    "update_job_scheduler",
    "emit_event",
    "queue_context",
    "delayed",
    "store_job",
    "ready",
    "job_scheduler"
);
const REMOVE_JOB_SCHEDULER: &str = lua!("remove_job_scheduler", "emit_event", "delete_job");
const GET_COUNTS: &str = lua!("get_counts", "legacy_marker");
const GET_JOBS: &str = lua!("get_jobs", "legacy_marker");
const GET_RATE_LIMIT_TTL: &str = lua!("get_rate_limit_ttl");
const REMOVE_JOB: &str = lua!(
    "remove_job",
    "emit_event",
    "queue_context",
    "delayed",
    "ready",
    "parent",
    "delete_job"
);
const REPROCESS_JOB: &str = lua!(
    "reprocess_job",
    "emit_event",
    "queue_context",
    "delayed",
    "ready",
    "child_retried"
);
const MOVE_JOBS_TO_WAIT: &str = lua!(
    "move_jobs_to_wait",
    "emit_event",
    "queue_context",
    "delayed",
    "ready",
    "child_retried"
);
const PROMOTE: &str = lua!("promote", "emit_event", "queue_context", "delayed", "ready");
const DRAIN: &str = lua!(
    "drain",
    "emit_event",
    "queue_context",
    "delayed",
    "ready",
    "parent",
    "delete_job"
);
const REMOVE_DEDUPLICATION_KEY: &str = lua!("remove_deduplication_key");
const CHANGE_DELAY: &str = lua!("change_delay", "emit_event", "queue_context", "delayed");
const CHANGE_PRIORITY: &str = lua!(
    "change_priority",
    "emit_event",
    "queue_context",
    "delayed",
    "ready"
);

/// Every script of the crate.
pub(crate) struct Scripts {
    pub(crate) add_jobs: AddJobs,
    pub(crate) add_flow: AddFlow,
    pub(crate) move_to_waiting_children: MoveToWaitingChildren,
    pub(crate) pause: Pause,
    pub(crate) clean_jobs: CleanJobs,
    pub(crate) obliterate: Obliterate,
    pub(crate) move_to_active: MoveToActive,
    pub(crate) move_to_finished: MoveToFinished,
    pub(crate) retry_job: RetryJob,
    pub(crate) move_to_delayed: MoveToDelayed,
    pub(crate) extend_locks: ExtendLocks,
    pub(crate) rate_limit_job: RateLimitJob,
    pub(crate) move_stalled: MoveStalledJobsToWait,
    pub(crate) job_updates: JobUpdates,
    pub(crate) upsert_job_scheduler: UpsertJobScheduler,
    pub(crate) update_job_scheduler: UpdateJobScheduler,
    pub(crate) remove_job_scheduler: RemoveJobScheduler,
    pub(crate) get_counts: GetCounts,
    pub(crate) get_jobs: GetJobs,
    pub(crate) get_rate_limit_ttl: GetRateLimitTtl,
    pub(crate) remove_job: RemoveJob,
    pub(crate) reprocess_job: ReprocessJob,
    pub(crate) move_jobs_to_wait: MoveJobsToWait,
    pub(crate) promote: Promote,
    pub(crate) change_delay: ChangeDelay,
    pub(crate) change_priority: ChangePriority,
    pub(crate) drain: Drain,
    pub(crate) remove_deduplication_key: RemoveDeduplicationKey,
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    add_jobs: AddJobs(Script::new("add_jobs", ADD_JOBS)),
    add_flow: AddFlow(Script::new("add_flow", ADD_FLOW)),
    move_to_waiting_children: MoveToWaitingChildren(Script::new(
        "move_to_waiting_children",
        MOVE_TO_WAITING_CHILDREN,
    )),
    pause: Pause(Script::new("pause", PAUSE)),
    clean_jobs: CleanJobs(Script::new("clean_jobs", CLEAN_JOBS)),
    obliterate: Obliterate(Script::new("obliterate", OBLITERATE)),
    move_to_active: MoveToActive(Script::new("move_to_active", MOVE_TO_ACTIVE)),
    move_to_finished: MoveToFinished(Script::new("move_to_finished", MOVE_TO_FINISHED)),
    retry_job: RetryJob(Script::new("retry_job", RETRY_JOB)),
    move_to_delayed: MoveToDelayed(Script::new("move_to_delayed", MOVE_TO_DELAYED)),
    extend_locks: ExtendLocks(Script::new("extend_locks", EXTEND_LOCKS)),
    rate_limit_job: RateLimitJob(Script::new("rate_limit_job", RATE_LIMIT_JOB)),
    move_stalled: MoveStalledJobsToWait(Script::new("move_stalled_jobs_to_wait", MOVE_STALLED)),
    job_updates: JobUpdates(Script::new("job_updates", JOB_UPDATES)),
    upsert_job_scheduler: UpsertJobScheduler(Script::new(
        "upsert_job_scheduler",
        UPSERT_JOB_SCHEDULER,
    )),
    update_job_scheduler: UpdateJobScheduler(Script::new(
        "update_job_scheduler",
        UPDATE_JOB_SCHEDULER,
    )),
    remove_job_scheduler: RemoveJobScheduler(Script::new(
        "remove_job_scheduler",
        REMOVE_JOB_SCHEDULER,
    )),
    get_counts: GetCounts(Script::new("get_counts", GET_COUNTS)),
    get_jobs: GetJobs(Script::new("get_jobs", GET_JOBS)),
    get_rate_limit_ttl: GetRateLimitTtl(Script::new("get_rate_limit_ttl", GET_RATE_LIMIT_TTL)),
    remove_job: RemoveJob(Script::new("remove_job", REMOVE_JOB)),
    reprocess_job: ReprocessJob(Script::new("reprocess_job", REPROCESS_JOB)),
    move_jobs_to_wait: MoveJobsToWait(Script::new("move_jobs_to_wait", MOVE_JOBS_TO_WAIT)),
    promote: Promote(Script::new("promote", PROMOTE)),
    change_delay: ChangeDelay(Script::new("change_delay", CHANGE_DELAY)),
    change_priority: ChangePriority(Script::new("change_priority", CHANGE_PRIORITY)),
    drain: Drain(Script::new("drain", DRAIN)),
    remove_deduplication_key: RemoveDeduplicationKey(Script::new(
        "remove_deduplication_key",
        REMOVE_DEDUPLICATION_KEY,
    )),
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_loads_into_redis() {
        let redis = testkit::RedisServer::start();
        let mut conn = redis.connection(0);
        for (name, source) in [
            ("add_jobs", ADD_JOBS),
            ("add_flow", ADD_FLOW),
            ("move_to_waiting_children", MOVE_TO_WAITING_CHILDREN),
            ("move_to_finished", MOVE_TO_FINISHED),
            ("pause", PAUSE),
            ("clean_jobs", CLEAN_JOBS),
            ("obliterate", OBLITERATE),
            ("upsert_job_scheduler", UPSERT_JOB_SCHEDULER),
            ("update_job_scheduler", UPDATE_JOB_SCHEDULER),
            ("remove_job_scheduler", REMOVE_JOB_SCHEDULER),
            ("get_counts", GET_COUNTS),
            ("get_jobs", GET_JOBS),
            ("get_rate_limit_ttl", GET_RATE_LIMIT_TTL),
            ("remove_job", REMOVE_JOB),
            ("reprocess_job", REPROCESS_JOB),
            ("move_jobs_to_wait", MOVE_JOBS_TO_WAIT),
            ("promote", PROMOTE),
            ("change_delay", CHANGE_DELAY),
            ("change_priority", CHANGE_PRIORITY),
            ("drain", DRAIN),
            ("remove_deduplication_key", REMOVE_DEDUPLICATION_KEY),
        ] {
            let sha: Result<String, _> = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(source)
                .query(&mut conn);
            assert!(sha.is_ok(), "lua/{name}.lua does not compile: {sha:?}");
        }
    }
}
