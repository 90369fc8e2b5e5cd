//! The incident model of DESIGN §5: class, severity, evidence, and the lifecycle
//! `open → dispatched → acknowledged → on_scene → resolved | false_alarm` (hazards:
//! `open → acknowledged → rectified`). Every transition produces an [`AuditEntry`]; an illegal
//! one is a [`TransitionError`] that says what was asked and why it cannot be done. Pure code.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The wire, tag and label name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }

            /// Parses the wire name.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// What an incident is.
    Class {
        /// A fire (smoke/heat alarm).
        Fire => "fire",
        /// An electrical fire alarm.
        ElectricalFire => "electrical_fire",
        /// A forest fire.
        ForestFire => "forest_fire",
        /// A hazard (隐患): not a fire, the grid's closed loop.
        Hazard => "hazard",
    }
);

named_enum!(
    /// How urgent an incident is; ordered, so a rise is `new > old`.
    Severity {
        /// Low.
        Low => "low",
        /// Medium.
        Medium => "medium",
        /// High: a single-device fire alarm.
        High => "high",
        /// Critical: a confirmed fire, or any fire alarm of a vulnerable household or critical site.
        Critical => "critical",
    }
);

named_enum!(
    /// Lifecycle state.
    Status {
        /// Opened, nobody notified yet.
        Open => "open",
        /// Notifications sent (the dispatch stage).
        Dispatched => "dispatched",
        /// A responder acknowledged.
        Acknowledged => "acknowledged",
        /// A responder reported on scene.
        OnScene => "on_scene",
        /// Closed: handled.
        Resolved => "resolved",
        /// Closed: not a fire.
        FalseAlarm => "false_alarm",
        /// Closed: a hazard was rectified (整改).
        Rectified => "rectified",
    }
);

named_enum!(
    /// A responder's action (DESIGN §6), plus `dispatched` recorded by the dispatch stage.
    Action {
        /// Notifications were sent (dispatch stage only).
        Dispatched => "dispatched",
        /// Acknowledge.
        Ack => "ack",
        /// Arrived on scene.
        OnScene => "on_scene",
        /// Handled.
        Resolve => "resolve",
        /// Not a fire.
        FalseAlarm => "false_alarm",
        /// A responder confirms the fire (severity critical).
        Confirm => "confirm",
        /// A hazard was rectified.
        Rectified => "rectified",
    }
);

named_enum!(
    /// What happened to an incident: one `fire_incident` line each.
    Event {
        /// Opened.
        Opened => "opened",
        /// Notifications sent.
        Dispatched => "dispatched",
        /// Acknowledged.
        Acknowledged => "acknowledged",
        /// On scene.
        OnScene => "on_scene",
        /// Severity rose.
        Escalated => "escalated",
        /// Resolved.
        Resolved => "resolved",
        /// Closed as a false alarm.
        FalseAlarm => "false_alarm",
        /// Hazard rectified.
        Rectified => "rectified",
        /// A responder confirmed an incident already critical (no severity change, no re-notification).
        Confirmed => "confirmed",
    }
);

named_enum!(
    /// Why an incident awaits a person's check before it may be handled as a live fire
    /// (DESIGN §5): while set, severity stays at most `medium`, the incident is routed only as
    /// `verify`, and nothing escalates it as a fire; `confirm` clears it.
    Verification {
        /// The alarm came from a device missing from the registry (any id can be made up).
        UnregisteredDevice => "unregistered_device",
        /// The alarm's reading was older than `alerting.max_alarm_age_seconds` when it arrived
        /// (buffered by the device, or replayed): not a live fire until checked.
        LateAlarm => "late_alarm",
    }
);

impl Status {
    /// A closed incident takes no more transitions and no more evidence.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Resolved | Status::FalseAlarm | Status::Rectified)
    }
}

/// One reading that raised or fed an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The incident.
    pub incident_id: String,
    /// The device.
    pub device_id: String,
    /// The device's kind.
    pub kind: String,
    /// Measurement time, epoch ms.
    pub ts_ms: i64,
    /// Receive time, epoch ms.
    pub received_at_ms: i64,
    /// The device's message counter.
    pub seq: Option<u64>,
    /// The device's status.
    pub status: String,
    /// Why this reading counts (rule and values).
    pub reason: String,
    /// The reading's values.
    pub values: serde_json::Value,
}

