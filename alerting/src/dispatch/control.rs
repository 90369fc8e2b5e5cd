//! Messages from stations over MQTT (DESIGN §6): acknowledgements and reports on
//! `{prefix}/ack/{station_id}` and `{prefix}/ack/grid/{grid_id}` (payload
//! `{"incident_id","action","by","note"}`), and availability on `{prefix}/status/{station_id}`
//! (`{"status":"busy"}`). The broker's ACL lets each station publish only to its own topics, so
//! the topic names the actor (the embedded broker has no per-topic ACLs: DESIGN §7). The same
//! role × action table as the HTTP API decides ([`crate::access::permissions`], with the roles the
//! sender was notified as); a note over 2 KiB is refused; repeating what is done changes nothing.
//! Anything refused goes to `{prefix}/deadletter` with a reason (`not_notified`, `forbidden`,
//! `note_too_long`, …) and the reason text, and every message is acknowledged once handled (QoS 1).
//!
//! An acknowledgement of an incident another partition owns is forwarded (DESIGN §9) and
//! acknowledged once its row is committed; a task then follows the row as the API would
//! ([`FOLLOW_UPS`] at a time): the owner's refusal (`illegal_transition`, `unknown_incident`, …)
//! or a cancellation because no leader claimed it in time (`unavailable`) is dead-lettered here,
//! with the message, exactly like a refusal made here.

use std::sync::Arc;

use tokio::sync::Semaphore;

use base64::Engine as _;
use firegrid_ingest::mqtt::acker::Acker;
use firegrid_ingest::mqtt::message::Message;
use firegrid_ingest::wire::topic::deadletter;
use firegrid_ingest::SharedRegistry;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::availability::{parse_status_body, Availability};
use crate::access::permissions::{decide, Denial, Request};
use crate::access::CallerRole;
use crate::engine::{AlertError, EngineHandle};
use crate::forward::ForwardError;
use crate::incident::{note, Action, Recipient, Verdict};

/// Forwarded acknowledgements followed at once; past this, a row is left to the leaders' sweep,
/// which ends it too (logged, not dead-lettered).
const FOLLOW_UPS: usize = 256;

/// The subscription filters of the control topics under `prefix`.
pub(crate) fn subscriptions(prefix: &str) -> Vec<String> {
    vec![format!("{prefix}/ack/+"), format!("{prefix}/ack/grid/+"), format!("{prefix}/status/+")]
}

/// What a control topic is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ControlTopic<'a> {
    /// A station's acknowledgement or report.
    StationAck(&'a str),
    /// A grid manager's acknowledgement or report.
    GridAck(&'a str),
    /// A station's availability.
    Status(&'a str),
}

/// Parses a control topic under `prefix`.
fn parse_topic<'a>(prefix: &str, topic: &'a str) -> Option<ControlTopic<'a>> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let ok = |id: &'a str| (!id.is_empty() && !id.contains('/')).then_some(id);
    if let Some(id) = rest.strip_prefix("ack/grid/") {
        return ok(id).map(ControlTopic::GridAck);
    }
    if let Some(id) = rest.strip_prefix("ack/") {
        return ok(id).map(ControlTopic::StationAck);
    }
    rest.strip_prefix("status/").and_then(ok).map(ControlTopic::Status)
}

/// Why a control message is refused (the dead letter's `reason` and `detail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a control topic.
    #[error("bad_topic: {0}")]
    BadTopic(String),
    /// The payload is not the expected JSON.
    #[error("bad_payload: {0}")]
    BadPayload(String),
    /// The station is not in the registry.
    #[error("unknown_station: {0}")]
    UnknownStation(String),
    /// No such incident.
    #[error("unknown_incident: {0}")]
    UnknownIncident(String),
    /// The sender was not notified of the incident.
    #[error("not_notified: {0}")]
    NotNotified(String),
    /// The role × action table does not let the sender take the action.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The note (with `by`) is longer than 2 KiB.
    #[error("note_too_long: {0}")]
    NoteTooLong(String),
    /// The lifecycle forbids the action.
    #[error("illegal_transition: {0}")]
    Illegal(String),
    /// The engine failed or stopped.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl Refusal {
    /// The dead letter's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::BadTopic(_) => "bad_topic",
            Refusal::BadPayload(_) => "bad_payload",
            Refusal::UnknownStation(_) => "unknown_station",
            Refusal::UnknownIncident(_) => "unknown_incident",
            Refusal::NotNotified(_) => "not_notified",
            Refusal::Forbidden(_) => "forbidden",
            Refusal::NoteTooLong(_) => "note_too_long",
            Refusal::Illegal(_) => "illegal_transition",
            Refusal::Unavailable(_) => "unavailable",
        }
    }

    fn detail(&self) -> String {
        let s = self.to_string();
        s.split_once(": ").map_or(s.clone(), |(_, d)| d.to_owned())
    }
}

