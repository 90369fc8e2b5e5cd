//! The log subscriber: human-readable text or JSON on stderr, filtered by `FIREGRID_LOG`. Text
//! carries ANSI colours only when stderr is a terminal and `NO_COLOR` is unset or empty
//! (<https://no-color.org>), so journald, files and log shippers get plain lines.

use std::ffi::OsStr;
use std::io::IsTerminal as _;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, fields flattened (for log shippers).
    Json,
}

/// Whether text logs may carry ANSI colours: only on a terminal, and never when `NO_COLOR` holds
/// a non-empty value.
pub fn use_ansi(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// Installs the global subscriber (once, at start).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIREGRID_LOG")
        // rumqttd logs every dropped client connection at ERROR; keep its warnings only.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd::server::broker=off"));
    let no_color = std::env::var_os("NO_COLOR");
    let ansi = use_ansi(std::io::stderr().is_terminal(), no_color.as_deref());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_appear_only_on_a_terminal_without_no_color() {
        assert!(use_ansi(true, None));
        assert!(use_ansi(true, Some(OsStr::new(""))));
        assert!(!use_ansi(true, Some(OsStr::new("1"))));
        assert!(!use_ansi(false, None));
        assert!(!use_ansi(false, Some(OsStr::new("1"))));
    }
}
