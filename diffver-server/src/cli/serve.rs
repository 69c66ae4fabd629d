//! `diffver serve`: the API and, by default, an in-process worker. With no
//! configuration it runs the embedded default under `./diffver-data/`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use crate::service::run::{ProcessOptions, run};
use crate::service::state::ApiSettings;
use crate::service::worker::WorkerSettings;

use super::service_args::{GithubArgs, SignerArgs, StoreArgs, runtime};

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "DIFFVER_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Scans processed at once by this process's worker (default: four per core; a
    /// scan waits on storage as much as it computes).
    #[arg(long, env = "DIFFVER_WORKERS", value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// Serve the API only (run `diffver worker` processes elsewhere).
    #[arg(long)]
    pub(crate) no_worker: bool,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "DIFFVER_MAX_BODY_BYTES", default_value_t = 16 << 20)]
    pub(crate) max_body_bytes: usize,
    /// Seconds a verified API key is reused without a database query (Postgres only,
    /// where key changes are announced; revocations apply at once). 0 turns it off.
    #[arg(long, env = "DIFFVER_KEY_CACHE_SECS", default_value_t = 10)]
    pub(crate) key_cache_secs: u64,
    /// Do not run the GitHub publisher in this process (run `diffver publisher`).
    #[arg(long)]
    pub(crate) no_publisher: bool,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) signer: SignerArgs,
    #[command(flatten)]
    pub(crate) github: GithubArgs,
}

pub(crate) fn worker_settings(n: Option<usize>) -> WorkerSettings {
    WorkerSettings {
        concurrency: n
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1),
        ..WorkerSettings::default()
    }
}

pub(crate) fn run_cmd(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let production = a.store.production();
    let opts = ProcessOptions {
        listen: Some(a.listen),
        workers: usize::from(!a.no_worker),
        worker: worker_settings(a.workers),
        api: ApiSettings {
            max_body_bytes: a.max_body_bytes,
            settings_ttl: Duration::from_secs(5),
            key_cache_ttl: Duration::from_secs(a.key_cache_secs.min(3600)),
            ..ApiSettings::default()
        },
        store: a.store.settings(),
        signer: a.signer.settings(production),
        bootstrap: !production,
        github: a.github.settings()?,
        publisher: !a.no_publisher,
        metrics_listen: None,
        tenant_signing_keys: a.signer.tenant_signing_keys.clone(),
    };
    runtime()?.block_on(run(opts))?;
    Ok(ExitCode::SUCCESS)
}