#[derive(Debug, Deserialize)]
struct AckBody {
    incident_id: String,
    action: String,
    #[serde(default)]
    by: String,
    #[serde(default)]
    note: String,
}

/// The dead letter of a refused control message: the document of ingest's
/// `wire::deadletter::DeadLetter`, with a control [`Refusal`] as its reason (ingest's reasons
/// are those of readings).
#[derive(Serialize)]
struct DeadLetter<'a> {
    topic: &'a str,
    reason: &'a str,
    detail: String,
    /// The first KiB of the payload.
    payload_b64: String,
    received_at: i64,
}

impl DeadLetter<'_> {
    fn of<'a>(source: &'a Source, refusal: &Refusal) -> DeadLetter<'a> {
        DeadLetter {
            topic: &source.topic,
            reason: refusal.reason(),
            detail: refusal.detail(),
            payload_b64: base64::engine::general_purpose::STANDARD.encode(&source.excerpt),
            received_at: source.received_at,
        }
    }
}

/// What a dead letter keeps of a control message (a forwarded one's outlives the message).
struct Source {
    topic: String,
    /// The first KiB of the payload.
    excerpt: Vec<u8>,
    received_at: i64,
    qos0: bool,
}

impl Source {
    fn of(topic: String, msg: &Message) -> Source {
        let excerpt = msg.payload[..msg.payload.len().min(1024)].to_vec();
        Source { topic, excerpt, received_at: msg.received_at_ms, qos0: msg.ack.is_none() }
    }

    /// Logs the refusal and dead-letters the message under `prefix`.
    fn refuse(&self, r: &Refusal, acker: &Acker, prefix: &str) {
        tracing::warn!(event = "control_refused", topic = %self.topic, reason = r.reason(), detail = %r.detail(),
            "control message refused");
        if let Ok(json) = serde_json::to_vec(&DeadLetter::of(self, r)) {
            acker.deadletter(deadletter(prefix), json, self.qos0);
        }
    }
}

/// The tasks following forwarded acknowledgements (at most [`FOLLOW_UPS`]; they stop at shutdown).
struct FollowUps {
    permits: Arc<Semaphore>,
    acker: Acker,
    shutdown: CancellationToken,
}

impl FollowUps {
    /// Follows row `request` on `incident` in a task of its own, if a permit is free.
    fn start(&self, control: &Arc<Control>, request: i64, incident: String, source: Source) {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            tracing::warn!(
                event = "forwarded_follow_up_skipped",
                request,
                "too many forwarded acknowledgements followed at once: this one is left to the sweep"
            );
            return;
        };
        let (control, acker, stop) = (control.clone(), self.acker.clone(), self.shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = control.follow(request, &incident, &source, &acker) => {}
            }
            drop(permit);
        });
    }
}

/// What handling a control message did, and the forwarded row left to follow.
struct Handled {
    what: String,
    /// `(row id, incident id)` of a forwarded acknowledgement.
    forwarded: Option<(i64, String)>,
}

