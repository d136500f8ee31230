//! The cached OAuth2 access token: when it is still good, when to fetch a new one.

use std::time::{Duration, Instant};

use serde_json::Value;

/// Refresh this long before the announced expiry, so a request never leaves with a
/// token that dies in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// `expires_in` is documented, but the spec contradicts itself on its value (sellsy.md
/// §5.2); the shorter one serves when it is missing.
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(3600);

/// At most one token, with its expiry.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    cached: Option<(String, Instant)>,
}

impl TokenCache {
    /// The token, if it is good for more than the refresh margin at `now`.
    pub(crate) fn fresh(&self, now: Instant) -> Option<&str> {
        let (token, expires_at) = self.cached.as_ref()?;
        (now + REFRESH_MARGIN < *expires_at).then_some(token.as_str())
    }

    /// Keeps `token`, valid for `expires_in` (the answer's field: seconds, as a number or
    /// a string; anything else means the default).
    pub(crate) fn store(&mut self, token: String, expires_in: Option<&Value>, now: Instant) {
        let seconds = match expires_in {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let lifetime = seconds
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_EXPIRES_IN, Duration::from_secs_f64);
        self.cached = Some((token, now + lifetime));
    }

    /// Forgets `refused`, unless another job already replaced it.
    pub(crate) fn invalidate(&mut self, refused: &str) {
        if self
            .cached
            .as_ref()
            .is_some_and(|(token, _)| token == refused)
        {
            self.cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_token_is_used_until_a_minute_before_it_expires() {
        let t0 = Instant::now();
        let mut cache = TokenCache::default();
        assert_eq!(cache.fresh(t0), None);
        cache.store("tok-1".into(), Some(&json!(3600)), t0);
        assert_eq!(cache.fresh(t0), Some("tok-1"));
        assert_eq!(cache.fresh(t0 + secs(3539)), Some("tok-1"));
        assert_eq!(cache.fresh(t0 + secs(3540)), None);
    }

    #[test]
    fn expires_in_may_be_a_string_or_missing() {
        let t0 = Instant::now();
        let mut cache = TokenCache::default();
        cache.store("a".into(), Some(&json!("120")), t0);
        assert_eq!(cache.fresh(t0 + secs(59)), Some("a"));
        assert_eq!(cache.fresh(t0 + secs(60)), None);
        for missing in [None, Some(json!(0)), Some(json!("soon")), Some(json!(null))] {
            cache.store("b".into(), missing.as_ref(), t0);
            assert_eq!(cache.fresh(t0 + secs(3539)), Some("b"), "{missing:?}");
        }
    }

    #[test]
    fn only_the_refused_token_is_forgotten() {
        let t0 = Instant::now();
        let mut cache = TokenCache::default();
        cache.store("tok-2".into(), None, t0);
        cache.invalidate("tok-1");
        assert_eq!(cache.fresh(t0), Some("tok-2"));
        cache.invalidate("tok-2");
        assert_eq!(cache.fresh(t0), None);
    }
}
