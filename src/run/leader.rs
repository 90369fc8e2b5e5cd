//! A partition's instance (`[alerting] partition`): standby until the lease is granted, then
//! leader for one term — warm start (the service opened from the shared store after the grant,
//! so it resumes open incidents, the outbox, timers and rule state), act, keep renewing — and
//! back to standby when the term ends. Only a leader runs the service: the partition's MQTT
//! consumer (`{client_id}-{partition}`, a persistent session the next leader resumes), the
//! engine, dispatch and the API.
//!
//! A term ends when the lease is lost ([`LeaseState`]: no successful renewal before last
//! renewal sent + lease − margin on this instance's monotonic clock, or the database granted
//! it to another), or when the service stops on its own (a write refused by the fence: event
//! `partition_fenced`). The [`LeaderGuard`] is cleared first, so dispatch stops at once, then
//! the service is stopped in its usual order. On shutdown the lease is released so a standby
//! takes over at its next attempt rather than at expiry.

use std::pin::pin;
use std::time::Instant;

use firegrid_alerting::partition::{
    Change, LeaderGuard, LeaseClient, LeaseState, PartitionMetrics, PartitionSettings, Role, Scope, Term,
};
use firegrid_alerting::store::PgStore;
use firegrid_alerting::AlertError;
use tokio_util::sync::CancellationToken;

use super::standby::Standby;
use crate::config::Settings;
use crate::run::RunError;

/// How a term ended.
enum Ended {
    /// Back to standby.
    SteppedDown,
    /// Shutdown was asked and the service stopped.
    Shutdown,
}

/// One partition instance's state across terms.
struct Instance {
    settings: Settings,
    partition: PartitionSettings,
    client: LeaseClient,
    state: LeaseState,
    metrics: PartitionMetrics,
    /// The standby endpoint's registry (the partition gauges).
    standby_metrics: prometheus::Registry,
}

/// Runs a partition instance until `shutdown` (see the module doc).
pub(super) async fn run(
    settings: Settings,
    partition: PartitionSettings,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    // The lease table is the schema's: migrate (under the migration lock) before the first
    // attempt, as a standby may start before any leader has opened the store.
    let url = partition.url.clone();
    firegrid_alerting::store::blocking(move || PgStore::connect(&url).map(drop)).map_err(AlertError::from)?;
    let metrics = PartitionMetrics::new(&partition.name)?;
    let standby_metrics = prometheus::Registry::new();
    metrics.register(&standby_metrics)?;
    let holder =
        format!("{}@{}:{}:{}", settings.mqtt.client_id, host(), std::process::id(), firegrid_ingest::clock::now_ms());
    let client = LeaseClient::new(partition.url.clone(), &partition.name, &holder, partition.timing.lease);
    let state = LeaseState::new(partition.timing);
    let mut me = Instance { settings, partition, client, state, metrics, standby_metrics };
    loop {
        let standby = Standby::serve(&me.settings, &me.partition.name, me.standby_metrics.clone()).await?;
        let granted = me.wait_for_lease(&shutdown).await;
        standby.stop().await;
        let Some(epoch) = granted else { return Ok(()) };
        match me.lead(epoch, &shutdown).await? {
            Ended::SteppedDown => continue,
            Ended::Shutdown => {
                if let Err(e) = me.client.release().await {
                    tracing::warn!(event = "partition_release_failed", error = %e, "the lease expires on its own");
                }
                return Ok(());
            }
        }
    }
}

/// This machine's name (for the lease holder, which operators read).
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

