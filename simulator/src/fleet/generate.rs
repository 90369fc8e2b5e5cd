//! Generating a fleet: per county a district station near the centroid, its townships on a
//! sunflower spiral (streets close in, towns and 乡 further out), each township placed by
//! [`super::township`], and forest teams over groups of forested townships. Device ids count up
//! per kind across the whole fleet, so the same spec gives the same fleet byte for byte.

use firegrid_ingest::{Device, Kind, Registry, RegistryPaths, SiteType, Station, Tier};

use crate::error::SimError;
use crate::fleet::divisions::{Community, County, Divisions, Township};
use crate::fleet::model::Fleet;
use crate::fleet::place::{offset, round6, spiral};
use crate::fleet::spec::FleetSpec;
use crate::rng::SimRng;

/// The fleet of `registry` when given (seeded with `spec.seed` for its readings), else the one
/// `spec` generates.
pub fn load_fleet(spec: &FleetSpec, registry: Option<&RegistryPaths>) -> Result<Fleet, SimError> {
    match registry {
        Some(paths) => Ok(Fleet::from_registry(&Registry::load(paths)?, spec.seed)),
        None => generate_registry(spec),
    }
}

/// Generates the fleet of `spec` from the embedded divisions data.
pub fn generate_registry(spec: &FleetSpec) -> Result<Fleet, SimError> {
    let divisions = Divisions::embedded()?;
    generate_from(&divisions, spec)
}

/// Generates the fleet of `spec` from given divisions.
pub(crate) fn generate_from(divisions: &Divisions, spec: &FleetSpec) -> Result<Fleet, SimError> {
    spec.validate()?;
    let mut b = Builder { spec, fleet: Fleet { seed: spec.seed, ..Fleet::default() }, counters: [0; 3] };
    let mut seen = Vec::new();
    for name in &spec.counties {
        let county = divisions.county(name).ok_or_else(|| SimError::UnknownCounty(name.clone()))?;
        if !seen.contains(&county.code) {
            seen.push(county.code.clone());
            b.county(county);
        }
    }
    Ok(b.fleet)
}

/// The fleet being generated, with the per-kind device counters that number the devices.
pub(super) struct Builder<'s> {
    pub(super) spec: &'s FleetSpec,
    pub(super) fleet: Fleet,
    /// Per-kind device counters (smoke, electrical, forest_ir).
    counters: [u32; 3],
}

/// A device group being placed (a home, a venue, a site, a camera post): its shared location
/// and identity.
pub(super) struct Group<'a> {
    pub(super) county: &'a County,
    pub(super) township: &'a Township,
    pub(super) community: &'a Community,
    pub(super) grid_id: String,
    pub(super) household_id: String,
    pub(super) address: String,
    pub(super) at: (f64, f64),
    pub(super) site_type: SiteType,
    pub(super) vulnerable: bool,
}

/// A station of a county, township or community, before its position is rounded.
pub(super) struct StationAt<'a> {
    pub(super) station_id: String,
    pub(super) name: String,
    pub(super) tier: Tier,
    pub(super) county: &'a County,
    pub(super) township: Option<&'a Township>,
    pub(super) community: Option<&'a Community>,
    pub(super) at: (f64, f64),
    pub(super) covers: Vec<String>,
}

