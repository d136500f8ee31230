//! The HTTP server, and every limit on what a client can make it hold:
//!
//! | limit | flag | mechanism |
//! |---|---|---|
//! | time to send each request, head and body | `--client-timeout-ms` | `deadline.rs` |
//! | idle kept-alive connection | `--keep-alive-secs` | actix-http's keep-alive |
//! | open connections, whole process | `--max-connections` | `connections.rs` |
//! | one body | `--max-body-bytes` | [`body`] |
//! | bodies in flight, whole process | `--max-inflight-body-bytes` | [`body`] |
//!
//! actix-web's `HttpServer` cannot wrap the accepted sockets, which the request deadline
//! needs, so the server is assembled from its parts as `HttpServer` does: actix-server
//! accepts and runs the workers, actix-http speaks HTTP/1.1 over each `TimedStream`, and
//! the actix-web `App` of [`routes::configure`] answers.

pub(crate) mod body;
mod connections;
mod deadline;

use std::sync::Arc;
use std::time::Duration;

use actix_http::{HttpService, Protocol, error::DispatchError};
use actix_server::Server;
use actix_service::{ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::rt::net::TcpStream;
use actix_web::{App, web};

pub(crate) use body::BodyBudget;

use crate::config::Config;
use crate::ingest::Ingest;
use crate::routes::{self, AppState};
use crate::{Error, Parts, open_queue};
use connections::ConnectionCap;
use deadline::{TimedStream, Timeouts};

/// How long in-flight requests may take to finish at shutdown, in seconds.
const SHUTDOWN_GRACE: u64 = 10;

/// How long a closing connection may take to flush its last answer.
const DISCONNECT_GRACE: Duration = Duration::from_secs(1);

/// The HTTP server on `listener`, not yet polled. The app factory runs once on each worker
/// thread: every worker gets its own batcher and Redis connection on its own runtime.
pub(crate) fn start(
    config: &Config,
    listener: std::net::TcpListener,
    parts: Parts,
) -> Result<Server, Error> {
    let cap = ConnectionCap::new(
        config.max_connections,
        config.workers.unwrap_or_else(connections::default_workers),
    );
    let timeouts = Timeouts {
        request: (!config.client_timeout.is_zero()).then_some(config.client_timeout),
        idle: config.keep_alive + config.client_timeout,
    };
    let local_addr = listener.local_addr()?;
    let budget = Arc::new(BodyBudget::new(config.max_inflight_body_bytes));
    let builder = Server::build()
        .workers(cap.workers)
        .max_concurrent_connections(cap.per_worker)
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_GRACE);
    let draining = builder.graceful_shutdown_signal();
    let config = config.clone();
    let parts = Arc::new(parts);
    let builder = builder.listen("sellsy-listener", listener, move || {
        let state = state(&config, &parts, &budget);
        let app = App::new().configure(|cfg| routes::configure(cfg, state));
        let draining = draining.clone();
        let http = HttpService::build()
            .keep_alive(config.keep_alive)
            // The first request's head is timed by actix too, which answers 408 itself.
            .client_request_timeout(config.client_timeout)
            .client_disconnect_timeout(DISCONNECT_GRACE)
            .local_addr(local_addr)
            .graceful_shutdown_signal(move || {
                let draining = draining.clone();
                async move { draining.notified().await }
            })
            // actix-web keeps `AppConfig::new` to itself; host and address serve only URL
            // generation and `ConnectionInfo` without a Host header, neither used here.
            .finish(map_config(app, |()| AppConfig::default()));
        fn_service(move |stream: TcpStream| async move {
            let peer = stream.peer_addr().ok();
            Ok::<_, DispatchError>((TimedStream::new(stream, timeouts), Protocol::Http1, peer))
        })
        .and_then(http)
    })?;
    Ok(builder.run())
}

/// One worker's state: its own batcher and Redis connection, the shared rest.
fn state(config: &Config, parts: &Parts, budget: &Arc<BodyBudget>) -> web::Data<AppState> {
    let shared = parts.shared.clone();
    let ingest = match open_queue(config, &config.queue) {
        Ok(queue) => Ingest::start(shared.clone(), queue),
        // The same settings opened the shared queue already, so this cannot differ;
        // fall back to sharing that connection rather than failing the worker.
        Err(_) => Ingest::start(shared.clone(), shared.queue.clone()),
    };
    web::Data::new(AppState {
        ingest,
        shared,
        verifier: parts.verifier.clone(),
        jobs: parts.template.clone(),
        max_body_bytes: config.max_body_bytes,
        body_budget: budget.clone(),
        bad_signature: parts.bad_signature.clone(),
        queue_stats: parts.queue_stats.clone(),
    })
}
