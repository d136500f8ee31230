//! The listener's configuration: every flag with its environment variable, typed at the
//! edge. The doc comment of each field is its `--help` line.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bullmq_rs::{BullmqMajor, JobOptions};
use clap::{Parser, ValueEnum};

use crate::signature::{Secret, SignatureScheme};

/// Sellsy webhooks into BullMQ: verify, store durably, answer fast.
#[derive(Debug, Clone, Parser)]
#[command(name = "sellsy-listener", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long = "listen", env = "LISTEN_ADDR", default_value = "0.0.0.0:3000")]
    pub listen: SocketAddr,

    /// Redis URL (`redis://[user:password@]host:port[/db]`).
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: RedisUrl,

    /// The Redis URL is a node of a Redis Cluster (the prefix then needs a hash tag such as {sellsy}).
    #[arg(long, env = "REDIS_CLUSTER")]
    pub redis_cluster: bool,

    /// The Redis URL is a sentinel (several: comma-separated) and this is the name it monitors the primary under; after a failover, events go to the new primary.
    #[arg(
        long,
        env = "REDIS_SENTINEL_MASTER",
        value_name = "MASTER",
        conflicts_with = "redis_cluster"
    )]
    pub redis_sentinel_master: Option<String>,

    /// BullMQ queue the events are added to.
    #[arg(long = "queue", env = "QUEUE_NAME", default_value = "sellsy-webhooks")]
    pub queue: String,

    /// BullMQ key prefix (use a hash tag such as {sellsy} on Redis Cluster).
    #[arg(long, env = "BULLMQ_PREFIX", default_value = bullmq_rs::DEFAULT_PREFIX)]
    pub prefix: String,

    /// BullMQ major whose Redis layout is written: 5 or 6.
    #[arg(long, env = "BULLMQ_MAJOR", default_value = "6", value_parser = parse_major)]
    pub bullmq_major: BullmqMajor,

    /// Job name of each event.
    #[arg(long, env = "JOB_NAME", default_value = "event")]
    pub job_name: String,

    /// Default BullMQ job options, as BullMQ JSON (attempts, backoff, removeOnComplete...).
    #[arg(long, env = "DEFAULT_JOB_OPTIONS", default_value = r#"{"removeOnComplete":true}"#, value_parser = parse_job_options)]
    pub job_options: JobOptions,

    /// How long a redelivered event is recognised and not enqueued again, in seconds.
    #[arg(long = "dedup-ttl-secs", env = "DEDUP_TTL_SECS", default_value = "86400", value_parser = parse_secs)]
    pub dedup_ttl: Duration,

    /// Start without any signing key and accept webhooks unchecked (without it, no key means no start).
    #[arg(long, env = "ALLOW_UNSIGNED", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_unsigned: bool,

    /// Signing keys, comma-separated (several are active at once during a rotation); spaces around each are dropped.
    #[arg(
        long = "secret",
        env = "SELLSY_WEBHOOK_SECRET",
        value_delimiter = ',',
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub secrets: Vec<Secret>,

    /// File holding signing keys, one per line, spaces around each dropped (added to --secret).
    #[arg(long, env = "SELLSY_WEBHOOK_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,

    /// Signature scheme: Sellsy's SHA-1 of key and body, or an HMAC.
    #[arg(long, env = "SIGNATURE_SCHEME", value_enum, default_value_t = SignatureScheme::SellsySha1)]
    pub signature_scheme: SignatureScheme,

    /// What a request with a missing or wrong signature gets: 401, or 200 with the event
    /// parked in the quarantine queue.
    #[arg(long, env = "ON_BAD_SIGNATURE", value_enum, default_value_t = BadSignature::Reject)]
    pub on_bad_signature: BadSignature,

    /// Queue that receives badly signed events when --on-bad-signature is quarantine.
    #[arg(
        long,
        env = "QUARANTINE_QUEUE",
        default_value = "sellsy-webhooks-quarantine"
    )]
    pub quarantine_queue: String,

    /// How long a quarantined request is kept before it is cleaned, in seconds.
    #[arg(long = "quarantine-ttl-secs", env = "QUARANTINE_TTL_SECS", default_value = "604800", value_parser = parse_secs)]
    pub quarantine_ttl: Duration,

    /// Most requests quarantined per second; past it, 401.
    #[arg(long, env = "QUARANTINE_MAX_PER_SEC", default_value = "10", value_parser = parse_positive_u32)]
    pub quarantine_max_per_sec: u32,

    /// Largest body quarantined, in bytes; larger ones get 401.
    #[arg(long, env = "QUARANTINE_MAX_BODY_BYTES", default_value = "65536", value_parser = parse_positive)]
    pub quarantine_max_body_bytes: usize,

    /// Most jobs kept in the quarantine queue; past it, 401.
    #[arg(long, env = "QUARANTINE_MAX_JOBS", default_value = "10000", value_parser = parse_positive_u64)]
    pub quarantine_max_jobs: u64,

    /// Directory of the local spool that keeps events while Redis is unreachable.
    #[arg(long, env = "SPOOL_DIR", default_value = "./spool", global = true)]
    pub spool_dir: PathBuf,

    /// Largest size of the spool file on disk, in bytes; past it events get 503.
    #[arg(long, env = "SPOOL_MAX_BYTES", default_value = "1073741824", value_parser = parse_positive_u64)]
    pub spool_max_bytes: u64,

    /// Largest accepted body in bytes; larger bodies get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value = "1048576", value_parser = parse_positive)]
    pub max_body_bytes: usize,

    /// How long to wait for Redis before the event goes to the spool, in ms.
    #[arg(long = "redis-deadline-ms", env = "REDIS_DEADLINE_MS", default_value = "100", value_parser = parse_millis)]
    pub redis_deadline: Duration,

    /// Replicas that must acknowledge an event (Redis WAIT, within the Redis deadline)
    /// before it counts as stored in Redis; otherwise it goes to the spool. 0: do not wait.
    #[arg(long, env = "MIN_REPLICAS_ACKS", default_value = "0")]
    pub min_replicas_acks: u32,

    /// How long a client may take to send a whole request (head and body), for every request on a connection, in ms.
    #[arg(long = "client-timeout-ms", env = "CLIENT_TIMEOUT_MS", default_value = "5000", value_parser = parse_millis)]
    pub client_timeout: Duration,

    /// How long an idle kept-alive connection stays open, in seconds.
    #[arg(long = "keep-alive-secs", env = "KEEP_ALIVE_SECS", default_value = "15", value_parser = parse_secs)]
    pub keep_alive: Duration,

    /// Most open client connections, for the whole process.
    #[arg(long, env = "MAX_CONNECTIONS", default_value = "10000", value_parser = parse_positive)]
    pub max_connections: usize,

    /// Body bytes received and not yet answered, across all connections; beyond it, 503.
    #[arg(long, env = "MAX_INFLIGHT_BODY_BYTES", default_value = "268435456", value_parser = parse_positive)]
    pub max_inflight_body_bytes: usize,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "HTTP_WORKERS")]
    pub workers: Option<usize>,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Instead of serving: work on the spool of a stopped listener.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The Redis URL, or several comma-separated sentinel URLs. `Debug` and `Display` show it
