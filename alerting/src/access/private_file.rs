//! Files that hold secrets — the API tokens (`[api] tokens_file`) and the embedded broker's users
//! (`mqtt.embedded_users_file`) — must be private to their owner: a file that group or others may
//! read or write is refused, before its contents are read, with the `chmod 600` hint (a secret
//! other local users can read is a secret no longer, and one they can write lets them add an
//! admin). One exception, as PostgreSQL makes for its key files: a root-owned file may be
//! readable (only) by its group. That is how Kubernetes mounts a Secret for a pod with an
//! `fsGroup` (`root:<fsGroup>`, mode 0440 whatever `defaultMode` says).

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// A private file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    /// The file cannot be opened or read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Group or others may read or write it.
    #[error("{}: {problem} (mode {mode:04o}); it holds secrets: run `chmod 600 {}`", file.display(), file.display())]
    Exposed {
        /// The file.
        file: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Who may do what.
        problem: &'static str,
    },
}

/// What is wrong with permission bits `mode` of a file owned by `owner_uid`, if anything (pure).
pub(crate) fn exposure(mode: u32, owner_uid: u32) -> Option<&'static str> {
    let (group, others) = (mode & 0o070, mode & 0o007);
    if others != 0 {
        return Some("others may read or write it");
    }
    let root_group_read = owner_uid == 0 && group == 0o040;
    (group != 0 && !root_group_read).then_some("its group may read or write it")
}

/// Reads a private file: refused (before reading) when group or others may read or write it.
/// The permissions checked are those of the opened file, so a swap between check and read
/// changes nothing.
pub fn read_private(path: &Path) -> Result<String, PrivateFileError> {
    let io = |source| PrivateFileError::Io { file: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    check(path, &file.metadata().map_err(io)?)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io)?;
    Ok(text)
}

/// The data rows of a secret CSV file (tokens, broker users): `#` comments, blank rows and a
/// first row starting with `header` (the first column's name) skipped, fields trimmed, rows of
/// any width (the caller checks its columns). Each row comes with its 1-based line; a row that is
/// not CSV is an `Err` with its line and what is wrong.
pub fn secret_rows<'a>(
    text: &'a str,
    header: &'a str,
) -> impl Iterator<Item = Result<(u64, csv::StringRecord), (u64, String)>> + 'a {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    reader.into_records().enumerate().filter_map(move |(i, rec)| {
        let fallback = i as u64 + 1;
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => return Some(Err((e.position().map_or(fallback, |p| p.line()), format!("not CSV: {e}")))),
        };
        let blank = rec.iter().all(str::is_empty);
        let heading = i == 0 && rec.get(0) == Some(header);
        (!blank && !heading).then(|| Ok((rec.position().map_or(fallback, |p| p.line()), rec)))
    })
}

#[cfg(unix)]
fn check(path: &Path, meta: &std::fs::Metadata) -> Result<(), PrivateFileError> {
    use std::os::unix::fs::MetadataExt as _;
    let mode = meta.mode() & 0o777;
    match exposure(mode, meta.uid()) {
        Some(problem) => Err(PrivateFileError::Exposed { file: path.to_owned(), mode, problem }),
        None => Ok(()),
    }
}

#[cfg(not(unix))]
fn check(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), PrivateFileError> {
    Ok(())
}

/// Writes `text` to a new or existing file with mode 0600 (set before anything is written, and
/// again on an existing file).
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_may_read_a_private_file_except_root_owned_group_read() {
        let cases = [
            (0o600, 1000, None),
            (0o400, 1000, None),
            (0o700, 1000, None),
            (0o640, 1000, Some("its group may read or write it")),
            (0o620, 1000, Some("its group may read or write it")),
            (0o604, 1000, Some("others may read or write it")),
            (0o644, 1000, Some("others may read or write it")),
            (0o602, 0, Some("others may read or write it")),
            (0o640, 0, None),
            (0o440, 0, None),
            (0o660, 0, Some("its group may read or write it")),
            (0o644, 0, Some("others may read or write it")),
        ];
        for (mode, uid, want) in cases {
            assert_eq!(exposure(mode, uid), want, "mode {mode:o} owner {uid}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused_with_the_chmod_hint_and_a_written_one_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.csv");
        std::fs::write(&p, "x").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_private(&p).unwrap_err().to_string();
        assert!(e.contains("others may read") && e.contains("(mode 0644)") && e.contains("chmod 600"), "{e}");
        write_private(&p, "token").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_private(&p).unwrap(), "token");
    }
}
