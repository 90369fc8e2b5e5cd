//! The MQTT client of DESIGN §8, built from settings: a persistent session (fixed client id,
//! clean start off), manual acks, TLS when configured; with MQTT 5 (the default) also a session
//! expiry and a large Receive Maximum, with MQTT 3.1.1 (`mqtt.protocol = "3.1.1"`) the broker's
//! own settings for both.

use rumqttc::v5::{AsyncClient, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};

use super::client::{Client, Connection};
use super::tls::{self, TlsError};

use crate::config::{MqttProtocol, MqttSettings};

/// The MQTT client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// The CA, client certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The most QoS 1 messages a client of ours has in flight to the broker (below the broker's own
/// Receive Maximum it changes nothing: mosquitto grants 20, EMQX 32). rumqttc reserves a slot per
/// allowed message up front — about 216 bytes each, 14 MB per client at its default of 65,535 —
/// so the bound is the largest fixed cost of the process (issue 14's heap profile).
pub const OUTGOING_INFLIGHT_MAX: u16 = 1024;

/// The transport of `s`: TLS (with the rustls configuration of [`tls`]) or plain TCP.
fn transport(s: &MqttSettings) -> Result<Option<Transport>, OptionsError> {
    match &s.tls {
        Some(t) => Ok(Some(Transport::tls_with_config(TlsConfiguration::Rustls(tls::client_config(t)?)))),
        None => Ok(None),
    }
}

/// Builds the MQTT 5 client options of DESIGN §8 from settings (the consumer's, and the
/// dispatch stage's and the probe's, which speak MQTT 5).
pub fn client_options(s: &MqttSettings) -> Result<MqttOptions, OptionsError> {
    let mut o = MqttOptions::new(s.client_id.clone(), s.host.clone(), s.port);
    o.set_outgoing_inflight_upper_limit(OUTGOING_INFLIGHT_MAX);
    o.set_clean_start(false)
        .set_manual_acks(true)
        .set_keep_alive(s.keep_alive)
        .set_session_expiry_interval(Some(s.session_expiry_seconds))
        .set_receive_maximum(Some(s.receive_maximum))
        .set_max_packet_size(Some(s.max_packet_bytes));
    if let Some((user, pass)) = &s.credentials {
        o.set_credentials(user.clone(), pass.clone());
    }
    if let Some(t) = transport(s)? {
        o.set_transport(t);
    }
    Ok(o)
}

/// The MQTT 3.1.1 client options: clean session off (the broker keeps the session for as long
/// as its own settings say), manual acks, the same keep-alive, credentials and TLS. The packet
/// limit is enforced by the client (3.1.1 cannot tell the broker).
pub fn client_options_v311(s: &MqttSettings) -> Result<rumqttc::MqttOptions, OptionsError> {
    let mut o = rumqttc::MqttOptions::new(s.client_id.clone(), s.host.clone(), s.port);
    let max_packet = usize::try_from(s.max_packet_bytes).unwrap_or(usize::MAX);
    o.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(s.keep_alive)
        // Outgoing: dead letters carry a refused message's payload, which fit the incoming limit.
        .set_max_packet_size(max_packet, max_packet.saturating_add(1024));
    if let Some((user, pass)) = &s.credentials {
        o.set_credentials(user.clone(), pass.clone());
    }
    if let Some(t) = transport(s)? {
        o.set_transport(t);
    }
    Ok(o)
}

/// Requests (acks, dead letters, subscriptions, the disconnect) the consumer's client queues for
/// its event loop at most. rumqttc takes one request per poll, about one for every burst of
/// packets it reads, so in a drain the queue is always full and its `VecDeque` of 216-byte
/// requests grows to the next power of two above this bound, once: a bound of the window (10,000)
/// kept 3.5 MB (issue 14's heap profile), this one 221 kB. Acks beyond it wait, packed in runs,
/// in the outbound task's queue ([`super::ack_run`]); the outbound task is the only one that
/// awaits room.
pub const REQUEST_QUEUE: usize = 1024;

/// The consumer's client and its event loop in the configured protocol, with a request queue of
/// [`REQUEST_QUEUE`].
pub fn connect(s: &MqttSettings) -> Result<(Client, Connection), OptionsError> {
    let cap = REQUEST_QUEUE;
    Ok(match s.protocol {
        MqttProtocol::V5 => {
            let (c, el) = AsyncClient::new(client_options(s)?, cap);
            (Client::V5(c), Connection::V5(Box::new(el)))
        }
        MqttProtocol::V311 => {
            let (c, el) = rumqttc::AsyncClient::new(client_options_v311(s)?, cap);
            (Client::V4(c), Connection::V4(Box::new(el)))
        }
    })
}
