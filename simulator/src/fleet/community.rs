//! Placing a community or village (社区/村): its grids and their managers (网格员), a micro
//! station (微型消防站) in most, homes with one to three smoke detectors (some of them
//! vulnerable households, 特殊群体), small venues (九小场所) and now and then a rental building
//! (群租房), each with an electrical monitor.

use firegrid_ingest::{Grid, Kind, SiteType, Tier};

use crate::fleet::divisions::{Community, County, Township};
use crate::fleet::generate::{Builder, Group, StationAt};
use crate::fleet::names;
use crate::fleet::place::offset;
use crate::rng::SimRng;

/// A community being filled: where it is, how many grids it has, how far its devices spread.
struct Site<'a> {
    county: &'a County,
    township: &'a Township,
    community: &'a Community,
    at: (f64, f64),
    grids: u64,
    /// Radius of its device groups around its centre, km.
    spread: f64,
}

impl Site<'_> {
    /// The `n`-th device group of the community, in one of its grids near its centre.
    fn group(&self, rng: &mut SimRng, n: u64, site_type: SiteType, address: String, vulnerable: bool) -> Group<'_> {
        let c = self.community;
        Group {
            county: self.county,
            township: self.township,
            community: c,
            grid_id: format!("{}-g{}", c.code, rng.int(1, self.grids)),
            household_id: format!("hh-{}-{n:03}", c.code),
            address,
            at: offset(self.at.0, self.at.1, self.spread * rng.unit().sqrt(), rng.range(0.0, std::f64::consts::TAU)),
            site_type,
            vulnerable,
        }
    }
}

/// Smoke detectors in a home: rural homes are smaller, more often one detector.
fn detectors(urban: bool, roll: f64) -> u64 {
    let (one, two) = if urban { (0.3, 0.75) } else { (0.5, 0.85) };
    if roll < one {
        1
    } else if roll < two {
        2
    } else {
        3
    }
}

impl Builder<'_> {
    /// Fills a community placed at `at`.
    pub(super) fn community(&mut self, county: &County, t: &Township, c: &Community, at: (f64, f64)) {
        let mut rng = SimRng::derive(self.spec.seed, &c.code);
        // Grids: a village is one grid; a large urban community is split into several.
        let grids = if c.urban { rng.int(1, 3) } else { 1 };
        for g in 1..=grids {
            self.fleet.grids.push(Grid {
                grid_id: format!("{}-g{g}", c.code),
                community: c.code.clone(),
                manager: names::person(&mut rng),
                phone: names::phone(&mut rng),
                webhook_url: None,
            });
        }
        if rng.chance(self.spec.micro_station_share) {
            let m_at = offset(at.0, at.1, rng.range(0.02, 0.2), rng.range(0.0, std::f64::consts::TAU));
            self.station(StationAt {
                station_id: format!("ms-{}", c.code),
                name: format!("{}微型消防站", c.short_name()),
                tier: Tier::Micro,
                county,
                township: Some(t),
                community: Some(c),
                at: m_at,
                covers: Vec::new(),
            });
        }
        let site = Site { county, township: t, community: c, at, grids, spread: if c.urban { 0.25 } else { 0.8 } };
        let n = self.homes(&mut rng, &site);
        self.venues(&mut rng, &site, n);
    }

    /// The community's homes; returns how many device groups it numbered.
    fn homes(&mut self, rng: &mut SimRng, site: &Site<'_>) -> u64 {
        let c = site.community;
        let spec = self.spec;
        let vulnerable_share = if c.urban { spec.vulnerable_share_urban } else { spec.vulnerable_share_rural };
        let homes = if c.urban { spec.households_per_urban_community } else { spec.households_per_rural_community };
        let mut n = 0u64;
        for _ in 0..homes {
            n += 1;
            let building = rng.int(1, if c.urban { 30 } else { 12 });
            let address = names::home(rng, c, building);
            let vulnerable = rng.chance(vulnerable_share);
            let g = site.group(rng, n, SiteType::Residential, address, vulnerable);
            let count = detectors(c.urban, rng.unit());
            self.devices(&g, Kind::Smoke, count);
        }
        n
    }

    /// Small venues and a rental building, numbered after the `n` groups placed before.
    fn venues(&mut self, rng: &mut SimRng, site: &Site<'_>, mut n: u64) {
        let c = site.community;
        let venues = u64::from(rng.chance(if c.urban { 0.6 } else { 0.3 })) + u64::from(rng.chance(0.3));
        for _ in 0..venues {
            n += 1;
            let address = names::small_venue(rng, c);
            let g = site.group(rng, n, SiteType::SmallVenue, address, false);
            self.devices(&g, Kind::Smoke, 1);
            self.devices(&g, Kind::Electrical, 1);
        }
        if rng.chance(if c.urban { 0.35 } else { 0.05 }) {
            n += 1;
            let address = names::rental(c, rng.int(1, 30));
            let g = site.group(rng, n, SiteType::Rental, address, false);
            self.devices(&g, Kind::Smoke, rng.int(2, 3));
            self.devices(&g, Kind::Electrical, 1);
        }
    }
}
