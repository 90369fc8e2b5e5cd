//! The lease state machine of one partition, pure: every input carries the instant it refers
//! to (an injected monotonic clock), so the Zabbix rule — stop acting at the last successful
//! renewal + lease − margin, measured on this instance's own clock — is unit-tested without
//! sleeping. The database decides who holds the lease (its `now()` times it, see `pg`); this
//! machine only decides when *this* instance may act.
//!
//! A renewal's deadline is counted from the instant the request was *sent*: the database's
//! `now()` that set `expires_at` is somewhere between sending and the answer, so counting from
//! the answer could let the instance act past `expires_at` by the round trip.

use std::time::{Duration, Instant};

/// The lease's timing (validated from `[alerting] partition_lease_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a grant lasts in the database (`expires_at = now() + lease`).
    pub lease: Duration,
    /// How often the leader renews and a standby tries to take over.
    pub renew_every: Duration,
    /// How long before the lease's end the leader stops acting on its own.
    pub margin: Duration,
}

impl LeaseTiming {
    /// Renewal every fifth of the lease and a margin of a fifth (5 s lease: renew every
    /// second, stop acting 4 s after the last successful renewal was sent).
    pub fn from_lease(lease: Duration) -> LeaseTiming {
        LeaseTiming { lease, renew_every: lease / 5, margin: lease / 5 }
    }
}

/// What this instance is for its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not acting; trying to take the lease every `renew_every`.
    Standby,
    /// Holding `epoch`; may act until `acting_until` (monotonic) unless renewed.
    Leader {
        /// The epoch the database granted.
        epoch: i64,
        /// Last successful renewal sent + lease − margin.
        acting_until: Instant,
    },
}

/// Why a leader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostWhy {
    /// No successful renewal before `acting_until` (database unreachable, or this process was
    /// paused).
    Expired,
    /// The database granted the lease to another instance.
    Taken,
    /// The database answered with another epoch than ours: another instance held the lease in
    /// between, so this term's state is stale.
    EpochChanged,
}

/// What an input changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing to do.
    None,
    /// This instance became leader at `epoch`: load the state, then act.
    Acquired {
        /// The granted epoch.
        epoch: i64,
    },
    /// The lease was renewed; keep acting.
    Renewed,
    /// Stop acting now.
    Lost(LostWhy),
}

/// The lease state of one partition on this instance.
#[derive(Debug, Clone)]
pub struct LeaseState {
    timing: LeaseTiming,
    role: Role,
}

