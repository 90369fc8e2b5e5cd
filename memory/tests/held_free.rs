//! The promise of `held_free`: memory the program freed is counted as held by the allocator, and
//! stays counted once a trim gave its pages back (what the memory keeper's policy relies on).
//! One test in this binary, so no other test allocates while it reads the process's memory.
#![allow(missing_docs)]

/// Resident set size of this process, bytes (`/proc/self/statm`, field 2, in pages of 4 KiB).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|f| f.parse().ok()).expect("rss field");
    pages * 4096
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn freed_records_are_counted_held_free_and_stay_counted_once_their_pages_are_released() {
    // A million ~100-byte records, one small allocation kept after each block of them so the
    // freed records sit below live memory (as a registry's do).
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
