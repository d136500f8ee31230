//! Run with: cargo run --example queue -- [--redis-url URL] [--prefix P] [--bullmq-major 5|6]
//!           [--cluster | --sentinel MASTER] QUEUE COMMAND [ARGS]
//!
//! Looks into a queue and acts on its jobs as Node BullMQ's `Queue` does, printing JSON:
//! one object, or one JSON value per line for lists; a command that changes something
//! prints `{"ok":true}` unless said otherwise. STATE is `waiting` (or `wait`), `active`,
//! `delayed`, `prioritized`, `completed`, `failed`, `paused` or `waiting-children`.
//!
//! ```text
//! counts                                 getJobCounts() of those eight states
//! jobs STATE [--start N] [--end N] [--asc]   one Job.asJSON() per line, as getJobs
//! get ID                                 the job as in `jobs`, plus "state"
//! logs ID [--start N] [--end N]          one JSON string per line
//! retry ID [--state failed|completed]    Job.retry(state)
//! retry --state failed|completed [--count N]   retryJobs, N per batch until none is left
//! promote ID | promote --all [--count N]
//! remove ID
//! clean STATE --grace-ms N [--limit N]   prints {"removed":N}
//! drain [--delayed] | pause | resume | obliterate [--force]
//! workers                                one getWorkers() entry per line
//! dedup ID                               the job id owning deduplication id ID, or null
//! dedup --remove ID
//! concurrency N | concurrency --remove
//! rate-limit --max N --duration-ms MS | rate-limit --remove
//! ```
//!
//! `REDIS_URL` is the default URL. Exit codes: 0 done, 2 bad input, 1 Redis unreachable
//! or failing, 3 no such job, 4 refused by BullMQ's rules (wrong state, job locked,
//! obliterate while jobs are active without `--force`); errors are one line on stderr.

#[path = "queue/command.rs"]
mod command;
#[path = "queue/job_json.rs"]
mod job_json;

use std::process::ExitCode;

use bullmq_rs::{Error, Queue, ScriptError};
use examples::{Args, EXIT_USAGE, exit_code};

use command::{Command, SWITCHES, VALUE_FLAGS};

/// Exit code when the job does not exist.
const EXIT_NO_SUCH_JOB: i32 = 3;
/// Exit code when BullMQ's rules refuse the command.
const EXIT_REFUSED: i32 = 4;

const USAGE: &str = "usage: queue [--redis-url URL] [--prefix P] [--bullmq-major 5|6] [--cluster | --sentinel MASTER] QUEUE COMMAND [ARGS] (see examples/queue.rs)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code as u8)
        }
    }
}

async fn run() -> Result<Vec<String>, (i32, String)> {
    let usage = |message: String| (EXIT_USAGE, format!("{message}; {USAGE}"));
    let args = Args::parse_with_switches(std::env::args().skip(1), VALUE_FLAGS, SWITCHES)
        .map_err(|err| usage(err.0))?;
    let (queue_name, command) = Command::parse(&args).map_err(|err| usage(err.0))?;
    let connection = &args.connection;
    let queue = Queue::builder(&queue_name)
        .prefix(&connection.prefix)
        .major(connection.major)
        .connection(connection.options())
        .connect(&connection.redis_url)
        .await
        .map_err(failed)?;
    command.run(&queue).await.map_err(failed)
}

/// The exit code and the one line for a library error.
fn failed(err: Error) -> (i32, String) {
    let code = match &err {
        Error::JobNotFound(_) => EXIT_NO_SUCH_JOB,
        Error::JobRefused { .. }
        | Error::Script {
            code: ScriptError::ActiveJobs,
            ..
        } => EXIT_REFUSED,
        other => exit_code(other),
    };
    (code, err.to_string())
}
