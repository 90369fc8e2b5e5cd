//! Placing a township (乡镇/街道): its full-time team (专职消防队) near its centre, its
//! communities on a spiral around it (urban ones denser), special sites (elderly care, schools,
//! hospitals, ancient towns, factories) in some of its communities and, in most rural townships
//! of mountainous Chongqing, forest infrared cameras.

use firegrid_ingest::{Kind, SiteType, Tier};

use crate::fleet::divisions::{County, Township};
use crate::fleet::generate::{Builder, Group, StationAt};
use crate::fleet::names;
use crate::fleet::place::{offset, spiral};
use crate::rng::SimRng;

/// The special sites a township may have, with the chance of each.
fn site_chances(t: &Township) -> [(SiteType, f64); 5] {
    [
        (SiteType::ElderlyCare, 0.5),
        (SiteType::School, 0.4),
        (SiteType::Hospital, 0.25),
        (SiteType::AncientTown, if t.urban { 0.0 } else { 0.08 }),
        (SiteType::Factory, 0.1),
    ]
}

/// A township being placed: where it is and where its communities went.
struct Placed<'a> {
    county: &'a County,
    township: &'a Township,
    community_at: Vec<(f64, f64)>,
}

impl Builder<'_> {
    /// Places a township and its communities; true when it got forest cameras.
    pub(super) fn township(&mut self, county: &County, t: &Township, at: (f64, f64)) -> bool {
        let mut rng = SimRng::derive(self.spec.seed, &t.code);
        let team_at = offset(at.0, at.1, rng.range(0.05, 0.4), rng.range(0.0, std::f64::consts::TAU));
        self.station(StationAt {
            station_id: format!("tt-{}", t.code),
            name: format!("{}专职消防队", t.name),
            tier: Tier::TownshipTeam,
            county,
            township: Some(t),
            community: None,
            at: team_at,
            covers: Vec::new(),
        });
        let n = t.communities.len();
        let r = if t.urban { 0.25 * (n as f64).sqrt() } else { 0.9 * (n as f64).sqrt() };
        let mut community_at = Vec::with_capacity(n);
        for (i, c) in t.communities.iter().enumerate() {
            let c_at = spiral(&mut rng, at, (i, n), 0.1..r.max(0.3));
            community_at.push(c_at);
            self.community(county, t, c, c_at);
        }
        let placed = Placed { county, township: t, community_at };
        self.special_sites(&mut rng, &placed);
        self.forest_cameras(&mut rng, &placed)
    }

    /// Special sites, one device group each (smoke detectors and an electrical monitor), in a
    /// community of the township.
    fn special_sites(&mut self, rng: &mut SimRng, p: &Placed<'_>) {
        let t = p.township;
        let n = t.communities.len();
        for (site, chance) in site_chances(t) {
            // 宁厂古镇 (巫溪) and 龙兴古镇 (渝北) are real ancient towns.
            let famous = site == SiteType::AncientTown && matches!(t.code.as_str(), "500238102" | "500112131");
            if n == 0 || !(famous || rng.chance(chance)) {
                continue;
            }
            let i = rng.below(n as u64) as usize;
            let c = &t.communities[i];
            let address = match site {
                SiteType::ElderlyCare => names::elderly_care(t, c),
                SiteType::School => names::school(rng, t, c),
                SiteType::Hospital => names::hospital(t),
                SiteType::AncientTown => names::ancient_town(rng, t, c),
                _ => names::factory(rng, t),
            };
            let at = p.community_at[i];
            let g = Group {
                county: p.county,
                township: t,
                community: c,
                grid_id: format!("{}-g1", c.code),
                household_id: format!("st-{}-{}", c.code, site.as_str()),
                address,
                at: offset(at.0, at.1, rng.range(0.05, 0.4), rng.range(0.0, std::f64::consts::TAU)),
                site_type: site,
                vulnerable: false,
            };
            let smoke = rng.int(2, 4);
            self.devices(&g, Kind::Smoke, smoke);
            self.devices(&g, Kind::Electrical, rng.int(1, 2));
        }
    }

    /// Forest cameras: most rural townships of mountainous Chongqing have forest to watch. True
    /// when the township got cameras (a forest team must cover it).
    fn forest_cameras(&mut self, rng: &mut SimRng, p: &Placed<'_>) -> bool {
        let t = p.township;
        let n = t.communities.len();
        if t.urban || n == 0 || !rng.chance(0.6) {
            return false;
        }
        let cameras = rng.int(1, 3);
        for k in 0..cameras {
            let i = rng.below(n as u64) as usize;
            let c = &t.communities[i];
            let at = p.community_at[i];
            let g = Group {
                county: p.county,
                township: t,
                community: c,
                grid_id: format!("{}-g1", c.code),
                household_id: String::new(),
                address: names::forest_post(c, k + 1),
                at: offset(at.0, at.1, rng.range(1.0, 3.0), rng.range(0.0, std::f64::consts::TAU)),
                site_type: SiteType::Forest,
                vulnerable: false,
            };
            self.devices(&g, Kind::ForestIr, 1);
        }
        true
    }
}
