//! The shipped mosquitto configuration (`deploy/mosquitto/mosquitto.conf` and `deploy/mosquitto/acl`) on a real
//! mosquitto with a password file made by the real `mosquitto_passwd`: anonymous and wrong-password clients are
//! refused, each role may do what docs/operations.md says, and the ACLs refuse a platform publishing to a dispatch
//! topic or under another platform's county and a station acknowledging for another station — checked with real
//! MQTT 5 clients, by what a subscriber receives (a refused publish is dropped by the broker) and by the reason codes
//! the broker answers.
//!
//! Only the listener (a free loopback port), the file paths and the log destination are rewritten for the test;
//! every other line of the shipped configuration is used as is. docker-compose's extra simulator listener
//! (`deploy/compose/mosquitto-conf.d`) is included the same way and checked too: anonymous, readings only.

mod support;

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};
use tokio::sync::mpsc;

/// Upper bound of the whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound of one wait for a broker answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";

/// A mosquitto process killed (by its PID, through `Child`) and reaped on drop.
struct Broker {
    child: Child,
    port: u16,
    /// docker-compose's simulator listener: anonymous, readings only.
    simulator_port: u16,
    log: PathBuf,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- mosquitto log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }
}

/// Users of the test and their passwords: one per role of the ACL file.
const USERS: [(&str, &str); 6] = [
    ("firegrid", "pipeline-secret"),
    ("platform-yubei", "platform-secret"),
    ("platform-wuxi", "platform-wuxi-secret"),
    ("mst-500112002001", "station-1-secret"),
    ("mst-500112002002", "station-2-secret"),
    ("dispatcher", "dispatcher-secret"),
];

/// Writes `dir/passwd` with `mosquitto_passwd -b` (the harness's [`support::passwords`]).
fn write_passwords(dir: &Path) -> Result<()> {
    let path = support::passwords::password_file(dir, &USERS)?;
    let text = std::fs::read_to_string(path)?;
    ensure!(text.lines().count() == USERS.len() && !text.contains("secret"), "passwords are stored hashed");
    Ok(())
}

