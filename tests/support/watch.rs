//! Watching what firegrid publishes: a QoS 1 subscriber on the real broker that collects the JSON
//! messages of a filter (the dispatch topics, the dead-letter topic) with their topics, waits on
//! conditions over them with a deadline, and synchronises with the broker through a marker.
//!
//! "Nothing else arrived" is never judged after a pause: [`DispatchWatch::sync`] publishes a
//! marker under the filter and waits for it. The broker queues a subscriber's messages in the
//! order it accepted them, so once the marker is in, so is everything the broker had accepted
//! before it — whatever a publisher had been acknowledged for.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::Value;
use tokio::sync::mpsc;

/// Upper bound of the SUBACK and of a marker's round trip.
const ANSWER: Duration = Duration::from_secs(10);
/// The key a marker's payload carries (no firegrid message has it).
const MARKER_KEY: &str = "_harness_sync";

/// Collects the JSON messages published under a filter of the real broker, with their topics.
pub struct DispatchWatch {
    port: u16,
    filter: String,
    rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    /// The JSON messages that arrived so far (markers left out), in order.
    pub seen: Vec<(String, Value)>,
    /// Every message that arrived so far, JSON or not, as topic and payload bytes (markers left
    /// out), in order.
    pub raw: Vec<(String, Vec<u8>)>,
    markers: u64,
    task: tokio::task::JoinHandle<()>,
}

impl DispatchWatch {
    /// Subscribes (QoS 1) and waits for the SUBACK.
    pub async fn start(port: u16, filter: &str) -> Result<DispatchWatch> {
        let id = format!("watch-{}-{}", std::process::id(), super::free_port()?);
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_max_packet_size(Some(1 << 20));
        let (client, mut el) = AsyncClient::new(opts, 1000);
        client.subscribe(filter, QoS::AtLeastOnce).await?;
        loop {
            match tokio::time::timeout(ANSWER, el.poll()).await.context("subscribe timed out")? {
                Ok(Event::Incoming(Packet::SubAck(_))) => break,
                Ok(_) => {}
                Err(e) => bail!("watcher of {filter}: {e}"),
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let _client = client;
            while let Ok(ev) = el.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = ev {
                    let _ = tx.send((String::from_utf8_lossy(&p.topic).into_owned(), p.payload.to_vec()));
                }
            }
        });
        Ok(DispatchWatch { port, filter: filter.to_owned(), rx, seen: Vec::new(), raw: Vec::new(), markers: 0, task })
    }

    /// The messages received so far, without their topics.
    pub fn messages(&self) -> impl Iterator<Item = &Value> {
        self.seen.iter().map(|(_, v)| v)
    }

    /// Takes in what has arrived, without waiting.
    fn take_arrived(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            self.push(m);
        }
    }

    /// Keeps a message that is not a marker; returns the marker's number when it is one.
    fn push(&mut self, (topic, payload): (String, Vec<u8>)) -> Option<Value> {
        let json = serde_json::from_slice::<Value>(&payload).ok();
        if let Some(marker) = json.as_ref().and_then(|v| v.get(MARKER_KEY)) {
            return Some(marker.clone());
        }
        if let Some(v) = json {
            self.seen.push((topic.clone(), v));
        }
        self.raw.push((topic, payload));
        None
    }

    /// Waits until `pred` holds over everything received so far.
    pub async fn until(&mut self, timeout: Duration, pred: impl Fn(&[(String, Value)]) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.take_arrived();
        while !pred(&self.seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => {
                    self.push(m);
                }
                _ => bail!("condition on {} not met within {timeout:?}; received {:?}", self.filter, self.seen),
            }
        }
        Ok(())
    }

    /// Waits until `pred` holds over every message received so far, JSON or not.
    pub async fn until_raw(&mut self, timeout: Duration, pred: impl Fn(&[(String, Vec<u8>)]) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.take_arrived();
        while !pred(&self.raw) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => {
                    self.push(m);
                }
                _ => bail!("condition on {} not met within {timeout:?}; {} received", self.filter, self.raw.len()),
            }
        }
        Ok(())
    }

    /// Publishes a marker under the filter and waits until it arrives: everything the broker had
    /// accepted for this filter before is then in [`seen`](Self::seen).
    pub async fn sync(&mut self) -> Result<()> {
        self.markers += 1;
        let n = self.markers;
        let topic = match self.filter.strip_suffix('#') {
            Some(root) => format!("{root}{MARKER_KEY}"),
            None => self.filter.clone(),
        };
        let payload = serde_json::json!({ MARKER_KEY: n }).to_string().into_bytes();
        let client_id = format!("watch-marker-{}-{}", std::process::id(), super::free_port()?);
        super::publish::publish_all(self.port, &client_id, vec![(topic, payload)]).await?;
        let deadline = tokio::time::Instant::now() + ANSWER;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => {
                    if self.push(m) == Some(Value::from(n)) {
                        return Ok(());
                    }
                }
                _ => bail!("the marker on {} did not come back within {ANSWER:?}", self.filter),
            }
        }
    }

    /// How many messages arrived per `idempotency_key`.
    pub fn per_key(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for v in self.messages() {
            *out.entry(v["idempotency_key"].as_str().unwrap_or("").to_owned()).or_default() += 1;
        }
        out
    }
}

impl Drop for DispatchWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Collects the dead letters published on `firegrid/v1/deadletter`.
pub struct DeadLetterWatch(DispatchWatch);

impl DeadLetterWatch {
    /// Subscribes (and waits for the subscription to be acknowledged).
    pub async fn start(broker_port: u16) -> Result<DeadLetterWatch> {
        Ok(DeadLetterWatch(DispatchWatch::start(broker_port, "firegrid/v1/deadletter").await?))
    }

    /// Waits until `n` dead letters arrived in all (or the timeout), returning those that did.
    pub async fn collect(&mut self, n: usize, timeout: Duration) -> Vec<Value> {
        let _ = self.0.until(timeout, |seen| seen.len() >= n).await;
        self.0.messages().cloned().collect()
    }

    /// Every dead letter the broker accepted before now (synced by a marker, see
    /// [`DispatchWatch::sync`]).
    pub async fn synced(&mut self) -> Result<Vec<Value>> {
        self.0.sync().await?;
        Ok(self.0.messages().cloned().collect())
    }
}
