//! Path safety: names that escape the repository, write into `.git/`, break
//! on other platforms, deceive a reader, or collide with another name.

use std::collections::BTreeMap;

use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, MixedScript};

use crate::diff::{Diff, PatchPath, Span};
use crate::finding::{Category, FindingBuilder, RuleMeta, Severity};
use crate::text::{is_bidi_control, is_deceptive_char};

pub(super) const ABSOLUTE: RuleMeta = RuleMeta {
    id: "verify.path-absolute",
    title: "Absolute path",
    severity: Severity::High,
    category: Category::PathSafety,
    description: "A path starting at the filesystem root or a drive letter writes outside the repository.",
};

pub(super) const TRAVERSAL: RuleMeta = RuleMeta {
    id: "verify.path-traversal",
    title: "Path with a `..` component",
    severity: Severity::High,
    category: Category::PathSafety,
    description: "A `..` component climbs out of the repository.",
};

pub(super) const GIT_DIR: RuleMeta = RuleMeta {
    id: "verify.path-git-dir",
    title: "Path inside `.git/`",
    severity: Severity::Critical,
    category: Category::PathSafety,
    description: "Writing into .git (including case and 8.3 variants such as .GIT, .git. and git~1) can install hooks or rewrite configuration: code execution on the next git command.",
};

pub(super) const CONTROL: RuleMeta = RuleMeta {
    id: "verify.path-control-char",
    title: "Control character or NUL in a path",
    severity: Severity::High,
    category: Category::PathSafety,
    description: "Control characters in names break tools and can rewrite a terminal's display of the file list.",
};

pub(super) const BACKSLASH: RuleMeta = RuleMeta {
    id: "verify.path-backslash",
    title: "Backslash in a path",
    severity: Severity::Medium,
    category: Category::PathSafety,
    description: "On Windows a backslash is a directory separator, so the file lands somewhere other than its name suggests.",
};

pub(super) const WINDOWS: RuleMeta = RuleMeta {
    id: "verify.path-windows-reserved",
    title: "Windows-reserved or Windows-unsafe name",
    severity: Severity::Medium,
    category: Category::PathSafety,
    description: "Device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9), names ending in a dot or space, and alternate data streams (`:`) misbehave on Windows checkouts.",
};

pub(super) const DECEPTIVE: RuleMeta = RuleMeta {
    id: "verify.path-deceptive-unicode",
    title: "Bidi, invisible or confusable characters in a path",
    severity: Severity::High,
    category: Category::PathSafety,
    description: "A path that displays differently from what it is: bidi controls reorder it, invisible characters hide in it, or characters from another script imitate ASCII.",
};

pub(super) const COLLISION: RuleMeta = RuleMeta {
    id: "verify.path-collision",
    title: "Paths that collide case-insensitively or after Unicode normalization",
    severity: Severity::High,
    category: Category::PathSafety,
    description: "Two names that are the same file on case-insensitive or normalizing filesystems (macOS, Windows): one silently overwrites the other.",
};

pub(super) fn check(diff: &Diff<'_>, out: &mut Vec<FindingBuilder>) {
    let mut seen: BTreeMap<String, &PatchPath> = BTreeMap::new();
    for f in diff.files() {
        let span = f.header_span();
        let mut paths: Vec<&PatchPath> = f.old_path().into_iter().chain(f.new_path()).collect();
        paths.dedup();
        for p in paths {
            one_path(p, span, out);
        }
        if let Some(p) = f.new_path() {
            let key = collision_key(&p.normalized());
            match seen.get(&key) {
                Some(other) if *other != p => {
                    let (a, b) = (other.display(), p.display());
                    let how = if a == b {
                        "they differ only in Unicode normalization, and"
                    } else {
                        "they"
                    };
                    let msg = format!(
                        "\"{a}\" and \"{b}\" collide: {how} are the same file on case-insensitive or normalizing filesystems"
                    );
                    out.push(report(p, COLLISION, span, msg).key(key.as_bytes()));
                }
                Some(_) => {}
                None => {
                    seen.insert(key, p);
                }
            }
        }
    }
}

fn collision_key(p: &[u8]) -> String {
    match std::str::from_utf8(p) {
        Ok(s) => s.nfc().flat_map(char::to_lowercase).nfc().collect(),
        // Bytes that are not UTF-8 are compared as they are (a lossy
        // conversion would make distinct names collide).
        Err(_) => format!("\0{}", crate::hex(p)),
    }
}

fn report(p: &PatchPath, rule: RuleMeta, span: Span, msg: String) -> FindingBuilder {
    FindingBuilder::new(rule, span, msg)
        .at_diff_line(span)
        .path(Some(p))
        .evidence(p.as_bytes())
        .key(p.as_bytes())
}

fn is_reserved_windows_name(component: &[u8]) -> bool {
    let base = component.split(|&b| b == b'.').next().unwrap_or(component);
    let base = base.trim_ascii_end();
    let upper = base.to_ascii_uppercase();
    match upper.as_slice() {
        b"CON" | b"PRN" | b"AUX" | b"NUL" | b"CONIN$" | b"CONOUT$" => true,
        [b'C', b'O', b'M', d] | [b'L', b'P', b'T', d] => (b'1'..=b'9').contains(d),
        _ => false,
    }
}

