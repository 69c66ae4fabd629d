//! What the API handlers and the workers share, and the per-tenant request limiter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use diffver_store::{Millis, Objects, Principal, ScanId, Store, TenantId, TenantSettings};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;

use super::signer::ServiceSigner;

/// Limits and defaults of the API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest request body accepted (bytes); larger gets 413.
    pub max_body_bytes: usize,
    /// Longest `?wait=` accepted (seconds).
    pub max_wait_secs: u64,
    /// How long a client may take to send a request body (408 after).
    pub body_timeout: Duration,
    /// Attempts a scan's job gets before it is dead-lettered.
    pub max_attempts: i32,
    /// How long tenant settings are cached by the limiter.
    pub settings_ttl: Duration,
    /// How long a worker reuses a tenant's resolved policy (with its exceptions and
    /// on-error setting); changes apply to scans started after it.
    pub policy_ttl: Duration,
    /// How long a verified API key is reused without asking the database, in a
    /// process that hears key changes (Postgres `diffver_key_changed`); zero turns
    /// the cache off. Revocations apply at once through the notice; this bounds
    /// staleness if one is missed.
    pub key_cache_ttl: Duration,
}

impl Default for ApiSettings {
    fn default() -> ApiSettings {
        ApiSettings {
            max_body_bytes: 16 << 20,
            max_wait_secs: 30,
            body_timeout: Duration::from_secs(30),
            max_attempts: 5,
            settings_ttl: Duration::from_secs(5),
            policy_ttl: Duration::from_secs(1),
            key_cache_ttl: Duration::from_secs(10),
        }
    }
}

