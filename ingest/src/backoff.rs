//! The one retry backoff of firegrid: capped exponential, with equal jitter.
//!
//! The ceiling starts at `min` and doubles per failure up to `max`; each delay is drawn
//! uniformly from `[ceiling / 2, ceiling]`. Why jitter: when the broker or the store comes back,
//! every client that lost it at the same moment would otherwise retry at the same moments and
//! knock it over again. Why *equal* jitter rather than full jitter (`[0, ceiling]`): a retry
//! never comes sooner than half the ceiling, so a store that is down is not polled in a tight
//! loop. A server's `Retry-After` is a floor ([`Backoff::after`]).
//!
//! The jitter needs no cryptographic randomness: a SplitMix64 sequence seeded from std's
//! per-process random hasher keys is enough to spread clients apart.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Capped exponential backoff with equal jitter (see the module doc).
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    ceiling: Duration,
    rng: u64,
}

impl Backoff {
    /// Ceiling starts at `min` and doubles up to `max` (a `max` below `min` is taken as `min`).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
        Backoff::with_seed(min, max, seed)
    }

    /// Like [`Backoff::new`] with a fixed jitter sequence (tests).
    pub(crate) fn with_seed(min: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff { min, max: max.max(min), ceiling: min, rng: seed }
    }

    /// The delay to wait now; the next one has twice the ceiling (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = ceiling.saturating_mul(2).min(self.max);
        let half = ceiling / 2;
        let span = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        // `% (span + 1)` has a bias of at most span / 2^64: nothing a retry delay can notice.
        half + Duration::from_nanos(self.next_random() % span.saturating_add(1))
    }

    /// The delay to wait now, at least what the server asked for.
    pub fn after(&mut self, server: Option<Duration>) -> Duration {
        let d = self.next_delay();
        server.map_or(d, |s| s.max(d))
    }

    /// Back to the first ceiling after a success.
    pub fn reset(&mut self) {
        self.ceiling = self.min;
    }

    /// SplitMix64 (Steele, Lea, Flood 2014): one add and three xor-shift-multiplies per draw.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn each_delay_lies_between_half_its_ceiling_and_the_ceiling_which_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::with_seed(100 * MS, 350 * MS, 7);
        let ceilings = [100, 200, 350, 350];
        for c in ceilings {
            let d = b.next_delay();
            assert!(d >= c * MS / 2 && d <= c * MS, "{d:?} outside [{}, {c}] ms", c / 2);
        }
        b.reset();
        let d = b.next_delay();
        assert!(d >= 50 * MS && d <= 100 * MS, "{d:?}");
    }

    #[test]
    fn delays_are_spread_out_rather_than_all_equal() {
        // Two clients that failed together must not retry together: 1,000 first delays of
        // independently seeded backoffs cover the interval.
        let firsts: Vec<Duration> =
            (0..1000u64).map(|s| Backoff::with_seed(1000 * MS, 1000 * MS, s).next_delay()).collect();
        let (lo, hi) = (firsts.iter().min().copied(), firsts.iter().max().copied());
        assert!(lo.is_some_and(|d| d < 550 * MS) && hi.is_some_and(|d| d > 950 * MS), "{lo:?}..{hi:?}");
        let distinct: std::collections::HashSet<_> = firsts.iter().collect();
        assert!(distinct.len() > 900, "{} distinct", distinct.len());
    }

    #[test]
    fn a_server_request_is_a_floor_and_new_backoffs_are_seeded_differently() {
        let mut b = Backoff::with_seed(10 * MS, 20 * MS, 1);
        assert_eq!(b.after(Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert!(b.after(None) <= 20 * MS);
        let seqs: std::collections::HashSet<Vec<Duration>> = (0..4)
            .map(|_| {
                let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
                (0..4).map(|_| b.next_delay()).collect()
            })
            .collect();
        assert!(seqs.len() > 1, "every process-local seed gave the same delays");
    }

    proptest! {
        #[test]
        fn no_bounds_or_seed_make_a_delay_leave_its_window(
            min_ms in 0u64..100_000, extra_ms in 0u64..1_000_000, seed in any::<u64>(), n in 1usize..40,
        ) {
            let (min, max) = (Duration::from_millis(min_ms), Duration::from_millis(min_ms + extra_ms));
            let mut b = Backoff::with_seed(min, max, seed);
            for _ in 0..n {
                let d = b.next_delay();
                prop_assert!(d <= max && d >= min / 2, "{:?} not in [{:?}, {:?}]", d, min / 2, max);
            }
        }
    }
}
