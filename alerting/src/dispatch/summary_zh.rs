//! `summary_zh`: the one Chinese sentence of a dispatch message that a dispatcher reads aloud
//! (DESIGN §6), e.g. 「11月29日 14:56 渝北区双龙湖街道五星路社区 3 栋 2 单元 502 室 两只烟感报警，疑似火灾（特殊群体户）」.
//! Time in Asia/Shanghai (UTC+8); places by name from [`Names`]. Pure.

use firegrid_ingest::{Kind, SiteType};

use super::division_names::Names;
use crate::detect::{Hazard, Signal};
use crate::incident::{local_day, Class, Incident, IncidentSignal, Severity, Verification};

/// Chinese count of devices: 一只, 两只, 三只 … (digits above ten).
fn count_zh(n: usize) -> String {
    const DIGITS: [&str; 11] = ["零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十"];
    match DIGITS.get(n) {
        Some(d) => format!("{d}只"),
        None => format!("{n} 只"),
    }
}

/// `MM月DD日 HH:MM` in Asia/Shanghai.
pub(crate) fn local_time_zh(at_ms: i64) -> String {
    let local = at_ms + 8 * 3_600_000;
    let day = local_day(at_ms);
    let (m, d) = (day.get(4..6).unwrap_or("00"), day.get(6..8).unwrap_or("00"));
    let secs = local.div_euclid(1000).rem_euclid(86_400);
    format!("{}月{}日 {:02}:{:02}", m.trim_start_matches('0'), d.trim_start_matches('0'), secs / 3600, secs / 60 % 60)
}

/// The place: county, township, then the address (prefixed by the community's name unless it
/// already starts with it).
pub(crate) fn place_zh(inc: &Incident, names: &Names) -> String {
    let mut s = String::new();
    s.push_str(names.get(&inc.county).unwrap_or(&inc.county));
    s.push_str(names.get(&inc.township).unwrap_or(&inc.township));
    let community = names.community(&inc.community);
    match (community, inc.address.is_empty()) {
        (Some(c), false) if !inc.address.starts_with(c) => {
            s.push_str(c);
            s.push(' ');
            s.push_str(&inc.address);
        }
        (_, false) => s.push_str(&inc.address),
        (Some(c), true) => s.push_str(c),
        (None, true) => {}
    }
    s
}

fn device_zh(kind: Kind) -> &'static str {
    match kind {
        Kind::Smoke => "烟感",
        Kind::Electrical => "电气火灾监控探测器",
        Kind::ForestIr => "林下红外烟火监控",
    }
}

fn hazard_zh(signal: IncidentSignal) -> &'static str {
    match signal {
        IncidentSignal::Hazard(Hazard::Fault) => "故障",
        IncidentSignal::Hazard(Hazard::Tamper) => "被拆除",
        IncidentSignal::Hazard(Hazard::BatteryLow) => "电量低",
        IncidentSignal::Hazard(Hazard::ResidualPrealarm) => "剩余电流预警",
        IncidentSignal::Hazard(Hazard::SmokePrealarm) => "疑似烟雾预警，需现场核实",
        IncidentSignal::Hazard(Hazard::Offline) => "离线",
        IncidentSignal::Alarm(_) => "异常",
    }
}

fn site_zh(site: SiteType) -> Option<&'static str> {
    Some(match site {
        SiteType::ElderlyCare => "养老机构",
        SiteType::School => "学校",
        SiteType::Hospital => "医院",
        SiteType::AncientTown => "古镇古村",
        SiteType::Rental => "群租房",
        SiteType::SmallVenue => "九小场所",
        SiteType::Factory => "厂房",
        _ => return None,
    })
}