/// The state of one process: the store, the objects, the signer and the limiter.
/// Cheap to clone (one `Arc`).
pub struct AppState<S> {
    inner: Arc<Shared<S>>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> AppState<S> {
        AppState {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// A tenant and the policy name a scan asked for.
pub type PolicyKey = (TenantId, Option<String>);

/// A resolved policy and when it was resolved.
pub type CachedPolicy = (Instant, Arc<diffver_core::policy::Policy>);

/// What [`AppState`] holds.
pub struct Shared<S> {
    /// The database.
    pub store: S,
    /// Diffs and artifacts.
    pub objects: Objects,
    /// Signs artifacts (workers).
    pub signer: Arc<ServiceSigner>,
    /// API limits.
    pub settings: ApiSettings,
    /// Per-tenant request-rate limiter.
    pub limiter: Limiter,
    /// Verified API keys, while this process hears key changes.
    pub keys: KeyCache,
    /// Metrics exposition.
    pub metrics: PrometheusHandle,
    /// Wakes the `?wait=` requests of a scan when a worker of this process finishes
    /// it; waits also poll, for workers in other processes.
    pub finished: Finished,
    /// Resolved policies by (tenant, policy name), for [`ApiSettings::policy_ttl`]:
    /// under load a worker resolves each tenant's policy, exceptions and settings
    /// once per interval, not once per scan.
    pub policies: Mutex<HashMap<PolicyKey, CachedPolicy>>,
    /// The GitHub integration, when configured (set once at start).
    pub github: OnceLock<Arc<super::github::GithubSettings>>,
    /// Wakes this process's publisher when a webhook queues a check.
    pub publisher_wake: Notify,
    /// The deployment's per-tenant signing keys by key id (`DIFFVER_TENANT_SIGNING_KEYS`);
    /// a tenant whose `signer` names one is signed with it.
    pub tenant_signers: OnceLock<HashMap<String, Arc<ServiceSigner>>>,
    /// Each tenant's chosen key id, for [`ApiSettings::policy_ttl`].
    pub tenant_signer_ids: Mutex<HashMap<TenantId, (Instant, Option<String>)>>,
}

impl<S: Store + Clone + 'static> AppState<S> {
    /// A state. `signer` is a [`ServiceSigner`] or a local
    /// [`diffver_core::artifact::HmacSigner`].
    pub fn new(
        store: S,
        objects: Objects,
        signer: impl Into<ServiceSigner>,
        settings: ApiSettings,
    ) -> AppState<S> {
        AppState {
            inner: Arc::new(Shared {
                store,
                objects,
                signer: Arc::new(signer.into()),
                settings,
                limiter: Limiter::default(),
                keys: KeyCache::default(),
                metrics: super::telemetry::prometheus(),
                finished: Finished::default(),
                policies: Mutex::new(HashMap::new()),
                github: OnceLock::new(),
                publisher_wake: Notify::new(),
                tenant_signers: OnceLock::new(),
                tenant_signer_ids: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl<S> AppState<S> {
    /// Enables the GitHub integration (once; later calls are ignored).
    #[must_use]
    pub fn with_github(self, settings: super::github::GithubSettings) -> AppState<S> {
        let _ = self.github.set(Arc::new(settings));
        self
    }

    /// Installs the per-tenant signing keys (once; later calls are ignored).
    #[must_use]
    pub fn with_tenant_signers(self, keys: HashMap<String, Arc<ServiceSigner>>) -> AppState<S> {
        let _ = self.tenant_signers.set(keys);
        self
    }

    /// Whether this process has a per-tenant signing key with this id.
    pub fn has_tenant_signer(&self, key_id: &str) -> bool {
        self.tenant_signers
            .get()
            .is_some_and(|m| m.contains_key(key_id))
    }

    /// The GitHub integration's settings, if configured.
    pub fn github(&self) -> Option<&Arc<super::github::GithubSettings>> {
        self.github.get()
    }

    /// Drops a tenant's cached policies (after a governance change in this process;
    /// other processes pick it up within `policy_ttl`).
    pub fn forget_policies(&self, tenant: &TenantId) {
        if let Ok(mut m) = self.policies.lock() {
            m.retain(|(t, _), _| t != tenant);
        }
        if let Ok(mut m) = self.tenant_signer_ids.lock() {
            m.remove(tenant);
        }
    }
}

impl<S> std::ops::Deref for AppState<S> {
    type Target = Shared<S>;
    fn deref(&self) -> &Shared<S> {
        &self.inner
    }
}

/// Per-scan wake-ups: a finishing worker wakes only the requests waiting for that
/// scan (not every waiter in the process).
#[derive(Default)]
pub struct Finished {
    waiting: Mutex<HashMap<ScanId, Arc<Notify>>>,
}

impl Finished {
    /// The notifier of a scan, registered until [`Finished::forget`].
    pub fn register(&self, scan: &ScanId) -> Arc<Notify> {
        match self.waiting.lock() {
            Ok(mut m) => Arc::clone(m.entry(scan.clone()).or_default()),
            Err(_) => Arc::new(Notify::new()),
        }
    }

    /// Drops a scan's notifier once nobody waits on it.
    pub fn forget(&self, scan: &ScanId, mine: &Arc<Notify>) {
        if let Ok(mut m) = self.waiting.lock() {
            // Two references: the map's and the caller's.
            if m.get(scan)
                .is_some_and(|n| Arc::ptr_eq(n, mine) && Arc::strong_count(n) <= 2)
            {
                m.remove(scan);
            }
        }
    }

    /// Wakes the requests waiting for `scan`.
    pub fn notify(&self, scan: &ScanId) {
        if let Ok(m) = self.waiting.lock()
            && let Some(n) = m.get(scan)
        {
            n.notify_waiters();
        }
    }
}

/// Verified API keys by the SHA-256 of the presented key, so a flood of requests
/// (refused by the rate limiter or not) costs no database round trip per request.
///
/// Used only while [`KeyCache::set_live`] says this process hears key changes: the
/// notice listener turns it on once it listens and off (emptying it) when its
/// connection drops, so a revocation is never missed, only delayed by the notice's
/// travel time. Revocations made through this process are applied before the
/// request that made them returns. Entries expire after
/// [`ApiSettings::key_cache_ttl`] and never outlive the key's own expiry.
#[derive(Default)]
pub struct KeyCache {
    live: std::sync::atomic::AtomicBool,
    /// Bumped by every change notice and every on/off switch: a verification that
    /// started before one is not cached (it may have read the key before the change).
    generation: std::sync::atomic::AtomicU64,
    map: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

/// Most keys cached per process (a bound on memory, not a working-set size).
const MAX_CACHED_KEYS: usize = 10_000;

impl KeyCache {
    fn digest(presented: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(presented.as_bytes()).into()
    }

    /// A cached principal for a presented key, if caching is on and the entry fresh.
    pub fn get(&self, presented: &str, ttl: Duration, now: Millis) -> Option<Principal> {
        if ttl.is_zero() || !self.live.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        let d = Self::digest(presented);
        let mut map = self.map.lock().ok()?;
        match map.get(&d) {
            Some((p, at)) if at.elapsed() < ttl && p.expires.is_none_or(|e| e.0 > now.0) => {
                Some(p.clone())
            }
            Some(_) => {
                map.remove(&d);
                None
            }
            None => None,
        }
    }

    /// The generation to pass to [`KeyCache::put`], read before asking the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Remembers a principal the store verified, unless a change notice or a switch
    /// came in since `generation` was read.
    pub fn put(&self, presented: &str, p: &Principal, ttl: Duration, generation: u64) {
        if ttl.is_zero() || !self.live.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            // Checked under the lock that `forget` and `set_live` bump it under.
            if self.generation() != generation {
                return;
            }
            if map.len() >= MAX_CACHED_KEYS {
                map.clear();
            }
            map.insert(Self::digest(presented), (p.clone(), Instant::now()));
        }
    }

    /// Drops every entry of a key (revoked, rotated or deleted).
    pub fn forget(&self, key_id: &str) {
        self.bump().retain(|_, (p, _)| p.key_id != key_id);
    }

    /// Turns caching on (this process hears key changes) or off (it may miss them:
    /// everything cached is dropped).
    pub fn set_live(&self, live: bool) {
        self.bump().clear();
        self.live.store(live, std::sync::atomic::Ordering::Release);
    }

    /// The map, locked, after a new generation began under that lock: a
    /// verification that started before it will not be cached.
    fn bump(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (Principal, Instant)>> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        map
    }
}

/// Token buckets, one per tenant, refilled at the tenant's `rate_per_sec` with a
/// burst of one second's worth. Per process: N API processes admit up to N× the
/// rate, which is documented.
#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<TenantId, Bucket>>,
    settings: Mutex<HashMap<TenantId, (TenantSettings, Instant)>>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Limiter {
    /// Cached settings of a tenant, if fresh.
    pub fn cached_settings(&self, tenant: &TenantId, ttl: Duration) -> Option<TenantSettings> {
        let map = self.settings.lock().ok()?;
        map.get(tenant)
            .filter(|(_, at)| at.elapsed() < ttl)
            .map(|(s, _)| *s)
    }

    /// Caches a tenant's settings.
    pub fn cache_settings(&self, tenant: &TenantId, s: TenantSettings) {
        if let Ok(mut map) = self.settings.lock() {
            if map.len() > 100_000 {
                map.clear();
            }
            map.insert(tenant.clone(), (s, Instant::now()));
        }
    }

    /// Takes a token; `Err(seconds to wait)` when the bucket is empty.
    pub fn take(&self, tenant: &TenantId, rate_per_sec: i32) -> Result<(), u64> {
        let rate = f64::from(rate_per_sec.max(1));
        let Ok(mut map) = self.buckets.lock() else {
            return Ok(());
        };
        if map.len() > 100_000 {
            map.clear();
        }
        let now = Instant::now();
        let b = map.entry(tenant.clone()).or_insert(Bucket {
            tokens: rate,
            last: now,
        });
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}
