//! The promise of `release_freed_memory`: pages a large free left resident leave the process.
//! One test in this binary, so no other test allocates while it reads the process's RSS.
#![allow(missing_docs)]

mod support;

use support::{registry_like_records, rss_bytes};

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_million_small_allocations_freed_leave_the_resident_set_once_released() {
    let (records, kept) = registry_like_records();
    let live = rss_bytes();
    drop(records);
    let freed = rss_bytes();
    assert!(live - freed.min(live) < 40 << 20, "glibc keeps most of a freed million small allocations resident");
    assert!(firegrid_memory::release_freed_memory(), "the allocator gave pages back");
    let released = rss_bytes();
    assert!(
        freed.saturating_sub(released) > 80 << 20,
        "about 100 MiB of freed records leave the resident set: {freed} -> {released} bytes"
    );
    drop(kept);
}
