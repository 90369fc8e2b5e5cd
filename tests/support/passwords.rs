//! mosquitto password files made by the real `mosquitto_passwd` (Debian package `mosquitto`), for
//! tests of logins: [`MosquittoOptions::extra_config`](super::MosquittoOptions) takes
//! `password_file <path>`; clients that give a username must then give its password, while
//! anonymous ones stay allowed by the harness's `allow_anonymous true`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{ensure, Context, Result};

const MOSQUITTO_PASSWD_BIN: &str = "/usr/bin/mosquitto_passwd";

/// Writes `dir/passwd` with each `(user, password)` hashed by `mosquitto_passwd -b`.
pub fn password_file(dir: &Path, users: &[(&str, &str)]) -> Result<PathBuf> {
    let path = dir.join("passwd");
    std::fs::write(&path, "").context("creating the password file")?;
    for (user, password) in users {
        let status = Command::new(MOSQUITTO_PASSWD_BIN)
            .arg("-b")
            .arg(&path)
            .args([user, password])
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("running {MOSQUITTO_PASSWD_BIN}"))?;
        ensure!(status.success(), "mosquitto_passwd -b {user} failed: {status}");
    }
    Ok(path)
}
