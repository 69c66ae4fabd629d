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
        worker: super::serve::worker_settings(a.workers),
        api: ApiSettings::default(),
        store: a.store.settings(),
        signer: a.signer.settings(production),
        bootstrap: false,
        github: None,
        publisher: false,
        metrics_listen: a.metrics_listen,
    };
    runtime()?.block_on(run(opts))?;
    Ok(ExitCode::SUCCESS)
}
