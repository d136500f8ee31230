//! wrk posting a distinct Sellsy event per request, for bench_listener's table B: the Lua
//! script (written to a file here), one run's figures, and wrk's own CPU time. Included
//! with `#[path]`.
//!
//! Every body is `examples::bench_data::event(n)` byte for byte, `n` numbering the
//! requests of all threads apart: thread `t` of `T` sends `base + t`, `base + T + t`, …,
//! so no two requests of a run share an event (nor, with bases 3 000 000 apart, of two
//! runs). wrk runs closed-loop on keep-alive connections; its `done()` prints the figures
//! as one JSON line. It runs under `sh`, which reports the CPU of the wrk it waited for
//! (`cutime` + `cstime` of `/proc/<sh>/stat`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use examples::bench_data::event;
use examples::fail;
use serde_json::Value;

/// The number `event(0)` carries in `relatedid` and `relatedobject.id`.
const EVENT_NUMBER: &str = "48213377";
/// Requests a run may send before its numbers reach the next run's.
pub(crate) const RUN_SPAN: u64 = 3_000_000;

/// The script file, removed with its directory by the caller.
pub(crate) struct WrkScript(PathBuf);

/// One wrk run.
pub(crate) struct WrkRun {
    pub(crate) rps: f64,
    /// Latency percentiles in µs.
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    /// Responses with a 2xx or 3xx status (the listeners answer 200).
    pub(crate) ok: u64,
    /// All responses, and the socket errors (connect, read, write, timeout).
    pub(crate) responses: u64,
    pub(crate) socket_errors: u64,
    /// Requests built and written; those beyond `responses` were in flight at the stop.
    pub(crate) sent: u64,
    /// wrk's own CPU time (user + system), from 10 ms ticks.
    pub(crate) cpu: std::time::Duration,
}

impl WrkScript {
    /// Writes the script into `dir`.
    pub(crate) fn write(dir: &Path) -> Self {
        let text = String::from_utf8(event(0)).unwrap_or_default();
        let parts: Vec<&str> = text.split(EVENT_NUMBER).collect();
        if parts.len() != 3 {
            fail("the Sellsy event no longer carries its number twice");
        }
        let script = format!(
            r#"-- bench_listener table B: a distinct Sellsy event per request (see bench_wrk.rs).
local parts = {{ [==[{}]==], [==[{}]==], [==[{}]==] }}
local threads = {{}}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  base = tonumber(args[1]) + {EVENT_NUMBER}
  stride = tonumber(args[2])
  sent = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local n = string.format("%d", base + sent * stride + tid)
  sent = sent + 1
  return wrk.format(nil, nil, nil, parts[1] .. n .. parts[2] .. n .. parts[3])
end

function done(summary, latency, requests)
  local sent = 0
  for _, thread in ipairs(threads) do sent = sent + thread:get("sent") end
  local e = summary.errors
  io.write(string.format(
    '{{"wrk":1,"responses":%d,"non2xx":%d,"socket_errors":%d,"duration_us":%d,"sent":%d,"p50":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration, sent,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#,
            parts[0], parts[1], parts[2]
        );
        let path = dir.join("distinct-events.lua");
        std::fs::write(&path, script).unwrap_or_else(|err| fail(&err.to_string()));
        Self(path)
    }

    /// Runs wrk against `url` for `secs` with `connections` keep-alive connections on up
    /// to 2 threads, numbering its events from `base`.
    pub(crate) fn run(&self, url: &str, connections: u32, secs: u64, base: u64) -> WrkRun {
        let threads = connections.clamp(1, 2);
        let output = Command::new("sh")
            .args([
                "-c",
                r#"wrk "$@"; status=$?; cat /proc/$$/stat >&2; exit $status"#,
                "sh",
            ])
            .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
            .args(["-d", &format!("{secs}s"), "--timeout", "10s", "-s"])
            .arg(&self.0)
            .args([url, "--", &base.to_string(), &threads.to_string()])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| fail(&format!("wrk: {err}")));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let report: Value = stdout
            .lines()
            .find(|line| line.starts_with(r#"{"wrk""#))
            .and_then(|line| serde_json::from_str(line).ok())
            .unwrap_or_else(|| fail(&format!("wrk printed no figures:\n{stdout}\n{stderr}")));
        let num = |key: &str| report[key].as_u64().unwrap_or(0);
        let responses = num("responses");
        WrkRun {
            rps: responses as f64 / (num("duration_us").max(1) as f64 / 1e6),
            p50: num("p50") as f64,
            p99: num("p99") as f64,
            p999: num("p999") as f64,
            ok: responses.saturating_sub(num("non2xx")),
            responses,
            socket_errors: num("socket_errors"),
            sent: num("sent"),
            cpu: stderr
                .lines()
                .next_back()
                .and_then(children_cpu)
                .unwrap_or_else(|| fail(&format!("no CPU time for wrk:\n{stderr}"))),
        }
    }
}

/// `cutime` + `cstime` of a `/proc/<pid>/stat` line: the CPU of the children it waited for.
fn children_cpu(stat: &str) -> Option<std::time::Duration> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields after the command name start at the 3rd; cutime is the 16th, cstime the 17th.
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, which is 100 on every mainstream build.
    Some(std::time::Duration::from_millis(ticks * 10))
}
