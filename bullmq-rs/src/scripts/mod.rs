//! Our Lua scripts: embedded at build time, loaded once, called by SHA.

mod add_jobs;
mod obliterate;
mod pause;

use std::sync::LazyLock;

use redis::aio::ConnectionManager;
use redis::{FromRedisValue, ToRedisArgs};

pub(crate) use add_jobs::{AddJobs, JobArgs};
pub(crate) use obliterate::{Obliterate, ObliterateStep};
pub(crate) use pause::{Pause, PauseAction};

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

    async fn call<T: FromRedisValue>(
        &self,
        conn: &mut ConnectionManager,
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
    "deduplicate"
);
const PAUSE: &str = lua!("pause");
const OBLITERATE: &str = lua!("obliterate", "delete_job");

/// Every script of the crate.
pub(crate) struct Scripts {
    pub(crate) add_jobs: AddJobs,
    pub(crate) pause: Pause,
    pub(crate) obliterate: Obliterate,
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    add_jobs: AddJobs(Script::new("add_jobs", ADD_JOBS)),
    pause: Pause(Script::new("pause", PAUSE)),
    obliterate: Obliterate(Script::new("obliterate", OBLITERATE)),
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
            ("pause", PAUSE),
            ("obliterate", OBLITERATE),
        ] {
            let sha: Result<String, _> = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(source)
                .query(&mut conn);
            assert!(sha.is_ok(), "lua/{name}.lua does not compile: {sha:?}");
        }
    }
}
