//! [`IncidentStore`]: the store the engine, the dispatch planner and the API call, over either
//! backend. An enum rather than a trait object: the two backends offer exactly the same
//! operations with the same signatures, the call sites (`StoreThread::call(|s| s.list(..))`)
//! stay as they were, and a match per call costs nothing beside the I/O. Both are synchronous;
//! the PostgreSQL one blocks on its own current-thread runtime, so every call runs on a store
//! thread ([`super::StoreThread`]) or inside [`blocking`], never on the async runtime.

use std::path::PathBuf;

use super::postgres::{Fence, PgStore, PgUrl};
use super::{Abandon, AbandonReason, IncidentFilter, IncidentRecord, OutboxRow, SqliteStore, StoreError};
use super::{UndecodableRow, Unroutable};
use crate::incident::{Incident, NotifyRole, OutboxEntry, Outcome, Recipient};

/// Where the incident store is (`[incidents]`, validated).
// One per process, never in a collection: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentBackend {
    /// `{data_dir}/incidents.sqlite3`.
    Sqlite {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// A PostgreSQL database shared by the alert instances.
    Postgres {
        /// Its URL.
        url: PgUrl,
    },
}

/// An open incident store (see the module doc).
// Two per engine (writer, reader), each on its own thread: the variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum IncidentStore {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

/// Runs `f` on a scoped thread of its own and returns its result: the way to open or query a
/// store from start-up code that runs on the async runtime (blocking, like file I/O there).
pub fn blocking<T: Send>(f: impl FnOnce() -> Result<T, StoreError> + Send) -> Result<T, StoreError> {
    std::thread::scope(|s| s.spawn(f).join().unwrap_or(Err(StoreError::Closed)))
}

/// The same call on whichever backend.
macro_rules! both {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            IncidentStore::Sqlite($s) => $e,
            IncidentStore::Postgres($s) => $e,
        }
    };
}

impl IncidentStore {
    /// Opens (creating or migrating when needed) the SQLite store in `data_dir`.
    pub fn open(data_dir: &std::path::Path) -> Result<IncidentStore, StoreError> {
        SqliteStore::open(data_dir).map(IncidentStore::Sqlite)
    }

    /// Opens the store of `backend` read-write (PostgreSQL: connects and migrates). Blocking.
    pub fn open_backend(backend: &IncidentBackend) -> Result<IncidentStore, StoreError> {
        match backend {
            IncidentBackend::Sqlite { data_dir } => IncidentStore::open(data_dir),
            IncidentBackend::Postgres { url } => PgStore::connect(url).map(IncidentStore::Postgres),
        }
    }

    /// A second connection for reads beside the writer (SQLite: read-only). Blocking.
    pub(crate) fn open_reader(backend: &IncidentBackend) -> Result<IncidentStore, StoreError> {
        match backend {
            IncidentBackend::Sqlite { data_dir } => SqliteStore::open_reader(data_dir).map(IncidentStore::Sqlite),
            IncidentBackend::Postgres { url } => PgStore::connect(url).map(IncidentStore::Postgres),
        }
    }

    /// Writes one outcome in one transaction.
    pub fn write(&mut self, out: &Outcome) -> Result<(), StoreError> {
        match self {
            IncidentStore::Sqlite(s) => s.write(out),
            IncidentStore::Postgres(s) => s.write(out),
        }
    }

    /// Claims forwarded action `id` for this (fenced) writer: `false` when it is no longer
    /// pending. SQLite has no forwarded actions (partitions need PostgreSQL): always `false`.
    pub fn claim_forwarded(&mut self, id: i64) -> Result<bool, StoreError> {
        match self {
            IncidentStore::Sqlite(_) => Ok(false),
            IncidentStore::Postgres(s) => s.claim_forwarded(id),
        }
    }

    /// PostgreSQL: every later write transaction checks `fence` first (see
    /// [`super::postgres`]); SQLite has one writer and ignores it.
    pub fn set_fence(&mut self, fence: Option<Fence>) {
        if let IncidentStore::Postgres(s) = self {
            s.set_fence(fence);
        }
    }

