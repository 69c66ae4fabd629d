//! `diffver publisher`: the GitHub publisher alone (no API, no worker), for
//! deployments where only this process may reach GitHub.

use std::process::ExitCode;

use crate::service::run::{ProcessOptions, run};
use crate::service::state::ApiSettings;

use super::service_args::{GithubArgs, SignerArgs, StoreArgs, runtime};

#[derive(clap::Args)]
pub(crate) struct PublisherArgs {
    /// Serve `/metrics`, `/healthz` and `/readyz` on this address.
    #[arg(long, env = "DIFFVER_METRICS_LISTEN", value_name = "ADDR")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) signer: SignerArgs,
    #[command(flatten)]
    pub(crate) github: GithubArgs,
}

pub(crate) fn run_cmd(a: PublisherArgs) -> anyhow::Result<ExitCode> {
    let production = a.store.production();
    let Some(github) = a.github.settings()? else {
        anyhow::bail!(
            "the publisher needs DIFFVER_GITHUB_WEBHOOK_SECRET, DIFFVER_GITHUB_APP_ID and DIFFVER_GITHUB_PRIVATE_KEY"
        );
    };
    if !github.can_publish() {
        anyhow::bail!("the publisher needs DIFFVER_GITHUB_APP_ID and DIFFVER_GITHUB_PRIVATE_KEY");
    }
    let opts = ProcessOptions {
        listen: None,
        workers: 0,
        worker: super::serve::worker_settings(None),
        api: ApiSettings::default(),
        store: a.store.settings(),
        signer: a.signer.settings(production),
        bootstrap: false,
        github: Some(github),
        publisher: true,
        metrics_listen: a.metrics_listen,
        tenant_signing_keys: a.signer.tenant_signing_keys.clone(),
    };
    runtime()?.block_on(run(opts))?;
    Ok(ExitCode::SUCCESS)
}
