//! The URL's `sslmode`, as libpq reads it: `disable`, `prefer` (the default), `require`,
//! `verify-ca`, `verify-full`. tokio-postgres knows only the first three, so the mode is split
//! out of the connection string here (pure), the driver is given what it knows (`require` for
//! both `verify-*`), and the certificate checks of each mode are ours
//! ([`super::tls`]). `allow` is refused: it falls back to plaintext when TLS fails, which is
//! never what a fire-dispatch store wants.

/// How the connection uses TLS (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, else plaintext; the certificate is not checked (libpq).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is checked against `ca_file` when one is set
    /// (libpq's rule), else not at all.
    Require,
    /// TLS, the certificate chain checked against `ca_file` (or the system's roots), any name.
    VerifyCa,
    /// TLS, the chain checked and the certificate valid for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The value as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!("sslmode `{other}` is not disable, prefer, require, verify-ca or verify-full"));
            }
        })
    }

    /// The mode given to tokio-postgres, which knows disable, prefer and require.
    fn driver(self) -> SslMode {
        match self {
            SslMode::VerifyCa | SslMode::VerifyFull => SslMode::Require,
            m => m,
        }
    }

    /// Whether the connection is refused without TLS.
    pub fn requires_tls(self) -> bool {
        !matches!(self, SslMode::Disable | SslMode::Prefer)
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Splits `sslmode` out of a connection string (URL `?sslmode=` or key-value `sslmode=`): the
/// string for the driver (the mode replaced by [`SslMode::driver`]'s) and the mode (the default
/// `prefer` when absent). An unknown mode is an error naming it.
pub(crate) fn split_sslmode(text: &str) -> Result<(String, SslMode), String> {
    let is_url = text.starts_with("postgres://") || text.starts_with("postgresql://");
    let (head, params, sep) = match (is_url, text.find('?')) {
        (true, Some(q)) => (&text[..=q], &text[q + 1..], "&"),
        (true, None) => return Ok((text.to_owned(), SslMode::default())),
        (false, _) => ("", text, " "),
    };
    let mut mode = SslMode::default();
    let mut out: Vec<String> = Vec::new();
    // Split and joined by the same separator, so everything but the mode is kept byte for byte
    // (a quoted password's spaces included).
    for part in params.split(if is_url { '&' } else { ' ' }) {
        match part.strip_prefix("sslmode=") {
            Some(value) => {
                mode = SslMode::parse(value.trim_matches('\''))?;
                out.push(format!("sslmode={}", mode.driver()));
            }
            None => out.push(part.to_owned()),
        }
    }
    Ok((format!("{head}{}", out.join(sep)), mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_split_out_of_both_forms_and_the_driver_gets_what_it_knows() {
        let cases = [
            ("postgres://fg@db/x", "postgres://fg@db/x", SslMode::Prefer),
            ("postgres://fg@db/x?sslmode=disable", "postgres://fg@db/x?sslmode=disable", SslMode::Disable),
            (
                "postgresql://fg:p@db/x?application_name=a&sslmode=verify-full",
                "postgresql://fg:p@db/x?application_name=a&sslmode=require",
                SslMode::VerifyFull,
            ),
            ("postgres://db/x?sslmode=verify-ca&user=fg", "postgres://db/x?sslmode=require&user=fg", SslMode::VerifyCa),
            ("postgres://db/x?sslmode=require", "postgres://db/x?sslmode=require", SslMode::Require),
            ("host=db sslmode=verify-full user=fg", "host=db sslmode=require user=fg", SslMode::VerifyFull),
            ("host=db  sslmode='verify-ca'", "host=db  sslmode=require", SslMode::VerifyCa),
            ("password='a  b' host=db", "password='a  b' host=db", SslMode::Prefer),
            ("host=db user=fg", "host=db user=fg", SslMode::Prefer),
        ];
        for (text, driver, mode) in cases {
            assert_eq!(split_sslmode(text), Ok((driver.to_owned(), mode)), "{text}");
        }
    }

    #[test]
    fn an_unknown_mode_is_named_and_allow_is_refused() {
        for bad in ["postgres://db/x?sslmode=allow", "host=db sslmode=verify_full"] {
            let e = split_sslmode(bad).expect_err(bad);
            assert!(e.contains("is not disable, prefer, require, verify-ca or verify-full"), "{e}");
        }
    }

    #[test]
    fn only_require_and_the_verify_modes_refuse_plaintext() {
        let refuse: Vec<bool> =
            [SslMode::Disable, SslMode::Prefer, SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull]
                .iter()
                .map(|m| m.requires_tls())
                .collect();
        assert_eq!(refuse, [false, false, true, true, true]);
    }
}
