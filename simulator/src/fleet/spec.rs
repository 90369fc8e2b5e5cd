//! What fleet to generate: the seed, the counties and the shares that shape it, with their
//! defaults (the sample registry in `deploy/registry/`) and the checks made before generating.

use crate::error::SimError;

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

impl FleetSpec {
    /// Refuses shares outside 0–1, an empty county list and forest teams of no township.
    pub(crate) fn validate(&self) -> Result<(), SimError> {
        let share = |v: f64, what: &str| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(SimError::InvalidSpec(format!("{what} must be between 0 and 1, not {v}")))
            }
        };
        share(self.micro_station_share, "micro_station_share")?;
        share(self.vulnerable_share_urban, "vulnerable_share_urban")?;
        share(self.vulnerable_share_rural, "vulnerable_share_rural")?;
        if self.counties.is_empty() {
            return Err(SimError::InvalidSpec("at least one county is needed".into()));
        }
        if self.townships_per_forest_team == 0 {
            return Err(SimError::InvalidSpec("townships_per_forest_team must be at least 1".into()));
        }
        Ok(())
    }
}
