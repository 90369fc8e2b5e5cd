//! The dispatch stage's planner, installed in the engine with [`crate::Engine::set_dispatcher`]:
//! for every transition it routes the incident ([`StationPicker`]), keeps its escalation state
//! ([`Escalation`]) and returns the notifications to enqueue — one outbox row per
//! recipient and channel (`mqtt`, `webhook` when the recipient has a URL, `sse`) — together with
//! the state, all persisted in the transaction of the change. On each tick it fires the due
//! timers. At start-up it reloads the state of active incidents from the store, so timers resume.
//! Plans are computed from memory only (a registry snapshot and availability): no I/O.
//!
//! An incident whose route names no recipient at all (no station of any tier in range, no grid
//! manager) is *unroutable*: counted once in `firegrid_dispatch_unroutable_total{class}`, kept in
//! `firegrid_dispatch_unroutable{class}` and in its persisted state (the console's banner reads
//! it), and routed again on the first tick after a station's availability or the registry
//! changes — and after a restart — until someone is notified or the incident closes.

use crate::partition::Scope;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use firegrid_ingest::{Registry, SharedRegistry};

use super::availability::Availability;
use super::config::DispatchSettings;
use super::division_names::Names;
use super::escalation::{Escalation, SlotMove};
use super::message::{outbox_rows, Context, EvidenceItem};
use super::metrics::DispatchMetrics;
use super::overdue;
use super::routing::{Route, StationPicker};
use super::summary_zh::summary_zh;
use crate::engine::{DispatchPlan, Dispatcher};
use crate::incident::{AuditEntry, Class, Event, Evidence, Incident, Recipient};
use crate::store::{self, IncidentBackend, IncidentStore, StoreError};

/// Evidence readings kept per incident for its messages.
const EVIDENCE_KEPT: usize = 8;

/// Why the dispatch stage could not start.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The incident store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored dispatch state does not decode.
    #[error("dispatch state of {incident}: {source}")]
    State {
        /// The incident.
        incident: String,
        /// The decode error.
        source: serde_json::Error,
    },
}

/// The [`Dispatcher`] of firegrid (see the module doc).
#[derive(Debug)]
pub struct DispatchPlanner {
    registry: SharedRegistry,
    availability: Availability,
    settings: DispatchSettings,
    states: HashMap<String, Escalation>,
    incidents: HashMap<String, Incident>,
    evidence: HashMap<String, Vec<EvidenceItem>>,
    evidence_received: HashMap<String, i64>,
    metrics: Option<DispatchMetrics>,
    /// Availability generation and registry last routed against for the unroutable incidents.
    routed_against: Option<(u64, Arc<Registry>)>,
}

impl DispatchPlanner {
    /// A planner with no state (tests, a fresh store).
    pub fn new(registry: SharedRegistry, availability: Availability, settings: DispatchSettings) -> DispatchPlanner {
        DispatchPlanner {
            registry,
            availability,
            settings,
            states: HashMap::new(),
            incidents: HashMap::new(),
            evidence: HashMap::new(),
            evidence_received: HashMap::new(),
            metrics: None,
            routed_against: None,
        }
    }

    /// Counts unroutable incidents into `metrics` (without, they are tracked but not counted).
    pub fn with_metrics(mut self, metrics: DispatchMetrics) -> DispatchPlanner {
        self.metrics = Some(metrics);
        self.update_unroutable_gauge();
        self
    }

    /// Incidents unroutable now, as `(incident_id, since_ms)`, longest first.
    pub fn unroutable(&self) -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> =
            self.states.iter().filter_map(|(id, e)| e.unroutable_since_ms.map(|t| (id.clone(), t))).collect();
        v.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// A planner resuming the escalation state of the active incidents in `data_dir`'s SQLite
    /// store (see [`DispatchPlanner::open_on`]).
    pub fn open(
        registry: SharedRegistry,
        availability: Availability,
        settings: DispatchSettings,
        data_dir: &Path,
    ) -> Result<DispatchPlanner, DispatchError> {
        let backend = IncidentBackend::Sqlite { data_dir: data_dir.to_owned() };
        DispatchPlanner::open_on(registry, availability, settings, &backend, &Scope::all())
    }

