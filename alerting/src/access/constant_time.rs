//! Constant-time comparison of secrets (API tokens, broker passwords): the time depends only on
//! the lengths, so neither timing nor an early exit tells how much of a guess matched.

/// Constant-time equality: the time depends only on the lengths, never on where bytes differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, &x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(!x);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}