/// `.git` as NTFS and HFS+ would also read it: any case, trailing dots and
/// spaces, an alternate data stream suffix, or the 8.3 short name `git~1`.
fn is_git_dir(component: &[u8]) -> bool {
    let c = match memchr::memchr(b':', component) {
        Some(i) => &component[..i],
        None => component,
    };
    let mut c = c;
    while let Some((last, rest)) = c.split_last() {
        if *last == b'.' || *last == b' ' {
            c = rest;
        } else {
            break;
        }
    }
    c.eq_ignore_ascii_case(b".git") || c.eq_ignore_ascii_case(b"git~1")
}

fn one_path(p: &PatchPath, span: Span, out: &mut Vec<FindingBuilder>) {
    let b = p.as_bytes();
    let mut push = |rule: RuleMeta, msg: String| out.push(report(p, rule, span, msg));
    let shown = p.display();
    if b.first() == Some(&b'/')
        || b.starts_with(b"\\\\")
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && (b[2] == b'/' || b[2] == b'\\'))
    {
        push(ABSOLUTE, format!("\"{shown}\" is an absolute path"));
    }
    let components: Vec<&[u8]> = b.split(|&c| c == b'/' || c == b'\\').collect();
    if components.iter().any(|c| *c == b"..") {
        push(
            TRAVERSAL,
            format!("\"{shown}\" climbs out of the repository with `..`"),
        );
    }
    if components.iter().any(|c| is_git_dir(c)) {
        push(
            GIT_DIR,
            format!("\"{shown}\" writes inside the repository's .git directory"),
        );
    }
    if b.iter().any(|&c| c < 0x20 || c == 0x7f) {
        push(CONTROL, format!("\"{shown}\" contains a control character"));
    }
    if b.contains(&b'\\') {
        push(BACKSLASH, format!("\"{shown}\" contains a backslash"));
    }
    let windows_bad = components.iter().any(|c| {
        is_reserved_windows_name(c)
            || (!c.is_empty() && *c != b"." && *c != b".." && matches!(c.last(), Some(b'.' | b' ')))
            || c.contains(&b':')
    });
    if windows_bad {
        push(
            WINDOWS,
            format!("\"{shown}\" is reserved or unsafe on Windows"),
        );
    }
    if let Ok(s) = std::str::from_utf8(b)
        && !s.is_ascii()
    {
        if let Some(c) = s.chars().find(|&c| is_deceptive_char(c)) {
            let what = if is_bidi_control(c) {
                "a bidi control"
            } else {
                "an invisible character"
            };
            push(
                DECEPTIVE,
                format!("\"{shown}\" contains {what} (U+{:04X})", c as u32),
            );
        } else if let Some(comp) = s.split('/').find(|c| confusable_component(c)) {
            push(
                DECEPTIVE,
                format!(
                    "\"{shown}\" has a component (\"{}\") that mixes scripts or imitates ASCII",
                    crate::text::escape_for_display(comp.as_bytes())
                ),
            );
        }
    }
}

/// A component is confusable when it mixes scripts (Latin with Cyrillic), or
/// is not ASCII but its UTS #39 skeleton is: it imitates an ASCII name.
fn confusable_component(c: &str) -> bool {
    // Judge each word separately: "привет.txt" is a Russian name with a Latin
    // extension, not a mixed-script word.
    c.split(|ch: char| !ch.is_alphanumeric())
        .filter(|w| !w.is_ascii())
        .any(|w| {
            !w.is_single_script()
                || w.chars()
                    .any(|ch| !ch.is_ascii() && !ch.identifier_allowed())
                || unicode_security::skeleton(w).all(|ch| ch.is_ascii())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_dir_variants() {
        for c in [
            &b".git"[..],
            b".GIT",
            b".git.",
            b".git ",
            b"git~1",
            b".git::$INDEX_ALLOCATION",
        ] {
            assert!(is_git_dir(c), "{c:?}");
        }
        for c in [&b".gitignore"[..], b".github", b"git", b"x.git"] {
            assert!(!is_git_dir(c), "{c:?}");
        }
    }

    #[test]
    fn reserved_names() {
        for c in [&b"CON"[..], b"nul.txt", b"com1", b"Lpt9.log", b"aux "] {
            assert!(is_reserved_windows_name(c), "{c:?}");
        }
        for c in [&b"console"[..], b"com0", b"nully", b"lpt"] {
            assert!(!is_reserved_windows_name(c), "{c:?}");
        }
    }

    #[test]
    fn confusables() {
        assert!(confusable_component("p\u{430}ypal.js")); // Cyrillic a among Latin
        assert!(confusable_component(
            "\u{440}\u{430}\u{443}\u{440}\u{430}\u{4cf}"
        )); // all Cyrillic, skeleton ASCII
        assert!(!confusable_component("caf\u{e9}.txt"));
        assert!(!confusable_component("\u{65e5}\u{672c}\u{8a9e}.md"));
        assert!(!confusable_component(
            "\u{43f}\u{440}\u{438}\u{432}\u{435}\u{442}.txt"
        )); // Russian "привет"
    }
}
