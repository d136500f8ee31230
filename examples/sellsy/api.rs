//! The two Sellsy API V2 calls the worker makes, behind an OAuth2 client_credentials
//! token (node-worker-compat/lib/sellsy-api.js).
//!
//! HTTP is ureq, which blocks: each exchange runs on tokio's blocking pool, bounded by
//! `SELLSY_TIMEOUT_MS` from connect to the last byte of the body.

use std::time::{Instant, SystemTime};

use serde_json::Value;
use tokio::sync::Mutex;

use super::config::SellsyConfig;
use super::error::SellsyError;
use super::retry_after::parse_retry_after;
use super::token::TokenCache;

const JSON: &str = "application/json";

/// A Sellsy API client for one set of credentials.
pub(crate) struct SellsyApi {
    config: SellsyConfig,
    agent: ureq::Agent,
    /// Held while a token is fetched, so concurrent jobs share one token request.
    token: Mutex<TokenCache>,
}

/// One exchange to send.
struct Call {
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

/// What a call sends; a body means `POST`.
#[derive(Clone)]
enum Body {
    None,
    Json(String),
    Form(Vec<(&'static str, String)>),
}

/// Any answer, whatever its status.
struct Reply {
    status: u16,
    retry_after: Option<String>,
    /// JSON, or the raw text as a string, or null when empty.
    body: Value,
}

impl SellsyApi {
    pub(crate) fn new(config: SellsyConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            config,
            agent,
            token: Mutex::new(TokenCache::default()),
        }
    }

    /// `GET /estimates/{id}`.
    pub(crate) async fn estimate(&self, estimate_id: &str) -> Result<Value, SellsyError> {
        self.request(&format!("/estimates/{estimate_id}"), Body::None)
            .await
    }

    /// `POST /invoices`, returning the created invoice.
    pub(crate) async fn create_invoice(&self, invoice: &Value) -> Result<Value, SellsyError> {
        self.request("/invoices", Body::Json(invoice.to_string()))
            .await
    }

    async fn request(&self, path: &str, body: Body) -> Result<Value, SellsyError> {
        let url = format!("{}{path}", self.config.api_base.trim_end_matches('/'));
        let method = body.method();
        let call = |token: &str, body: Body| Call {
            url: url.clone(),
            headers: vec![("authorization", format!("Bearer {token}"))],
            body,
        };
        let token = self.token().await?;
        let mut reply = self.send(call(&token, body.clone())).await?;
        if reply.status == 401 {
            // Revoked or expired early: refresh once and retry once (§5.6).
            self.token.lock().await.invalidate(&token);
            reply = self.send(call(&self.token().await?, body)).await?;
        }
        reply.into_result(method, &url)
    }

    async fn token(&self) -> Result<String, SellsyError> {
        let mut cache = self.token.lock().await;
        if let Some(token) = cache.fresh(Instant::now()) {
            return Ok(token.to_owned());
        }
        let url = &self.config.token_url;
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.config.client_id.clone()),
            ("client_secret", self.config.client_secret.clone()),
        ];
        let call = Call {
            url: url.clone(),
            headers: Vec::new(),
            body: Body::Form(form),
        };
        let mut body = self.send(call).await?.into_result("POST", url)?;
        let Some(Value::String(token)) = body.get_mut("access_token").map(Value::take) else {
            let missing = serde_json::json!({"error": {"message": "no access_token in answer"}});
            return Err(SellsyError::status("POST", url, 200, &missing));
        };
        cache.store(token.clone(), body.get("expires_in"), Instant::now());
        Ok(token)
    }

    async fn send(&self, call: Call) -> Result<Reply, SellsyError> {
        let agent = self.agent.clone();
        let (method, url) = (call.body.method(), call.url.clone());
        let exchange = tokio::task::spawn_blocking(move || exchange(&agent, call));
        match exchange.await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(err)) => Err(SellsyError::network(method, &url, err)),
            Err(join) => Err(SellsyError::network(method, &url, join)),
        }
    }
}

impl Body {
    fn method(&self) -> &'static str {
        match self {
            Self::None => "GET",
            Self::Json(_) | Self::Form(_) => "POST",
        }
    }
}

impl Reply {
    fn into_result(self, method: &'static str, url: &str) -> Result<Value, SellsyError> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        let retry_after = parse_retry_after(self.retry_after.as_deref(), SystemTime::now());
        Err(SellsyError::status(method, url, self.status, &self.body).with_retry_after(retry_after))
    }
}

/// Sends `call` and reads the whole answer (blocking).
fn exchange(agent: &ureq::Agent, call: Call) -> Result<Reply, ureq::Error> {
    let mut response = match call.body {
        Body::None => with_headers(agent.get(&call.url), &call.headers).call()?,
        Body::Json(json) => with_headers(agent.post(&call.url), &call.headers)
            .header("content-type", JSON)
            .send(json)?,
        Body::Form(form) => with_headers(agent.post(&call.url), &call.headers)
            .send_form(form.iter().map(|(k, v)| (*k, v.as_str())))?,
    };
    let retry_after = response.headers().get("retry-after");
    let retry_after = retry_after.and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = response.body_mut().read_to_string()?;
    let body = match text.as_str() {
        "" => Value::Null,
        text => serde_json::from_str(text).unwrap_or(Value::String(text.to_owned())),
    };
    Ok(Reply {
        status: response.status().as_u16(),
        retry_after,
        body,
    })
}

fn with_headers<B>(
    mut request: ureq::RequestBuilder<B>,
    headers: &[(&'static str, String)],
) -> ureq::RequestBuilder<B> {
    request = request.header("accept", JSON);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request
}
