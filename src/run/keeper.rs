//! The memory keeper: every few seconds asks the C allocator how much it holds free and, once
//! enough was freed since it last held the least ([`TrimPolicy`]), has it give those pages back
//! to the system (issue 14). glibc keeps freed memory resident: the registry load's CSV
//! temporaries at start-up, a drain's buffers, an old registry freed by its last reader.
//! Measured at a million devices, that was about a tenth of the steady RSS.
//!
//! Both calls walk the allocator's arenas under their locks, so they run on a blocking thread,
//! never on the runtime's workers. The keeper stops with the tree's `service` node.

use std::time::{Duration, Instant};

use firegrid_memory::TrimPolicy;
use prometheus::{IntCounter, IntGauge};
use tokio_util::sync::CancellationToken;

/// How often the keeper looks: the first look is at start (the registry load's temporaries).
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// Memory freed since the allocator last held the least that is worth a trim: a trim of a city's
/// heap takes milliseconds, and below this it gives back too little to matter.
const TRIM_THRESHOLD_BYTES: u64 = 16 << 20;

/// What the keeper reports to.
#[derive(Debug, Clone)]
pub(crate) struct KeeperMetrics {
    /// Trims run.
    pub(crate) trims: IntCounter,
    /// The free figure at the last look.
    pub(crate) free_bytes: IntGauge,
}

/// Runs until `stop` is cancelled; returns at once off glibc (nothing to ask).
pub(crate) async fn keep(metrics: KeeperMetrics, stop: CancellationToken) {
    let mut policy = TrimPolicy::new(TRIM_THRESHOLD_BYTES);
    let mut ticks = tokio::time::interval(LOOK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let looked = match tokio::task::spawn_blocking(move || look(policy)).await {
            Ok(Some(looked)) => looked,
            // Off glibc there is nothing to ask: the keeper has no work, by design.
            Ok(None) => return,
            Err(e) => {
                tracing::error!(event = "memory_keeper_failed", error = %e, "the memory keeper stopped: freed memory is no longer given back");
                return;
            }
        };
        policy = looked.policy;
        metrics.free_bytes.set(i64::try_from(looked.free_bytes).unwrap_or(i64::MAX));
        if let Some(trim) = looked.trim {
            metrics.trims.inc();
            tracing::info!(
                event = "memory_trimmed",
                free_bytes = looked.free_bytes,
                rss_before_bytes = trim.rss_before,
                rss_after_bytes = trim.rss_after,
                elapsed_ms = trim.elapsed.as_secs_f64() * 1000.0,
                "memory the allocator held free went back to the system"
            );
        }
    }
}

/// One look: the free figure, the policy after it, and the trim when one ran.
struct Looked {
    policy: TrimPolicy,
    free_bytes: u64,
    trim: Option<Trim>,
}

/// A trim: the resident set before and after (bytes; 0 where unreadable), and its duration.
struct Trim {
    rss_before: u64,
    rss_after: u64,
    elapsed: Duration,
}

/// Asks the allocator what it holds free and trims when the policy says so (blocking); `None`
/// off glibc.
fn look(mut policy: TrimPolicy) -> Option<Looked> {
    let free_bytes = firegrid_memory::held_free()?;
    if !policy.observe(free_bytes) {
        return Some(Looked { policy, free_bytes, trim: None });
    }
    let rss_before = resident_bytes();
    let started = Instant::now();
    firegrid_memory::release_freed_memory();
    let elapsed = started.elapsed();
    let rss_after = resident_bytes();
    let after = firegrid_memory::held_free().unwrap_or(free_bytes);
    policy.trimmed(after);
    Some(Looked { policy, free_bytes: after, trim: Some(Trim { rss_before, rss_after, elapsed }) })
}

/// This process's resident set, bytes (`/proc/self/statm`'s second field, pages of 4 KiB); 0 where
/// it cannot be read (the figure is only logged).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|pages| pages.parse::<u64>().ok()).map_or(0, |pages| pages * 4096)
}
