//! [`LeaderGuard`]: the one question the acting parts ask before each side effect — "may this
//! instance still act?" — answered from the lease's deadline on the monotonic clock, without a
//! lock or a database round trip. The dispatch loop asks it before every send, so a leader
//! that wakes from a pause (SIGSTOP, a long GC-like stall) sends nothing even if its tasks run
//! before the lease task has noticed: the deadline passed while it slept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A shared, cheap-to-clone view of "acting until" (see the module doc).
#[derive(Debug, Clone)]
pub struct LeaderGuard {
    base: Instant,
    /// Nanoseconds after `base` until which this instance may act; 0 = not acting.
    until_ns: Arc<AtomicU64>,
}

impl Default for LeaderGuard {
    fn default() -> Self {
        LeaderGuard::new()
    }
}

impl LeaderGuard {
    /// A guard that does not act until [`LeaderGuard::set`].
    pub fn new() -> LeaderGuard {
        LeaderGuard { base: Instant::now(), until_ns: Arc::new(AtomicU64::new(0)) }
    }

    /// Act until `until` (`None`: stop now).
    pub fn set(&self, until: Option<Instant>) {
        let ns = until
            .map_or(0, |u| u64::try_from(u.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX).max(1));
        self.until_ns.store(ns, Ordering::SeqCst);
    }

    /// Whether this instance may act now.
    pub fn acting(&self) -> bool {
        self.acting_at(Instant::now())
    }

    /// Whether this instance may act at `now`.
    pub fn acting_at(&self, now: Instant) -> bool {
        let until = self.until_ns.load(Ordering::SeqCst);
        let at = u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX);
        until != 0 && at < until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_guard_acts_only_before_its_deadline_and_not_at_all_once_cleared() {
        let g = LeaderGuard::new();
        let now = Instant::now();
        assert!(!g.acting_at(now));
        g.set(Some(now + Duration::from_secs(4)));
        let shared = g.clone();
        assert!(shared.acting_at(now + Duration::from_millis(3999)));
        assert!(!shared.acting_at(now + Duration::from_secs(4)));
        g.set(None);
        assert!(!shared.acting_at(now));
    }
}