/// The shipped configuration with the listener, paths and log destination rewritten for `dir`.
fn test_config(root: &Path, dir: &Path, port: u16) -> Result<String> {
    let shipped = std::fs::read_to_string(root.join("deploy/mosquitto/mosquitto.conf"))?;
    let mut out = String::new();
    let mut rewritten = 0;
    for line in shipped.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        let replacement = match key {
            "listener" => Some(format!("listener {port} 127.0.0.1")),
            "password_file" => Some(format!("password_file {}", dir.join("passwd").display())),
            "acl_file" => Some(format!("acl_file {}", dir.join("acl").display())),
            "persistence_location" => Some(format!("persistence_location {}/", dir.display())),
            "log_dest" => Some("log_dest stderr".to_owned()),
            "include_dir" => Some(format!("include_dir {}", dir.join("conf.d").display())),
            _ => None,
        };
        match replacement {
            Some(r) => {
                rewritten += 1;
                out.push_str(&r);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    ensure!(rewritten == 6, "expected to rewrite 6 lines of mosquitto.conf, rewrote {rewritten}");
    // As root, mosquitto 2.0 switches to the `mosquitto` user, which cannot read our temporary directory.
    if std::fs::metadata(dir)?.uid() == 0 {
        out.push_str("user root\n");
    }
    Ok(out)
}

/// docker-compose's simulator listener (`deploy/compose/mosquitto-conf.d`) on `port`, its ACL from `dir`.
fn simulator_listener(root: &Path, dir: &Path, port: u16) -> Result<()> {
    let source = root.join("deploy/compose/mosquitto-conf.d");
    let target = dir.join("conf.d");
    std::fs::create_dir_all(&target)?;
    std::fs::copy(source.join("simulator.acl"), target.join("simulator.acl"))?;
    let shipped = std::fs::read_to_string(source.join("simulator.conf"))?;
    let mut out = String::new();
    for line in shipped.lines() {
        match line.split_whitespace().next().unwrap_or("") {
            "listener" => out.push_str(&format!("listener {port} 127.0.0.1")),
            "acl_file" => out.push_str(&format!("acl_file {}", target.join("simulator.acl").display())),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    std::fs::write(target.join("simulator.conf"), out)?;
    Ok(())
}

async fn start_broker(root: &Path, dir: &Path) -> Result<Broker> {
    std::fs::copy(root.join("deploy/mosquitto/acl"), dir.join("acl")).context("copying the ACL file")?;
    write_passwords(dir)?;
    let port = support::free_port()?;
    let simulator_port = support::free_port()?;
    simulator_listener(root, dir, simulator_port)?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(&conf, test_config(root, dir, port)?)?;
    let log = dir.join("server.log");
    let out = std::fs::File::create(&log)?;
    let child = Command::new(MOSQUITTO_BIN)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("spawning {MOSQUITTO_BIN}"))?;
    let mut broker = Broker { child, port, simulator_port, log };
    let deadline = Instant::now() + support::START_TIMEOUT;
    loop {
        if let Some(status) = broker.child.try_wait()? {
            bail!("mosquitto exited ({status}): {}", std::fs::read_to_string(&broker.log).unwrap_or_default());
        }
        let main = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok();
        if main && tokio::net::TcpStream::connect(("127.0.0.1", simulator_port)).await.is_ok() {
            return Ok(broker);
        }
        ensure!(Instant::now() < deadline, "mosquitto did not listen on 127.0.0.1:{port}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An MQTT 5 client whose event loop forwards every packet it receives.
struct Client {
    name: String,
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Packet, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a connection attempt ended.
enum Connected {
    Yes(Client),
    Refused(String),
}

async fn connect(port: u16, id: &str, credentials: Option<(&str, &str)>) -> Result<Connected> {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(10));
    if let Some((user, password)) = credentials {
        options.set_credentials(user, password);
    }
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let (tx, mut events) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(packet)) => {
                    if tx.send(Ok(packet)).is_err() {
                        return;
                    }
                }
                Ok(Event::Outgoing(_)) => {}
                Err(e) => {
                    let _ = tx.send(Err(match e {
                        ConnectionError::ConnectionRefused(code) => format!("refused: {code:?}"),
                        other => other.to_string(),
                    }));
                    return;
                }
            }
        }
    });
    let first = tokio::time::timeout(ANSWER_TIMEOUT, events.recv()).await.context("no CONNACK")?;
    match first {
        Some(Ok(Packet::ConnAck(_))) => Ok(Connected::Yes(Client { name: id.to_owned(), client, events, task })),
        Some(Err(e)) => {
            task.abort();
            Ok(Connected::Refused(e))
        }
        other => bail!("{id}: expected CONNACK, got {other:?}"),
    }
}

async fn login(port: u16, user: &str) -> Result<Client> {
    let password = USERS.iter().find(|(u, _)| *u == user).map(|(_, p)| *p).context("unknown test user")?;
    match connect(port, &format!("{user}-test"), Some((user, password))).await? {
        Connected::Yes(c) => Ok(c),
        Connected::Refused(why) => bail!("{user} was refused: {why}"),
    }
}

impl Client {
    async fn next(&mut self) -> Result<Packet> {
        match tokio::time::timeout(ANSWER_TIMEOUT, self.events.recv()).await {
            Ok(Some(Ok(p))) => Ok(p),
            Ok(Some(Err(e))) => bail!("{}: connection failed: {e}", self.name),
            Ok(None) => bail!("{}: event loop ended", self.name),
            Err(_) => bail!("{}: no packet within {ANSWER_TIMEOUT:?}", self.name),
        }
    }

    /// Subscribes with QoS 1 and returns the broker's reason code.
    async fn subscribe(&mut self, filter: &str) -> Result<SubscribeReasonCode> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        loop {
            if let Packet::SubAck(ack) = self.next().await? {
                return ack.return_codes.first().cloned().context("SUBACK without a reason code");
            }
        }
    }

    /// Publishes with QoS 1 and returns the PUBACK's reason code.
    async fn publish(&mut self, topic: &str, payload: &str) -> Result<PubAckReason> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec()).await?;
        loop {
            if let Packet::PubAck(ack) = self.next().await? {
                return Ok(ack.reason);
            }
        }
    }

    /// Receives publishes until one carries `payload`, returning the payloads received before it (and it).
    async fn receive_until(&mut self, payload: &str) -> Result<Vec<(String, String)>> {
        let mut got = Vec::new();
        loop {
            if let Packet::Publish(p) = self.next().await? {
                let topic = String::from_utf8_lossy(&p.topic).into_owned();
                let body = String::from_utf8_lossy(&p.payload).into_owned();
                let done = body == payload;
                got.push((topic, body));
                if done {
                    return Ok(got);
                }
            }
        }
    }
}

