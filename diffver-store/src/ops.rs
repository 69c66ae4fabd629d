//! The operations both backends implement with the same SQL, written once as macros
//! and expanded in `pg.rs` and `sqlite.rs` against each backend's transaction type.
//!
//! A backend provides, as inherent methods: `tenant_tx(&TenantId)` (a transaction
//! confined to one tenant), `system_tx()` (one that may span tenants, for the queue
//! and maintenance), their read-only twins `tenant_read_tx` and `system_read_tx`
//! (on SQLite a deferred `BEGIN`, so readers do not queue behind the one writer), `jobs_enqueued()` (wakes local waiters), `insert_findings` and
//! the backend-specific queue statements (`claim`, `complete_batch`).

/// Inherent helpers shared by both backends.
macro_rules! shared_helpers {
    () => {
        /// Appends an audit event inside `tx`. The head row's update serialises
        /// appenders of one tenant, so the chain never forks.
        async fn audit_tx(
            tx: &mut Tx,
            tenant: &TenantId,
            event: &NewAuditEvent,
            now: Millis,
        ) -> Result<AuditEvent> {
            sqlx::query(
                "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) \
                 ON CONFLICT (tenant_id) DO NOTHING",
            )
            .bind(tenant.as_str())
            .bind(crate::audit::GENESIS)
            .execute(&mut **tx)
            .await?;
            let (seq, prev): (i64, String) = sqlx::query_as(
                "UPDATE audit_heads SET seq = seq + 1 WHERE tenant_id = $1 RETURNING seq, hash",
            )
            .bind(tenant.as_str())
            .fetch_one(&mut **tx)
            .await?;
            let hash = crate::audit::event_hash(tenant, seq, now, event, &prev);
            sqlx::query("UPDATE audit_heads SET hash = $2 WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .bind(&hash)
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO audit_events (tenant_id, seq, at_ms, actor, action, object_kind, \
                 object_id, detail, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(tenant.as_str())
            .bind(seq)
            .bind(now.0)
            .bind(&event.actor)
            .bind(&event.action)
            .bind(&event.object_kind)
            .bind(&event.object_id)
            .bind(&event.detail)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut **tx)
            .await?;
            Ok(AuditEvent {
                tenant_id: tenant.clone(),
                seq,
                at: now,
                event: event.clone(),
                prev_hash: prev,
                hash,
            })
        }

        /// Inserts a new API key inside `tx` and audits it. `rotated_from` names the key
        /// it replaces.
        #[allow(clippy::too_many_arguments)]
        async fn create_key_tx(
            tx: &mut Tx,
            pepper: &crate::apikey::Pepper,
            tenant: &TenantId,
            user_id: Option<&str>,
            name: &str,
            role: Role,
            rotated_from: Option<&str>,
            actor: &str,
            now: Millis,
        ) -> Result<CreatedApiKey> {
            if name.trim().is_empty() || name.len() > 200 {
                return Err(StoreError::Invalid {
                    field: "name",
                    reason: "must be 1-200 characters, not only spaces",
                });
            }
            if role == Role::Admin && user_id.is_none() {
                return Err(StoreError::Invalid {
                    field: "role",
                    reason: "an admin key needs an admin user",
                });
            }
            if let Some(user) = user_id {
                let found: Option<(String,)> =
                    sqlx::query_as("SELECT role FROM users WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.as_str())
                        .bind(user)
                        .fetch_optional(&mut **tx)
                        .await?;
                let Some((user_role,)) = found else {
                    return Err(StoreError::NotFound { kind: "user" });
                };
                if role == Role::Admin && Role::parse(&user_role)? != Role::Admin {
                    return Err(StoreError::Invalid {
                        field: "role",
                        reason: "an admin key needs an admin user",
                    });
                }
            }
            let (id, text) = crate::apikey::generate()?;
            let mac = pepper.mac(&text);
            let r = sqlx::query(
                "INSERT INTO api_keys (tenant_id, id, prefix, secret_hmac, name, role, created_ms, user_id) \
                 VALUES ($1, $2, $2, $3, $4, $5, $6, $7)",
            )
            .bind(tenant.as_str())
            .bind(&id)
            .bind(&mac)
            .bind(name)
            .bind(role.as_str())
            .bind(now.0)
            .bind(user_id)
            .execute(&mut **tx)
            .await;
            if let Err(e) = &r {
                if is_foreign_key_violation(e) {
                    return Err(StoreError::NotFound { kind: "tenant" });
                }
            }
            r?;
            let detail = match rotated_from {
                Some(old) => format!(
                    "{{\"role\":\"{}\",\"rotated_from\":{}}}",
                    role.as_str(),
                    crate::ops::json_str(old)
                ),
                None => format!("{{\"role\":\"{}\"}}", role.as_str()),
            };
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: if rotated_from.is_some() { "api_key.rotate" } else { "api_key.create" }
                    .to_owned(),
                object_kind: "api_key".to_owned(),
                object_id: id.clone(),
                detail,
            };
            Self::audit_tx(tx, tenant, &ev, now).await?;
            Ok(CreatedApiKey {
                key: ApiKey {
                    tenant_id: tenant.clone(),
                    id,
                    name: name.to_owned(),
                    role,
                    created: now,
                    last_used: None,
                    revoked: None,
                    user_id: user_id.map(str::to_owned),
                    expires: None,
                },
                secret: text,
            })
        }

        /// Stores a scan's outputs and completes its job, fenced on the lease.
        async fn complete_tx(
            tx: &mut Tx,
            lease: &Lease,
            outputs: &ScanOutputs,
            now: Millis,
        ) -> Result<()> {
            let done = sqlx::query(
                "UPDATE scan_jobs SET status = 'completed', finished_ms = $5, updated_ms = $5, \
                 lease_expires_ms = NULL \
                 WHERE id = $1 AND tenant_id = $2 AND status = 'running' AND lease_owner = $3 \
                 AND attempt = $4 AND lease_expires_ms > $5",
            )
            .bind(lease.job_id)
            .bind(lease.tenant_id.as_str())
            .bind(lease.owner.as_str())
            .bind(lease.attempt)
            .bind(now.0)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Err(StoreError::Fenced {
                    job_id: lease.job_id,
                    attempt: lease.attempt,
                });
            }
            let status = if outputs.decision.is_some() {
                ScanStatus::Completed
            } else {
                ScanStatus::Error
            };
            sqlx::query(
                "UPDATE scans SET status = $3, decision = $4, policy_hash = $5, artifact_key = $6, \
                 html_key = $7, error = $8, completed_ms = $9, blocking = $10 \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(lease.tenant_id.as_str())
            .bind(lease.scan_id.as_str())
            .bind(status.as_str())
            .bind(outputs.decision.map(|d| d.as_str()))
            .bind(outputs.policy_hash.as_deref())
            .bind(outputs.artifact_key.as_deref())
            .bind(outputs.html_key.as_deref())
            .bind(outputs.error.as_deref())
            .bind(now.0)
            .bind(outputs.blocking)
            .execute(&mut **tx)
            .await?;
            Self::insert_findings(tx, &[(lease, outputs)]).await
        }

        /// `NotFound` unless the tenant has the scan.
        async fn scan_exists(tx: &mut Tx, tenant: &TenantId, id: &ScanId) -> Result<()> {
            let found: Option<(i32,)> =
                sqlx::query_as("SELECT 1 FROM scans WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
            found.map(|_| ()).ok_or(StoreError::NotFound { kind: "scan" })
        }

        /// A failed or expired attempt: back to `queued` after a backoff, or
        /// `dead_letter` when it was the last. Fenced: with an `owner` (a worker's
        /// `fail`), only the live lease of that owner; without (the reaper), only an
        /// expired lease.
        #[allow(clippy::too_many_arguments)]
        async fn retry_or_bury(
            tx: &mut Tx,
            job_id: i64,
            tenant: &TenantId,
            scan: &ScanId,
            attempt: i32,
            max_attempts: i32,
            error: &str,
            backoff: &Backoff,
            now: Millis,
            owner: Option<&WorkerId>,
        ) -> Result<FailOutcome> {
            let error = crate::model::truncate_utf8(error, 8 * 1024);
            let dead = attempt >= max_attempts;
            let (status, run_at, finished) = if dead {
                (JobStatus::DeadLetter, now, Some(now.0))
            } else {
                (JobStatus::Queued, now.plus_ms(backoff.delay_ms(job_id, attempt)), None)
            };
            let n = sqlx::query(
                "UPDATE scan_jobs SET status = $6, run_at_ms = $7, last_error = $8, updated_ms = $5, \
                 lease_expires_ms = NULL, finished_ms = $9 \
                 WHERE id = $1 AND tenant_id = $2 AND status = 'running' AND attempt = $3 \
                 AND (($4 IS NULL AND lease_expires_ms <= $5) \
                      OR (lease_owner = $4 AND lease_expires_ms > $5))",
            )
            .bind(job_id)
            .bind(tenant.as_str())
            .bind(attempt)
            .bind(owner.map(|o| o.as_str()))
            .bind(now.0)
            .bind(status.as_str())
            .bind(run_at.0)
            .bind(error)
            .bind(finished)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Fenced { job_id, attempt });
            }
            if dead {
                sqlx::query(
                    "UPDATE scans SET status = 'error', decision = NULL, error = $3, completed_ms = $4 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.as_str())
                .bind(scan.as_str())
                .bind(error)
                .bind(now.0)
                .execute(&mut **tx)
                .await?;
                Ok(FailOutcome::DeadLetter)
            } else {
                sqlx::query("UPDATE scans SET status = 'queued' WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(scan.as_str())
                    .execute(&mut **tx)
                    .await?;
                Ok(FailOutcome::Retry { run_at })
            }
        }
    };
}
pub(crate) use shared_helpers;

/// The `Store` methods with one SQL text for both backends. `$lock` is the row-lock
/// suffix of the reaper's scan (`FOR UPDATE SKIP LOCKED` on Postgres, empty on
/// SQLite, whose write transactions are serial).
macro_rules! shared_ops {
    ($lock:literal) => {
        async fn create_tenant(
            &self,
            name: &str,
            diff_retention_days: i32,
            now: Millis,
        ) -> Result<Tenant> {
            if name.is_empty() || diff_retention_days < 0 {
                return Err(StoreError::Invalid {
                    field: "tenant",
                    reason: "needs a name and a non-negative retention",
                });
            }
            let id = TenantId::generate()?;
            let mut tx = self.system_tx().await?;
            sqlx::query(
                "INSERT INTO tenants (id, name, diff_retention_days, created_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(id.as_str())
            .bind(name)
            .bind(diff_retention_days)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO queue_tenants (tenant_id, served_seq) VALUES ($1, 0)")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Tenant {
                id,
                name: name.to_owned(),
                diff_retention_days,
                created: now,
                settings: TenantSettings::default(),
                signer: None,
            })
        }

        async fn queue_stats(&self) -> Result<QueueStats> {
            let mut tx = self.system_read_tx().await?;
            let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
                "SELECT status, COUNT(*), MIN(created_ms) FROM scan_jobs \
                 WHERE status IN ('queued', 'running', 'dead_letter') GROUP BY status",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            let mut stats = QueueStats::default();
            for (status, n, oldest) in rows {
                match status.as_str() {
                    "queued" => {
                        stats.queued = n;
                        stats.oldest_queued = oldest.map(Millis);
                    }
                    "running" => stats.running = n,
                    _ => stats.dead_letter = n,
                }
            }
            Ok(stats)
        }

        async fn list_tenants(&self) -> Result<Vec<Tenant>> {
            let mut tx = self.system_read_tx().await?;
            let rows: Vec<TenantRow> =
                sqlx::query_as(concat!("SELECT ", tenant_cols!(), " FROM tenants ORDER BY created_ms, id"))
                    .fetch_all(&mut *tx)
                    .await?;
            tx.commit().await?;
            rows.into_iter().map(Tenant::try_from).collect()
        }

        async fn set_tenant_signer(
            &self,
            tenant: &TenantId,
            signer: Option<&str>,
            actor: &str,
            now: Millis,
        ) -> Result<Tenant> {
            if let Some(k) = signer
                && (k.is_empty() || k.len() > 128 || !k.bytes().all(|b| b.is_ascii_graphic()))
            {
                return Err(StoreError::Invalid {
                    field: "signer",
                    reason: "a key id is 1 to 128 visible ASCII characters",
                });
            }
            let mut tx = self.tenant_tx(tenant).await?;
            let row: Option<TenantRow> = sqlx::query_as(concat!(
                "UPDATE tenants SET signer = $2 WHERE id = $1 RETURNING ",
                tenant_cols!()
            ))
            .bind(tenant.as_str())
            .bind(signer)
            .fetch_optional(&mut *tx)
            .await?;
            let row = row.ok_or(StoreError::NotFound { kind: "tenant" })?;
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "tenant.set_signer".to_owned(),
                object_kind: "tenant".to_owned(),
                object_id: tenant.as_str().to_owned(),
                detail: format!(
                    "{{\"signer\":{}}}",
                    signer.map_or_else(|| "null".to_owned(), json_str)
                ),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            row.try_into()
        }

        async fn set_tenant_settings(
            &self,
            tenant: &TenantId,
            settings: TenantSettings,
            actor: &str,
            now: Millis,
        ) -> Result<Tenant> {
            if settings.rate_per_sec < 1 || settings.max_in_flight < 1 {
                return Err(StoreError::Invalid {
                    field: "tenant settings",
                    reason: "rate_per_sec and max_in_flight must be at least 1",
                });
            }
            let mut tx = self.tenant_tx(tenant).await?;
            let n = sqlx::query(
                "UPDATE tenants SET on_error = $2, rate_per_sec = $3, max_in_flight = $4 WHERE id = $1",
            )
            .bind(tenant.as_str())
            .bind(settings.on_error.as_str())
            .bind(settings.rate_per_sec)
            .bind(settings.max_in_flight)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound { kind: "tenant" });
            }
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "tenant.set_settings".to_owned(),
                object_kind: "tenant".to_owned(),
                object_id: tenant.as_str().to_owned(),
                detail: format!(
                    "{{\"on_error\":\"{}\",\"rate_per_sec\":{},\"max_in_flight\":{}}}",
                    settings.on_error.as_str(),
                    settings.rate_per_sec,
                    settings.max_in_flight
                ),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            let row: TenantRow =
                sqlx::query_as(concat!("SELECT ", tenant_cols!(), " FROM tenants WHERE id = $1"))
                    .bind(tenant.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            tx.commit().await?;
            Tenant::try_from(row)
        }

        async fn scans_in_flight(&self, tenant: &TenantId) -> Result<i64> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM scans WHERE tenant_id = $1 AND status IN ('queued', 'running')",
            )
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(n)
        }

        async fn get_tenant(&self, tenant: &TenantId) -> Result<Tenant> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let row: Option<TenantRow> =
                sqlx::query_as(concat!("SELECT ", tenant_cols!(), " FROM tenants WHERE id = $1"))
                    .bind(tenant.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            row.map(Tenant::try_from)
                .transpose()?
                .ok_or(StoreError::NotFound { kind: "tenant" })
        }

        async fn set_diff_retention(
            &self,
            tenant: &TenantId,
            days: i32,
            actor: &str,
            now: Millis,
        ) -> Result<()> {
            if days < 0 {
                return Err(StoreError::Invalid {
                    field: "retention days",
                    reason: "must not be negative",
                });
            }
            let mut tx = self.tenant_tx(tenant).await?;
            let n = sqlx::query("UPDATE tenants SET diff_retention_days = $2 WHERE id = $1")
                .bind(tenant.as_str())
                .bind(days)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound { kind: "tenant" });
            }
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "tenant.set_retention".to_owned(),
                object_kind: "tenant".to_owned(),
                object_id: tenant.as_str().to_owned(),
                detail: format!("{{\"diff_retention_days\":{days}}}"),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn create_user(
            &self,
            tenant: &TenantId,
            email: &str,
            role: Role,
            now: Millis,
        ) -> Result<User> {
            if email.trim().is_empty() || email.len() > 320 || email.chars().any(char::is_control) {
                return Err(StoreError::Invalid {
                    field: "email",
                    reason: "must be 1-320 characters without control characters",
                });
            }
            let id = format!("u-{}", crate::model::random_hex(12)?);
            let mut tx = self.tenant_tx(tenant).await?;
            let r = sqlx::query(
                "INSERT INTO users (tenant_id, id, email, role, created_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tenant.as_str())
            .bind(&id)
            .bind(email)
            .bind(role.as_str())
            .bind(now.0)
            .execute(&mut *tx)
            .await;
            match r {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict { what: "user email" });
                }
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::NotFound { kind: "tenant" });
                }
                r => r?,
            };
            tx.commit().await?;
            Ok(User {
                tenant_id: tenant.clone(),
                id,
                email: email.to_owned(),
                role,
                created: now,
            })
        }

        async fn get_user(&self, tenant: &TenantId, id: &str) -> Result<User> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let row: Option<UserRow> = sqlx::query_as(
                "SELECT tenant_id, id, email, role, created_ms FROM users \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.ok_or(StoreError::NotFound { kind: "user" })?.try_into()
        }

        async fn list_users(&self, tenant: &TenantId) -> Result<Vec<User>> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let rows: Vec<UserRow> = sqlx::query_as(
                "SELECT tenant_id, id, email, role, created_ms FROM users \
                 WHERE tenant_id = $1 ORDER BY created_ms, id",
            )
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows.into_iter().map(User::try_from).collect()
        }

        async fn create_api_key(
            &self,
            tenant: &TenantId,
            user_id: Option<&str>,
            name: &str,
            role: Role,
            actor: &str,
            now: Millis,
        ) -> Result<CreatedApiKey> {
            let mut tx = self.tenant_tx(tenant).await?;
            let key = Self::create_key_tx(&mut tx, &self.pepper, tenant, user_id, name, role, None, actor, now)
                .await?;
            tx.commit().await?;
            Ok(key)
        }

        async fn rotate_api_key(
            &self,
            tenant: &TenantId,
            key_id: &str,
            overlap_ms: i64,
            actor: &str,
            now: Millis,
        ) -> Result<CreatedApiKey> {
            if overlap_ms < 0 {
                return Err(StoreError::Invalid {
                    field: "overlap",
                    reason: "must not be negative",
                });
            }
            let mut tx = self.tenant_tx(tenant).await?;
            let old: Option<ApiKeyRow> = sqlx::query_as(concat!(
                "SELECT ",
                apikey_cols!(),
                " FROM api_keys WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(tenant.as_str())
            .bind(key_id)
            .fetch_optional(&mut *tx)
            .await?;
            let old = ApiKey::try_from(old.ok_or(StoreError::NotFound { kind: "api key" })?)?;
            if old.revoked.is_some() || old.expires.is_some_and(|e| e <= now) {
                return Err(StoreError::Conflict { what: "api key is revoked or expired" });
            }
            let ends = now.plus_ms(overlap_ms);
            sqlx::query(
                "UPDATE api_keys SET expires_ms = $3 WHERE tenant_id = $1 AND id = $2 \
                 AND (expires_ms IS NULL OR expires_ms > $3)",
            )
            .bind(tenant.as_str())
            .bind(key_id)
            .bind(ends.0)
            .execute(&mut *tx)
            .await?;
            let created = Self::create_key_tx(
                &mut tx,
                &self.pepper,
                tenant,
                old.user_id.as_deref(),
                &old.name,
                old.role,
                Some(key_id),
                actor,
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(created)
        }

        async fn find_api_key(&self, prefix: &str) -> Result<ApiKey> {
            let mut tx = self.system_read_tx().await?;
            let row: Option<ApiKeyRow> = sqlx::query_as(concat!(
                "SELECT ",
                apikey_cols!(),
                " FROM api_keys WHERE prefix = $1"
            ))
            .bind(prefix)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            ApiKey::try_from(row.ok_or(StoreError::NotFound { kind: "api key" })?)
        }

        async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let rows: Vec<ApiKeyRow> = sqlx::query_as(concat!(
                "SELECT ",
                apikey_cols!(),
                " FROM api_keys WHERE tenant_id = $1 ORDER BY created_ms, id"
            ))
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows.into_iter().map(ApiKey::try_from).collect()
        }

        async fn revoke_api_key(
            &self,
            tenant: &TenantId,
            key_id: &str,
            actor: &str,
            now: Millis,
        ) -> Result<()> {
            let mut tx = self.tenant_tx(tenant).await?;
            let found: Option<(Option<i64>,)> = sqlx::query_as(
                "SELECT revoked_ms FROM api_keys WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(key_id)
            .fetch_optional(&mut *tx)
            .await?;
            match found {
                None => return Err(StoreError::NotFound { kind: "api key" }),
                Some((Some(_),)) => return Ok(()),
                Some((None,)) => {}
            }
            sqlx::query("UPDATE api_keys SET revoked_ms = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(key_id)
                .bind(now.0)
                .execute(&mut *tx)
                .await?;
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "api_key.revoke".to_owned(),
                object_kind: "api_key".to_owned(),
                object_id: key_id.to_owned(),
                detail: "{}".to_owned(),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn verify_api_key(&self, presented: &str, now: Millis) -> Result<Principal> {
            let Some(id) = crate::apikey::parse_id(presented) else {
                // Spend the same HMAC as a real check so that shape is all timing says.
                let _ = crate::apikey::matches(&self.pepper, presented, &[]);
                return Err(StoreError::Unauthenticated);
            };
            let mut tx = self.system_read_tx().await?;
            type KeyLookup = (String, Vec<u8>, String, Option<i64>, Option<i64>, Option<i64>, Option<String>);
            let row: Option<KeyLookup> = sqlx::query_as(
                "SELECT tenant_id, secret_hmac, role, revoked_ms, expires_ms, last_used_ms, user_id \
                 FROM api_keys WHERE prefix = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((tenant, stored, role, revoked, expires, last_used, user_id)) = row else {
                let _ = crate::apikey::matches(&self.pepper, presented, &[0u8; 32]);
                return Err(StoreError::Unauthenticated);
            };
            if !crate::apikey::matches(&self.pepper, presented, &stored)
                || revoked.is_some()
                || expires.is_some_and(|e| e <= now.0)
            {
                return Err(StoreError::Unauthenticated);
            }
            tx.commit().await?;
            // `last_used` is kept to the minute: no write per request (and the write,
            // when due, is a transaction of its own so the lookup stays a read).
            if last_used.is_none_or(|t| now.0 - t >= crate::apikey::LAST_USED_GRANULARITY_MS) {
                let mut tx = self.system_tx().await?;
                sqlx::query(
                    "UPDATE api_keys SET last_used_ms = $3 WHERE tenant_id = $1 AND id = $2 \
                     AND (last_used_ms IS NULL OR last_used_ms < $3)",
                )
                .bind(&tenant)
                .bind(id)
                .bind(now.0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Ok(Principal {
                tenant_id: TenantId::from_db(tenant),
                key_id: id.to_owned(),
                role: Role::parse(&role)?,
                user_id,
                expires: expires.map(Millis),
            })
        }

        async fn create_scan(
            &self,
            tenant: &TenantId,
            scan: NewScan,
            now: Millis,
        ) -> Result<CreatedScan> {
            if scan.max_attempts < 1 || scan.diff_size < 0 {
                return Err(StoreError::Invalid {
                    field: "scan",
                    reason: "needs max_attempts >= 1 and a non-negative size",
                });
            }
            let mut tx = self.tenant_tx(tenant).await?;
            if let Some(idem) = &scan.idempotency {
                let r = sqlx::query(
                    "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, scan_id, created_ms) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, key) DO NOTHING",
                )
                .bind(tenant.as_str())
                .bind(idem.key())
                .bind(idem.fingerprint())
                .bind(scan.id.as_str())
                .bind(now.0)
                .execute(&mut *tx)
                .await;
                if let Err(e) = &r {
                    if is_foreign_key_violation(e) {
                        return Err(StoreError::NotFound { kind: "tenant" });
                    }
                }
                if r?.rows_affected() == 0 {
                    // Someone used the key first (and committed: the insert waited).
                    let (fingerprint, original): (String, String) = sqlx::query_as(
                        "SELECT fingerprint, scan_id FROM idempotency_keys \
                         WHERE tenant_id = $1 AND key = $2",
                    )
                    .bind(tenant.as_str())
                    .bind(idem.key())
                    .fetch_one(&mut *tx)
                    .await?;
                    if fingerprint != idem.fingerprint() {
                        return Err(StoreError::Conflict {
                            what: "idempotency key reused with a different request",
                        });
                    }
                    let row: Option<ScanRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        scan_cols!(),
                        " FROM scans WHERE tenant_id = $1 AND id = $2"
                    ))
                    .bind(tenant.as_str())
                    .bind(&original)
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    let row = row.ok_or(StoreError::NotFound { kind: "scan" })?;
                    return Ok(CreatedScan::Existing(Scan::try_from(row)?));
                }
            }
            let r = sqlx::query(
                "INSERT INTO scans (tenant_id, id, status, diff_sha256, diff_size, policy_name, \
                 source, source_metadata, created_ms, baseline_name) \
                 VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(tenant.as_str())
            .bind(scan.id.as_str())
            .bind(&scan.diff_sha256)
            .bind(scan.diff_size)
            .bind(scan.policy_name.as_deref())
            .bind(&scan.source)
            .bind(&scan.source_metadata)
            .bind(now.0)
            .bind(scan.baseline_name.as_deref())
            .execute(&mut *tx)
            .await;
            match r {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict { what: "scan id" });
                }
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::NotFound { kind: "tenant" });
                }
                r => r?,
            };
            sqlx::query(
                "INSERT INTO diff_blobs (tenant_id, scan_id, object_key, sha256, size, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(tenant.as_str())
            .bind(scan.id.as_str())
            .bind(&scan.diff_object_key)
            .bind(&scan.diff_sha256)
            .bind(scan.diff_size)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO scan_jobs (tenant_id, scan_id, status, priority, run_at_ms, \
                 max_attempts, created_ms, updated_ms) VALUES ($1, $2, 'queued', $3, $4, $5, $4, $4)",
            )
            .bind(tenant.as_str())
            .bind(scan.id.as_str())
            .bind(scan.priority)
            .bind(now.0)
            .bind(scan.max_attempts)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            self.jobs_enqueued();
            Ok(CreatedScan::Created(Scan {
                tenant_id: tenant.clone(),
                id: scan.id,
                status: ScanStatus::Queued,
                decision: None,
                diff_sha256: scan.diff_sha256,
                diff_size: scan.diff_size,
                policy_name: scan.policy_name,
                policy_hash: None,
                source: scan.source,
                source_metadata: scan.source_metadata,
                artifact_key: None,
                html_key: None,
                error: None,
                created: now,
                started: None,
                completed: None,
                blocking: None,
                baseline_name: scan.baseline_name,
            }))
        }

        async fn get_scan(&self, tenant: &TenantId, id: &ScanId) -> Result<Scan> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let row: Option<ScanRow> = sqlx::query_as(concat!(
                "SELECT ",
                scan_cols!(),
                " FROM scans WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.ok_or(StoreError::NotFound { kind: "scan" })?.try_into()
        }

        async fn get_diff_blob(&self, tenant: &TenantId, id: &ScanId) -> Result<DiffBlob> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let row: Option<BlobRow> = sqlx::query_as(concat!(
                "SELECT ",
                blob_cols!(),
                " FROM diff_blobs WHERE tenant_id = $1 AND scan_id = $2"
            ))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.map(DiffBlob::from).ok_or(StoreError::NotFound { kind: "diff" })
        }

        async fn page_findings(
            &self,
            tenant: &TenantId,
            id: &ScanId,
            cursor: Option<&str>,
            limit: i64,
        ) -> Result<Page<Finding>> {
            let after: i64 = match cursor {
                None => -1,
                Some(c) => c.parse().map_err(|_| StoreError::Invalid {
                    field: "cursor",
                    reason: "not a cursor this store issued",
                })?,
            };
            let limit = limit.clamp(1, 1000);
            let mut tx = self.tenant_read_tx(tenant).await?;
            Self::scan_exists(&mut tx, tenant, id).await?;
            let rows: Vec<FindingRow> = sqlx::query_as(concat!(
                "SELECT ",
                finding_cols!(),
                " FROM findings WHERE tenant_id = $1 AND scan_id = $2 AND ordinal > $3 \
                 ORDER BY ordinal LIMIT $4"
            ))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(after)
            .bind(limit + 1)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            let mut items: Vec<Finding> = rows.into_iter().map(Finding::from).collect();
            let more = items.len() as i64 > limit;
            items.truncate(usize::try_from(limit).unwrap_or(1000));
            let next = if more {
                items.last().map(|f| f.ordinal.to_string())
            } else {
                None
            };
            Ok(Page { items, next })
        }

        async fn heartbeat(&self, lease: &Lease, lease_ms: i64, now: Millis) -> Result<Lease> {
            let mut tx = self.tenant_tx(&lease.tenant_id).await?;
            let row: Option<(i64,)> = sqlx::query_as(
                "UPDATE scan_jobs SET lease_expires_ms = $5 + $6, updated_ms = $5 \
                 WHERE id = $1 AND tenant_id = $2 AND status = 'running' AND lease_owner = $3 \
                 AND attempt = $4 AND lease_expires_ms > $5 RETURNING lease_expires_ms",
            )
            .bind(lease.job_id)
            .bind(lease.tenant_id.as_str())
            .bind(lease.owner.as_str())
            .bind(lease.attempt)
            .bind(now.0)
            .bind(lease_ms)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            let (expires,) = row.ok_or(StoreError::Fenced {
                job_id: lease.job_id,
                attempt: lease.attempt,
            })?;
            Ok(Lease {
                expires: Millis(expires),
                ..lease.clone()
            })
        }

        async fn complete(&self, lease: &Lease, outputs: ScanOutputs, now: Millis) -> Result<()> {
            let mut tx = self.tenant_tx(&lease.tenant_id).await?;
            Self::complete_tx(&mut tx, lease, &outputs, now).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn fail(
            &self,
            lease: &Lease,
            error: &str,
            backoff: &Backoff,
            now: Millis,
        ) -> Result<FailOutcome> {
            let mut tx = self.tenant_tx(&lease.tenant_id).await?;
            let outcome = Self::retry_or_bury(
                &mut tx,
                lease.job_id,
                &lease.tenant_id,
                &lease.scan_id,
                lease.attempt,
                lease.max_attempts,
                error,
                backoff,
                now,
                Some(&lease.owner),
            )
            .await?;
            tx.commit().await?;
            Ok(outcome)
        }

        async fn reap_expired(
            &self,
            backoff: &Backoff,
            limit: i64,
            now: Millis,
        ) -> Result<ReapReport> {
            let mut tx = self.system_tx().await?;
            let rows: Vec<(i64, String, String, i32, i32)> = sqlx::query_as(concat!(
                "SELECT id, tenant_id, scan_id, attempt, max_attempts FROM scan_jobs \
                 WHERE status = 'running' AND lease_expires_ms <= $1 \
                 ORDER BY lease_expires_ms, id LIMIT $2 ",
                $lock
            ))
            .bind(now.0)
            .bind(limit.max(1))
            .fetch_all(&mut *tx)
            .await?;
            let mut report = ReapReport::default();
            for (id, tenant, scan, attempt, max) in rows {
                let tenant = TenantId::from_db(tenant);
                let scan = ScanId::from_db(scan);
                let outcome = Self::retry_or_bury(
                    &mut tx,
                    id,
                    &tenant,
                    &scan,
                    attempt,
                    max,
                    "lease expired",
                    backoff,
                    now,
                    None,
                )
                .await?;
                match outcome {
                    FailOutcome::Retry { .. } => report.requeued += 1,
                    FailOutcome::DeadLetter => report.dead_lettered += 1,
                }
            }
            tx.commit().await?;
            Ok(report)
        }

        async fn list_jobs(&self, tenant: &TenantId, scan: &ScanId) -> Result<Vec<Job>> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            Self::scan_exists(&mut tx, tenant, scan).await?;
            let rows: Vec<JobRow> = sqlx::query_as(concat!(
                "SELECT ",
                job_cols!(),
                " FROM scan_jobs WHERE tenant_id = $1 AND scan_id = $2 ORDER BY id"
            ))
            .bind(tenant.as_str())
            .bind(scan.as_str())
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows.into_iter().map(Job::try_from).collect()
        }

        async fn list_dead_letters(&self, tenant: &TenantId) -> Result<Vec<Job>> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let rows: Vec<JobRow> = sqlx::query_as(concat!(
                "SELECT ",
                job_cols!(),
                " FROM scan_jobs WHERE tenant_id = $1 AND status = 'dead_letter' ORDER BY id"
            ))
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows.into_iter().map(Job::try_from).collect()
        }

        async fn redrive(
            &self,
            tenant: &TenantId,
            job_id: i64,
            actor: &str,
            now: Millis,
        ) -> Result<Job> {
            let mut tx = self.tenant_tx(tenant).await?;
            let r: std::result::Result<Option<JobRow>, sqlx::Error> = sqlx::query_as(concat!(
                "UPDATE scan_jobs SET status = 'queued', attempt = 0, run_at_ms = $3, \
                 updated_ms = $3, finished_ms = NULL, lease_expires_ms = NULL \
                 WHERE id = $1 AND tenant_id = $2 AND status = 'dead_letter' RETURNING ",
                job_cols!()
            ))
            .bind(job_id)
            .bind(tenant.as_str())
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await;
            let row = match r {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict { what: "the scan already has a live job" });
                }
                r => r?.ok_or(StoreError::NotFound { kind: "dead-letter job" })?,
            };
            let job = Job::try_from(row)?;
            sqlx::query(
                "UPDATE scans SET status = 'queued', completed_ms = NULL \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(job.scan_id.as_str())
            .execute(&mut *tx)
            .await?;
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "job.redrive".to_owned(),
                object_kind: "scan".to_owned(),
                object_id: job.scan_id.as_str().to_owned(),
                detail: format!("{{\"job_id\":{job_id}}}"),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            self.jobs_enqueued();
            Ok(job)
        }

        async fn prune_finished_jobs(&self, before: Millis) -> Result<u64> {
            let mut tx = self.system_tx().await?;
            let n = sqlx::query("DELETE FROM scan_jobs WHERE status = 'completed' AND finished_ms < $1")
                .bind(before.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(n)
        }

        async fn prune_idempotency(&self, before: Millis) -> Result<u64> {
            let mut tx = self.system_tx().await?;
            let n = sqlx::query("DELETE FROM idempotency_keys WHERE created_ms < $1")
                .bind(before.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(n)
        }

        async fn expired_diffs(&self, now: Millis, limit: i64) -> Result<Vec<DiffBlob>> {
            let mut tx = self.system_read_tx().await?;
            let rows: Vec<BlobRow> = sqlx::query_as(concat!(
                "SELECT ",
                blob_cols!(),
                " FROM diff_blobs WHERE deleted_ms IS NULL AND created_ms < $1 - \
                 (SELECT CAST(t.diff_retention_days AS BIGINT) * 86400000 FROM tenants t \
                  WHERE t.id = diff_blobs.tenant_id) \
                 ORDER BY created_ms, scan_id LIMIT $2"
            ))
            .bind(now.0)
            .bind(limit.max(1))
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows.into_iter().map(DiffBlob::from).collect())
        }

        async fn mark_diff_deleted(&self, tenant: &TenantId, scan: &ScanId, now: Millis) -> Result<()> {
            let mut tx = self.tenant_tx(tenant).await?;
            let row: Option<(String, Option<i64>)> = sqlx::query_as(
                "SELECT object_key, deleted_ms FROM diff_blobs WHERE tenant_id = $1 AND scan_id = $2",
            )
            .bind(tenant.as_str())
            .bind(scan.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let (key, deleted) = row.ok_or(StoreError::NotFound { kind: "diff" })?;
            if deleted.is_some() {
                return Ok(());
            }
            sqlx::query("UPDATE diff_blobs SET deleted_ms = $3 WHERE tenant_id = $1 AND scan_id = $2")
                .bind(tenant.as_str())
                .bind(scan.as_str())
                .bind(now.0)
                .execute(&mut *tx)
                .await?;
            let ev = NewAuditEvent {
                actor: "system:retention".to_owned(),
                action: "diff.delete".to_owned(),
                object_kind: "scan".to_owned(),
                object_id: scan.as_str().to_owned(),
                detail: format!("{{\"object_key\":{}}}", json_str(&key)),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn create_policy_version(
            &self,
            tenant: &TenantId,
            name: &str,
            body: &str,
            hash: &str,
            author: &str,
            now: Millis,
        ) -> Result<Policy> {
            if name.is_empty() {
                return Err(StoreError::Invalid { field: "policy name", reason: "empty" });
            }
            let mut tx = self.tenant_tx(tenant).await?;
            let (last,): (Option<i32>,) = sqlx::query_as(
                "SELECT MAX(version) FROM policies WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant.as_str())
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
            let version = last.unwrap_or(0) + 1;
            let r = sqlx::query(
                "INSERT INTO policies (tenant_id, name, version, body, hash, author, active, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7)",
            )
            .bind(tenant.as_str())
            .bind(name)
            .bind(version)
            .bind(body)
            .bind(hash)
            .bind(author)
            .bind(now.0)
            .execute(&mut *tx)
            .await;
            match r {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict { what: "policy version (concurrent create)" });
                }
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::NotFound { kind: "tenant" });
                }
                r => r?,
            };
            let ev = NewAuditEvent {
                actor: author.to_owned(),
                action: "policy.create".to_owned(),
                object_kind: "policy".to_owned(),
                object_id: name.to_owned(),
                detail: format!("{{\"version\":{version},\"hash\":{}}}", json_str(hash)),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(Policy {
                tenant_id: tenant.clone(),
                name: name.to_owned(),
                version,
                body: body.to_owned(),
                hash: hash.to_owned(),
                author: author.to_owned(),
                active: false,
                created: now,
            })
        }

        async fn get_policy(&self, tenant: &TenantId, name: &str, version: i32) -> Result<Policy> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let row: Option<PolicyRow> = sqlx::query_as(concat!(
                "SELECT ",
                policy_cols!(),
                " FROM policies WHERE tenant_id = $1 AND name = $2 AND version = $3"
            ))
            .bind(tenant.as_str())
            .bind(name)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.map(Policy::from).ok_or(StoreError::NotFound { kind: "policy" })
        }

        async fn active_policy(&self, tenant: &TenantId, name: &str) -> Result<Policy> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let row: Option<PolicyRow> = sqlx::query_as(concat!(
                "SELECT ",
                policy_cols!(),
                " FROM policies WHERE tenant_id = $1 AND name = $2 AND active = TRUE"
            ))
            .bind(tenant.as_str())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.map(Policy::from).ok_or(StoreError::NotFound { kind: "policy" })
        }

        async fn list_policies(&self, tenant: &TenantId) -> Result<Vec<Policy>> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let rows: Vec<PolicyRow> = sqlx::query_as(concat!(
                "SELECT ",
                policy_cols!(),
                " FROM policies WHERE tenant_id = $1 ORDER BY name, version"
            ))
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows.into_iter().map(Policy::from).collect())
        }

        async fn activate_policy(
            &self,
            tenant: &TenantId,
            name: &str,
            version: i32,
            actor: &str,
            now: Millis,
        ) -> Result<Policy> {
            let mut tx = self.tenant_tx(tenant).await?;
            sqlx::query(
                "UPDATE policies SET active = FALSE WHERE tenant_id = $1 AND name = $2 AND active = TRUE",
            )
            .bind(tenant.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
            let row: Option<PolicyRow> = sqlx::query_as(concat!(
                "UPDATE policies SET active = TRUE WHERE tenant_id = $1 AND name = $2 AND version = $3 \
                 RETURNING ",
                policy_cols!()
            ))
            .bind(tenant.as_str())
            .bind(name)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
            let policy = row.map(Policy::from).ok_or(StoreError::NotFound { kind: "policy" })?;
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "policy.activate".to_owned(),
                object_kind: "policy".to_owned(),
                object_id: name.to_owned(),
                detail: format!("{{\"version\":{version}}}"),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(policy)
        }

        async fn delete_policy_version(
            &self,
            tenant: &TenantId,
            name: &str,
            version: i32,
            actor: &str,
            now: Millis,
        ) -> Result<()> {
            let mut tx = self.tenant_tx(tenant).await?;
            let row: Option<(bool,)> = sqlx::query_as(
                "SELECT active FROM policies WHERE tenant_id = $1 AND name = $2 AND version = $3",
            )
            .bind(tenant.as_str())
            .bind(name)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                None => return Err(StoreError::NotFound { kind: "policy" }),
                Some((true,)) => return Err(StoreError::Conflict { what: "the active version" }),
                Some((false,)) => {}
            }
            sqlx::query("DELETE FROM policies WHERE tenant_id = $1 AND name = $2 AND version = $3")
                .bind(tenant.as_str())
                .bind(name)
                .bind(version)
                .execute(&mut *tx)
                .await?;
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "policy.delete".to_owned(),
                object_kind: "policy".to_owned(),
                object_id: name.to_owned(),
                detail: format!("{{\"version\":{version}}}"),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn create_exception(
            &self,
            tenant: &TenantId,
            exception: NewException,
            now: Millis,
        ) -> Result<PolicyException> {
            if exception.rule_id.is_empty() || exception.reason.is_empty() {
                return Err(StoreError::Invalid {
                    field: "exception",
                    reason: "needs a rule id and a reason",
                });
            }
            let id = format!("ex-{}", crate::model::random_hex(12)?);
            let mut tx = self.tenant_tx(tenant).await?;
            let r = sqlx::query(
                "INSERT INTO policy_exceptions (tenant_id, id, rule_id, path, fingerprint, reason, \
                 author, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(tenant.as_str())
            .bind(&id)
            .bind(&exception.rule_id)
            .bind(exception.path.as_deref())
            .bind(exception.fingerprint.as_deref())
            .bind(&exception.reason)
            .bind(&exception.author)
            .bind(now.0)
            .bind(exception.expires.0)
            .execute(&mut *tx)
            .await;
            if let Err(e) = &r {
                if is_foreign_key_violation(e) {
                    return Err(StoreError::NotFound { kind: "tenant" });
                }
            }
            r?;
            let ev = NewAuditEvent {
                actor: exception.author.clone(),
                action: "exception.create".to_owned(),
                object_kind: "exception".to_owned(),
                object_id: id.clone(),
                detail: format!(
                    "{{\"rule_id\":{},\"expires_ms\":{}}}",
                    json_str(&exception.rule_id),
                    exception.expires.0
                ),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(PolicyException {
                tenant_id: tenant.clone(),
                id,
                rule_id: exception.rule_id,
                path: exception.path,
                fingerprint: exception.fingerprint,
                reason: exception.reason,
                author: exception.author,
                created: now,
                expires: exception.expires,
            })
        }

        async fn put_baseline(
            &self,
            tenant: &TenantId,
            name: &str,
            body: &str,
            entries: i32,
            actor: &str,
            now: Millis,
        ) -> Result<Baseline> {
            if name.is_empty() || name.len() > 100 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
                return Err(StoreError::Invalid {
                    field: "baseline name",
                    reason: "must be 1-100 of [A-Za-z0-9._-]",
                });
            }
            let sha = crate::model::sha256_hex(body.as_bytes());
            let mut tx = self.tenant_tx(tenant).await?;
            let r = sqlx::query(
                "INSERT INTO baselines (tenant_id, name, body, sha256, entries, author, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET body = excluded.body, sha256 = excluded.sha256, \
                 entries = excluded.entries, author = excluded.author, updated_ms = excluded.updated_ms",
            )
            .bind(tenant.as_str())
            .bind(name)
            .bind(body)
            .bind(&sha)
            .bind(entries)
            .bind(actor)
            .bind(now.0)
            .execute(&mut *tx)
            .await;
            if let Err(e) = &r {
                if is_foreign_key_violation(e) {
                    return Err(StoreError::NotFound { kind: "tenant" });
                }
            }
            r?;
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "baseline.put".to_owned(),
                object_kind: "baseline".to_owned(),
                object_id: name.to_owned(),
                detail: format!("{{\"sha256\":{},\"entries\":{entries}}}", json_str(&sha)),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(Baseline {
                tenant_id: tenant.clone(),
                name: name.to_owned(),
                body: body.to_owned(),
                sha256: sha,
                entries,
                author: actor.to_owned(),
                updated: now,
            })
        }

        async fn get_baseline(&self, tenant: &TenantId, name: &str) -> Result<Baseline> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let row: Option<BaselineRow> = sqlx::query_as(concat!(
                "SELECT ", baseline_cols!(), " FROM baselines WHERE tenant_id = $1 AND name = $2"
            ))
            .bind(tenant.as_str())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.map(Baseline::from).ok_or(StoreError::NotFound { kind: "baseline" })
        }

        async fn list_baselines(&self, tenant: &TenantId) -> Result<Vec<Baseline>> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let rows: Vec<BaselineRow> = sqlx::query_as(concat!(
                "SELECT ", baseline_cols!(), " FROM baselines WHERE tenant_id = $1 ORDER BY name"
            ))
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows.into_iter().map(Baseline::from).collect())
        }

        async fn delete_baseline(&self, tenant: &TenantId, name: &str, actor: &str, now: Millis) -> Result<()> {
            let mut tx = self.tenant_tx(tenant).await?;
            let n = sqlx::query("DELETE FROM baselines WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound { kind: "baseline" });
            }
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "baseline.delete".to_owned(),
                object_kind: "baseline".to_owned(),
                object_id: name.to_owned(),
                detail: "{}".to_owned(),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn get_exception(&self, tenant: &TenantId, id: &str) -> Result<PolicyException> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let row: Option<ExceptionRow> = sqlx::query_as(concat!(
                "SELECT ",
                exception_cols!(),
                " FROM policy_exceptions WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.map(PolicyException::from)
                .ok_or(StoreError::NotFound { kind: "exception" })
        }

        async fn list_exceptions(
            &self,
            tenant: &TenantId,
            active_at: Option<Millis>,
        ) -> Result<Vec<PolicyException>> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let rows: Vec<ExceptionRow> = sqlx::query_as(concat!(
                "SELECT ",
                exception_cols!(),
                " FROM policy_exceptions WHERE tenant_id = $1 AND expires_ms > $2 \
                 ORDER BY created_ms, id"
            ))
            .bind(tenant.as_str())
            .bind(active_at.map_or(i64::MIN, |m| m.0))
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows.into_iter().map(PolicyException::from).collect())
        }

        async fn update_exception(
            &self,
            tenant: &TenantId,
            id: &str,
            reason: &str,
            expires: Millis,
            actor: &str,
            now: Millis,
        ) -> Result<PolicyException> {
            let mut tx = self.tenant_tx(tenant).await?;
            let row: Option<ExceptionRow> = sqlx::query_as(concat!(
                "UPDATE policy_exceptions SET reason = $3, expires_ms = $4 \
                 WHERE tenant_id = $1 AND id = $2 RETURNING ",
                exception_cols!()
            ))
            .bind(tenant.as_str())
            .bind(id)
            .bind(reason)
            .bind(expires.0)
            .fetch_optional(&mut *tx)
            .await?;
            let ex = row
                .map(PolicyException::from)
                .ok_or(StoreError::NotFound { kind: "exception" })?;
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "exception.update".to_owned(),
                object_kind: "exception".to_owned(),
                object_id: id.to_owned(),
                detail: format!("{{\"expires_ms\":{}}}", expires.0),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(ex)
        }

        async fn delete_exception(
            &self,
            tenant: &TenantId,
            id: &str,
            actor: &str,
            now: Millis,
        ) -> Result<()> {
            let mut tx = self.tenant_tx(tenant).await?;
            let n = sqlx::query("DELETE FROM policy_exceptions WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound { kind: "exception" });
            }
            let ev = NewAuditEvent {
                actor: actor.to_owned(),
                action: "exception.delete".to_owned(),
                object_kind: "exception".to_owned(),
                object_id: id.to_owned(),
                detail: "{}".to_owned(),
            };
            Self::audit_tx(&mut tx, tenant, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn append_audit(
            &self,
            tenant: &TenantId,
            event: NewAuditEvent,
            now: Millis,
        ) -> Result<AuditEvent> {
            let mut tx = self.tenant_tx(tenant).await?;
            let r = Self::audit_tx(&mut tx, tenant, &event, now).await;
            if let Err(StoreError::Database(e)) = &r {
                if is_foreign_key_violation(e) {
                    return Err(StoreError::NotFound { kind: "tenant" });
                }
            }
            let ev = r?;
            tx.commit().await?;
            Ok(ev)
        }

        async fn query_audit(&self, tenant: &TenantId, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
            let (kind, id) = match &query.object {
                Some((k, i)) => (Some(k.as_str()), Some(i.as_str())),
                None => (None, None),
            };
            let mut tx = self.tenant_read_tx(tenant).await?;
            let rows: Vec<AuditRow> = sqlx::query_as(concat!(
                "SELECT ",
                audit_cols!(),
                " FROM audit_events WHERE tenant_id = $1 AND at_ms >= $2 AND at_ms < $3 \
                 AND ($4 IS NULL OR (object_kind = $4 AND object_id = $5)) \
                 ORDER BY seq LIMIT $6"
            ))
            .bind(tenant.as_str())
            .bind(query.from.0)
            .bind(query.to.0)
            .bind(kind)
            .bind(id)
            .bind(query.limit.clamp(1, 10_000))
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows.into_iter().map(AuditEvent::from).collect())
        }

        async fn verify_audit_chain(&self, tenant: &TenantId) -> Result<AuditHead> {
            let mut tx = self.tenant_read_tx(tenant).await?;
            let rows: Vec<AuditRow> = sqlx::query_as(concat!(
                "SELECT ",
                audit_cols!(),
                " FROM audit_events WHERE tenant_id = $1 ORDER BY seq"
            ))
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await?;
            let head: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE tenant_id = $1")
                    .bind(tenant.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            let events: Vec<AuditEvent> = rows.into_iter().map(AuditEvent::from).collect();
            let head = head.map(|(seq, hash)| AuditHead { seq, hash });
            crate::audit::verify_chain(tenant, &events, head.as_ref())
        }

        async fn record_delivery(
            &self,
            tenant: &TenantId,
            source: &str,
            delivery_id: &str,
            event: &str,
            now: Millis,
        ) -> Result<(Delivery, bool)> {
            let mut tx = self.tenant_tx(tenant).await?;
            let r = sqlx::query(
                "INSERT INTO webhook_deliveries (tenant_id, source, delivery_id, event, status, \
                 received_ms, updated_ms) VALUES ($1, $2, $3, $4, 'received', $5, $5) \
                 ON CONFLICT (tenant_id, source, delivery_id) DO NOTHING",
            )
            .bind(tenant.as_str())
            .bind(source)
            .bind(delivery_id)
            .bind(event)
            .bind(now.0)
            .execute(&mut *tx)
            .await;
            if let Err(e) = &r {
                if is_foreign_key_violation(e) {
                    return Err(StoreError::NotFound { kind: "tenant" });
                }
            }
            let new = r?.rows_affected() == 1;
            let row: DeliveryRow = sqlx::query_as(concat!(
                "SELECT ",
                delivery_cols!(),
                " FROM webhook_deliveries WHERE tenant_id = $1 AND source = $2 AND delivery_id = $3"
            ))
            .bind(tenant.as_str())
            .bind(source)
            .bind(delivery_id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((Delivery::try_from(row)?, new))
        }

        async fn set_delivery_status(
            &self,
            tenant: &TenantId,
            source: &str,
            delivery_id: &str,
            status: DeliveryStatus,
            scan: Option<&ScanId>,
            now: Millis,
        ) -> Result<Delivery> {
            let mut tx = self.tenant_tx(tenant).await?;
            let row: Option<DeliveryRow> = sqlx::query_as(concat!(
                "UPDATE webhook_deliveries SET status = $4, scan_id = COALESCE($5, scan_id), \
                 updated_ms = $6 WHERE tenant_id = $1 AND source = $2 AND delivery_id = $3 RETURNING ",
                delivery_cols!()
            ))
            .bind(tenant.as_str())
            .bind(source)
            .bind(delivery_id)
            .bind(status.as_str())
            .bind(scan.map(|s| s.as_str()))
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.ok_or(StoreError::NotFound { kind: "delivery" })?.try_into()
        }
    };
}
pub(crate) use shared_ops;

/// A JSON string literal of `s` (for audit details).
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
