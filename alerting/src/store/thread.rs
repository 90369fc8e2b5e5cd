//! [`StoreThread`]: an [`IncidentStore`] on a dedicated thread that runs closures, so SQLite calls
//! never block the async runtime. The engine has two: the writer (every commit, the delivery
//! loop's bookkeeping) and a read-only reader for the API.

use std::sync::mpsc;

use super::{IncidentStore, StoreError};

type Job = Box<dyn FnOnce(&mut IncidentStore) + Send>;

/// An [`IncidentStore`] on its own thread; clones share the thread. The thread ends when the last clone drops.
#[derive(Debug, Clone)]
pub(crate) struct StoreThread {
    tx: mpsc::Sender<Job>,
}

impl StoreThread {
    /// Moves the store to a new thread named `name`.
    pub(crate) fn spawn(mut store: IncidentStore, name: &str) -> Result<StoreThread, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut store);
                }
            })
            .map_err(|source| StoreError::Thread { name: name.to_owned(), source })?;
        Ok(StoreThread { tx })
    }

    /// Runs `f` on the store thread and blocks until its result (start-up code only: it blocks
    /// the calling thread, as file I/O there does).
    pub(crate) fn call_blocking<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut IncidentStore) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(Box::new(move |s| {
                let _ = tx.send(f(s));
            }))
            .map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on the store thread and awaits its result.
    pub(crate) async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut IncidentStore) -> R + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move |s| {
                let _ = tx.send(f(s));
            }))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }
}
