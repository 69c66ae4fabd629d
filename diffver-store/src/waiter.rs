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

/// Cross-process notices from Postgres: finished scans (`diffver_scan_done`, the
/// `scans_done_notify` trigger), so a `?wait=` request wakes at once for a scan a
/// worker elsewhere finished, and changed API keys (`diffver_key_changed`, the
/// `api_keys_changed_notify` trigger), so a process caching verified keys drops a
/// revoked one. SQLite has none: its workers share the process with its API.
#[derive(Debug)]
pub struct NoticeListener {
    listener: Box<sqlx::postgres::PgListener>,
}

/// What a [`NoticeListener`] hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A scan reached `completed` or `error`.
    ScanDone(crate::model::ScanId),
    /// An API key (by id) was revoked, deleted or otherwise changed.
    KeyChanged(String),
    /// The connection dropped: notices sent meanwhile are lost. Drop this listener and
    /// open a new one (whoever caches on the strength of notices must forget).
    Lost,
}

/// The channels a [`NoticeListener`] listens on.
pub(crate) const NOTICE_CHANNELS: [&str; 2] = ["diffver_scan_done", "diffver_key_changed"];

impl NoticeListener {
    pub(crate) fn pg(listener: sqlx::postgres::PgListener) -> NoticeListener {
        NoticeListener {
            listener: Box::new(listener),
        }
    }

    /// The next notice.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`](crate::StoreError::Database) if the listening connection
    /// fails (notifications sent meanwhile are lost: waiters still poll, and a key cache
    /// must be dropped).
    pub async fn recv(&mut self) -> Result<Notice> {
        // `try_recv`, not `recv`: the latter reconnects silently and would hide the
        // gap in which notices were lost.
        let Some(n) = self.listener.try_recv().await? else {
            return Ok(Notice::Lost);
        };
        let payload = n.payload().to_owned();
        Ok(if n.channel() == "diffver_key_changed" {
            Notice::KeyChanged(payload)
        } else {
            Notice::ScanDone(crate::model::ScanId::from_db(payload))
        })
    }
}
