//! Incident ids, `INC-{county}-{yyyymmdd}-{n:04}`, numbered per county and day, the day taken
//! in Asia/Shanghai (UTC+8, no daylight saving). Pure.

/// Formats an incident id: `INC-{county}-{yyyymmdd}-{n:04}`, the date taken in Asia/Shanghai
/// (UTC+8) from `at_ms`.
pub(crate) fn incident_id(county: &str, at_ms: i64, n: u64) -> String {
    format!("INC-{county}-{}-{n:04}", local_day(at_ms))
}

/// The `yyyymmdd` of `at_ms` in Asia/Shanghai (UTC+8, no daylight saving).
pub(crate) fn local_day(at_ms: i64) -> String {
    let days = (at_ms + 8 * 3_600_000).div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_use_the_shanghai_date() {
        // 2026-11-29 17:00 UTC is 2026-11-30 01:00 in Chongqing.
        let at = 1_795_971_600_000;
        assert_eq!(incident_id("500112", at, 7), "INC-500112-20261130-0007");
        assert_eq!(local_day(0), "19700101");
    }
}
