//! SIGHUP: reloads the registry, the API tokens and the embedded broker's users while the
//! service runs — and, on a partition's standby, the registry and tokens its read-only API
//! serves (`standby`); a file that fails to load keeps what was in force.

use firegrid_alerting::SharedTokens;
use firegrid_ingest::SharedRegistry;
use tokio_util::sync::CancellationToken;

use crate::broker::users::SharedUsers;

/// What SIGHUP reloads: the registry, the API tokens and the embedded broker's users. A file
/// that fails to load keeps what was in force.
pub(super) struct Reloadable {
    pub(super) registry: SharedRegistry,
    /// The API tokens, when the role serves the API.
    pub(super) tokens: Option<SharedTokens>,
    pub(super) broker_users: Option<SharedUsers>,
}

impl Reloadable {
    fn reload(&self) {
        let started = std::time::Instant::now();
        match self.registry.reload() {
            Ok(r) => tracing::info!(
                event = "registry_reloaded",
                devices = r.device_count(),
                load_ms = started.elapsed().as_millis() as u64,
                "registry reloaded (off the runtime's workers) and swapped in"
            ),
            Err(e) => tracing::error!(event = "registry_reload_failed", error = %e, "keeping the previous registry"),
        }
        match self.tokens.as_ref().map(SharedTokens::reload) {
            Some(Ok(n)) => tracing::info!(event = "tokens_reloaded", tokens = n),
            Some(Err(e)) => {
                tracing::error!(event = "tokens_reload_failed", error = %e, "keeping the previous tokens");
            }
            None => {}
        }
        match self.broker_users.as_ref().and_then(SharedUsers::reload) {
            Some(Ok(n)) => tracing::info!(event = "broker_users_reloaded", users = n),
            Some(Err(e)) => {
                tracing::error!(event = "broker_users_reload_failed", error = %e, "keeping the previous users");
            }
            None => {}
        }
    }
}

/// SIGHUP, listened for from its creation on: create it before loading what it reloads, so a
/// signal sent after the files were read and before the watcher runs is not lost.
pub(super) struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    /// Starts listening (call on the runtime).
    pub(super) fn listen() -> Hangups {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Hangups { signal: signal(SignalKind::hangup()).ok() }
        }
        #[cfg(not(unix))]
        Hangups {}
    }
}

/// Reloads `what` at every SIGHUP from now until `shutdown`.
pub(super) async fn reload_on_sighup(what: Reloadable, shutdown: CancellationToken) {
    reload_on(Hangups::listen(), what, shutdown).await;
}

/// Reloads `what` at every SIGHUP `hangups` receives until `shutdown`.
#[cfg(unix)]
pub(super) async fn reload_on(hangups: Hangups, what: Reloadable, shutdown: CancellationToken) {
    let Some(mut hup) = hangups.signal else {
        tracing::warn!(event = "sighup_unavailable", "registry and token reload on SIGHUP is off");
        return;
    };
    // A city registry takes a second or more to load: off the runtime's workers, so intake and
    // HTTP keep their threads while it loads (issue 14).
    let what = std::sync::Arc::new(what);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            s = hup.recv() => if s.is_none() { return },
        }
        let w = what.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || w.reload()).await {
            tracing::error!(event = "registry_reload_failed", error = %e, "keeping the previous registry");
        }
    }
}

/// No SIGHUP off Unix: waits for `shutdown`.
#[cfg(not(unix))]
pub(super) async fn reload_on(_hangups: Hangups, _what: Reloadable, shutdown: CancellationToken) {
    shutdown.cancelled().await;
}
