//! The embedded broker's users (`mqtt.embedded_users_file`, DESIGN §7): a CSV `username,password`
//! (a header row is optional, `#` starts a comment line) that only its owner may read (mode 0600,
//! refused otherwise with the `chmod 600` hint). With it the broker lets in only these clients;
//! a malformed row fails the load with `file:line: what is wrong`. Passwords are compared in
//! constant time, and a reload (SIGHUP) swaps the whole set or keeps the old one.
//!
//! The embedded broker has no per-topic ACLs: any user may publish anything, an acknowledgement
//! for any station included. Where stations connect over MQTT, use mosquitto or EMQX with the
//! ACLs of docs/operations.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use firegrid_alerting::access::ct_eq;
use firegrid_alerting::access::private_file::{read_private, secret_rows, PrivateFileError};

/// Shortest password accepted (guessing over MQTT must be hopeless).
pub(crate) const MIN_PASSWORD_LEN: usize = 16;

/// A users file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file cannot be read, or group or others may read it.
    #[error(transparent)]
    File(#[from] PrivateFileError),
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
    /// The file holds no user: nobody could connect.
    #[error("{}: no users (one `username,password` per line)", file.display())]
    Empty {
        /// The file.
        file: PathBuf,
    },
    /// No randomness for generated credentials.
    #[error("the operating system's random source failed: {0}")]
    Random(getrandom::Error),
}

/// The users of a loaded file.
#[derive(Clone, Default)]
pub struct BrokerUsers {
    entries: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for BrokerUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the passwords.
        f.debug_struct("BrokerUsers").field("users", &self.entries.len()).finish()
    }
}

impl BrokerUsers {
    /// One user (firegrid's own internal credentials).
    pub(crate) fn single(username: &str, password: &str) -> BrokerUsers {
        BrokerUsers { entries: vec![(username.to_owned(), password.as_bytes().to_vec())] }
    }

    /// Loads and checks the users file (refused when group or others may read it).
    pub fn load(path: &Path) -> Result<BrokerUsers, UsersError> {
        BrokerUsers::parse(path, &read_private(path)?)
    }

    /// Parses the file's text; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<BrokerUsers, UsersError> {
        let mut users = BrokerUsers::default();
        let err = |line: u64, message: String| UsersError::Row { file: path.to_owned(), line, message };
        for row in secret_rows(text, "username") {
            let (line, rec) = row.map_err(|(line, message)| err(line, message))?;
            if rec.len() != 2 {
                return Err(err(line, format!("expected 2 columns username,password, found {}", rec.len())));
            }
            let (user, password) = (&rec[0], &rec[1]);
            if user.is_empty() || user.len() > 128 || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(err(line, "username must be 1-128 visible characters".to_owned()));
            }
            if password.chars().count() < MIN_PASSWORD_LEN {
                return Err(err(line, format!("password of `{user}` must be at least {MIN_PASSWORD_LEN} characters")));
            }
            if users.entries.iter().any(|(u, _)| u == user) {
                return Err(err(line, format!("duplicate username `{user}`")));
            }
            users.entries.push((user.to_owned(), password.as_bytes().to_vec()));
        }
        if users.entries.is_empty() {
            return Err(UsersError::Empty { file: path.to_owned() });
        }
        Ok(users)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No users.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `username` with `password` may connect (the password compared in constant time).
    pub fn check(&self, username: &str, password: &str) -> bool {
        self.entries.iter().any(|(u, p)| u == username && ct_eq(p, password.as_bytes()))
    }
}

/// The users in force, shared with the broker's authentication and replaced by
/// [`SharedUsers::reload`].
#[derive(Debug, Clone)]
pub(crate) struct SharedUsers {
    current: Arc<ArcSwap<BrokerUsers>>,
    file: Option<Arc<PathBuf>>,
}

impl SharedUsers {
    /// A fixed set (nothing to reload).
    pub(crate) fn fixed(users: BrokerUsers) -> SharedUsers {
        SharedUsers { current: Arc::new(ArcSwap::from_pointee(users)), file: None }
    }

