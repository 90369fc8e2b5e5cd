//! The alert engine's health for `/readyz`: whether the incident store commits, and whether the
//! engine makes progress. Since a reading is acknowledged only after the engine's commit, an
//! engine that cannot commit (or is stuck) stops every acknowledgement: a load balancer and an
//! operator must see that at once, with the reason.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// How long one piece of engine work (evaluate and commit a batch, a tick, an action) may take
/// before the engine counts as stalled.
pub(crate) const STALL_AFTER_MS: i64 = 10_000;

/// Shared between the engine (writer) and the HTTP edge (reader).
#[derive(Debug, Default)]
pub struct EngineHealth {
    /// The last commit to the incident store failed (it is being retried).
    commit_failing: AtomicBool,
    /// Epoch ms at which the current piece of work started; 0 while idle.
    busy_since_ms: AtomicI64,
}

/// What `/readyz` says of the alert engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineState {
    /// Evaluating and committing.
    Ok,
    /// The incident store refuses commits (retried; acknowledgements wait).
    StoreFailing,
    /// One piece of work has run longer than [`STALL_AFTER_MS`].
    Stalled,
}

impl EngineState {
    /// The name `/readyz` reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            EngineState::Ok => "ok",
            EngineState::StoreFailing => "incident_store_failing",
            EngineState::Stalled => "stalled",
        }
    }
}

impl EngineHealth {
    /// The engine starts a piece of work at `now_ms`.
    pub(crate) fn busy(&self, now_ms: i64) {
        self.busy_since_ms.store(now_ms.max(1), Ordering::Relaxed);
    }

    /// The engine finished its piece of work.
    pub(crate) fn idle(&self) {
        self.busy_since_ms.store(0, Ordering::Relaxed);
    }

    /// Records the outcome of a commit attempt.
    pub(crate) fn committed(&self, ok: bool) {
        self.commit_failing.store(!ok, Ordering::Relaxed);
    }

    /// The engine's state at `now_ms`.
    pub fn state(&self, now_ms: i64) -> EngineState {
        if self.commit_failing.load(Ordering::Relaxed) {
            return EngineState::StoreFailing;
        }
        let since = self.busy_since_ms.load(Ordering::Relaxed);
        if since > 0 && now_ms.saturating_sub(since) > STALL_AFTER_MS {
            return EngineState::Stalled;
        }
        EngineState::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_is_stalled_only_when_one_piece_of_work_outlasts_the_limit() {
        let h = EngineHealth::default();
        assert_eq!(h.state(1_000_000), EngineState::Ok, "idle is healthy");
        h.busy(1_000_000);
        assert_eq!(h.state(1_000_000 + STALL_AFTER_MS), EngineState::Ok);
        assert_eq!(h.state(1_000_001 + STALL_AFTER_MS), EngineState::Stalled);
        h.idle();
        assert_eq!(h.state(9_000_000), EngineState::Ok);
    }

    #[test]
    fn a_failing_commit_is_reported_until_a_commit_succeeds() {
        let h = EngineHealth::default();
        h.committed(false);
        assert_eq!(h.state(0).as_str(), "incident_store_failing");
        h.committed(true);
        assert_eq!(h.state(0), EngineState::Ok);
    }
}
