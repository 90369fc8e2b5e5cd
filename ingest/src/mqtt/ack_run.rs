//! A run of acks with consecutive packet ids: how released acks wait for the MQTT client.
//!
//! The [sequencer](super::sequencer) releases acks in arrival order, often thousands at once (a
//! stored batch), and rumqttc takes one request per poll of its event loop — about one for every
//! burst of up to ten packets it reads — so in a drain the acks queue up far faster than they
//! leave: 176,000 waited at once in a 200,000-reading drain, at about 36 bytes each in the
//! outbound channel plus 216 in rumqttc's request queue, 10 MB of the process's heap (issue 14's
//! heap profile). Brokers hand out packet ids in order (1 to 65,535, then 1 again), so the acks
//! of messages that arrived one after another are a run of consecutive ids: one [`AckRun`] of 6
//! bytes holds up to 65,535 of them.

/// Consecutive packet ids (after 65,535 comes 1: 0 is never a packet id), oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AckRun {
    first: u16,
    last: u16,
    count: u16,
}

/// The packet id a broker assigns after `pkid`.
fn next_pkid(pkid: u16) -> u16 {
    if pkid == u16::MAX {
        1
    } else {
        pkid + 1
    }
}

impl AckRun {
    /// A run of the one packet id `pkid`.
    pub(crate) fn one(pkid: u16) -> AckRun {
        AckRun { first: pkid, last: pkid, count: 1 }
    }

    /// Adds `pkid` at the end when it follows the run's last id (and the run is not full);
    /// false when it starts a new run.
    pub(crate) fn extend(&mut self, pkid: u16) -> bool {
        if self.count == u16::MAX || pkid != next_pkid(self.last) {
            return false;
        }
        self.last = pkid;
        self.count += 1;
        true
    }

    /// How many packet ids the run holds.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.count)
    }
}

impl IntoIterator for AckRun {
    type Item = u16;
    type IntoIter = std::iter::Take<std::iter::Successors<u16, fn(&u16) -> Option<u16>>>;

    /// The run's packet ids, oldest first.
    fn into_iter(self) -> Self::IntoIter {
        let next: fn(&u16) -> Option<u16> = |&p| Some(next_pkid(p));
        std::iter::successors(Some(self.first), next).take(self.len())
    }
}

/// Packs packet ids, in order, into as few runs as they allow, handing each finished run to
/// `emit` as soon as the next id cannot join it (nothing is collected); true when any id came.
pub(crate) fn pack(pkids: impl IntoIterator<Item = u16>, mut emit: impl FnMut(AckRun)) -> bool {
    let mut run: Option<AckRun> = None;
    for pkid in pkids {
        if !run.as_mut().is_some_and(|r| r.extend(pkid)) {
            if let Some(done) = run.replace(AckRun::one(pkid)) {
                emit(done);
            }
        }
    }
    run.map(emit).is_some()
}

/// [`pack`] into a list.
#[cfg(test)]
pub(crate) fn runs(pkids: impl IntoIterator<Item = u16>) -> Vec<AckRun> {
    let mut out = Vec::new();
    pack(pkids, |run| out.push(run));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_are_one_run_and_a_gap_starts_another() {
        let cases: &[(&[u16], usize)] = &[
            (&[1, 2, 3, 4], 1),
            (&[7], 1),
            (&[65_534, 65_535, 1, 2], 1),
            (&[5, 7, 8], 2),
            (&[3, 2, 1], 3),
            (&[65_535, 0, 1], 2),
        ];
        for &(ids, n) in cases {
            let packed = runs(ids.iter().copied());
            assert_eq!(packed.len(), n, "{ids:?}");
            let back: Vec<u16> = packed.into_iter().flatten().collect();
            assert_eq!(back, ids, "every id comes back once, in order");
        }
    }

    #[test]
    fn a_run_holds_at_most_65535_ids() {
        let ids = (0..70_000u32).map(|i| u16::try_from(i % 65_535 + 1).unwrap_or(1));
        let packed = runs(ids.clone());
        assert_eq!(packed.iter().map(|r| r.len()).collect::<Vec<_>>(), vec![65_535, 70_000 - 65_535]);
        assert!(packed.into_iter().flatten().eq(ids));
    }

    proptest::proptest! {
        #[test]
        fn runs_give_back_exactly_the_ids_packed(ids in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..300)) {
            let back: Vec<u16> = runs(ids.iter().copied()).into_iter().flatten().collect();
            proptest::prop_assert_eq!(back, ids);
        }
    }
}
