//! Run with: cargo run --example worker -- [--redis-url URL] [--prefix PREFIX]
//!           [--bullmq-major 5|6] [--cluster | --sentinel MASTER] [--concurrency N] [--lock-duration-ms MS]
//!           [--stalled-interval-ms MS] QUEUE
//!
//! A generic worker, until SIGINT or SIGTERM: prints one line per job, returns the job's
//! data as its result, and fails a job whose data has `"fail": true` with the message
//! `requested failure` (as the Node test worker does, so their behaviour can be compared).
//! A job whose data has `"sleepMs": N` takes that long. Runs of job schedulers (see the
//! `schedule` example) are jobs like any other; taking one adds the scheduler's next run.

use std::process::ExitCode;
use std::time::Duration;

use bullmq_rs::{ActiveJob, JobError, Worker};
use examples::{Args, EXIT_USAGE, exit_code, shutdown_signal};
use serde_json::Value;

const USAGE: &str = "usage: worker [--redis-url URL] [--prefix PREFIX] [--bullmq-major 5|6] [--cluster | --sentinel MASTER] [--concurrency N] QUEUE";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code as u8)
        }
    }
}

async fn run() -> Result<(), (i32, String)> {
    let usage = |message: String| (EXIT_USAGE, format!("{message}\n{USAGE}"));
    let flags = ["concurrency", "lock-duration-ms", "stalled-interval-ms"];
    let args =
        Args::parse(std::env::args().skip(1), &flags).map_err(|err| usage(err.to_string()))?;
    let [queue] = args.positional.as_slice() else {
        return Err(usage("expected one QUEUE".to_owned()));
    };
    let number = |flag: &str| args.number(flag).map_err(|err| usage(err.0));
    let connection = &args.connection;
    let mut builder = Worker::builder(queue)
        .prefix(&connection.prefix)
        .major(connection.major)
        .concurrency(number("concurrency")?.unwrap_or(1) as usize)
        .on_error(|err| eprintln!("worker error: {err}"))
        .connection(connection.options());
    if let Some(ms) = number("lock-duration-ms")? {
        builder = builder.lock_duration(Duration::from_millis(ms));
    }
    if let Some(ms) = number("stalled-interval-ms")? {
        builder = builder.stalled_interval(Duration::from_millis(ms));
    }
    let worker = builder
        .connect(&connection.redis_url, process)
        .await
        .map_err(|err| (exit_code(&err), err.to_string()))?;
    let signal = shutdown_signal().map_err(|err| (examples::EXIT_FAILURE, err.to_string()))?;
    println!("worker ready on queue {queue}");
    worker
        .run_until(async move {
            signal.await;
        })
        .await
        .map_err(|err| (exit_code(&err), err.to_string()))
}

async fn process(job: ActiveJob) -> Result<Value, JobError> {
    if let Some(ms) = job.data.get("sleepMs").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let outcome = if job.data.get("fail") == Some(&Value::Bool(true)) {
        Err(JobError::new("requested failure"))
    } else {
        Ok(job.data.clone())
    };
    let verdict = match &outcome {
        Ok(_) => "completed".to_owned(),
        Err(err) => format!("failed: {err}"),
    };
    println!(
        "job {} {} attempt {} -> {verdict}",
        job.id,
        job.name,
        job.attempts_made + 1
    );
    outcome
}