    /// Loads `file` and keeps it for reloads.
    pub(crate) fn load(file: &Path) -> Result<SharedUsers, UsersError> {
        let users = BrokerUsers::load(file)?;
        Ok(SharedUsers { current: Arc::new(ArcSwap::from_pointee(users)), file: Some(Arc::new(file.to_owned())) })
    }

    /// Reads the file again and puts its users in force; on an error the old ones stay. `None`
    /// without a file.
    pub(crate) fn reload(&self) -> Option<Result<usize, UsersError>> {
        let file = self.file.as_deref()?;
        Some(BrokerUsers::load(file).map(|users| {
            let n = users.len();
            self.current.store(Arc::new(users));
            n
        }))
    }

    /// Whether `username` with `password` may connect now.
    pub(crate) fn check(&self, username: &str, password: &str) -> bool {
        self.current.load().check(username, password)
    }
}

/// 128 random bits from the OS, as 32 hex characters (generated passwords and tokens).
/// `getrandom` asks the kernel (getrandom(2), which waits for the pool to be seeded at boot),
/// with no file descriptor and no dependence on `/dev` being mounted in a container.
pub(crate) fn random_secret() -> Result<String, UsersError> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).map_err(UsersError::Random)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FILE: &str =
        "username,password\n# the demo's publisher\npublisher, 0123456789abcdef0123\nmst-1,station-password-1234\n";

    #[test]
    fn users_log_in_with_their_own_password_only() {
        let users = BrokerUsers::parse(Path::new("users.csv"), FILE).unwrap();
        assert_eq!(users.len(), 2);
        assert!(users.check("publisher", "0123456789abcdef0123"));
        assert!(!users.check("publisher", "0123456789abcdef012"));
        assert!(!users.check("publisher", "station-password-1234"));
        assert!(!users.check("nobody", "0123456789abcdef0123"));
        assert!(!users.check("", ""));
        assert!(!format!("{users:?}").contains("0123"), "Debug hides the passwords");
    }

    #[test]
    fn a_bad_row_names_the_file_and_line() {
        let cases = [
            ("username,password\nu1,short\n", "users.csv:2: password of `u1` must be at least 16"),
            ("u1\n", "users.csv:1: expected 2 columns"),
            ("a b,0123456789abcdef\n", "users.csv:1: username must be"),
            ("u,0123456789abcdef\nu,0123456789abcdeg\n", "users.csv:2: duplicate username `u`"),
            ("# nobody\n", "users.csv: no users"),
        ];
        for (text, want) in cases {
            let e = BrokerUsers::parse(Path::new("users.csv"), text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e:?} should start with {want:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_reload_swaps_the_users_and_a_bad_file_keeps_them() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users.csv");
        firegrid_alerting::access::private_file::write_private(&file, FILE).unwrap();
        let shared = SharedUsers::load(&file).unwrap();
        let broker_copy = shared.clone();
        firegrid_alerting::access::private_file::write_private(&file, "newcomer,newcomer-password-0123\n").unwrap();
        assert_eq!(shared.reload().unwrap().unwrap(), 1);
        assert!(broker_copy.check("newcomer", "newcomer-password-0123"));
        assert!(!broker_copy.check("publisher", "0123456789abcdef0123"), "a removed user is refused");
        firegrid_alerting::access::private_file::write_private(&file, "x,short\n").unwrap();
        assert!(shared.reload().unwrap().unwrap_err().to_string().contains("users.csv:1:"));
        firegrid_alerting::access::private_file::write_private(&file, "other,other-password-01234\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(shared.reload().unwrap().unwrap_err().to_string().contains("chmod 600"));
        assert!(broker_copy.check("newcomer", "newcomer-password-0123"), "failed reloads keep the users");
        assert!(!broker_copy.check("other", "other-password-01234"));
        assert!(SharedUsers::fixed(BrokerUsers::single("a", "b")).reload().is_none());
    }

    #[test]
    fn generated_secrets_are_long_and_differ() {
        let (a, b) = (random_secret().unwrap(), random_secret().unwrap());
        assert!(a.len() == 32 && a != b);
    }
}