/// with each password replaced by `***`, so a Config or a URL in a log line keeps it
/// secret; [`RedisUrl::expose`] is for connecting only. (The errors of the redis crate and
/// bullmq-rs name host and port, never the URL.)
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL as given, password included: pass it to the connection, nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RedisUrl {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(Self(url.to_owned()))
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, url) in self.0.split(',').enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write_redacted(f, url)?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// Writes one URL with the password of `scheme://user:password@host` as `***`; the user
/// name stays, for it names an ACL user and is no secret.
fn write_redacted(f: &mut fmt::Formatter<'_>, url: &str) -> fmt::Result {
    let authority_start = url.find("://").map_or(0, |at| at + 3);
    let (head, rest) = url.split_at(authority_start);
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_len].rfind('@') else {
        return f.write_str(url);
    };
    let (userinfo, host) = rest.split_at(at);
    match userinfo.split_once(':') {
        Some((user, _password)) => write!(f, "{head}{user}:***{host}"),
        None => write!(f, "{head}{userinfo}{host}"),
    }
}

/// What the binary does instead of serving.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Inspect or repair the spool of a stopped listener (same --spool-dir / SPOOL_DIR).
    #[command(subcommand)]
    Spool(SpoolCommand),
}

/// `sellsy-listener spool …`: each prints JSON on stdout and exits 0, or 2 with one line.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum SpoolCommand {
    /// Prints {"pending":N,"dead_letters":N,"bytes":N}.
    Stats,
    /// Prints one JSON record per line: job id, body, when received, last error.
    Export {
        /// Export the dead letters instead of the pending records.
        #[arg(long)]
        dead_letters: bool,
    },
    /// Moves every dead letter back to the pending records, forgetting any earlier add attempt so that each is sent again (drained at the next start), and prints {"requeued":N}.
    RequeueDeadLetters,
}

