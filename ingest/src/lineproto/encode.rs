//! The line of one reading (DESIGN §4).
//!
//! One measurement per kind; tags `device_id, county, township, community, grid_id, site_type`
//! (pre-encoded once per registered device, see [`super::series`], so writing a line is a copy),
//! then `status` and, for unknown devices, `registered=false`; fields are the values, bools as
//! booleans, `cable_temp_c` as `cable_temp_c_1…n`, `seq` as an integer; the timestamp is the
//! reading's `ts` in milliseconds (writes use `precision=ms`).

use std::fmt::Write as _;

use super::escape::{push_float, push_int};
use super::series;
use crate::model::enriched::EnrichedReading;
use crate::model::reading::{field, Reading, Values};

/// Appends one line (with its trailing newline) for an enriched reading.
pub fn encode(out: &mut String, r: &EnrichedReading) {
    let reading = &r.reading;
    match &r.device {
        Some(d) => series::push_device_prefix(out, d),
        None => series::push_unregistered(out, reading),
    }
    out.push_str(",status=");
    out.push_str(reading.status.as_str());
    out.push(' ');
    encode_fields(out, reading);
    out.push(' ');
    push_int(out, reading.ts_ms);
    out.push('\n');
}

fn encode_fields(out: &mut String, reading: &Reading) {
    let mut f = Fields { out, first: true };
    match &reading.values {
        Values::Smoke(v) => {
            f.float(field::OBSCURATION_DB_M, v.obscuration_db_m);
            f.opt_float(field::TEMPERATURE_C, v.temperature_c);
            f.opt_bool(field::ALARM, v.alarm);
            f.opt_float(field::BATTERY_PCT, v.battery_pct);
            f.opt_bool(field::TAMPER, v.tamper);
            f.opt_bool(field::SILENCED, v.silenced);
        }
        Values::Electrical(v) => {
            f.float(field::RESIDUAL_CURRENT_MA, v.residual_current_ma);
            for (i, t) in v.cable_temp_c.iter().enumerate() {
                f.key_indexed(field::CABLE_TEMP_C, i + 1);
                push_float(f.out, *t);
            }
            f.opt_float(field::CURRENT_A, v.current_a);
            f.opt_float(field::VOLTAGE_V, v.voltage_v);
            f.opt_bool(field::ARC_FAULT, v.arc_fault);
        }
        Values::ForestIr(v) => {
            f.float(field::MAX_TEMP_C, v.max_temp_c);
            f.key(field::HOTSPOT_PX);
            push_int(f.out, i64::from(v.hotspot_px));
            f.out.push('i');
            f.opt_float(field::SMOKE_SCORE, v.smoke_score);
            f.opt_float(field::LAT, v.lat);
            f.opt_float(field::LON, v.lon);
            f.opt_float(field::AMBIENT_C, v.ambient_c);
        }
    }
    if let Some(seq) = reading.seq {
        f.key(field::SEQ);
        // Field integers are signed 64-bit; a counter past i64::MAX saturates rather than wraps.
        push_int(f.out, i64::try_from(seq).unwrap_or(i64::MAX));
        f.out.push('i');
    }
}

struct Fields<'a> {
    out: &'a mut String,
    first: bool,
}

impl Fields<'_> {
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str(key);
        self.out.push('=');
    }

    fn key_indexed(&mut self, key: &str, i: usize) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str(key);
        // `write!` to a String cannot fail.
        let _ = write!(self.out, "_{i}=");
    }

    fn float(&mut self, key: &str, v: f64) {
        self.key(key);
        push_float(self.out, v);
    }

    fn opt_float(&mut self, key: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.float(key, v);
        }
    }

    fn opt_bool(&mut self, key: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.key(key);
            self.out.push_str(if v { "true" } else { "false" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reading::{ElectricalValues, ForestIrValues, SmokeValues, Status};

    fn reading(values: Values, seq: Option<u64>, status: Status) -> EnrichedReading {
        EnrichedReading {
            reading: Reading {
                device_id: "sd-1".into(),
                kind: values.kind(),
                county: "500112".into(),
                township: "500112002".into(),
                ts_ms: 1_795_930_617_074,
                received_at_ms: 1_795_930_617_100,
                seq,
                status,
                values,
            },
            device: None,
            location_mismatch: false,
        }
    }

    #[test]
    fn an_unregistered_smoke_reading_encodes_with_topic_location_and_registered_false() {
        let r = reading(
            Values::Smoke(SmokeValues {
                obscuration_db_m: 0.031,
                temperature_c: Some(22.5),
                battery_pct: Some(88.0),
                alarm: Some(false),
                ..Default::default()
            }),
            Some(17),
            Status::Normal,
        );
        let mut out = String::new();
        encode(&mut out, &r);
        assert_eq!(
            out,
            "smoke,device_id=sd-1,county=500112,township=500112002,registered=false,status=normal \
             obscuration_db_m=0.031,temperature_c=22.5,alarm=false,battery_pct=88.0,seq=17i 1795930617074\n"
        );
    }

    #[test]
    fn electrical_channels_and_forest_integers_encode_as_separate_typed_fields() {
        let mut out = String::new();
        let e = reading(
            Values::Electrical(ElectricalValues {
                residual_current_ma: 120.0,
                cable_temp_c: vec![31.5, 40.0],
                arc_fault: Some(true),
                ..Default::default()
            }),
            None,
            Status::Alarm,
        );
        encode(&mut out, &e);
        assert!(out.contains(
            "status=alarm residual_current_ma=120.0,cable_temp_c_1=31.5,cable_temp_c_2=40.0,arc_fault=true 1795930617074\n"
        ));
        out.clear();
        let f = reading(
            Values::ForestIr(ForestIrValues {
                max_temp_c: 95.5,
                hotspot_px: 12,
                lat: Some(31.4),
                ..Default::default()
            }),
            Some(3),
            Status::Normal,
        );
        encode(&mut out, &f);
        assert!(out.starts_with("forest_ir,"));
        assert!(out.contains(" max_temp_c=95.5,hotspot_px=12i,lat=31.4,seq=3i "));
    }
}
