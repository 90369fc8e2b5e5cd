//! Registry reload by SIGHUP, end to end with the firegrid binary, under a steady load: a bad
//! devices file keeps the registry in force (and the load loses nothing), a good one takes effect
//! for the next reading; with nothing arriving, the registry a reload replaced is still freed
//! within seconds.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use support::fleet::{self, TestDevice};
use support::process::Firegrid;
use support::{Mosquitto, VictoriaMetrics};

const KIND_MISMATCH: &str = "firegrid_messages_rejected_total{reason=\"kind_mismatch\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_under_load_reloads_the_registry_and_a_bad_file_keeps_the_old_one_and_an_idle_reload_frees_the_old(
) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(180), async {
        let mqtt = Mosquitto::start().await?;
        let vm = VictoriaMetrics::start().await?;
        let dir = tempfile::tempdir()?;
        let load: Vec<TestDevice> = fleet::devices(100).into_iter().filter(|d| d.registered).collect();
        // The probe publishes smoke readings; the registry in force at start says it is an
        // electrical monitor (its readings are refused as kind_mismatch), the new one a smoke detector.
        let probe =
            TestDevice { id: "sm-reload".into(), ..load.iter().find(|d| d.kind == "smoke").context("smoke")?.clone() };
        let mut fleet_v1 = load.clone();
        fleet_v1.push(TestDevice { kind: "electrical", ..probe.clone() });
        let reg = fleet::write_registry(dir.path(), &fleet_v1)?;
        let c = fleet::harness_config(dir.path(), &reg, &mqtt.url(), &vm.url(), "firegrid-reload");
        let config = dir.path().join("firegrid.toml");
        std::fs::write(&config, toml::to_string(&c)?)?;
        let fg = Firegrid::start(&config, Vec::new(), &dir.path().join("firegrid.log")).await?;
        let base = format!("http://127.0.0.1:{}", fg.http_port);

        // 6,000 readings at 2,000/s while the registry is reloaded twice.
        let ts = firegrid_ingest::clock::now_ms() - 120_000;
        let stream: Vec<(String, Vec<u8>)> = (1..=60u64)
            .flat_map(|seq| {
                load.iter().map(move |d| (fleet::topic(d), fleet::payload(d, seq, ts + seq as i64 * 10).into_bytes()))
            })
            .collect();
        let publisher = tokio::spawn(support::publish::publish_paced(mqtt.port(), "reload-load", stream, 2000));
        support::eventually(Duration::from_secs(30), || async {
            let received = support::api::metric_sum(&base, "firegrid_messages_received_total", &[]).await?;
            Ok((received >= 1000.0).then_some(()))
        })
        .await
        .context("the load reaching firegrid")?;

        // A bad devices file: the reload fails and the old registry stays in force.
        std::fs::write(&reg.devices, "this is not a registry\n")?;
        fg.signal("HUP")?;
        support::eventually(Duration::from_secs(10), || async {
            Ok(fg.log_text()?.contains("registry_reload_failed").then_some(()))
        })
        .await
        .context("the failed reload logged")?;
        let probe_reading =
            |seq: u64| (fleet::topic(&probe), fleet::payload(&probe, seq, ts + seq as i64).into_bytes());
        support::publish::publish_all(mqtt.port(), "reload-probe-1", vec![probe_reading(1)]).await?;
        support::eventually(Duration::from_secs(10), || async {
            Ok((fg.metric(KIND_MISMATCH).await? == 1.0).then_some(()))
        })
        .await
        .context("the probe's reading refused under the old registry, still in force")?;

        // A good file: the probe is a smoke detector now, so its next reading is stored.
        let mut fleet_v2 = load.clone();
        fleet_v2.push(probe.clone());
        fleet::write_registry(dir.path(), &fleet_v2)?;
        fg.signal("HUP")?;
        support::eventually(Duration::from_secs(10), || async {
            Ok(fg.log_text()?.contains("registry_reloaded").then_some(()))
        })
        .await
        .context("the reload logged")?;
        support::publish::publish_all(mqtt.port(), "reload-probe-2", vec![probe_reading(2)]).await?;
        support::eventually(Duration::from_secs(30), || async {
            Ok(fleet::stored_pairs(&vm).await?.contains(&(probe.id.clone(), 2)).then_some(()))
        })
        .await
        .context("the new registry in force for the next reading")?;
        ensure!(fg.metric(KIND_MISMATCH).await? == 1.0, "the probe's second reading was refused");

        publisher.await??;
        let want: BTreeSet<(String, u64)> = load
            .iter()
            .flat_map(|d| (1..=60u64).map(move |s| (d.id.clone(), s)))
            .chain([(probe.id.clone(), 2)])
            .collect();
        let got = support::eventually(Duration::from_secs(60), || async {
            let got = fleet::stored_pairs(&vm).await?;
            Ok((got == want).then_some(got))
        })
        .await
        .context("every reading of the load stored across both reloads")?;
        ensure!(got.len() == want.len());

        // Nothing arrives now: a reload's replaced registry is still let go of and freed by the
        // retire thread (which gives its pages back) within seconds, not held by an idle
        // pipeline until its next message or the retire thread's 30-s wait runs out.
        let freed_here =
            |log: &str| log.lines().filter(|l| l.contains("registry_retired") && l.contains("freed_here=true")).count();
        let before = freed_here(&fg.log_text()?);
        fg.signal("HUP")?;
        support::eventually(Duration::from_secs(15), || async {
            Ok((freed_here(&fg.log_text()?) > before).then_some(()))
        })
        .await
        .context("the registry replaced by an idle reload freed by the retire thread within 15 s")?;
        Ok(())
    })
    .await?
}
