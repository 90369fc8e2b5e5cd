//! Identifiers the wire contract and the registry share (DESIGN §2, §3): device ids and the
//! GB/T 2260 division codes. A leaf, so that the topic parser, the registry loader and the
//! configuration check them with the same rules.

/// True for the characters a device id may hold (`A-Z a-z 0-9 _ . : -`).
pub(crate) fn is_device_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')
}

/// True when `id` is a valid device id: 1–64 characters of `A-Z a-z 0-9 _ . : -`.
pub(crate) fn is_valid_device_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(is_device_id_byte)
}

/// True when `s` is exactly `len` ASCII digits.
pub(crate) fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// True when `code` is a 6-digit county code.
pub(crate) fn is_county_code(code: &str) -> bool {
    all_digits(code, 6)
}

/// True when `code` is a 9-digit township code.
pub(crate) fn is_township_code(code: &str) -> bool {
    all_digits(code, 9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_codes_follow_the_contract_lengths_and_alphabets() {
        assert!(is_valid_device_id("sd-000017") && is_valid_device_id("a.b:c_D-1"));
        assert!(is_valid_device_id(&"a".repeat(64)) && !is_valid_device_id(&"a".repeat(65)));
        for bad in ["", "a b", "烟感", "a/b", "a+b", "a#"] {
            assert!(!is_valid_device_id(bad), "{bad}");
        }
        assert!(is_county_code("500112") && !is_county_code("50011") && !is_county_code("50011x"));
        assert!(is_township_code("500112002") && !is_township_code("500112"));
    }
}
