//! Running a process: `serve` (API and, by default, workers), `worker` (workers
//! only), `migrate`; the first-start bootstrap of the embedded default; graceful
//! shutdown on SIGINT/SIGTERM.

use std::net::SocketAddr;

use anyhow::Context as _;
use diffver_store::{Millis, Notice, Role, Store, StoreError};
use tokio::sync::watch;

use super::config::{Database, Opened, StoreSettings};
use super::signer::{ServiceSigner, SignerConfig};
use super::state::{ApiSettings, AppState};
use super::worker::{self, WorkerSettings};

/// What a process runs.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// Serve the API on this address (`None`: worker only).
    pub listen: Option<SocketAddr>,
    /// Worker tasks in this process (0: API only).
    pub workers: usize,
    /// Worker settings.
    pub worker: WorkerSettings,
    /// API settings.
    pub api: ApiSettings,
    /// Storage.
    pub store: StoreSettings,
    /// Signing.
    pub signer: SignerConfig,
    /// Create the `default` tenant and print keys when the store is empty.
    pub bootstrap: bool,
    /// The GitHub integration (the webhook route answers only when set).
    pub github: Option<super::github::GithubSettings>,
    /// Run the GitHub publisher in this process (needs `github` with an App id and key).
    pub publisher: bool,
    /// Serve `/metrics`, `/healthz` and `/readyz` here (worker and publisher
    /// processes, which have no API).
    pub metrics_listen: Option<SocketAddr>,
    /// A directory of per-tenant signing keys (`KEY_ID.key`).
    pub tenant_signing_keys: Option<std::path::PathBuf>,
}

/// Opens storage and applies migrations.
///
/// # Errors
///
/// Storage that cannot be opened or migrated.
pub async fn open_migrated(settings: &StoreSettings) -> anyhow::Result<Opened> {
    let opened = settings.open().await?;
    match &opened.database {
        Database::Sqlite(s) => s.migrate().await.context("migrations failed")?,
        Database::Postgres(p) => p.migrate().await.context("migrations failed")?,
    }
    Ok(opened)
}

/// Runs a process until SIGINT/SIGTERM.
///
/// # Errors
///
/// A configuration that cannot start (refused signer, unreachable storage, a port in use).
pub async fn run(opts: ProcessOptions) -> anyhow::Result<()> {
    super::telemetry::init_logs();
    // Refuse a bad signer before touching storage.
    let signer = opts.signer.signer().await?;
    let opened = open_migrated(&opts.store).await?;
    tracing::info!(storage = %opened.describe, "storage ready, migrations applied");
    let id = signer.describe();
    if signer.is_development() {
        tracing::warn!(signer = %id, "DEVELOPMENT SIGNER: artifacts are signed with the published development key; they prove integrity in transit, not who signed them. Set DIFFVER_SIGNING_KEY_FILE for real use");
        eprintln!(
            "diffver: WARNING: artifacts are signed with the published development key (not for production)"
        );
    } else {
        tracing::info!(signer = %id, "signer ready");
    }
    match opened.database {
        Database::Sqlite(s) => run_with(s, opened.objects, signer, opts).await,
        Database::Postgres(p) => run_with(p, opened.objects, signer, opts).await,
    }
}

