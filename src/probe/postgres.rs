//! The PostgreSQL incident store's probe (`[incidents] backend = "postgres"`): connects as `run`
//! would, reads the schema version, whether the session is encrypted and the partition's lease
//! (`firegrid_alerting::store::postgres::probe`), and says each in a line; a failure names the
//! key to fix. The URL is shown redacted: the password never reaches the output.

use firegrid_alerting::store::postgres::{probe, LeaseRow, PgProbe};
use firegrid_alerting::store::PgUrl;

/// The probe of the store at `url` (and of `partition`'s lease): what it read, and the failure
/// if any.
pub(super) async fn probe_incident_store(url: &PgUrl, partition: Option<&str>) -> (Vec<String>, Option<String>) {
    let at = format!("incidents.postgres {}", url.redacted());
    match tokio::time::timeout(super::PROBE_TIMEOUT * 2, probe(url, partition)).await {
        Err(_) => (
            Vec::new(),
            Some(format!("{at}: no answer within {:?} (firewall, or not PostgreSQL?)", super::PROBE_TIMEOUT * 2)),
        ),
        Ok(Err(e)) => (Vec::new(), Some(connect_failure(&e.to_string()))),
        Ok(Ok(p)) => {
            let mut facts = vec![format!("{at}: {}, TLS {}", schema(&p), if p.tls { "on" } else { "off" })];
            if let Some(name) = partition {
                facts.push(format!("partition {name}: {}", lease(p.lease.as_ref())));
            }
            let failure = p.too_new().then(|| {
                format!(
                    "{at}: the schema is version {}, newer than this binary's {}: run the newer firegrid",
                    p.schema_version.unwrap_or_default(),
                    p.binary_version
                )
            });
            (facts, failure)
        }
    }
}

/// The schema's version against this binary's (pure).
fn schema(p: &PgProbe) -> String {
    match p.schema_version {
        None => format!(
            "not migrated yet (the first `run` applies versions 1-{}; the role needs CREATE on the database)",
            p.binary_version
        ),
        Some(v) => format!("schema version {v} (this binary's: {})", p.binary_version),
    }
}

/// Who holds the lease (pure).
fn lease(l: Option<&LeaseRow>) -> String {
    match l {
        None => "no instance has held the lease yet".to_owned(),
        Some(l) if l.expires_in_ms >= 0 => format!(
            "lease held by {} at epoch {}, expires in {:.1} s unless renewed",
            l.holder,
            l.epoch,
            l.expires_in_ms as f64 / 1000.0
        ),
        Some(l) => format!(
            "lease expired {:.1} s ago (last holder {}, epoch {}): the next instance to start takes it",
            -l.expires_in_ms as f64 / 1000.0,
            l.holder,
            l.epoch
        ),
    }
}

/// A failed connection, with the key to fix (pure). `error` is the store's error, whose URL is
/// already redacted.
fn connect_failure(error: &str) -> String {
    let hint = if error.contains("28P01") || error.contains("28000") {
        "check the user and password in incidents.postgres.url (or url_file)"
    } else if error.contains("3D000") {
        "the database does not exist: create it, or fix the name in incidents.postgres.url (or url_file)"
    } else if error.contains("TLS") || error.contains("ssl") || error.contains("SSL") {
        "check the URL's sslmode and incidents.postgres.ca_file"
    } else {
        "check the host and port in incidents.postgres.url (or url_file), and that PostgreSQL listens there"
    };
    format!("incidents.postgres.url: {error}: {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_and_the_lease_read_as_sentences() {
        let p = |v| PgProbe { schema_version: v, binary_version: 1, tls: true, lease: None };
        assert!(schema(&p(None)).starts_with("not migrated yet (the first `run` applies versions 1-1"));
        assert_eq!(schema(&p(Some(1))), "schema version 1 (this binary's: 1)");
        assert!(p(Some(2)).too_new() && !p(Some(1)).too_new() && !p(None).too_new());
        let held = LeaseRow { holder: "fg@h:1:2".into(), epoch: 3, expires_in_ms: 4_200 };
        assert_eq!(lease(Some(&held)), "lease held by fg@h:1:2 at epoch 3, expires in 4.2 s unless renewed");
        let gone = LeaseRow { expires_in_ms: -61_000, ..held };
        assert!(lease(Some(&gone)).starts_with("lease expired 61.0 s ago (last holder fg@h:1:2, epoch 3)"));
        assert_eq!(lease(None), "no instance has held the lease yet");
    }

    #[test]
    fn a_failed_connection_names_the_key_to_fix() {
        let cases = [
            ("FATAL 28P01: password authentication failed for user \"fg\"", "user and password"),
            ("FATAL 3D000: database \"x\" does not exist", "database does not exist"),
            ("error performing TLS handshake: …", "incidents.postgres.ca_file"),
            ("error connecting to server: Connection refused (os error 111)", "host and port"),
        ];
        for (error, hint) in cases {
            let line = connect_failure(error);
            assert!(line.starts_with("incidents.postgres.url: ") && line.contains(hint), "{line}");
        }
    }
}
