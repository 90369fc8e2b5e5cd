//! The registry as the running service holds it: one [`Registry`] behind an atomic pointer,
//! replaced whole by a reload.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::{Registry, RegistryError, RegistryPaths};

/// The registry as the running service holds it: readers take a cheap snapshot per batch;
/// a reload swaps in a new registry atomically, so in-flight readings keep the snapshot they
/// were enriched with and nothing waits on a lock.
#[derive(Debug, Clone)]
pub struct SharedRegistry {
    paths: RegistryPaths,
    current: Arc<ArcSwap<Registry>>,
}

impl SharedRegistry {
    /// Loads the registry for the first time.
    pub fn load(paths: RegistryPaths) -> Result<SharedRegistry, RegistryError> {
        let reg = Registry::load(&paths)?;
        Ok(SharedRegistry { paths, current: Arc::new(ArcSwap::from_pointee(reg)) })
    }

    /// Wraps an already-built registry (tests, embedded use).
    pub fn from_registry(paths: RegistryPaths, reg: Registry) -> SharedRegistry {
        SharedRegistry { paths, current: Arc::new(ArcSwap::from_pointee(reg)) }
    }

    /// The current registry.
    pub fn snapshot(&self) -> Arc<Registry> {
        self.current.load_full()
    }

    /// Whether `snapshot` is still the registry in force: one atomic load, cheap enough to ask
    /// for every message, so a reload takes effect for the very next message.
    pub fn is_current(&self, snapshot: &Arc<Registry>) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.current.load()), Arc::as_ptr(snapshot))
    }

    /// Reloads from the files; on error the current registry stays in force. The registry it
    /// replaces is freed off the intake path (see [`retire`]).
    pub fn reload(&self) -> Result<Arc<Registry>, RegistryError> {
        let reg = Arc::new(Registry::load(&self.paths)?);
        let old = self.current.swap(reg.clone());
        retire(old);
        Ok(reg)
    }
}

/// How long a replaced registry is waited for: its readers let go of it with their next message
/// or engine tick, so this only bounds an idle reader.
const RETIRE_WAIT: Duration = Duration::from_secs(30);

/// Frees a replaced registry on a thread of its own once its readers have let go of it (each
/// takes the new one with its next message or tick): freeing a city's million records takes
/// tens of milliseconds, which would otherwise fall on whichever reader let go last — the
/// pipeline, on the intake path (issue 14). After [`RETIRE_WAIT`] the last reader frees it, and
/// the running service's memory keeper (`src/run/keeper.rs`) gives those pages back within seconds.
///
/// Once freed here, its pages are handed back to the system: glibc would otherwise keep them
/// resident for good (a million-device reload left RSS at 1.45× its steady value).
fn retire(old: Arc<Registry>) {
    let spawned = std::thread::Builder::new().name("registry-retire".into()).spawn(move || {
        let started = Instant::now();
        let deadline = started + RETIRE_WAIT;
        while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let waited_ms = started.elapsed().as_millis() as u64;
        // Still held: the last reader frees it, and this thread has nothing to give back.
        let freed_here = Arc::strong_count(&old) == 1;
        drop(old);
        let released = freed_here && firegrid_memory::release_freed_memory();
        tracing::info!(
            event = "registry_retired",
            waited_ms,
            freed_here,
            released,
            "the replaced registry is freed (its memory returned to the system when released)"
        );
    });
    if let Err(e) = spawned {
        tracing::warn!(event = "registry_retire_thread_failed", error = %e, "the replaced registry is freed by its last reader");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DH: &str =
        "device_id,kind,county,township,community,grid_id,household_id,address,lat,lon,site_type,vulnerable\n";

    #[test]
    fn a_failed_reload_keeps_the_previous_registry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = RegistryPaths::in_dir(dir.path());
        std::fs::write(&paths.devices, format!("{DH}sd-1,smoke,500112,500112002,,,,,,,residential,\n")).expect("write");
        std::fs::write(
            &paths.stations,
            "station_id,name,tier,county,township,community,lat,lon,covers,available,webhook_url\n",
        )
        .expect("write");
        std::fs::write(&paths.grids, "grid_id,community,manager,phone,webhook_url\n").expect("write");
        let shared = SharedRegistry::load(paths.clone()).expect("loads");
        let first = shared.snapshot();
        assert!(shared.is_current(&first));
        std::fs::write(&paths.devices, format!("{DH}bad id,smoke,500112,500112002,,,,,,,residential,\n"))
            .expect("write");
        assert!(shared.reload().is_err());
        assert!(shared.snapshot().device("sd-1").is_some());
        assert!(shared.is_current(&first), "a failed reload leaves the snapshot in force");
        std::fs::write(&paths.devices, format!("{DH}sd-2,smoke,500112,500112002,,,,,,,residential,\n")).expect("write");
        shared.reload().expect("reloads");
        assert!(!shared.is_current(&first), "a reload retires the old snapshot");
        assert!(shared.is_current(&shared.snapshot()));
        assert!(shared.snapshot().device("sd-2").is_some());
        assert!(shared.snapshot().device("sd-1").is_none());
    }
}