impl Builder<'_> {
    fn county(&mut self, county: &County) {
        let mut rng = SimRng::derive(self.spec.seed, &county.code);
        let centre = (county.lat, county.lon);
        let (urban, rural): (Vec<&Township>, Vec<&Township>) = county.townships.iter().partition(|t| t.urban);
        let r_urban = 1.2 * (urban.len() as f64).sqrt();
        let r_rural = r_urban + 3.0 + 4.0 * (rural.len() as f64).sqrt();
        let district_at = offset(centre.0, centre.1, rng.range(0.2, 1.0), rng.range(0.0, std::f64::consts::TAU));
        self.station(StationAt {
            station_id: format!("ds-{}", county.code),
            name: format!("{}消防救援站", county.name),
            tier: Tier::District,
            county,
            township: None,
            community: None,
            at: district_at,
            covers: Vec::new(),
        });
        let mut placed: Vec<(&Township, (f64, f64))> = Vec::new();
        for (i, t) in urban.iter().enumerate() {
            placed.push((t, spiral(&mut rng, centre, (i, urban.len()), 0.3..r_urban)));
        }
        for (i, t) in rural.iter().enumerate() {
            placed.push((t, spiral(&mut rng, centre, (i, rural.len()), r_urban + 3.0..r_rural)));
        }
        placed.sort_by(|a, b| a.0.code.cmp(&b.0.code));
        let mut forested: Vec<(&Township, (f64, f64))> = Vec::new();
        for (t, at) in placed {
            if self.township(county, t, at) {
                forested.push((t, at));
            }
        }
        self.forest_teams(county, &forested);
    }

    /// One forest team per `townships_per_forest_team` forested townships, at the first of them.
    fn forest_teams(&mut self, county: &County, forested: &[(&Township, (f64, f64))]) {
        for (n, chunk) in forested.chunks(self.spec.townships_per_forest_team).enumerate() {
            let Some(&(first, at)) = chunk.first() else { continue };
            self.station(StationAt {
                station_id: format!("ft-{}-{:02}", county.code, n + 1),
                name: format!("{}森林消防第{}队", county.name, n + 1),
                tier: Tier::ForestTeam,
                county,
                township: Some(first),
                community: None,
                at,
                covers: chunk.iter().map(|(t, _)| t.code.clone()).collect(),
            });
        }
    }

    /// Adds `count` devices of `kind` to a group, numbered on from the kind's counter.
    pub(super) fn devices(&mut self, g: &Group<'_>, kind: Kind, count: u64) {
        let (slot, prefix) = match kind {
            Kind::Smoke => (0, "sd"),
            Kind::Electrical => (1, "em"),
            Kind::ForestIr => (2, "ir"),
        };
        for _ in 0..count {
            self.counters[slot] += 1;
            self.fleet.devices.push(Device {
                device_id: format!("{prefix}-{:06}", self.counters[slot]),
                kind,
                county: g.county.code.clone(),
                township: g.township.code.clone(),
                community: g.community.code.clone(),
                grid_id: g.grid_id.clone(),
                household_id: g.household_id.clone(),
                address: g.address.clone(),
                lat: Some(round6(g.at.0)),
                lon: Some(round6(g.at.1)),
                site_type: g.site_type,
                vulnerable: g.vulnerable,
            });
        }
    }

    /// Adds a station, available, at its position rounded to the registry's precision.
    pub(super) fn station(&mut self, s: StationAt<'_>) {
        self.fleet.stations.push(Station {
            station_id: s.station_id,
            name: s.name,
            tier: s.tier,
            county: s.county.code.clone(),
            township: s.township.map(|t| t.code.clone()).unwrap_or_default(),
            community: s.community.map(|c| c.code.clone()).unwrap_or_default(),
            lat: round6(s.at.0),
            lon: round6(s.at.1),
            covers: s.covers,
            available: true,
            webhook_url: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SimError;
    use crate::fleet::divisions::Divisions;
    use firegrid_ingest::geo::distance_m;
    use firegrid_ingest::{Kind, SiteType, Tier};
    use std::collections::{HashMap, HashSet};

    fn fleet() -> Fleet {
        generate_registry(&FleetSpec::default()).expect("generates")
    }

    #[test]
    fn the_same_seed_gives_the_same_fleet_and_another_seed_a_different_one() {
        let a = fleet();
        assert_eq!(a, fleet());
        let b = generate_registry(&FleetSpec { seed: 7, ..FleetSpec::default() }).expect("generates");
        assert_ne!(a.devices, b.devices);
    }

    #[test]
    fn the_default_fleet_is_a_demo_sized_mix_of_every_kind() {
        let f = fleet();
        let n = f.devices.len();
        assert!((2_000..8_000).contains(&n), "{n} devices");
        assert!(f.count(Kind::Smoke) > f.count(Kind::Electrical));
        assert!(f.count(Kind::Electrical) > f.count(Kind::ForestIr));
        assert!(f.count(Kind::ForestIr) >= 10);
        let ids: HashSet<_> = f.devices.iter().map(|d| &d.device_id).collect();
        assert_eq!(ids.len(), n, "device ids are unique");
        for site in [SiteType::ElderlyCare, SiteType::School, SiteType::Hospital, SiteType::AncientTown] {
            assert!(f.devices.iter().any(|d| d.site_type == site), "{site:?}");
        }
    }

    #[test]
    fn shares_are_realistic() {
        let f = fleet();
        let mut homes: HashMap<&str, (usize, bool)> = HashMap::new();
        for d in f.devices.iter().filter(|d| d.site_type == SiteType::Residential) {
            let e = homes.entry(&d.household_id).or_insert((0, d.vulnerable));
            e.0 += 1;
        }
        assert!(homes.values().all(|&(n, _)| (1..=3).contains(&n)));
        let vulnerable = homes.values().filter(|(_, v)| *v).count() as f64 / homes.len() as f64;
        assert!((0.04..=0.09).contains(&vulnerable), "vulnerable share {vulnerable}");
        let communities: HashSet<_> = f.grids.iter().map(|g| &g.community).collect();
        let micro = f.stations.iter().filter(|s| s.tier == Tier::Micro).count() as f64 / communities.len() as f64;
        assert!((0.8..0.9).contains(&micro), "micro share {micro}");
        assert!(micro < 1.0, "not every community has a micro station");
    }

    #[test]
    fn every_township_county_and_forest_is_covered() {
        let f = fleet();
        let townships: HashSet<_> = f.devices.iter().map(|d| d.township.as_str()).collect();
        let teams: HashSet<_> =
            f.stations.iter().filter(|s| s.tier == Tier::TownshipTeam).map(|s| s.township.as_str()).collect();
        assert!(townships.is_subset(&teams));
        let districts = f.stations.iter().filter(|s| s.tier == Tier::District).count();
        assert_eq!(districts, 3);
        let covered: HashSet<_> =
            f.stations.iter().filter(|s| s.tier == Tier::ForestTeam).flat_map(|s| s.covers.iter()).collect();
        for d in f.devices.iter().filter(|d| d.kind == Kind::ForestIr) {
            assert!(covered.contains(&d.township), "{} has no forest team", d.township);
        }
        let grids: HashSet<_> = f.grids.iter().map(|g| g.grid_id.as_str()).collect();
        assert!(f.devices.iter().all(|d| grids.contains(d.grid_id.as_str())));
    }

    #[test]
    fn devices_lie_near_their_county_and_urban_ones_closer_in() {
        let d = Divisions::embedded().expect("divisions");
        let f = fleet();
        let mut urban = (0.0, 0usize);
        let mut rural = (0.0, 0usize);
        for dev in &f.devices {
            let c = d.county(&dev.county).expect("county");
            let at = dev.lat.zip(dev.lon).expect("a generated device has coordinates");
            let km = distance_m(at.0, at.1, c.lat, c.lon) / 1000.0;
            assert!(km < 60.0, "{} is {km} km out", dev.device_id);
            let t = c.townships.iter().find(|t| t.code == dev.township).expect("township");
            let acc = if t.urban { &mut urban } else { &mut rural };
            acc.0 += km;
            acc.1 += 1;
        }
        assert!(urban.0 / urban.1 as f64 * 2.0 < rural.0 / rural.1 as f64);
    }

    #[test]
    fn unknown_counties_and_bad_shares_are_refused() {
        let err = generate_registry(&FleetSpec { counties: vec!["500999".into()], ..FleetSpec::default() });
        assert!(matches!(err, Err(SimError::UnknownCounty(c)) if c == "500999"));
        let err = generate_registry(&FleetSpec { micro_station_share: 1.5, ..FleetSpec::default() });
        assert!(matches!(err, Err(SimError::InvalidSpec(_))));
        let by_name = generate_registry(&FleetSpec { counties: vec!["渝中区".into()], ..FleetSpec::default() });
        assert!(by_name.expect("by name").devices.iter().all(|d| d.county == "500103"));
    }
}
