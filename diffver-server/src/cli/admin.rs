//! `diffver admin`: tenants and keys from the command line (for bootstrapping and
//! scripts; `--json` prints machine-readable output).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use diffver_store::{Millis, Role, Store, StoreError, TenantId};

use crate::service::config::Database;
use crate::service::run::open_migrated;

use super::common::outln;
use super::service_args::{StoreArgs, runtime};

#[derive(clap::Args)]
pub(crate) struct AdminArgs {
    #[command(subcommand)]
    pub(crate) cmd: AdminCmd,
    /// Print JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

#[derive(Subcommand)]
pub(crate) enum AdminCmd {
    /// Create a tenant; prints its id.
    CreateTenant {
        /// The tenant's name (unique).
        name: String,
        /// Days raw diffs are kept.
        #[arg(long, default_value_t = 30)]
        retention_days: i32,
    },
    /// Create an API key; prints the key once.
    CreateKey {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// `tenant` or `admin`.
        #[arg(long, value_parser = ["tenant", "admin"])]
        role: String,
        /// A name for the key.
        #[arg(long, default_value = "cli")]
        name: String,
        /// The user the key belongs to (an admin key needs an admin user; without
        /// this one is created with `--email`).
        #[arg(long)]
        user_id: Option<String>,
        /// Email of the user created for an admin key without `--user-id`.
        #[arg(long, default_value = "admin@localhost")]
        email: String,
    },
    /// Revoke an API key by its prefix (`dv_PREFIX_…`, or just PREFIX).
    RevokeKey {
        /// The key's prefix.
        prefix: String,
    },
    /// Put a dead-lettered job back in the queue with a fresh attempt budget.
    Redrive {
        /// The job's id (from the dead-letter list).
        job_id: i64,
    },
    /// Map a GitHub App installation to a tenant (creating its record if the
    /// `installation` event was never received).
    MapInstallation {
        /// GitHub's installation id.
        installation_id: i64,
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The account it is installed on (for the record).
        #[arg(long, default_value = "")]
        account: String,
    },
    /// List the GitHub App installations and their tenants.
    ListInstallations,
}

pub(crate) fn run_cmd(a: AdminArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let opened = open_migrated(&a.store.settings()).await?;
        match &opened.database {
            Database::Sqlite(s) => admin(s, a.cmd, a.json).await,
            Database::Postgres(p) => admin(p, a.cmd, a.json).await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn admin<S: Store>(store: &S, cmd: AdminCmd, json: bool) -> anyhow::Result<()> {
    let now = Millis::from_system_clock();
    match cmd {
        AdminCmd::CreateTenant {
            name,
            retention_days,
        } => {
            let t = store
                .create_tenant(&name, retention_days, now)
                .await
                .map_err(named("tenant"))?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"id": t.id.as_str(), "name": t.name})
                );
            } else {
                outln!("{}", t.id);
            }
        }
        AdminCmd::CreateKey {
            tenant,
            role,
            name,
            user_id,
            email,
        } => {
            let tenant = diffver_store::TenantId::new(tenant).context("invalid tenant id")?;
            let role = Role::from_name(&role).context("role must be tenant or admin")?;
            let user_id = match (user_id, role) {
                (Some(u), _) => Some(u),
                (None, Role::Admin) => Some(
                    store
                        .create_user(&tenant, &email, Role::Admin, now)
                        .await
                        .map_err(named("tenant"))?
                        .id,
                ),
                (None, _) => None,
            };
            let c = store
                .create_api_key(&tenant, user_id.as_deref(), &name, role, "cli", now)
                .await
                .map_err(named("tenant or user"))?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"key": c.secret, "prefix": c.key.id, "tenant": tenant.as_str(), "role": role.as_str()})
                );
            } else {
                outln!("{}", c.secret);
            }
        }
        AdminCmd::RevokeKey { prefix } => {
            let id = key_prefix(&prefix);
            let key = store.find_api_key(id).await.map_err(named("api key"))?;
            store
                .revoke_api_key(&key.tenant_id, &key.id, "cli", now)
                .await
                .map_err(named("api key"))?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"revoked": key.id, "tenant": key.tenant_id.as_str()})
                );
            } else {
                outln!("revoked key {} of tenant {}", key.id, key.tenant_id);
            }
        }
        AdminCmd::Redrive { job_id } => {
            for t in store.list_tenants().await? {
                if store
                    .list_dead_letters(&t.id)
                    .await?
                    .iter()
                    .any(|j| j.id == job_id)
                {
                    let j = store.redrive(&t.id, job_id, "cli", now).await?;
                    if json {
                        outln!(
                            "{}",
                            serde_json::json!({"job": j.id, "scan_id": j.scan_id.as_str(), "status": j.status.as_str()})
                        );
                    } else {
                        outln!("job {} of scan {} is queued again", j.id, j.scan_id);
                    }
                    return Ok(());
                }
            }
            bail!("no dead-lettered job {job_id}");
        }
        AdminCmd::MapInstallation {
            installation_id,
            tenant,
            account,
        } => {
            let tenant = TenantId::new(tenant).map_err(|_| anyhow::anyhow!("not a tenant id"))?;
            store.get_tenant(&tenant).await.map_err(named("tenant"))?;
            if let Err(StoreError::NotFound { .. }) = store.get_installation(installation_id).await
            {
                store
                    .upsert_installation(installation_id, &account, None, now)
                    .await
                    .map_err(named("installation"))?;
            }
            let i = store
                .map_installation(installation_id, &tenant, "cli", now)
                .await
                .map_err(named("installation"))?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"installation_id": i.installation_id, "tenant_id": tenant.as_str()})
                );
            } else {
                outln!("installation {} maps to tenant {tenant}", i.installation_id);
            }
        }
        AdminCmd::ListInstallations => {
            for i in store.list_installations().await? {
                let tenant = i.tenant_id.as_ref().map_or("(unmapped)", TenantId::as_str);
                if json {
                    outln!(
                        "{}",
                        serde_json::json!({"installation_id": i.installation_id, "tenant_id": i.tenant_id.as_ref().map(TenantId::as_str), "account": i.account, "deleted": i.deleted.is_some()})
                    );
                } else {
                    outln!(
                        "{}\t{}\t{}{}",
                        i.installation_id,
                        tenant,
                        diffver_core::text::escape_for_display(i.account.as_bytes()),
                        if i.deleted.is_some() {
                            "\t(uninstalled)"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

/// The id part of a key or prefix (`dv_ID_…` or `ID`).
fn key_prefix(s: &str) -> &str {
    let s = s.strip_prefix(diffver_store::KEY_PREFIX).unwrap_or(s);
    s.split('_').next().unwrap_or(s)
}

fn named(what: &'static str) -> impl Fn(StoreError) -> anyhow::Error {
    move |e| match e {
        StoreError::NotFound { .. } => anyhow::anyhow!("no such {what}"),
        StoreError::Conflict { what: w } => anyhow::anyhow!("conflict: {w}"),
        e => anyhow::Error::new(e),
    }
}
