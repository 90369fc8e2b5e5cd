//! Watching a (re)loaded registry a slice at a time (issue 14): a city of a million devices takes
//! the detector about a second to watch, and the alert engine's task is on the intake path (it
//! acknowledges the readings it evaluates), so the engine watches a new registry in steps between
//! readings instead of at once. A [`Rewatch`] is where such a job has got to: the registry being
//! watched, the next device of it, then the next watch slot to detach from an older registry.

use std::sync::Arc;

use firegrid_ingest::Registry;

/// A registry being watched in steps (see the module doc and `Detector::rewatch_step`).
#[derive(Debug)]
pub struct Rewatch {
    /// The registry whose devices are being watched.
    pub(crate) registry: Arc<Registry>,
    /// The next device of `registry` (in file order) to watch.
    pub(crate) next: usize,
    /// Once every device is watched: the next watch slot to check for a record of an older
    /// registry.
    pub(crate) detached: usize,
}

impl Rewatch {
    /// A job watching every device of `registry`, from the first.
    pub fn new(registry: Arc<Registry>) -> Rewatch {
        Rewatch { registry, next: 0, detached: 0 }
    }

    /// The registry being watched.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}
