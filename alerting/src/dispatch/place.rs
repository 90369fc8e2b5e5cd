//! Where an incident is, for routing: its county, township and community codes and a point — the
//! incident's own coordinates, else the centroid of the stations of its township (an unregistered
//! device is known by its topic's county and township only), else none (covering alone decides).

use firegrid_ingest::Registry;

use crate::incident::Incident;

/// Where an incident is, for routing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Place {
    pub(crate) county: String,
    pub(crate) township: String,
    /// Community code (may be empty).
    pub(crate) community: String,
    /// WGS-84 `(lat, lon)`: the incident's, else its township stations' centroid.
    pub(crate) point: Option<(f64, f64)>,
}

impl Place {
    /// The place of an incident in a registry.
    pub(crate) fn of(incident: &Incident, reg: &Registry) -> Place {
        let point = match (incident.lat, incident.lon) {
            (Some(lat), Some(lon)) => Some((lat, lon)),
            _ => township_centroid(reg, &incident.township),
        };
        Place {
            county: incident.county.clone(),
            township: incident.township.clone(),
            community: incident.community.clone(),
            point,
        }
    }

    /// How specifically a station's `covers` list names this place: 3 its community, 2 its
    /// township, 1 its county, 0 not at all.
    pub(crate) fn specificity(&self, covers: &[String]) -> u8 {
        let has = |code: &str| !code.is_empty() && covers.iter().any(|c| c == code);
        if has(&self.community) {
            3
        } else if has(&self.township) {
            2
        } else if has(&self.county) {
            1
        } else {
            0
        }
    }
}

/// Centroid of the stations located in a township (any tier), if it has any.
fn township_centroid(reg: &Registry, township: &str) -> Option<(f64, f64)> {
    let pts: Vec<(f64, f64)> = reg
        .stations()
        .iter()
        .filter(|s| !township.is_empty() && s.township == township)
        .map(|s| (s.lat, s.lon))
        .collect();
    if pts.is_empty() {
        return None;
    }
    let n = pts.len() as f64;
    Some((pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n))
}
