//! The PostgreSQL connection URL: parsed and checked at load, and shown only redacted — the
//! password never reaches a log line, an error or a `Debug` print.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::sslmode::{split_sslmode, SslMode};

/// A checked connection URL (`postgres://user:password@host:port/db?…` or the key-value form),
/// with how it uses TLS: the URL's `sslmode` and `[incidents.postgres] ca_file`.
/// `Debug` and [`PgUrl::redacted`] hide the password.
#[derive(Clone)]
pub struct PgUrl {
    config: tokio_postgres::Config,
    redacted: String,
    ssl_mode: SslMode,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PgUrl").field(&self.redacted).finish()
    }
}

impl PartialEq for PgUrl {
    fn eq(&self, other: &PgUrl) -> bool {
        self.redacted == other.redacted
            && self.config.get_password() == other.config.get_password()
            && self.ca_file == other.ca_file
    }
}

/// A URL the driver does not accept (the message never repeats the URL).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("not a PostgreSQL connection URL ({redacted}): {reason}")]
pub struct PgUrlError {
    /// The URL with its password hidden.
    pub redacted: String,
    /// The driver's reason.
    pub reason: String,
}

impl PgUrl {
    /// Parses `url` (surrounding whitespace, such as a file's final newline, is ignored).
    pub fn parse(url: &str) -> Result<PgUrl, PgUrlError> {
        let url = url.trim();
        let redacted = redact(url);
        let (driver, ssl_mode) =
            split_sslmode(url).map_err(|reason| PgUrlError { redacted: redacted.clone(), reason })?;
        let config = tokio_postgres::Config::from_str(&driver)
            .map_err(|e| PgUrlError { redacted: redacted.clone(), reason: redact(&e.to_string()) })?;
        if config.get_hosts().is_empty() {
            return Err(PgUrlError { redacted, reason: "no host".into() });
        }
        Ok(PgUrl { config, redacted, ssl_mode, ca_file: None })
    }

    /// The URL with the CA bundle its TLS checks trust (`[incidents.postgres] ca_file`).
    pub fn with_ca_file(mut self, ca_file: Option<PathBuf>) -> PgUrl {
        self.ca_file = ca_file;
        self
    }

    /// The URL's `sslmode` (`prefer` when it has none).
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The CA bundle, if one is set.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The URL with its password replaced by `***` (for logs and errors).
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The driver's configuration.
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

/// `text` with the password of a URL (`scheme://user:PASSWORD@…`) or of a key-value string
/// (`password=PASSWORD`, quoted or not) replaced by `***`. Pure.
pub fn redact(text: &str) -> String {
    let mut out = redact_userinfo(text);
    let mut from = 0;
    while let Some(at) = out[from..].find("password=").map(|i| from + i + "password=".len()) {
        let rest = &out[at..];
        let end = if let Some(quoted) = rest.strip_prefix('\'') {
            quoted.find('\'').map_or(rest.len(), |i| i + 2)
        } else {
            rest.find(|c: char| c.is_whitespace() || c == '&').unwrap_or(rest.len())
        };
        out.replace_range(at..at + end, "***");
        from = at + 3;
    }
    out
}

/// Hides the password of every `scheme://user:password@` in `text`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', '?', ' ', '\n']).unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                let userinfo = &tail[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_every_form_of_url() {
        let cases = [
            ("postgres://fg:s3cret@db:5432/firegrid", "postgres://fg:***@db:5432/firegrid"),
            ("postgresql://fg:p%40ss@db/firegrid?sslmode=disable", "postgresql://fg:***@db/firegrid?sslmode=disable"),
            ("postgres://fg@db/firegrid", "postgres://fg@db/firegrid"),
            ("postgres://db/firegrid?password=s3cret&user=fg", "postgres://db/firegrid?password=***&user=fg"),
            ("host=db user=fg password=s3cret dbname=x", "host=db user=fg password=*** dbname=x"),
            ("host=db password='a b c' dbname=x", "host=db password=*** dbname=x"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn a_parsed_url_never_prints_its_password() {
        let u = PgUrl::parse("postgres://fg:s3cret@127.0.0.1:5432/firegrid\n").expect("valid");
        assert_eq!(u.redacted(), "postgres://fg:***@127.0.0.1:5432/firegrid");
        assert!(!format!("{u:?}").contains("s3cret"));
        let e = PgUrl::parse("postgres://fg:s3cret@127.0.0.1:notaport/x").expect_err("bad port");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
