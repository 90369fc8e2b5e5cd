//! When to trim: once at least a threshold of memory was freed since the allocator last held
//! the least free — pure, so the decision is table-tested without an allocator.
//!
//! The figure asked ([`held_free`](crate::held_free)) counts free memory whether or not its pages
//! are still resident: a trim gives the pages back but leaves the bytes counted free. So "much is
//! free" alone would trim every time once a large free happened. What grows the resident set is
//! memory freed after being used: free memory that was allocated again (the free figure fell)
//! and freed again (it rose). The policy tracks the lowest free figure seen since the last trim
//! and trims when the figure has risen `threshold` bytes above it. It starts from a low of zero:
//! at start-up nothing free has been given back yet (the registry load's temporaries).

/// The trim decision's state: the threshold and the lowest free figure since the last trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrimPolicy {
    threshold_bytes: u64,
    low_bytes: u64,
}

impl TrimPolicy {
    /// A policy that trims once `threshold_bytes` were freed beyond the lowest free figure since
    /// the last trim (since start before the first).
    pub fn new(threshold_bytes: u64) -> TrimPolicy {
        TrimPolicy { threshold_bytes, low_bytes: 0 }
    }

    /// Takes the allocator's free figure now; true when a trim is due. After a trim, report the
    /// figure then with [`trimmed`](Self::trimmed).
    pub fn observe(&mut self, free_bytes: u64) -> bool {
        self.low_bytes = self.low_bytes.min(free_bytes);
        free_bytes - self.low_bytes >= self.threshold_bytes
    }

    /// A trim ran; `free_bytes` is the free figure after it (its pages given back) and the new low.
    pub fn trimmed(&mut self, free_bytes: u64) {
        self.low_bytes = free_bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// Each row: the free figures observed in turn (a trim reported after each `true` at the
    /// same figure), and whether each observation asks for a trim.
    #[test]
    fn a_trim_is_due_only_once_the_threshold_was_freed_since_the_least_held() {
        let rows: &[(&str, &[(u64, bool)])] = &[
            ("start-up temporaries freed: trimmed at once", &[(40 * MIB, true)]),
            ("little free at start: nothing to do", &[(3 * MIB, false), (5 * MIB, false)]),
            ("exactly the threshold", &[(16 * MIB, true)]),
            (
                "trimmed memory stays counted free: no second trim",
                &[(40 * MIB, true), (40 * MIB, false), (41 * MIB, false)],
            ),
            (
                "freed again after a trim: due once the rise passes the threshold",
                &[(40 * MIB, true), (50 * MIB, false), (56 * MIB, true)],
            ),
            (
                "reused then freed (churn): the fall and rise is due although the figure ends where it was",
                &[(40 * MIB, true), (10 * MIB, false), (20 * MIB, false), (40 * MIB, true)],
            ),
            ("a fall alone never trims", &[(40 * MIB, true), (MIB, false), (0, false)]),
        ];
        for (name, steps) in rows {
            let mut p = TrimPolicy::new(16 * MIB);
            let seen: Vec<bool> = steps
                .iter()
                .map(|&(free, _)| {
                    let due = p.observe(free);
                    if due {
                        p.trimmed(free);
                    }
                    due
                })
                .collect();
            let want: Vec<bool> = steps.iter().map(|&(_, due)| due).collect();
            assert_eq!(seen, want, "{name}");
        }
    }

    #[test]
    fn a_trim_that_left_less_free_lowers_the_mark() {
        let mut p = TrimPolicy::new(16 * MIB);
        assert!(p.observe(40 * MIB));
        // The trim gave back the top of the heap too: 30 MiB counted free after it.
        p.trimmed(30 * MIB);
        assert!(!p.observe(45 * MIB));
        assert!(p.observe(46 * MIB));
    }
}
