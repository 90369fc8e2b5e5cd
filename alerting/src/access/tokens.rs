//! API bearer tokens (DESIGN §7): the `[api] tokens_file` CSV `token,role,subject` (a header row
//! is optional; `#` starts a comment line). Roles `admin | dispatcher | station | grid`; the
//! subject of a station or grid token is its station_id or grid_id. A malformed row fails the load
//! with `file:line: what is wrong`; a file group or others may read is refused with the
//! `chmod 600` hint ([`super::private_file`]). Presented tokens are compared in constant time
//! against every entry, so neither timing nor early exit tells how much of a token matched.
//!
//! The routers share one [`SharedTokens`]: `reload` (on SIGHUP) swaps in a whole new set, or keeps
//! the old one when the file is bad.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::constant_time::ct_eq;
use super::private_file::{read_private, secret_rows, PrivateFileError};
use crate::incident::Recipient;

/// A token file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file cannot be read, or group or others may read it.
    #[error(transparent)]
    File(#[from] PrivateFileError),
    /// No tokens file is configured (nothing to reload).
    #[error("no tokens file to load")]
    NoFile,
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

named_enum!(
    /// Who is asking: a token's role, or the sender an acknowledgement topic names
    /// (`ack/{station_id}` is a station, `ack/grid/{grid_id}` a grid manager).
    pub enum CallerRole {
        /// Everything (and registry reloads, station availability).
        Admin => "admin",
        /// Sees and acts on every incident.
        Dispatcher => "dispatcher",
        /// A station: sees and acts on incidents it was notified of.
        Station => "station",
        /// A grid manager: sees and acts on incidents its grid was notified of.
        Grid => "grid",
    }
);

/// Who presented a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub(crate) role: CallerRole,
    /// Station id, grid id, or a free name for admin/dispatcher tokens.
    pub(crate) subject: String,
}

impl Principal {
    /// Sees every incident.
    pub(crate) fn sees_all(&self) -> bool {
        matches!(self.role, CallerRole::Admin | CallerRole::Dispatcher)
    }

    /// The station or grid a station or grid token stands for.
    pub(crate) fn recipient(&self) -> Option<Recipient> {
        match self.role {
            CallerRole::Station => Some(Recipient::Station(self.subject.clone())),
            CallerRole::Grid => Some(Recipient::Grid(self.subject.clone())),
            CallerRole::Admin | CallerRole::Dispatcher => None,
        }
    }

    /// Whether it may see this incident: admin and dispatcher tokens every one, a station or grid
    /// those it was notified of.
    pub(crate) fn may_see(&self, inc: &crate::incident::Incident) -> bool {
        self.sees_all() || self.recipient().is_some_and(|r| inc.was_notified(&r))
    }

    /// The audit trail's name: `role:subject`.
    pub(crate) fn actor(&self) -> String {
        if self.subject.is_empty() {
            self.role.as_str().to_owned()
        } else {
            format!("{}:{}", self.role.as_str(), self.subject)
        }
    }
}

