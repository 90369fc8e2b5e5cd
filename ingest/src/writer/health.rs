//! The store's health as the writer last saw it, read by `/readyz` and the status page.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;

/// Health of the store as the writer last saw it (for `/readyz`).
#[derive(Debug, Default)]
pub struct StoreHealth {
    /// The last write attempt failed.
    pub failing: AtomicBool,
    /// The store refuses our credentials.
    pub unauthorized: AtomicBool,
    /// Epoch ms of the last successful write (0 = none yet).
    pub last_ok_ms: AtomicI64,
    /// The store is unavailable and batches go to the disk spool (ingestion continues).
    pub spooling: AtomicBool,
    /// The spool is full (or failing): acknowledgements wait for the store.
    pub spool_full: AtomicBool,
    /// The store answered 404: its message naming the missing bucket, organization or database.
    missing: Mutex<Option<String>>,
}

impl StoreHealth {
    /// A write succeeded at `now_ms`.
    pub(crate) fn written(&self, now_ms: i64) {
        self.failing.store(false, Ordering::Relaxed);
        self.unauthorized.store(false, Ordering::Relaxed);
        self.last_ok_ms.store(now_ms, Ordering::Relaxed);
        if let Ok(mut m) = self.missing.lock() {
            *m = None;
        }
    }

    /// A write found its bucket, organization or database missing; true the first time (for
    /// one report), false while it stays missing.
    pub(crate) fn missing(&self, message: &str) -> bool {
        self.failing.store(true, Ordering::Relaxed);
        match self.missing.lock() {
            Ok(mut m) => m.replace(message.to_owned()).is_none(),
            Err(_) => false,
        }
    }

    /// The store's message while the write target is missing (for `/readyz`).
    pub fn missing_target(&self) -> Option<String> {
        self.missing.lock().ok().and_then(|m| m.clone())
    }

    /// A write failed; `unauthorized` when the store refused the credentials.
    pub(crate) fn failed(&self, unauthorized: bool) {
        self.failing.store(true, Ordering::Relaxed);
        if unauthorized {
            self.unauthorized.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_target_is_reported_once_and_cleared_by_a_write() {
        let h = StoreHealth::default();
        assert!(h.missing("HTTP 404: database not found: \"x\""), "first time: report");
        assert!(!h.missing("HTTP 404: database not found: \"x\""), "still missing: no second report");
        assert_eq!(h.missing_target().as_deref(), Some("HTTP 404: database not found: \"x\""));
        h.written(1);
        assert_eq!(h.missing_target(), None);
        assert!(h.missing("HTTP 404: again"), "missing again after a write: report again");
    }
}
