//! The worker's environment, with the Node worker's names and defaults
//! (node-worker-compat/invoice-worker.js, `configFromEnv`). An empty variable counts as
//! unset, as Node's `||` does.

use std::fmt;
use std::time::Duration;

use bullmq_rs::{BullmqMajor, Limiter};

use super::event::TriggerEvents;

/// Everything the worker reads from its environment.
pub(crate) struct Config {
    /// The Sellsy API client.
    pub(crate) sellsy: SellsyConfig,
    /// `REDIS_URL`.
    pub(crate) redis_url: String,
    /// `QUEUE_NAME`.
    pub(crate) queue_name: String,
    /// `BULLMQ_PREFIX`, also the prefix of the lock and record keys.
    pub(crate) prefix: String,
    /// `BULLMQ_MAJOR`.
    pub(crate) major: BullmqMajor,
    /// `CONCURRENCY`: jobs run at once.
    pub(crate) concurrency: usize,
    /// `LIMITER_MAX` jobs per `LIMITER_DURATION_MS`, across the queue's workers: keeps a
    /// burst under Sellsy's per-account quota (V1 said 5 req/s, a job makes ~2).
    pub(crate) limiter: Limiter,
    /// `INVOICE_TRIGGER_EVENTS`.
    pub(crate) triggers: TriggerEvents,
}

/// The Sellsy side: a Personal API client (no `Debug`: it holds the secret).
pub(crate) struct SellsyConfig {
    /// `SELLSY_CLIENT_ID`.
    pub(crate) client_id: String,
    /// `SELLSY_CLIENT_SECRET`.
    pub(crate) client_secret: String,
    /// `SELLSY_API_BASE`, e.g. `https://api.sellsy.com/v2`.
    pub(crate) api_base: String,
    /// `SELLSY_TOKEN_URL`.
    pub(crate) token_url: String,
    /// `SELLSY_TIMEOUT_MS`: one HTTP exchange, kept 3x under the 60 s estimate lock.
    pub(crate) timeout: Duration,
}

/// A variable that is missing or unusable; printed as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// Reads the variables through `var` (`std::env::var` in `main`).
    ///
    /// # Errors
    /// A missing `SELLSY_CLIENT_ID` or `SELLSY_CLIENT_SECRET`, or a value that does not parse.
    pub(crate) fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|value| !value.is_empty());
        let or = |name: &str, default: &str| get(name).unwrap_or_else(|| default.to_owned());
        let required =
            |name: &str| get(name).ok_or_else(|| ConfigError(format!("{name} is required")));
        let positive = |name: &str, default: u64| positive_int(name, get(name), default);
        let major = or("BULLMQ_MAJOR", "6");
        let sellsy = SellsyConfig {
            client_id: required("SELLSY_CLIENT_ID")?,
            client_secret: required("SELLSY_CLIENT_SECRET")?,
            api_base: or("SELLSY_API_BASE", "https://api.sellsy.com/v2"),
            token_url: or(
                "SELLSY_TOKEN_URL",
                "https://login.sellsy.com/oauth2/access-tokens",
            ),
            timeout: Duration::from_millis(positive("SELLSY_TIMEOUT_MS", 15_000)?),
        };
        Ok(Self {
            sellsy,
            redis_url: or("REDIS_URL", "redis://127.0.0.1:6379"),
            queue_name: or("QUEUE_NAME", "sellsy-webhooks"),
            prefix: or("BULLMQ_PREFIX", "bull"),
            major: major
                .parse()
                .map_err(|err| ConfigError(format!("BULLMQ_MAJOR: {err}")))?,
            concurrency: positive("CONCURRENCY", 2)? as usize,
            limiter: Limiter {
                max: positive("LIMITER_MAX", 2)?,
                duration: Duration::from_millis(positive("LIMITER_DURATION_MS", 1000)?),
            },
            triggers: TriggerEvents::parse(&or("INVOICE_TRIGGER_EVENTS", "step")),
        })
    }
}

