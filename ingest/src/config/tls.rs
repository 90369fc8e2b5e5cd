//! The validated TLS keys of `[mqtt]` (`ca_file`, `tls_cert_file`, `tls_key_file`,
//! `tls_insecure_skip_verify`): paths only; the files are read when the client is built
//! (`crate::mqtt::tls`), so a renewed certificate is picked up on the next start.

use std::path::PathBuf;

/// TLS to the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// CA bundle that signed the broker's certificate; `None` = the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (chain) and its private key, for mutual TLS.
    pub client_auth: Option<(PathBuf, PathBuf)>,
    /// Accept any broker certificate (test benches only).
    pub insecure_skip_verify: bool,
}
