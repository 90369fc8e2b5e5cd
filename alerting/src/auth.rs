//! API bearer tokens (DESIGN §7): the `[api] tokens_file` CSV `token,role,subject` (a header row
//! is optional; `#` starts a comment line). Roles `admin | dispatcher | station | grid`; the
//! subject of a station or grid token is its station_id or grid_id. A malformed row fails the load
//! with `file:line: what is wrong`. Presented tokens are compared in constant time against every
//! entry, so neither timing nor early exit tells how much of a token matched.

use std::path::{Path, PathBuf};

/// A token file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file cannot be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("{}:{line}: {message}", file.display())]
    Row {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything (and registry reloads, station availability).
    Admin,
    /// Sees and acts on every incident.
    Dispatcher,
    /// A station: sees and acts on incidents it was notified of.
    Station,
    /// A grid manager: sees and acts on incidents its grid was notified of.
    Grid,
}

impl Role {
    /// The file's name of the role.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Station => "station",
            Role::Grid => "grid",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        [Role::Admin, Role::Dispatcher, Role::Station, Role::Grid].into_iter().find(|r| r.as_str() == s)
    }
}

/// Who presented a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Role.
    pub role: Role,
    /// Station id, grid id, or a free name for admin/dispatcher tokens.
    pub subject: String,
}

impl Principal {
    /// Sees every incident.
    pub fn sees_all(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Dispatcher)
    }

    /// The audit trail's name: `role:subject`.
    pub fn actor(&self) -> String {
        if self.subject.is_empty() {
            self.role.as_str().to_owned()
        } else {
            format!("{}:{}", self.role.as_str(), self.subject)
        }
    }
}

/// Shortest token accepted (guessing must be hopeless).
pub const MIN_TOKEN_LEN: usize = 16;

/// The loaded tokens.
#[derive(Clone, Default)]
pub struct TokenSet {
    entries: Vec<(Vec<u8>, Principal)>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets.
        f.debug_struct("TokenSet").field("tokens", &self.entries.len()).finish()
    }
}

impl TokenSet {
    /// Loads and checks the token file.
    pub fn load(path: &Path) -> Result<TokenSet, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io { file: path.to_owned(), source })?;
        TokenSet::parse(path, &text)
    }

    /// Parses the file's text; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<TokenSet, TokenError> {
        let mut set = TokenSet::default();
        let err = |line: u64, message: String| TokenError::Row { file: path.to_owned(), line, message };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        for (i, rec) in reader.records().enumerate() {
            let rec = rec.map_err(|e| {
                let line = e.position().map_or(i as u64 + 1, |p| p.line());
                err(line, format!("not CSV: {e}"))
            })?;
            let line = rec.position().map_or(i as u64 + 1, |p| p.line());
            if rec.iter().all(str::is_empty) {
                continue;
            }
            if i == 0 && rec.get(0) == Some("token") {
                continue;
            }
            if rec.len() != 3 {
                return Err(err(line, format!("expected 3 columns token,role,subject, found {}", rec.len())));
            }
            let (token, role, subject) = (&rec[0], &rec[1], &rec[2]);
            if token.len() < MIN_TOKEN_LEN || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(err(line, format!("token must be at least {MIN_TOKEN_LEN} visible characters")));
            }
            let role = Role::parse(role)
                .ok_or_else(|| err(line, format!("unknown role `{role}`: use admin, dispatcher, station or grid")))?;
            if matches!(role, Role::Station | Role::Grid) && subject.is_empty() {
                return Err(err(line, format!("a {} token needs its {}_id as subject", role.as_str(), role.as_str())));
            }
            if set.entries.iter().any(|(t, _)| t.as_slice() == token.as_bytes()) {
                return Err(err(line, "duplicate token".to_owned()));
            }
            set.entries.push((token.as_bytes().to_vec(), Principal { role, subject: subject.to_owned() }));
        }
        Ok(set)
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No tokens: every request is refused.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal of a presented token, compared in constant time against every entry.
    pub fn authenticate(&self, presented: &str) -> Option<&Principal> {
        let presented = presented.as_bytes();
        let mut found = None;
        for (token, principal) in &self.entries {
            if ct_eq(token, presented) {
                found = Some(principal);
            }
        }
        found
    }
}

/// Constant-time equality: the time depends only on the lengths, never on where bytes differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, &x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(!x);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FILE: &str = "token,role,subject\n\
        # the dispatcher on duty\n\
        dispatch-0123456789abcdef,dispatcher,duty\n\
        station-0123456789abcdef,station,m-1\n";

    #[test]
    fn tokens_authenticate_to_their_role_and_subject() {
        let set = TokenSet::parse(Path::new("tokens.csv"), FILE).unwrap();
        assert_eq!(set.len(), 2);
        let p = set.authenticate("station-0123456789abcdef").unwrap();
        assert_eq!((p.role, p.subject.as_str()), (Role::Station, "m-1"));
        assert!(set.authenticate("station-0123456789abcdeX").is_none());
        assert!(set.authenticate("station-0123456789abcde").is_none());
        assert!(set.authenticate("").is_none());
    }

    #[test]
    fn a_bad_row_names_the_file_and_line() {
        let cases = [
            ("token,role,subject\nshort,admin,x\n", "tokens.csv:2: token must be"),
            ("aaaaaaaaaaaaaaaaaaaa,king,x\n", "tokens.csv:1: unknown role `king`"),
            ("aaaaaaaaaaaaaaaaaaaa,station,\n", "tokens.csv:1: a station token needs"),
            ("aaaaaaaaaaaaaaaaaaaa,admin\n", "tokens.csv:1: expected 3 columns"),
            ("aaaaaaaaaaaaaaaaaaaa,admin,a\naaaaaaaaaaaaaaaaaaaa,admin,b\n", "tokens.csv:2: duplicate token"),
        ];
        for (text, want) in cases {
            let e = TokenSet::parse(Path::new("tokens.csv"), text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e:?} should start with {want:?}");
        }
    }

    #[test]
    fn the_debug_form_hides_the_tokens() {
        let set = TokenSet::parse(Path::new("t"), FILE).unwrap();
        assert!(!format!("{set:?}").contains("0123456789"));
    }
}
