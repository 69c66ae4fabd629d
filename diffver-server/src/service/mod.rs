//! The diffver service (feature `http`): the HTTP API ([`app`]), the worker
//! ([`worker::run`]), configuration ([`config`]) and the process runner ([`run`]).
//!
//! It stays thin: every decision is diffver-core's ([`evaluate`]), every byte is kept
//! by diffver-store. The router is generic over the [`diffver_store::Store`] backend,
//! so tests run it in-process (`tower::ServiceExt::oneshot`) on SQLite and Postgres
//! alike.

pub mod api;
pub mod auth;
pub mod config;
pub mod evaluate;
pub mod github;
#[cfg(feature = "aws-kms")]
pub mod kms;
pub mod problem;
pub mod run;
pub mod signer;
pub mod state;
pub mod telemetry;
pub mod worker;

pub use api::{ROUTES, app, metrics_app};
pub use state::{ApiSettings, AppState};
