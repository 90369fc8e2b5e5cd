//! The configured store behind one type: the InfluxDB write API or the embedded SQLite store.

use crate::embedded_store::EmbeddedStore;
use crate::writer::{InfluxV2, LineStore, WriteResult};

/// Where readings go.
#[derive(Debug, Clone)]
pub enum Store {
    /// An InfluxDB v1/v2 write API (InfluxDB, VictoriaMetrics).
    Influx(InfluxV2),
    /// The embedded SQLite store.
    Embedded(EmbeddedStore),
}

impl LineStore for Store {
    async fn write(&self, body: &str) -> WriteResult {
        match self {
            Store::Influx(s) => s.write(body).await,
            Store::Embedded(s) => s.write(body).await,
        }
    }
}
