//! firegrid's InfluxDB write client against a real VictoriaMetrics: gzip bodies are stored like
//! plain ones (and are several times smaller on the wire), and an https:// store whose certificate
//! a private CA signed is reached with `store.influxdb.ca_file` and refused without it.

mod support;

use anyhow::{bail, ensure, Result};
use firegrid_ingest::config::InfluxConfig;
use firegrid_ingest::store::influx::{InfluxV2, WireCounters};
use firegrid_ingest::store::{LineStore as _, WriteResult};
use prometheus::IntCounter;
use support::tls::TestPki;
use support::{VictoriaMetrics, VmOptions, VmTls};

fn lines(measurement: &str, n: usize) -> String {
    let t0 = firegrid_ingest::clock::now_ms() - 60_000;
    (0..n)
        .map(|i| {
            format!("{measurement},county=500112,township=500112001,device_id=SM-{i:06} obscuration_db_m=0.{i} {t0}\n")
        })
        .collect()
}

fn client(url: &str, content_encoding: &str, ca_file: Option<&std::path::Path>) -> Result<(InfluxV2, WireCounters)> {
    let c = InfluxConfig {
        url: url.to_owned(),
        content_encoding: content_encoding.to_owned(),
        ca_file: ca_file.map(|p| p.display().to_string()).unwrap_or_default(),
        ..Default::default()
    };
    let wire = WireCounters { line_bytes: IntCounter::new("l", "l")?, body_bytes: IntCounter::new("b", "b")? };
    Ok((InfluxV2::new(c.validate()?)?.with_wire_counters(wire.clone()), wire))
}

#[tokio::test]
async fn gzip_bodies_are_stored_by_victoriametrics_and_are_smaller_on_the_wire() -> Result<()> {
    let vm = VictoriaMetrics::start().await?;
    for (encoding, measurement) in [("gzip", "gz"), ("identity", "plain")] {
        let (store, wire) = client(&vm.url(), encoding, None)?;
        let body = lines(measurement, 500);
        let r = store.write(&body).await;
        ensure!(r == WriteResult::Ok, "{encoding}: {r:?}");
        let stored = vm.series_count(&format!("{{__name__=\"{measurement}_obscuration_db_m\"}}")).await?;
        ensure!(stored == 500, "{encoding}: {stored} of 500 series stored");
        let (sent, line) = (wire.body_bytes.get(), wire.line_bytes.get());
        ensure!(line == body.len() as u64, "line bytes counted: {line}");
        match encoding {
            "gzip" => ensure!(sent * 5 < line, "gzip sent {sent} bytes for {line}"),
            _ => ensure!(sent == line, "identity sent {sent} bytes for {line}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_https_store_behind_a_private_ca_needs_its_ca_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = TestPki::generate(dir.path())?;
    let tls = VmTls { cert: pki.server.0.clone(), key: pki.server.1.clone(), ca: pki.ca.clone() };
    let vm = VictoriaMetrics::start_with(VmOptions { tls: Some(tls), ..Default::default() }).await?;
    ensure!(vm.url().starts_with("https://"));
    let (trusting, _) = client(&vm.url(), "gzip", Some(&pki.ca))?;
    let r = trusting.write(&lines("tls", 3)).await;
    ensure!(r == WriteResult::Ok, "with ca_file: {r:?}");
    ensure!(vm.series_count("{__name__=\"tls_obscuration_db_m\"}").await? == 3);
    let (default_roots, _) = client(&vm.url(), "gzip", None)?;
    match default_roots.write(&lines("tls", 1)).await {
        WriteResult::Retry { reason, .. } => ensure!(reason.contains("certificate"), "{reason}"),
        other => bail!("without ca_file the private CA must be refused: {other:?}"),
    }
    Ok(())
}
