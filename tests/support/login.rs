//! MQTT 3.1.1 clients that log in to a broker (the embedded broker takes 3.1.1 publishers): whether
//! a client with or without credentials gets in, and, when it does, publishing with QoS 1 (waiting
//! for the PUBACK), subscribing (waiting for the SUBACK) and receiving, each bounded in time.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// Upper bound of one wait for the broker.
const ANSWER: Duration = Duration::from_secs(10);

/// How a login ended.
pub enum Login {
    /// CONNACK accepted.
    Accepted(Session),
    /// Refused (a CONNACK with an error code, or the connection closed): why.
    Refused(String),
}

/// A logged-in client; its event loop runs on a task aborted on drop.
pub struct Session {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Packet, String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects to `127.0.0.1:port` as `client_id`, with `credentials` when given.
pub async fn login(port: u16, client_id: &str, credentials: Option<(&str, &str)>) -> Result<Login> {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(10)).set_max_packet_size(1 << 20, 1 << 20);
    if let Some((user, password)) = credentials {
        options.set_credentials(user, password);
    }
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let (tx, mut events) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(p)) => {
                    if tx.send(Ok(p)).is_err() {
                        return;
                    }
                }
                Ok(Event::Outgoing(_)) => {}
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            }
        }
    });
    match tokio::time::timeout(ANSWER, events.recv()).await.context("no answer to CONNECT")? {
        Some(Ok(Packet::ConnAck(ack))) if ack.code == rumqttc::ConnectReturnCode::Success => {
            Ok(Login::Accepted(Session { client, events, task }))
        }
        Some(Ok(Packet::ConnAck(ack))) => {
            task.abort();
            Ok(Login::Refused(format!("{:?}", ack.code)))
        }
        Some(Err(e)) => {
            task.abort();
            Ok(Login::Refused(e))
        }
        other => bail!("expected a CONNACK, got {other:?}"),
    }
}

/// Logs in and insists on getting in.
pub async fn session(port: u16, client_id: &str, credentials: Option<(&str, &str)>) -> Result<Session> {
    match login(port, client_id, credentials).await? {
        Login::Accepted(s) => Ok(s),
        Login::Refused(why) => bail!("{client_id} was refused: {why}"),
    }
}

impl Session {
    async fn next(&mut self) -> Result<Packet> {
        match tokio::time::timeout(ANSWER, self.events.recv()).await {
            Ok(Some(Ok(p))) => Ok(p),
            Ok(Some(Err(e))) => bail!("connection failed: {e}"),
            Ok(None) => bail!("event loop ended"),
            Err(_) => bail!("no packet within {ANSWER:?}"),
        }
    }

    /// Publishes with QoS 1 and waits for the PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: &[u8]) -> Result<()> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload.to_vec()).await?;
        while !matches!(self.next().await?, Packet::PubAck(_)) {}
        Ok(())
    }

    /// Subscribes with QoS 1 and waits for the SUBACK.
    pub async fn subscribe(&mut self, filter: &str) -> Result<()> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        while !matches!(self.next().await?, Packet::SubAck(_)) {}
        Ok(())
    }

    /// The next message received whose topic and payload satisfy `pred`, within `timeout`.
    pub async fn receive(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&str, &[u8]) -> bool,
    ) -> Result<(String, Vec<u8>)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let p = tokio::time::timeout_at(deadline, self.next()).await.context("no such message in time")??;
            if let Packet::Publish(p) = p {
                let topic = p.topic.clone();
                if pred(&topic, &p.payload) {
                    return Ok((topic, p.payload.to_vec()));
                }
            }
        }
    }
}
