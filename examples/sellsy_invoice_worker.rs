//! Run with: SELLSY_CLIENT_ID=… SELLSY_CLIENT_SECRET=… cargo run --example sellsy_invoice_worker
//!
//! Consumes Sellsy events from a BullMQ queue and turns each accepted estimate into one
//! invoice: the Rust twin of node-worker-compat/invoice-worker.js, with its environment
//! (see `sellsy/config.rs`) and its Redis lock and record keys, so both can run side by
//! side on one queue. One line per job on stdout. Exit codes: 0 after SIGINT or SIGTERM
//! once running jobs are done, 2 for a missing or bad variable, 1 when Redis is
//! unreachable.

mod sellsy;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bullmq_rs::{ActiveJob, Worker};
use examples::{EXIT_FAILURE, EXIT_USAGE, exit_code, shutdown_signal};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use sellsy::api::SellsyApi;
use sellsy::config::Config;
use sellsy::processor::Processor;

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
    let config = Config::from_env(|name| std::env::var(name).ok())
        .map_err(|err| (EXIT_USAGE, err.to_string()))?;
    let signal = shutdown_signal().map_err(|err| (EXIT_FAILURE, err.to_string()))?;
    let shutdown = async move {
        let name = signal.await;
        println!("{name}: waiting for running jobs");
    };
    let processor = Arc::new(Processor {
        redis: connect_redis(&config.redis_url).await?,
        prefix: config.prefix.clone(),
        triggers: config.triggers,
        api: SellsyApi::new(config.sellsy),
    });
    let failed = |err: bullmq_rs::Error| (exit_code(&err), err.to_string());
    let worker = Worker::builder(&config.queue_name)
        .prefix(&config.prefix)
        .major(config.major)
        .concurrency(config.concurrency)
        .limiter(config.limiter)
        .on_error(|err| eprintln!("worker error: {err}"))
        .connect(&config.redis_url, move |job: ActiveJob| {
            let processor = Arc::clone(&processor);
            async move { processor.process(job).await }
        })
        .await
        .map_err(failed)?;
    println!(
        "invoice worker on {}:{} (BullMQ {}, concurrency {})",
        config.prefix, config.queue_name, config.major, config.concurrency
    );
    worker.run_until(shutdown).await.map_err(failed)
}

/// The connection for the lock and record keys: the worker's own is busy waiting for jobs.
async fn connect_redis(url: &str) -> Result<ConnectionManager, (i32, String)> {
    let client = redis::Client::open(url)
        .map_err(|err| (EXIT_USAGE, format!("invalid redis url: {err}")))?;
    let address = client.get_connection_info().addr().to_string();
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|err| {
            (
                EXIT_FAILURE,
                format!("cannot connect to redis at {address}: {err}"),
            )
        })
}
