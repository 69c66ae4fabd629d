//! Runs diffver's differential check against git over a repository's history
//! and prints the number of mismatches.
//!
//! ```text
//! cargo run --release --example git_differential -- /path/to/repo [max-commits]
//! ```
//!
//! For each commit (newest first, merges skipped) it parses
//! `git diff-tree -p -M -C --binary` with diffver and compares the result with
//! `git diff-tree --numstat` and `--name-status` (paths, status, line counts),
//! and `diffver stat` with `git apply --numstat --summary`.

#[path = "../tests/support/git_compare.rs"]
mod git_compare;

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let repo = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: git_differential REPO [MAX_COMMITS]"))?,
    );
    let max: usize = match args.next() {
        Some(n) => n.to_string_lossy().parse()?,
        None => 1000,
    };
    let revs = git_compare::git(&repo, &["rev-list", "--no-merges", "HEAD"])?;
    let revs = String::from_utf8(revs)?;
    let mut commits = 0;
    let mut mismatches = 0;
    for rev in revs.lines().take(max) {
        let problems = git_compare::compare_commit(&repo, rev)?;
        for p in &problems {
            eprintln!("{}", diffver::text::escape_for_display(p.as_bytes()));
        }
        mismatches += problems.len();
        commits += 1;
    }
    println!("{commits} commits compared, {mismatches} mismatches");
    if mismatches > 0 {
        std::process::exit(1);
    }
    Ok(())
}
