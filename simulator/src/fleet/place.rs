//! Placing things on the map: the data has county centroids only, so positions are derived
//! deterministically — offsets by distance and bearing, and sunflower spirals that spread a
//! county's townships (or a township's communities) evenly between two radii.

use std::ops::Range;

use crate::rng::SimRng;

/// A point displaced `km` along `bearing` (radians, clockwise from north).
pub(crate) fn offset(lat: f64, lon: f64, km: f64, bearing: f64) -> (f64, f64) {
    let dlat = km * bearing.cos() / 111.32;
    let dlon = km * bearing.sin() / (111.32 * lat.to_radians().cos());
    (lat + dlat, lon + dlon)
}

/// Rounds a coordinate to 6 decimals (about 0.1 m), the precision written to the registry.
pub(crate) fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

const GOLDEN_ANGLE: f64 = 2.399_963_229_728_653;

/// Position `i` of `n` (`slot`) on a sunflower spiral between the radii `km` (from its start to
/// its end), jittered.
pub(crate) fn spiral(rng: &mut SimRng, center: (f64, f64), slot: (usize, usize), km: Range<f64>) -> (f64, f64) {
    let (i, n) = slot;
    let frac = ((i as f64 + 0.5) / n.max(1) as f64).sqrt();
    let r = km.start + (km.end - km.start) * frac * rng.range(0.85, 1.15);
    let bearing = i as f64 * GOLDEN_ANGLE + rng.range(-0.3, 0.3);
    offset(center.0, center.1, r, bearing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_moves_the_asked_distance() {
        let (lat, lon) = offset(29.7, 106.6, 10.0, std::f64::consts::FRAC_PI_2);
        let km_east = (lon - 106.6) * 111.32 * 29.7f64.to_radians().cos();
        assert!((km_east - 10.0).abs() < 1e-9 && (lat - 29.7).abs() < 1e-12);
        assert_eq!(round6(29.123_456_789), 29.123_457);
    }

    #[test]
    fn a_spiral_stays_between_its_radii() {
        let mut rng = SimRng::seed(4);
        for i in 0..50 {
            let (lat, lon) = spiral(&mut rng, (30.0, 108.0), (i, 50), 5.0..20.0);
            let km = firegrid_ingest::geo::distance_m(lat, lon, 30.0, 108.0) / 1000.0;
            assert!((4.0..24.0).contains(&km), "{km}");
        }
    }
}
