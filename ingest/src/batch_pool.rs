//! Batches handed back by the writer once their lines are stored, for the ingest task to fill
//! again: a drain reuses the same few buffers — each grown once to the size its lines need —
//! instead of allocating a megabyte-sized batch per flush on one thread and freeing it on
//! another, which kept the allocator's arenas fragmented and the process's peak RSS up
//! (issue 14).
//!
//! The pool keeps at most as many batches as can be in flight at once (the writer's queue, the
//! one being written and the one being filled); a batch grown far past the usual size (a
//! bisected or spooled one) is dropped rather than kept.

use std::sync::{Arc, Mutex, PoisonError};

use crate::batch::Batch;

/// A shared pool of empty batches (cheap to clone: clones share the pool).
#[derive(Debug, Clone)]
pub struct BatchPool {
    free: Arc<Mutex<Vec<Batch>>>,
    lines: usize,
    keep: usize,
}

/// A new batch's line capacity is never more than this, whatever the settings say.
const MAX_LINES: usize = 8192;

impl BatchPool {
    /// A pool of batches sized for `lines` lines (capped at 8,192: a batch grows past it when
    /// it must) keeping at most `keep` empty batches.
    pub fn new(lines: usize, keep: usize) -> BatchPool {
        BatchPool { free: Arc::default(), lines: lines.clamp(1, MAX_LINES), keep }
    }

    /// An empty batch: a returned one when there is one, else a new one.
    pub(crate) fn take(&self) -> Batch {
        let pooled = self.free.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match pooled {
            Some(mut b) => {
                b.clear();
                b
            }
            None => Batch::with_capacity(self.lines),
        }
    }

    /// Returns an emptied batch for reuse (dropped when the pool is full or the batch grew to
    /// more than four times the usual size).
    pub(crate) fn give(&self, mut batch: Batch) {
        batch.clear();
        if batch.capacity_bytes() > self.lines.saturating_mul(4 * 400) {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.keep {
            free.push(batch);
        }
    }

    /// Empty batches held.
    pub fn held(&self) -> usize {
        self.free.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_batch_comes_back_empty_with_its_buffers_and_the_pool_keeps_no_more_than_asked() {
        let pool = BatchPool::new(100, 2);
        let mut b = pool.take();
        for i in 0..300 {
            b.push_with(None, |out| out.push_str(&format!("m f={i}i 1")));
        }
        let grown = b.capacity_bytes();
        pool.give(b);
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!(again.capacity_bytes(), grown, "the grown buffers are reused");
        for _ in 0..3 {
            pool.give(Batch::with_capacity(10));
        }
        assert_eq!(pool.held(), 2);
        pool.take();
        pool.take();
        pool.give(Batch::with_capacity(100 * 40));
        assert_eq!(pool.held(), 0, "a batch grown far past the usual size is not kept");
    }
}
