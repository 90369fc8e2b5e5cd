//! The MQTT client of DESIGN §8, built from settings: MQTT 5, a persistent session (fixed
//! client id, clean start off, session expiry), manual acks, a large Receive Maximum, TLS when
//! configured.

use rumqttc::v5::{AsyncClient, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};

use super::tls::{self, TlsError};

use crate::config::MqttSettings;

/// The MQTT client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// The CA, client certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The most QoS 1 publishes of firegrid's own (dead letters, dispatch messages) awaiting their
/// PUBACK; more wait in the request queue. rumqttc sizes a table by this limit up front (about
/// 216 bytes a slot) and its default, 65,535, cost 14 MB per client — 28 MB of every process,
/// the ingest and the dispatch connection — for a window brokers cap far lower anyway
/// (mosquitto's Receive Maximum is 20).
const OUTGOING_INFLIGHT: u16 = 1024;

/// Builds the client options of DESIGN §8 from settings.
pub fn client_options(s: &MqttSettings) -> Result<MqttOptions, OptionsError> {
    let mut o = MqttOptions::new(s.client_id.clone(), s.host.clone(), s.port);
    o.set_clean_start(false)
        .set_manual_acks(true)
        .set_keep_alive(s.keep_alive)
        .set_session_expiry_interval(Some(s.session_expiry_seconds))
        .set_receive_maximum(Some(s.receive_maximum))
        .set_max_packet_size(Some(s.max_packet_bytes))
        .set_outgoing_inflight_upper_limit(OUTGOING_INFLIGHT);
    if let Some((user, pass)) = &s.credentials {
        o.set_credentials(user.clone(), pass.clone());
    }
    if let Some(t) = &s.tls {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls::client_config(t)?)));
    }
    Ok(o)
}

/// A connected client and its event loop; the request queue is sized so that acks for a full
/// window never wait.
pub fn connect(s: &MqttSettings) -> Result<(AsyncClient, EventLoop), OptionsError> {
    let cap = usize::from(s.receive_maximum) + 1024;
    Ok(AsyncClient::new(client_options(s)?, cap))
}