/// Answer to a request whose signature does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BadSignature {
    /// 401, nothing stored.
    Reject,
    /// 200, the request parked in the quarantine queue for inspection and replay.
    Quarantine,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// How the Redis of `--redis-url` is deployed.
    pub fn topology(&self) -> bullmq_rs::Topology {
        match (&self.redis_sentinel_master, self.redis_cluster) {
            (Some(master), _) => bullmq_rs::Topology::sentinel(master),
            (None, true) => bullmq_rs::Topology::Cluster,
            (None, false) => bullmq_rs::Topology::Single,
        }
    }

    /// All active signing keys: `--secret` plus the non-blank lines of `--secret-file`, each
    /// trimmed. Empty only with `--allow-unsigned`: no key, no start.
    ///
    /// # Errors
    /// [`crate::Error::Config`], in one line that never shows a key, when the secret file
    /// cannot be read or holds no key, or when there is no key at all and unsigned webhooks
    /// are not allowed. (An empty entry of `--secret` is refused by clap while parsing.)
    pub fn all_secrets(&self) -> Result<Vec<Secret>, crate::Error> {
        let mut secrets = self.secrets.clone();
        if let Some(path) = &self.secret_file {
            let text = std::fs::read_to_string(path).map_err(|err| {
                crate::Error::Config(format!("--secret-file {}: {err}", path.display()))
            })?;
            let from_file: Vec<Secret> = text
                .lines()
                .filter_map(|line| parse_secret(line).ok())
                .collect();
            if from_file.is_empty() {
                return Err(crate::Error::Config(format!(
                    "--secret-file {}: holds no signing key",
                    path.display()
                )));
            }
            secrets.extend(from_file);
        }
        if secrets.is_empty() && !self.allow_unsigned {
            return Err(crate::Error::Config(
                "no signing key: set SELLSY_WEBHOOK_SECRET (or --secret, --secret-file), or pass --allow-unsigned to accept unsigned webhooks".to_owned(),
            ));
        }
        Ok(secrets)
    }
}

/// One signing key, spaces around it dropped; an empty or blank one is refused, since a
/// stray comma or blank value must not silently shrink the set of active keys.
fn parse_secret(value: &str) -> Result<Secret, String> {
    match value.trim() {
        "" => Err("a signing key is empty or blank (a stray comma?)".to_owned()),
        key => Ok(Secret::new(key.to_owned())),
    }
}

fn parse_major(value: &str) -> Result<BullmqMajor, String> {
    value
        .parse()
        .map_err(|err: bullmq_rs::Error| err.to_string())
}

fn parse_job_options(value: &str) -> Result<JobOptions, String> {
    let opts: JobOptions =
        serde_json::from_str(value).map_err(|err| format!("not BullMQ job options: {err}"))?;
    if opts.job_id.is_some() || opts.deduplication.is_some() {
        return Err("jobId and deduplication are set per event by the listener".to_owned());
    }
    Ok(opts)
}

fn parse_millis(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("{value:?} is not a number of milliseconds"))
}

fn parse_secs(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(0) | Err(_) => Err(format!("{value:?} is not a positive number of seconds")),
        Ok(secs) => Ok(Duration::from_secs(secs)),
    }
}

fn parse_positive_u64(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(0) | Err(_) => Err(format!("{value:?} is not a positive number")),
        Ok(n) => Ok(n),
    }
}

fn parse_positive_u32(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(0) | Err(_) => Err(format!("{value:?} is not a positive number")),
        Ok(n) => Ok(n),
    }
}

