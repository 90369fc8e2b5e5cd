//! Handing back to the system the memory the C allocator keeps after a large free (issue 14).
//!
//! glibc's malloc returns freed memory to the system only from the top of each arena. A city
//! registry is a million small allocations; once a reload replaces it and the old one is freed,
//! its pages stay resident, held free inside the arena: measured at a million devices, RSS went
//! from 274 MiB before a SIGHUP reload to 400 MiB after it, for good, and back to 271 MiB after
//! one `malloc_trim(0)`. So whoever frees something that large asks for the pages back here.
//!
//! This crate is the workspace's one `unsafe` block (everything else forbids it): one call with
//! no arguments to check. Elsewhere than glibc it does nothing: musl and the other systems'
//! allocators have no such call and give large frees back themselves.
#![warn(unreachable_pub)]

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
