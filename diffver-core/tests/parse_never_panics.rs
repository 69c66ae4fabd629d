//! Property tests: the parser and verifier never panic, on random bytes or on
//! real diffs mutated at random, and what they return is internally
//! consistent (spans inside the input, line numbers in step, deterministic).
//!
//! `PROPTEST_CASES` raises the number of cases (default here: 3000 per test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use diffver_core::diff::{Diff, Limits, LineKind, ParseError, parse, parse_partial};
use diffver_core::verify::{Options, verify};
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/verify");
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "diff"))
                .map(|e| std::fs::read(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.push(b"diff --git \"a/\\303\\244 b\" \"b/\\303\\244 b\"\nsimilarity index 80%\nrename from \"\\303\\244 b\"\nrename to c\n--- a/x\n+++ b/y\n@@ -1,3 +1,4 @@ h\n a\n-b\n+c\n+d\n\\ No newline at end of file\n e\n".to_vec());
    v.sort();
    v
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

/// Checks the model's invariants.
fn check_model(d: &Diff<'_>) {
    let len = d.input().len();
    for f in d.files() {
        assert!(f.span().end <= len && f.header_span().end <= len);
        for h in f.hunks() {
            let mut old = h.old_range().start.max(1);
            let mut new = h.new_range().start.max(1);
            for l in h.lines() {
                let c = l.content_span();
                assert!(c.start <= c.end && c.end <= len, "span out of input");
                assert!(l.offset() < len);
                match l.kind() {
                    LineKind::Context => {
                        assert_eq!((l.old_line(), l.new_line()), (Some(old), Some(new)));
                        old += 1;
                        new += 1;
                    }
                    LineKind::Added => {
                        assert_eq!((l.old_line(), l.new_line()), (None, Some(new)));
                        new += 1;
                    }
                    LineKind::Removed => {
                        assert_eq!((l.old_line(), l.new_line()), (Some(old), None));
                        old += 1;
                    }
                }
            }
        }
    }
    for s in d.segments() {
        assert!(s.span.end <= len);
    }
}

fn exercise(input: &[u8]) {
    for limits in [
        Limits::default(),
        Limits::default()
            .with_max_files(3)
            .with_max_hunks(4)
            .with_max_line_bytes(40),
    ] {
        // What was parsed before an error is scanned too, so it must be as
        // consistent as a complete parse.
        let (d, err) = parse_partial(input, &limits);
        check_model(&d);
        assert_eq!(
            parse(input, &limits).err(),
            err,
            "parse agrees with parse_partial"
        );
        if err.is_none() {
            let _ = diffver_core::diff::stat::numstat(&d);
            let _ = diffver_core::diff::stat::summary(&d);
        }
        // Verify with a base tree that holds something at every old path.
        let base: BTreeMap<Vec<u8>, Vec<u8>> = d
            .files()
            .iter()
            .filter_map(|f| f.old_path())
            .map(|p| (p.as_bytes().to_vec(), b"a\nb\nc\n".to_vec()))
            .collect();
        let r1 = verify(&d, &Options::default());
        let r2 = verify(&d, &Options::default().with_base(&base));
        let again = verify(&d, &Options::default());
        assert_eq!(
            r1.findings(),
            again.findings(),
            "verification is deterministic"
        );
        let _ = r2;
        match err {
            None
            | Some(
                ParseError::LimitExceeded { .. }
                | ParseError::CombinedDiff { .. }
                | ParseError::Empty
                | ParseError::NoPatch { .. },
            ) => {}
            Some(e) => panic!("unexpected error kind {e:?}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    DuplicateLine(usize),
    Truncate(usize),
}

fn interesting() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"+".to_vec()),
        Just(b"-".to_vec()),
        Just(b" ".to_vec()),
        Just(b"@@ -1,2 +1,3 @@\n".to_vec()),
        Just(b"\\ No newline at end of file\n".to_vec()),
        Just(b"diff --git a/x b/x\n".to_vec()),
        Just(b"--- a/x\n+++ b/x\n".to_vec()),
        Just(b"GIT binary patch\nliteral 5\n".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\\".to_vec()),
        Just(vec![0]),
        Just(vec![0x1b, b'[']),
        Just(vec![0xff]),
        Just(vec![0xc2, 0x9b]),
        Just(b"\r".to_vec()),
        Just(b"4294967295".to_vec()),
        Just(b"99999999999".to_vec()),
        Just(b"From 0123456789012345678901234567890123456789 x\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), interesting()).prop_map(|(p, b)| Edit::Insert(p, b)),
        2 => (any::<usize>(), 1usize..20).prop_map(|(p, n)| Edit::Delete(p, n)),
        1 => any::<usize>().prop_map(Edit::DuplicateLine),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut s: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = s.len();
        match e {
            Edit::Insert(p, b) => {
                let p = if n == 0 { 0 } else { p % (n + 1) };
                s.splice(p..p, b.iter().copied());
            }
            Edit::Delete(p, k) if n > 0 => {
                let p = p % n;
                let end = (p + k).min(n);
                s.drain(p..end);
            }
            Edit::DuplicateLine(p) if n > 0 => {
                let p = p % n;
                let start = s[..p]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = s[p..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(n, |i| p + i + 1);
                let line = s[start..end].to_vec();
                s.splice(end..end, line);
            }
            Edit::Truncate(p) if n > 0 => s.truncate(p % n),
            _ => {}
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&input);
    }

    #[test]
    fn mutated_diffs_never_panic(seed in any::<prop::sample::Index>(), edits in proptest::collection::vec(edit(), 1..8)) {
        let seeds = seeds();
        let base = seeds[seed.index(seeds.len())].clone();
        exercise(&apply(base, &edits));
    }

    #[test]
    fn line_soup_never_panics(lines in proptest::collection::vec(interesting(), 0..60)) {
        exercise(&lines.concat());
    }
}
