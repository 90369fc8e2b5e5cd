//! Handing back to the system the memory the C allocator keeps after a large free (issue 14).
//!
//! glibc's malloc returns freed memory to the system only from the top of each arena. A city
//! registry is a million small allocations; once a reload replaces it and the old one is freed,
//! its pages stay resident, held free inside the arena: measured at a million devices, RSS went
//! from 274 MiB before a SIGHUP reload to 400 MiB after it, for good, and back to 271 MiB after
//! one `malloc_trim(0)`. So whoever frees something that large asks for the pages back here, and
//! the service's memory keeper asks every few seconds how much the allocator holds free and
//! trims once enough was freed (the start-up load's temporaries, a drain's buffers). The
//! `firegrid` process also caps glibc's arenas at one per core (glibc's default is eight per
//! core): memory freed in a thread's arena stays resident there, and with the registry load's
//! threads and the blocking pool's the 5,000-device drain peaked at 38–39 MiB against 35 MiB
//! with the cap on a 2-core machine.
//!
//! Layout:
//! - `glibc` — the edge: the calls into the C allocator (`malloc_trim`, `mallinfo2`, `mallopt`), the
//!   workspace's only `unsafe` blocks (everything else forbids it). Elsewhere than glibc they
//!   do nothing: musl and the other systems' allocators have no such calls and give large frees
//!   back themselves;
//! - `trim_policy` — pure: when the memory held free is worth a trim.
#![warn(unreachable_pub)]

mod glibc;
mod trim_policy;

pub use glibc::{held_free, limit_arenas, release_freed_memory};
pub use trim_policy::TrimPolicy;