    /// A planner resuming the escalation state of the active incidents of `scope` in `backend`'s store
    /// (open the [`crate::Engine`] first: it creates the store). Blocking: call at start-up.
    pub fn open_on(
        registry: SharedRegistry,
        availability: Availability,
        settings: DispatchSettings,
        backend: &IncidentBackend,
        scope: &Scope,
    ) -> Result<DispatchPlanner, DispatchError> {
        let mut d = DispatchPlanner::new(registry, availability, settings);
        // Parse the names table now rather than on the first fire.
        let _ = Names::embedded();
        let (active, states) = store::blocking(|| {
            let store = IncidentStore::open_reader(backend)?;
            Ok((store.active_incidents()?, store.dispatch_states()?))
        })?;
        // The shared store holds every partition's incidents: resume only `scope`'s.
        for inc in active.into_iter().filter(|i| scope.owns_county(&i.county)) {
            d.incidents.insert(inc.id.clone(), inc);
        }
        for (incident, doc) in states.into_iter().filter(|(id, _)| scope.owns_incident(id)) {
            let e: Escalation = serde_json::from_str(&doc)
                .map_err(|source| DispatchError::State { incident: incident.clone(), source })?;
            d.states.insert(incident, e);
        }
        tracing::info!(
            event = "dispatch_resumed",
            incidents = d.incidents.len(),
            timers = d.states.len(),
            "dispatch resumes escalation timers"
        );
        Ok(d)
    }

    /// The escalation state of an incident (tests, the console).
    pub fn state(&self, incident_id: &str) -> Option<&Escalation> {
        self.states.get(incident_id)
    }

    /// One notification round: messages to `routes`, recorded in the state, as a plan.
    fn notify(&mut self, inc: &Incident, routes: &[Route], now_ms: i64, moves: &[SlotMove]) -> DispatchPlan {
        let timeouts = self.settings.timeouts;
        let evidence = self.evidence.get(&inc.id).cloned().unwrap_or_default();
        let summary = summary_zh(inc, evidence.first().map(|e| e.kind), Names::embedded());
        let esc = self.states.entry(inc.id.clone()).or_insert_with(|| Escalation::new(&inc.id, inc.class));
        if esc.received_at_ms.is_none() {
            esc.received_at_ms = self.evidence_received.get(&inc.id).copied();
        }
        if let Some(since) = esc.unroutable_since_ms.take() {
            tracing::info!(event = "dispatch_rerouted", incident = %inc.id, unroutable_ms = now_ms - since,
                recipients = routes.len(), "an unroutable incident found its recipients");
        }
        for mv in moves {
            esc.escalated(mv, now_ms, &timeouts);
        }
        let cx = Context {
            seq: esc.next_round(),
            now_ms,
            ack_ms: timeouts.ack_ms,
            evidence: &evidence,
            summary_zh: &summary,
            received_at: esc.received_at_ms,
        };
        let reg = self.registry.snapshot();
        let mut plan = DispatchPlan::default();
        for route in routes {
            esc.sent(route, now_ms, &timeouts);
            let webhook = match &route.recipient {
                Recipient::Station(id) => reg.station(id).is_some_and(|s| s.webhook_url.is_some()),
                Recipient::Grid(id) => reg.grid(id).is_some_and(|g| g.webhook_url.is_some()),
            };
            if let Some(rows) = outbox_rows(inc, route, &cx, webhook) {
                match &route.recipient {
                    Recipient::Station(id) => push_unique(&mut plan.stations, id),
                    Recipient::Grid(id) => push_unique(&mut plan.grids, id),
                }
                plan.outbox.extend(rows);
            }
        }
        plan.state = serde_json::to_string(esc).ok();
        self.update_unroutable_gauge();
        plan
    }

    /// Routing found no recipient for `inc`: unroutable, unless an earlier round notified someone
    /// (a severity rise with nobody new to tell; the earlier recipients stay on it).
    fn unroutable_now(&mut self, inc: &Incident, now_ms: i64) -> DispatchPlan {
        let esc = self.states.entry(inc.id.clone()).or_insert_with(|| Escalation::new(&inc.id, inc.class));
        if esc.seq > 0 {
            tracing::warn!(event = "dispatch_no_new_recipient", incident = %inc.id, severity = %inc.severity,
                "no recipient available for the new round; those notified before stay on it");
            return DispatchPlan::default();
        }
        if esc.unroutable_since_ms.is_none() {
            esc.unroutable_since_ms = Some(now_ms);
            if let Some(m) = &self.metrics {
                m.unroutable_total.with_label_values(&[inc.class.as_str()]).inc();
            }
            tracing::error!(event = "dispatch_unroutable", incident = %inc.id, class = %inc.class,
                county = %inc.county, township = %inc.township,
                "no station of any tier and no grid manager available: routed again when availability or the registry changes");
        }
        self.update_unroutable_gauge();
        self.save(&inc.id)
    }

