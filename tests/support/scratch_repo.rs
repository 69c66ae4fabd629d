//! Builds a scratch git repository whose history covers every kind of change
//! the parser must read: adds, deletes, multi-hunk edits, renames and copies
//! with edits, mode and type changes, symlinks, a submodule entry, binary
//! files, non-ASCII and space-containing names, CRLF files, and files without
//! a trailing newline.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use super::git_compare::git;

fn write(repo: &Path, rel: &str, content: &[u8]) -> anyhow::Result<()> {
    let p = repo.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(p, content)?;
    Ok(())
}

fn commit(repo: &Path, msg: &str) -> anyhow::Result<()> {
    git(repo, &["add", "-A"])?;
    git(repo, &["commit", "-q", "--allow-empty", "-m", msg])?;
    Ok(())
}

/// Deterministic pseudo-random bytes (a binary file that is not text).
pub fn noise(seed: u32, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect()
}

fn numbered(n: usize, tag: &str) -> String {
    (1..=n).map(|i| format!("line {i} {tag}\n")).collect()
}

/// Creates the repository in `repo` (an empty directory).
pub fn build(repo: &Path) -> anyhow::Result<()> {
    git(repo, &["init", "-q", "-b", "main"])?;
    for (k, v) in [
        ("user.name", "T"),
        ("user.email", "t@example.com"),
        ("core.autocrlf", "false"),
        ("commit.gpgsign", "false"),
    ] {
        git(repo, &["config", k, v])?;
    }
    write(repo, "src/main.rs", numbered(40, "main").as_bytes())?;
    write(repo, "README.md", numbered(30, "readme").as_bytes())?;
    write(repo, "\u{e4} b.txt", b"umlaut and space\n")?;
    write(repo, "my file.txt", numbered(12, "spaced").as_bytes())?;
    write(repo, "crlf.txt", b"one\r\ntwo\r\nthree\r\n")?;
    write(repo, "nonl.txt", b"first\nlast without newline")?;
    write(repo, "bin.dat", &noise(1, 600))?;
    write(repo, "empty.txt", b"")?;
    write(repo, "script.sh", b"#!/bin/sh\necho hi\n")?;
    write(repo, "tab\tname.txt", b"tab in name\n")?;
    std::os::unix::fs::symlink("src/main.rs", repo.join("link"))?;
    commit(repo, "initial")?;
    git(
        repo,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            "160000,1111111111111111111111111111111111111111,vendor/sub",
        ],
    )?;
    git(repo, &["commit", "-q", "-m", "submodule"])?;

    let mut main = numbered(40, "main");
    main = main
        .replace("line 3 main\n", "line 3 main changed\n")
        .replace("line 30 main\n", "");
    main.push_str("appended\n");
    write(repo, "src/main.rs", main.as_bytes())?;
    write(repo, "crlf.txt", b"one\r\ntwo changed\r\nthree\r\n")?;
    write(
        repo,
        "nonl.txt",
        b"first\nlast without newline\nnow with newline\n",
    )?;
    let mut bin = noise(1, 600);
    bin[100] ^= 0xff;
    write(repo, "bin.dat", &bin)?;
    std::fs::set_permissions(
        repo.join("script.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    std::fs::remove_file(repo.join("link"))?;
    std::os::unix::fs::symlink("README.md", repo.join("link"))?;
    write(repo, "\u{e4} b.txt", b"umlaut and space\nmore\n")?;
    commit(repo, "modify")?;

    git(repo, &["mv", "src/main.rs", "src/app.rs"])?;
    let app = std::fs::read_to_string(repo.join("src/app.rs"))?
        .replace("line 10 main\n", "line 10 app\n");
    write(repo, "src/app.rs", app.as_bytes())?;
    let readme = std::fs::read_to_string(repo.join("README.md"))?;
    write(
        repo,
        "docs/README copy.md",
        readme
            .replace("line 5 readme\n", "line 5 copied\n")
            .as_bytes(),
    )?;
    git(repo, &["mv", "my file.txt", "your file.txt"])?;
    git(repo, &["mv", "\u{e4} b.txt", "\u{f6} c.txt"])?;
    commit(repo, "rename and copy")?;

    std::fs::remove_file(repo.join("bin.dat"))?;
    std::fs::remove_file(repo.join("link"))?;
    std::fs::remove_file(repo.join("empty.txt"))?;
    std::os::unix::fs::symlink("../outside", repo.join("empty.txt"))?;
    write(
        repo,
        "nonl.txt",
        b"first\nlast without newline\nnow with newline\nand no newline again",
    )?;
    write(repo, "new.bin", &noise(7, 300))?;
    std::fs::set_permissions(
        repo.join("script.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    commit(repo, "delete, type change, new binary")?;

    write(
        repo,
        "README.md",
        numbered(30, "rewritten entirely").as_bytes(),
    )?;
    write(repo, "docs/deep/dir/file with spaces.txt", b"deep\n")?;
    write(repo, "\"quoted\".txt", b"quotes\n")?;
    commit(repo, "rewrite and odd names")?;
    Ok(())
}
