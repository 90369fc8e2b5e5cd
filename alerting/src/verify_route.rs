//! Routing of incidents that await a person's check (DESIGN §6): they go out only as `verify`,
//! never as `respond` or `forward_119`. An unregistered device's alarm goes to the township team
//! of its topic's township (covering it, else the nearest available one within range); a late
//! alarm goes to the grid manager of the device's grid, else to that township team. Once someone
//! confirms the incident it is routed like any other (the table of [`Router::route`]). Pure.

use firegrid_ingest::Tier;

use crate::incident::{Incident, Verification};
use crate::routing::{Place, Recipient, Role, Route, Router};

/// The `verify` notifications of an incident awaiting verification `v`.
pub fn verification_routes(router: &Router<'_>, incident: &Incident, v: Verification) -> Vec<Route> {
    if v == Verification::LateAlarm && !incident.grid_id.is_empty() {
        let recipient = Recipient::Grid { id: incident.grid_id.clone() };
        return vec![Route { recipient, role: Role::Verify }];
    }
    let place = Place::of(incident, router.registry);
    router
        .pick(Tier::TownshipTeam, &place, &[])
        .map(|s| Route { recipient: Recipient::station(&s), role: Role::Verify })
        .into_iter()
        .collect()
}
