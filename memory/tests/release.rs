//! The promise of `release_freed_memory`: pages a large free left resident leave the process.
//! One test in this binary, so no other test allocates while it reads the process's RSS.
#![allow(missing_docs)]

/// Resident set size of this process, bytes (`/proc/self/statm`, field 2, in pages of 4 KiB).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|f| f.parse().ok()).expect("rss field");
    pages * 4096
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_million_small_allocations_freed_leave_the_resident_set_once_released() {
    // Like a registry: a million ~100-byte records allocated on a thread of their own, and one
    // small allocation kept after each block of them, so the freed records sit below live
    // memory where glibc never returns them unasked.
    let (records, kept) = std::thread::spawn(|| {
        let mut records = Vec::with_capacity(1_000_000);
        let mut kept = Vec::new();
        for i in 0..1_000_000u32 {
            records.push(Box::new([i; 24]));
            if i % 1024 == 0 {
                kept.push(Box::new(i));
            }
        }
        (records, kept)
    })
    .join()
    .expect("allocating thread");
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
