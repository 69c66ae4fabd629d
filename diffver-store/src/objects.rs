//! Object storage for raw diffs and artifacts, through the `object_store` crate.
//!
//! Layout (under an optional prefix): `diffs/{scan_id}.patch`,
//! `artifacts/{scan_id}.json`, `artifacts/{scan_id}.html`. Objects are written once
//! (`PutMode::Create`): a retried worker that writes the same bytes again succeeds, one
//! that would write different bytes gets [`StoreError::ObjectExists`] and cannot
//! replace what another attempt stored. Reads check the SHA-256 recorded at write time.

use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Result, StoreError};
use crate::model::{ScanId, sha256_hex};

/// What was stored: enough to find and check it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Object key (without the store's prefix).
    pub key: String,
    /// SHA-256 (hex) of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
}

/// The object store of a deployment.
#[derive(Debug, Clone)]
pub struct Objects {
    inner: Arc<dyn ObjectStore>,
}

/// `diffs/{scan_id}.patch`.
pub fn diff_key(scan: &ScanId) -> String {
    format!("diffs/{scan}.patch")
}

/// `artifacts/{scan_id}.json`.
pub fn artifact_json_key(scan: &ScanId) -> String {
    format!("artifacts/{scan}.json")
}

/// `artifacts/{scan_id}.html`.
pub fn artifact_html_key(scan: &ScanId) -> String {
    format!("artifacts/{scan}.html")
}

impl Objects {
    /// A store from a URL: `file:///abs/dir`, `memory://`, or `s3://bucket[/prefix]`.
    /// S3 reads the usual `AWS_*` environment variables; `options` (for example
    /// `("aws_endpoint", "http://127.0.0.1:9000")`, `("aws_allow_http", "true")`,
    /// `("aws_virtual_hosted_style_request", "false")`) override them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Config`] for an unsupported URL or option.
    pub fn from_url<K: AsRef<str>, V: Into<String>>(
        url: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Objects> {
        let bad = |what: &str| StoreError::Config {
            what: what.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|_| bad("object store URL does not parse"))?;
        let prefix = parsed.path().trim_matches('/').to_owned();
        let inner: Arc<dyn ObjectStore> = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad("file URL is not an absolute local path"))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|_| bad("cannot create the object directory"))?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(&dir)
                        .map_err(|_| bad("cannot use the object directory"))?,
                )
            }
            "memory" => Arc::new(InMemory::new()),
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("s3 URL names no bucket"))?;
                // Bounded: an unreachable S3 fails a request within seconds (the API
                // answers 503, a worker's attempt fails and is retried by the queue)
                // instead of object_store's default of retrying for three minutes.
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(object_store::RetryConfig {
                        max_retries: 2,
                        retry_timeout: std::time::Duration::from_secs(10),
                        ..object_store::RetryConfig::default()
                    })
                    .with_config(
                        AmazonS3ConfigKey::from_str("connect_timeout")
                            .map_err(|_| bad("timeout"))?,
                        "3s",
                    )
                    .with_config(
                        AmazonS3ConfigKey::from_str("timeout").map_err(|_| bad("timeout"))?,
                        "30s",
                    );
                for (k, v) in options {
                    let key = AmazonS3ConfigKey::from_str(k.as_ref())
                        .map_err(|_| bad("unknown S3 option"))?;
                    b = b.with_config(key, v);
                }
                let s3 = b
                    .build()
                    .map_err(|_| bad("S3 configuration is incomplete"))?;
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                }
            }
            _ => return Err(bad("object store URL scheme must be file, memory or s3")),
        };
        Ok(Objects { inner })
    }

    /// An in-memory store (tests, ephemeral runs).
    pub fn in_memory() -> Objects {
        Objects {
            inner: Arc::new(InMemory::new()),
        }
    }

    /// Writes `bytes` at `key` unless something is there: writing the same bytes again
    /// succeeds (a retried worker), different bytes fail.
    ///
    /// # Errors
    ///
    /// [`StoreError::ObjectExists`] if different bytes are stored at `key`;
    /// [`StoreError::Object`] if the store fails.
    pub async fn put_once(&self, key: &str, bytes: Bytes) -> Result<StoredObject> {
        let path = Path::parse(key).map_err(|_| StoreError::Invalid {
            field: "object key",
            reason: "not a valid object path",
        })?;
        let sha256 = sha256_hex(&bytes);
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(&path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                let existing = self.inner.get(&path).await?.bytes().await?;
                if sha256_hex(&existing) != sha256 {
                    return Err(StoreError::ObjectExists {
                        key: key.to_owned(),
                    });
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(StoredObject {
            key: key.to_owned(),
            sha256,
            size,
        })
    }

    /// Reads `key` and checks its SHA-256.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if absent, [`StoreError::ObjectDigestMismatch`] if the
    /// bytes changed, [`StoreError::Object`] if the store fails.
    pub async fn get_verified(&self, key: &str, sha256: &str) -> Result<Bytes> {
        let path = Path::parse(key).map_err(|_| StoreError::Invalid {
            field: "object key",
            reason: "not a valid object path",
        })?;
        let bytes = match self.inner.get(&path).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotFound { kind: "object" });
            }
            Err(e) => return Err(e.into()),
        };
        if sha256_hex(&bytes) != sha256.to_ascii_lowercase() {
            return Err(StoreError::ObjectDigestMismatch {
                key: key.to_owned(),
            });
        }
        Ok(bytes)
    }

    /// Reads `key` (for objects whose digest is not recorded, such as artifacts,
    /// which carry their own signature).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if absent, [`StoreError::Object`] if the store fails.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let path = Path::parse(key).map_err(|_| StoreError::Invalid {
            field: "object key",
            reason: "not a valid object path",
        })?;
        match self.inner.get(&path).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => {
                Err(StoreError::NotFound { kind: "object" })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks that the object store answers (a readiness probe): a `HEAD` of a key
    /// that need not exist.
    ///
    /// # Errors
    ///
    /// [`StoreError::Object`] if the store fails.
    pub async fn ping(&self) -> Result<()> {
        match self.inner.head(&Path::from("readyz-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes `key`; `false` if it was already gone.
    ///
    /// # Errors
    ///
    /// [`StoreError::Object`] if the store fails.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let path = Path::parse(key).map_err(|_| StoreError::Invalid {
            field: "object key",
            reason: "not a valid object path",
        })?;
        // S3 deletes are idempotent and do not say whether the key existed; ask first.
        match self.inner.head(&path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        match self.inner.delete(&path).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Every key in the store (under its prefix), sorted: for backups and drills that
    /// copy a bucket, and for checks that nothing is stored that the database does not
    /// name.
    ///
    /// # Errors
    ///
    /// [`StoreError::Object`] if the store fails.
    pub async fn list_keys(&self) -> Result<Vec<String>> {
        use futures_util::TryStreamExt as _;
        let metas: Vec<object_store::ObjectMeta> = self.inner.list(None).try_collect().await?;
        let mut keys: Vec<String> = metas.into_iter().map(|m| m.location.to_string()).collect();
        keys.sort();
        Ok(keys)
    }

    /// Overwrites `key` without the write-once check. Only for tests that simulate
    /// tampering with stored bytes.
    #[doc(hidden)]
    pub async fn overwrite_for_tests(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = Path::parse(key).map_err(|_| StoreError::Invalid {
            field: "object key",
            reason: "not a valid object path",
        })?;
        self.inner.put(&path, PutPayload::from(bytes)).await?;
        Ok(())
    }
}
