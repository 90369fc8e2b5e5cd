//! The one great-circle distance of firegrid (haversine on a sphere of the mean Earth radius),
//! used to correlate nearby alarms and to find the nearest station. At the scale of a county
//! the sphere is within 0.5 % of the ellipsoid, far below the error of a registered position.

/// Mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two WGS-84 positions given in degrees.
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    // Rounding can push `a` a hair past 1 for antipodal points; asin would then be NaN.
    2.0 * EARTH_RADIUS_M * a.sqrt().clamp(0.0, 1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_distances_come_out_within_a_metre() {
        // One degree of latitude on the mean sphere: 2πR/360.
        let degree = 2.0 * std::f64::consts::PI * EARTH_RADIUS_M / 360.0;
        let cases = [
            ((29.7, 106.6, 29.7, 106.6), 0.0),
            ((29.0, 106.6, 30.0, 106.6), degree),
            ((0.0, 0.0, 0.0, 180.0), 180.0 * degree),
            ((90.0, 0.0, -90.0, 0.0), 180.0 * degree),
        ];
        for ((a, b, c, d), want) in cases {
            let got = distance_m(a, b, c, d);
            assert!((got - want).abs() < 1.0, "({a},{b})-({c},{d}): {got} != {want}");
        }
        // 渝北区 五星路 to 双龙湖: a few hundred metres, as a map says.
        let near = distance_m(29.7210, 106.6310, 29.7250, 106.6360);
        assert!((600.0..700.0).contains(&near), "{near}");
    }

    proptest! {
        #[test]
        fn distance_is_symmetric_finite_and_never_more_than_half_the_circumference(
            a in -90.0f64..=90.0, b in -180.0f64..=180.0, c in -90.0f64..=90.0, d in -180.0f64..=180.0,
        ) {
            let x = distance_m(a, b, c, d);
            prop_assert!(x.is_finite() && x >= 0.0);
            prop_assert!(x <= std::f64::consts::PI * EARTH_RADIUS_M + 1e-6);
            prop_assert!((x - distance_m(c, d, a, b)).abs() < 1e-6);
        }
    }
}
