//! Command-line plumbing shared by the examples: the common flags (`--redis-url`,
//! `--prefix`, `--bullmq-major`, `--cluster`), positional arguments and exit codes; and in
//! [`bench_data`], the job data the benchmarks send.

use std::collections::HashMap;
use std::fmt;

use bullmq_rs::{BullmqMajor, ConnectionOptions, Topology};

pub mod bench_data;

/// Exit code for a failure at run time (e.g. Redis unreachable).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for bad arguments, JSON or job options.
pub const EXIT_USAGE: i32 = 2;

/// The flags with a value every example takes.
const COMMON_FLAGS: [&str; 4] = ["redis-url", "prefix", "bullmq-major", "sentinel"];

/// The connection flags every example takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `--redis-url`, else `REDIS_URL`, else `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `--prefix`, default `bull`.
    pub prefix: String,
    /// `--bullmq-major`, default 6.
    pub major: BullmqMajor,
    /// `--cluster` (the URL is any node of a Redis Cluster) or `--sentinel MASTER` (the
    /// URL is a sentinel, or several comma-separated); by default one server.
    pub topology: Topology,
}

impl Connection {
    /// How to reach Redis, for any builder's `.connection(..)`.
    pub fn options(&self) -> ConnectionOptions {
        ConnectionOptions::default().topology(self.topology.clone())
    }
}

/// The command line split into common flags, other flags and positional arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The connection flags.
    pub connection: Connection,
    /// Positional arguments, in order.
    pub positional: Vec<String>,
    flags: HashMap<String, String>,
    switches: Vec<String>,
}

/// A command line that cannot be used; printed as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Args {
    /// Parses `args` (without the program name). `extra_flags` names the flags, besides
    /// the common ones, that take a value; `--flag value` and `--flag=value` both work.
    ///
    /// # Errors
    /// An unknown flag, a flag without value, or a bad `--bullmq-major`.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        extra_flags: &[&str],
    ) -> Result<Self, UsageError> {
        Self::parse_with_switches(args, extra_flags, &[])
    }

    /// [`Args::parse`] where the flags named in `switches` take no value (`--force`);
    /// [`Args::switch`] tells whether each was given.
    ///
    /// # Errors
    /// As [`Args::parse`].
    pub fn parse_with_switches(
        args: impl IntoIterator<Item = String>,
        extra_flags: &[&str],
        switches: &[&str],
    ) -> Result<Self, UsageError> {
        let mut flags = HashMap::new();
        let mut given_switches = Vec::new();
        let mut positional = Vec::new();
        let mut cluster = false;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--cluster" {
                cluster = true;
                continue;
            }
            if let Some(switch) = arg
                .strip_prefix("--")
                .filter(|name| switches.contains(name))
            {
                given_switches.push(switch.to_owned());
                continue;
            }
            let Some(flag) = arg.strip_prefix("--") else {
                positional.push(arg);
                continue;
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = args
                        .next()
                        .ok_or_else(|| UsageError(format!("--{flag} needs a value")))?;
                    (flag.to_owned(), value)
                }
            };
            if !COMMON_FLAGS.contains(&name.as_str()) && !extra_flags.contains(&name.as_str()) {
                return Err(UsageError(format!("unknown flag --{name}")));
            }
            flags.insert(name, value);
        }
        let major = match flags.get("bullmq-major") {
            Some(value) => value
                .parse()
                .map_err(|err| UsageError(format!("--bullmq-major: {err}")))?,
            None => BullmqMajor::V6,
        };
        let topology = match (flags.get("sentinel"), cluster) {
            (Some(_), true) => {
                return Err(UsageError(
                    "--cluster and --sentinel exclude each other".to_owned(),
                ));
            }
            (Some(master), false) => Topology::sentinel(master),
            (None, true) => Topology::Cluster,
            (None, false) => Topology::Single,
        };
        let connection = Connection {
            redis_url: flags
                .get("redis-url")
                .cloned()
                .or_else(|| {
                    std::env::var("REDIS_URL")
                        .ok()
                        .filter(|url| !url.is_empty())
                })
                .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned()),
            prefix: flags
                .get("prefix")
                .cloned()
                .unwrap_or_else(|| bullmq_rs::DEFAULT_PREFIX.to_owned()),
            major,
            topology,
        };
        Ok(Self {
            connection,
            positional,
            flags,
            switches: given_switches,
        })
    }

    /// The value of an extra flag, if given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    /// Whether the switch `--name` (declared in [`Args::parse_with_switches`]) was given.
    pub fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|given| given == name)
    }

    /// The names of the extra flags and switches given, the common ones left out.
    pub fn given(&self) -> impl Iterator<Item = &str> {
        let flags = self.flags.keys().map(String::as_str);
        flags
            .filter(|name| !COMMON_FLAGS.contains(name))
            .chain(self.switches.iter().map(String::as_str))
    }

    /// The value of flag `--name` as a whole number, if given.
    ///
    /// # Errors
    /// A value that is not a whole number, named in the message.
    pub fn number(&self, name: &str) -> Result<Option<u64>, UsageError> {
        self.flag(name)
            .map(|value| {
                value
                    .parse()
                    .map_err(|_| UsageError(format!("--{name}: {value:?} is not a number")))
            })
            .transpose()
    }

    /// [`Args::number`] with a default, for the benchmarks: a bad value ends the program.
    pub fn number_or(&self, name: &str, default: u64) -> u64 {
        self.number(name)
            .unwrap_or_else(|err| fail(&err.0))
            .unwrap_or(default)
    }
}