impl LeaseState {
    /// A standby.
    pub fn new(timing: LeaseTiming) -> LeaseState {
        LeaseState { timing, role: Role::Standby }
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The timing.
    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// Whether this instance may act at `now`.
    pub fn acting(&self, now: Instant) -> bool {
        matches!(self.role, Role::Leader { acting_until, .. } if now < acting_until)
    }

    /// The database answered an attempt sent at `sent_at`: `Some(epoch)` granted, `None` held
    /// by another instance.
    pub fn answered(&mut self, sent_at: Instant, granted: Option<i64>) -> Change {
        let until = sent_at + self.timing.lease.saturating_sub(self.timing.margin);
        match (self.role, granted) {
            (Role::Standby, None) => Change::None,
            (Role::Standby, Some(epoch)) => {
                self.role = Role::Leader { epoch, acting_until: until };
                Change::Acquired { epoch }
            }
            (Role::Leader { .. }, None) => self.lose(LostWhy::Taken),
            (Role::Leader { epoch, acting_until }, Some(granted)) if granted == epoch => {
                // A late answer to an older request never shortens the deadline; one that
                // arrives after the deadline (a pause) leaves it in the past, and `tick` ends
                // the term.
                self.role = Role::Leader { epoch, acting_until: acting_until.max(until) };
                Change::Renewed
            }
            (Role::Leader { .. }, Some(_)) => self.lose(LostWhy::EpochChanged),
        }
    }

    /// An attempt failed (the database unreachable, an error, a timeout): a leader stops once
    /// its deadline has passed.
    pub fn failed(&mut self, now: Instant) -> Change {
        self.tick(now)
    }

    /// The clock moved to `now`: a leader past its deadline stops.
    pub fn tick(&mut self, now: Instant) -> Change {
        match self.role {
            Role::Leader { acting_until, .. } if now >= acting_until => self.lose(LostWhy::Expired),
            _ => Change::None,
        }
    }

    /// Stops leading whatever the deadline (the term's service failed or was stopped): the
    /// next attempt starts a new term, even at the same epoch.
    pub fn resign(&mut self) {
        self.role = Role::Standby;
    }

    fn lose(&mut self, why: LostWhy) -> Change {
        self.role = Role::Standby;
        Change::Lost(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> LeaseTiming {
        LeaseTiming::from_lease(Duration::from_secs(5))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_five_second_lease_renews_every_second_and_stops_acting_four_seconds_after_the_renewal_was_sent() {
        assert_eq!(timing(), LeaseTiming { lease: ms(5000), renew_every: ms(1000), margin: ms(1000) });
        let t0 = Instant::now();
        let mut s = LeaseState::new(timing());
        assert!(!s.acting(t0));
        assert_eq!(s.answered(t0, Some(7)), Change::Acquired { epoch: 7 });
        assert!(s.acting(t0 + ms(3999)));
        assert!(!s.acting(t0 + ms(4000)));
        assert_eq!(s.tick(t0 + ms(3999)), Change::None);
        assert_eq!(s.tick(t0 + ms(4000)), Change::Lost(LostWhy::Expired));
        assert_eq!(s.role(), Role::Standby);
    }

    #[test]
    fn each_renewal_moves_the_deadline_from_when_it_was_sent_not_when_it_was_answered() {
        let t0 = Instant::now();
        let mut s = LeaseState::new(timing());
        s.answered(t0, Some(1));
        assert_eq!(s.answered(t0 + ms(1000), Some(1)), Change::Renewed);
        assert_eq!(s.role(), Role::Leader { epoch: 1, acting_until: t0 + ms(5000) });
        // An answer to an older request (sent at 500 ms) arriving late never shortens it.
        assert_eq!(s.answered(t0 + ms(500), Some(1)), Change::Renewed);
        assert_eq!(s.role(), Role::Leader { epoch: 1, acting_until: t0 + ms(5000) });
    }

    #[test]
    fn failed_renewals_keep_the_leader_acting_only_until_its_deadline() {
        let t0 = Instant::now();
        let mut s = LeaseState::new(timing());
        s.answered(t0, Some(3));
        for n in 1..4 {
            assert_eq!(s.failed(t0 + ms(1000 * n)), Change::None, "at {n} s");
        }
        assert_eq!(s.failed(t0 + ms(4000)), Change::Lost(LostWhy::Expired));
        assert!(!s.acting(t0 + ms(4000)));
    }

    #[test]
    fn a_paused_leader_that_wakes_after_its_deadline_stops_before_acting() {
        // SIGSTOP at 1 s, SIGCONT at 20 s: the first thing it sees is the clock.
        let t0 = Instant::now();
        let mut s = LeaseState::new(timing());
        s.answered(t0 + ms(1000), Some(2));
        assert!(!s.acting(t0 + ms(20_000)));
        assert_eq!(s.tick(t0 + ms(20_000)), Change::Lost(LostWhy::Expired));
    }

    #[test]
    fn the_lease_taken_by_another_or_granted_at_another_epoch_ends_the_term() {
        let t0 = Instant::now();
        let mut s = LeaseState::new(timing());
        s.answered(t0, Some(4));
        assert_eq!(s.answered(t0 + ms(1000), None), Change::Lost(LostWhy::Taken));
        assert_eq!(s.answered(t0 + ms(2000), None), Change::None, "a standby stays one");
        s.answered(t0 + ms(3000), Some(5));
        assert_eq!(s.answered(t0 + ms(4000), Some(6)), Change::Lost(LostWhy::EpochChanged));
        assert_eq!(s.answered(t0 + ms(4100), Some(6)), Change::Acquired { epoch: 6 }, "a new term");
    }
}
