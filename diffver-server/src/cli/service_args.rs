//! Flags and environment shared by the commands that touch the service's storage
//! (`serve`, `worker`, `migrate`, `admin`).

use std::path::PathBuf;

use crate::service::config::{SignerSettings, StoreSettings};
use crate::service::github::GithubSettings;
use crate::service::signer::SignerConfig;

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
    /// An AWS KMS key (id, ARN or alias; ECC_NIST_P256 or HMAC_256) that signs
    /// artifacts instead of a key file; artifacts record its ARN. Reads AWS_REGION,
    /// AWS_ENDPOINT_URL and the AWS credentials. Needs the `aws-kms` build feature.
    #[arg(
        long,
        env = "DIFFVER_SIGNING_KMS_KEY_ID",
        value_name = "KEY",
        conflicts_with = "signing_key_file"
    )]
    pub(crate) signing_kms_key_id: Option<String>,
    /// A directory of per-tenant HMAC signing keys, `KEY_ID.key` each (at least 32
    /// bytes): a tenant whose `signer` setting names one is signed with it. Every
    /// worker process needs the same directory.
    #[arg(long, env = "DIFFVER_TENANT_SIGNING_KEYS", value_name = "DIR")]
    pub(crate) tenant_signing_keys: Option<PathBuf>,
}

impl SignerArgs {
    pub(crate) fn settings(&self, production: bool) -> SignerConfig {
        match self.signing_kms_key_id.as_ref().filter(|k| !k.is_empty()) {
            Some(key_id) => SignerConfig::Kms {
                key_id: key_id.clone(),
            },
            None => SignerConfig::Local(SignerSettings {
                key_file: self.signing_key_file.clone(),
                key_id: self.signing_key_id.clone(),
                production,
            }),
        }
    }
}

/// A Tokio runtime for one command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The GitHub App integration (`serve` and `publisher`).
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct GithubArgs {
    /// The webhook secret (a file path or the value, at least 16 bytes). Set, the
    /// API accepts `POST /v1/github/webhook`.
    #[arg(
        long,
        env = "DIFFVER_GITHUB_WEBHOOK_SECRET",
        value_name = "FILE|VALUE",
        hide_env_values = true
    )]
    pub(crate) github_webhook_secret: Option<String>,
    /// The GitHub App's id (the publisher signs its JWTs as this App).
    #[arg(long, env = "DIFFVER_GITHUB_APP_ID", value_name = "ID")]
    pub(crate) github_app_id: Option<String>,
    /// Path to the App's RSA private key (PEM).
    #[arg(long, env = "DIFFVER_GITHUB_PRIVATE_KEY", value_name = "FILE")]
    pub(crate) github_private_key: Option<PathBuf>,
    /// The REST API base URL: GitHub Enterprise Server's `https://HOST/api/v3`, or a
    /// test server.
    #[arg(
        long,
        env = "DIFFVER_GITHUB_API_URL",
        default_value = "https://api.github.com",
        value_name = "URL"
    )]
    pub(crate) github_api_url: String,
    /// The tenant id new installations are mapped to (unset: an admin maps each one
    /// with `diffver admin map-installation`).
    #[arg(long, env = "DIFFVER_GITHUB_TENANT", value_name = "TENANT_ID")]
    pub(crate) github_tenant: Option<String>,
    /// The service's public base URL, for report links in check runs.
    #[arg(long, env = "DIFFVER_PUBLIC_URL", value_name = "URL")]
    pub(crate) public_url: Option<String>,
    /// Largest pull-request diff fetched from GitHub, in bytes.
    #[arg(long, env = "DIFFVER_GITHUB_MAX_DIFF_BYTES", default_value_t = 16 << 20)]
    pub(crate) github_max_diff_bytes: usize,
    /// First retry delay of a failed GitHub call, in milliseconds (doubles per
    /// consecutive failure, at most 5 minutes; GitHub's Retry-After wins).
    #[arg(
        long,
        env = "DIFFVER_GITHUB_RETRY_BASE_MS",
        default_value_t = 1_000,
        hide = true
    )]
    pub(crate) github_retry_base_ms: i64,
}

impl GithubArgs {
    /// The integration's settings, or `None` when no webhook secret is set.
    pub(crate) fn settings(&self) -> anyhow::Result<Option<GithubSettings>> {
        use anyhow::Context as _;
        let Some(secret) = self
            .github_webhook_secret
            .as_ref()
            .filter(|s| !s.is_empty())
        else {
            if self.github_app_id.is_some() || self.github_private_key.is_some() {
                anyhow::bail!(
                    "the GitHub integration needs DIFFVER_GITHUB_WEBHOOK_SECRET as well as the App id and key"
                );
            }
            return Ok(None);
        };
        let secret = if std::path::Path::new(secret).is_file() {
            let mut b = std::fs::read(secret)
                .with_context(|| format!("cannot read the webhook secret file {secret}"))?;
            while b.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                b.pop();
            }
            b
        } else {
            secret.as_bytes().to_vec()
        };
        if secret.len() < 16 {
            anyhow::bail!("DIFFVER_GITHUB_WEBHOOK_SECRET must be at least 16 bytes");
        }
        let mut s = GithubSettings::new(secret);
        s.app_id = self.github_app_id.clone().filter(|s| !s.is_empty());
        if let Some(p) = &self.github_private_key {
            s.private_key_pem = Some(
                std::fs::read(p)
                    .with_context(|| format!("cannot read the GitHub App key {}", p.display()))?,
            );
        }
        if s.app_id.is_some() != s.private_key_pem.is_some() {
            anyhow::bail!(
                "set both DIFFVER_GITHUB_APP_ID and DIFFVER_GITHUB_PRIVATE_KEY, or neither"
            );
        }
        let api = self.github_api_url.trim_end_matches('/');
        if !(api.starts_with("https://") || api.starts_with("http://")) {
            anyhow::bail!("DIFFVER_GITHUB_API_URL must be an http(s) URL");
        }
        s.api_url = api.to_owned();
        if let Some(t) = self.github_tenant.as_ref().filter(|s| !s.is_empty()) {
            s.tenant = Some(
                diffver_store::TenantId::new(t)
                    .map_err(|_| anyhow::anyhow!("DIFFVER_GITHUB_TENANT is not a tenant id"))?,
            );
        }
        s.public_url = self.public_url.clone().filter(|s| !s.is_empty());
        s.max_diff_bytes = self.github_max_diff_bytes;
        s.retry_base_ms = self.github_retry_base_ms.max(1);
        Ok(Some(s))
    }
}
