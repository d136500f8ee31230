//! A fake of the Sellsy endpoints the invoice worker uses, on 127.0.0.1:<random>, with
//! the rules of node-worker-compat/test/support/fake-sellsy.js. It records every request.
//!
//!   POST /oauth2/access-tokens   form client_credentials -> {access_token: tok-N, expires_in}
//!   GET  /v2/estimates/:id       the estimate set for the id, or 404
//!   POST /v2/invoices            201 {id: 9001}, unless a scripted reply is queued
//!
//! Scripted one-shot replies: `api_replies` (any /v2 call, before routing) and
//! `invoice_replies` (POST /v2/invoices only). HTTP/1.1 with Content-Length bodies, one
//! request per connection.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::fixtures::{CLIENT_ID, CLIENT_SECRET, INVOICE_ID, sellsy_error};

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Lower-case names.
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
    pub(crate) at: Instant,
}

impl Recorded {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub(crate) fn authorization(&self) -> &str {
        self.headers.get("authorization").map_or("", String::as_str)
    }
}

/// An answer to script.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn new(status: u16, body: Value) -> Self {
        let headers = Vec::new();
        Self {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// What the fake knows and has seen.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) requests: Vec<Recorded>,
    pub(crate) estimates: HashMap<String, Value>,
    pub(crate) api_replies: VecDeque<Reply>,
    pub(crate) invoice_replies: VecDeque<Reply>,
    /// Added to every `POST /v2/invoices` answer: a long creation widens the window in
    /// which a broken lock would let a second job create too.
    pub(crate) invoice_delay: Duration,
    valid_tokens: HashSet<String>,
}

/// The running fake; it stops with the runtime it was started on.
pub(crate) struct FakeSellsy {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeSellsy {
    /// Binds 127.0.0.1:0 and serves on `runtime`.
    pub(crate) fn start(runtime: &tokio::runtime::Runtime) -> Self {
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a free loopback port");
        let address = listener.local_addr().expect("a bound address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Self { address, state }
    }

    pub(crate) fn api_base(&self) -> String {
        format!("http://{}/v2", self.address)
    }

    pub(crate) fn token_url(&self) -> String {
        format!("http://{}/oauth2/access-tokens", self.address)
    }

    /// What `GET /v2/estimates/<id>` answers.
    pub(crate) fn set_estimate(&self, id: u64, estimate: Value) {
        self.state().estimates.insert(id.to_string(), estimate);
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// Requests with this method whose path starts with `prefix`.
    pub(crate) fn count(&self, method: &str, prefix: &str) -> usize {
        let matches = |r: &&Recorded| r.method == method && r.path.starts_with(prefix);
        self.state().requests.iter().filter(matches).count()
    }

    pub(crate) fn invoice_posts(&self) -> Vec<Recorded> {
        let posts = self.requests().into_iter();
        posts
            .filter(|r| r.method == "POST" && r.path == "/v2/invoices")
            .collect()
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut stream = BufReader::new(stream);
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let (reply, delay) = {
        let mut state = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let reply = route(&mut state, &request);
        state.requests.push(request.clone());
        let delay = if request.path == "/v2/invoices" {
            state.invoice_delay
        } else {
            Duration::ZERO
        };
        (reply, delay)
    };
    tokio::time::sleep(delay).await;
    let body = reply.body.to_string();
    let mut head = format!(
        "HTTP/1.1 {} Fake\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let stream = stream.get_mut();
    let _ = stream
        .write_all(format!("{head}\r\n{body}").as_bytes())
        .await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let mut line = String::new();
    stream.read_line(&mut line).await.ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?);
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await.ok()?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.trim().to_lowercase(), value.trim().to_owned());
    }
    let length = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    let body = String::from_utf8(body).ok()?;
    let at = Instant::now();
    Some(Recorded {
        method,
        path,
        headers,
        body,
        at,
    })
}

fn route(state: &mut State, request: &Recorded) -> Reply {
    let (method, path) = (request.method.as_str(), request.path.as_str());
    if method == "POST" && path == "/oauth2/access-tokens" {
        return issue_token(state, &request.body);
    }
    if !path.starts_with("/v2/") {
        return Reply::new(404, sellsy_error(404, "no route"));
    }
    let token = request
        .authorization()
        .strip_prefix("Bearer ")
        .unwrap_or("");
    if !state.valid_tokens.contains(token) {
        return Reply::new(401, sellsy_error(401, "invalid token"));
    }
    if let Some(scripted) = state.api_replies.pop_front() {
        return scripted;
    }
    if let (true, Some(id)) = (method == "GET", path.strip_prefix("/v2/estimates/")) {
        return match state.estimates.get(id) {
            Some(estimate) => Reply::new(200, estimate.clone()),
            None => Reply::new(404, sellsy_error(404, "Estimate not found")),
        };
    }
    if method == "POST" && path == "/v2/invoices" {
        if let Some(scripted) = state.invoice_replies.pop_front() {
            return scripted;
        }
        let parent = request.json()["parent"].clone();
        return Reply::new(
            201,
            json!({"id": INVOICE_ID, "status": "draft", "parent": parent}),
        );
    }
    Reply::new(404, sellsy_error(404, "no route"))
}

fn issue_token(state: &mut State, form: &str) -> Reply {
    let fields: HashMap<&str, &str> = form.split('&').filter_map(|f| f.split_once('=')).collect();
    let expected = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    if expected
        .iter()
        .any(|(name, value)| fields.get(name) != Some(value))
    {
        return Reply::new(401, sellsy_error(401, "invalid client"));
    }
    let token = format!("tok-{}", state.valid_tokens.len() + 1);
    state.valid_tokens.insert(token.clone());
    Reply::new(
        200,
        json!({"token_type": "Bearer", "expires_in": 3600, "access_token": token}),
    )
}
