//! [`Scope`]: which incidents a partition leader owns — those of its counties. Every partition
//! shares one PostgreSQL store, so a leader's warm start, escalation timers and outbox delivery
//! must take only its own incidents, or two partitions' leaders would both escalate and send
//! each other's. An incident's county is the second field of its id (`INC-{county}-…`).

use std::sync::Arc;

/// The counties a leader owns; `all` outside partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// `None`: every county (one instance, no partition).
    counties: Option<Arc<[String]>>,
}

impl Scope {
    /// Every county.
    pub fn all() -> Scope {
        Scope { counties: None }
    }

    /// Only these counties.
    pub fn counties(counties: &[String]) -> Scope {
        Scope { counties: Some(counties.into()) }
    }

    /// Whether an incident of `county` is this scope's.
    pub fn owns_county(&self, county: &str) -> bool {
        self.counties.as_ref().is_none_or(|c| c.iter().any(|x| x == county))
    }

    /// Whether the incident with this id is this scope's (an id not of the form
    /// `INC-{county}-…` is not, within a partition).
    pub fn owns_incident(&self, id: &str) -> bool {
        if self.counties.is_none() {
            return true;
        }
        Scope::county_of(id).is_some_and(|c| self.owns_county(c))
    }

    /// Nothing: a standby, which applies no action itself.
    pub fn nothing() -> Scope {
        Scope { counties: Some(Arc::from(Vec::<String>::new())) }
    }

    /// The county of incident id `INC-{county}-…`.
    pub fn county_of(id: &str) -> Option<&str> {
        id.strip_prefix("INC-").and_then(|rest| rest.split('-').next()).filter(|c| !c.is_empty())
    }

    /// The counties, `None` for every county.
    pub fn county_list(&self) -> Option<&[String]> {
        self.counties.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_owns_the_incidents_of_its_counties_only_and_no_partition_owns_all() {
        let east = Scope::counties(&["500112".to_owned(), "500113".to_owned()]);
        assert!(east.owns_incident("INC-500112-20261201-0001"));
        assert!(east.owns_incident("INC-500113-20261201-0042"));
        assert!(!east.owns_incident("INC-500101-20261201-0001"));
        assert!(!east.owns_incident("garbage"));
        assert!(east.owns_county("500112") && !east.owns_county("500101"));
        assert!(Scope::all().owns_incident("INC-500101-20261201-0001"));
        assert!(Scope::all().owns_county("anything"));
    }
}
