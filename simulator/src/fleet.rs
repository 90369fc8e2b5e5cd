//! Fleet generation: the devices, stations and grids of chosen Chongqing counties, derived
//! deterministically from a seed and the real divisions data. Homes with 1–3 smoke detectors,
//! electrical monitors in small venues (九小场所) and rental buildings (群租房), forest infrared
//! cameras in rural townships, vulnerable households (特殊群体), special sites, a micro station
//! in most communities, a township team per township, a district station per county, forest
//! teams over groups of forested townships and one grid manager per grid (网格).
//!
//! Coordinates: the data has county centroids only, so townships are laid on a sunflower
//! spiral around the centroid (streets close in, towns and 乡 further out), communities around
//! their township (urban ones denser) and devices around their community.

use firegrid_ingest::reading::Kind;
use firegrid_ingest::registry::{Registry, SiteType, Tier};

use crate::divisions::{Community, County, Divisions, Township};
use crate::error::SimError;
use crate::geo::{offset, round6, spiral};
use crate::names;
use crate::rng::SimRng;

/// What fleet to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSpec {
    /// Seed: the same spec gives the same fleet, byte for byte.
    pub seed: u64,
    /// Counties by 6-digit code or name.
    pub counties: Vec<String>,
    /// Households (homes) with smoke detectors per urban community (社区).
    pub households_per_urban_community: u32,
    /// Households per rural village (村).
    pub households_per_rural_community: u32,
    /// Share of communities with a micro fire station (微型消防站).
    pub micro_station_share: f64,
    /// Share of urban households that are vulnerable (elderly alone, left-behind children, disabled).
    pub vulnerable_share_urban: f64,
    /// Share of rural households that are vulnerable (higher: left-behind elderly and children).
    pub vulnerable_share_rural: f64,
    /// Forested rural townships covered by one forest team.
    pub townships_per_forest_team: usize,
}

/// The default counties: the urban core 渝中区, the mixed 渝北区 and the rural, forested 巫溪县.
pub const DEFAULT_COUNTIES: [&str; 3] = ["500103", "500112", "500238"];

/// The default seed of the sample registry in `deploy/registry/`.
pub const DEFAULT_SEED: u64 = 20_261_129;

impl Default for FleetSpec {
    fn default() -> Self {
        FleetSpec {
            seed: DEFAULT_SEED,
            counties: DEFAULT_COUNTIES.iter().map(|c| c.to_string()).collect(),
            households_per_urban_community: 3,
            households_per_rural_community: 2,
            micro_station_share: 0.85,
            vulnerable_share_urban: 0.045,
            vulnerable_share_rural: 0.08,
            townships_per_forest_team: 3,
        }
    }
}

/// A generated device: one row of `devices.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetDevice {
    /// Device id (last topic segment): `sd-000017`, `em-000003`, `ir-000002`.
    pub device_id: String,
    /// Sensor kind.
    pub kind: Kind,
    /// 6-digit county code.
    pub county: String,
    /// 9-digit township code.
    pub township: String,
    /// 12-digit community code.
    pub community: String,
    /// The grid the device belongs to.
    pub grid_id: String,
    /// Groups the devices of one home, venue, building or site.
    pub household_id: String,
    /// Address in Chinese.
    pub address: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Kind of site.
    pub site_type: SiteType,
    /// A vulnerable household (特殊群体).
    pub vulnerable: bool,
}

/// A generated responder station: one row of `stations.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetStation {
    /// Station id: `ms-{community}`, `tt-{township}`, `ds-{county}`, `ft-{county}-{n}`.
    pub station_id: String,
    /// Name in Chinese.
    pub name: String,
    /// Tier.
    pub tier: Tier,
    /// County code.
    pub county: String,
    /// Township code (empty for a district station).
    pub township: String,
    /// Community code (micro stations only).
    pub community: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Division codes covered; empty = the DESIGN §3 default.
    pub covers: Vec<String>,
    /// Available at start.
    pub available: bool,
}

/// A generated grid and its manager: one row of `grids.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetGrid {
    /// Grid id: `{community}-g{n}`.
    pub grid_id: String,
    /// Community code.
    pub community: String,
    /// Manager's name.
    pub manager: String,
    /// Manager's phone.
    pub phone: String,
}

/// A generated fleet: devices, stations, grids, in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// The seed it was generated from.
    pub seed: u64,
    /// Devices, grouped by county, township and community.
    pub devices: Vec<FleetDevice>,
    /// Stations.
    pub stations: Vec<FleetStation>,
    /// Grids.
    pub grids: Vec<FleetGrid>,
}

