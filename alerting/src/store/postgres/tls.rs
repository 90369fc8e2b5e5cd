//! TLS to PostgreSQL with rustls (ring, the provider the rest of firegrid uses): a
//! [`MakeTlsConnect`] for tokio-postgres whose certificate checks follow the URL's `sslmode`
//! ([`SslMode`]) and `[incidents.postgres] ca_file`:
//!
//! | sslmode | certificate |
//! | --- | --- |
//! | `disable` | no TLS |
//! | `prefer`, `require` without `ca_file` | not checked (libpq's meaning: encryption only) |
//! | `require` with `ca_file`, `verify-ca` | chain checked against `ca_file` (else the system's roots), any name |
//! | `verify-full` | chain checked, and valid for the host connected to |
//!
//! A refused certificate fails the connection with an error that says which check failed and
//! which file to look at. SCRAM channel binding is not offered (the server's certificate hash
//! algorithm is not read), so authentication is SCRAM-SHA-256 without `-PLUS`.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use firegrid_ingest::mqtt::tls::TlsError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use super::sslmode::SslMode;

/// The configuration key of the CA bundle.
pub(crate) const CA_FILE_KEY: &str = "incidents.postgres.ca_file";

/// TLS could not be set up, or a handshake failed; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum PgTlsError {
    /// The CA bundle could not be read or holds no usable certificate.
    #[error("{CA_FILE_KEY}: {0}")]
    CaFile(String),
    /// The system's root certificates could not be read (set `ca_file`).
    #[error("{CA_FILE_KEY} is empty and the system's root certificates cannot be read: {0}")]
    SystemRoots(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
    /// The host is not a name or address a certificate can be checked against.
    #[error("host `{0}` is not a valid TLS server name")]
    ServerName(String),
    /// The handshake failed (the server's certificate was refused, or the connection dropped).
    #[error("TLS handshake with {host} (sslmode={mode}) failed: {message}")]
    Handshake {
        /// The host connected to.
        host: String,
        /// The URL's mode.
        mode: SslMode,
        /// What failed, with a hint naming the file or mode to change.
        message: String,
    },
}

/// The connector of one store URL (see the module doc).
#[derive(Clone)]
pub(crate) struct PgTls {
    mode: SslMode,
    ca_file: Option<PathBuf>,
    /// `None` with `sslmode=disable` (the driver never asks for a handshake then).
    config: Option<Arc<ClientConfig>>,
}

impl PgTls {
    /// The connector for `mode` and `ca_file` (read now: a renewed file is used at the next
    /// connection).
    pub(crate) fn new(mode: SslMode, ca_file: Option<&Path>) -> Result<PgTls, PgTlsError> {
        let ca_file = ca_file.map(Path::to_owned);
        if mode == SslMode::Disable {
            return Ok(PgTls { mode, ca_file, config: None });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(PgTlsError::Config)?;
        let verifier: Arc<dyn ServerCertVerifier> = match (mode, &ca_file) {
            (SslMode::Prefer, _) | (SslMode::Require, None) => {
                Arc::new(firegrid_ingest::mqtt::tls::AnyServerCert::new(provider))
            }
            _ => {
                let roots = Arc::new(roots(ca_file.as_deref())?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| PgTlsError::CaFile(e.to_string()))?;
                if mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(AnyName(webpki))
                }
            }
        };
        let config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
        Ok(PgTls { mode, ca_file, config: Some(Arc::new(config)) })
    }

    /// Why a handshake with `host` failed, with what to change.
    fn explain(&self, host: &str, e: &io::Error) -> PgTlsError {
        let ca = match &self.ca_file {
            Some(p) => format!("{CA_FILE_KEY} ({})", p.display()),
            None => "the system's roots (set incidents.postgres.ca_file)".to_owned(),
        };
        let rustls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let hint = match rustls_error {
            // BadSignature: an issuer of the same name is in the bundle, but did not sign it.
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            )) => {
                format!("the server's certificate is not signed by a CA in {ca}")
            }
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => format!(
                "the server's certificate is not valid for host {host} (fix its names, or connect by a name it \
                 has; sslmode=verify-ca skips the name check)"
            ),
            _ => String::new(),
        };
        let message = if hint.is_empty() { e.to_string() } else { format!("{e}: {hint}") };
        PgTlsError::Handshake { host: host.to_owned(), mode: self.mode, message }
    }
}

/// The trust anchors: every certificate of `ca_file`, else the system's (the MQTT client's
/// reading of a CA bundle, with this store's key in its errors).
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, PgTlsError> {
    firegrid_ingest::mqtt::tls::roots(ca_file, CA_FILE_KEY).map_err(|e| match e {
        TlsError::SystemRoots { why, .. } => PgTlsError::SystemRoots(why),
        TlsError::Rustls { source, .. } => {
            let path = ca_file.map(|p| p.display().to_string()).unwrap_or_default();
            PgTlsError::CaFile(format!("{path}: {source}"))
        }
        other => PgTlsError::CaFile(other.to_string().replacen(&format!("{CA_FILE_KEY} "), "", 1)),
    })
}

/// `verify-ca` (and `require` with a CA): the chain is checked, the name is not. rustls checks
/// the chain before the name, so a name error means the chain was good.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// One handshake's connector: the configuration and the host to check.
pub(crate) struct PgTlsConnect {
    tls: PgTls,
    host: String,
}

impl<S> MakeTlsConnect<S> for PgTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type TlsConnect = PgTlsConnect;
    type Error = PgTlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<PgTlsConnect, PgTlsError> {
        Ok(PgTlsConnect { tls: self.clone(), host: domain.to_owned() })
    }
}

impl<S> TlsConnect<S> for PgTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = PgTlsStream<S>;
    type Error = PgTlsError;
    type Future = Pin<Box<dyn Future<Output = Result<PgTlsStream<S>, PgTlsError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let host = self.host.clone();
            let config = self.tls.config.clone().ok_or_else(|| PgTlsError::Handshake {
                host: host.clone(),
                mode: self.tls.mode,
                message: "TLS is disabled (sslmode=disable)".into(),
            })?;
            let name = ServerName::try_from(host.clone()).map_err(|_| PgTlsError::ServerName(host.clone()))?;
            let connector = tokio_rustls::TlsConnector::from(config);
            match connector.connect(name, stream).await {
                Ok(s) => Ok(PgTlsStream(s)),
                Err(e) => Err(self.tls.explain(&host, &e)),
            }
        })
    }
}

/// A TLS session to the server.
pub(crate) struct PgTlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PgTlsStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PgTlsStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for PgTlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