/// The control task's parts.
pub struct Control {
    /// The engine.
    pub handle: EngineHandle,
    /// Station ids.
    pub registry: SharedRegistry,
    /// Availability to set.
    pub availability: Availability,
    /// Topic prefix.
    pub prefix: String,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Control {
    /// Handles control messages until `shutdown` or until the queue closes.
    pub(crate) async fn run(self, mut rx: mpsc::Receiver<Message>, acker: Acker, shutdown: CancellationToken) {
        let control = Arc::new(self);
        let follow_ups = FollowUps {
            permits: Arc::new(Semaphore::new(FOLLOW_UPS)),
            acker: acker.clone(),
            shutdown: shutdown.clone(),
        };
        loop {
            let msg = tokio::select! {
                () = shutdown.cancelled() => break,
                m = rx.recv() => match m { Some(m) => m, None => break },
            };
            let source = Source::of(String::from_utf8_lossy(&msg.topic).into_owned(), &msg);
            match control.handled(&source.topic, &msg.payload).await {
                Ok(h) => {
                    tracing::info!(event = "control_applied", topic = %source.topic, what = %h.what,
                        "control message applied");
                    if let Some((request, incident)) = h.forwarded {
                        follow_ups.start(&control, request, incident, source);
                    }
                }
                Err(r) => source.refuse(&r, &acker, &control.prefix),
            }
            // Its ack leaves in arrival order, behind the readings that came before it.
            if let Some(token) = msg.ack {
                token.complete();
            }
        }
    }

    /// Applies one control message; returns what was done.
    pub async fn handle(&self, topic: &str, payload: &[u8]) -> Result<String, Refusal> {
        self.handled(topic, payload).await.map(|h| h.what)
    }

    /// Follows forwarded row `request` (on incident `id`) to its end: the owner's refusal or a
    /// cancellation is dead-lettered (see the module doc); a row a leader claimed but did not
    /// answer in time will be applied, so it is only logged.
    async fn follow(&self, request: i64, id: &str, source: &Source, acker: &Acker) {
        let refusal = match self.handle.settle_forwarded(request, id).await {
            Ok(Verdict::Applied(inc)) => {
                tracing::info!(event = "forwarded_control_applied", topic = %source.topic, request,
                    incident = %inc.id, status = %inc.status, "forwarded control message applied by its owner");
                return;
            }
            Ok(v) => refusal_of(crate::engine::answer_of(v, id)),
            Err(e @ ForwardError::NotApplied { .. }) => Refusal::Unavailable(e.to_string()),
            Err(e) => {
                tracing::warn!(event = "forwarded_control_unsettled", topic = %source.topic, request, error = %e,
                    "a forwarded control message's end is not known here (the owner logs its verdict)");
                return;
            }
        };
        source.refuse(&refusal, acker, &self.prefix);
    }

    /// [`Control::handle`], with the forwarded row to follow.
    async fn handled(&self, topic: &str, payload: &[u8]) -> Result<Handled, Refusal> {
        let done = |what: String| Handled { what, forwarded: None };
        let t = parse_topic(&self.prefix, topic).ok_or_else(|| Refusal::BadTopic(topic.to_owned()))?;
        match t {
            ControlTopic::Status(id) => {
                if self.registry.snapshot().station(id).is_none() {
                    return Err(Refusal::UnknownStation(id.to_owned()));
                }
                let status = parse_status_body(payload).map_err(|e| Refusal::BadPayload(e.to_string()))?;
                self.availability.publish(id, status).await.map_err(|e| Refusal::Unavailable(e.to_string()))?;
                Ok(done(format!("station {id} is {}", status.as_str())))
            }
            ControlTopic::StationAck(id) => {
                self.ack(CallerRole::Station, Recipient::Station(id.to_owned()), payload).await
            }
            ControlTopic::GridAck(id) => self.ack(CallerRole::Grid, Recipient::Grid(id.to_owned()), payload).await,
        }
    }

    /// An acknowledgement or report of a station or grid, `who`.
    async fn ack(&self, caller: CallerRole, who: Recipient, payload: &[u8]) -> Result<Handled, Refusal> {
        let body: AckBody = serde_json::from_slice(payload).map_err(|e| Refusal::BadPayload(e.to_string()))?;
        let action = Action::parse(&body.action).filter(|a| *a != Action::Dispatched).ok_or_else(|| {
            Refusal::BadPayload(format!(
                "unknown action `{}`: use ack, on_scene, resolve, false_alarm, confirm or rectified",
                body.action
            ))
        })?;
        let note = note::compose(&body.note, &body.by).map_err(|e| Refusal::NoteTooLong(e.to_string()))?;
        let actor = format!("{}:{}", caller.as_str(), who.id());
        self.permit(caller, &who, &actor, &body.incident_id, action).await?;
        if self.handle.forwards(&body.incident_id) {
            // Another partition owns it: its leader applies it; the message is acknowledged
            // once the forwarded row is committed, and its end is followed (`run`).
            let request = self
                .handle
                .forward_without_waiting(&body.incident_id, action, &actor, &note)
                .await
                .map_err(|e| Refusal::Unavailable(e.to_string()))?;
            return Ok(Handled {
                what: format!(
                    "{actor} {action} {}: forwarded to its partition's leader (request {request})",
                    body.incident_id
                ),
                forwarded: Some((request, body.incident_id)),
            });
        }
        match self.handle.act(&body.incident_id, action, &actor, &note).await {
            Ok(inc) => {
                Ok(Handled { what: format!("{actor} {action} {}: now {}", inc.id, inc.status), forwarded: None })
            }
            Err(e) => Err(refusal_of(Err(e))),
        }
    }

    /// The role × action table, with the roles `who` was notified as (from the outbox).
    async fn permit(
        &self,
        caller: CallerRole,
        who: &Recipient,
        actor: &str,
        id: &str,
        action: Action,
    ) -> Result<(), Refusal> {
        let unavailable = |e: AlertError| Refusal::Unavailable(e.to_string());
        let rec =
            self.handle.get(id).await.map_err(unavailable)?.ok_or_else(|| Refusal::UnknownIncident(id.to_owned()))?;
        if !rec.incident.was_notified(who) {
            return Err(Refusal::NotNotified(format!("{actor} was not notified of incident {id}")));
        }
        let roles = self.handle.notification_roles(id, who).await.map_err(unavailable)?;
        let request = Request {
            caller,
            actor,
            incident_id: id,
            class: rec.incident.class,
            unverified: rec.incident.verification.is_some(),
            notified_as: &roles,
            action,
        };
        decide(&request).map_err(|d| match d {
            Denial::NotNotified(why) => Refusal::NotNotified(why),
            Denial::Forbidden(why) => Refusal::Forbidden(why),
        })
    }
}

/// The refusal of an engine's answer (`Ok` is not one: `unavailable` then, never reached).
fn refusal_of(answer: Result<crate::incident::Incident, AlertError>) -> Refusal {
    match answer {
        Err(AlertError::Transition(t)) => Refusal::Illegal(t.to_string()),
        // A forwarded refusal of the lifecycle comes back as the owner's conflict.
        Err(AlertError::Conflict(r)) => Refusal::Illegal(r),
        Err(AlertError::NotFound(id)) => Refusal::UnknownIncident(id),
        Err(e) => Refusal::Unavailable(e.to_string()),
        Ok(inc) => Refusal::Unavailable(format!("incident {} answered without a refusal", inc.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owners_refusal_of_a_forwarded_ack_is_dead_lettered_with_the_reason_of_a_local_one() {
        let conflict = crate::engine::answer_of(Verdict::Conflict("acknowledged -> ack".into()), "INC-1");
        assert_eq!(refusal_of(conflict), Refusal::Illegal("acknowledged -> ack".into()));
        let missing = crate::engine::answer_of(Verdict::NotFound("no incident INC-1".into()), "INC-1");
        assert_eq!(refusal_of(missing), Refusal::UnknownIncident("INC-1".into()));
        let down = crate::engine::answer_of(Verdict::Unavailable("stopped".into()), "INC-1");
        assert_eq!(refusal_of(down).reason(), "unavailable");
        assert_eq!(refusal_of(Err(AlertError::NotFound("INC-2".into()))), Refusal::UnknownIncident("INC-2".into()));
    }

    #[test]
    fn control_topics_name_their_sender() {
        let p = "firegrid/v1";
        assert_eq!(parse_topic(p, "firegrid/v1/ack/ms-1"), Some(ControlTopic::StationAck("ms-1")));
        assert_eq!(parse_topic(p, "firegrid/v1/ack/grid/g-1"), Some(ControlTopic::GridAck("g-1")));
        assert_eq!(parse_topic(p, "firegrid/v1/status/ms-1"), Some(ControlTopic::Status("ms-1")));
        assert_eq!(parse_topic(p, "firegrid/v1/ack/"), None);
        assert_eq!(parse_topic(p, "firegrid/v1/ack/a/b"), None);
        assert_eq!(parse_topic(p, "other/ack/ms-1"), None);
    }
}
