//! Builds a large, realistic diff from the crate sources under
//! `~/.cargo/registry/src` (real code written by others): two of every three
//! files become "add file" patches, the third a modification with hunks of
//! context, removed and added lines, like a large refactoring PR.

#![allow(dead_code, unreachable_pub)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The extensions taken from the registry.
const REGISTRY_EXTS: &[&str] = &["rs", "md", "toml", "py"];
/// The extensions taken from other trees (`build_from`): the languages the
/// code-execution rules read.
pub const SCRIPT_EXTS: &[&str] = &["py", "js", "mjs", "cjs", "ts", "rb", "go", "sh", "md"];

fn sources(root: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        // Symbolic links are not followed: a tree may link to itself.
        if p.is_symlink() {
            continue;
        }
        if p.is_dir() {
            sources(&p, exts, out);
        } else if p.extension().is_some_and(|e| exts.iter().any(|x| e == *x)) {
            out.push(p);
        }
    }
}

/// The registry's source directory.
pub fn registry_src() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
        });
    home.join("registry/src")
}

/// A diff of at least `min_bytes` (cycling over the sources with a new path
/// prefix each pass if they are too few).
pub fn build(min_bytes: usize) -> Vec<u8> {
    build_with(min_bytes, true)
}

/// Like [`build`], with only "add file" patches when `mixed` is false.
pub fn build_with(min_bytes: usize, mixed: bool) -> Vec<u8> {
    build_from(&[registry_src()], REGISTRY_EXTS, min_bytes, mixed, true)
}

/// Like [`build_with`], from the files with extensions `exts` under `roots`
/// (paths in the diff are relative to their root); with `cycle` false, each
/// file at most once (the diff may then be smaller than `min_bytes`).
pub fn build_from(
    roots: &[PathBuf],
    exts: &[&str],
    min_bytes: usize,
    mixed: bool,
    cycle: bool,
) -> Vec<u8> {
    let mut files = Vec::new();
    for root in roots {
        let mut found = Vec::new();
        sources(root, exts, &mut found);
        files.extend(found.into_iter().map(|p| (root.clone(), p)));
    }
    assert!(!files.is_empty(), "no sources under {roots:?}");
    let mut out = Vec::with_capacity(min_bytes + (1 << 20));
    let mut pass = 0;
    while out.len() < min_bytes {
        for (i, (base, p)) in files.iter().enumerate() {
            let Ok(text) = std::fs::read(p) else { continue };
            if text.is_empty() || text.contains(&0) {
                continue;
            }
            let rel = p
                .strip_prefix(base)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned();
            let rel = format!("pass{pass}/{rel}");
            let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
            if mixed && i % 3 == 2 && lines.len() > 20 {
                modification(&mut out, &rel, &lines);
            } else {
                addition(&mut out, &rel, &lines);
            }
            if out.len() >= min_bytes {
                break;
            }
        }
        pass += 1;
        if !cycle {
            break;
        }
    }
    out
}

fn addition(out: &mut Vec<u8>, rel: &str, lines: &[&[u8]]) {
    let _ = write!(
        out,
        "diff --git a/{rel} b/{rel}\nnew file mode 100644\n--- /dev/null\n+++ b/{rel}\n@@ -0,0 +1,{} @@\n",
        lines.len()
    );
    for l in lines {
        out.push(b'+');
        out.extend_from_slice(l);
        if !l.ends_with(b"\n") {
            out.extend_from_slice(b"\n\\ No newline at end of file\n");
        }
    }
}

/// Every tenth line is rewritten, in hunks with three lines of context.
fn modification(out: &mut Vec<u8>, rel: &str, lines: &[&[u8]]) {
    let _ = write!(
        out,
        "diff --git a/{rel} b/{rel}\nindex 89abcde..fedcba9 100644\n--- a/{rel}\n+++ b/{rel}\n"
    );
    let mut at = 3;
    while at + 4 < lines.len() {
        let start = at - 3;
        let _ = writeln!(out, "@@ -{},7 +{},7 @@", start + 1, start + 1);
        for (k, l) in lines[start..start + 7].iter().enumerate() {
            let l = l.strip_suffix(b"\n").unwrap_or(l);
            if k == 3 {
                out.push(b'-');
                out.extend_from_slice(l);
                out.extend_from_slice(b"\n+");
                out.extend_from_slice(l);
                out.extend_from_slice(b" // edited\n");
            } else {
                out.push(b' ');
                out.extend_from_slice(l);
                out.push(b'\n');
            }
        }
        at += 10;
    }
}

/// Lines that hit many keywords, encodings and Unicode slow paths without
/// being real findings.
pub fn adversarial(min_bytes: usize) -> Vec<u8> {
    const NEAR: &[&str] = &[
        "// ignore the token; skip the previous step; cancel the override; forget the cache",
        "let secret_token_password_api_key = compute(); // https://example.com/a?b=c",
        "x = \"QWxhZGRpbjpvcGVuIHNlc2FtZQ1234567890abcdefABCDEF+/QWxhZGRpbjpvcGVuIHNlc2FtZQ\"",
        "<!-- note: the agent layout is documented below; see ![diagram](https://example.com/d.png) -->",
        "run: echo ${{ github.event.pull_request.number }} ${{ matrix.os }} >> $GITHUB_OUTPUT",
        "curl -o out.txt https://example.com/file && wget -q https://example.com/other",
        "caf\u{e9} na\u{ef}ve \u{65e5}\u{672c}\u{8a9e} \u{43f}\u{440}\u{438}\u{432}\u{435}\u{442} \u{2764}\u{fe0f} ignore previous errors",
        "%41%42 &amp; &lt; \\x41 \\u0042 eyJhbGciOiJIUzI1NiJ9 AKIA1234 ghp_short sk_test_",
        "requests.get(url, timeout=5); open(path, 'wb'); os.chmod(path, 0o644)",
        "source = \"registry+https://github.com/rust-lang/crates.io-index\" uses: actions/checkout@v4",
    ];
    let mut out = Vec::with_capacity(min_bytes + 4096);
    let mut n = 0usize;
    while out.len() < min_bytes {
        let body: Vec<&str> = (0..200).map(|i| NEAR[(i + n) % NEAR.len()]).collect();
        out.extend_from_slice(
            format!(
                "diff --git a/adv/f{n}.rs b/adv/f{n}.rs\nnew file mode 100644\n--- /dev/null\n+++ b/adv/f{n}.rs\n@@ -0,0 +1,{} @@\n",
                body.len()
            )
            .as_bytes(),
        );
        for l in body {
            out.push(b'+');
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        n += 1;
    }
    out
}
