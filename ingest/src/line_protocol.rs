//! InfluxDB line protocol encoding (DESIGN §4): escaping rules and the encoding of a reading.
//!
//! One measurement per kind; tags `device_id, county, township, community, grid_id, site_type`
//! (pre-encoded once per registered device at registry load, so writing a line is a copy),
//! then `status` and, for unknown devices, `registered=false`; fields are the values, bools as
//! booleans, `cable_temp_c` as `cable_temp_c_1…n`, `seq` as an integer; the timestamp is the
//! reading's `ts` in milliseconds (writes use `precision=ms`).

use std::fmt::Write as _;

use crate::reading::{EnrichedReading, Kind, Reading, Values};

/// Appends `s` escaped as a measurement name (commas and spaces).
pub fn escape_measurement(out: &mut String, s: &str) {
    escape_with(out, s, |c| matches!(c, ',' | ' ' | '\n' | '\\'));
}

/// Appends `s` escaped as a tag key, tag value or field key (commas, equals signs, spaces).
pub fn escape_tag(out: &mut String, s: &str) {
    escape_with(out, s, |c| matches!(c, ',' | '=' | ' ' | '\n' | '\\'));
}

/// Appends `s` as a double-quoted string field value (quotes and backslashes escaped).
pub fn quote_field(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // A raw newline ends the line in line protocol; keep multi-line text on one line.
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
}

fn escape_with(out: &mut String, s: &str, special: impl Fn(char) -> bool) {
    if !s.chars().any(&special) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if c == '\n' {
            // Newlines cannot be escaped in keys or tags; a space keeps the line intact.
            out.push_str("\\ ");
            continue;
        }
        if special(c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Appends `,key=value` with the value escaped, or nothing for an empty value
/// (line protocol has no empty tag values).
pub fn push_tag(out: &mut String, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.push(',');
    out.push_str(key);
    out.push('=');
    escape_tag(out, value);
}

/// The pre-encoded measurement and registry tags of a registered device:
/// `smoke,device_id=…,county=…,township=…,community=…,grid_id=…,site_type=…`.
pub fn device_prefix(
    kind: Kind,
    device_id: &str,
    county: &str,
    township: &str,
    community: &str,
    grid_id: &str,
    site_type: &str,
) -> String {
    let mut out = String::with_capacity(128);
    escape_measurement(&mut out, kind.as_str());
    push_tag(&mut out, "device_id", device_id);
    push_tag(&mut out, "county", county);
    push_tag(&mut out, "township", township);
    push_tag(&mut out, "community", community);
    push_tag(&mut out, "grid_id", grid_id);
    push_tag(&mut out, "site_type", site_type);
    out
}

/// Appends one line (with its trailing newline) for an enriched reading.
pub fn encode(out: &mut String, r: &EnrichedReading) {
    let reading = &r.reading;
    match &r.device {
        Some(d) => out.push_str(&d.line_prefix),
        None => {
            escape_measurement(out, reading.kind.as_str());
            push_tag(out, "device_id", &reading.device_id);
            push_tag(out, "county", &reading.county);
            push_tag(out, "township", &reading.township);
            out.push_str(",registered=false");
        }
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
            f.float("obscuration_db_m", v.obscuration_db_m);
            f.opt_float("temperature_c", v.temperature_c);
            f.opt_bool("alarm", v.alarm);
            f.opt_float("battery_pct", v.battery_pct);
            f.opt_bool("tamper", v.tamper);
            f.opt_bool("silenced", v.silenced);
        }
        Values::Electrical(v) => {
            f.float("residual_current_ma", v.residual_current_ma);
            for (i, t) in v.cable_temp_c.iter().enumerate() {
                f.key_indexed("cable_temp_c_", i + 1);
                push_float(f.out, *t);
            }
            f.opt_float("current_a", v.current_a);
            f.opt_float("voltage_v", v.voltage_v);
            f.opt_bool("arc_fault", v.arc_fault);
        }
        Values::ForestIr(v) => {
            f.float("max_temp_c", v.max_temp_c);
            f.key("hotspot_px");
            push_int(f.out, i64::from(v.hotspot_px));
            f.out.push('i');
            f.opt_float("smoke_score", v.smoke_score);
            f.opt_float("lat", v.lat);
            f.opt_float("lon", v.lon);
            f.opt_float("ambient_c", v.ambient_c);
        }
    }
    if let Some(seq) = reading.seq {
        f.key("seq");
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
        let _ = write!(self.out, "{i}=");
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

/// Appends a finite float in its shortest round-trip form (the decoder only lets finite values in).
pub fn push_float(out: &mut String, v: f64) {
    let mut buf = ryu::Buffer::new();
    out.push_str(buf.format_finite(v));
}

/// Appends a decimal integer.
pub fn push_int(out: &mut String, v: i64) {
    let mut buf = itoa::Buffer::new();
    out.push_str(buf.format(v));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::{ElectricalValues, ForestIrValues, SmokeValues, Status};

    type Escaper = fn(&mut String, &str);

    fn esc(f: Escaper, s: &str) -> String {
        let mut out = String::new();
        f(&mut out, s);
        out
    }

    #[test]
    fn escaping_follows_line_protocol_rules_for_every_special_character() {
        let cases: &[(Escaper, &str, &str)] = &[
            (escape_measurement, "smoke", "smoke"),
            (escape_measurement, "a b,c=d", "a\\ b\\,c=d"),
            (escape_tag, "a b,c=d", "a\\ b\\,c\\=d"),
            (escape_tag, "渝北区双龙湖街道", "渝北区双龙湖街道"),
            (escape_tag, "3栋 2单元,502室", "3栋\\ 2单元\\,502室"),
            (escape_tag, "back\\slash", "back\\\\slash"),
            (escape_tag, "line\nbreak", "line\\ break"),
            (escape_tag, "\"quoted\"", "\"quoted\""),
            (quote_field, "say \"hi\"", "\"say \\\"hi\\\"\""),
            (quote_field, "a\\b", "\"a\\\\b\""),
            (quote_field, "两只烟感报警, 疑似火灾", "\"两只烟感报警, 疑似火灾\""),
            (quote_field, "x\ny", "\"x\\ny\""),
        ];
        for (f, input, want) in cases {
            assert_eq!(esc(*f, input), *want, "{input:?}");
        }
    }

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

    #[test]
    fn a_device_prefix_escapes_chinese_and_special_characters_and_skips_empty_tags() {
        let p = device_prefix(Kind::Smoke, "sd-1", "500112", "500112002", "500112002003", "", "small_venue");
        assert_eq!(
            p,
            "smoke,device_id=sd-1,county=500112,township=500112002,community=500112002003,site_type=small_venue"
        );
        let p = device_prefix(Kind::Smoke, "d", "1", "2", "3", "网格 1,东=西", "x");
        assert!(p.contains(",grid_id=网格\\ 1\\,东\\=西,"));
    }
}