async fn run_with<S: Store + Clone + 'static>(
    store: S,
    objects: diffver_store::Objects,
    signer: ServiceSigner,
    opts: ProcessOptions,
) -> anyhow::Result<()> {
    if opts.bootstrap {
        bootstrap(&store, opts.listen).await?;
    }
    let mut state = AppState::new(store, objects, signer, opts.api.clone());
    if let Some(dir) = &opts.tenant_signing_keys {
        let keys = super::signer::load_tenant_keys(dir)?;
        tracing::info!(keys = keys.len(), dir = %dir.display(), "per-tenant signing keys loaded");
        state = state.with_tenant_signers(keys);
    }
    if let Some(g) = opts.github.clone() {
        tracing::info!(api = %g.api_url, publisher = opts.publisher && g.can_publish(), "GitHub integration enabled");
        state = state.with_github(g);
    }
    let (tx, rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    if opts.publisher && state.github().is_some_and(|g| g.can_publish()) {
        let (st, rx) = (state.clone(), rx.clone());
        tasks.spawn(async move {
            let settings = super::github::publisher::PublisherSettings {
                base_backoff_ms: st.github().map_or(1_000, |g| g.retry_base_ms.max(1)),
                ..super::github::publisher::PublisherSettings::default()
            };
            super::github::publisher::run(st, settings, rx).await
        });
    }
    for _ in 0..opts.workers {
        let (st, settings, rx) = (state.clone(), opts.worker.clone(), rx.clone());
        tasks.spawn(async move { worker::run(st, settings, rx).await });
    }
    if let Some(addr) = opts.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for metrics"))?;
        tracing::info!(listen = %listener.local_addr()?, "metrics and probes served");
        let app = super::metrics_app(state.clone());
        let mut rx_m = rx.clone();
        tasks.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx_m.wait_for(|v| *v).await;
                })
                .await
                .context("the metrics server failed")
        });
    }
    if opts.listen.is_some() {
        // Scans finished by workers in other processes wake this process's `?wait=`
        // requests at once (Postgres NOTIFY); polling remains the floor. Key changes
        // made elsewhere drop this process's cached keys.
        let (st, mut rx_f) = (state.clone(), rx.clone());
        tasks.spawn(async move {
            loop {
                match st.store.notice_listener().await {
                    Ok(None) => return Ok(()),
                    Ok(Some(mut l)) => {
                        // Listening: key changes reach this process, verified keys may
                        // be cached until the connection drops.
                        st.keys.set_live(true);
                        loop {
                            tokio::select! {
                                r = l.recv() => match r {
                                    Ok(Notice::ScanDone(id)) => st.finished.notify(&id),
                                    Ok(Notice::KeyChanged(key)) => st.keys.forget(&key),
                                    Ok(Notice::Lost) => {
                                        st.keys.set_live(false);
                                        tracing::warn!("notice listener lost its connection; reconnecting");
                                        break;
                                    }
                                    Err(e) => {
                                        st.keys.set_live(false);
                                        tracing::warn!(error = %e, "notice listener lost; reconnecting");
                                        break;
                                    }
                                },
                                _ = rx_f.wait_for(|v| *v) => return Ok(()),
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot listen for notices; retrying"),
                }
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = rx_f.wait_for(|v| *v) => return Ok(()),
                }
            }
        });
    }
    if let Some(addr) = opts.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(listen = %local, workers = opts.workers, "diffver serving");
        eprintln!(
            "diffver: listening on http://{local} ({} worker task(s))",
            opts.workers
        );
        let app = super::app(state.clone());
        let mut rx_http = rx.clone();
        tasks.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx_http.wait_for(|v| *v).await;
                })
                .await
                .context("the HTTP server failed")
        });
    } else if opts.workers > 0 {
        tracing::info!(workers = opts.workers, "diffver worker running");
    } else {
        tracing::info!("diffver publisher running");
        eprintln!("diffver: publisher running");
    }
    shutdown_signal().await;
    tracing::info!("shutting down: no new requests or claims; finishing jobs in hand");
    let _ = tx.send(true);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "task failed"),
            Err(e) => tracing::error!(error = %e, "task panicked"),
            Ok(Ok(())) => {}
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Keys printed at first start.
#[derive(Debug, Clone)]
pub struct BootstrapKeys {
    /// The `default` tenant's id.
    pub tenant_id: String,
    /// A tenant-role key.
    pub tenant_key: String,
    /// An admin-role key.
    pub admin_key: String,
}

/// On an empty store: tenant `default`, an admin user, a tenant key and an admin key,
/// printed once on standard output (like `vault server -dev` prints its token).
///
/// # Errors
///
/// Storage failures.
pub async fn bootstrap<S: Store>(
    store: &S,
    listen: Option<SocketAddr>,
) -> anyhow::Result<Option<BootstrapKeys>> {
    if !store.list_tenants().await?.is_empty() {
        return Ok(None);
    }
    let now = Millis::from_system_clock();
    let tenant = match store.create_tenant("default", 30, now).await {
        Ok(t) => t,
        // Another process bootstrapped first.
        Err(StoreError::Conflict { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let admin = store
        .create_user(&tenant.id, "admin@localhost", Role::Admin, now)
        .await?;
    let tk = store
        .create_api_key(
            &tenant.id,
            None,
            "bootstrap tenant key",
            Role::Tenant,
            "system",
            now,
        )
        .await?;
    let ak = store
        .create_api_key(
            &tenant.id,
            Some(&admin.id),
            "bootstrap admin key",
            Role::Admin,
            "system",
            now,
        )
        .await?;
    let keys = BootstrapKeys {
        tenant_id: tenant.id.to_string(),
        tenant_key: tk.secret,
        admin_key: ak.secret,
    };
    println!(
        "\ndiffver: first start — created tenant \"default\" ({}).\n\
         These keys are shown once; keep them (they are stored only as HMACs):\n\n    \
         tenant key: {}\n    admin key:  {}\n\n\
         Try:  curl -s -H \"Authorization: Bearer {}\" -H 'Content-Type: text/x-diff' \\\n            \
         --data-binary @examples/diffs/suspicious-pr.diff 'http://{}/v1/scans?wait=10'\n",
        keys.tenant_id,
        keys.tenant_key,
        keys.admin_key,
        keys.tenant_key,
        listen.map_or_else(|| "127.0.0.1:8080".to_owned(), |a| a.to_string())
    );
    tracing::info!(tenant_id = %keys.tenant_id, "bootstrapped tenant \"default\" with a tenant key and an admin key (printed on standard output)");
    Ok(Some(keys))
}
