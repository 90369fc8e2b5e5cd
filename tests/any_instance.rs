//! Any alert instance serves everything (DESIGN §9, docs/guarantees.md "Forwarded actions"): two
//! partitions, `east` (the fixtures' devices) and `west`, on one real PostgreSQL, mosquitto and
//! VictoriaMetrics. West's instance lists east's incident; an action posted to it, or a station's
//! acknowledgement that only west's consumer receives, is applied once by east's leader, and the
//! caller gets east's answer.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use support::dispatch::{alarm, get, incident_ids, outbox_settled, ADMIN, DISPATCHER, STATION};
use support::events::Events;
use support::partition::{self, leads, TwoPartitions, WEST};
use support::process::Firegrid;
use support::watch::DispatchWatch;

/// Five seconds, as deployed.
const LEASE_MS: u64 = 5_000;
/// The micro station the fixtures' households are dispatched to (the `STATION` token's).
const MICRO: &str = "ms-500112002001";
/// West's own topic prefix in the MQTT test: what is published there reaches only west.
const WEST_PREFIX: &str = "westfg/v1";

fn base(f: &Firegrid) -> String {
    format!("http://127.0.0.1:{}", f.http_port)
}

/// East's leader with one dispatched fire, and west's leader: (east, west, the incident id).
async fn east_fire_and_west(dir: &Path, p: &TwoPartitions) -> Result<(Firegrid, Firegrid, String)> {
    let east = partition::start_leader(dir, &p.east, "east-a", partition::PARTITION).await?;
    let id = fire(p, &east).await?;
    let west = partition::start_leader(dir, &p.west, "west-a", WEST.0).await?;
    Ok((east, west, id))
}

/// A fire in east, dispatched to the micro station by east's leader and settled; its id.
async fn fire(p: &TwoPartitions, east: &Firegrid) -> Result<String> {
    let mut watch = DispatchWatch::start(p.mqtt.port(), "firegrid/v1/dispatch/#").await?;
    // The leader gauge rises before its consumer has subscribed, and an alarm published before
    // the first subscription is not kept for it: publish again (a new seq) until dispatched.
    let mut dispatched = false;
    for seq in 1..=6 {
        support::publish::publish_all(p.mqtt.port(), "any-instance-sensor", vec![alarm("sd-1", seq)]).await?;
        let to_micro = |seen: &[(String, Value)]| seen.iter().any(|(t, _)| t.ends_with(&format!("/{MICRO}")));
        if watch.until(Duration::from_secs(5), to_micro).await.is_ok() {
            dispatched = true;
            break;
        }
    }
    ensure!(dispatched, "the fire was not dispatched; east's log:\n{}", east.log_tail());
    let url = base(east);
    support::eventually(Duration::from_secs(30), || async { outbox_settled(&url).await }).await?;
    let ids = incident_ids(&url).await?;
    ensure!(ids.len() == 1, "one incident expected: {ids:?}");
    Ok(ids[0].clone())
}

/// The incident's record (admin view) from an instance.
async fn record(f: &Firegrid, id: &str) -> Result<Value> {
    get(&base(f), ADMIN, &format!("/api/v1/incidents/{id}")).await
}

/// The audit entries of a record with this event.
fn entries(rec: &Value, event: &str) -> Vec<Value> {
    rec["audit"].as_array().into_iter().flatten().filter(|a| a["event"] == event).cloned().collect()
}