    /// Whether `out` is already committed: it opens at least one incident and the store holds
    /// every one of them exactly as `out` writes it. Asked after a write failed in a way that
    /// leaves its commit unknown (the answer to `COMMIT` lost with the connection) and its retry
    /// met its own incident ([`StoreError::DuplicateOpen`]): the same snapshot, down to
    /// `updated_at_ms`, is this outcome's commit, not another writer's incident.
    pub fn holds_opened(&self, out: &Outcome) -> Result<bool, StoreError> {
        let opened = out.opened_incidents();
        if opened.is_empty() {
            return Ok(false);
        }
        for inc in opened {
            match self.get(&inc.id)? {
                Some(rec) if rec.incident == *inc => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Whether `out`, which opens no incident, is already committed: it writes audit entries,
    /// and the store holds every incident it writes exactly as `out` writes it, with each of its
    /// audit entries. Asked before retrying a write that failed in a way that may have committed
    /// (the answer to `COMMIT` lost), so the retry does not write the audit entries twice: with
    /// one writer per incident, that snapshot and those entries are this outcome's commit.
    pub fn holds_changed(&self, out: &Outcome) -> Result<bool, StoreError> {
        if out.audit.is_empty() || out.incidents.is_empty() || !out.opened_incidents().is_empty() {
            return Ok(false);
        }
        for inc in &out.incidents {
            let Some(rec) = self.get(&inc.id)? else { return Ok(false) };
            let mut entries = out.audit.iter().filter(|a| a.incident_id == inc.id);
            if rec.incident != *inc || !entries.all(|a| rec.audit.contains(a)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Incidents not yet closed (to resume correlation after a restart).
    pub fn active_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        both!(self, s => s.active_incidents())
    }

    /// Id counters `(county-yyyymmdd, last n)`.
    pub fn counters(&self) -> Result<Vec<(String, u64)>, StoreError> {
        both!(self, s => s.counters())
    }

    /// Incidents matching the filter, newest first.
    pub fn list(&self, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        both!(self, s => s.list(f))
    }

    /// One incident with its evidence and audit trail.
    pub fn get(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        both!(self, s => s.get(id))
    }

    /// The rule-state rows `(device_id, json)` (to resume detection after a restart).
    pub fn rule_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        both!(self, s => s.rule_states())
    }

    /// The dispatch state of every incident not yet closed, `(incident_id, json)`.
    pub fn dispatch_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        both!(self, s => s.dispatch_states())
    }

    /// Active incidents whose dispatch state says no recipient was found, longest first.
    pub fn unroutable(&self) -> Result<Vec<Unroutable>, StoreError> {
        both!(self, s => s.unroutable())
    }

    /// Outbox entries pending and due by `now_ms`, oldest first (undecodable rows left out).
    pub fn due_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self.due_outbox_page(now_ms, limit, 0)?.into_iter().filter_map(Result::ok).collect())
    }

    /// [`IncidentStore::due_outbox`] past its first `offset` rows, undecodable rows included.
    pub(crate) fn due_outbox_page(
        &self,
        now_ms: i64,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Result<OutboxEntry, UndecodableRow>>, StoreError> {
        both!(self, s => s.due_outbox_page(now_ms, limit, offset))
    }

    /// Records a failed delivery attempt: the entry is retried at `next_attempt_ms`.
    pub fn mark_failed(&self, key: &str, next_attempt_ms: i64, error: &str) -> Result<(), StoreError> {
        both!(self, s => s.mark_failed(key, next_attempt_ms, error))
    }

    /// Pending webhook rows to give up, oldest first, with why.
    pub fn webhooks_to_abandon(&self, created_before_ms: i64) -> Result<Vec<Abandon>, StoreError> {
        both!(self, s => s.webhooks_to_abandon(created_before_ms))
    }

    /// Records rows as abandoned at `at_ms`, in one transaction; returns how many changed.
    pub fn mark_abandoned(&mut self, rows: &[(String, AbandonReason)], at_ms: i64) -> Result<usize, StoreError> {
        both!(self, s => s.mark_abandoned(rows, at_ms))
    }

    /// Deletes outbox rows delivered or abandoned before `before_ms`; returns how many.
    pub fn prune_delivered(&self, before_ms: i64) -> Result<usize, StoreError> {
        both!(self, s => s.prune_delivered(before_ms))
    }

    /// The distinct roles `who` was notified as of an incident.
    pub(crate) fn notification_roles(&self, incident_id: &str, who: &Recipient) -> Result<Vec<NotifyRole>, StoreError> {
        both!(self, s => s.notification_roles(incident_id, who))
    }

    /// Marks outbox entries delivered in one transaction; returns how many were not already.
    pub fn mark_delivered_many(&mut self, keys: &[String], at_ms: i64) -> Result<usize, StoreError> {
        both!(self, s => s.mark_delivered_many(keys, at_ms))
    }

    /// Marks an outbox entry delivered (false when it already was).
    pub(crate) fn mark_delivered(&self, key: &str, at_ms: i64) -> Result<bool, StoreError> {
        both!(self, s => s.mark_delivered(key, at_ms))
    }

    /// The dispatch log of an incident: its outbox rows and its dispatch state (JSON).
    pub fn dispatch_log(&self, incident_id: &str) -> Result<(Vec<OutboxRow>, Option<String>), StoreError> {
        both!(self, s => s.dispatch_log(incident_id))
    }

    /// Station availability set at run time, `(station_id, status)`; `None` on SQLite, where it
    /// is held in memory by the one process (DESIGN §6).
    pub fn station_availability(&self) -> Result<Option<Vec<(String, String)>>, StoreError> {
        match self {
            IncidentStore::Sqlite(_) => Ok(None),
            IncidentStore::Postgres(s) => s.station_availability().map(Some),
        }
    }

    /// Sets a station's availability in the shared table (PostgreSQL; nothing on SQLite).
    pub fn set_station_availability(&self, station_id: &str, status: &str) -> Result<(), StoreError> {
        match self {
            IncidentStore::Sqlite(_) => Ok(()),
            IncidentStore::Postgres(s) => s.set_station_availability(station_id, status),
        }
    }
}
