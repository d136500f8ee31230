//! Run with: cargo run --example enqueue -- [--redis-url URL] [--prefix PREFIX]
//!           [--bullmq-major 5|6] [--cluster | --sentinel MASTER] QUEUE NAME DATA_JSON [OPTS_JSON]
//!       or: cargo run --example enqueue -- [the same flags] --flow FLOW_JSON
//!
//! Adds one job and prints its id alone on stdout. OPTS_JSON uses BullMQ's option names
//! (`{"delay": 5000, "attempts": 3}`). With `--flow`, adds a whole flow in BullMQ's
//! FlowJob JSON (`{"name", "queueName", "data", "opts", "children": [...], "prefix"}`; a
//! node's own prefix wins over `--prefix`) and prints the root job's id alone. Exit codes:
//! 0 added, 2 bad arguments, JSON or options, 1 Redis unreachable or failing.

use std::process::ExitCode;

use bullmq_rs::{FlowJob, FlowProducer, JobOptions, NewJob, Queue};
use examples::{Args, EXIT_USAGE, exit_code};

const USAGE: &str = "usage: enqueue [--redis-url URL] [--prefix PREFIX] [--bullmq-major 5|6] [--cluster | --sentinel MASTER] (QUEUE NAME DATA_JSON [OPTS_JSON] | --flow FLOW_JSON)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(id) => {
            println!("{id}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code as u8)
        }
    }
}

async fn run() -> Result<String, (i32, String)> {
    let usage = |message: String| (EXIT_USAGE, message);
    let args = Args::parse(std::env::args().skip(1), &["flow"])
        .map_err(|err| usage(format!("{err}\n{USAGE}")))?;
    if let Some(flow) = args.flag("flow") {
        if !args.positional.is_empty() {
            return Err(usage(format!(
                "--flow takes no QUEUE NAME DATA_JSON\n{USAGE}"
            )));
        }
        return add_flow(&args, flow).await;
    }
    let [queue_name, name, data, rest @ ..] = args.positional.as_slice() else {
        return Err(usage(format!("missing arguments\n{USAGE}")));
    };
    if rest.len() > 1 {
        return Err(usage(format!("too many arguments\n{USAGE}")));
    }
    let data: serde_json::Value = serde_json::from_str(data)
        .map_err(|err| usage(format!("DATA_JSON is not valid JSON: {err}")))?;
    let opts: JobOptions = match rest.first() {
        Some(opts) => {
            serde_json::from_str(opts).map_err(|err| usage(format!("OPTS_JSON: {err}")))?
        }
        None => JobOptions::default(),
    };
    let connection = &args.connection;
    let job = NewJob::new(name, &data, opts).map_err(|err| usage(err.to_string()))?;
    job.validate(connection.major)
        .map_err(|err| usage(err.to_string()))?;

    let failed = |err: bullmq_rs::Error| (exit_code(&err), err.to_string());
    let queue = Queue::builder(queue_name)
        .prefix(&connection.prefix)
        .major(connection.major)
        .connection(connection.options())
        .connect(&connection.redis_url)
        .await
        .map_err(failed)?;
    let ids = queue
        .add_bulk(std::slice::from_ref(&job))
        .await
        .map_err(failed)?;
    Ok(ids.into_iter().map(|id| id.into_string()).collect())
}

/// `--flow FLOW_JSON`: the whole flow in one call; the root's id.
async fn add_flow(args: &Args, flow: &str) -> Result<String, (i32, String)> {
    let usage = |message: String| (EXIT_USAGE, message);
    let flow: FlowJob =
        serde_json::from_str(flow).map_err(|err| usage(format!("FLOW_JSON: {err}")))?;
    let connection = &args.connection;
    flow.validate(&connection.prefix, connection.major)
        .map_err(|err| usage(err.to_string()))?;

    let failed = |err: bullmq_rs::Error| (exit_code(&err), err.to_string());
    let producer = FlowProducer::builder()
        .prefix(&connection.prefix)
        .major(connection.major)
        .connection(connection.options())
        .connect(&connection.redis_url)
        .await
        .map_err(failed)?;
    let added = producer.add(&flow).await.map_err(failed)?;
    Ok(added.id.into_string())
}
