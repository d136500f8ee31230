//! Run with: cargo run --example events -- [--redis-url URL] [--prefix P]
//!           [--bullmq-major 5|6] [--cluster | --sentinel MASTER] QUEUE
//!
//! Follows a queue's events from now on, as Node BullMQ's `QueueEvents` does, until SIGINT
//! or SIGTERM (then exits 0). Each event is one JSON object per line on stdout: `"id"`
//! (the stream entry id), then the entry's fields as stored, strings as strings:
//!
//! `{"id":"1700000000000-0","event":"completed","jobId":"1","returnvalue":"{\"n\":1}","prev":"active"}`
//!
//! Once listening it says so on stderr. A failed read (Redis restarting) is reported on
//! stderr and reading goes on from the last event printed. `--bullmq-major` is accepted as
//! in the other examples: both majors write the same event layouts.

use std::process::ExitCode;

use bullmq_rs::{EventEntry, QueueEvents};
use examples::{Args, EXIT_FAILURE, EXIT_USAGE, exit_code, shutdown_signal};
use serde_json::{Map, Value};

const USAGE: &str = "usage: events [--redis-url URL] [--prefix PREFIX] [--bullmq-major 5|6] [--cluster | --sentinel MASTER] QUEUE";

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
    let args = Args::parse(std::env::args().skip(1), &[]).map_err(|err| usage(err.0))?;
    let [queue] = args.positional.as_slice() else {
        return Err(usage("expected one QUEUE".to_owned()));
    };
    let connection = &args.connection;
    let signal = shutdown_signal().map_err(|err| (EXIT_FAILURE, err.to_string()))?;
    let mut events = QueueEvents::builder(queue)
        .prefix(&connection.prefix)
        .connection(connection.options())
        .connect(&connection.redis_url)
        .await
        .map_err(|err| (exit_code(&err), err.to_string()))?;
    eprintln!(
        "listening to {}events after {}",
        events.keys().base(),
        events.position()
    );

    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => return Ok(()),
            // Cancel-safe: an entry being read when the signal comes is not half printed.
            entry = events.next_entry() => match entry {
                Ok(entry) => println!("{}", as_json_line(&entry)),
                Err(err) => eprintln!("events: {err} (reading on)"),
            },
        }
    }
}

/// `{"id": …, <field>: <value as stored>, …}` in the stream's field order.
fn as_json_line(entry: &EventEntry) -> Value {
    let mut line = Map::new();
    line.insert("id".to_owned(), Value::String(entry.id.to_string()));
    for (field, value) in &entry.fields {
        line.insert(field.clone(), Value::String(value.clone()));
    }
    Value::Object(line)
}
