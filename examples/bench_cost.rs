//! What Redis spends on a benchmark phase, per job: the time its scripts ran (`INFO
//! commandstats`: the usec of every `eval*` and `fcall*` entry) and the CPU of the
//! redis-server process (`INFO cpu`, user + sys; it also counts reading the commands and
//! writing the replies, which commandstats leaves out). Both come from the server itself,
//! so the Node scripts measure the same way: `CONFIG RESETSTAT` and `INFO cpu` before their
//! timed phase, `INFO commandstats` and `INFO cpu` after it, and they hand both texts back
//! as `{"before": …, "after": …}`. Included with `#[path]` by the benchmarks.

use examples::fail;
use serde_json::Value;

/// A phase being measured: the statistics were reset when it began.
pub(crate) struct RedisMeter {
    conn: redis::aio::MultiplexedConnection,
    before: String,
}

/// Redis' cost of a phase, per job, in µs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedisCost {
    /// Time spent running scripts (Lua `EVALSHA` / `EVAL`), as commandstats counts it.
    pub(crate) script_us: f64,
    /// CPU time of the redis-server process.
    pub(crate) cpu_us: f64,
}

impl RedisMeter {
    /// Resets the server's command statistics and notes its CPU time so far.
    pub(crate) async fn start(url: &str) -> Self {
        let mut conn = redis::Client::open(url)
            .unwrap_or_else(|err| fail(&err.to_string()))
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|err| fail(&format!("redis: {err}")));
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|err| fail(&format!("CONFIG RESETSTAT: {err}")));
        let before = info(&mut conn, "cpu").await;
        Self { conn, before }
    }

    /// The cost of what ran since [`RedisMeter::start`], spread over `jobs`.
    pub(crate) async fn finish(mut self, jobs: usize) -> RedisCost {
        let after = info(&mut self.conn, "commandstats").await + &info(&mut self.conn, "cpu").await;
        RedisCost::from_info(&self.before, &after, jobs)
    }
}

impl RedisCost {
    /// From the `INFO` texts read before and after a phase of `jobs` jobs.
    pub(crate) fn from_info(before: &str, after: &str, jobs: usize) -> Self {
        let jobs = jobs.max(1) as f64;
        Self {
            script_us: script_usec(after) / jobs,
            cpu_us: (cpu_seconds(after) - cpu_seconds(before)) * 1e6 / jobs,
        }
    }

    /// From a Node script's `{"before": …, "after": …}`.
    pub(crate) fn from_node(texts: &Value, jobs: usize) -> Self {
        let text = |key: &str| {
            texts[key]
                .as_str()
                .unwrap_or_else(|| fail(&format!("node reported no redis `{key}` INFO text")))
        };
        Self::from_info(text("before"), text("after"), jobs)
    }
}

async fn info(conn: &mut redis::aio::MultiplexedConnection, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .unwrap_or_else(|err| fail(&format!("INFO {section}: {err}")))
}

/// Total usec of the script commands: `cmdstat_evalsha:calls=3,usec=120,…` and its kin
/// (`eval`, `evalsha_ro`, `eval_ro`, `fcall`, `fcall_ro`).
fn script_usec(info: &str) -> f64 {
    info.lines()
        .filter_map(|line| line.trim().strip_prefix("cmdstat_"))
        .filter(|line| line.starts_with("eval") || line.starts_with("fcall"))
        .filter_map(|line| {
            line.split_once(':')?
                .1
                .split(',')
                .find_map(|field| field.strip_prefix("usec="))?
                .parse::<f64>()
                .ok()
        })
        .sum()
}

/// `used_cpu_sys` + `used_cpu_user`: the whole process (every thread), in seconds.
fn cpu_seconds(info: &str) -> f64 {
    info.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .filter(|(name, _)| *name == "used_cpu_sys" || *name == "used_cpu_user")
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}
