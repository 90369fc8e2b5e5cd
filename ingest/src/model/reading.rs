//! One sensor reading as the rest of firegrid sees it once the wire contract (DESIGN §2) has
//! accepted it: typed values per kind, the device's own status and the measurement time.
//! Nothing here does I/O.

use crate::model::kind::Kind;

/// The device's own report of its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// Operating normally.
    #[default]
    Normal,
    /// The device itself signals an alarm.
    Alarm,
    /// The device reports a fault (a hazard, never a fire).
    Fault,
    /// A test (test button, maintenance): stored, never dispatched.
    Test,
}

impl Status {
    /// The name used on the wire and as the `status` tag.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Normal => "normal",
            Status::Alarm => "alarm",
            Status::Fault => "fault",
            Status::Test => "test",
        }
    }

    /// Parses the wire value.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "normal" => Some(Status::Normal),
            "alarm" => Some(Status::Alarm),
            "fault" => Some(Status::Fault),
            "test" => Some(Status::Test),
            _ => None,
        }
    }
}

/// Values of a smoke detector reading.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SmokeValues {
    /// Optical obscuration, dB/m (0–20).
    pub obscuration_db_m: f64,
    /// Temperature at the detector, °C.
    pub temperature_c: Option<f64>,
    /// The detector's own alarm output.
    pub alarm: Option<bool>,
    /// Battery charge, percent.
    pub battery_pct: Option<f64>,
    /// Removed from its base.
    pub tamper: Option<bool>,
    /// Hush pressed.
    pub silenced: Option<bool>,
}

/// Most cable temperature channels an electrical detector reports.
pub(crate) const MAX_CABLE_CHANNELS: usize = 8;

/// Values of an electrical fire monitoring detector reading.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ElectricalValues {
    /// Residual (leakage) current, mA.
    pub residual_current_ma: f64,
    /// Cable temperature per channel, °C (1–8 channels).
    pub cable_temp_c: Vec<f64>,
    /// Load current, A.
    pub current_a: Option<f64>,
    /// Supply voltage, V.
    pub voltage_v: Option<f64>,
    /// The detector's arc-fault alarm.
    pub arc_fault: Option<bool>,
}

/// Values of a forest infrared camera reading.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForestIrValues {
    /// Hottest pixel, °C.
    pub max_temp_c: f64,
    /// Pixels above the camera's hot threshold.
    pub hotspot_px: u32,
    /// On-camera smoke classifier score, 0–1.
    pub smoke_score: Option<f64>,
    /// Estimated WGS-84 latitude of the hotspot.
    pub lat: Option<f64>,
    /// Estimated WGS-84 longitude of the hotspot.
    pub lon: Option<f64>,
    /// Ambient temperature, °C.
    pub ambient_c: Option<f64>,
}

/// Kind-specific values; the variant always matches [`Reading::kind`].
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// A smoke detector's values.
    Smoke(SmokeValues),
    /// An electrical detector's values.
    Electrical(ElectricalValues),
    /// A forest camera's values.
    ForestIr(ForestIrValues),
}

impl Values {
    /// The kind these values belong to.
    pub fn kind(&self) -> Kind {
        match self {
            Values::Smoke(_) => Kind::Smoke,
            Values::Electrical(_) => Kind::Electrical,
            Values::ForestIr(_) => Kind::ForestIr,
        }
    }
}

/// One accepted reading, with the location its topic named.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The device id from the topic.
    pub device_id: String,
    /// Sensor kind from the topic.
    pub kind: Kind,
    /// 6-digit county code from the topic.
    pub county: String,
    /// 9-digit township code from the topic.
    pub township: String,
    /// Measurement time, epoch milliseconds (receive time when the payload had none).
    pub ts_ms: i64,
    /// When firegrid received the message, epoch milliseconds.
    pub received_at_ms: i64,
    /// The device's message counter, when it sends one.
    pub seq: Option<u64>,
    /// The device's own status.
    pub status: Status,
    /// Kind-specific values.
    pub values: Values,
}

/// The names of the reading's fields, spelled once: the payload's envelope and `values` keys on
/// the wire (DESIGN §2) and the field keys in the store (DESIGN §4). The decoder, the encoder
/// and whatever builds or reads payloads use these rather than their own copies.
pub mod field {
    /// Envelope: measurement time (epoch ms or RFC 3339).
    pub const TS: &str = "ts";
    /// Envelope: the device's message counter; also an integer field in the store.
    pub const SEQ: &str = "seq";
    /// Envelope: the device's own status; a tag in the store.
    pub const STATUS: &str = "status";
    /// Envelope: the kind-specific values object.
    pub const VALUES: &str = "values";
    /// Smoke: optical obscuration, dB/m.
    pub const OBSCURATION_DB_M: &str = "obscuration_db_m";
    /// Smoke: temperature at the detector, °C.
    pub const TEMPERATURE_C: &str = "temperature_c";
    /// Smoke: the detector's own alarm output.
    pub const ALARM: &str = "alarm";
    /// Smoke: battery charge, percent.
    pub const BATTERY_PCT: &str = "battery_pct";
    /// Smoke: removed from its base.
    pub const TAMPER: &str = "tamper";
    /// Smoke: hush pressed.
    pub const SILENCED: &str = "silenced";
    /// Electrical: residual (leakage) current, mA.
    pub const RESIDUAL_CURRENT_MA: &str = "residual_current_ma";
    /// Electrical: cable temperatures, °C; an array on the wire, `cable_temp_c_1…n` in the store.
    pub const CABLE_TEMP_C: &str = "cable_temp_c";
    /// Electrical: load current, A.
    pub const CURRENT_A: &str = "current_a";
    /// Electrical: supply voltage, V.
    pub const VOLTAGE_V: &str = "voltage_v";
    /// Electrical: the detector's arc-fault alarm.
    pub const ARC_FAULT: &str = "arc_fault";
    /// Forest camera: hottest pixel, °C.
    pub const MAX_TEMP_C: &str = "max_temp_c";
    /// Forest camera: pixels above the camera's hot threshold.
    pub const HOTSPOT_PX: &str = "hotspot_px";
    /// Forest camera: on-camera smoke classifier score, 0–1.
    pub const SMOKE_SCORE: &str = "smoke_score";
    /// Forest camera: estimated WGS-84 latitude of the hotspot.
    pub const LAT: &str = "lat";
    /// Forest camera: estimated WGS-84 longitude of the hotspot.
    pub const LON: &str = "lon";
    /// Forest camera: ambient temperature, °C.
    pub const AMBIENT_C: &str = "ambient_c";
}