impl Fleet {
    /// Number of devices of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.devices.iter().filter(|d| d.kind == kind).count()
    }

    /// The fleet of a loaded registry (any registry, generated or not), devices and stations in
    /// id order and grids by id, so the same files give the same readings for a seed.
    pub fn from_registry(reg: &Registry, seed: u64) -> Fleet {
        let mut devices: Vec<FleetDevice> = reg
            .devices()
            .map(|d| FleetDevice {
                device_id: d.device_id.clone(),
                kind: d.kind,
                county: d.county.clone(),
                township: d.township.clone(),
                community: d.community.clone(),
                grid_id: d.grid_id.clone(),
                household_id: d.household_id.clone(),
                address: d.address.clone(),
                lat: d.lat.unwrap_or_default(),
                lon: d.lon.unwrap_or_default(),
                site_type: d.site_type,
                vulnerable: d.vulnerable,
            })
            .collect();
        devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        let mut stations: Vec<FleetStation> = reg
            .stations()
            .iter()
            .map(|s| FleetStation {
                station_id: s.station_id.clone(),
                name: s.name.clone(),
                tier: s.tier,
                county: s.county.clone(),
                township: s.township.clone(),
                community: s.community.clone(),
                lat: s.lat,
                lon: s.lon,
                covers: s.covers.clone(),
                available: s.available,
            })
            .collect();
        stations.sort_by(|a, b| a.station_id.cmp(&b.station_id));
        let mut grids: Vec<FleetGrid> = reg
            .grids()
            .map(|g| FleetGrid {
                grid_id: g.grid_id.clone(),
                community: g.community.clone(),
                manager: g.manager.clone(),
                phone: g.phone.clone(),
            })
            .collect();
        grids.sort_by(|a, b| a.grid_id.cmp(&b.grid_id));
        Fleet { seed, devices, stations, grids }
    }
}

/// Generates the fleet of `spec` from the embedded divisions data.
pub fn generate_registry(spec: &FleetSpec) -> Result<Fleet, SimError> {
    let divisions = Divisions::embedded()?;
    generate_from(&divisions, spec)
}

/// Generates the fleet of `spec` from given divisions.
pub fn generate_from(divisions: &Divisions, spec: &FleetSpec) -> Result<Fleet, SimError> {
    validate(spec)?;
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

impl Default for Fleet {
    fn default() -> Self {
        Fleet { seed: DEFAULT_SEED, devices: Vec::new(), stations: Vec::new(), grids: Vec::new() }
    }
}

fn validate(spec: &FleetSpec) -> Result<(), SimError> {
    let share = |v: f64, what: &str| {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(SimError::InvalidSpec(format!("{what} must be between 0 and 1, not {v}")))
        }
    };
    share(spec.micro_station_share, "micro_station_share")?;
    share(spec.vulnerable_share_urban, "vulnerable_share_urban")?;
    share(spec.vulnerable_share_rural, "vulnerable_share_rural")?;
    if spec.counties.is_empty() {
        return Err(SimError::InvalidSpec("at least one county is needed".into()));
    }
    if spec.townships_per_forest_team == 0 {
        return Err(SimError::InvalidSpec("townships_per_forest_team must be at least 1".into()));
    }
    Ok(())
}

struct Builder<'s> {
    spec: &'s FleetSpec,
    fleet: Fleet,
    /// Per-kind device counters (smoke, electrical, forest_ir).
    counters: [u32; 3],
}

/// A device group being placed: its shared location and identity.
struct Group<'a> {
    county: &'a County,
    township: &'a Township,
    community: &'a Community,
    grid_id: String,
    household_id: String,
    address: String,
    at: (f64, f64),
    site_type: SiteType,
    vulnerable: bool,
}

