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