/// One timestamped transition of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The incident.
    pub incident_id: String,
    /// When, epoch ms.
    pub at_ms: i64,
    /// What happened.
    pub event: Event,
    /// Status before (`None` when opened).
    pub from_status: Option<Status>,
    /// Status after.
    pub to_status: Status,
    /// Severity after.
    pub severity: Severity,
    /// Who: `engine`, or `{role}:{subject}` of a token.
    pub actor: String,
    /// Free text (reason, responder's note).
    pub note: String,
}

/// An incident and everything the engine keeps about it (evidence and audit live beside it).
/// Stored as JSON: a field added later must carry `#[serde(default)]` so older rows still load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable unique id, `INC-{county}-{yyyymmdd}-{n}` (date in Asia/Shanghai).
    pub id: String,
    /// Class.
    pub class: Class,
    /// Severity (never falls).
    pub severity: Severity,
    /// Lifecycle state.
    pub status: Status,
    /// Correlation key: `hh:{household}`, `dev:{device}` or `hz:{device}` (hazards).
    pub correlation_key: String,
    /// County code.
    pub county: String,
    /// Township code.
    pub township: String,
    /// Community code, when known.
    pub community: String,
    /// Grid id, when known.
    pub grid_id: String,
    /// Household id, when known.
    pub household_id: String,
    /// Address of the first device, when known.
    pub address: String,
    /// Site type of the first registered device.
    pub site_type: Option<String>,
    /// A vulnerable household is involved.
    pub vulnerable: bool,
    /// Latitude (hotspot estimate, else the device's).
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Every device that contributed evidence.
    pub devices: Vec<String>,
    /// Devices that raised a fire alarm.
    pub alarm_devices: Vec<String>,
    /// Devices whose alarm is still sounding (not back to normal, not silenced).
    pub sounding_devices: Vec<String>,
    /// Alarm signals seen (`smoke`, `heat`, `electrical`, `hotspot`) or hazard kinds.
    pub signals: Vec<String>,
    /// Confirmed (by rule or responder): the reason.
    pub confirmed: Option<String>,
    /// The first responder who confirmed it (`role:subject`); another `confirm` changes nothing.
    #[serde(default)]
    pub confirmed_by: Option<String>,
    /// Someone pressed hush on a detector of the incident.
    pub silenced: bool,
    /// Opened, epoch ms (engine clock).
    pub opened_at_ms: i64,
    /// Last change, epoch ms.
    pub updated_at_ms: i64,
    /// First alarm's measurement time, epoch ms.
    pub first_alarm_ms: i64,
    /// Last alarm's measurement time, epoch ms.
    pub last_alarm_ms: i64,
    /// Evidence readings attached.
    pub evidence_count: u64,
    /// Stations notified (filled by the dispatch stage): they may act on the incident.
    pub notified_stations: Vec<String>,
    /// Grids notified (filled by the dispatch stage): their managers may act on the incident.
    pub notified_grids: Vec<String>,
    /// One line a dispatcher can read.
    pub summary: String,
    /// Set while the incident awaits a person's check (an unregistered device, a late alarm);
    /// `None` for a live incident and once someone confirmed it.
    #[serde(default)]
    pub verification: Option<Verification>,
}

/// A transition that cannot be made, with the context to explain why.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TransitionError {
    /// The action does not apply to the incident's current status (or class).
    #[error("incident {incident_id} ({class}) is {status}: cannot {action}")]
    Illegal {
        /// The incident.
        incident_id: String,
        /// Its class.
        class: Class,
        /// Its status.
        status: Status,
        /// The refused action.
        action: Action,
    },
    /// The incident awaits a person's check: it can be confirmed (a live fire from then on),
    /// closed as a false alarm or acknowledged, nothing else.
    #[error("incident {incident_id} awaits verification ({verification}): cannot {action}; confirm it or close it as false_alarm")]
    AwaitsVerification {
        /// The incident.
        incident_id: String,
        /// Why it awaits a check.
        verification: Verification,
        /// The refused action.
        action: Action,
    },
}