impl Instance {
    /// Tries for the lease every `renew_every` until granted; `None` on shutdown.
    async fn wait_for_lease(&mut self, shutdown: &CancellationToken) -> Option<i64> {
        tracing::info!(event = "partition_standby", partition = %self.partition.name, holder = %self.client.holder(),
            "standby: waiting for the partition lease");
        let mut tick = tokio::time::interval(self.partition.timing.renew_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return None,
                _ = tick.tick() => {}
            }
            if let Change::Acquired { epoch } = self.attempt().await {
                return Some(epoch);
            }
        }
    }

    /// One lease attempt, fed to the state machine.
    async fn attempt(&mut self) -> Change {
        let sent = Instant::now();
        match self.client.attempt().await {
            Ok(granted) => self.state.answered(sent, granted),
            Err(e) => {
                tracing::warn!(event = "partition_lease_failed", partition = %self.partition.name, error = %e,
                    "lease attempt failed");
                self.state.failed(Instant::now())
            }
        }
    }

    /// The deadline of the current term (now when there is none).
    fn acting_until(&self) -> Instant {
        match self.state.role() {
            Role::Leader { acting_until, .. } => acting_until,
            Role::Standby => Instant::now(),
        }
    }

    /// Leads one term at `epoch` (see the module doc).
    async fn lead(&mut self, epoch: i64, shutdown: &CancellationToken) -> Result<Ended, RunError> {
        let name = self.partition.name.clone();
        let guard = LeaderGuard::new();
        guard.set(Some(self.acting_until()));
        self.metrics.leader.set(1);
        self.metrics.epoch.set(epoch);
        tracing::info!(event = "partition_leader_acquired", partition = %name, epoch, holder = %self.client.holder(),
            "leading the partition: loading its state from the shared store");
        let term = Term {
            partition: name.clone(),
            epoch,
            scope: Scope::counties(&self.partition.counties),
            guard,
            metrics: self.metrics.clone(),
            ended: CancellationToken::new(),
        };
        let mut settings = self.settings.clone();
        settings.term = Some(term.clone());
        let stop = CancellationToken::new();
        let running = match super::start(settings, stop.clone()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(event = "partition_term_failed", partition = %name, epoch, error = %e,
                    "the service did not start; stepping down");
                self.step_down(&term, "start_failed");
                let _ = self.client.release().await;
                tokio::time::sleep(self.partition.timing.renew_every).await;
                return Ok(Ended::SteppedDown);
            }
        };
        let mut wait = pin!(running.wait());
        let mut tick = tokio::time::interval(self.partition.timing.renew_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopping = false;
        loop {
            let deadline = tokio::time::Instant::from_std(self.acting_until());
            let change = tokio::select! {
                r = &mut wait => return self.service_ended(&term, stopping, r).await,
                () = shutdown.cancelled(), if !stopping => {
                    // Keep renewing while the service drains, so it may finish its commits.
                    stopping = true;
                    stop.cancel();
                    continue;
                }
                () = tokio::time::sleep_until(deadline) => self.state.tick(Instant::now()),
                _ = tick.tick() => self.attempt().await,
            };
            match change {
                Change::Lost(why) => {
                    self.step_down(&term, why_name(why));
                    stop.cancel();
                    let _ = wait.await;
                    return Ok(if stopping { Ended::Shutdown } else { Ended::SteppedDown });
                }
                _ => term.guard.set(Some(self.acting_until())),
            }
        }
    }

    /// The term's service stopped: asked to (shutdown), or on its own — then, if the lease is
    /// gone, its write was fenced (step down); if not, it failed (the error stops the process).
    async fn service_ended(&mut self, term: &Term, stopping: bool, r: Result<(), RunError>) -> Result<Ended, RunError> {
        if stopping {
            self.step_down(term, "shutdown");
            return Ok(Ended::Shutdown);
        }
        let change = self.attempt().await;
        if matches!(change, Change::Lost(_)) || !self.state.acting(Instant::now()) {
            tracing::warn!(event = "partition_fenced", partition = %self.partition.name,
                "a write was refused: another instance holds the partition's epoch");
            self.step_down(term, "fenced");
            return Ok(Ended::SteppedDown);
        }
        self.step_down(term, "service_failed");
        let _ = self.client.release().await;
        r.and(Err(RunError::TaskExited("partition service")))
    }

    /// Stops acting: the guard first (dispatch sends nothing more), then the gauge and the log.
    fn step_down(&mut self, term: &Term, why: &'static str) {
        term.guard.set(None);
        term.ended.cancel();
        self.metrics.leader.set(0);
        // A term may end while the database still has this holder's lease (a failed start, a
        // failed service): the state machine returns to standby either way.
        self.state.resign();
        tracing::warn!(event = "partition_leader_lost", partition = %self.partition.name, reason = why,
            "no longer leading the partition: stopped acting");
    }
}

fn why_name(why: firegrid_alerting::partition::LostWhy) -> &'static str {
    use firegrid_alerting::partition::LostWhy;
    match why {
        LostWhy::Expired => "lease_expired",
        LostWhy::Taken => "lease_taken",
        LostWhy::EpochChanged => "epoch_changed",
    }
}