/// `POST {base}/api/v1/incidents/{id}/{action}` as `token`: status and JSON body.
async fn act(base: &str, token: &str, id: &str, action: &str, note: &str) -> Result<(u16, Value)> {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/incidents/{id}/{action}"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "note": note }))
        .send()
        .await?;
    Ok((r.status().as_u16(), r.json().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_posted_to_another_partitions_instance_is_applied_once_by_the_owner_and_shows_in_both_consoles(
) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let p = partition::two_partitions(dir.path(), LEASE_MS, "").await?;
        let (east, west, id) = east_fire_and_west(dir.path(), &p).await?;
        ensure!(incident_ids(&base(&west)).await? == vec![id.clone()], "west's console does not list east's incident");

        let asked = std::time::Instant::now();
        let (status, body) = act(&base(&west), STATION, &id, "ack", "出动").await?;
        eprintln!("a forwarded ack answered in {:?}", asked.elapsed());
        ensure!(status == 200, "ack through west: {status} {body}; west's log:\n{}", west.log_tail());
        ensure!(body["status"] == "acknowledged" && body["id"] == id.as_str(), "west answered: {body}");
        for f in [&east, &west] {
            let rec = record(f, &id).await?;
            ensure!(rec["incident"]["status"] == "acknowledged", "status on {}: {rec}", f.http_port);
            let acks = entries(&rec, "acknowledged");
            ensure!(acks.len() == 1 && acks[0]["actor"] == format!("station:{MICRO}"), "audit: {}", rec["audit"]);
        }
        let applied = east.log_text()?;
        ensure!(applied.contains("event=\"forwarded_action_applied\""), "east did not apply it itself");

        // The same ack again is answered 200 with the incident unchanged; an illegal one gets
        // east's 409 and reason, word for word.
        let (again, _) = act(&base(&west), STATION, &id, "ack", "").await?;
        ensure!(again == 200, "the repeated ack: {again}");
        let asked = std::time::Instant::now();
        let (code, refused) = act(&base(&west), DISPATCHER, &id, "rectified", "").await?;
        let forwarded_in = asked.elapsed();
        let asked = std::time::Instant::now();
        let (direct_code, direct) = act(&base(&east), DISPATCHER, &id, "rectified", "").await?;
        eprintln!("a refusal: forwarded {forwarded_in:?}, direct {:?}", asked.elapsed());
        ensure!(
            code == 409 && (code, &refused) == (direct_code, &direct),
            "forwarded {code} {refused}, direct {direct}"
        );
        let rec = record(&east, &id).await?;
        ensure!(entries(&rec, "acknowledged").len() == 1, "acknowledged twice: {}", rec["audit"]);
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_ack_that_only_another_partitions_leader_receives_is_applied_by_the_owning_leader() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let p = partition::two_partitions(dir.path(), LEASE_MS, &format!("topic_prefix = \"{WEST_PREFIX}\"")).await?;
        let (east, west, id) = east_fire_and_west(dir.path(), &p).await?;
        let payload = format!(r#"{{"incident_id":"{id}","action":"ack","by":"张三"}}"#);
        let topic = format!("{WEST_PREFIX}/ack/{MICRO}");
        support::publish::publish_all(p.mqtt.port(), MICRO, vec![(topic, payload.into_bytes())]).await?;
        support::eventually(Duration::from_secs(20), || async {
            Ok((record(&east, &id).await?["incident"]["status"] == "acknowledged").then_some(()))
        })
        .await
        .with_context(|| format!("east never applied it; west's log:\n{}", west.log_tail()))?;
        let rec = record(&east, &id).await?;
        let acks = entries(&rec, "acknowledged");
        ensure!(acks.len() == 1 && acks[0]["actor"] == format!("station:{MICRO}"), "audit: {}", rec["audit"]);
        let log = west.log_text()?;
        ensure!(!log.contains("event=\"control_refused\""), "west refused the ack:\n{}", west.log_tail());
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_lists_from_the_shared_store_checks_access_and_forwards_actions_to_its_leader() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let p = partition::two_partitions(dir.path(), LEASE_MS, "").await?;
        let (east, _west, id) = east_fire_and_west(dir.path(), &p).await?;
        let standby = partition::start_alert(dir.path(), &p.east, "east-b").await?;
        support::eventually(Duration::from_secs(20), || async {
            Ok((standby.metric("firegrid_partition_leader{partition=\"east\"}").await.ok() == Some(0.0)).then_some(()))
        })
        .await
        .with_context(|| format!("east-b is not a standby; log:\n{}", standby.log_tail()))?;
        let ready = reqwest::get(format!("{}/readyz", base(&standby))).await?.status();
        ensure!(ready == 503, "a standby's /readyz: {ready}");

        ensure!(incident_ids(&base(&standby)).await? == vec![id.clone()], "the standby does not list the incident");
        let station_view = get(&base(&standby), STATION, "/api/v1/incidents").await?;
        ensure!(
            station_view["incidents"].as_array().is_some_and(|a| a.len() == 1),
            "the station's list: {station_view}"
        );
        let console = reqwest::get(format!("{}/", base(&standby))).await?.status();
        ensure!(console == 200, "the standby's console page: {console}");

        // The role table is the posting instance's: a station may not mark a fire rectified
        // (403 here, not the owner's 409).
        let (forbidden, why) = act(&base(&standby), STATION, &id, "rectified", "").await?;
        ensure!(forbidden == 403, "a station's rectified through the standby: {forbidden} {why}");

        let (status, body) = act(&base(&standby), STATION, &id, "ack", "").await?;
        ensure!(status == 200 && body["status"] == "acknowledged", "ack through the standby: {status} {body}");
        let rec = record(&east, &id).await?;
        ensure!(entries(&rec, "acknowledged").len() == 1, "audit on the leader: {}", rec["audit"]);
        let shown = record(&standby, &id).await?;
        ensure!(shown["incident"]["status"] == "acknowledged", "the standby shows: {shown}");
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_no_leader_takes_in_time_is_answered_503_cancelled_and_never_applied() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(150), async {
        let dir = tempfile::tempdir()?;
        let p = partition::two_partitions(dir.path(), LEASE_MS, "").await?;
        let (mut east, west, id) = east_fire_and_west(dir.path(), &p).await?;
        // East's only instance stops (releasing its lease): nobody applies east's actions.
        east.stop(Duration::from_secs(20)).await?;

        let started = std::time::Instant::now();
        let (status, body) = act(&base(&west), DISPATCHER, &id, "false_alarm", "").await?;
        let waited = started.elapsed();
        ensure!(status == 503 && body["error"] == "unavailable", "without a leader: {status} {body}");
        let reason = body["reason"].as_str().unwrap_or_default();
        ensure!(reason.contains("county 500112") && reason.contains("cancelled"), "the reason: {reason}");
        ensure!(waited >= Duration::from_secs(9) && waited < Duration::from_secs(16), "answered after {waited:?}");

        // East leads again; an action posted after the cancelled one is applied, and the
        // cancelled false alarm never was (it would have closed the incident first: rows are
        // applied in order).
        east.start_again().await?;
        leads(&east, partition::PARTITION, Duration::from_secs(20)).await?;
        let (status, body) = act(&base(&west), STATION, &id, "ack", "").await?;
        ensure!(status == 200 && body["status"] == "acknowledged", "the later ack: {status} {body}");
        let rec = record(&east, &id).await?;
        ensure!(entries(&rec, "false_alarm").is_empty(), "the cancelled action was applied: {}", rec["audit"]);
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_of_another_partitions_leader_and_of_a_standby_shows_a_dispatch() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let p = partition::two_partitions(dir.path(), LEASE_MS, "").await?;
        let east = partition::start_leader(dir.path(), &p.east, "east-a", partition::PARTITION).await?;
        let west = partition::start_leader(dir.path(), &p.west, "west-a", WEST.0).await?;
        let standby = partition::start_alert(dir.path(), &p.east, "east-b").await?;
        let mut feeds = Vec::new();
        for f in [&east, &west, &standby] {
            feeds.push(Events::open(&base(f), ADMIN).await?);
        }
        let id = fire(&p, &east).await?;
        let shows = |text: &str| text.contains("event: dispatch") && text.contains(id.as_str());
        for (feed, name) in feeds.iter_mut().zip(["east's leader", "west's leader", "east's standby"]) {
            feed.until(Duration::from_secs(10), shows).await.with_context(|| format!("{name}'s live feed"))?;
        }
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}

/// East's incident dispatched, then east's only instance stopped, and a station's ack of it
/// published where only west receives it (west's own prefix): (east, west, the incident id, the
/// ack's topic).
async fn an_ack_only_west_takes_while_east_is_down(
    dir: &Path,
    p: &TwoPartitions,
) -> Result<(Firegrid, Firegrid, String, String)> {
    let (mut east, west, id) = east_fire_and_west(dir, p).await?;
    east.stop(Duration::from_secs(20)).await?;
    let payload = format!(r#"{{"incident_id":"{id}","action":"ack","by":"张三"}}"#);
    let topic = format!("{WEST_PREFIX}/ack/{MICRO}");
    support::publish::publish_all(p.mqtt.port(), MICRO, vec![(topic.clone(), payload.into_bytes())]).await?;
    Ok((east, west, id, topic))
}

/// East leads again; a later ack of the station through west's API is applied, and the one sent
/// over MQTT (its note names 张三) never was: rows are applied in order, so a pending one would
/// have acknowledged the incident first.
async fn only_the_later_ack_is_applied(east: &mut Firegrid, west: &Firegrid, id: &str) -> Result<()> {
    east.start_again().await?;
    leads(east, partition::PARTITION, Duration::from_secs(20)).await?;
    let (status, body) = act(&base(west), STATION, id, "ack", "later").await?;
    ensure!(status == 200 && body["status"] == "acknowledged", "the later ack: {status} {body}");
    let rec = record(east, id).await?;
    let acks = entries(&rec, "acknowledged");
    ensure!(acks.len() == 1 && !acks[0].to_string().contains("张三"), "the MQTT ack was applied: {}", rec["audit"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_ack_no_leader_takes_in_time_is_cancelled_dead_lettered_where_it_arrived_and_never_applied(
) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(150), async {
        let dir = tempfile::tempdir()?;
        let p = partition::two_partitions(dir.path(), LEASE_MS, &format!("topic_prefix = \"{WEST_PREFIX}\"")).await?;
        let mut dead = DispatchWatch::start(p.mqtt.port(), &format!("{WEST_PREFIX}/deadletter")).await?;
        let (mut east, west, id, topic) = an_ack_only_west_takes_while_east_is_down(dir.path(), &p).await?;
        let sent = std::time::Instant::now();
        dead.until(Duration::from_secs(20), |seen| !seen.is_empty())
            .await
            .with_context(|| format!("no dead letter on west; west's log:\n{}", west.log_tail()))?;
        eprintln!("dead-lettered {:?} after the ack was published", sent.elapsed());
        let letter = dead.messages().next().cloned().unwrap_or_default();
        let detail = letter["detail"].as_str().unwrap_or_default();
        ensure!(letter["topic"] == topic.as_str() && letter["reason"] == "unavailable", "the dead letter: {letter}");
        ensure!(detail.contains("county 500112") && detail.contains("cancelled"), "its detail: {detail}");
        let rows = partition::forwarded_rows(&p.url).await?;
        ensure!(rows.len() == 1 && rows[0].state == "cancelled" && rows[0].origin == "mqtt", "the rows: {rows:?}");
        only_the_later_ack_is_applied(&mut east, &west, &id).await
    })
    .await
    .context("timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_ack_whose_poster_died_expires_at_the_next_leaders_sweep_and_is_never_applied() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(180), async {
        let dir = tempfile::tempdir()?;
        let p = partition::two_partitions(dir.path(), LEASE_MS, &format!("topic_prefix = \"{WEST_PREFIX}\"")).await?;
        let (mut east, mut west, id, _) = an_ack_only_west_takes_while_east_is_down(dir.path(), &p).await?;
        // The row is committed; its poster dies before its own deadline could cancel it.
        support::eventually(Duration::from_secs(10), || async {
            Ok((partition::forwarded_rows(&p.url).await?.len() == 1).then_some(()))
        })
        .await
        .context("west never forwarded the ack")?;
        west.kill9();
        // Older than the bound (20 s, by the database's clock) before any leader runs again.
        support::eventually(Duration::from_secs(40), || async {
            let rows = partition::forwarded_rows(&p.url).await?;
            Ok(rows.iter().all(|r| r.state == "pending" && r.age_seconds > 21.0).then_some(()))
        })
        .await
        .context("the row did not stay pending")?;
        west.start_again().await?;
        leads(&west, WEST.0, Duration::from_secs(20)).await?;
        support::eventually(Duration::from_secs(20), || async {
            let rows = partition::forwarded_rows(&p.url).await?;
            Ok((rows[0].state != "pending").then_some(()))
        })
        .await
        .with_context(|| format!("no sweep ended the row; west's log:\n{}", west.log_tail()))?;
        let rows = partition::forwarded_rows(&p.url).await?;
        ensure!(rows[0].state == "cancelled" && rows[0].result_code.as_deref() == Some("expired"), "{rows:?}");
        ensure!(west.log_text()?.contains("event=\"forwarded_action_expired\""), "not logged:\n{}", west.log_tail());
        ensure!(west.metric("firegrid_forwarded_actions_expired_total").await? == 1.0, "not counted");
        only_the_later_ack_is_applied(&mut east, &west, &id).await
    })
    .await
    .context("timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_by_a_reload_is_refused_by_a_standby_after_sighup() -> Result<()> {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir()?;
        let p = partition::two_partitions(dir.path(), LEASE_MS, "").await?;
        let east = partition::start_leader(dir.path(), &p.east, "east-a", partition::PARTITION).await?;
        let standby = partition::start_alert(dir.path(), &p.east, "east-b").await?;
        let is_standby = || async {
            Ok((standby.metric("firegrid_partition_leader{partition=\"east\"}").await.ok() == Some(0.0)).then_some(()))
        };
        support::eventually(Duration::from_secs(20), is_standby)
            .await
            .with_context(|| format!("east-b is not a standby; log:\n{}", standby.log_tail()))?;
        let status = |token: &'static str| {
            let url = format!("{}/api/v1/incidents", base(&standby));
            async move { anyhow::Ok(reqwest::Client::new().get(url).bearer_auth(token).send().await?.status().as_u16()) }
        };
        ensure!(status(STATION).await? == 200, "the station's token before the reload");

        // The station's token is revoked on every instance: the file without it, then SIGHUP.
        firegrid_alerting::access::private_file::write_private(
            &dir.path().join("tokens.csv"),
            &format!("token,role,subject\n{ADMIN},admin,ops\n{DISPATCHER},dispatcher,duty\n"),
        )?;
        east.signal("HUP")?;
        standby.signal("HUP")?;
        support::eventually(Duration::from_secs(10), || async { Ok((status(STATION).await.ok() == Some(401)).then_some(())) })
            .await
            .with_context(|| format!("the standby still takes the revoked token; its log:\n{}", standby.log_tail()))?;
        ensure!(status(ADMIN).await? == 200, "a token kept is refused after the reload");
        support::eventually(Duration::from_secs(5), is_standby).await.context("the standby stopped serving")?;
        anyhow::Ok(())
    })
    .await
    .context("timed out")?
}
