//! Scheduling scenarios over a run: which devices suit which scenario, and a plan that puts
//! each event on devices no other event uses (so no two events share a household and merge
//! into one incident), spread over the run, deterministic for a seed.

use std::collections::{BTreeMap, HashSet};

use firegrid_ingest::{Kind, SiteType};

use crate::fleet::Fleet;
use crate::rng::SimRng;
use crate::scenario::inject::{inject, Event};
use crate::scenario::schedule::Injection;
use crate::scenario::ScenarioKind;

/// Which devices suit which scenario.
#[derive(Debug, Clone, Default)]
struct Targets {
    /// Homes with two or more smoke detectors.
    multi_homes: Vec<Vec<usize>>,
    /// Smoke detectors in homes.
    home_smoke: Vec<usize>,
    /// Electrical monitors.
    electrical: Vec<usize>,
    /// Forest cameras.
    cameras: Vec<usize>,
}

impl Targets {
    fn of(fleet: &Fleet) -> Targets {
        let mut homes: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut t = Targets::default();
        for (i, d) in fleet.devices.iter().enumerate() {
            match d.kind {
                Kind::Smoke if d.site_type == SiteType::Residential => {
                    t.home_smoke.push(i);
                    homes.entry(&d.household_id).or_default().push(i);
                }
                Kind::Electrical => t.electrical.push(i),
                Kind::ForestIr => t.cameras.push(i),
                Kind::Smoke => {}
            }
        }
        t.multi_homes = homes.into_values().filter(|h| h.len() >= 2).collect();
        t
    }
}

/// A schedule of scenarios over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSpec {
    /// Seed of the choice of targets.
    pub seed: u64,
    /// Run start, epoch ms.
    pub start_ms: i64,
    /// Run length, ms.
    pub duration_ms: i64,
    /// Scenarios, injected in this order, cycling when `every_ms` leaves room for more.
    pub kinds: Vec<ScenarioKind>,
    /// Time between scenario starts; `None` spreads one of each over the first 60 % of the run.
    pub every_ms: Option<i64>,
    /// Topic prefix (malformed messages build their own topics).
    pub prefix: String,
    /// Quiet time before the first scenario (devices report normally first); `None` = a tenth
    /// of the run, at most 20 s.
    pub lead_ms: Option<i64>,
}

/// The key under which an event claims a device: its household, or the device itself when it
/// has none (a camera, a monitor of no household).
fn claim(fleet: &Fleet, d: usize) -> String {
    let dev = &fleet.devices[d];
    if dev.household_id.is_empty() {
        dev.device_id.clone()
    } else {
        dev.household_id.clone()
    }
}

impl Targets {
    /// Devices for a scenario not claimed by another event: a home of two or more detectors for
    /// a kitchen fire, else one device of the right kind; `None` when none is left.
    fn pick(&self, kind: ScenarioKind, fleet: &Fleet, rng: &mut SimRng, used: &HashSet<String>) -> Option<Vec<usize>> {
        let pick_one = |rng: &mut SimRng, pool: &[usize]| {
            let free: Vec<usize> = pool.iter().copied().filter(|&d| !used.contains(&claim(fleet, d))).collect();
            rng.pick(&free).map(|&d| vec![d])
        };
        match kind {
            ScenarioKind::KitchenFire => {
                let household =
                    |h: &[usize]| fleet.devices.get(h[0]).map(|x| x.household_id.clone()).unwrap_or_default();
                let free: Vec<&Vec<usize>> =
                    self.multi_homes.iter().filter(|h| !used.contains(&household(h))).collect();
                rng.pick(&free).map(|h| (*h).clone())
            }
            ScenarioKind::CookingSteam
            | ScenarioKind::TestButton
            | ScenarioKind::LowBattery
            | ScenarioKind::Tamper
            | ScenarioKind::Malformed => pick_one(rng, &self.home_smoke),
            ScenarioKind::ResidualCurrentCreep | ScenarioKind::ArcFault => pick_one(rng, &self.electrical),
            ScenarioKind::ForestHotspot | ScenarioKind::SunGlint => pick_one(rng, &self.cameras),
            ScenarioKind::Offline => pick_one(rng, &self.cameras).or_else(|| pick_one(rng, &self.electrical)),
        }
    }
}

