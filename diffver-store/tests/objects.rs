//! The object layer against every backend: local filesystem, in-memory, and a real
//! S3-compatible server (moto) started on a free loopback port.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use bytes::Bytes;
use diffver_store::{
    Objects, ScanId, StoreError, artifact_html_key, artifact_json_key, diff_key, sha256_hex,
};

async fn write_once_and_verified_reads(o: &Objects) {
    let scan = ScanId::generate().expect("id");
    let key = diff_key(&scan);
    assert_eq!(key, format!("diffs/{scan}.patch"));
    assert_eq!(artifact_json_key(&scan), format!("artifacts/{scan}.json"));
    assert_eq!(artifact_html_key(&scan), format!("artifacts/{scan}.html"));

    let body = Bytes::from_static(b"diff --git a/x b/x\n+hello\n");
    let stored = o.put_once(&key, body.clone()).await.expect("put");
    assert_eq!(stored.sha256, sha256_hex(&body));
    assert_eq!(stored.size, 26);
    assert_eq!(
        o.get_verified(&key, &stored.sha256).await.expect("get"),
        body
    );

    // A retried writer with the same bytes succeeds; different bytes cannot replace them.
    o.put_once(&key, body.clone())
        .await
        .expect("same bytes again");
    let other = o
        .put_once(&key, Bytes::from_static(b"something else"))
        .await;
    assert!(
        matches!(other, Err(StoreError::ObjectExists { .. })),
        "{other:?}"
    );
    assert_eq!(
        o.get_verified(&key, &stored.sha256)
            .await
            .expect("unchanged"),
        body
    );

    // Bytes changed behind the store's back fail the digest check.
    o.overwrite_for_tests(&key, Bytes::from_static(b"tampered"))
        .await
        .expect("tamper");
    assert!(matches!(
        o.get_verified(&key, &stored.sha256).await,
        Err(StoreError::ObjectDigestMismatch { .. })
    ));

    assert!(o.delete(&key).await.expect("delete"));
    assert!(!o.delete(&key).await.expect("delete again"));
    assert!(matches!(
        o.get_verified(&key, &stored.sha256).await,
        Err(StoreError::NotFound { .. })
    ));

    let html = artifact_html_key(&scan);
    o.put_once(&html, Bytes::from_static(b"<html></html>"))
        .await
        .expect("html");
    o.get_verified(&html, &sha256_hex(b"<html></html>"))
        .await
        .expect("html back");
    // Listing names what is stored (the deleted diff is gone).
    let keys = o.list_keys().await.expect("list");
    assert!(keys.contains(&html) && !keys.contains(&key), "{keys:?}");
}

#[tokio::test]
async fn local_filesystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}/objects", dir.path().display());
    let o = Objects::from_url(&url, Vec::<(String, String)>::new()).expect("file");
    write_once_and_verified_reads(&o).await;
    // The layout on disk is the documented one.
    let scan = ScanId::new("layout-check").expect("id");
    o.put_once(&diff_key(&scan), Bytes::from_static(b"x"))
        .await
        .expect("put");
    assert!(
        dir.path()
            .join("objects/diffs/layout-check.patch")
            .is_file()
    );
}

#[tokio::test]
async fn in_memory() {
    let o = Objects::from_url("memory://", Vec::<(String, String)>::new()).expect("memory");
    write_once_and_verified_reads(&o).await;
}

#[tokio::test]
async fn s3_on_moto() {
    let Some(moto) = support::moto("diffver-test") else {
        return;
    };
    let o = support::s3_objects(&moto, "diffver-test", "tenant-data/v1");
    write_once_and_verified_reads(&o).await;
    // The prefix is honoured: a store without it does not see the object.
    let scan = ScanId::new("prefixed").expect("id");
    let stored = o
        .put_once(&diff_key(&scan), Bytes::from_static(b"p"))
        .await
        .expect("put");
    let root = support::s3_objects(&moto, "diffver-test", "");
    root.get_verified(&format!("tenant-data/v1/{}", stored.key), &stored.sha256)
        .await
        .expect("under the prefix");
    assert!(matches!(
        root.get_verified(&stored.key, &stored.sha256).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn bad_urls_are_config_errors() {
    for url in ["ftp://x/y", "not a url", "s3:///nobucket"] {
        assert!(
            matches!(
                Objects::from_url(url, Vec::<(String, String)>::new()),
                Err(StoreError::Config { .. })
            ),
            "{url}"
        );
    }
}