/// The status an action leads to from `status`, for an incident of `class`, or `None` when illegal.
/// `confirm` keeps the status (it raises severity).
pub fn next_status(class: Class, status: Status, action: Action) -> Option<Status> {
    use Action as A;
    use Status as S;
    if class == Class::Hazard {
        return match (status, action) {
            (S::Open, A::Ack) => Some(S::Acknowledged),
            (S::Acknowledged, A::Rectified) => Some(S::Rectified),
            _ => None,
        };
    }
    match (status, action) {
        (S::Open, A::Dispatched) => Some(S::Dispatched),
        (S::Open | S::Dispatched, A::Ack) => Some(S::Acknowledged),
        (S::Open | S::Dispatched | S::Acknowledged, A::OnScene) => Some(S::OnScene),
        (S::Acknowledged | S::OnScene, A::Resolve) => Some(S::Resolved),
        (S::Open | S::Dispatched | S::Acknowledged | S::OnScene, A::FalseAlarm) => Some(S::FalseAlarm),
        (s, A::Confirm) if !s.is_terminal() => Some(s),
        _ => None,
    }
}

fn event_of(to: Status) -> Event {
    match to {
        Status::Open => Event::Opened,
        Status::Dispatched => Event::Dispatched,
        Status::Acknowledged => Event::Acknowledged,
        Status::OnScene => Event::OnScene,
        Status::Resolved => Event::Resolved,
        Status::FalseAlarm => Event::FalseAlarm,
        Status::Rectified => Event::Rectified,
    }
}

impl Incident {
    /// Whether `action` would repeat what is already done — `ack` of an acknowledged incident,
    /// `resolve` of a resolved one, `confirm` of one a responder already confirmed: it then changes
    /// nothing and is recorded nowhere (the caller answers with the incident as it is, so a
    /// retried request is harmless).
    pub fn repeats(&self, action: Action) -> bool {
        let done = match action {
            Action::Dispatched => return false,
            Action::Confirm => return self.confirmed_by.is_some(),
            Action::Ack => Status::Acknowledged,
            Action::OnScene => Status::OnScene,
            Action::Resolve => Status::Resolved,
            Action::FalseAlarm => Status::FalseAlarm,
            Action::Rectified => Status::Rectified,
        };
        self.status == done
    }

    /// Applies a responder action at `at_ms`, returning the audit entry, or why it is refused.
    /// `confirm` raises severity to critical (`escalated`); on an already critical incident it is
    /// recorded as `confirmed`, without a severity change. On an incident awaiting verification,
    /// `confirm` is the check instead (see [`Incident::verified`]) and `on_scene`/`resolve` are
    /// refused. (Callers skip repeats first: see [`Incident::repeats`].)
    pub fn apply(
        &mut self,
        action: Action,
        actor: &str,
        note: &str,
        at_ms: i64,
    ) -> Result<AuditEntry, TransitionError> {
        if let Some(verification) = self.verification {
            match action {
                Action::Confirm => return Ok(self.verified(actor, note, at_ms)),
                Action::OnScene | Action::Resolve => {
                    return Err(TransitionError::AwaitsVerification {
                        incident_id: self.id.clone(),
                        verification,
                        action,
                    })
                }
                _ => {}
            }
        }
        let to = next_status(self.class, self.status, action).ok_or_else(|| TransitionError::Illegal {
            incident_id: self.id.clone(),
            class: self.class,
            status: self.status,
            action,
        })?;
        let from = self.status;
        let event = if action == Action::Confirm {
            if self.confirmed.is_none() {
                self.confirmed = Some(format!("confirmed by {actor}"));
            }
            if self.confirmed_by.is_none() {
                self.confirmed_by = Some(actor.to_owned());
            }
            if self.severity == Severity::Critical {
                Event::Confirmed
            } else {
                self.severity = Severity::Critical;
                Event::Escalated
            }
        } else {
            event_of(to)
        };
        self.status = to;
        self.updated_at_ms = at_ms;
        Ok(self.audit(event, Some(from), actor, note, at_ms))
    }

