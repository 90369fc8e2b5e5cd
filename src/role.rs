//! What one firegrid process does (DESIGN §9): `all` (everything, one machine), `ingest` (store
//! readings, scaled out on a shared subscription) or `alert` (evaluate, dispatch, serve the API
//! and console). This is the one place that decides which parts a role starts; `run` asks it.
//!
//! The two split roles keep the at-least-once rule of DESIGN §8 each on its own: an `ingest`
//! instance acknowledges a reading once the store (or the spool) has it, an `alert` instance once
//! the engine has committed what it changed. The broker gives each role every reading of its
//! topics (two subscriptions), so neither waits for the other.

use std::fmt;

/// The role of a firegrid process: `[node] role`, or `firegrid run --role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Ingest, alerting, dispatch, the API and the console in one process (the default).
    #[default]
    All,
    /// Readings to the store only; `/metrics`, `/healthz` and `/readyz` over HTTP.
    Ingest,
    /// The alert engine, dispatch, the API and the console; stores its `fire_incident` lines but
    /// no readings.
    Alert,
}

/// The parts a role starts: what `run` wires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleParts {
    /// Readings are written to the store (their ack waits for the store or the spool).
    pub store_readings: bool,
    /// The alert engine evaluates readings (their ack waits for its commit), the dispatch stage
    /// delivers, and the HTTP server serves the incident API and the console.
    pub alerting: bool,
}

impl Role {
    /// Every role, in the order the configuration documents them.
    pub const ALL: [Role; 3] = [Role::All, Role::Ingest, Role::Alert];

    /// The role named `name` (`all`, `ingest`, `alert`).
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The name in `[node] role` and `--role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Ingest => "ingest",
            Role::Alert => "alert",
        }
    }

    /// The parts this role starts.
    pub fn parts(self) -> RoleParts {
        match self {
            Role::All => RoleParts { store_readings: true, alerting: true },
            Role::Ingest => RoleParts { store_readings: true, alerting: false },
            Role::Alert => RoleParts { store_readings: false, alerting: true },
        }
    }

    /// One line for `check-config` and the start-up log: the role and what it runs.
    pub fn summary(self) -> &'static str {
        match self {
            Role::All => "all (ingest, alerting, dispatch, API and console)",
            Role::Ingest => "ingest (readings to the store; no alerting, dispatch or incident API)",
            Role::Alert => "alert (alerting, dispatch, API and console; stores incident lines, not readings)",
        }
    }

    /// Whether several instances of this role may share one subscription (`mqtt.shared_group`).
    /// Only `ingest`: the alert engine must see every reading of its counties, or a household's
    /// readings would be judged apart and one fire opened twice.
    pub fn may_share_subscription(self) -> bool {
        self == Role::Ingest
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_parses_from_its_own_name_and_nothing_else_does() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for bad in ["", "ALL", "alerting", "ingest ", "both"] {
            assert_eq!(Role::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Role::default(), Role::All);
    }

    #[test]
    fn each_role_starts_its_own_parts_and_only_all_starts_both() {
        assert_eq!(Role::All.parts(), RoleParts { store_readings: true, alerting: true });
        assert_eq!(Role::Ingest.parts(), RoleParts { store_readings: true, alerting: false });
        assert_eq!(Role::Alert.parts(), RoleParts { store_readings: false, alerting: true });
    }

    #[test]
    fn only_ingest_instances_may_share_a_subscription() {
        let sharing: Vec<Role> = Role::ALL.into_iter().filter(|r| r.may_share_subscription()).collect();
        assert_eq!(sharing, vec![Role::Ingest]);
    }
}
