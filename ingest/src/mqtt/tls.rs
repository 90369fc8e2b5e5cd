//! The rustls client configuration for `mqtts://` (DESIGN §8): the broker verified against
//! `mqtt.ca_file` or the system's roots, an optional client certificate for mutual TLS, and —
//! for test benches only — no verification at all, announced by a warning every time.
//!
//! Built here rather than by rumqttc so that the crypto provider is named (ring, the one reqwest
//! uses): with two providers compiled in, rustls refuses to pick one on its own.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::TlsSettings;

/// The TLS material could not be loaded; each names the key and file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{key} {}: {source}", path.display())]
    Read {
        /// The configuration key.
        key: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no PEM item of the kind the key needs.
    #[error("{key} {}: no {what} in PEM form found", path.display())]
    Empty {
        /// The configuration key.
        key: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// rustls refused the material (a key that does not match the certificate, a bad CA).
    #[error("{key}: {source}")]
    Rustls {
        /// The configuration key.
        key: &'static str,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// The system's root certificates could not be read (set `mqtt.ca_file`).
    #[error("{key} is empty and the system's root certificates cannot be read: {why}")]
    SystemRoots {
        /// The CA file's config key.
        key: &'static str,
        /// What the system's store answered.
        why: String,
    },
}

/// The client configuration for `settings`.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls { key: "mqtt.url", source })?;
    let builder = if settings.insecure_skip_verify {
        tracing::warn!(
            event = "mqtt_tls_verification_off",
            "mqtt.tls_insecure_skip_verify = true: the broker's certificate is NOT checked; anyone on the \
             network path can read and forge sensor readings and dispatches. Test benches only."
        );
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
    } else {
        builder.with_root_certificates(roots(settings.ca_file.as_deref(), "mqtt.ca_file")?)
    };
    let config = match &settings.client_auth {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(certs(cert, "mqtt.tls_cert_file")?, private_key(key)?)
            .map_err(|source| TlsError::Rustls { key: "mqtt.tls_key_file", source })?,
    };
    Ok(Arc::new(config))
}

fn read(path: &Path, key: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { key, path: path.to_owned(), source })
}

/// Every certificate of a PEM file (a chain or a CA bundle).
pub fn certs(path: &Path, key: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, key)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read { key, path: path.to_owned(), source })?;
    if certs.is_empty() {
        return Err(TlsError::Empty { key, path: path.to_owned(), what: "CERTIFICATE" });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let key = "mqtt.tls_key_file";
    let pem = read(path, key)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|source| TlsError::Read { key, path: path.to_owned(), source })?
        .ok_or_else(|| TlsError::Empty { key, path: path.to_owned(), what: "PRIVATE KEY" })
}

/// The trust anchors: every certificate of `ca_file` (the config key `key`), else the system's.
/// Also the PostgreSQL store's (`incidents.postgres.ca_file`).
pub fn roots(ca_file: Option<&Path>, key: &'static str) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in certs(path, key)? {
                store.add(cert).map_err(|source| TlsError::Rustls { key, source })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let why = found.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                return Err(TlsError::SystemRoots { key, why });
            }
            store.add_parsable_certificates(found.certs);
        }
    }
    Ok(store)
}

/// `tls_insecure_skip_verify`: any certificate is taken, but the handshake's signatures are still
/// checked (so the session keys are the peer's, whoever it is). Also what PostgreSQL's
/// `sslmode=prefer` and `require` (without a CA) check: libpq's meaning of those modes.
#[derive(Debug)]
pub struct AnyServerCert(Arc<CryptoProvider>);

impl AnyServerCert {
    /// A verifier taking any certificate, checking signatures with `provider`'s algorithms.
    pub fn new(provider: Arc<CryptoProvider>) -> AnyServerCert {
        AnyServerCert(provider)
    }
}

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
