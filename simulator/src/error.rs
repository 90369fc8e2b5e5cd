//! The simulator's one error type.

use std::path::PathBuf;

/// Anything that stops a simulator command.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The embedded divisions data is malformed (a build defect, not a user error).
    #[error("divisions data line {line}: {message}")]
    Divisions {
        /// 1-based line in `data/chongqing-divisions.csv`.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A county given on the command line or in a spec is not in the divisions data.
    #[error("unknown county `{0}`: give a 6-digit code such as 500112 or a name such as 渝北区")]
    UnknownCounty(String),
    /// A spec value is out of its range.
    #[error("invalid setting: {0}")]
    InvalidSpec(String),
    /// A file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The registry files could not be written.
    #[error(transparent)]
    RegistryFiles(#[from] firegrid_ingest::model::registry::csv::CsvWriteError),
    /// A registry could not be loaded.
    #[error(transparent)]
    Registry(#[from] firegrid_ingest::RegistryError),
    /// A payload or truth record could not be encoded.
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The MQTT URL is not `mqtt://host:port`.
    #[error("MQTT URL `{0}` must look like mqtt://127.0.0.1:1883")]
    MqttUrl(String),
    /// The MQTT client failed.
    #[error("MQTT: {0}")]
    Mqtt(String),
}
