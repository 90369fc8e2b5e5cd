//! Exit codes of the `firegrid` command: 0 ok, 1 a runtime failure (a restart may help), 2 bad
//! configuration or usage (clap's own code for a bad command line). systemd's
//! `RestartPreventExitStatus=2` (deploy/systemd/firegrid.service) then keeps a bad configuration
//! from restart-looping while a lost broker or store still gets restarted.

use std::process::ExitCode;

use crate::config::LoadError;
use crate::run::RunError;

/// Exit code of a run that failed for a reason a restart may cure (a store, a port, a task).
pub const RUNTIME_FAILURE: u8 = 1;
/// Exit code of bad configuration or usage: the operator must fix something first.
pub const BAD_CONFIG: u8 = 2;

/// A failed command, with the class that picks its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Configuration, registry, tokens, certificates or command line: fix, then start again.
    Config(anyhow::Error),
    /// Anything else.
    Runtime(anyhow::Error),
}

impl Failure {
    /// The process exit code of this failure.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Config(_) => BAD_CONFIG,
            Failure::Runtime(_) => RUNTIME_FAILURE,
        }
    }

    /// The error, whatever its class.
    pub fn error(&self) -> &anyhow::Error {
        match self {
            Failure::Config(e) | Failure::Runtime(e) => e,
        }
    }

    /// The `ExitCode` to return from `main`.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Failure {
        Failure::Config(e.into())
    }
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Failure {
        if is_config(&e) {
            Failure::Config(e.into())
        } else {
            Failure::Runtime(e.into())
        }
    }
}

/// Whether `firegrid run` failed on something in its files (registry, tokens, users, TLS
/// material, webhook secrets) rather than on the world around it.
pub fn is_config(e: &RunError) -> bool {
    use firegrid_alerting::dispatch::StageError;
    use firegrid_ingest::store::influx::InfluxError;
    matches!(
        e,
        RunError::Registry(_)
            | RunError::RegistryFiles(_)
            | RunError::Tokens(_)
            | RunError::BrokerUsers(_)
            | RunError::Mqtt(_)
            | RunError::Store(InfluxError::CaFile(_))
            | RunError::Dispatch(StageError::Config(_) | StageError::Mqtt(_) | StageError::Webhook(_))
    )
}

/// Marks a result's error as bad configuration (exit code 2).
pub trait ConfigContext<T> {
    /// `Err(e)` becomes [`Failure::Config`].
    fn config(self) -> Result<T, Failure>;
    /// `Err(e)` becomes [`Failure::Runtime`].
    fn runtime(self) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> ConfigContext<T> for Result<T, E> {
    fn config(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::Config(e.into()))
    }
    fn runtime(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::Runtime(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_exit_2_and_failures_of_the_world_exit_1() {
        let reg = RunError::Tokens(firegrid_alerting::access::TokenError::NoFile);
        assert_eq!(Failure::from(reg).code(), 2);
        assert_eq!(Failure::from(RunError::TaskExited("writer")).code(), 1);
        let bind = RunError::Bind {
            addr: "127.0.0.1:1".parse().expect("addr"),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert_eq!(Failure::from(bind).code(), 1);
        let load = LoadError::Env { var: "FIREGRID_X".into(), message: "no such key".into() };
        assert_eq!(Failure::from(load).code(), 2);
    }
}
