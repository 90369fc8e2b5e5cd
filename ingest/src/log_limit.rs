//! Log rate limiting: a hostile or broken publisher can send thousands of bad messages a
//! second, and each must not cost a log line. The metrics count every one; the log says what
//! happened once a second per kind of event, with how many it left out.

use std::collections::HashMap;

/// Emits a log line at most once per interval per key, counting what it suppressed.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval_ms: i64,
    last: HashMap<&'static str, (i64, u64)>,
}

impl RateLimiter {
    /// A limiter allowing one event per `interval_ms` per key.
    pub(crate) fn new(interval_ms: i64) -> RateLimiter {
        RateLimiter { interval_ms, last: HashMap::new() }
    }

    /// `Some(suppressed_since_last)` when an event for `key` at `now_ms` may be logged.
    pub(crate) fn allow(&mut self, key: &'static str, now_ms: i64) -> Option<u64> {
        let entry = self.last.entry(key).or_insert((i64::MIN, 0));
        if entry.0 == i64::MIN || now_ms - entry.0 >= self.interval_ms {
            let suppressed = entry.1;
            *entry = (now_ms, 0);
            Some(suppressed)
        } else {
            entry.1 += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_allows_one_event_per_second_per_key_and_counts_the_rest() {
        let mut r = RateLimiter::new(1000);
        assert_eq!(r.allow("a", 0), Some(0));
        assert_eq!(r.allow("a", 10), None);
        assert_eq!(r.allow("a", 999), None);
        assert_eq!(r.allow("b", 999), Some(0));
        assert_eq!(r.allow("a", 1000), Some(2));
        assert_eq!(r.allow("a", 1001), None);
    }
}
