//! Flags and environment shared by the commands that touch the service's storage
//! (`serve`, `worker`, `migrate`, `admin`).

use std::path::PathBuf;

use crate::service::config::{SignerSettings, StoreSettings};

/// Where the service keeps its state.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct StoreArgs {
    /// Directory of the embedded default (SQLite database, objects, generated pepper).
    #[arg(
        long,
        env = "DIFFVER_DATA_DIR",
        default_value = "./diffver-data",
        value_name = "DIR"
    )]
    pub(crate) data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…` (default: SQLite in the data directory).
    #[arg(
        long,
        env = "DIFFVER_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(crate) database_url: Option<String>,
    /// `file:///DIR` or `s3://BUCKET/PREFIX` (default: the data directory; S3 reads
    /// AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION).
    #[arg(long, env = "DIFFVER_OBJECT_STORE", value_name = "URL")]
    pub(crate) object_store: Option<String>,
    /// The API-key pepper: a file path or the value (at least 32 bytes). Default for
    /// the embedded store: generated once into the data directory.
    #[arg(
        long,
        env = "DIFFVER_API_KEY_PEPPER",
        value_name = "FILE|VALUE",
        hide_env_values = true
    )]
    pub(crate) api_key_pepper: Option<String>,
    /// `development` (default) or `production` (refuses the development signer and
    /// a missing pepper).
    #[arg(long, env = "DIFFVER_MODE", default_value = "development", value_parser = ["development", "production"])]
    pub(crate) mode: String,
    /// Postgres connections per process.
    #[arg(long, env = "DIFFVER_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub(crate) db_max_connections: u32,
}

impl StoreArgs {
    pub(crate) fn production(&self) -> bool {
        self.mode == "production"
    }

    pub(crate) fn settings(&self) -> StoreSettings {
        StoreSettings {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone().filter(|s| !s.is_empty()),
            object_store: self.object_store.clone().filter(|s| !s.is_empty()),
            pepper: self.api_key_pepper.clone().filter(|s| !s.is_empty()),
            production: self.production(),
            max_connections: self.db_max_connections,
        }
    }
}

/// How artifacts are signed.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct SignerArgs {
    /// An HMAC signing key file (at least 32 bytes). Without it the published
    /// development key signs, which production mode refuses.
    #[arg(long, env = "DIFFVER_SIGNING_KEY_FILE", value_name = "FILE")]
    pub(crate) signing_key_file: Option<PathBuf>,
    /// The key id recorded in artifacts.
    #[arg(long, env = "DIFFVER_SIGNING_KEY_ID", default_value = "operator")]
    pub(crate) signing_key_id: String,
}

impl SignerArgs {
    pub(crate) fn settings(&self, production: bool) -> SignerSettings {
        SignerSettings {
            key_file: self.signing_key_file.clone(),
            key_id: self.signing_key_id.clone(),
            production,
        }
    }
}

/// A Tokio runtime for one command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
