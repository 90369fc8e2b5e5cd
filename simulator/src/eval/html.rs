//! The evaluation report as one self-contained HTML page (`firegrid eval --html FILE`): the
//! figures of the table, a histogram of the time to dispatch, the recall per scenario kind and
//! the per-event outcomes. The charts are inline SVG drawn here (`svg`); the page loads nothing —
//! no script, stylesheet, font or image from anywhere — so it can be mailed or archived as is.
//! Pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::report::{EvalReport, Outcome, Percentiles};
use super::svg::{escape, histogram, shares};
use crate::scenario::truth::{ExpectedClass, Severity};

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:60em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}.chart{width:100%;max-width:640px;font-size:11px}.bar{fill:#c0392b}\
.track{fill:#eee}.axis{stroke:#555}.mark{stroke:#2c3e50;fill:#2c3e50;stroke-dasharray:3 2}\
td.bad{color:#c0392b;font-weight:bold}";

/// The report as an HTML page.
pub fn render_html(r: &EvalReport) -> String {
    let mut s = String::with_capacity(16 * 1024);
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>firegrid eval</title>\
         <style>{STYLE}</style></head><body>\n<h1>firegrid evaluation</h1>\n"
    );
    headline(&mut s, r);
    s.push_str("<h2>Time to dispatch (event start → first dispatch message, fires)</h2>\n");
    let samples: Vec<i64> = r.events.iter().filter_map(|e| e.dispatch_after_start_ms).collect();
    s.push_str(&histogram(&samples, &marks(&r.time_to_dispatch_from_start_ms)));
    s.push_str(
        "\n<h2>Recall per scenario kind</h2>\n<p>Fires and hazards: detected with the expected class. \
                Nuisances: not dispatched as a fire.</p>\n",
    );
    s.push_str(&shares(&per_scenario(r)));
    events(&mut s, r);
    s.push_str("\n</body></html>\n");
    s
}

fn marks(p: &Percentiles) -> Vec<(&'static str, i64)> {
    [("p50", p.p50), ("p95", p.p95), ("p99", p.p99)].into_iter().filter_map(|(l, v)| Some((l, v?))).collect()
}

fn headline(s: &mut String, r: &EvalReport) {
    let rows = [
        ("fire recall", r.fire_recall.show()),
        ("hazard recall", r.hazard_recall.show()),
        ("nuisance dispatch rate", r.nuisance_dispatch_rate.show()),
        ("malformed input opening incidents", r.malformed_opened.show()),
        ("severity agreement", r.severity_agreement.show()),
        ("routing accuracy", r.routing_accuracy.show()),
        ("routing checked from", r.routing_source.as_str().to_owned()),
        ("routing rounds checked", r.routing_rounds_checked.to_string()),
        ("escalation rounds", r.escalation_rounds.to_string()),
        ("time to dispatch (from start)", r.time_to_dispatch_from_start_ms.show()),
        ("time to dispatch (from 1st alarm)", r.time_to_dispatch_from_alarm_ms.show()),
        ("dispatch messages seen", r.dispatch_messages.to_string()),
        ("fire incidents matching no event", r.unmatched_fire_incidents.len().to_string()),
        ("routing mismatches", r.routing_mismatches.len().to_string()),
    ];
    s.push_str("<table><tr><th>metric</th><th>value</th></tr>\n");
    for (name, value) in rows {
        let _ = writeln!(s, "<tr><td>{name}</td><td>{}</td></tr>", escape(&value));
    }
    s.push_str("</table>\n");
}

/// `(scenario, handled as expected, events)` per scenario kind, by name.
pub(crate) fn per_scenario(r: &EvalReport) -> Vec<(String, usize, usize)> {
    let mut by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in &r.events {
        let good = match e.expected_class {
            ExpectedClass::None => e.outcome != Outcome::DispatchedAsFire,
            _ => e.outcome == Outcome::Detected,
        };
        let t = by.entry(e.scenario.as_str()).or_default();
        t.0 += usize::from(good);
        t.1 += 1;
    }
    by.into_iter().map(|(k, (good, n))| (k.to_owned(), good, n)).collect()
}

fn events(s: &mut String, r: &EvalReport) {
    s.push_str(
        "\n<h2>Events</h2>\n<table><tr><th>event</th><th>scenario</th><th>expected</th><th>severity</th>\
         <th>got</th><th>severity</th><th>outcome</th><th>dispatch after start</th></tr>\n",
    );
    for e in &r.events {
        let bad = matches!(e.outcome, Outcome::Missed | Outcome::WrongClass | Outcome::DispatchedAsFire);
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td><td>{}</td></tr>",
            escape(&e.id),
            escape(&e.scenario),
            e.expected_class.as_str(),
            e.expected_severity.map_or("-", Severity::as_str),
            e.class.map_or("-", ExpectedClass::as_str),
            e.severity.map_or("-", Severity::as_str),
            if bad { " class=\"bad\"" } else { "" },
            e.outcome.as_str(),
            e.dispatch_after_start_ms.map_or("-".to_owned(), |ms| format!("{:.3} s", ms as f64 / 1000.0)),
        );
    }
    s.push_str("</table>\n");
    for m in &r.routing_mismatches {
        let _ = writeln!(
            s,
            "<p>routing: {} round {} ({}): policy {}, sent {}</p>",
            escape(&m.incident_id),
            m.seq,
            m.severity.as_str(),
            escape(&m.expected.join(", ")),
            escape(&m.sent.join(", "))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::report::{EventOutcome, Ratio, RoutingSource};

    fn event(id: &str, scenario: &str, expected: ExpectedClass, outcome: Outcome, after: Option<i64>) -> EventOutcome {
        EventOutcome {
            id: id.into(),
            scenario: scenario.into(),
            expected_class: expected,
            expected_severity: None,
            incidents: vec![],
            class: None,
            severity: None,
            outcome,
            dispatch_after_start_ms: after,
            dispatch_after_alarm_ms: after,
        }
    }

    fn report() -> EvalReport {
        let events = vec![
            event("ev-1", "kitchen_fire", ExpectedClass::Fire, Outcome::Detected, Some(12_345)),
            event("ev-2", "kitchen_fire", ExpectedClass::Fire, Outcome::Missed, None),
            event("ev-3", "cooking_<smoke>", ExpectedClass::None, Outcome::Quiet, None),
        ];
        EvalReport {
            fire_recall: Ratio::of(1, 2),
            hazard_recall: Ratio::of(0, 0),
            nuisance_dispatch_rate: Ratio::of(0, 1),
            malformed_opened: Ratio::of(0, 0),
            severity_agreement: Ratio::of(1, 1),
            routing_accuracy: Ratio::of(1, 1),
            routing_source: RoutingSource::DispatchMessages,
            time_to_dispatch_from_start_ms: Percentiles::of(&[12_345]),
            time_to_dispatch_from_alarm_ms: Percentiles::of(&[12_345]),
            unmatched_fire_incidents: vec![],
            routing_mismatches: vec![],
            routing_errors: vec![],
            routing_rounds_checked: 3,
            escalation_rounds: 0,
            dispatch_messages: 7,
            events,
        }
    }

    #[test]
    fn the_page_shows_the_figures_and_a_chart_of_each_kind() {
        let r = report();
        let page = render_html(&r);
        for figure in [r.fire_recall.show(), r.time_to_dispatch_from_start_ms.show(), "12.345 s".into()] {
            assert!(page.contains(&escape(&figure)), "{figure} missing");
        }
        assert!(page.contains("<td>dispatch messages seen</td><td>7</td>"));
        assert!(page.contains("50.0 % (1/2)"), "kitchen_fire recall bar");
        assert!(page.contains("cooking_&lt;smoke&gt;"), "names are escaped");
        assert_eq!(page.matches("<svg").count(), 2);
        assert_eq!(per_scenario(&r), vec![("cooking_<smoke>".into(), 1, 1), ("kitchen_fire".into(), 1, 2)]);
    }

    #[test]
    fn the_page_fetches_nothing() {
        let page = render_html(&report());
        for needle in ["http:", "https:", "src=", "href=", "@import", "url(", "<script", "<link"] {
            assert!(!page.contains(needle), "the page contains {needle}");
        }
    }
}
