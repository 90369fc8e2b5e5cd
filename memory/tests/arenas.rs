//! The promise of `limit_arenas`: once capped, threads that allocate share the arenas there are
//! instead of each making its own (glibc's arenas other than the first are 64 MiB reservations
//! mapped without access beyond the part in use, which is how this test counts them). One test in
//! this binary, so no other test's threads make arenas while it counts.
#![allow(missing_docs)]

/// Anonymous mappings with no access of at least 1 MiB: the unused part of each glibc arena
/// other than the main one (thread stacks' guard pages are a few KiB).
fn reserved_arenas() -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    maps.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let range = f.next()?;
            let perms = f.next()?;
            let path = f.nth(3);
            let (a, b) = range.split_once('-')?;
            let size = u64::from_str_radix(b, 16).ok()? - u64::from_str_radix(a, 16).ok()?;
            (perms == "---p" && path.is_none() && size >= 1 << 20).then_some(())
        })
        .count()
}

/// Starts `n` threads that each allocate and keep small blocks while all are alive (so none can
/// take an arena another has let go of), then joins them.
fn allocate_on_threads(n: usize) {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let blocks: Vec<Box<[u8; 64]>> = (0..10_000).map(|_| Box::new([1u8; 64])).collect();
                barrier.wait();
                blocks.len()
            })
        })
        .collect();
    for t in threads {
        t.join().expect("allocating thread");
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn threads_allocating_at_once_make_no_new_arena_once_the_arenas_are_capped() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return; // the environment decides, as documented: nothing of ours to check
    }
    let before = reserved_arenas();
    assert!(firegrid_memory::limit_arenas(std::num::NonZeroUsize::MIN), "glibc takes the cap");
    allocate_on_threads(4);
    let after = reserved_arenas();
    // The harness's own thread may already have an arena: the cap stops any new one.
    assert!(after <= before, "no arena beyond the cap: {before} reserved regions before, {after} after");
}