fn granted(code: &SubscribeReasonCode) -> bool {
    matches!(code, SubscribeReasonCode::Success(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_acls_refuse_a_platform_dispatching_and_a_station_acking_for_another_station() -> Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::Builder::new().prefix("firegrid-deploy-broker-").tempdir()?;
        let broker = start_broker(root, dir.path()).await?;
        let port = broker.port;

        // Authentication: no anonymous clients, no wrong passwords.
        let anonymous = connect(port, "anonymous", None).await?;
        ensure!(matches!(anonymous, Connected::Refused(_)), "an anonymous client was let in");
        let wrong = connect(port, "wrong", Some(("platform-yubei", "not-the-password"))).await?;
        ensure!(matches!(wrong, Connected::Refused(_)), "a wrong password was accepted");

        let mut firegrid = login(port, "firegrid").await?;
        let mut platform = login(port, "platform-yubei").await?;
        let mut station1 = login(port, "mst-500112002001").await?;
        let mut station2 = login(port, "mst-500112002002").await?;

        // firegrid may read readings, acks and status (also as a shared subscription).
        for filter in ["$share/firegrid/firegrid/v1/+/+/+/+", "firegrid/v1/ack/#", "firegrid/v1/status/#"] {
            let code = firegrid.subscribe(filter).await?;
            ensure!(granted(&code), "firegrid subscribing to {filter}: {code:?}");
        }
        // A station reads its own dispatch topic only, a platform none. mosquitto (2.0, acl_file) grants every
        // SUBSCRIBE and applies `read` rights when it delivers, so the check is what each client receives.
        for (client, filter) in
            [(&mut station1, "firegrid/v1/dispatch/mst-500112002001"), (&mut station2, "firegrid/v1/dispatch/#")]
        {
            client.subscribe(filter).await?;
        }
        platform.subscribe("firegrid/v1/dispatch/#").await?;

        // A platform publishes a reading: firegrid gets it.
        let reading = r#"{"seq":1,"values":{"obscuration_db_m":0.03}}"#;
        let code = platform.publish("firegrid/v1/500112/500112002/smoke/sd-000001", reading).await?;
        ensure!(code == PubAckReason::Success, "a platform's reading was answered {code:?}");
        let got = firegrid.receive_until(reading).await?;
        ensure!(got.len() == 1, "firegrid received {got:?}");

        // A platform publishing to a dispatch topic is refused; firegrid's own dispatch, sent after it, arrives
        // alone (the broker delivers to one subscriber in order, so the platform's would have come first).
        let forged = r#"{"incident_id":"forged-by-platform"}"#;
        let code = platform.publish("firegrid/v1/dispatch/mst-500112002001", forged).await?;
        ensure!(code != PubAckReason::Success, "the broker accepted a platform's dispatch ({code:?})");
        let genuine = r#"{"incident_id":"from-firegrid"}"#;
        let code = firegrid.publish("firegrid/v1/dispatch/mst-500112002001", genuine).await?;
        ensure!(code == PubAckReason::Success, "firegrid's dispatch was answered {code:?}");
        let got = station1.receive_until(genuine).await?;
        ensure!(got.len() == 1, "the station received a forged dispatch: {got:?}");
        // Station 2, subscribed to every dispatch topic, gets its own dispatch but not station 1's before it.
        let own_dispatch = r#"{"incident_id":"for-station-2"}"#;
        let code = firegrid.publish("firegrid/v1/dispatch/mst-500112002002", own_dispatch).await?;
        ensure!(code == PubAckReason::Success, "firegrid's dispatch was answered {code:?}");
        let got = station2.receive_until(own_dispatch).await?;
        ensure!(got.len() == 1, "station 2 read another station's dispatches: {got:?}");
        // The platform, subscribed to every dispatch topic, receives none of them: firegrid's next
        // dispatch, to the one topic the ACL's pattern lets the platform read (its own name),
        // arrives alone — the broker delivers to one subscriber in order.
        let marker = r#"{"incident_id":"marker-for-platform"}"#;
        let code = firegrid.publish("firegrid/v1/dispatch/platform-yubei", marker).await?;
        ensure!(code == PubAckReason::Success, "firegrid's dispatch was answered {code:?}");
        let got = platform.receive_until(marker).await?;
        ensure!(got.len() == 1, "a platform read a dispatch: {got:?}");

        // A platform may not publish dead letters or acks either.
        let code = platform.publish("firegrid/v1/deadletter", "{}").await?;
        ensure!(code != PubAckReason::Success, "a platform published a dead letter ({code:?})");

        // Station 2 acking for station 1 is refused; station 2's own ack and status, sent after, arrive alone.
        let foreign = r#"{"incident_id":"i-1","action":"ack","by":"mst-500112002002 as 001"}"#;
        let code = station2.publish("firegrid/v1/ack/mst-500112002001", foreign).await?;
        ensure!(code != PubAckReason::Success, "the broker accepted an ack for another station ({code:?})");
        let own = r#"{"incident_id":"i-1","action":"ack","by":"mst-500112002002"}"#;
        let code = station2.publish("firegrid/v1/ack/mst-500112002002", own).await?;
        ensure!(code == PubAckReason::Success, "a station's own ack was answered {code:?}");
        let got = firegrid.receive_until(own).await?;
        ensure!(got == vec![("firegrid/v1/ack/mst-500112002002".to_owned(), own.to_owned())], "firegrid got {got:?}");
        let status = r#"{"available":false}"#;
        let code = station2.publish("firegrid/v1/status/mst-500112002002", status).await?;
        ensure!(code == PubAckReason::Success, "a station's own status was answered {code:?}");
        let code = station2.publish("firegrid/v1/status/mst-500112002001", status).await?;
        ensure!(code != PubAckReason::Success, "a station set another station's status ({code:?})");
        let got = firegrid.receive_until(status).await?;
        ensure!(got.len() == 1 && got[0].0 == "firegrid/v1/status/mst-500112002002", "firegrid got {got:?}");

        // A station may not publish readings (it would pose as a sensor).
        let code = station1.publish("firegrid/v1/500112/500112002/smoke/sd-000001", reading).await?;
        ensure!(code != PubAckReason::Success, "a station published a reading ({code:?})");

        // docker-compose's simulator listener: anonymous clients publish readings and nothing else.
        let mut simulator = match connect(broker.simulator_port, "simulator", None).await? {
            Connected::Yes(c) => c,
            Connected::Refused(why) => bail!("the simulator listener refused an anonymous client: {why}"),
        };
        let forged = r#"{"incident_id":"forged-by-simulator"}"#;
        let code = simulator.publish("firegrid/v1/dispatch/mst-500112002001", forged).await?;
        ensure!(code != PubAckReason::Success, "the simulator listener accepted a dispatch ({code:?})");
        let simulated = r#"{"seq":2,"values":{"obscuration_db_m":0.04}}"#;
        let code = simulator.publish("firegrid/v1/500112/500112002/smoke/sd-000002", simulated).await?;
        ensure!(code == PubAckReason::Success, "a simulated reading was answered {code:?}");
        let got = firegrid.receive_until(simulated).await?;
        ensure!(got.len() == 1, "firegrid received {got:?}");
        let marker = r#"{"incident_id":"after-simulator"}"#;
        firegrid.publish("firegrid/v1/dispatch/mst-500112002001", marker).await?;
        let got = station1.receive_until(marker).await?;
        ensure!(got.len() == 1, "the station received a dispatch from the simulator listener: {got:?}");

        drop((firegrid, platform, station1, station2, simulator));
        drop(broker);
        Ok(())
    })
    .await
    .context("test timed out")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_platform_publishes_readings_only_under_its_own_counties() -> Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::Builder::new().prefix("firegrid-deploy-broker-").tempdir()?;
        let broker = start_broker(root, dir.path()).await?;
        let mut firegrid = login(broker.port, "firegrid").await?;
        firegrid.subscribe("firegrid/v1/+/+/+/+").await?;
        let mut platforms = [login(broker.port, "platform-yubei").await?, login(broker.port, "platform-wuxi").await?];
        // 渝北区 is 500112, 巫溪县 500238 (deploy/registry/devices.csv); platform 0 is yubei, 1 is wuxi.
        let cases = [
            (0, "firegrid/v1/500112/500112002/smoke/sd-000001", true),
            (0, "firegrid/v1/500238/500238100/forest_ir/fi-000001", false),
            (0, "firegrid/v1/500103/500103001/electrical/em-000001", false),
            (1, "firegrid/v1/500238/500238100/forest_ir/fi-000002", true),
            (1, "firegrid/v1/500112/500112002/smoke/sd-000002", false),
        ];
        let mut expected = Vec::new();
        for (i, (who, topic, allowed)) in cases.into_iter().enumerate() {
            let payload = format!(r#"{{"seq":{i},"values":{{"obscuration_db_m":0.03}}}}"#);
            let platform = &mut platforms[who];
            let code = platform.publish(topic, &payload).await?;
            ensure!(
                (code == PubAckReason::Success) == allowed,
                "{} publishing to {topic} was answered {code:?}",
                platform.name
            );
            if allowed {
                expected.push((topic.to_owned(), payload));
            }
        }
        // A last reading of yubei's, published after the others, arrives after exactly the allowed ones.
        let marker = r#"{"seq":99,"values":{}}"#;
        let code = platforms[0].publish("firegrid/v1/500112/500112002/smoke/sd-marker", marker).await?;
        ensure!(code == PubAckReason::Success, "{code:?}");
        expected.push(("firegrid/v1/500112/500112002/smoke/sd-marker".to_owned(), marker.to_owned()));
        let got = firegrid.receive_until(marker).await?;
        ensure!(got == expected, "firegrid received {got:?}, expected {expected:?}");
        drop((firegrid, platforms));
        drop(broker);
        Ok(())
    })
    .await
    .context("test timed out")?
}
