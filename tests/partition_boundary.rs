//! Across a partition boundary (DESIGN §9, issue "Cross-partition correctness"): routing reads
//! station availability from the shared PostgreSQL table, so a fire in east whose nearest
//! available micro station stands in west's county reaches that station, and once west's API
//! marks it busy, east's next fire goes elsewhere. Real processes: east's and west's leaders on
//! one PostgreSQL, mosquitto and VictoriaMetrics.

mod support;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use firegrid_ingest::{Device, Station, Tier};
use serde_json::Value;
use support::dispatch::{alarm, get, ADMIN};
use support::partition::{self, leads, WEST};
use support::process::Firegrid;
use support::registry::{detector, station};
use support::watch::DispatchWatch;

/// West's micro station nearest to east's households (about 100 m from them).
const BORDER: &str = "ms-500113001001";
/// West's second micro station, about 1.3 km away.
const FAR: &str = "ms-500113001002";

/// East's stations with its micro stations off duty, and two micro stations of west's county.
fn stations() -> Vec<Station> {
    let west = |id: &str, name: &str, community: &str, at: (f64, f64)| Station {
        county: WEST.1.to_owned(),
        ..station(id, name, Tier::Micro, ("500113001", community), at)
    };
    let off = |s: Station| Station { available: false, ..s };
    vec![
        station("ds-500112", "渝北区消防救援站", Tier::District, ("", ""), (29.7180, 106.6312)),
        station("tt-500112002", "双龙湖街道专职消防队", Tier::TownshipTeam, ("500112002", ""), (29.7250, 106.6360)),
        off(station(
            "ms-500112002001",
            "五星路社区微型消防站",
            Tier::Micro,
            ("500112002", "500112002001"),
            (29.7205, 106.6302),
        )),
        off(station(
            "ms-500112002002",
            "龙昌街社区微型消防站",
            Tier::Micro,
            ("500112002", "500112002002"),
            (29.7230, 106.6350),
        )),
        west(BORDER, "西区边界微型消防站", "500113001001", (29.7218, 106.6315)),
        west(FAR, "西区第二微型消防站", "500113001002", (29.7320, 106.6400)),
    ]
}

/// Two vulnerable households of east in different communities (two incidents).
fn devices() -> Vec<Device> {
    vec![
        Device { vulnerable: true, ..detector("sd-1", "hh-1") },
        Device {
            vulnerable: true,
            community: "500112002002".into(),
            grid_id: String::new(),
            lat: Some(29.7232),
            lon: Some(106.6352),
            ..detector("sd-9", "hh-9")
        },
    ]
}

fn base(f: &Firegrid) -> String {
    format!("http://127.0.0.1:{}", f.http_port)
}

/// The stations told to `respond` in what `watch` received.
fn responders(watch: &DispatchWatch) -> Vec<String> {
    watch
        .messages()
        .filter(|v| v["role"] == "respond")
        .filter_map(|v| v["station_id"].as_str().map(str::to_owned))
        .collect()
}

/// Publishes `device`'s alarm (a new seq each time: the leader's consumer may not have subscribed
/// yet) until `station` is told to respond.
async fn fire_until_sent_to(mqtt: u16, watch: &mut DispatchWatch, device: &str, station: &str) -> Result<()> {
    for seq in 1..=6 {
        support::publish::publish_all(mqtt, "boundary-sensor", vec![alarm(device, seq)]).await?;
        let sent =
            |seen: &[(String, Value)]| seen.iter().any(|(_, v)| v["role"] == "respond" && v["station_id"] == station);
        if watch.until(Duration::from_secs(5), sent).await.is_ok() {
            return Ok(());
        }
    }
    anyhow::bail!("{device}'s fire never reached {station}; responders: {:?}", responders(watch))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_reaches_the_nearest_station_across_the_boundary_and_goes_elsewhere_once_the_other_side_marks_it_busy(
) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(150), async {
        let dir = tempfile::tempdir()?;
        let p = partition::two_partitions_with(dir.path(), 5_000, "", &devices(), &stations()).await?;
        let east = partition::start_alert(dir.path(), &p.east, "east-a").await?;
        let west = partition::start_alert(dir.path(), &p.west, "west-a").await?;
        leads(&east, partition::PARTITION, Duration::from_secs(20)).await?;
        leads(&west, WEST.0, Duration::from_secs(20)).await?;
        let mut watch = DispatchWatch::start(p.mqtt.port(), "firegrid/v1/dispatch/#").await?;

        fire_until_sent_to(p.mqtt.port(), &mut watch, "sd-1", BORDER).await.context("east's first fire")?;

        // West's dispatcher desk marks its station busy; east's leader reads the shared table.
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/stations/{BORDER}/availability", base(&west)))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({ "status": "busy" }))
            .send()
            .await?;
        ensure!(r.status().is_success(), "west refused the availability: {}", r.status());
        let url = base(&east);
        support::eventually(Duration::from_secs(15), || async {
            let list = get(&url, ADMIN, "/api/v1/stations").await?;
            let busy = list["stations"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["station_id"] == BORDER && s["status"] == "busy");
            Ok(busy.then_some(()))
        })
        .await
        .context("east never saw west's busy station")?;

        fire_until_sent_to(p.mqtt.port(), &mut watch, "sd-9", FAR).await.context("east's second fire")?;
        let to_border = responders(&watch).iter().filter(|s| *s == BORDER).count();
        ensure!(to_border == 1, "the busy station was told to respond again: {:?}", responders(&watch));
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}
