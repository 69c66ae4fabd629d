//! Where a deployment keeps its state and how it signs: the database, the object
//! store, the API-key pepper and the artifact signer, from flags and environment.
//!
//! With nothing configured this is the **embedded default**: SQLite at
//! `DATA_DIR/diffver.db`, objects under `DATA_DIR/objects/`, a pepper generated once
//! into `DATA_DIR/api-key-pepper`, and the published development signer. Production
//! mode (`DIFFVER_MODE=production`) refuses the development signer and an unset
//! pepper.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use diffver_core::artifact::{HmacSigner, KeyMode, Signer as _, SigningMode};
use diffver_store::{Objects, Pepper, PgConfig, PgStore, SqliteStore};

/// The settings every store-touching command shares.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Where the embedded default keeps its files.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; default `sqlite://DATA_DIR/diffver.db`.
    pub database_url: Option<String>,
    /// `file:///DIR`, `memory://` or `s3://bucket/prefix`; default `file://DATA_DIR/objects`.
    pub object_store: Option<String>,
    /// `DIFFVER_API_KEY_PEPPER`: a file path or the value itself.
    pub pepper: Option<String>,
    /// Production mode: no development signer, no generated pepper.
    pub production: bool,
    /// Postgres pool size.
    pub max_connections: u32,
}

/// The database a deployment uses.
#[derive(Debug, Clone)]
pub enum Database {
    /// The embedded SQLite file.
    Sqlite(SqliteStore),
    /// Postgres.
    Postgres(PgStore),
}

/// An opened deployment: database and objects.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The database.
    pub database: Database,
    /// The object store.
    pub objects: Objects,
    /// Human-readable description for the startup log (no secrets).
    pub describe: String,
}

impl StoreSettings {
    /// Opens the database and the object store (creating the data directory for
    /// the embedded default) without migrating.
    ///
    /// # Errors
    ///
    /// A message naming the setting at fault.
    pub async fn open(&self) -> anyhow::Result<Opened> {
        let db_url = match &self.database_url {
            Some(u) => u.clone(),
            None => {
                create_private_dir(&self.data_dir)?;
                format!("sqlite://{}", self.data_dir.join("diffver.db").display())
            }
        };
        let pepper = self.pepper()?;
        let (database, db_desc) = if let Some(path) = db_url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(parent) = Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let s = SqliteStore::open(Path::new(path), pepper)
                .await
                .with_context(|| format!("cannot open the SQLite database {path}"))?;
            (Database::Sqlite(s), format!("sqlite {path}"))
        } else if db_url.starts_with("postgres://") || db_url.starts_with("postgresql://") {
            let mut cfg = PgConfig::new(db_url.clone(), pepper);
            cfg.max_connections = self.max_connections;
            let s = PgStore::connect(cfg)
                .await
                .context("cannot connect to Postgres")?;
            (Database::Postgres(s), "postgres".to_owned())
        } else {
            bail!("DIFFVER_DATABASE_URL must start with sqlite:// or postgres://");
        };
        let obj_url = match &self.object_store {
            Some(u) => u.clone(),
            None => {
                let dir = absolute(&self.data_dir)?.join("objects");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                format!("file://{}", dir.display())
            }
        };
        let mut options: Vec<(String, String)> = Vec::new();
        if obj_url.starts_with("s3://")
            && let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL")
        {
            if endpoint.starts_with("http://") {
                options.push(("aws_allow_http".into(), "true".into()));
            }
            options.push(("aws_endpoint".into(), endpoint));
        }
        let objects = Objects::from_url(&obj_url, options)
            .with_context(|| format!("cannot use the object store {}", redact_url(&obj_url)))?;
        Ok(Opened {
            database,
            objects,
            describe: format!("{db_desc}; objects {}", redact_url(&obj_url)),
        })
    }

    /// The API-key pepper: `DIFFVER_API_KEY_PEPPER` (a readable file, else the value);
    /// unset, the embedded default generates one into `DATA_DIR/api-key-pepper`
    /// (production mode refuses).
    fn pepper(&self) -> anyhow::Result<Pepper> {
        let bytes = match &self.pepper {
            Some(v) if Path::new(v).is_file() => {
                let mut b =
                    std::fs::read(v).with_context(|| format!("cannot read the pepper file {v}"))?;
                while b.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                    b.pop();
                }
                b
            }
            Some(v) => v.as_bytes().to_vec(),
            None if self.production => bail!(
                "production mode needs DIFFVER_API_KEY_PEPPER (a file or a value of at least 32 bytes)"
            ),
            None => {
                create_private_dir(&self.data_dir)?;
                let path = self.data_dir.join("api-key-pepper");
                if !path.exists() {
                    let mut b = [0u8; 32];
                    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                    write_private(&path, hex(&b).as_bytes())?;
                }
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?
            }
        };
        Pepper::new(bytes)
            .map_err(|_| anyhow::anyhow!("the API-key pepper must be at least 32 bytes"))
    }
}

/// How artifacts are signed.
#[derive(Debug, Clone, Default)]
pub struct SignerSettings {
    /// `DIFFVER_SIGNING_KEY_FILE`: an HMAC key of at least 32 bytes.
    pub key_file: Option<PathBuf>,
    /// `DIFFVER_SIGNING_KEY_ID`.
    pub key_id: String,
    /// Production mode refuses the development signer.
    pub production: bool,
}

impl SignerSettings {
    /// The signer.
    ///
    /// # Errors
    ///
    /// Production mode without a key file, or a key that cannot be used.
    pub fn signer(&self) -> anyhow::Result<HmacSigner> {
        match &self.key_file {
            Some(f) => {
                let key = crate::cli::read_key_file(f)?;
                Ok(HmacSigner::new(self.key_id.clone(), key)?)
            }
            None if self.production => bail!(
                "production mode refuses the development signer: set DIFFVER_SIGNING_KEY_FILE \
                 (an HMAC key of at least 32 bytes) and DIFFVER_SIGNING_KEY_ID"
            ),
            None => Ok(HmacSigner::deterministic(SigningMode::Development)?),
        }
    }
}

/// Whether `signer` is the published development key.
pub fn is_development(signer: &HmacSigner) -> bool {
    signer.identity().mode == KeyMode::Development
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(bytes)?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_owned());
    }
    Ok(std::env::current_dir()?.join(p))
}

/// A URL with any `user:password@` removed, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
