//! A batch of encoded lines bound for the store, each line remembering the MQTT message it
//! came from so that the message is acknowledged only once its line is persisted (DESIGN §8).

use std::time::Instant;

use crate::mqtt::sequencer::AckToken;

/// Lines and their acks. Lines without a token (incident annotations) need no ack.
#[derive(Debug)]
pub struct Batch {
    body: String,
    ends: Vec<usize>,
    acks: Vec<Option<AckToken>>,
    opened_at: Instant,
    /// The lines the batch is sized for (0: no sizing).
    lines_hint: usize,
}

/// Lines after which a sized batch sets its body's capacity from their average length.
const SAMPLE_LINES: usize = 64;

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// An empty batch, opened now.
    pub(crate) fn new() -> Batch {
        Batch { body: String::new(), ends: Vec::new(), acks: Vec::new(), opened_at: Instant::now(), lines_hint: 0 }
    }

    /// An empty batch with room for `lines` lines: the body is sized from the average length of
    /// its first 64 lines, so that it is not grown by doubling (a fixed guess of 200 bytes a line
    /// was doubled to 2 MB for 5,000 readings of about 300 bytes, in every pooled batch).
    pub(crate) fn with_capacity(lines: usize) -> Batch {
        Batch {
            body: String::with_capacity(SAMPLE_LINES.min(lines).saturating_mul(256)),
            ends: Vec::with_capacity(lines),
            acks: Vec::with_capacity(lines),
            opened_at: Instant::now(),
            lines_hint: lines,
        }
    }

    /// A batch of the lines of `body` (a spooled batch), none of which needs an ack any more.
    pub(crate) fn from_body(body: String) -> Batch {
        let mut ends: Vec<usize> = body.match_indices('\n').map(|(i, _)| i + 1).collect();
        if !body.is_empty() && !body.ends_with('\n') {
            ends.push(body.len());
        }
        let acks = std::iter::repeat_with(|| None).take(ends.len()).collect();
        Batch { body, ends, acks, opened_at: Instant::now(), lines_hint: 0 }
    }

    /// Appends one line through `encode`, which writes it with its trailing newline.
    pub(crate) fn push_with(&mut self, ack: Option<AckToken>, encode: impl FnOnce(&mut String)) {
        if self.ends.is_empty() {
            self.opened_at = Instant::now();
        }
        self.fit_body();
        encode(&mut self.body);
        if !self.body.ends_with('\n') {
            self.body.push('\n');
        }
        self.ends.push(self.body.len());
        self.acks.push(ack);
    }

    /// In a sized batch past its first 64 lines, when the body has room for fewer than two more
    /// lines of the average length so far: makes room for the lines it is sized for (or an
    /// eighth more than it holds, past that) at that average, plus an eighth. A pooled batch has
    /// the room already; a batch is grown by doubling only while it has fewer than 64 lines.
    fn fit_body(&mut self) {
        let n = self.ends.len();
        if self.lines_hint == 0 || n < SAMPLE_LINES {
            return;
        }
        let per_line = self.body.len().div_ceil(n);
        if self.body.capacity() - self.body.len() >= 2 * per_line {
            return;
        }
        let lines = self.lines_hint.max(n + n / 8 + 2);
        let want = per_line.saturating_mul(lines);
        self.body.reserve_exact(want.saturating_add(want / 8) - self.body.len());
    }

    /// Number of lines.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no line is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The request body.
    pub(crate) fn body(&self) -> &str {
        &self.body
    }

    /// When the first line was added.
    pub(crate) fn opened_at(&self) -> Instant {
        self.opened_at
    }

    /// Line `i` without its newline.
    pub(crate) fn line(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.body[start..self.ends[i]].trim_end_matches('\n')
    }

    /// The acks of the batch, consuming it.
    pub(crate) fn into_acks(self) -> Vec<AckToken> {
        self.acks.into_iter().flatten().collect()
    }

    /// The acks of the batch, leaving it empty with its buffers kept for the next batch (see
    /// [`BatchPool`](crate::batch_pool::BatchPool)).
    pub(crate) fn take_acks(&mut self) -> Vec<AckToken> {
        let acks = self.acks.drain(..).flatten().collect();
        self.clear();
        acks
    }

    /// Empties the batch, keeping its buffers' capacity.
    pub(crate) fn clear(&mut self) {
        self.body.clear();
        self.ends.clear();
        self.acks.clear();
        self.opened_at = Instant::now();
    }

    /// Bytes the batch's buffers hold, filled or not.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.body.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.acks.capacity() * std::mem::size_of::<Option<AckToken>>()
    }

    /// The ack of line `i`.
    #[cfg(test)]
    pub(crate) fn ack(&self, i: usize) -> Option<&AckToken> {
        self.acks.get(i).and_then(Option::as_ref)
    }

    /// Splits into two halves by lines (a batch of one line returns it and an empty batch).
    pub(crate) fn split(mut self) -> (Batch, Batch) {
        let mid = self.ends.len() / 2;
        if mid == 0 {
            return (self, Batch::new());
        }
        let cut = self.ends[mid - 1];
        let tail_body = self.body.split_off(cut);
        let tail_ends = self.ends.split_off(mid).into_iter().map(|e| e - cut).collect();
        let tail_acks = self.acks.split_off(mid);
        let tail =
            Batch { body: tail_body, ends: tail_ends, acks: tail_acks, opened_at: self.opened_at, lines_hint: 0 };
        (self, tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(pkid: u16) -> Option<AckToken> {
        Some(AckToken::detached(1, pkid, bytes::Bytes::from_static(b"t")))
    }

    #[test]
    fn splitting_keeps_every_line_with_its_ack() {
        let mut b = Batch::new();
        for i in 0..5u16 {
            b.push_with(tok(i), |out| out.push_str(&format!("m f={i}i 1\n")));
        }
        b.push_with(None, |out| out.push_str("fire_incident x=1i 2"));
        assert_eq!(b.len(), 6);
        assert_eq!(b.line(5), "fire_incident x=1i 2");
        let (a, c) = b.split();
        assert_eq!((a.len(), c.len()), (3, 3));
        assert_eq!(a.line(2), "m f=2i 1");
        assert_eq!(c.line(0), "m f=3i 1");
        assert_eq!(c.body(), "m f=3i 1\nm f=4i 1\nfire_incident x=1i 2\n");
        assert_eq!(c.ack(0).map(AckToken::pkid), Some(3));
        let pkids: Vec<u16> = a.into_acks().into_iter().chain(c.into_acks()).map(|t| t.pkid()).collect();
        assert_eq!(pkids, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_spooled_body_becomes_a_batch_of_its_lines_without_acks() {
        let b = Batch::from_body("a f=1 1\nb f=2 2\n".into());
        assert_eq!((b.len(), b.line(1), b.ack(0).is_none()), (2, "b f=2 2", true));
        assert!(Batch::from_body(String::new()).is_empty());
    }

    #[test]
    fn taking_the_acks_empties_the_batch_and_keeps_its_buffers() {
        let mut b = Batch::with_capacity(4);
        for i in 0..4u16 {
            b.push_with(tok(i), |out| out.push_str(&format!("m f={i}i 1\n")));
        }
        b.push_with(None, |out| out.push_str("fire_incident x=1i 2"));
        let held = b.capacity_bytes();
        let pkids: Vec<u16> = b.take_acks().into_iter().map(|t| t.pkid()).collect();
        assert_eq!(pkids, vec![0, 1, 2, 3]);
        assert!(b.is_empty() && b.body().is_empty());
        assert_eq!(b.capacity_bytes(), held);
        b.push_with(tok(7), |out| out.push_str("m f=7i 1"));
        assert_eq!((b.len(), b.line(0), b.ack(0).map(AckToken::pkid)), (1, "m f=7i 1", Some(7)));
    }

    #[test]
    fn a_sized_batch_fits_its_body_to_its_lines_instead_of_doubling() {
        let line = format!("smoke,{} obscuration_db_m=0.12 1700000000000\n", "t=x".repeat(80));
        let mut b = Batch::with_capacity(5_000);
        for _ in 0..5_000 {
            b.push_with(None, |out| out.push_str(&line));
        }
        let (need, cap) = (line.len() * 5_000, b.body.capacity());
        assert!(cap >= need && cap <= need + need / 8, "{cap} bytes for {need}");
    }

    #[test]
    fn a_sized_batch_of_lines_growing_longer_is_not_doubled() {
        // 100 lines of 100 bytes, then 4,900 of 300: 1.48 MB, which doubling makes 2 MB.
        let mut b = Batch::with_capacity(5_000);
        let mut need = 0;
        for i in 0..5_000 {
            let line = format!("{}\n", if i < 100 { "s" } else { "l" }.repeat(if i < 100 { 99 } else { 299 }));
            need += line.len();
            b.push_with(None, |out| out.push_str(&line));
        }
        let cap = b.body.capacity();
        assert!(cap >= need && cap <= need + need / 5, "{cap} bytes for {need}");
    }

    #[test]
    fn a_single_line_batch_does_not_split_further() {
        let mut b = Batch::new();
        b.push_with(tok(9), |out| out.push_str("m f=1i 1\n"));
        let (a, c) = b.split();
        assert_eq!((a.len(), c.len()), (1, 0));
    }
}
