//! The one wall clock of firegrid: epoch milliseconds, UTC. Pure modules take the time as a
//! value; only the edges (the MQTT event loop, the writer, the stores, the binary) read it here.

/// Wall-clock time, epoch milliseconds UTC (0 before 1970, `i64::MAX` past year 292 million).
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_reads_epoch_milliseconds_and_does_not_go_backwards_between_two_reads() {
        let a = now_ms();
        let b = now_ms();
        // 2020-01-01 and 2200-01-01: a clock in seconds or microseconds would fall outside.
        assert!((1_577_836_800_000..7_258_118_400_000).contains(&a), "{a}");
        assert!(b >= a);
    }
}
