//! The incident of DESIGN §5: what it is ([`Class`]), how urgent ([`Severity`]), where it is in
//! its lifecycle ([`Status`]; the transitions are `lifecycle`'s), what was seen
//! ([`IncidentSignal`]), whether it awaits a person's check ([`Verification`]), and the
//! [`Incident`] record itself, stored as a JSON document and served as is by the API. Pure.

use firegrid_ingest::SiteType;
use serde::{Deserialize, Serialize};

use super::notification::Recipient;
use crate::detect::{Hazard, Signal};

named_enum!(
    /// What an incident is.
    pub enum Class {
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
    pub enum Severity {
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
    pub enum Status {
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

impl Status {
    /// A closed incident takes no more transitions and no more evidence.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Resolved | Status::FalseAlarm | Status::Rectified)
    }
}

named_enum!(
    /// Why an incident awaits a person's check before it may be handled as a live fire
    /// (DESIGN §5): while set, severity stays at most `medium`, the incident is routed only as
    /// `verify`, and nothing escalates it as a fire; `confirm` clears it.
    pub enum Verification {
        /// The alarm came from a device missing from the registry (any id can be made up).
        UnregisteredDevice => "unregistered_device",
        /// The alarm's reading was older than `alerting.max_alarm_age_seconds` when it arrived
        /// (buffered by the device, or replayed): not a live fire until checked.
        LateAlarm => "late_alarm",
    }
);

/// What an incident has seen, by name in its `signals`: a fire alarm signal or a hazard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentSignal {
    /// A fire alarm signal (`smoke`, `heat`, `electrical`, `hotspot`).
    Alarm(Signal),
    /// A hazard (`fault`, `tamper`, `battery_low`, …).
    Hazard(Hazard),
}

impl IncidentSignal {
    /// The name kept in `signals`.
    pub const fn as_str(self) -> &'static str {
        match self {
            IncidentSignal::Alarm(s) => s.as_str(),
            IncidentSignal::Hazard(h) => h.as_str(),
        }
    }

    /// The signal of a name.
    pub fn parse(s: &str) -> Option<IncidentSignal> {
        Signal::parse(s).map(IncidentSignal::Alarm).or_else(|| Hazard::parse(s).map(IncidentSignal::Hazard))
    }
}

serde_by_name!(IncidentSignal);

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
    #[serde(default, with = "crate::by_name::option")]
    pub site_type: Option<SiteType>,
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
    pub signals: Vec<IncidentSignal>,
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

impl Incident {
    /// Whether a station or a grid was notified of this incident (it may then see and act on it).
    pub fn was_notified(&self, who: &Recipient) -> bool {
        match who {
            Recipient::Station(id) => self.notified_stations.contains(id),
            Recipient::Grid(id) => self.notified_grids.contains(id),
        }
    }

    /// The `+`-joined names of its signals (`smoke+heat`).
    pub(crate) fn signal_names(&self) -> String {
        self.signals.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("+")
    }

    /// Whether it has seen this fire alarm signal.
    pub(crate) fn has_signal(&self, s: Signal) -> bool {
        self.signals.contains(&IncidentSignal::Alarm(s))
    }
}
