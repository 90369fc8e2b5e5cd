//! The 城乡一体 routing policy of DESIGN §6 as pure code: an incident, a registry snapshot and
//! the stations' availability in; the recipients and their roles out.
//!
//! A station of a tier is picked by *covering* first — its `covers` lists the incident's
//! community, township or county, the most specific match winning (ties: the nearest) — and,
//! when no available station of the tier covers the place, by *distance*: the nearest available
//! station of the tier by great-circle distance across any boundary, within `max_distance_km`.
//! Unavailable stations (busy, off duty) are skipped both ways. The place is the incident's
//! coordinates, else the centroid of the stations of its township (an unregistered device is
//! known by its topic's county and township only), else covering alone decides. A district
//! station (`forward_119`, the last tier) is taken at any distance when none covers the county.
//!
//! Tier fallback: where a `respond` finds no available station of its tier this way, it goes up a
//! tier ([`tier_above`]: micro → township_team → district; volunteer → township_team;
//! forest_team → district). A route with no recipient at all — nothing available at any tier,
//! no grid manager — leaves the incident *unroutable* (the dispatch planner's business).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use firegrid_ingest::{Registry, Station, Tier};
use serde::{Deserialize, Serialize};

use crate::availability::StationStatus;
use crate::incident::{Class, Incident, Severity};

/// Why a notification goes to a recipient (DESIGN §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Go to the scene.
    Respond,
    /// Check on site (grid manager).
    Verify,
    /// Have the hazard fixed (grid manager; township team after 24 h).
    Rectify,
    /// Forward to 119 (district station).
    Forward119,
}

impl Role {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Respond => "respond",
            Role::Verify => "verify",
            Role::Rectify => "rectify",
            Role::Forward119 => "forward_119",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is notified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Recipient {
    /// A station, with its tier.
    Station {
        /// Station id.
        id: String,
        /// Its tier (`micro`, `township_team`, …).
        tier: String,
    },
    /// A grid manager (网格管理员).
    Grid {
        /// Grid id.
        id: String,
    },
}

impl Recipient {
    /// A station recipient.
    pub fn station(s: &Station) -> Recipient {
        Recipient::Station { id: s.station_id.clone(), tier: s.tier.as_str().to_owned() }
    }

    /// The outbox target: the station id, or `grid:{grid_id}`.
    pub fn target(&self) -> String {
        match self {
            Recipient::Station { id, .. } => id.clone(),
            Recipient::Grid { id } => format!("grid:{id}"),
        }
    }

    /// The tier label of metrics: the station's tier, or `grid`.
    pub fn tier(&self) -> &str {
        match self {
            Recipient::Station { tier, .. } => tier,
            Recipient::Grid { .. } => "grid",
        }
    }
}

/// One routing decision: notify `recipient` as `role`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    /// Who.
    pub recipient: Recipient,
    /// As what.
    pub role: Role,
}

/// Where an incident is, for routing.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// County code.
    pub county: String,
    /// Township code.
    pub township: String,
    /// Community code (may be empty).
    pub community: String,
    /// WGS-84 `(lat, lon)`: the incident's, else its township stations' centroid.
    pub point: Option<(f64, f64)>,
}

impl Place {
    /// The place of an incident in a registry.
    pub fn of(incident: &Incident, reg: &Registry) -> Place {
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

    fn specificity(&self, covers: &[String]) -> u8 {
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
pub fn township_centroid(reg: &Registry, township: &str) -> Option<(f64, f64)> {
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

/// Great-circle distance in kilometres (haversine, mean Earth radius 6,371 km).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// The routing inputs besides the incident: registry snapshot, availability overrides, range.
#[derive(Debug, Clone, Copy)]
pub struct Router<'a> {
    /// The registry.
    pub registry: &'a Registry,
    /// Availability set at run time (else the registry's `available`).
    pub availability: &'a HashMap<String, StationStatus>,
    /// Range of the nearest-station fallback, km.
    pub max_distance_km: f64,
}

impl Router<'_> {
    /// Whether a station takes notifications now.
    pub fn is_available(&self, s: &Station) -> bool {
        self.availability.get(&s.station_id).map_or(s.available, |st| *st == StationStatus::Available)
    }

    /// The station of `tier` for `place`: covering (most specific, then nearest), else the nearest
    /// within range; available ones only, none of `exclude`.
    pub fn pick(&self, tier: Tier, place: &Place, exclude: &[String]) -> Option<Arc<Station>> {
        let candidates = || {
            self.registry
                .stations()
                .iter()
                .filter(move |s| s.tier == tier && self.is_available(s) && !exclude.contains(&s.station_id))
        };
        let dist = |s: &Station| place.point.map_or(f64::MAX, |p| distance_km(p, (s.lat, s.lon)));
        let covering = candidates()
            .map(|s| (place.specificity(&s.covers), dist(s), s))
            .filter(|(spec, _, _)| *spec > 0)
            .min_by(|a, b| b.0.cmp(&a.0).then(a.1.total_cmp(&b.1)));
        if let Some((_, _, s)) = covering {
            return Some(s.clone());
        }
        place.point?;
        let range = if tier == Tier::District { f64::MAX } else { self.max_distance_km };
        candidates()
            .map(|s| (dist(s), s))
            .filter(|(d, _)| *d <= range)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, s)| s.clone())
    }

