//! What the memory crate's tests share: the process's resident set, and a registry-like
//! allocation pattern whose freed part glibc keeps resident unless asked.

/// Resident set size of this process, bytes (`/proc/self/statm`, field 2, in pages of 4 KiB).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|f| f.parse().ok()).expect("rss field");
    pages * 4096
}

/// Like a registry: a million ~100-byte records allocated on a thread of their own, and one
/// small allocation kept after each block of 1,024 of them, so once the records are freed they
/// sit below live memory, where glibc never returns them unasked. Returns (records, kept).
#[allow(clippy::vec_box)] // each record its own small allocation is the point
pub fn registry_like_records() -> (Vec<Box<[u32; 24]>>, Vec<Box<u32>>) {
    std::thread::spawn(|| {
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
    .expect("allocating thread")
}
