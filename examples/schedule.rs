//! Run with: cargo run --example schedule -- [--redis-url URL] [--prefix PREFIX]
//!           [--bullmq-major 5|6] [--cluster | --sentinel MASTER] [--remove]
//!           QUEUE SCHEDULER_ID [REPEAT_JSON [TEMPLATE_JSON]]
//!
//! Creates or replaces a job scheduler and prints the id of the job it scheduled (its
//! next run) alone, or `null` when it has no run left. REPEAT_JSON is BullMQ's RepeatOptions
//! (`{"every": 60000}`, `{"pattern": "0 3 * * *", "tz": "Europe/Paris"}`), TEMPLATE_JSON
//! the jobs' `{name, data, opts}`. With `--remove`, removes the scheduler instead and
//! prints `{"removed":true}` or `{"removed":false}`. Workers (Node's or the `worker`
//! example) run each job and create the next run. Exit codes: 0 done, 2 bad arguments,
//! JSON or options, 1 Redis unreachable or failing.

use std::process::ExitCode;

use bullmq_rs::{JobTemplate, Queue, RepeatOptions};
use examples::{Args, EXIT_USAGE, exit_code};

const USAGE: &str = "usage: schedule [--redis-url URL] [--prefix PREFIX] [--bullmq-major 5|6] [--cluster | --sentinel MASTER] QUEUE SCHEDULER_ID REPEAT_JSON [TEMPLATE_JSON]\n       schedule [...] --remove QUEUE SCHEDULER_ID";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code as u8)
        }
    }
}

/// What the command line asks for.
enum Action {
    Upsert(Box<(RepeatOptions, JobTemplate)>),
    Remove,
}

async fn run() -> Result<String, (i32, String)> {
    let usage = |message: String| (EXIT_USAGE, message);
    // `--remove` takes no value, which `Args` flags do: it is taken out first.
    let (removes, rest): (Vec<String>, Vec<String>) =
        std::env::args().skip(1).partition(|arg| arg == "--remove");
    let args = Args::parse(rest, &[]).map_err(|err| usage(format!("{err}\n{USAGE}")))?;
    let (queue_name, scheduler_id, action) = match (removes.is_empty(), args.positional.as_slice())
    {
        (false, [queue, id]) => (queue, id, Action::Remove),
        (true, [queue, id, repeat, template @ ..]) if template.len() <= 1 => {
            let repeat: RepeatOptions =
                serde_json::from_str(repeat).map_err(|err| usage(format!("REPEAT_JSON: {err}")))?;
            let template: JobTemplate = match template.first() {
                Some(json) => serde_json::from_str(json)
                    .map_err(|err| usage(format!("TEMPLATE_JSON: {err}")))?,
                None => JobTemplate::default(),
            };
            repeat.validate().map_err(|err| usage(err.to_string()))?;
            template.validate().map_err(|err| usage(err.to_string()))?;
            (queue, id, Action::Upsert(Box::new((repeat, template))))
        }
        _ => return Err(usage(format!("wrong number of arguments\n{USAGE}"))),
    };

    let connection = &args.connection;
    let failed = |err: bullmq_rs::Error| (exit_code(&err), err.to_string());
    let queue = Queue::builder(queue_name)
        .prefix(&connection.prefix)
        .major(connection.major)
        .connection(connection.options())
        .connect(&connection.redis_url)
        .await
        .map_err(failed)?;
    match action {
        Action::Remove => {
            let removed = queue
                .remove_job_scheduler(scheduler_id)
                .await
                .map_err(failed)?;
            Ok(serde_json::json!({ "removed": removed }).to_string())
        }
        Action::Upsert(upsert) => {
            let (repeat, template) = *upsert;
            let run = queue
                .upsert_job_scheduler(scheduler_id, &repeat, &template)
                .await
                .map_err(failed)?;
            Ok(run.map_or_else(|| "null".to_owned(), |id| id.into_string()))
        }
    }
}