/// Shortest token accepted (guessing must be hopeless).
const MIN_TOKEN_LEN: usize = 16;

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
    /// Loads and checks the token file (refused when group or others may read it).
    pub fn load(path: &Path) -> Result<TokenSet, TokenError> {
        TokenSet::parse(path, &read_private(path)?)
    }

    /// Parses the file's text; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<TokenSet, TokenError> {
        let mut set = TokenSet::default();
        let err = |line: u64, message: String| TokenError::Row { file: path.to_owned(), line, message };
        for row in secret_rows(text, "token") {
            let (line, rec) = row.map_err(|(line, message)| err(line, message))?;
            if rec.len() != 3 {
                return Err(err(line, format!("expected 3 columns token,role,subject, found {}", rec.len())));
            }
            let (token, role, subject) = (&rec[0], &rec[1], &rec[2]);
            if token.len() < MIN_TOKEN_LEN || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(err(line, format!("token must be at least {MIN_TOKEN_LEN} visible characters")));
            }
            let role = CallerRole::parse(role)
                .ok_or_else(|| err(line, format!("unknown role `{role}`: use admin, dispatcher, station or grid")))?;
            if matches!(role, CallerRole::Station | CallerRole::Grid) && subject.is_empty() {
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
    pub(crate) fn authenticate(&self, presented: &str) -> Option<&Principal> {
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

/// The tokens in force, shared by every router: [`SharedTokens::reload`] replaces the whole set at
/// once (a request sees the old set or the new one, never a mix), and a bad file leaves the old
/// set in force. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct SharedTokens {
    current: Arc<ArcSwap<TokenSet>>,
    file: Option<Arc<PathBuf>>,
}

impl From<TokenSet> for SharedTokens {
    /// A fixed set (no file to reload from).
    fn from(set: TokenSet) -> SharedTokens {
        SharedTokens { current: Arc::new(ArcSwap::from_pointee(set)), file: None }
    }
}

impl SharedTokens {
    /// `set`, reloaded from `file` by [`SharedTokens::reload`] (the file need not exist yet).
    pub fn with_file(set: TokenSet, file: &Path) -> SharedTokens {
        SharedTokens { current: Arc::new(ArcSwap::from_pointee(set)), file: Some(Arc::new(file.to_owned())) }
    }

    /// Loads `file` (see [`TokenSet::load`]) and keeps it for reloads.
    pub fn load(file: &Path) -> Result<SharedTokens, TokenError> {
        Ok(SharedTokens::with_file(TokenSet::load(file)?, file))
    }

    /// Reads the file again and, when it is valid, puts its tokens in force; returns how many.
    /// On an error the tokens in force stay as they were.
    pub fn reload(&self) -> Result<usize, TokenError> {
        let file = self.file.as_deref().ok_or(TokenError::NoFile)?;
        let set = TokenSet::load(file)?;
        let n = set.len();
        self.current.store(Arc::new(set));
        Ok(n)
    }

    /// The principal of a presented token among the tokens in force (see [`TokenSet::authenticate`]).
    pub(crate) fn authenticate(&self, presented: &str) -> Option<Principal> {
        self.current.load().authenticate(presented).cloned()
    }
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
        assert_eq!((p.role, p.subject.as_str()), (CallerRole::Station, "m-1"));
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

    #[cfg(unix)]
    #[test]
    fn a_reload_swaps_the_whole_set_and_a_bad_file_keeps_the_old_one() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens.csv");
        super::super::private_file::write_private(&file, FILE).unwrap();
        let shared = SharedTokens::load(&file).unwrap();
        let router_copy = shared.clone();
        assert!(router_copy.authenticate("station-0123456789abcdef").is_some());
        super::super::private_file::write_private(&file, "fresh-0123456789abcdef,grid,g-1\n").unwrap();
        assert_eq!(shared.reload().unwrap(), 1);
        assert!(router_copy.authenticate("station-0123456789abcdef").is_none(), "a removed token is refused");
        assert_eq!(router_copy.authenticate("fresh-0123456789abcdef").unwrap().role, CallerRole::Grid);
        super::super::private_file::write_private(&file, "fresh-0123456789abcdef,king,x\n").unwrap();
        assert!(shared.reload().unwrap_err().to_string().contains("tokens.csv:1: unknown role"));
        std::fs::write(&file, FILE).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(shared.reload().unwrap_err().to_string().contains("chmod 600"));
        assert!(router_copy.authenticate("fresh-0123456789abcdef").is_some(), "failed reloads keep the old set");
        assert!(matches!(SharedTokens::from(TokenSet::default()).reload(), Err(TokenError::NoFile)));
    }

    #[test]
    fn the_debug_form_hides_the_tokens() {
        let set = TokenSet::parse(Path::new("t"), FILE).unwrap();
        assert!(!format!("{set:?}").contains("0123456789"));
    }
}
