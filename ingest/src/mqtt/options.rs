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

/// The most QoS 1 messages a client of ours has in flight to the broker (below the broker's own
/// Receive Maximum it changes nothing: mosquitto grants 20, EMQX 32). rumqttc reserves a slot per
/// allowed message up front — about 216 bytes each, 14 MB per client at its default of 65,535 —
/// so the bound is the largest fixed cost of the process (issue 14's heap profile).
pub const OUTGOING_INFLIGHT_MAX: u16 = 1024;

/// Builds the client options of DESIGN §8 from settings.
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