    /// The station for a `respond` slot of `tier`, walking up the tiers (micro → township_team →
    /// district; forest_team and volunteer → district) when the tier has none; with its tier.
    pub fn pick_up(&self, tier: Tier, place: &Place, exclude: &[String]) -> Option<Arc<Station>> {
        let mut t = Some(tier);
        while let Some(tier) = t {
            if let Some(s) = self.pick(tier, place, exclude) {
                return Some(s);
            }
            t = tier_above(tier);
        }
        None
    }

    /// The recipients of an incident's notification (the table of DESIGN §6).
    pub fn route(&self, incident: &Incident) -> Vec<Route> {
        if let Some(v) = incident.verification {
            return crate::verify_route::verification_routes(self, incident, v);
        }
        let place = Place::of(incident, self.registry);
        let mut routes: Vec<Route> = Vec::new();
        let add_station = |routes: &mut Vec<Route>, s: Option<Arc<Station>>, role: Role| {
            if let Some(s) = s {
                let r = Route { recipient: Recipient::station(&s), role };
                if !routes.contains(&r) {
                    routes.push(r);
                }
            }
        };
        let grid = (!incident.grid_id.is_empty()).then(|| Recipient::Grid { id: incident.grid_id.clone() });
        let responders = |routes: &[Route]| -> Vec<String> {
            routes
                .iter()
                .filter(|r| r.role == Role::Respond)
                .filter_map(|r| match &r.recipient {
                    Recipient::Station { id, .. } => Some(id.clone()),
                    Recipient::Grid { .. } => None,
                })
                .collect()
        };
        match incident.class {
            Class::Hazard => match grid {
                Some(g) => routes.push(Route { recipient: g, role: Role::Rectify }),
                None => add_station(&mut routes, self.pick_up(Tier::TownshipTeam, &place, &[]), Role::Rectify),
            },
            Class::Fire | Class::ElectricalFire => {
                add_station(&mut routes, self.pick_up(Tier::Micro, &place, &[]), Role::Respond);
                if let Some(g) = grid {
                    routes.push(Route { recipient: g.clone(), role: Role::Verify });
                    if incident.class == Class::ElectricalFire {
                        routes.push(Route { recipient: g, role: Role::Rectify });
                    }
                }
                if incident.severity == Severity::Critical {
                    let taken = responders(&routes);
                    let team = self.pick_up(Tier::TownshipTeam, &place, &[]);
                    if team.as_ref().is_none_or(|t| !taken.contains(&t.station_id)) {
                        add_station(&mut routes, team, Role::Respond);
                    }
                    add_station(&mut routes, self.pick(Tier::District, &place, &[]), Role::Forward119);
                }
            }
            Class::ForestFire => {
                add_station(&mut routes, self.pick_up(Tier::ForestTeam, &place, &[]), Role::Respond);
                let taken = responders(&routes);
                add_station(&mut routes, self.pick_up(Tier::TownshipTeam, &place, &taken), Role::Respond);
                add_station(&mut routes, self.pick(Tier::District, &place, &[]), Role::Forward119);
            }
        }
        routes
    }
}

/// The tier an unanswered `respond` escalates to once its own tier has no one left.
pub fn tier_above(t: Tier) -> Option<Tier> {
    match t {
        Tier::Micro | Tier::Volunteer => Some(Tier::TownshipTeam),
        Tier::TownshipTeam | Tier::ForestTeam => Some(Tier::District),
        Tier::District => None,
    }
}
