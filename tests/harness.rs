//! Tests of the end-to-end harness itself (`tests/support`), against the real mosquitto and VictoriaMetrics: the
//! servers start and stop, the broker configuration keeps a backlog across restarts and gives 3.1.1 clients a large
//! in-flight window, and VictoriaMetrics maps InfluxDB line protocol the way `support`'s module documentation says.

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use support::{Mosquitto, MosquittoOptions, VictoriaMetrics, VmOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Upper bound of every test.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound of one wait for an MQTT event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

async fn bounded(test: impl Future<Output = Result<()>>) -> Result<()> {
    tokio::time::timeout(TEST_TIMEOUT, test).await.context("test timed out")?
}

/// An MQTT 5 client whose event loop runs in a task that forwards every event.
struct Client5 {
    client: rumqttc::v5::AsyncClient,
    events: mpsc::UnboundedReceiver<rumqttc::v5::Event>,
    task: JoinHandle<()>,
}

impl Client5 {
    /// Persistent when `session_expiry` is set (clean start off).
    fn connect(broker: &Mosquitto, id: &str, session_expiry: Option<u32>) -> Self {
        let mut options = rumqttc::v5::MqttOptions::new(id, broker.host(), broker.port());
        options.set_keep_alive(Duration::from_secs(5));
        options.set_clean_start(session_expiry.is_none());
        options.set_session_expiry_interval(session_expiry);
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 100);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    // Stop here, or the next poll would reconnect.
                    Ok(rumqttc::v5::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(event) => {
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self { client, events, task }
    }

    async fn next_incoming(&mut self) -> Result<rumqttc::v5::mqttbytes::v5::Packet> {
        loop {
            let event = tokio::time::timeout(EVENT_TIMEOUT, self.events.recv())
                .await
                .context("no MQTT event within the timeout")?
                .context("event loop ended")?;
            if let rumqttc::v5::Event::Incoming(packet) = event {
                return Ok(packet);
            }
        }
    }

    /// Waits for the CONNACK and returns its session-present flag.
    async fn connack(&mut self) -> Result<bool> {
        use rumqttc::v5::mqttbytes::v5::Packet;
        loop {
            if let Packet::ConnAck(ack) = self.next_incoming().await? {
                return Ok(ack.session_present);
            }
        }
    }

    async fn subscribe(&mut self, filter: &str) -> Result<()> {
        use rumqttc::v5::mqttbytes::v5::Packet;
        self.client.subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce).await?;
        loop {
            if let Packet::SubAck(_) = self.next_incoming().await? {
                return Ok(());
            }
        }
    }

    /// Receives `n` publishes and returns their payloads.
    async fn receive(&mut self, n: usize) -> Result<Vec<(String, String)>> {
        use rumqttc::v5::mqttbytes::v5::Packet;
        let mut received = Vec::with_capacity(n);
        while received.len() < n {
            let packet = self.next_incoming().await.with_context(|| format!("received {} of {n}", received.len()))?;
            if let Packet::Publish(publish) = packet {
                received.push((
                    String::from_utf8_lossy(&publish.topic).into_owned(),
                    String::from_utf8_lossy(&publish.payload).into_owned(),
                ));
            }
        }
        Ok(received)
    }

    /// Publishes QoS 1 messages and waits for every PUBACK.
    async fn publish_all(&mut self, topic: &str, payloads: &[String]) -> Result<()> {
        use rumqttc::v5::mqttbytes::v5::Packet;
        let mut acked = 0;
        for payload in payloads {
            self.client
                .publish(topic, rumqttc::v5::mqttbytes::QoS::AtLeastOnce, false, payload.clone().into_bytes())
                .await?;
            while let Ok(event) = self.events.try_recv() {
                if let rumqttc::v5::Event::Incoming(Packet::PubAck(_)) = event {
                    acked += 1;
                }
            }
        }
        while acked < payloads.len() {
            if let Packet::PubAck(_) = self.next_incoming().await.with_context(|| format!("{acked} PUBACKs"))? {
                acked += 1;
            }
        }
        Ok(())
    }

    async fn disconnect(mut self) -> Result<()> {
        self.client.disconnect().await?;
        // The event loop task ends once the DISCONNECT is written.
        let task = &mut self.task;
        tokio::time::timeout(EVENT_TIMEOUT, task).await.context("DISCONNECT not sent")?.context("event loop")?;
        Ok(())
    }
}

impl Drop for Client5 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An MQTT 3.1.1 client, persistent (clean session off), whose event loop forwards every event.
struct Client4 {
    client: rumqttc::AsyncClient,
    events: mpsc::UnboundedReceiver<rumqttc::Event>,
    task: JoinHandle<()>,
}

impl Client4 {
    fn connect(broker: &Mosquitto, id: &str, manual_acks: bool) -> Self {
        let mut options = rumqttc::MqttOptions::new(id, broker.host(), broker.port());
        options.set_keep_alive(Duration::from_secs(5));
        options.set_clean_session(false);
        options.set_manual_acks(manual_acks);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 100);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    // Stop here, or the next poll would reconnect.
                    Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(event) => {
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self { client, events, task }
    }

    async fn next_incoming(&mut self, timeout: Duration) -> Result<Option<rumqttc::Packet>> {
        loop {
            let event = match tokio::time::timeout(timeout, self.events.recv()).await {
                Err(_) => return Ok(None),
                Ok(event) => event.context("event loop ended")?,
            };
            if let rumqttc::Event::Incoming(packet) = event {
                return Ok(Some(packet));
            }
        }
    }

    async fn expect_incoming(&mut self) -> Result<rumqttc::Packet> {
        self.next_incoming(EVENT_TIMEOUT).await?.context("no MQTT event within the timeout")
    }

    async fn connack(&mut self) -> Result<bool> {
        loop {
            if let rumqttc::Packet::ConnAck(ack) = self.expect_incoming().await? {
                return Ok(ack.session_present);
            }
        }
    }

    async fn subscribe(&mut self, filter: &str) -> Result<()> {
        self.client.subscribe(filter, rumqttc::QoS::AtLeastOnce).await?;
        loop {
            if let rumqttc::Packet::SubAck(_) = self.expect_incoming().await? {
                return Ok(());
            }
        }
    }

    async fn disconnect(mut self) -> Result<()> {
        self.client.disconnect().await?;
        // The event loop task ends once the DISCONNECT is written.
        let task = &mut self.task;
        tokio::time::timeout(EVENT_TIMEOUT, task).await.context("DISCONNECT not sent")?.context("event loop")?;
        Ok(())
    }
}

impl Drop for Client4 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn payloads(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("message-{i:05}")).collect()
}

