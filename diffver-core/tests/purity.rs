//! Guards the core's purity: a short, known dependency list, and no I/O,
//! clock, environment, process or async in its source.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn dependency_list_stays_small() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap();
    let deps = deps.split("\n[").next().unwrap();
    let mut names: Vec<&str> = deps
        .lines()
        .filter_map(|l| l.split(['.', '=', ' ']).next())
        .filter(|n| !n.is_empty() && !n.starts_with('#'))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "aho-corasick",
            "base64",
            "globset",
            "hmac",
            "html-escape",
            "memchr",
            "miniz_oxide",
            "p256",
            "regex-automata",
            "regex-syntax",
            "serde",
            "serde_jcs",
            "serde_json",
            "sha1",
            "sha2",
            "thiserror",
            "time",
            "toml",
            "unicode-normalization",
            "unicode-properties",
            "unicode-security"
        ],
        "diffver-core's dependencies changed: keep the core small and pure, then update this list"
    );
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn source_does_no_io_and_reads_no_clock() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 5);
    let forbidden = [
        "std::fs",
        "std::net",
        "std::env",
        "std::process",
        "SystemTime",
        "Instant::now",
        "async fn",
        "thread_rng",
        "now_utc",
        "now_local",
        "OsRng",
        "getrandom",
        "rand::",
        "std::io::stdin",
    ];
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for word in forbidden {
            assert!(!text.contains(word), "{} uses {word}", f.display());
        }
    }
}
