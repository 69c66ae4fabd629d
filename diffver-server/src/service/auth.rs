//! `Authorization: Bearer dv_…` — who is calling, in which tenant, with which role.
//!
//! A key is checked for shape and check digits before the database is asked (a typo
//! costs no query), then verified by the store (HMAC with the server pepper, compared
//! in constant time; `last_used` written at most once a minute). A process that hears
//! key changes (Postgres) reuses a verified key for a few seconds ([`KeyCache`]), so a
//! flooding client's requests cost no database round trip each.
//!
//! [`KeyCache`]: super::state::KeyCache The tenant's request
//! rate is enforced here, so every authenticated route is limited.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use diffver_store::{Millis, Principal, Role, Store, StoreError, looks_like_key};

use super::problem::Problem;
use super::state::AppState;

/// An authenticated caller (tenant or admin role).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// An authenticated caller with the admin role.
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Principal);

impl Caller {
    /// The audit actor: the key's user, else the key.
    pub fn actor(&self) -> String {
        match &self.0.user_id {
            Some(u) => format!("user:{u}"),
            None => format!("key:{}", self.0.key_id),
        }
    }
}

fn auth_failure(reason: &'static str, detail: &str) -> Problem {
    metrics::counter!("diffver_auth_failures_total", "reason" => reason).increment(1);
    Problem::unauthenticated(detail)
}

impl<S: Store + Clone + 'static> FromRequestParts<AppState<S>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<Caller, Problem> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(auth_failure(
                "missing",
                "an Authorization: Bearer dv_… header is required",
            ));
        };
        let key = value
            .to_str()
            .ok()
            .and_then(|s| s.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !looks_like_key(key) {
            return Err(auth_failure(
                "malformed",
                "the bearer token is not a diffver API key (dv_…) or its check digits are wrong",
            ));
        }
        let now = Millis::from_system_clock();
        let ttl = state.settings.key_cache_ttl;
        let cached = state.keys.get(key, ttl, now);
        let principal = match cached {
            Some(p) => {
                metrics::counter!("diffver_api_key_cache_hits_total").increment(1);
                Ok(p)
            }
            None => {
                let generation = state.keys.generation();
                let r = state.store.verify_api_key(key, now).await;
                if let Ok(p) = &r {
                    state.keys.put(key, p, ttl, generation);
                }
                r
            }
        };
        let principal = match principal {
            Ok(p) => p,
            Err(StoreError::Unauthenticated) => {
                return Err(auth_failure(
                    "invalid",
                    "the API key is unknown, revoked or expired",
                ));
            }
            Err(e) => return Err(Problem::from_store(e, "api key")),
        };
        let ttl = state.settings.settings_ttl;
        let settings = match state.limiter.cached_settings(&principal.tenant_id, ttl) {
            Some(s) => s,
            None => {
                let t = state
                    .store
                    .get_tenant(&principal.tenant_id)
                    .await
                    .map_err(|e| Problem::from_store(e, "tenant"))?;
                state
                    .limiter
                    .cache_settings(&principal.tenant_id, t.settings);
                t.settings
            }
        };
        if let Err(wait) = state
            .limiter
            .take(&principal.tenant_id, settings.rate_per_sec)
        {
            metrics::counter!("diffver_rate_limited_total", "limit" => "rate").increment(1);
            return Err(Problem::rate_limited(
                format!(
                    "the tenant's limit of {} requests per second is reached",
                    settings.rate_per_sec
                ),
                wait,
            ));
        }
        Ok(Caller(principal))
    }
}

impl<S: Store + Clone + 'static> FromRequestParts<AppState<S>> for AdminCaller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState<S>,
    ) -> Result<AdminCaller, Problem> {
        let Caller(p) = Caller::from_request_parts(parts, state).await?;
        if p.role != Role::Admin {
            metrics::counter!("diffver_auth_failures_total", "reason" => "forbidden").increment(1);
            return Err(Problem::forbidden("this route needs an admin API key"));
        }
        Ok(AdminCaller(p))
    }
}

impl AdminCaller {
    /// The audit actor.
    pub fn actor(&self) -> String {
        Caller(self.0.clone()).actor()
    }
}