fn positive_int(name: &str, value: Option<String>, default: u64) -> Result<u64, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError(format!(
            "{name} must be a positive integer, got {value}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(|name| vars.get(name).cloned())
    }

    const CREDENTIALS: [(&str, &str); 2] = [
        ("SELLSY_CLIENT_ID", "id"),
        ("SELLSY_CLIENT_SECRET", "secret"),
    ];

    #[test]
    fn defaults_are_the_node_workers() {
        let config = config(&CREDENTIALS).unwrap();
        let sellsy = &config.sellsy;
        assert_eq!(
            (sellsy.client_id.as_str(), sellsy.client_secret.as_str()),
            ("id", "secret")
        );
        assert_eq!(sellsy.api_base, "https://api.sellsy.com/v2");
        assert_eq!(
            sellsy.token_url,
            "https://login.sellsy.com/oauth2/access-tokens"
        );
        assert_eq!(sellsy.timeout, Duration::from_secs(15));
        assert_eq!(config.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(
            (config.queue_name.as_str(), config.prefix.as_str()),
            ("sellsy-webhooks", "bull")
        );
        assert_eq!((config.major, config.concurrency), (BullmqMajor::V6, 2));
        let limiter = Limiter {
            max: 2,
            duration: Duration::from_secs(1),
        };
        assert_eq!(config.limiter, limiter);
        assert_eq!(config.triggers, TriggerEvents::Only(vec!["step".into()]));
    }

    #[test]
    fn every_variable_is_read() {
        let mut vars = CREDENTIALS.to_vec();
        vars.extend([
            ("SELLSY_API_BASE", "http://127.0.0.1:9/v2"),
            ("SELLSY_TOKEN_URL", "http://127.0.0.1:9/token"),
            ("SELLSY_TIMEOUT_MS", "250"),
            ("REDIS_URL", "redis://127.0.0.1:7000/2"),
            ("QUEUE_NAME", "q"),
            ("BULLMQ_PREFIX", "{p}"),
            ("BULLMQ_MAJOR", "5"),
            ("CONCURRENCY", "8"),
            ("LIMITER_MAX", "100"),
            ("LIMITER_DURATION_MS", "500"),
            ("INVOICE_TRIGGER_EVENTS", "*"),
        ]);
        let config = config(&vars).unwrap();
        assert_eq!(config.sellsy.api_base, "http://127.0.0.1:9/v2");
        assert_eq!(config.sellsy.token_url, "http://127.0.0.1:9/token");
        assert_eq!(config.sellsy.timeout, Duration::from_millis(250));
        assert_eq!(config.redis_url, "redis://127.0.0.1:7000/2");
        assert_eq!(
            (config.queue_name.as_str(), config.prefix.as_str()),
            ("q", "{p}")
        );
        assert_eq!((config.major, config.concurrency), (BullmqMajor::V5, 8));
        assert_eq!(config.limiter.max, 100);
        assert_eq!(config.limiter.duration, Duration::from_millis(500));
        assert_eq!(config.triggers, TriggerEvents::Any);
    }

    #[test]
    fn missing_or_bad_values_are_one_line_errors() {
        let error = |vars: &[(&str, &str)]| config(vars).err().unwrap().to_string();
        assert_eq!(error(&[]), "SELLSY_CLIENT_ID is required");
        let no_secret = [("SELLSY_CLIENT_ID", "id"), ("SELLSY_CLIENT_SECRET", "")];
        assert_eq!(error(&no_secret), "SELLSY_CLIENT_SECRET is required");
        let with = |extra: (&'static str, &'static str)| {
            let mut vars = CREDENTIALS.to_vec();
            vars.push(extra);
            error(&vars)
        };
        assert_eq!(
            with(("CONCURRENCY", "0")),
            "CONCURRENCY must be a positive integer, got 0"
        );
        assert_eq!(
            with(("SELLSY_TIMEOUT_MS", "soon")),
            "SELLSY_TIMEOUT_MS must be a positive integer, got soon"
        );
        assert!(with(("BULLMQ_MAJOR", "7")).starts_with("BULLMQ_MAJOR: unsupported BullMQ major"));
    }
}
