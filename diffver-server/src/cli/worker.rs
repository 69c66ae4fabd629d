//! `diffver worker`: a worker process (no API), for deployments that scale the
//! API and the workers apart (Postgres).

use std::process::ExitCode;

use crate::service::run::{ProcessOptions, run};
use crate::service::state::ApiSettings;

use super::service_args::{SignerArgs, StoreArgs, runtime};

#[derive(clap::Args)]
pub(crate) struct WorkerArgs {
    /// Scans processed at once (default: four per core).
    #[arg(long, env = "DIFFVER_WORKERS", value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// How long a claimed job is leased, in seconds (heartbeats extend it every third):
    /// a worker that dies loses its jobs to another after at most this long.
    #[arg(long, env = "DIFFVER_LEASE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub(crate) lease_secs: u32,
    /// How often expired leases are reaped and the queue gauges refreshed, in seconds.
    #[arg(long, env = "DIFFVER_REAP_SECS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub(crate) reap_secs: u32,
    /// Serve `/metrics`, `/healthz` and `/readyz` on this address.
    #[arg(long, env = "DIFFVER_METRICS_LISTEN", value_name = "ADDR")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) signer: SignerArgs,
}

pub(crate) fn run_cmd(a: WorkerArgs) -> anyhow::Result<ExitCode> {
    let production = a.store.production();
    let opts = ProcessOptions {
        listen: None,
        workers: 1,
        worker: crate::service::worker::WorkerSettings {
            lease_ms: i64::from(a.lease_secs) * 1000,
            reap_every: std::time::Duration::from_secs(u64::from(a.reap_secs)),
            ..super::serve::worker_settings(a.workers)
        },
        api: ApiSettings::default(),
        store: a.store.settings(),
        signer: a.signer.settings(production),
        bootstrap: false,
        github: None,
        publisher: false,
        metrics_listen: a.metrics_listen,
        tenant_signing_keys: a.signer.tenant_signing_keys.clone(),
    };
    runtime()?.block_on(run(opts))?;
    Ok(ExitCode::SUCCESS)
}
