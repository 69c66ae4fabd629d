//! Test harness: a throw-away Postgres database and role per test, SQLite files in
//! temporary directories, and a moto S3 server on a free loopback port. Under
//! `CI=true` a missing Postgres or moto fails the test; locally it is skipped loudly.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diffver_store::{
    Millis, NewScan, Objects, Pepper, PgConfig, PgStore, ScanId, SqliteStore, Store, TenantId,
    WorkerId,
};
use sqlx::Connection;

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn unavailable(what: &str, why: &str) {
    if ci() {
        panic!("{what} is required under CI=true but unavailable: {why}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {what} unavailable ({why}); this test did not run !!!!!!!!\n");
}

pub fn pepper() -> Pepper {
    Pepper::new(*b"test pepper, 32 bytes or longer!").expect("pepper")
}

fn admin_base() -> String {
    std::env::var("DIFFVER_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database owned by a fresh non-superuser role (so FORCE ROW LEVEL SECURITY binds
/// the store's own connections), dropped with the role when this is dropped.
pub struct PgDb {
    pub store: PgStore,
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub fn admin_url(&self) -> String {
        format!("{}/{}", admin_base(), self.name)
    }

    /// A superuser connection to this database (bypasses RLS and, with
    /// `session_replication_role = replica`, triggers).
    pub async fn admin(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.admin_url())
            .await
            .expect("admin connection")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let base = admin_base();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect(&format!("{base}/postgres")).await {
                    let drop_db = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let drop_role = format!("DROP ROLE IF EXISTS {name}");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop_db))
                        .execute(&mut c)
                        .await;
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop_role))
                        .execute(&mut c)
                        .await;
                }
            });
        })
        .join();
    }
}

pub async fn pg() -> Option<PgDb> {
    pg_with(|c| c).await
}

pub async fn pg_with(tune: impl FnOnce(PgConfig) -> PgConfig) -> Option<PgDb> {
    let base = admin_base();
    let mut admin = match sqlx::PgConnection::connect(&format!("{base}/postgres")).await {
        Ok(c) => c,
        Err(e) => {
            unavailable("Postgres at 127.0.0.1:5432", &e.to_string());
            return None;
        }
    };
    let name = format!(
        "diffver_test_{}",
        &WorkerId::generate().expect("id").as_str()[2..18]
    );
    for sql in [
        format!("CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS"),
        format!("CREATE DATABASE {name} OWNER {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .expect("create db");
    }
    let host = base
        .trim_start_matches("postgres://")
        .split('@')
        .nth(1)
        .unwrap_or("127.0.0.1:5432");
    let url = format!("postgres://{name}@{host}/{name}");
    let mut config = PgConfig::new(url.clone(), pepper());
    config.max_connections = 20;
    let config = tune(config);
    let db = PgDb {
        store: PgStore::connect(config)
            .await
            .expect("connect as the app role"),
        name,
        url,
    };
    db.store.migrate().await.expect("migrate");
    Some(db)
}

pub struct SqliteDb {
    pub store: SqliteStore,
    pub dir: tempfile::TempDir,
}

pub async fn sqlite() -> SqliteDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("diffver.db"), pepper())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    SqliteDb { store, dir }
}

/// A moto S3 server on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_python() -> Option<String> {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("DIFFVER_MOTO_PYTHON") {
        candidates.push(p);
    }
    if let Ok(home) = std::env::var("HOME") {
        candidates.push(format!("{home}/.cache/diffver/pyvenv/bin/python"));
    }
    candidates.push("python3".into());
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn http(port: u16, request: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request.as_bytes())?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    Ok(out)
}

pub fn moto(bucket: &str) -> Option<Moto> {
    let Some(py) = moto_python() else {
        unavailable(
            "moto (pip install 'moto[server]==5.2.1')",
            "python cannot import moto.server",
        );
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(&py)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    // object_store cannot create buckets; a plain PUT can.
    let reply = http(
        port,
        &format!("PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    )
    .expect("create bucket");
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "bucket creation failed: {reply}"
    );
    Some(moto)
}

pub fn s3_objects(moto: &Moto, bucket: &str, prefix: &str) -> Objects {
    Objects::from_url(
        &format!("s3://{bucket}/{prefix}"),
        [
            ("aws_endpoint", format!("http://127.0.0.1:{}", moto.port)),
            ("aws_allow_http", "true".to_owned()),
            ("aws_virtual_hosted_style_request", "false".to_owned()),
            ("aws_access_key_id", "testing".to_owned()),
            ("aws_secret_access_key", "testing".to_owned()),
            ("aws_region", "us-east-1".to_owned()),
        ],
    )
    .expect("s3 objects")
}

pub const T0: Millis = Millis(1_767_225_600_000); // 2026-01-01T00:00:00Z

pub fn new_scan(tag: &str) -> NewScan {
    let id = ScanId::generate().expect("scan id");
    NewScan {
        diff_object_key: diffver_store::diff_key(&id),
        id,
        diff_sha256: diffver_store::sha256_hex(tag.as_bytes()),
        diff_size: i64::try_from(tag.len()).expect("len"),
        policy_name: Some("standard".into()),
        source: "api".into(),
        source_metadata: "{}".into(),
        priority: 0,
        max_attempts: 3,
        baseline_name: None,
        idempotency: None,
    }
}

pub async fn enqueue<S: Store>(s: &S, tenant: &TenantId, n: usize, now: Millis) -> Vec<ScanId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let created = s
            .create_scan(tenant, new_scan(&format!("diff {i}")), now)
            .await
            .expect("create");
        ids.push(created.scan().id.clone());
    }
    ids
}
