//! SIGHUP: reloads the registry, the API tokens and the embedded broker's users while the
//! service runs; a file that fails to load keeps what was in force.

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

#[cfg(unix)]
pub(super) async fn reload_on_sighup(what: Reloadable, shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
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

#[cfg(not(unix))]
pub(super) async fn reload_on_sighup(_what: Reloadable, shutdown: CancellationToken) {
    shutdown.cancelled().await;
}