fn parse_positive(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("{value:?} is not a positive number")),
        Ok(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("sellsy-listener").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:3000");
        assert_eq!(
            (
                config.queue.as_str(),
                config.prefix.as_str(),
                config.job_name.as_str()
            ),
            ("sellsy-webhooks", "bull", "event")
        );
        assert_eq!(config.bullmq_major, BullmqMajor::V6);
        assert_eq!(config.max_body_bytes, 1 << 20);
        assert_eq!(config.dedup_ttl, Duration::from_secs(86_400));
        assert_eq!(
            serde_json::to_string(&config.job_options).unwrap(),
            r#"{"removeOnComplete":true}"#
        );
        assert!(config.secrets.is_empty());
    }

    fn key_bytes(config: &Config) -> Vec<Vec<u8>> {
        let secrets = config.all_secrets().unwrap();
        secrets.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// A file in the temp dir, removed on drop.
    struct KeyFile(PathBuf);

    impl KeyFile {
        fn new(label: &str, text: &str) -> Self {
            let name = format!("listener-keys-{label}-{}", std::process::id());
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, text).unwrap();
            Self(path)
        }
    }

    impl Drop for KeyFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn secrets_are_comma_separated() {
        let config = parse(&["--secret", "a,b"]).unwrap();
        assert_eq!(config.all_secrets().unwrap().len(), 2);
    }

    #[test]
    fn keys_from_flags_and_file_are_trimmed_alike() {
        let file = KeyFile::new("trimmed", " c \n\n\td\r\n");
        let path = file.0.to_str().unwrap();
        let config = parse(&["--secret", " a , b\t", "--secret-file", path]).unwrap();
        assert_eq!(key_bytes(&config), [b"a", b"b", b"c", b"d"]);
    }

    #[test]
    fn an_empty_or_blank_key_is_refused_without_showing_the_others() {
        for value in [
            ",",
            "k3y-visible,",
            ",k3y-visible",
            " ",
            "",
            "k3y-visible, ,x",
        ] {
            let err = parse(&["--secret", value]).unwrap_err().to_string();
            assert!(err.contains("--secret"), "{value:?}: {err}");
            assert!(!err.contains("k3y-visible"), "{value:?}: {err}");
        }
        for text in ["", " \n\t\n"] {
            let file = KeyFile::new("blank", text);
            let config = parse(&["--secret-file", file.0.to_str().unwrap()]).unwrap();
            let err = config.all_secrets().unwrap_err().to_string();
            assert!(err.contains("holds no signing key"), "{text:?}: {err}");
        }
    }

    #[test]
    fn no_key_means_no_start_unless_unsigned_is_allowed() {
        let err = parse(&[]).unwrap().all_secrets().unwrap_err().to_string();
        assert!(err.contains("SELLSY_WEBHOOK_SECRET"), "{err}");
        assert!(err.contains("--allow-unsigned"), "{err}");
        assert_eq!(err.lines().count(), 1);
        let unsigned = parse(&["--allow-unsigned"]).unwrap();
        assert!(unsigned.all_secrets().unwrap().is_empty());
        let both = parse(&["--allow-unsigned", "--secret", "k"]).unwrap();
        assert_eq!(key_bytes(&both), [b"k"]);
    }

    #[test]
    fn config_debug_hides_the_redis_password_and_the_keys() {
        let config = parse(&[
            "--redis-url",
            "redis://user:hunter2@host:6379/2",
            "--secret",
            "s3cr3t",
        ])
        .unwrap();

        let debug = format!("{config:?}");

        assert!(
            !debug.contains("hunter2") && !debug.contains("s3cr3t"),
            "{debug}"
        );
        assert!(debug.contains("redis://user:***@host:6379/2"), "{debug}");
        assert_eq!(
            config.redis_url.expose(),
            "redis://user:hunter2@host:6379/2"
        );
    }

    #[test]
    fn every_password_of_a_url_list_is_redacted() {
        let cases = [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://:hunter2@h:1/0", "redis://:***@h:1/0"),
            ("rediss://ada@h:1", "rediss://ada@h:1"),
            ("redis://u:p@ss:w@rd@h:1/0?x=@", "redis://u:***@h:1/0?x=@"),
            (
                "redis://:hunter2@s1:26379,redis://u:hunter2@s2:26379,redis://s3:26379",
                "redis://:***@s1:26379,redis://u:***@s2:26379,redis://s3:26379",
            ),
        ];
        for (url, shown) in cases {
            let Ok(url) = url.parse::<RedisUrl>();
            assert_eq!(url.to_string(), shown);
            assert_eq!(format!("{url:?}"), format!("RedisUrl({shown})"));
        }
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, flag) in [
            (&["--listen", "nowhere"][..], "--listen"),
            (&["--bullmq-major", "7"], "--bullmq-major"),
            (&["--job-options", r#"{"attempt":3}"#], "--job-options"),
            (&["--job-options", r#"{"jobId":"x"}"#], "--job-options"),
            (&["--max-body-bytes", "0"], "--max-body-bytes"),
            (&["--signature-scheme", "md5"], "--signature-scheme"),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }
}
