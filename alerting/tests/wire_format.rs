//! The JSON firegrid writes — dispatch messages (their outbox rows), incident documents, evidence
//! and the escalation state — byte for byte as before the layout of issue 12 moved and typed the
//! code that makes it (`wire_format/before_the_layout.txt` was printed by the code before it).

mod dispatch_fixture;

use dispatch_fixture::{registry, wuxinglu_fire};
use firegrid_alerting::detect::{Hazard, Signal};
use firegrid_alerting::dispatch::{Availability, DispatchPlanner, DispatchSettings};
use firegrid_alerting::engine::{DispatchPlan, Dispatcher};
use firegrid_alerting::incident::{
    Class, Event, Evidence, EvidenceStatus, IncidentSignal, OutboxEntry, Severity, Verification,
};
use firegrid_ingest::{Kind, SiteType, Status};

fn rows(plan: &DispatchPlan, out: &mut Vec<String>) {
    for o in &plan.outbox {
        let OutboxEntry { idempotency_key, recipient, role, channel, payload, .. } = o;
        out.push(format!("ROW {idempotency_key} {} {role} {channel}", recipient.target()));
        out.push(format!("PAYLOAD {payload}"));
    }
}

#[test]
fn messages_incidents_evidence_and_state_are_written_as_before_the_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = DispatchPlanner::new(registry(dir.path()), Availability::default(), DispatchSettings::default());
    let mut inc = wuxinglu_fire();
    inc.severity = Severity::Critical;
    inc.vulnerable = true;
    inc.site_type = Some(SiteType::School);
    inc.signals = vec![IncidentSignal::Alarm(Signal::Smoke), IncidentSignal::Alarm(Signal::Heat)];
    let ev = Evidence {
        incident_id: inc.id.clone(),
        device_id: "sd-1".into(),
        kind: Kind::Smoke,
        ts_ms: 1_795_935_417_000,
        received_at_ms: 1_795_935_417_250,
        seq: Some(7),
        status: EvidenceStatus::Reported(Status::Alarm),
        reason: "detector alarm".into(),
        values: serde_json::json!({"obscuration_db_m": 0.4, "alarm": true}),
    };
    d.observe(&ev);
    let t = 1_795_935_418_000;
    let mut out = Vec::new();
    let plan = d.plan(&inc.audit(Event::Opened, None, "engine", "", t), &inc, t);
    rows(&plan, &mut out);
    out.push(format!("STATE {}", plan.state.expect("state")));
    out.push(format!("INCIDENT {}", serde_json::to_string(&inc).expect("json")));
    out.push(format!("EVIDENCE {}", serde_json::to_string(&ev).expect("json")));
    let mut hz = wuxinglu_fire();
    hz.class = Class::Hazard;
    hz.site_type = None;
    hz.signals = vec![IncidentSignal::Hazard(Hazard::BatteryLow), IncidentSignal::Hazard(Hazard::Offline)];
    hz.verification = Some(Verification::LateAlarm);
    let off =
        Evidence { status: EvidenceStatus::Offline, kind: Kind::Electrical, values: serde_json::Value::Null, ..ev };
    let plan = d.plan(&hz.audit(Event::Opened, None, "engine", "", t), &hz, t);
    rows(&plan, &mut out);
    out.push(format!("INCIDENT {}", serde_json::to_string(&hz).expect("json")));
    out.push(format!("EVIDENCE {}", serde_json::to_string(&off).expect("json")));
    let before = include_str!("wire_format/before_the_layout.txt");
    let want: Vec<&str> = before.lines().collect();
    assert_eq!(out.len(), want.len(), "{out:#?}");
    for (got, want) in out.iter().zip(want) {
        assert_eq!(got, want);
    }
    let back: Vec<IncidentSignal> = serde_json::from_str(r#"["battery_low","offline","smoke"]"#).expect("names");
    assert_eq!(back[2], IncidentSignal::Alarm(Signal::Smoke), "names read back to the same values");
}
