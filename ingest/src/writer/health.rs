//! The store's health as the writer last saw it, read by `/readyz` and the status page.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

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
}

impl StoreHealth {
    /// A write succeeded at `now_ms`.
    pub(crate) fn written(&self, now_ms: i64) {
        self.failing.store(false, Ordering::Relaxed);
        self.unauthorized.store(false, Ordering::Relaxed);
        self.last_ok_ms.store(now_ms, Ordering::Relaxed);
    }

    /// A write failed; `unauthorized` when the store refused the credentials.
    pub(crate) fn failed(&self, unauthorized: bool) {
        self.failing.store(true, Ordering::Relaxed);
        if unauthorized {
            self.unauthorized.store(true, Ordering::Relaxed);
        }
    }
}
