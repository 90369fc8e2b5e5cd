//! A private CA for the HTTPS endpoints firegrid calls (the store, webhook receivers): the PEM
//! bundle is trusted in addition to the built-in roots, so a server whose certificate a
//! government or company CA signed can be reached without switching verification off.

use std::path::{Path, PathBuf};

/// The CA file could not be used; names the key and the file to fix.
#[derive(Debug, thiserror::Error)]
#[error("{key} {}: {message}", path.display())]
pub struct CaFileError {
    /// The configuration key (`store.influxdb.ca_file`, `dispatch.webhook_ca_file`).
    pub key: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// `builder` trusting every certificate of the PEM bundle at `path` too.
pub fn trust_ca_file(
    builder: reqwest::ClientBuilder,
    path: &Path,
    key: &'static str,
) -> Result<reqwest::ClientBuilder, CaFileError> {
    let fail = |message: String| CaFileError { key, path: path.to_owned(), message };
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(format!("not a PEM bundle: {e}")))?;
    if certs.is_empty() {
        return Err(fail("no CERTIFICATE in PEM form found".into()));
    }
    Ok(certs.into_iter().fold(builder, reqwest::ClientBuilder::add_root_certificate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_names_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        for path in [dir.path().join("absent.pem"), empty] {
            let e = trust_ca_file(reqwest::Client::builder(), &path, "store.influxdb.ca_file").expect_err("refused");
            assert!(e.to_string().starts_with("store.influxdb.ca_file "), "{e}");
        }
    }
}