    /// Routes the unroutable incidents again if availability or the registry changed since the
    /// last try (the first tick after a start always tries).
    fn reroute(&mut self, now_ms: i64) -> Vec<(String, DispatchPlan)> {
        let current = (self.availability.generation(), self.registry.snapshot());
        let changed = self.routed_against.as_ref().is_none_or(|(g, r)| *g != current.0 || !Arc::ptr_eq(r, &current.1));
        self.routed_against = Some(current);
        let waiting = self.unroutable();
        if !changed || waiting.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (id, _) in waiting {
            let Some(inc) = self.incidents.get(&id).cloned() else { continue };
            let routes = self.routes(&inc);
            if !routes.is_empty() {
                out.push((id, self.notify(&inc, &routes, now_ms, &[])));
            }
        }
        out
    }

    fn update_unroutable_gauge(&self) {
        let Some(m) = &self.metrics else { return };
        for c in Class::ALL {
            let n = self.states.values().filter(|e| e.class == *c && e.unroutable_since_ms.is_some()).count();
            m.unroutable.with_label_values(&[c.as_str()]).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    fn save(&self, id: &str) -> DispatchPlan {
        DispatchPlan {
            state: self.states.get(id).and_then(|e| serde_json::to_string(e).ok()),
            ..DispatchPlan::default()
        }
    }

    fn routes(&self, inc: &Incident) -> Vec<Route> {
        let reg = self.registry.snapshot();
        let avail = self.availability.snapshot();
        StationPicker { registry: &reg, availability: &avail, max_distance_km: self.settings.max_distance_km }
            .route(inc)
    }

    /// Resolves the due timers of one incident into routes and slot moves.
    fn resolve_due(&mut self, id: &str, now_ms: i64) -> Option<(Vec<Route>, Vec<SlotMove>)> {
        let inc = self.incidents.get(id)?;
        let esc = self.states.get_mut(id)?;
        let reg = self.registry.snapshot();
        let avail = self.availability.snapshot();
        let picker =
            StationPicker { registry: &reg, availability: &avail, max_distance_km: self.settings.max_distance_km };
        overdue::resolve(esc, inc, &picker, self.settings.max_escalations, now_ms)
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

impl Dispatcher for DispatchPlanner {
    fn observe(&mut self, ev: &Evidence) {
        let list = self.evidence.entry(ev.incident_id.clone()).or_default();
        if list.is_empty() {
            self.evidence_received.entry(ev.incident_id.clone()).or_insert(ev.received_at_ms);
        }
        list.push(EvidenceItem::from(ev));
        if list.len() > EVIDENCE_KEPT {
            list.remove(0);
        }
    }

    fn plan(&mut self, t: &AuditEntry, inc: &Incident, now_ms: i64) -> DispatchPlan {
        if inc.status.is_terminal() {
            let was_unroutable = self.states.remove(&inc.id).is_some_and(|e| e.unroutable_since_ms.is_some());
            self.incidents.remove(&inc.id);
            self.evidence.remove(&inc.id);
            self.evidence_received.remove(&inc.id);
            if was_unroutable {
                self.update_unroutable_gauge();
            }
            return DispatchPlan::default();
        }
        self.incidents.insert(inc.id.clone(), inc.clone());
        let timeouts = self.settings.timeouts;
        match t.event {
            Event::Opened | Event::Escalated => {
                let routes = self.routes(inc);
                if routes.is_empty() {
                    return self.unroutable_now(inc, now_ms);
                }
                self.notify(inc, &routes, now_ms, &[])
            }
            // A verifier's acknowledgement starts no fire timer: once the incident is confirmed,
            // its responders are told in a new round and their own acknowledgements count.
            Event::Acknowledged if inc.verification.is_some() => self.save(&inc.id),
            Event::Acknowledged => {
                if let Some(e) = self.states.get_mut(&inc.id) {
                    e.acknowledged(now_ms, &timeouts);
                }
                self.save(&inc.id)
            }
            Event::OnScene => {
                if let Some(e) = self.states.get_mut(&inc.id) {
                    e.on_scene();
                }
                self.save(&inc.id)
            }
            _ => DispatchPlan::default(),
        }
    }

    fn tick(&mut self, now_ms: i64) -> Vec<(String, DispatchPlan)> {
        let mut out = self.reroute(now_ms);
        let due: Vec<String> = self
            .states
            .iter()
            .filter(|(_, e)| e.next_due().is_some_and(|d| d <= now_ms))
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            let Some((routes, moves)) = self.resolve_due(&id, now_ms) else { continue };
            let Some(inc) = self.incidents.get(&id).cloned() else { continue };
            let plan = if routes.is_empty() { self.save(&id) } else { self.notify(&inc, &routes, now_ms, &moves) };
            out.push((id, plan));
        }
        out
    }
}
