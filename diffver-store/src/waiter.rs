//! Waking idle workers: `LISTEN/NOTIFY` on Postgres, an in-process signal on SQLite.
//! Either way polling stays the floor: a wake-up is a hint, never the only way a
//! worker finds a job.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::Result;

/// Sleeps until a job may be ready or a timeout passes.
#[derive(Debug)]
pub struct JobWaiter {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Pg(Box<sqlx::postgres::PgListener>),
    Local(Arc<Notify>),
}

impl JobWaiter {
    pub(crate) fn pg(listener: sqlx::postgres::PgListener) -> JobWaiter {
        JobWaiter {
            inner: Inner::Pg(Box::new(listener)),
        }
    }

    pub(crate) fn local(notify: Arc<Notify>) -> JobWaiter {
        JobWaiter {
            inner: Inner::Local(notify),
        }
    }

    /// Waits for a wake-up or `timeout`; `true` if woken.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`](crate::StoreError::Database) if the listening
    /// connection fails (the next call reconnects).
    pub async fn wait(&mut self, timeout: Duration) -> Result<bool> {
        match &mut self.inner {
            Inner::Pg(listener) => match tokio::time::timeout(timeout, listener.recv()).await {
                Ok(Ok(_)) => Ok(true),
                Ok(Err(e)) => Err(e.into()),
                Err(_) => Ok(false),
            },
            Inner::Local(notify) => Ok(tokio::time::timeout(timeout, notify.notified())
                .await
                .is_ok()),
        }
    }
}

/// Wakes requests waiting for scans that workers in other processes finish: `LISTEN
/// diffver_scan_done` on Postgres (the `scans_done_notify` trigger). SQLite has none (its
/// workers share the process with its API, which wakes waiters directly).
#[derive(Debug)]
pub struct FinishedListener {
    listener: Box<sqlx::postgres::PgListener>,
}

impl FinishedListener {
    pub(crate) fn pg(listener: sqlx::postgres::PgListener) -> FinishedListener {
        FinishedListener {
            listener: Box::new(listener),
        }
    }

    /// The next finished scan.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`](crate::StoreError::Database) if the listening connection
    /// fails (notifications sent meanwhile are lost: waiters still poll).
    pub async fn recv(&mut self) -> Result<crate::model::ScanId> {
        let n = self.listener.recv().await?;
        Ok(crate::model::ScanId::from_db(n.payload().to_owned()))
    }
}
