//! `backoff`: a number of ms, or `{type, delay, jitter}`.

use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::millis;

/// How long a worker waits before retrying a failed job.
///
/// BullMQ accepts a plain number of ms (stored as `{"type":"fixed","delay":n}`) or an
/// object; a `type` other than `fixed` and `exponential` names a custom strategy of the
/// worker.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed {
        /// The delay.
        delay: Option<Duration>,
        /// 0 to 1: how much of the delay may be randomly cut.
        jitter: Option<f64>,
    },
    /// `delay * 2^(retry - 1)`.
    Exponential {
        /// The first delay.
        delay: Option<Duration>,
        /// 0 to 1: how much of the delay may be randomly cut.
        jitter: Option<f64>,
    },
    /// A strategy registered on the workers under this name.
    Custom {
        /// The strategy's name (`type`).
        strategy: String,
        /// Passed to the strategy.
        delay: Option<Duration>,
        /// Passed to the strategy.
        jitter: Option<f64>,
    },
}

impl Backoff {
    /// A fixed delay, as the plain-number form gives.
    pub fn fixed(delay: Duration) -> Self {
        Self::Fixed {
            delay: Some(delay),
            jitter: None,
        }
    }

    /// An exponential backoff starting at `delay`.
    pub fn exponential(delay: Duration) -> Self {
        Self::Exponential {
            delay: Some(delay),
            jitter: None,
        }
    }

    /// The name BullMQ stores in `type`.
    pub fn kind(&self) -> &str {
        match self {
            Self::Fixed { .. } => "fixed",
            Self::Exponential { .. } => "exponential",
            Self::Custom { strategy, .. } => strategy,
        }
    }

    /// The configured delay.
    pub fn delay(&self) -> Option<Duration> {
        match self {
            Self::Fixed { delay, .. }
            | Self::Exponential { delay, .. }
            | Self::Custom { delay, .. } => *delay,
        }
    }

    /// The configured jitter.
    pub fn jitter(&self) -> Option<f64> {
        match self {
            Self::Fixed { jitter, .. }
            | Self::Exponential { jitter, .. }
            | Self::Custom { jitter, .. } => *jitter,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackoffObject {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "millis")]
    delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jitter: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BackoffForm {
    Millis(u64),
    Object(BackoffObject),
}

impl Serialize for Backoff {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        BackoffObject {
            kind: self.kind().to_owned(),
            delay: self.delay(),
            jitter: self.jitter(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Backoff {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let form = BackoffForm::deserialize(deserializer)
            .map_err(|_| D::Error::custom("expected a number of ms or {type, delay, jitter}"))?;
        Ok(match form {
            BackoffForm::Millis(ms) => Self::fixed(Duration::from_millis(ms)),
            BackoffForm::Object(BackoffObject {
                kind,
                delay,
                jitter,
            }) => match kind.as_str() {
                "fixed" => Self::Fixed { delay, jitter },
                "exponential" => Self::Exponential { delay, jitter },
                _ => Self::Custom {
                    strategy: kind,
                    delay,
                    jitter,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_number_is_a_fixed_backoff_stored_as_an_object() {
        let backoff: Backoff = serde_json::from_str("1000").unwrap();
        assert_eq!(backoff, Backoff::fixed(Duration::from_secs(1)));
        assert_eq!(
            serde_json::to_string(&backoff).unwrap(),
            r#"{"type":"fixed","delay":1000}"#
        );
    }

    #[test]
    fn objects_keep_type_delay_and_jitter() {
        let backoff: Backoff =
            serde_json::from_str(r#"{"type":"exponential","delay":200,"jitter":0.5}"#).unwrap();
        assert_eq!(
            backoff,
            Backoff::Exponential {
                delay: Some(Duration::from_millis(200)),
                jitter: Some(0.5)
            }
        );
        let custom: Backoff = serde_json::from_str(r#"{"type":"linear"}"#).unwrap();
        assert_eq!(custom.kind(), "linear");
    }

    #[test]
    fn other_shapes_are_refused() {
        assert!(serde_json::from_str::<Backoff>(r#""fast""#).is_err());
        assert!(serde_json::from_str::<Backoff>("-5").is_err());
        assert!(serde_json::from_str::<Backoff>(r#"{"type":"fixed","delay":1,"x":2}"#).is_err());
    }
}
