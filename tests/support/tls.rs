//! Certificates a test makes (rcgen) for TLS to a real mosquitto: a CA, a server certificate for
//! 127.0.0.1, a client certificate the CA signed, and one a stranger's CA signed; and the
//! mosquitto listener that requires a client certificate (`require_certificate true`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM files in a test's directory.
pub struct TestPki {
    /// The CA that signed the broker's and the client's certificates.
    pub ca: PathBuf,
    /// The broker's certificate (SAN 127.0.0.1 and localhost) and key.
    pub server: (PathBuf, PathBuf),
    /// A client certificate the CA signed, and its key.
    pub client: (PathBuf, PathBuf),
    /// A client certificate another CA signed, and its key: the broker must refuse it.
    pub stranger: (PathBuf, PathBuf),
}

fn ca(name: &str) -> Result<(CertificateParams, KeyPair, String)> {
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.distinguished_name.push(DnType::CommonName, name);
    let pem = p.self_signed(&key)?.pem();
    Ok((p, key, pem))
}

fn leaf(
    dir: &Path,
    name: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(PathBuf, PathBuf)> {
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())?;
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, issuer)?;
    let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&c, cert.pem()).with_context(|| format!("writing {}", c.display()))?;
    std::fs::write(&k, key.serialize_pem()).with_context(|| format!("writing {}", k.display()))?;
    Ok((c, k))
}

impl TestPki {
    /// Generates every certificate into `dir`.
    pub fn generate(dir: &Path) -> Result<TestPki> {
        let (ca_params, ca_key, ca_pem) = ca("firegrid test CA")?;
        let ca_path = dir.join("ca.crt");
        std::fs::write(&ca_path, ca_pem)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let server = leaf(dir, "broker", &["127.0.0.1", "localhost"], ExtendedKeyUsagePurpose::ServerAuth, &issuer)?;
        let client = leaf(dir, "firegrid", &[], ExtendedKeyUsagePurpose::ClientAuth, &issuer)?;
        let (other_params, other_key, _) = ca("stranger CA")?;
        let stranger_issuer = Issuer::new(other_params, other_key);
        let stranger = leaf(dir, "stranger", &[], ExtendedKeyUsagePurpose::ClientAuth, &stranger_issuer)?;
        Ok(TestPki { ca: ca_path, server, client, stranger })
    }

    /// mosquitto configuration for a second listener on `port` that speaks TLS and requires a
    /// client certificate signed by the CA (for [`super::MosquittoOptions::extra_config`]).
    pub fn mosquitto_mtls_listener(&self, port: u16) -> String {
        format!(
            "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
            self.ca.display(),
            self.server.0.display(),
            self.server.1.display()
        )
    }
}