/// Publishes `n` QoS 1 messages with a throw-away MQTT 5 client and waits for all PUBACKs.
async fn publish_backlog(broker: &Mosquitto, topic: &str, n: usize) -> Result<Vec<String>> {
    let messages = payloads(n);
    let mut publisher = Client5::connect(broker, "harness-publisher", None);
    publisher.connack().await?;
    publisher.publish_all(topic, &messages).await?;
    publisher.disconnect().await?;
    Ok(messages)
}

#[tokio::test]
async fn mosquitto_round_trips_a_qos1_message() -> Result<()> {
    bounded(async {
        let broker = Mosquitto::start().await?;
        ensure!(broker.url() == format!("mqtt://127.0.0.1:{}", broker.port()), "url {}", broker.url());
        ensure!(broker.pid().is_some(), "no pid");

        let mut subscriber = Client5::connect(&broker, "harness-subscriber", None);
        subscriber.connack().await?;
        subscriber.subscribe("firegrid/v1/test/#").await?;
        publish_backlog(&broker, "firegrid/v1/test/a", 1).await?;

        let received = subscriber.receive(1).await?;
        ensure!(received == [("firegrid/v1/test/a".to_owned(), "message-00000".to_owned())], "got {received:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn mosquitto_keeps_queued_messages_across_a_restart() -> Result<()> {
    bounded(async {
        let mut broker = Mosquitto::start().await?;
        let port = broker.port();
        let first_pid = broker.pid();

        let mut subscriber = Client5::connect(&broker, "harness-persistent", Some(3600));
        ensure!(!subscriber.connack().await?, "a new session must not be present");
        subscriber.subscribe("firegrid/v1/test/#").await?;
        subscriber.disconnect().await?;

        let sent = publish_backlog(&broker, "firegrid/v1/test/backlog", 500).await?;
        broker.restart().await?;
        ensure!(broker.port() == port, "port changed");
        ensure!(broker.pid() != first_pid, "the broker process was not replaced");

        let mut subscriber = Client5::connect(&broker, "harness-persistent", Some(3600));
        ensure!(subscriber.connack().await?, "the session did not survive the restart");
        let received: BTreeSet<String> = subscriber.receive(sent.len()).await?.into_iter().map(|(_, p)| p).collect();
        ensure!(received == sent.iter().cloned().collect(), "received {} distinct of {}", received.len(), sent.len());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn mosquitto_keeps_autosaved_messages_across_a_kill() -> Result<()> {
    bounded(async {
        let mut broker = Mosquitto::start().await?;

        let mut subscriber = Client4::connect(&broker, "harness-crash", false);
        subscriber.connack().await?;
        subscriber.subscribe("firegrid/v1/test/#").await?;
        subscriber.disconnect().await?;

        let sent = publish_backlog(&broker, "firegrid/v1/test/crash", 100).await?;
        // The backlog is on disk once an autosave (every second) wrote the database after the last
        // PUBACK: mosquitto stores, acknowledges and saves on one thread, so a save that ended
        // after the acknowledgements began after the messages were stored.
        let acked = std::time::SystemTime::now();
        let db = broker.dir().join("mosquitto.db");
        support::eventually(Duration::from_secs(10), || {
            let db = db.clone();
            async move { Ok((std::fs::metadata(&db)?.modified()? > acked).then_some(())) }
        })
        .await
        .context("an autosave after the backlog was acknowledged")?;
        broker.kill();
        ensure!(!broker.is_running(), "still running after kill");
        broker.start_again().await?;

        let mut subscriber = Client4::connect(&broker, "harness-crash", false);
        ensure!(subscriber.connack().await?, "the session did not survive the kill");
        let mut received = BTreeSet::new();
        while received.len() < sent.len() {
            if let rumqttc::Packet::Publish(publish) = subscriber.expect_incoming().await? {
                received.insert(String::from_utf8_lossy(&publish.payload).into_owned());
            }
        }
        ensure!(received == sent.iter().cloned().collect(), "received {received:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn mosquitto_gives_a_3_1_1_consumer_the_configured_in_flight_window() -> Result<()> {
    bounded(async {
        let window = MosquittoOptions::default().max_inflight_messages as usize;
        let broker = Mosquitto::start().await?;

        let mut consumer = Client4::connect(&broker, "harness-window", true);
        consumer.connack().await?;
        consumer.subscribe("firegrid/v1/test/#").await?;
        consumer.disconnect().await?;
        publish_backlog(&broker, "firegrid/v1/test/window", window + 500).await?;

        // Manual acks, never sent: the broker stops at its in-flight window. It sends a resumed
        // session's queue as it takes the connection; the SUBACK of a later SUBSCRIBE is the
        // marker after which no more of it can come.
        let mut consumer = Client4::connect(&broker, "harness-window", true);
        consumer.connack().await?;
        let mut received = 0;
        while received < window {
            if let rumqttc::Packet::Publish(_) = consumer.expect_incoming().await? {
                received += 1;
            }
        }
        consumer.client.subscribe("firegrid/v1/marker", rumqttc::QoS::AtLeastOnce).await?;
        loop {
            match consumer.expect_incoming().await? {
                rumqttc::Packet::Publish(_) => received += 1,
                rumqttc::Packet::SubAck(_) => break,
                _ => {}
            }
        }
        ensure!(received == window, "received {received} unacknowledged messages, expected the window {window}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn victoria_metrics_maps_line_protocol_fields_to_measurement_field_metrics() -> Result<()> {
    bounded(async {
        let store = VictoriaMetrics::start().await?;
        let status = store
            .post_lines(
                "smoke,device_id=SM-1,county=渝中区,township=解放碑街道\\ 一,registered=false \
                 obscuration_db_m=0.12,alarm=true,fault=false,seq=42i,note=\"hello world\",numeric_text=\"12.5\" \
                 1700000000000\n\
                 electrical,device_id=EL-1 cable_temp_c_1=40.5,cable_temp_c_2=41 1700000000001\n",
            )
            .await?;
        ensure!(status == 204, "write answered {status}");

        let smoke = store.export("{__name__=~\"smoke_.*\"}").await?;
        let names: Vec<&str> = smoke.iter().map(|s| s.name.as_str()).collect();
        ensure!(
            names
                == [
                    "smoke_alarm",
                    "smoke_fault",
                    "smoke_note",
                    "smoke_numeric_text",
                    "smoke_obscuration_db_m",
                    "smoke_seq"
                ],
            "names {names:?}"
        );
        for series in &smoke {
            ensure!(series.label("device_id") == Some("SM-1"), "{series:?}");
            ensure!(series.label("county") == Some("渝中区"), "{series:?}");
            ensure!(series.label("township") == Some("解放碑街道 一"), "{series:?}");
            ensure!(series.label("registered") == Some("false"), "{series:?}");
            ensure!(series.labels.len() == 4, "org/bucket must add no label: {series:?}");
            ensure!(series.timestamps == [1_700_000_000_000], "{series:?}");
        }
        let value = |name: &str| smoke.iter().find(|s| s.name == name).map(|s| s.values.clone());
        ensure!(value("smoke_obscuration_db_m") == Some(vec![0.12]), "float");
        ensure!(value("smoke_alarm") == Some(vec![1.0]), "true is 1");
        ensure!(value("smoke_fault") == Some(vec![0.0]), "false is 0");
        ensure!(value("smoke_seq") == Some(vec![42.0]), "integer");
        ensure!(value("smoke_note") == Some(vec![0.0]), "text is 0");
        ensure!(value("smoke_numeric_text") == Some(vec![12.5]), "numeric text is its number");

        let electrical = store.export("{__name__=~\"electrical_.*\"}").await?;
        let points: Vec<(&str, Vec<(i64, f64)>)> =
            electrical.iter().map(|s| (s.name.as_str(), s.points().collect())).collect();
        ensure!(
            points
                == [
                    ("electrical_cable_temp_c_1", vec![(1_700_000_000_001, 40.5)]),
                    ("electrical_cable_temp_c_2", vec![(1_700_000_000_001, 41.0)])
                ],
            "{points:?}"
        );
        ensure!(store.series_count("{__name__=~\"smoke_.*|electrical_.*\"}").await? == 8, "series count");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn victoria_metrics_stores_a_point_written_twice_once() -> Result<()> {
    bounded(async {
        let line = "smoke,device_id=SM-2 obscuration_db_m=0.5,seq=7i 1700000000000";
        let store = VictoriaMetrics::start().await?;
        store.write_lines(line).await?;
        store.write_lines(line).await?;
        ensure!(store.sample_count("{device_id=\"SM-2\"}").await? == 2, "two fields, one sample each");

        // Without deduplication both writes are visible: the flag is what makes replays harmless.
        let plain = VictoriaMetrics::start_with(VmOptions { dedup: false, ..VmOptions::default() }).await?;
        plain.write_lines(line).await?;
        plain.write_lines(line).await?;
        ensure!(plain.sample_count("{device_id=\"SM-2\"}").await? == 4, "without dedup every write is a sample");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn victoria_metrics_keeps_its_data_across_stop_and_start_again() -> Result<()> {
    bounded(async {
        let mut store = VictoriaMetrics::start().await?;
        let port = store.port();
        store.write_lines("forest_ir,device_id=IR-1 temp_c=33.5 1700000000000").await?;
        store.force_flush().await?;
        store.stop().await?;
        ensure!(!store.is_running(), "still running after stop");
        ensure!(store.write_lines("forest_ir,device_id=IR-1 temp_c=1 1700000000001").await.is_err(), "down");

        store.start_again().await?;
        ensure!(store.port() == port, "port changed");
        let series = store.export("forest_ir_temp_c").await?;
        ensure!(series.len() == 1 && series[0].values == [33.5], "{series:?}");

        store.kill();
        ensure!(!store.is_running(), "still running after kill");
        store.start_again().await?;
        ensure!(store.sample_count("forest_ir_temp_c").await? == 1, "flushed data survives a kill");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn victoria_metrics_skips_malformed_lines_and_still_answers_204() -> Result<()> {
    bounded(async {
        let store = VictoriaMetrics::start().await?;
        let now_ms = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis())?;
        let three_days_ahead = now_ms + 3 * 86_400_000;
        let one_hour_ahead = now_ms + 3_600_000;
        let body = format!(
            "good,device_id=A v=1 1700000000000\n\
             this is not line protocol\n\
             good,device_id=B v=2 1700000000000\n\
             future,device_id=A v=3 {one_hour_ahead}\n\
             future,device_id=B v=4 {three_days_ahead}\n"
        );
        let status = store.post_lines(&body).await?;
        ensure!(status == 204, "answered {status}");
        let good = store.export("good_v").await?;
        ensure!(good.len() == 2, "{good:?}");
        let future = store.export("future_v").await?;
        ensure!(future.len() == 1 && future[0].label("device_id") == Some("A"), "{future:?}");
        ensure!(store.logs().contains("cannot unmarshal InfluxDB line"), "the skip is logged");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn free_ports_are_bindable_on_loopback() -> Result<()> {
    let port = support::free_port()?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).context("binding the free port")?;
    if listener.local_addr()?.port() != port {
        bail!("bound another port");
    }
    Ok(())
}