/// Resolves with the signal's name at the first SIGINT or SIGTERM. The handlers are
/// installed now, so a signal arriving before the future is polled is not missed.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

/// Prints `error: <message>` and exits 1: for the benchmark commands, where any failure
/// ends the run.
pub fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(EXIT_FAILURE)
}

/// The exit code for a library error: bad options are the caller's (2), the rest is run time (1).
pub fn exit_code(err: &bullmq_rs::Error) -> i32 {
    match err {
        bullmq_rs::Error::InvalidOption { .. }
        | bullmq_rs::Error::InvalidQueue { .. }
        | bullmq_rs::Error::InvalidFlow(_)
        | bullmq_rs::Error::InvalidUrl(_) => EXIT_USAGE,
        _ => EXIT_FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args, UsageError> {
        Args::parse(line.split_whitespace().map(str::to_owned), &["concurrency"])
    }

    #[test]
    fn flags_and_positionals_mix() {
        let args = parse("--prefix {p} q --bullmq-major=5 --cluster name --concurrency 4").unwrap();
        assert_eq!(args.connection.topology, Topology::Cluster);
        assert_eq!(args.positional, ["q", "name"]);
        assert_eq!(
            (args.connection.prefix.as_str(), args.connection.major),
            ("{p}", BullmqMajor::V5)
        );
        assert_eq!(args.flag("concurrency"), Some("4"));
        assert_eq!(args.number("concurrency"), Ok(Some(4)));
        assert_eq!(
            args.number("prefix").unwrap_err().0,
            r#"--prefix: "{p}" is not a number"#
        );
    }

    #[test]
    fn sentinel_names_the_master_and_excludes_cluster() {
        let args = parse("--sentinel mymaster q").unwrap();
        assert_eq!(args.connection.topology, Topology::sentinel("mymaster"));
        assert_eq!(args.positional, ["q"]);
        let err = parse("--cluster --sentinel=m q").unwrap_err();
        assert!(err.0.contains("exclude"), "{err}");
    }

    #[test]
    fn switches_take_no_value() {
        let line = "q retry --force 7 --count 3";
        let args = Args::parse_with_switches(
            line.split_whitespace().map(str::to_owned),
            &["count"],
            &["force", "all"],
        )
        .unwrap();
        assert_eq!(args.positional, ["q", "retry", "7"]);
        assert!(args.switch("force") && !args.switch("all"));
        assert_eq!(args.number("count"), Ok(Some(3)));
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        assert_eq!(parse("--nope 1").unwrap_err().0, "unknown flag --nope");
        assert_eq!(parse("q --prefix").unwrap_err().0, "--prefix needs a value");
        assert!(
            parse("--bullmq-major 7")
                .unwrap_err()
                .0
                .contains("expected 5 or 6")
        );
    }
}
