//! The calls into glibc's allocator: each `unsafe` block is one call with no pointer argument,
//! allowed on that block only. Off glibc each function does nothing.

/// Asks the C allocator to return the free pages of every arena to the system; true when it gave
/// something back. It walks every arena under its lock, so call it after a large free, off any
/// latency-sensitive thread (it takes milliseconds, and threads allocating meanwhile wait).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_freed_memory() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and touches only glibc's own free lists, under the
    // arenas' locks; any thread may call it at any time.
    #[allow(unsafe_code)]
    let released = unsafe { libc::malloc_trim(0) };
    released == 1
}

/// Does nothing off glibc (see the crate documentation); false.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed_memory() -> bool {
    false
}

/// Bytes the C allocator holds free in all its arenas (`mallinfo2().fordblks`): freed by the
/// program, kept by the allocator, resident unless a trim gave their pages back. `None` off
/// glibc. It walks every arena's free lists under its lock: call it off latency-sensitive
/// threads, every few seconds at most.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn held_free() -> Option<u64> {
    // SAFETY: `mallinfo2` takes no argument and returns a plain struct by value; it reads glibc's
    // own bookkeeping under the arenas' locks, and any thread may call it at any time.
    #[allow(unsafe_code)]
    let info = unsafe { libc::mallinfo2() };
    Some(info.fordblks as u64)
}

/// `None`: off glibc there is nothing to ask (see the crate documentation).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn held_free() -> Option<u64> {
    None
}

/// Caps how many arenas the C allocator keeps at `arenas` (`mallopt(M_ARENA_MAX)`), unless the
/// operator set `MALLOC_ARENA_MAX`, which glibc has already read and which wins. glibc's default
/// is eight arenas per core: each thread that allocates may get an arena of its own, and memory
/// freed in one is kept there, resident, for the threads that share it. Call it first thing,
/// before any thread starts. True when the cap was set; false off glibc, when the environment
/// decides, or when glibc refused it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas(arenas: std::num::NonZeroUsize) -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    let arenas = libc::c_int::try_from(arenas.get()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `mallopt` takes two integers and sets one of glibc's own tunables under its lock;
    // any thread may call it at any time (arenas already made stay, new ones obey the cap).
    #[allow(unsafe_code)]
    let set = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    set == 1
}

/// Does nothing off glibc (see the crate documentation); false.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas(_arenas: std::num::NonZeroUsize) -> bool {
    false
}
