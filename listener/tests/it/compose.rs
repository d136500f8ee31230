//! `docker-compose.yml` and the listener's configuration agree (no Docker engine runs
//! here, so the file is checked, not run): every variable given to the listener is one it
//! reads and parses, the listener and the worker name the same queue, prefix and Redis,
//! the published port is the one it listens on, and Redis keeps an fsync'd AOF.

use std::collections::BTreeMap;

use clap::{CommandFactory, Parser};
use listener::Config;

/// The `environment:` map of each service, read from the compose file's simple layout
/// (`services:` → two-space service names → four-space keys → six-space entries).
fn environments(compose: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut services: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let (mut in_services, mut service, mut in_env) = (false, None::<String>, false);
    for line in compose
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
    {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        match indent {
            0 => in_services = text == "services:",
            2 if in_services => {
                service = Some(text.trim_end_matches(':').to_owned());
                in_env = false;
            }
            4 => in_env = text == "environment:",
            6 if in_env => {
                let (key, value) = text.split_once(':').expect("KEY: value");
                let value = value.trim().trim_matches('"').trim_matches('\'').to_owned();
                services
                    .entry(service.clone().expect("inside a service"))
                    .or_default()
                    .insert(key.to_owned(), value);
            }
            _ => {}
        }
    }
    services
}

#[test]
fn compose_and_listener_configuration_agree() {
    let compose = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docker-compose.yml"
    ))
    .unwrap();
    let services = environments(&compose);
    let listener = &services["listener"];
    let worker = &services["invoice-worker"];

    let known: Vec<String> = Config::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    for key in listener.keys() {
        assert!(known.contains(key), "the listener reads no variable {key}");
    }
    let args: Vec<String> = Config::command()
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let value = listener.get(&env)?;
            // ${VAR:?message} is filled in by compose; any value parses the same way.
            let value = if value.starts_with("${") {
                "key".to_owned()
            } else {
                value.clone()
            };
            Some(format!("--{}={value}", arg.get_long()?))
        })
        .collect();
    let config = Config::try_parse_from(std::iter::once("sellsy-listener".to_owned()).chain(args))
        .unwrap_or_else(|err| panic!("the compose environment does not parse: {err}"));

    for key in ["QUEUE_NAME", "BULLMQ_PREFIX", "BULLMQ_MAJOR", "REDIS_URL"] {
        assert_eq!(
            listener.get(key),
            worker.get(key),
            "{key} differs between the listener and the worker"
        );
    }
    assert!(
        compose.contains(&format!(
            "\"{}:{}\"",
            config.listen.port(),
            config.listen.port()
        )),
        "published port"
    );
    assert_eq!(config.spool_dir.to_str(), Some("/spool"));
    assert!(
        compose.contains("- spool:/spool"),
        "the spool lives on a volume"
    );
    assert!(
        compose.contains("\"--appendonly\", \"yes\"")
            && compose.contains("\"--appendfsync\", \"always\"")
    );
    assert!(compose.contains("http://127.0.0.1:3000/readyz"));
}