    /// A person checked an incident that awaited verification and confirms the alarm: it becomes
    /// a live incident, back to `open` so the fire lifecycle starts afresh (the dispatch stage
    /// moves it to `dispatched` when the responders are told). The entry is `escalated`: the
    /// caller sets the severity the usual rules give (always above the `medium` it had), and that
    /// rise is what makes the dispatch stage notify the responders in a new round.
    fn verified(&mut self, actor: &str, note: &str, at_ms: i64) -> AuditEntry {
        let from = self.status;
        let why = self.verification.take().map_or("", Verification::as_str);
        self.status = Status::Open;
        self.updated_at_ms = at_ms;
        let note = if note.is_empty() { format!("verified ({why})") } else { note.to_owned() };
        self.audit(Event::Escalated, Some(from), actor, &note, at_ms)
    }

    /// An audit entry for this incident's current status and severity.
    pub fn audit(&self, event: Event, from: Option<Status>, actor: &str, note: &str, at_ms: i64) -> AuditEntry {
        AuditEntry {
            incident_id: self.id.clone(),
            at_ms,
            event,
            from_status: from,
            to_status: self.status,
            severity: self.severity,
            actor: actor.to_owned(),
            note: note.to_owned(),
        }
    }

    /// Whether a station or grid subject was notified of this incident.
    pub fn notified(&self, station_or_grid: &str, is_grid: bool) -> bool {
        let list = if is_grid { &self.notified_grids } else { &self.notified_stations };
        list.iter().any(|s| s == station_or_grid)
    }
}

/// Formats an incident id: `INC-{county}-{yyyymmdd}-{n:04}`, the date taken in Asia/Shanghai
/// (UTC+8) from `at_ms`.
pub fn incident_id(county: &str, at_ms: i64, n: u64) -> String {
    format!("INC-{county}-{}-{n:04}", local_day(at_ms))
}

/// The `yyyymmdd` of `at_ms` in Asia/Shanghai (UTC+8, no daylight saving).
pub fn local_day(at_ms: i64) -> String {
    let days = (at_ms + 8 * 3_600_000).div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_fire_lifecycle_allows_exactly_the_design_transitions() {
        use Action as A;
        use Status as S;
        let table = [
            (S::Open, A::Dispatched, Some(S::Dispatched)),
            (S::Dispatched, A::Ack, Some(S::Acknowledged)),
            (S::Acknowledged, A::OnScene, Some(S::OnScene)),
            (S::OnScene, A::Resolve, Some(S::Resolved)),
            (S::OnScene, A::FalseAlarm, Some(S::FalseAlarm)),
            (S::Open, A::Resolve, None),
            (S::Acknowledged, A::Ack, None),
            (S::Resolved, A::Ack, None),
            (S::Resolved, A::Confirm, None),
            (S::Open, A::Rectified, None),
            (S::OnScene, A::Confirm, Some(S::OnScene)),
        ];
        for (from, action, want) in table {
            assert_eq!(next_status(Class::Fire, from, action), want, "{from} --{action}-->");
        }
    }

    #[test]
    fn the_hazard_lifecycle_is_open_acknowledged_rectified() {
        assert_eq!(next_status(Class::Hazard, Status::Open, Action::Ack), Some(Status::Acknowledged));
        assert_eq!(next_status(Class::Hazard, Status::Acknowledged, Action::Rectified), Some(Status::Rectified));
        assert_eq!(next_status(Class::Hazard, Status::Open, Action::Rectified), None);
        assert_eq!(next_status(Class::Hazard, Status::Open, Action::Resolve), None);
        assert_eq!(next_status(Class::Hazard, Status::Open, Action::Confirm), None);
    }

    #[test]
    fn incident_ids_use_the_shanghai_date() {
        // 2026-11-29 17:00 UTC is 2026-11-30 01:00 in Chongqing.
        let at = 1_795_971_600_000;
        assert_eq!(incident_id("500112", at, 7), "INC-500112-20261130-0007");
        assert_eq!(local_day(0), "19700101");
    }
}
