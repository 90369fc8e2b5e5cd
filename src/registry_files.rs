//! Which registry `run` and `check-config` load: the configured files, or — when no registry was
//! configured and the default files (`deploy/registry/*.csv`, relative to the working directory)
//! are absent — an empty registry, so `firegrid run` starts from any directory with no
//! configuration. A configured file that is missing is an error naming its key and the fix.

use std::path::{Path, PathBuf};

#[cfg(test)]
use firegrid_ingest::RegistryPaths;
use firegrid_ingest::{Registry, RegistryError};

use crate::Settings;

/// The registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegistryFilesError {
    /// A configured registry file does not exist.
    #[error(
        "{key} = \"{}\" ({set_by}): no such file (relative paths start at the working directory {}). Fix: set {key} \
         to your file (an absolute path is safest), run firegrid from the directory it is relative to, or generate \
         a registry with `firegrid simulate registry`",
        file.display(),
        cwd.display()
    )]
    Missing {
        /// The configuration key, e.g. `registry.devices`.
        key: &'static str,
        /// The path as configured.
        file: PathBuf,
        /// Where the registry was configured (the file or the environment variable).
        set_by: String,
        /// The working directory relative paths are resolved from.
        cwd: PathBuf,
    },
    /// A file exists but is unreadable or invalid (its own message names file, line and fix).
    #[error(transparent)]
    Invalid(#[from] RegistryError),
}

/// What was loaded.
#[derive(Debug)]
pub struct LoadedRegistry {
    /// The registry (empty when `defaulted_empty`).
    pub registry: Registry,
    /// No registry was configured and the default files are absent: every device is unregistered.
    pub defaulted_empty: bool,
}

/// Loads the registry the settings name (see the module documentation).
pub fn load(settings: &Settings) -> Result<LoadedRegistry, RegistryFilesError> {
    let paths = &settings.registry;
    let files = [
        ("registry.devices", &paths.devices),
        ("registry.stations", &paths.stations),
        ("registry.grids", &paths.grids),
    ];
    match &settings.registry_set_by {
        None if files.iter().all(|(_, f)| !f.exists()) => {
            Ok(LoadedRegistry { registry: Registry::default(), defaulted_empty: true })
        }
        set_by => {
            let set_by = set_by.clone().unwrap_or_else(|| "the default".to_owned());
            if let Some((key, file)) = files.iter().find(|(_, f)| !f.exists()) {
                return Err(missing(key, file, set_by));
            }
            Ok(LoadedRegistry { registry: Registry::load(paths)?, defaulted_empty: false })
        }
    }
}

fn missing(key: &'static str, file: &Path, set_by: String) -> RegistryFilesError {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    RegistryFilesError::Missing { key, file: file.to_owned(), set_by, cwd }
}

/// Paths that exist nowhere, for tests of the empty default.
#[cfg(test)]
fn absent(dir: &Path) -> RegistryPaths {
    RegistryPaths::in_dir(&dir.join("absent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(paths: RegistryPaths, set_by: Option<&str>) -> Settings {
        let mut s = crate::Config::standalone().validate().expect("defaults validate");
        s.registry = paths;
        s.registry_set_by = set_by.map(str::to_owned);
        s
    }

    #[test]
    fn an_unconfigured_registry_whose_default_files_are_absent_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loaded = load(&settings(absent(dir.path()), None)).expect("empty registry");
        assert!(loaded.defaulted_empty);
        assert_eq!(loaded.registry.device_count(), 0);
    }

    #[test]
    fn a_configured_registry_file_that_is_missing_names_its_key_where_it_was_set_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = load(&settings(absent(dir.path()), Some("set in /etc/firegrid.toml"))).expect_err("missing");
        let msg = e.to_string();
        assert!(msg.starts_with("registry.devices = \""), "{msg}");
        assert!(msg.contains("set in /etc/firegrid.toml") && msg.contains("Fix: set registry.devices"), "{msg}");
        assert!(!msg.contains("os error"), "{msg}");
    }

    #[test]
    fn an_unconfigured_registry_with_only_some_default_files_is_an_error_not_an_empty_registry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = absent(dir.path());
        std::fs::create_dir_all(dir.path().join("absent")).expect("mkdir");
        std::fs::write(&paths.stations, "x\n").expect("write");
        let e = load(&settings(paths, None)).expect_err("devices.csv missing beside stations.csv").to_string();
        assert!(e.starts_with("registry.devices = ") && e.contains("(the default)"), "{e}");
    }
}
