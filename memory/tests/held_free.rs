//! The promise of `held_free`: memory the program freed is counted as held by the allocator, and
//! stays counted once a trim gave its pages back (what the memory keeper's policy relies on).
//! One test in this binary, so no other test allocates while it reads the process's memory.
#![allow(missing_docs)]

mod support;

use support::{registry_like_records, rss_bytes};

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn freed_records_are_counted_held_free_and_stay_counted_once_their_pages_are_released() {
    // A million ~100-byte records, one small allocation kept after each block of them so the
    // freed records sit below live memory (as a registry's do).
    let (records, kept) = registry_like_records();
    let live = firegrid_memory::held_free().expect("glibc answers");
    drop(records);
    let freed = firegrid_memory::held_free().expect("glibc answers");
    assert!(freed.saturating_sub(live) > 80 << 20, "a million freed records are held free: {live} -> {freed} bytes");
    let rss_freed = rss_bytes();
    assert!(firegrid_memory::release_freed_memory(), "the allocator gave pages back");
    let rss_released = rss_bytes();
    let released = firegrid_memory::held_free().expect("glibc answers");
    assert!(rss_freed.saturating_sub(rss_released) > 80 << 20, "the pages left: {rss_freed} -> {rss_released} bytes");
    assert!(
        released.saturating_sub(live) > 80 << 20,
        "released pages stay counted free (the trim policy's premise): {live} -> {released} bytes"
    );
    drop(kept);
}
