//! The free text of a responder's action (DESIGN §6): the `note`, and `by` — who acted on the
//! station's behalf — recorded as `note (by who)` in the audit trail. The stored text is at most
//! [`MAX_NOTE_BYTES`]: an incident's audit trail is read by every dispatcher, stored forever and
//! sent to the console, so a note is a sentence, not a document (three notes of 1.9 MB once grew
//! one incident to 5.7 MB). Longer is refused (HTTP 400, a `note_too_long` dead letter on MQTT),
//! never cut and never stored. Pure.

/// Longest stored note (note and `by` together), in bytes of UTF-8.
pub(crate) const MAX_NOTE_BYTES: usize = 2048;

/// A note that is too long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("note is {bytes} bytes (with `by`); at most {MAX_NOTE_BYTES} bytes are kept per action")]
pub(crate) struct NoteTooLong {
    /// Bytes of the text that would have been stored.
    pub(crate) bytes: usize,
}

/// The text to store for `note` and `by` (trimmed), or why it is refused.
pub(crate) fn compose(note: &str, by: &str) -> Result<String, NoteTooLong> {
    let (note, by) = (note.trim(), by.trim());
    let text = if by.is_empty() { note.to_owned() } else { format!("{note} (by {by})").trim().to_owned() };
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteTooLong { bytes: text.len() });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_kept_with_who_acted_up_to_two_kilobytes() {
        assert_eq!(compose(" en route ", "王队长"), Ok("en route (by 王队长)".to_owned()));
        assert_eq!(compose("", "王队长"), Ok("(by 王队长)".to_owned()));
        assert_eq!(compose("  ", ""), Ok(String::new()));
        let max = "x".repeat(MAX_NOTE_BYTES);
        assert_eq!(compose(&max, ""), Ok(max.clone()));
        assert_eq!(compose(&format!("{max}y"), ""), Err(NoteTooLong { bytes: MAX_NOTE_BYTES + 1 }));
        // Bytes, not characters: 683 three-byte characters are 2049 bytes.
        assert!(compose(&"火".repeat(683), "").is_err());
        assert!(compose(&"x".repeat(2000), &"y".repeat(100)).is_err(), "`by` counts too");
    }
}
