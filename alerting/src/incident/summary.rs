//! An incident's `summary`: the one line a dispatcher reads in the list — class and severity,
//! what alarmed, where, and whether it awaits a person's check. Pure.

use super::model::Incident;

/// One line: class and severity, what alarmed, where.
pub(crate) fn summary(inc: &Incident) -> String {
    let place = if !inc.address.is_empty() {
        inc.address.as_str()
    } else if !inc.community.is_empty() {
        inc.community.as_str()
    } else {
        inc.township.as_str()
    };
    let devices = if inc.alarm_devices.is_empty() { &inc.devices } else { &inc.alarm_devices };
    let mut s = format!(
        "{} {}: {} from {} at {}",
        inc.class,
        inc.severity,
        if inc.signals.is_empty() { "alarm".to_owned() } else { inc.signal_names() },
        devices.join(", "),
        place
    );
    if inc.vulnerable {
        s.push_str(" (vulnerable household)");
    }
    if let Some(c) = &inc.confirmed {
        s.push_str("; confirmed: ");
        s.push_str(c);
    }
    if let Some(v) = inc.verification {
        s.push_str("; unverified (");
        s.push_str(v.as_str());
        s.push_str("): a person must check it before it is handled as a fire");
    }
    s
}