impl Builder<'_> {
    fn county(&mut self, county: &County) {
        let mut rng = SimRng::derive(self.spec.seed, &county.code);
        let centre = (county.lat, county.lon);
        let (urban, rural): (Vec<&Township>, Vec<&Township>) = county.townships.iter().partition(|t| t.urban);
        let r_urban = 1.2 * (urban.len() as f64).sqrt();
        let r_rural = r_urban + 3.0 + 4.0 * (rural.len() as f64).sqrt();
        let district_at = offset(centre.0, centre.1, rng.range(0.2, 1.0), rng.range(0.0, std::f64::consts::TAU));
        self.station(FleetStation {
            station_id: format!("ds-{}", county.code),
            name: format!("{}消防救援站", county.name),
            tier: Tier::District,
            county: county.code.clone(),
            township: String::new(),
            community: String::new(),
            lat: district_at.0,
            lon: district_at.1,
            covers: Vec::new(),
            available: true,
        });
        let mut forested: Vec<(&Township, (f64, f64))> = Vec::new();
        let mut placed: Vec<(&Township, (f64, f64))> = Vec::new();
        for (i, t) in urban.iter().enumerate() {
            placed.push((t, spiral(&mut rng, centre, i, urban.len(), 0.3, r_urban)));
        }
        for (i, t) in rural.iter().enumerate() {
            placed.push((t, spiral(&mut rng, centre, i, rural.len(), r_urban + 3.0, r_rural)));
        }
        placed.sort_by(|a, b| a.0.code.cmp(&b.0.code));
        for (t, at) in placed {
            if self.township(county, t, at) {
                forested.push((t, at));
            }
        }
        for (n, chunk) in forested.chunks(self.spec.townships_per_forest_team).enumerate() {
            let Some(&(first, at)) = chunk.first() else { continue };
            self.station(FleetStation {
                station_id: format!("ft-{}-{:02}", county.code, n + 1),
                name: format!("{}森林消防第{}队", county.name, n + 1),
                tier: Tier::ForestTeam,
                county: county.code.clone(),
                township: first.code.clone(),
                community: String::new(),
                lat: at.0,
                lon: at.1,
                covers: chunk.iter().map(|(t, _)| t.code.clone()).collect(),
                available: true,
            });
        }
    }

    /// Places a township and its communities; true when it got forest cameras.
    fn township(&mut self, county: &County, t: &Township, at: (f64, f64)) -> bool {
        let mut rng = SimRng::derive(self.spec.seed, &t.code);
        let team_at = offset(at.0, at.1, rng.range(0.05, 0.4), rng.range(0.0, std::f64::consts::TAU));
        self.station(FleetStation {
            station_id: format!("tt-{}", t.code),
            name: format!("{}专职消防队", t.name),
            tier: Tier::TownshipTeam,
            county: county.code.clone(),
            township: t.code.clone(),
            community: String::new(),
            lat: team_at.0,
            lon: team_at.1,
            covers: Vec::new(),
            available: true,
        });
        let n = t.communities.len();
        let r = if t.urban { 0.25 * (n as f64).sqrt() } else { 0.9 * (n as f64).sqrt() };
        let mut community_at = Vec::with_capacity(n);
        for (i, c) in t.communities.iter().enumerate() {
            let c_at = spiral(&mut rng, at, i, n, 0.1, r.max(0.3));
            community_at.push(c_at);
            self.community(county, t, c, c_at);
        }
        // Special sites, one device group each, in a community of the township.
        let sites: [(SiteType, f64); 5] = [
            (SiteType::ElderlyCare, 0.5),
            (SiteType::School, 0.4),
            (SiteType::Hospital, 0.25),
            (SiteType::AncientTown, if t.urban { 0.0 } else { 0.08 }),
            (SiteType::Factory, 0.1),
        ];
        for (site, p) in sites {
            // 宁厂古镇 (巫溪) and 龙兴古镇 (渝北) are real ancient towns.
            let famous = site == SiteType::AncientTown && matches!(t.code.as_str(), "500238102" | "500112131");
            if n == 0 || !(famous || rng.chance(p)) {
                continue;
            }
            let i = rng.below(n as u64) as usize;
            let c = &t.communities[i];
            let address = match site {
                SiteType::ElderlyCare => names::elderly_care(t, c),
                SiteType::School => names::school(&mut rng, t, c),
                SiteType::Hospital => names::hospital(t),
                SiteType::AncientTown => names::ancient_town(&mut rng, t, c),
                _ => names::factory(&mut rng, t),
            };
            let g = Group {
                county,
                township: t,
                community: c,
                grid_id: format!("{}-g1", c.code),
                household_id: format!("st-{}-{}", c.code, site.as_str()),
                address,
                at: offset(
                    community_at[i].0,
                    community_at[i].1,
                    rng.range(0.05, 0.4),
                    rng.range(0.0, std::f64::consts::TAU),
                ),
                site_type: site,
                vulnerable: false,
            };
            let smoke = rng.int(2, 4);
            self.devices(&g, Kind::Smoke, smoke);
            self.devices(&g, Kind::Electrical, rng.int(1, 2));
        }
        // Forest cameras: most rural townships of mountainous Chongqing have forest to watch.
        if t.urban || n == 0 || !rng.chance(0.6) {
            return false;
        }
        let cameras = rng.int(1, 3);
        for k in 0..cameras {
            let i = rng.below(n as u64) as usize;
            let c = &t.communities[i];
            let g = Group {
                county,
                township: t,
                community: c,
                grid_id: format!("{}-g1", c.code),
                household_id: String::new(),
                address: names::forest_post(c, k + 1),
                at: offset(
                    community_at[i].0,
                    community_at[i].1,
                    rng.range(1.0, 3.0),
                    rng.range(0.0, std::f64::consts::TAU),
                ),
                site_type: SiteType::Forest,
                vulnerable: false,
            };
            self.devices(&g, Kind::ForestIr, 1);
        }
        true
    }

    fn community(&mut self, county: &County, t: &Township, c: &Community, at: (f64, f64)) {
        let spec = self.spec;
        let mut rng = SimRng::derive(spec.seed, &c.code);
        // Grids: a village is one grid; a large urban community is split into several.
        let grids = if c.urban { rng.int(1, 3) } else { 1 };
        for g in 1..=grids {
            self.fleet.grids.push(FleetGrid {
                grid_id: format!("{}-g{g}", c.code),
                community: c.code.clone(),
                manager: names::person(&mut rng),
                phone: names::phone(&mut rng),
            });
        }
        if rng.chance(spec.micro_station_share) {
            let m_at = offset(at.0, at.1, rng.range(0.02, 0.2), rng.range(0.0, std::f64::consts::TAU));
            self.station(FleetStation {
                station_id: format!("ms-{}", c.code),
                name: format!("{}微型消防站", c.short_name()),
                tier: Tier::Micro,
                county: county.code.clone(),
                township: t.code.clone(),
                community: c.code.clone(),
                lat: m_at.0,
                lon: m_at.1,
                covers: Vec::new(),
                available: true,
            });
        }
        let spread = if c.urban { 0.25 } else { 0.8 };
        let vulnerable_share = if c.urban { spec.vulnerable_share_urban } else { spec.vulnerable_share_rural };
        let homes = if c.urban { spec.households_per_urban_community } else { spec.households_per_rural_community };
        let group = |rng: &mut SimRng, n: u64, site: SiteType, address: String, vulnerable: bool| Group {
            county,
            township: t,
            community: c,
            grid_id: format!("{}-g{}", c.code, rng.int(1, grids)),
            household_id: format!("hh-{}-{n:03}", c.code),
            address,
            at: offset(at.0, at.1, spread * rng.unit().sqrt(), rng.range(0.0, std::f64::consts::TAU)),
            site_type: site,
            vulnerable,
        };
        let mut n = 0u64;
        for _ in 0..homes {
            n += 1;
            let building = rng.int(1, if c.urban { 30 } else { 12 });
            let address = names::home(&mut rng, c, building);
            let vulnerable = rng.chance(vulnerable_share);
            let g = group(&mut rng, n, SiteType::Residential, address, vulnerable);
            // Rural homes are smaller: more often one detector.
            let roll = rng.unit();
            let detectors = if c.urban {
                if roll < 0.3 {
                    1
                } else if roll < 0.75 {
                    2
                } else {
                    3
                }
            } else if roll < 0.5 {
                1
            } else if roll < 0.85 {
                2
            } else {
                3
            };
            self.devices(&g, Kind::Smoke, detectors);
        }
        let venues = u64::from(rng.chance(if c.urban { 0.6 } else { 0.3 })) + u64::from(rng.chance(0.3));
        for _ in 0..venues {
            n += 1;
            let address = names::small_venue(&mut rng, c);
            let g = group(&mut rng, n, SiteType::SmallVenue, address, false);
            self.devices(&g, Kind::Smoke, 1);
            self.devices(&g, Kind::Electrical, 1);
        }
        if rng.chance(if c.urban { 0.35 } else { 0.05 }) {
            n += 1;
            let address = names::rental(c, rng.int(1, 30));
            let g = group(&mut rng, n, SiteType::Rental, address, false);
            self.devices(&g, Kind::Smoke, rng.int(2, 3));
            self.devices(&g, Kind::Electrical, 1);
        }
    }

    fn devices(&mut self, g: &Group<'_>, kind: Kind, count: u64) {
        let (slot, prefix) = match kind {
            Kind::Smoke => (0, "sd"),
            Kind::Electrical => (1, "em"),
            Kind::ForestIr => (2, "ir"),
        };
        for _ in 0..count {
            self.counters[slot] += 1;
            self.fleet.devices.push(FleetDevice {
                device_id: format!("{prefix}-{:06}", self.counters[slot]),
                kind,
                county: g.county.code.clone(),
                township: g.township.code.clone(),
                community: g.community.code.clone(),
                grid_id: g.grid_id.clone(),
                household_id: g.household_id.clone(),
                address: g.address.clone(),
                lat: round6(g.at.0),
                lon: round6(g.at.1),
                site_type: g.site_type,
                vulnerable: g.vulnerable,
            });
        }
    }

    fn station(&mut self, mut s: FleetStation) {
        s.lat = round6(s.lat);
        s.lon = round6(s.lon);
        self.fleet.stations.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            let km = ((dev.lat - c.lat) * 111.32).hypot((dev.lon - c.lon) * 111.32 * c.lat.to_radians().cos());
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
