//! The dispatch stage assembled for the binary, so that its wiring is a few lines: build it
//! beside the [`Engine`] (it installs the planner, and refuses a registry with webhook
//! recipients while the webhook secret is empty), give the MQTT consumer its [`ControlRoute`],
//! merge its [`router`](DispatchStage::router), then [`spawn`](DispatchStage::spawn) the
//! delivery loop, its MQTT connection and the control task once the engine handle and the MQTT
//! client exist.

use std::path::Path;

use firegrid_ingest::config::MqttSettings;
use firegrid_ingest::mqtt::acker::Acker;
use firegrid_ingest::mqtt::message::Message;
use firegrid_ingest::mqtt::route::ControlRoute;
use firegrid_ingest::SharedRegistry;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::availability::Availability;
use crate::control::Control;
use crate::deliver::{DeliverError, Delivery};
use crate::dispatch::{Dispatch, DispatchError};
use crate::dispatch_config::DispatchSettings;
use crate::dispatch_metrics::DispatchMetrics;
use crate::engine::{Engine, EngineHandle};
use crate::notify::mqtt::MqttPublisher;
use crate::notify::sse::SseHub;
use crate::SharedTokens;

/// Control messages queued between the MQTT event loop and the control task.
const CONTROL_QUEUE: usize = 1024;

/// Why the dispatch stage cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The planner could not resume its state.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// Metrics or the webhook client.
    #[error(transparent)]
    Deliver(#[from] DeliverError),
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
}

impl DispatchStage {
    /// Checks the webhook secret against the registry, resumes the planner from the engine's
    /// store (`data_dir`), installs it in `engine` and registers the metrics. Blocking file I/O:
    /// call at start-up, after [`Engine::open`].
    pub fn new(
        settings: DispatchSettings,
        engine: &mut Engine,
        registry: SharedRegistry,
        data_dir: &Path,
        metrics: &prometheus::Registry,
        prefix: &str,
    ) -> Result<DispatchStage, StageError> {
        settings.check_webhooks(&registry.snapshot())?;
        let availability = Availability::default();
        let metrics = DispatchMetrics::register(metrics).map_err(DeliverError::from)?;
        let planner = Dispatch::open(registry.clone(), availability.clone(), settings.clone(), data_dir)?
            .with_metrics(metrics.clone());
        engine.set_dispatcher(planner);
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        Ok(DispatchStage {
            settings,
            registry,
            availability,
            hub: SseHub::default(),
            metrics,
            prefix: prefix.to_owned(),
            control_tx,
            control_rx,
        })
    }

    /// The acknowledgement and status subscriptions, for the MQTT consumer.
    pub fn control_route(&self) -> ControlRoute {
        ControlRoute { filters: crate::control::subscriptions(&self.prefix), tx: self.control_tx.clone() }
    }

    /// `POST /api/v1/stations/{id}/availability` and `GET /api/v1/events`.
    pub fn router(&self, tokens: impl Into<SharedTokens>) -> axum::Router {
        crate::dispatch_api::router(tokens, self.registry.clone(), self.availability.clone(), self.hub.clone())
    }

    /// Station availability (shared with routing).
    pub fn availability(&self) -> Availability {
        self.availability.clone()
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
        let delivery = Delivery {
            handle: handle.clone(),
            registry: self.registry.clone(),
            settings: self.settings,
            prefix: self.prefix.clone(),
            mqtt: publisher,
            sse: self.hub,
            metrics: self.metrics,
        };
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
            if let Err(e) = delivery.run(reports, signal, shutdown).await {
                tracing::error!(event = "dispatch_delivery_failed", error = %e, "dispatch delivery could not start");
            }
            publisher_stop.cancel();
            let _ = connection.await;
            let _ = control.await;
        }))
    }
}
