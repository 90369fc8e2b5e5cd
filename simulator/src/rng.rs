//! Deterministic randomness: a ChaCha8 stream (a fixed, documented algorithm, so the same seed
//! gives the same fleet on every platform and rand release) with the few distributions the
//! simulator needs, built on raw `u64` draws rather than on rand's distributions, whose exact
//! output is not promised across versions.

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};

/// A seeded random stream.
#[derive(Debug)]
pub(crate) struct SimRng(ChaCha8Rng);

/// FNV-1a, a stable hash for deriving sub-streams from labels.
pub(crate) fn stable_hash(label: &str) -> u64 {
    label.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl SimRng {
    /// A stream for `seed`.
    pub(crate) fn seed(seed: u64) -> SimRng {
        SimRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// An independent stream for `seed` and a label (a device id, a county code, …): the
    /// draws of one label never shift when another label's draws change.
    pub(crate) fn derive(seed: u64, label: &str) -> SimRng {
        SimRng::seed(seed ^ stable_hash(label).rotate_left(17))
    }

    /// A raw 64-bit draw.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n); 0 when `n` is 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform integer in [lo, hi] (inclusive).
    pub(crate) fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Normal draw (Box–Muller).
    pub(crate) fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]: ln is finite
        let u2 = self.unit();
        mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// How far into its stream this one is, in 32-bit words: with the seed, everything needed to
    /// resume it ([`SimRng::resume`]), so a million devices keep 8 bytes each, not ChaCha's
    /// 300-byte buffered state.
    pub(crate) fn position(&self) -> u64 {
        self.0.get_word_pos() as u64
    }

    /// Moves to `position` words into the stream (as returned by [`SimRng::position`]).
    pub(crate) fn resume(&mut self, position: u64) {
        self.0.set_word_pos(u128::from(position));
    }

    /// A uniformly chosen element; `None` for an empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let i = self.below(items.len() as u64) as usize;
        items.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_draws() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = SimRng::seed(7);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = SimRng::seed(7);
        let b: Vec<u64> = (0..5).map(|_| r.next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(SimRng::derive(7, "a").next_u64(), SimRng::derive(7, "b").next_u64());
    }

    #[test]
    fn a_stream_resumed_at_its_position_draws_what_it_would_have_drawn() {
        let mut going = SimRng::derive(9, "sd-000001");
        for skip in [0, 1, 3, 7, 16, 33] {
            for _ in 0..skip {
                going.normal(0.0, 1.0);
            }
            let mut resumed = SimRng::derive(9, "sd-000001");
            resumed.resume(going.position());
            let a: Vec<u64> = (0..40).map(|_| going.next_u64()).collect();
            let b: Vec<u64> = (0..40).map(|_| resumed.next_u64()).collect();
            assert_eq!(a, b, "after {skip} normal draws");
        }
    }

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut r = SimRng::seed(1);
        for _ in 0..10_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(3) < 3);
            let i = r.int(1, 3);
            assert!((1..=3).contains(&i));
            assert!(r.normal(0.0, 1.0).is_finite());
        }
        assert_eq!(r.below(0), 0);
        assert!(r.pick::<u8>(&[]).is_none());
    }

    #[test]
    fn the_normal_draw_has_the_asked_mean_and_spread() {
        let mut r = SimRng::seed(3);
        let xs: Vec<f64> = (0..20_000).map(|_| r.normal(10.0, 2.0)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!((mean - 10.0).abs() < 0.1, "{mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.1, "{var}");
    }
}
