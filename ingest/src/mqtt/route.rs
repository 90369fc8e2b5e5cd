//! Which queue a message goes to: the reading queue, or the queue of a control route (the
//! dispatch stage's acknowledgements and station status) whose filters match its topic.

use tokio::sync::mpsc;

use super::message::Message;

/// A second route for topics that are not readings (the dispatch stage's acknowledgements and
/// station status): messages matching `filters` go to `tx` instead of the reading queue. The
/// filters are subscribed with the reading filters on every connection.
#[derive(Debug, Clone)]
pub struct ControlRoute {
    /// MQTT subscription filters (`+` and `#` wildcards).
    pub filters: Vec<String>,
    /// The queue of their messages.
    pub tx: mpsc::Sender<Message>,
}

/// Whether an MQTT topic matches a subscription filter (`+` one level, `#` the rest).
pub(crate) fn filter_matches(filter: &str, topic: &str) -> bool {
    let mut t = topic.split('/');
    for f in filter.split('/') {
        match (f, t.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(level)) if f == level => {}
            _ => return false,
        }
    }
    t.next().is_none()
}

impl ControlRoute {
    /// True when `topic` (bytes, as received) matches one of the route's filters.
    pub(crate) fn matches(&self, topic: &[u8]) -> bool {
        std::str::from_utf8(topic).is_ok_and(|t| self.filters.iter().any(|f| filter_matches(f, t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_filters_match_topics_level_by_level() {
        assert!(filter_matches("firegrid/v1/ack/+", "firegrid/v1/ack/ms-1"));
        assert!(!filter_matches("firegrid/v1/ack/+", "firegrid/v1/ack/grid/g-1"));
        assert!(filter_matches("firegrid/v1/ack/grid/+", "firegrid/v1/ack/grid/g-1"));
        assert!(!filter_matches("firegrid/v1/+/+/+/+", "firegrid/v1/ack/ms-1"));
        assert!(filter_matches("firegrid/#", "firegrid/v1/status/ms-1"));
        assert!(!filter_matches("firegrid/v1/status/+", "firegrid/v1/status"));
    }
}
