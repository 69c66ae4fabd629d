//! Mode hazards: symlinks (and where they point), submodules, executable bits.

use crate::diff::{Diff, FileOp, FilePatch, LineKind, Mode};
use crate::finding::{Category, FindingBuilder, RuleMeta, Severity};

pub(super) const SYMLINK: RuleMeta = RuleMeta {
    id: "verify.symlink",
    title: "Symbolic link created or retargeted",
    severity: Severity::Medium,
    category: Category::ModeHazard,
    description: "A symlink makes later reads and writes of its path reach another file; review where it points.",
};

pub(super) const SYMLINK_ESCAPE: RuleMeta = RuleMeta {
    id: "verify.symlink-escape",
    title: "Symbolic link pointing outside the repository",
    severity: Severity::High,
    category: Category::ModeHazard,
    description: "A symlink whose target is absolute, climbs above the repository root, or points into .git: reading it leaks files from the host, writing through it tampers with them.",
};

pub(super) const SUBMODULE: RuleMeta = RuleMeta {
    id: "verify.submodule",
    title: "Submodule (gitlink) added or moved",
    severity: Severity::Medium,
    category: Category::ModeHazard,
    description: "A gitlink pulls in another repository's code at a commit the diff does not show.",
};

pub(super) const EXECUTABLE: RuleMeta = RuleMeta {
    id: "verify.executable-added",
    title: "Executable bit added",
    severity: Severity::Low,
    category: Category::ModeHazard,
    description: "A file becomes executable; check that it is meant to run.",
};

fn effective_modes(f: &FilePatch) -> (Option<Mode>, Option<Mode>) {
    let ix = f.index().and_then(|i| i.mode);
    let old = match f.op() {
        FileOp::Add => None,
        _ => f.old_mode().or(ix),
    };
    let new = match f.op() {
        FileOp::Delete => None,
        _ => f
            .new_mode()
            .or(ix)
            .or(if f.op() == FileOp::Add { None } else { old }),
    };
    (old, new)
}

/// Where a mode header line is, for locations: the first `mode` header, else the header.
fn mode_span(diff: &Diff<'_>, f: &FilePatch) -> crate::diff::Span {
    let h = f.header_span();
    let text = diff.bytes(h);
    let mut off = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"new file mode ")
            || line.starts_with(b"new mode ")
            || line.starts_with(b"old mode ")
            || line.starts_with(b"index ")
        {
            let end = line.len() - usize::from(line.ends_with(b"\n"));
            return crate::diff::Span::new(h.start + off, h.start + off + end);
        }
        off += line.len();
    }
    h
}

pub(super) fn check(diff: &Diff<'_>, out: &mut Vec<FindingBuilder>) {
    for f in diff.files() {
        let (old, new) = effective_modes(f);
        let Some(new) = new else { continue };
        let span = mode_span(diff, f);
        let base = |rule: RuleMeta, msg: String, key: &[u8]| {
            FindingBuilder::new(rule, span, msg)
                .at_diff_line(span)
                .path(f.path())
                .evidence(diff.bytes(span))
                .key(key)
        };
        if new.is_symlink() {
            let was_link = old.is_some_and(Mode::is_symlink);
            let changed = !f.hunks().is_empty() || !was_link;
            if changed {
                let target: Vec<u8> = f
                    .hunks()
                    .iter()
                    .flat_map(|h| h.lines())
                    .find(|l| l.kind() != LineKind::Removed)
                    .map(|l| diff.line_bytes(l).to_vec())
                    .unwrap_or_default();
                let shown = crate::text::escape_for_display(&target);
                let verb = if was_link { "retargeted" } else { "created" };
                out.push(base(
                    SYMLINK,
                    format!("symlink {verb}, pointing to \"{shown}\""),
                    &target,
                ));
                let link = f.new_path().map(|p| p.as_bytes()).unwrap_or_default();
                if let Some(why) = escapes_repository(link, &target) {
                    out.push(
                        base(
                            SYMLINK_ESCAPE,
                            format!("symlink target \"{shown}\" {why}"),
                            &target,
                        )
                        .evidence(&target),
                    );
                }
            }
        }
        if new.is_gitlink() {
            let moved = matches!(f.op(), FileOp::Rename { .. } | FileOp::Copy { .. });
            let added = f.op() == FileOp::Add || !old.is_some_and(Mode::is_gitlink);
            if moved || added {
                let what = if moved { "moved" } else { "added" };
                out.push(base(SUBMODULE, format!("submodule {what}"), b"gitlink"));
            }
        }
        if new.is_executable() && !old.is_some_and(Mode::is_executable) {
            out.push(base(
                EXECUTABLE,
                format!("file mode becomes {new}"),
                b"exec",
            ));
        }
    }
}

/// Whether a link at `link` (repository-relative) with `target` leaves the
/// repository; returns why.
fn escapes_repository(link: &[u8], target: &[u8]) -> Option<&'static str> {
    if target.first() == Some(&b'/')
        || target.first() == Some(&b'\\')
        || target.get(1) == Some(&b':')
    {
        return Some("is absolute");
    }
    if target.first() == Some(&b'~') {
        return Some("points into a home directory");
    }
    // Depth of the link's directory below the root.
    let mut depth: i64 = link.split(|&b| b == b'/').filter(|c| !c.is_empty()).count() as i64 - 1;
    let mut into_git = false;
    for c in target.split(|&b| b == b'/' || b == b'\\') {
        match c {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return Some("climbs above the repository root");
                }
            }
            c => {
                if depth == 0 && c.eq_ignore_ascii_case(b".git") {
                    into_git = true;
                }
                depth += 1;
            }
        }
    }
    into_git.then_some("points into .git")
}

#[cfg(test)]
mod tests {
    use super::escapes_repository;

    #[test]
    fn symlink_targets() {
        assert!(escapes_repository(b"a/link", b"/etc/passwd").is_some());
        assert!(escapes_repository(b"a/link", b"../../x").is_some());
        assert!(escapes_repository(b"link", b"../x").is_some());
        assert!(escapes_repository(b"a/link", b"../.git/config").is_some());
        assert!(escapes_repository(b"a/b/link", b"../../x").is_none());
        assert!(escapes_repository(b"a/link", b"../x/./y").is_none());
        assert!(escapes_repository(b"link", b"docs/readme.md").is_none());
    }
}
