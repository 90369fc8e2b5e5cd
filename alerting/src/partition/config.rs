//! `[alerting] partition`, `counties` and `partition_lease_ms`, validated into
//! [`PartitionSettings`]: a partition is a named set of counties whose alerting one leader
//! runs at a time, chosen through a lease in the shared PostgreSQL store — so a partition
//! requires `[incidents] backend = "postgres"`.

use std::time::Duration;

use firegrid_ingest::config::ConfigError;

use super::LeaseTiming;
use crate::store::{IncidentBackend, PgUrl};

/// The shortest and longest lease accepted, ms: under a second the renewals (every fifth)
/// would load the database for nothing; over a minute a takeover is slower than a human.
const LEASE_MS: std::ops::RangeInclusive<u64> = 1_000..=60_000;

/// A validated partition.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSettings {
    /// Its name (`partition_leases.partition`, the suffix of the MQTT client id).
    pub name: String,
    /// Its counties (6-digit codes): the MQTT subscriptions of its consumer.
    pub counties: Vec<String>,
    /// The lease's timing.
    pub timing: LeaseTiming,
    /// The shared store holding the lease.
    pub url: PgUrl,
}

/// The partition of `[alerting]`, if any (see the module doc).
pub fn validate(
    name: &str,
    counties: &[String],
    lease_ms: u64,
    backend: &IncidentBackend,
) -> Result<Option<PartitionSettings>, ConfigError> {
    if name.is_empty() {
        if !counties.is_empty() {
            return Err(invalid("alerting.counties", "counties belong to a partition: set alerting.partition too"));
        }
        return Ok(None);
    }
    if name.len() > 32 || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(invalid(
            "alerting.partition",
            format!("`{name}` must be 1-32 characters of a-z, 0-9 and - (it is part of the MQTT client id)"),
        ));
    }
    if counties.is_empty() {
        return Err(invalid("alerting.counties", format!("partition `{name}` needs its counties (6-digit codes)")));
    }
    if let Some(bad) = counties.iter().find(|c| c.len() != 6 || !c.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid("alerting.counties", format!("`{bad}` is not a 6-digit county code")));
    }
    if !LEASE_MS.contains(&lease_ms) {
        return Err(invalid(
            "alerting.partition_lease_ms",
            format!(
                "{lease_ms} is outside {}-{} (5000: a standby takes over within about 6 s)",
                LEASE_MS.start(),
                LEASE_MS.end()
            ),
        ));
    }
    let IncidentBackend::Postgres { url } = backend else {
        return Err(invalid(
            "alerting.partition",
            format!(
                "partition `{name}` needs the shared incident store: set [incidents] backend = \"postgres\" (the \
                 lease and every instance's state live there)"
            ),
        ));
    };
    Ok(Some(PartitionSettings {
        name: name.to_owned(),
        counties: counties.to_vec(),
        timing: LeaseTiming::from_lease(Duration::from_millis(lease_ms)),
        url: url.clone(),
    }))
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { key: key.to_owned(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg() -> IncidentBackend {
        IncidentBackend::Postgres { url: PgUrl::parse("postgres://fg@127.0.0.1:5432/firegrid").expect("url") }
    }

    fn counties(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn no_partition_is_the_single_node_default_and_a_valid_one_keeps_its_counties_and_timing() {
        assert_eq!(validate("", &[], 5000, &pg()).expect("ok"), None);
        let p = validate("east", &counties(&["500112", "500113"]), 5000, &pg()).expect("ok").expect("some");
        assert_eq!(p.name, "east");
        assert_eq!(p.counties, counties(&["500112", "500113"]));
        assert_eq!(p.timing, LeaseTiming::from_lease(Duration::from_secs(5)));
    }

    #[test]
    fn each_bad_partition_setting_names_its_key() {
        let sqlite = IncidentBackend::Sqlite { data_dir: "/d".into() };
        let cases: [(&str, Vec<String>, u64, &IncidentBackend, &str); 6] = [
            ("", counties(&["500112"]), 5000, &pg(), "alerting.counties"),
            ("East Side", counties(&["500112"]), 5000, &pg(), "alerting.partition"),
            ("east", vec![], 5000, &pg(), "alerting.counties"),
            ("east", counties(&["5001"]), 5000, &pg(), "alerting.counties"),
            ("east", counties(&["500112"]), 500, &pg(), "alerting.partition_lease_ms"),
            ("east", counties(&["500112"]), 5000, &sqlite, "alerting.partition"),
        ];
        for (name, c, lease, backend, key) in cases {
            let e = validate(name, &c, lease, backend).expect_err(key);
            assert_eq!(e.key, key, "{name} {c:?} {lease}: {e}");
        }
    }
}
