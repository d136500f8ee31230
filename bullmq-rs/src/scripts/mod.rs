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
pub(crate) use add_jobs::{AddJobs, JobArgs, PlainDedup, PlainFacts, ReplicaWait};
pub(crate) use clean_jobs::{CleanJobs, CleanTarget};
pub(crate) use control_jobs::{
    ChangeDelay, ChangePriority, Drain, NewPriority, RemoveDeduplicationKey,
};
pub(crate) use control_jobs::{
    FinishedSet, MoveJobsToWait, Promote, Removal, RemoveJob, Reprocess, ReprocessJob,
};
pub(crate) use getters::{GetCounts, GetJobs, GetRateLimitTtl, JobWindow, StateKey};
pub(crate) use job_scheduler::{
    RemoveJobScheduler, RunArgs, SchedulerArgs, TakenRun, UpdateJobScheduler, UpsertJobScheduler,
};
pub(crate) use move_to_waiting_children::MoveToWaitingChildren;
pub(crate) use obliterate::{Obliterate, ObliterateStep};
pub(crate) use pause::{Pause, PauseAction};
pub(crate) use worker_scripts::{
    Ended, ExtendLocks, FetchArgs, Fetched, Finish, JobUpdate, JobUpdates, MoveStalledJobsToWait,
    MoveToActive, MoveToDelayed, MoveToFinished, NextFetch, Outcome, RateLimitJob, Retention,
    Retry, RetryJob,
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

/// A script's name (its file is `lua/<name>.lua`) and its source, includes joined.
#[derive(Debug, Clone, Copy)]
struct Source {
    name: &'static str,
    lua: &'static str,
}

/// Declares each script's [`Source`] as a constant (`NAME: "main" ["include", ...];`)
/// and `SOURCES`, the list of them all: a script declared here is listed by
/// construction, and the load test checks the list against the files in `lua/`.
macro_rules! sources {
    ($($konst:ident: $main:literal [$($include:literal),* $(,)?];)*) => {
        $(const $konst: Source = Source { name: $main, lua: lua!($main $(, $include)*) };)*

        /// Every script of the crate.
        #[cfg(test)]
        const SOURCES: &[Source] = &[$($konst),*];
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
    fn new(source: Source) -> Self {
        Self {
            name: source.name,
            script: redis::Script::new(source.lua),
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

sources! {
    ADD_JOBS: "add_jobs" [
        "emit_event", "queue_context", "delayed", "delete_job", "store_job", "ready", "parent",
        "dedup_slot", "deduplicate"
    ];
    ADD_PLAIN_JOBS: "add_plain_jobs" ["emit_event", "queue_context", "dedup_slot"];
    ADD_FLOW: "add_flow" ["emit_event", "queue_context", "delayed", "store_job", "ready", "parent"];
    MOVE_TO_WAITING_CHILDREN: "move_to_waiting_children" ["emit_event", "finish_checks"];
    PAUSE: "pause" [];
    CLEAN_JOBS: "clean_jobs" ["delete_job"];
    OBLITERATE: "obliterate" ["delete_job"];
    MOVE_TO_ACTIVE: "move_to_active" [
        "emit_event", "queue_context", "delayed", "ready", "fetch_job"
    ];
    MOVE_TO_FINISHED: "move_to_finished" [
        "emit_event", "queue_context", "delayed", "delete_job", "store_job", "ready", "parent",
        "dedup_slot", "deduplicate", "finish_checks", "finished", "metrics", "fetch_job"
    ];
    RETRY_JOB: "retry_job" ["emit_event", "queue_context", "delayed", "ready", "finish_checks"];
    MOVE_TO_DELAYED: "move_to_delayed" ["emit_event", "queue_context", "delayed", "finish_checks"];
    EXTEND_LOCKS: "extend_locks" [];
    RATE_LIMIT_JOB: "rate_limit_job" [
        "emit_event", "queue_context", "delayed", "ready", "finish_checks"
    ];
    MOVE_STALLED: "move_stalled_jobs_to_wait" ["emit_event", "queue_context", "delayed", "ready"];
    JOB_UPDATES: "job_updates" ["emit_event", "queue_context"];
    UPSERT_JOB_SCHEDULER: "upsert_job_scheduler" [
        "emit_event", "queue_context", "delayed", "delete_job", "store_job", "ready",
        "job_scheduler"
    ];
    UPDATE_JOB_SCHEDULER: "update_job_scheduler" [
        "emit_event", "queue_context", "delayed", "store_job", "ready", "job_scheduler"
    ];
    REMOVE_JOB_SCHEDULER: "remove_job_scheduler" ["emit_event", "delete_job"];
    GET_COUNTS: "get_counts" ["legacy_marker"];
    GET_JOBS: "get_jobs" ["legacy_marker"];
    GET_RATE_LIMIT_TTL: "get_rate_limit_ttl" [];
    REMOVE_JOB: "remove_job" [
        "emit_event", "queue_context", "delayed", "ready", "parent", "delete_job"
    ];
    REPROCESS_JOB: "reprocess_job" [
        "emit_event", "queue_context", "delayed", "ready", "child_retried"
    ];
    MOVE_JOBS_TO_WAIT: "move_jobs_to_wait" [
        "emit_event", "queue_context", "delayed", "ready", "child_retried"
    ];
    PROMOTE: "promote" ["emit_event", "queue_context", "delayed", "ready"];
    DRAIN: "drain" ["emit_event", "queue_context", "delayed", "ready", "parent", "delete_job"];
    REMOVE_DEDUPLICATION_KEY: "remove_deduplication_key" [];
    CHANGE_DELAY: "change_delay" ["emit_event", "queue_context", "delayed"];
    CHANGE_PRIORITY: "change_priority" ["emit_event", "queue_context", "delayed", "ready"];
}

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
    add_jobs: AddJobs {
        general: Script::new(ADD_JOBS),
        plain: Script::new(ADD_PLAIN_JOBS),
    },
    add_flow: AddFlow(Script::new(ADD_FLOW)),
    move_to_waiting_children: MoveToWaitingChildren(Script::new(MOVE_TO_WAITING_CHILDREN)),
    pause: Pause(Script::new(PAUSE)),
    clean_jobs: CleanJobs(Script::new(CLEAN_JOBS)),
    obliterate: Obliterate(Script::new(OBLITERATE)),
    move_to_active: MoveToActive(Script::new(MOVE_TO_ACTIVE)),
    move_to_finished: MoveToFinished(Script::new(MOVE_TO_FINISHED)),
    retry_job: RetryJob(Script::new(RETRY_JOB)),
    move_to_delayed: MoveToDelayed(Script::new(MOVE_TO_DELAYED)),
    extend_locks: ExtendLocks(Script::new(EXTEND_LOCKS)),
    rate_limit_job: RateLimitJob(Script::new(RATE_LIMIT_JOB)),
    move_stalled: MoveStalledJobsToWait(Script::new(MOVE_STALLED)),
    job_updates: JobUpdates(Script::new(JOB_UPDATES)),
    upsert_job_scheduler: UpsertJobScheduler(Script::new(UPSERT_JOB_SCHEDULER)),
    update_job_scheduler: UpdateJobScheduler(Script::new(UPDATE_JOB_SCHEDULER)),
    remove_job_scheduler: RemoveJobScheduler(Script::new(REMOVE_JOB_SCHEDULER)),
    get_counts: GetCounts(Script::new(GET_COUNTS)),
    get_jobs: GetJobs(Script::new(GET_JOBS)),
    get_rate_limit_ttl: GetRateLimitTtl(Script::new(GET_RATE_LIMIT_TTL)),
    remove_job: RemoveJob(Script::new(REMOVE_JOB)),
    reprocess_job: ReprocessJob(Script::new(REPROCESS_JOB)),
    move_jobs_to_wait: MoveJobsToWait(Script::new(MOVE_JOBS_TO_WAIT)),
    promote: Promote(Script::new(PROMOTE)),
    change_delay: ChangeDelay(Script::new(CHANGE_DELAY)),
    change_priority: ChangePriority(Script::new(CHANGE_PRIORITY)),
    drain: Drain(Script::new(DRAIN)),
    remove_deduplication_key: RemoveDeduplicationKey(Script::new(REMOVE_DEDUPLICATION_KEY)),
});

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// The main scripts in `lua/` (includes live in `lua/includes/`).
    fn script_files() -> BTreeSet<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lua");
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "lua"))
            .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn every_script_file_is_declared_once() {
        let declared: Vec<&str> = SOURCES.iter().map(|source| source.name).collect();
        let unique: BTreeSet<String> = declared.iter().map(|name| (*name).to_owned()).collect();
        assert_eq!(unique.len(), declared.len(), "a script declared twice");
        assert_eq!(unique, script_files(), "lua/*.lua and `sources!` differ");
    }

    #[test]
    fn every_script_loads_into_redis() {
        let redis = testkit::RedisServer::start();
        let mut conn = redis.connection(0);
        for source in SOURCES {
            let sha: Result<String, _> = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(source.lua)
                .query(&mut conn);
            assert!(
                sha.is_ok(),
                "lua/{}.lua does not compile: {sha:?}",
                source.name
            );
        }
    }
}