/// The sentence for `inc`; `kind` is the sensor kind of its devices, `None` to infer it from the
/// class.
pub(crate) fn summary_zh(inc: &Incident, kind: Option<Kind>, names: &Names) -> String {
    let kind = kind.unwrap_or(match inc.class {
        Class::ElectricalFire => Kind::Electrical,
        Class::ForestFire => Kind::ForestIr,
        Class::Fire | Class::Hazard => Kind::Smoke,
    });
    let alarming = if inc.alarm_devices.is_empty() { inc.devices.len() } else { inc.alarm_devices.len() }.max(1);
    let dev = device_zh(kind);
    let confirmed = inc.severity == Severity::Critical && inc.confirmed.is_some();
    let what = match inc.class {
        Class::Fire => {
            let heat = inc.has_signal(Signal::Heat);
            let n = if alarming > 1 { count_zh(alarming) } else { String::new() };
            let alarm = if heat && inc.has_signal(Signal::Smoke) {
                format!("{n}{dev}烟温同时报警")
            } else if heat {
                format!("{n}{dev}高温报警")
            } else {
                format!("{n}{dev}报警")
            };
            format!("{alarm}，{}火灾", if confirmed { "确认" } else { "疑似" })
        }
        Class::ElectricalFire => format!("{dev}报警，{}电气火灾", if confirmed { "确认" } else { "疑似" }),
        Class::ForestFire => format!("{dev}发现火点，{}森林火灾", if confirmed { "确认" } else { "疑似" }),
        Class::Hazard => {
            let issues: Vec<&str> = inc.signals.iter().map(|s| hazard_zh(*s)).collect();
            let issues = if issues.is_empty() { "异常".to_owned() } else { issues.join("、") };
            format!("{dev}{issues}，消防隐患待整改")
        }
    };
    let what = match inc.verification {
        None => what,
        Some(Verification::UnregisteredDevice) => {
            format!("未登记{dev}报警，待核实（设备不在登记册中，请核实后确认或排除）")
        }
        Some(Verification::LateAlarm) => {
            format!("{dev}报警，待核实（迟到报警：报警时间 {}，非实时火警）", local_time_zh(inc.first_alarm_ms))
        }
    };
    let mut tags = Vec::new();
    if inc.vulnerable {
        tags.push("特殊群体户");
    }
    if let Some(site) = inc.site_type.and_then(site_zh) {
        tags.push(site);
    }
    let tags = if tags.is_empty() { String::new() } else { format!("（{}）", tags.join("，")) };
    format!("{} {} {what}{tags}", local_time_zh(inc.opened_at_ms), place_zh(inc, names))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::incident::Status;

    /// A critical fire of a vulnerable household in 渝北区 (other modules' tests use it too).
    pub(crate) fn incident() -> Incident {
        Incident {
            id: "INC-500112-20261129-0001".into(),
            class: Class::Fire,
            severity: Severity::Critical,
            status: Status::Open,
            correlation_key: "hh:h1".into(),
            county: "500112".into(),
            township: "500112002".into(),
            community: "500112002001".into(),
            grid_id: "500112002001-g1".into(),
            household_id: "h1".into(),
            address: "3 栋 2 单元 502 室".into(),
            site_type: Some(SiteType::Residential),
            vulnerable: true,
            lat: Some(29.72),
            lon: Some(106.63),
            devices: vec!["sd-1".into(), "sd-2".into()],
            alarm_devices: vec!["sd-1".into(), "sd-2".into()],
            sounding_devices: vec![],
            signals: vec![IncidentSignal::Alarm(Signal::Smoke)],
            confirmed: Some("two devices".into()),
            confirmed_by: None,
            silenced: false,
            // 2026-11-29 06:56:57 UTC = 14:56 in Chongqing.
            opened_at_ms: 1_795_935_417_000,
            updated_at_ms: 1_795_935_417_000,
            first_alarm_ms: 1_795_935_417_000,
            last_alarm_ms: 1_795_935_417_000,
            evidence_count: 2,
            notified_stations: vec![],
            notified_grids: vec![],
            summary: String::new(),
            verification: None,
        }
    }

    #[test]
    fn a_two_detector_fire_in_a_vulnerable_home_reads_like_the_design_example() {
        let s = summary_zh(&incident(), Some(Kind::Smoke), Names::embedded());
        assert_eq!(
            s,
            "11月29日 14:56 渝北区双龙湖街道五星路社区 3 栋 2 单元 502 室 两只烟感报警，确认火灾（特殊群体户）"
        );
    }

    #[test]
    fn an_incident_awaiting_verification_says_it_is_unverified_and_why() {
        let mut inc = incident();
        inc.severity = Severity::Medium;
        inc.confirmed = None;
        inc.alarm_devices = vec!["sd-1".into()];
        inc.verification = Some(Verification::LateAlarm);
        // Alarm measured two days before it arrived.
        inc.first_alarm_ms = inc.opened_at_ms - 2 * 86_400_000;
        let s = summary_zh(&inc, Some(Kind::Smoke), Names::embedded());
        assert!(s.contains("烟感报警，待核实（迟到报警：报警时间 11月27日 14:56，非实时火警）"), "{s}");
        assert!(!s.contains("火灾"), "not announced as a fire: {s}");
        inc.verification = Some(Verification::UnregisteredDevice);
        inc.address.clear();
        inc.community.clear();
        inc.vulnerable = false;
        let s = summary_zh(&inc, Some(Kind::Smoke), Names::embedded());
        assert_eq!(s, "11月29日 14:56 渝北区双龙湖街道 未登记烟感报警，待核实（设备不在登记册中，请核实后确认或排除）");
    }

    #[test]
    fn an_address_that_names_its_community_is_not_prefixed_twice_and_hazards_name_the_problem() {
        let mut inc = incident();
        inc.address = "五星路社区 8栋1单元2102室".into();
        inc.class = Class::Hazard;
        inc.signals = vec![IncidentSignal::Hazard(Hazard::BatteryLow), IncidentSignal::Hazard(Hazard::Tamper)];
        inc.vulnerable = false;
        let s = summary_zh(&inc, None, Names::embedded());
        assert!(s.ends_with("渝北区双龙湖街道五星路社区 8栋1单元2102室 烟感电量低、被拆除，消防隐患待整改"), "{s}");
    }
}
