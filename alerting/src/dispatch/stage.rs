//! The dispatch stage assembled for the binary, so that its wiring is a few lines: build it
//! beside the [`Engine`] (it installs the planner, and refuses a registry with webhook
//! recipients while the webhook secret is empty), give the MQTT consumer its [`ControlRoute`],
//! serve its [`router`](DispatchStage::router) (the whole HTTP API), then
//! [`spawn`](DispatchStage::spawn) the delivery loop, its MQTT connection and the control task
//! once the engine handle and the MQTT client exist.

use firegrid_ingest::config::MqttSettings;
use firegrid_ingest::mqtt::acker::Acker;
use firegrid_ingest::mqtt::message::Message;
use firegrid_ingest::mqtt::route::ControlRoute;
use firegrid_ingest::SharedRegistry;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::availability::Availability;
use super::config::DispatchSettings;
use super::control::{self, Control};
use super::deliver::Delivery;
use super::metrics::DispatchMetrics;
use super::notify::mqtt::MqttPublisher;
use super::notify::sse::SseHub;
use super::notify::webhook::Webhook;
use super::planner::{DispatchError, DispatchPlanner};
use crate::access::SharedTokens;
use crate::engine::{Engine, EngineHandle};
use crate::http::{self, HttpParts};
use crate::partition::{LeaderGuard, Scope};

/// Control messages queued between the MQTT event loop and the control task.
const CONTROL_QUEUE: usize = 1024;

/// Why the dispatch stage cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The planner could not resume its state.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// The metrics could not be registered.
    #[error("dispatch metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The webhook client could not be built.
    #[error("{0}")]
    Webhook(String),
    /// The dispatch MQTT client could not be set up.
    #[error("dispatch MQTT client: {0}")]
    Mqtt(#[from] firegrid_ingest::mqtt::options::OptionsError),
    /// The configuration and the registry disagree (a webhook recipient but no secret).
    #[error(transparent)]
    Config(#[from] firegrid_ingest::config::ConfigError),
}

/// The parts of the dispatch stage (see the module doc).
#[derive(Debug)]
pub struct DispatchStage {
    settings: DispatchSettings,
    registry: SharedRegistry,
    availability: Availability,
    hub: SseHub,
    metrics: DispatchMetrics,
    prefix: String,
    control_tx: mpsc::Sender<Message>,
    control_rx: mpsc::Receiver<Message>,
    /// A partition leader's guard: nothing is sent once it says stop.
    guard: Option<LeaderGuard>,
    /// The incidents whose outbox rows this stage delivers (a partition's, in a shared store).
    scope: Scope,
}

/// Within a partition on the shared store, a hub every instance's consoles see; else this
/// instance's own.
fn shared_hub(engine: &Engine) -> SseHub {
    match (engine.backend(), engine.scope().county_list()) {
        (crate::store::IncidentBackend::Postgres { url }, Some(_)) => SseHub::shared(url.clone()),
        _ => SseHub::default(),
    }
}

impl DispatchStage {
    /// Checks the webhook secret against the engine's registry, resumes the planner from the
    /// engine's store, installs it in `engine` and registers the metrics; `prefix` is the MQTT
    /// topic prefix. Blocking file I/O: call at start-up, after [`Engine::open`].
    pub fn new(
        settings: DispatchSettings,
        engine: &mut Engine,
        prefix: &str,
        metrics: &prometheus::Registry,
    ) -> Result<DispatchStage, StageError> {
        let registry = engine.registry();
        settings.check_webhooks(&registry.snapshot())?;
        let availability = Availability::for_engine(&engine.handle()).map_err(DispatchError::from)?;
        let metrics = DispatchMetrics::register(metrics)?;
        let planner = DispatchPlanner::open_on(
            registry.clone(),
            availability.clone(),
            settings.clone(),
            engine.backend(),
            engine.scope(),
        )?
        .with_metrics(metrics.clone());
        engine.set_dispatcher(planner);
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        Ok(DispatchStage {
            settings,
            registry,
            availability,
            hub: shared_hub(engine),
            metrics,
            prefix: prefix.to_owned(),
            control_tx,
            control_rx,
            guard: None,
            scope: engine.scope().clone(),
        })
    }

    /// On a partition leader: the delivery loop asks `guard` before every send and sends
    /// nothing once this instance may no longer act (its lease deadline passed).
    pub fn with_guard(mut self, guard: LeaderGuard) -> DispatchStage {
        self.guard = Some(guard);
        self
    }

    /// The acknowledgement and status subscriptions, for the MQTT consumer.
    pub fn control_route(&self) -> ControlRoute {
        ControlRoute { filters: control::subscriptions(&self.prefix), tx: self.control_tx.clone() }
    }

    /// The HTTP API and the console ([`crate::http::router`]) over this stage's station
    /// availability and live feed, with `tokens` (a fixed [`crate::TokenSet`] or the
    /// [`SharedTokens`] a reload replaces).
    pub fn router(&self, engine: EngineHandle, tokens: impl Into<SharedTokens>) -> axum::Router {
        http::router(HttpParts {
            engine,
            tokens: tokens.into(),
            registry: self.registry.clone(),
            availability: self.availability.clone(),
            events: self.hub.clone(),
        })
    }

    /// Spawns the delivery loop (with its own MQTT connection to the broker of `mqtt`) and the
    /// control task (acknowledging through the consumer's `acker`); all stop at `shutdown`.
    pub fn spawn(
        self,
        handle: EngineHandle,
        acker: Acker,
        mqtt: &MqttSettings,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, StageError> {
        let publisher_stop = CancellationToken::new();
        let (publisher, reports, connection) = MqttPublisher::connect(mqtt, publisher_stop.clone())?;
        let connection = tokio::spawn(connection);
        let webhook = Webhook::new(
            self.settings.webhook_timeout,
            self.settings.webhook_secret.clone(),
            self.settings.webhook_ca_file.as_deref(),
        )
        .map_err(|e| StageError::Webhook(e.to_string()))?;
        let delivery = Delivery {
            handle: handle.clone(),
            registry: self.registry.clone(),
            settings: self.settings,
            prefix: self.prefix.clone(),
            mqtt: publisher,
            webhook,
            sse: self.hub,
            metrics: self.metrics,
            guard: self.guard,
            scope: self.scope,
        };
        let follow = tokio::spawn(self.availability.clone().follow(shutdown.clone()));
        let control = Control {
            handle: handle.clone(),
            registry: self.registry,
            availability: self.availability,
            prefix: self.prefix,
        };
        drop(self.control_tx);
        let signal = handle.outbox_signal();
        let control = tokio::spawn(control.run(self.control_rx, acker, shutdown.clone()));
        Ok(tokio::spawn(async move {
            delivery.run(reports, signal, shutdown).await;
            publisher_stop.cancel();
            let _ = connection.await;
            let _ = control.await;
            let _ = follow.await;
        }))
    }
}
