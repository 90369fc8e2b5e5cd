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
//!
//! An incident that awaits a person's check goes out only as `verify`, never as `respond` or
//! `forward_119`: an unregistered device's alarm to the township team of its topic's township
//! (covering it, else the nearest available one within range), a late alarm to the grid manager
//! of the device's grid, else to that township team. Once someone confirms it, it is routed like
//! any other.

use std::collections::HashMap;
use std::sync::Arc;

use firegrid_ingest::geo::distance_m;
use firegrid_ingest::{Registry, Station, Tier};

use super::availability::StationStatus;
use super::place::Place;
use crate::incident::{Class, Incident, NotifyRole, Recipient, RecipientTier, Severity, Verification};

/// One routing decision: notify `recipient` (of `tier`) as `role`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// Who.
    pub recipient: Recipient,
    /// Its tier.
    pub tier: RecipientTier,
    /// As what.
    pub role: NotifyRole,
}

impl Route {
    /// A station, as `role`.
    pub(crate) fn station(s: &Station, role: NotifyRole) -> Route {
        Route { recipient: Recipient::Station(s.station_id.clone()), tier: RecipientTier::Station(s.tier), role }
    }

    /// A grid's manager, as `role`.
    pub(crate) fn grid(grid_id: &str, role: NotifyRole) -> Route {
        Route { recipient: Recipient::Grid(grid_id.to_owned()), tier: RecipientTier::Grid, role }
    }
}

/// Picks the stations of an incident: the routing inputs besides the incident — registry
/// snapshot, availability overrides, range — and the policy over them.
#[derive(Debug, Clone, Copy)]
pub struct StationPicker<'a> {
    /// The registry.
    pub registry: &'a Registry,
    /// Availability set at run time (else the registry's `available`).
    pub availability: &'a HashMap<String, StationStatus>,
    /// Range of the nearest-station fallback, km.
    pub max_distance_km: f64,
}

impl StationPicker<'_> {
    /// Whether a station takes notifications now.
    pub(crate) fn is_available(&self, s: &Station) -> bool {
        self.availability.get(&s.station_id).map_or(s.available, |st| *st == StationStatus::Available)
    }

    /// The station of `tier` for `place`: covering (most specific, then nearest), else the nearest
    /// within range; available ones only, none of `exclude`.
    pub(crate) fn pick(&self, tier: Tier, place: &Place, exclude: &[String]) -> Option<Arc<Station>> {
        let candidates = || {
            self.registry
                .stations()
                .iter()
                .filter(move |s| s.tier == tier && self.is_available(s) && !exclude.contains(&s.station_id))
        };
        let dist = |s: &Station| place.point.map_or(f64::MAX, |(lat, lon)| distance_m(lat, lon, s.lat, s.lon) / 1000.0);
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
    pub(crate) fn pick_up(&self, tier: Tier, place: &Place, exclude: &[String]) -> Option<Arc<Station>> {
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
            return self.verification_routes(incident, v);
        }
        let place = Place::of(incident, self.registry);
        let mut routes: Vec<Route> = Vec::new();
        let add_station = |routes: &mut Vec<Route>, s: Option<Arc<Station>>, role: NotifyRole| {
            if let Some(s) = s {
                let r = Route::station(&s, role);
                if !routes.contains(&r) {
                    routes.push(r);
                }
            }
        };
        let grid = (!incident.grid_id.is_empty()).then(|| incident.grid_id.clone());
        let responders = |routes: &[Route]| -> Vec<String> {
            routes
                .iter()
                .filter(|r| r.role == NotifyRole::Respond)
                .filter_map(|r| match &r.recipient {
                    Recipient::Station(id) => Some(id.clone()),
                    Recipient::Grid(_) => None,
                })
                .collect()
        };
        match incident.class {
            Class::Hazard => match grid {
                Some(g) => routes.push(Route::grid(&g, NotifyRole::Rectify)),
                None => add_station(&mut routes, self.pick_up(Tier::TownshipTeam, &place, &[]), NotifyRole::Rectify),
            },
            Class::Fire | Class::ElectricalFire => {
                add_station(&mut routes, self.pick_up(Tier::Micro, &place, &[]), NotifyRole::Respond);
                if let Some(g) = grid {
                    routes.push(Route::grid(&g, NotifyRole::Verify));
                    if incident.class == Class::ElectricalFire {
                        routes.push(Route::grid(&g, NotifyRole::Rectify));
                    }
                }
                if incident.severity == Severity::Critical {
                    let taken = responders(&routes);
                    let team = self.pick_up(Tier::TownshipTeam, &place, &[]);
                    if team.as_ref().is_none_or(|t| !taken.contains(&t.station_id)) {
                        add_station(&mut routes, team, NotifyRole::Respond);
                    }
                    add_station(&mut routes, self.pick(Tier::District, &place, &[]), NotifyRole::Forward119);
                }
            }
            Class::ForestFire => {
                add_station(&mut routes, self.pick_up(Tier::ForestTeam, &place, &[]), NotifyRole::Respond);
                let taken = responders(&routes);
                add_station(&mut routes, self.pick_up(Tier::TownshipTeam, &place, &taken), NotifyRole::Respond);
                add_station(&mut routes, self.pick(Tier::District, &place, &[]), NotifyRole::Forward119);
            }
        }
        routes
    }
}

impl StationPicker<'_> {
    /// The `verify` notifications of an incident awaiting verification `v` (see the module doc).
    fn verification_routes(&self, incident: &Incident, v: Verification) -> Vec<Route> {
        if v == Verification::LateAlarm && !incident.grid_id.is_empty() {
            return vec![Route::grid(&incident.grid_id, NotifyRole::Verify)];
        }
        let place = Place::of(incident, self.registry);
        self.pick(Tier::TownshipTeam, &place, &[]).map(|s| Route::station(&s, NotifyRole::Verify)).into_iter().collect()
    }
}

/// The tier an unanswered `respond` escalates to once its own tier has no one left.
pub(crate) fn tier_above(t: Tier) -> Option<Tier> {
    match t {
        Tier::Micro | Tier::Volunteer => Some(Tier::TownshipTeam),
        Tier::TownshipTeam | Tier::ForestTeam => Some(Tier::District),
        Tier::District => None,
    }
}
