//! `sellsy-listener`: parse the configuration, set up logging, bind, serve until SIGTERM
//! or SIGINT. A bad flag or variable: one line on stderr, exit 2. `sellsy-listener spool …`
//! works on the spool instead (spool_admin.rs) and exits 0, or 2 with one line.

mod spool_admin;

use std::process::ExitCode;

use clap::Parser;

// glibc's malloc took about 15% of the listener's CPU under load (profiled with perf at
// 47k requests/s); mimalloc's thread-local free lists avoid most of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use listener::{Command, Config, LogFormat};

#[actix_web::main]
async fn main() -> ExitCode {
    let config = match Config::try_parse() {
        Ok(config) => config,
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let rendered = err.render().to_string();
            eprintln!(
                "{}",
                rendered.lines().next().unwrap_or("invalid configuration")
            );
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Spool(command)) = &config.command {
        return match spool_admin::run(command, &config.spool_dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {}", err.to_string().replace('\n', " "));
                ExitCode::from(2)
            }
        };
    }
    init_logging(config.log_format);
    let listener = match std::net::TcpListener::bind(config.listen) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {}: {err}", config.listen);
            return ExitCode::from(1);
        }
    };
    match listener::run(config, listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(if matches!(err, listener::Error::Config(_)) {
                2
            } else {
                1
            })
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}