/// Plans the scenarios of a run: each on devices not used by another (so no two events share a
/// household and merge into one incident), starting 20 s in (a tenth of a short run), and only
/// those that play out before the run ends.
pub fn plan(fleet: &Fleet, spec: &PlanSpec) -> Vec<Injection> {
    let mut out = Vec::new();
    if spec.kinds.is_empty() {
        return out;
    }
    let targets = Targets::of(fleet);
    let mut rng = SimRng::derive(spec.seed, "plan");
    let mut used: HashSet<String> = HashSet::new();
    let lead = spec.lead_ms.unwrap_or((spec.duration_ms / 10).min(20_000)).max(0);
    let run_end = spec.start_ms + spec.duration_ms;
    let span = (spec.duration_ms * 6 / 10 - lead).max(1);
    let every = spec.every_ms.unwrap_or(span / spec.kinds.len() as i64).max(1_000);
    let count = if spec.every_ms.is_some() { (span / every + 1) as usize } else { spec.kinds.len() };
    for n in 0..count {
        let kind = spec.kinds[n % spec.kinds.len()];
        let start_ms = spec.start_ms + lead + n as i64 * every;
        let Some(devices) = targets.pick(kind, fleet, &mut rng, &used) else { continue };
        let event = Event { kind, devices, start_ms, id: format!("ev-{:04}", n + 1) };
        let inj = inject(fleet, &event, &spec.prefix);
        // An event that cannot play out (or be noticed, for offline) before the run ends would
        // be ground truth firegrid never had a chance to see: leave it out.
        if inj.truth.iter().any(|t| t.end_ts > run_end) {
            continue;
        }
        used.extend(event.devices.iter().map(|&d| claim(fleet, d)));
        out.push(inj);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{generate_registry, FleetSpec};

    #[test]
    fn a_short_run_leaves_out_events_that_cannot_play_out_before_it_ends() {
        let f = generate_registry(&FleetSpec::default()).expect("fleet");
        let spec = PlanSpec {
            seed: 1,
            start_ms: 0,
            duration_ms: 120_000,
            kinds: ScenarioKind::ALL.to_vec(),
            every_ms: None,
            prefix: "firegrid/v1".into(),
            lead_ms: None,
        };
        let plan = plan(&f, &spec);
        let names: Vec<&str> = plan.iter().map(|i| i.truth[0].scenario.as_str()).collect();
        assert!(!names.contains(&"forest_hotspot") && !names.contains(&"kitchen_fire"), "{names:?}");
        assert!(names.contains(&"arc_fault") && names.contains(&"malformed"), "{names:?}");
        assert!(plan.iter().flat_map(|i| &i.truth).all(|t| t.end_ts <= 120_000));
    }

    #[test]
    fn a_repeating_plan_cycles_through_its_scenarios_on_fresh_devices() {
        let f = generate_registry(&FleetSpec::default()).expect("fleet");
        let spec = PlanSpec {
            seed: 1,
            start_ms: 0,
            duration_ms: 3_600_000,
            kinds: vec![ScenarioKind::CookingSteam, ScenarioKind::ArcFault],
            every_ms: Some(60_000),
            prefix: "firegrid/v1".into(),
            lead_ms: None,
        };
        let plan = plan(&f, &spec);
        assert!(plan.len() >= 30, "{}", plan.len());
        let devices: HashSet<&String> = plan.iter().flat_map(|i| &i.truth[0].devices).collect();
        assert_eq!(devices.len(), plan.len());
    }
}
