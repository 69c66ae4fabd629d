//! GitHub Actions template injection: an attacker-controlled context (an
//! issue title, a PR branch name, a commit message) expanded with `${{ }}`
//! inside a `run:` script or a `script:` input, where it becomes code.
//!
//! The YAML context is read from the hunk's new-side lines: the nearest
//! enclosing key at a lower indentation decides whether the expression sits in
//! a script. The same expression in `env:` (the safe pattern) is not reported.

use super::{Ctx, Hit};
use crate::diff::LineKind;

/// Whether an expression path names data an outside contributor controls.
fn attacker_controlled(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    if p == "github.head_ref" {
        return true;
    }
    let Some(rest) = p.strip_prefix("github.event.") else {
        return false;
    };
    const SUFFIXES: [&str; 9] = [
        ".title",
        ".body",
        ".message",
        ".page_name",
        ".head_branch",
        ".label",
        ".display_title",
        ".head_ref",
        ".default_branch",
    ];
    SUFFIXES.iter().any(|s| rest.ends_with(s))
        || ((rest.contains(".author.")
            || rest.contains(".committer.")
            || rest.contains(".pusher."))
            && (rest.ends_with(".email") || rest.ends_with(".name")))
        || rest == "pull_request.head.ref"
        || rest.starts_with("commits")
        || rest.starts_with("pages")
        || (rest.contains("labels") && rest.ends_with(".name"))
}

/// Whether an expression's value is a boolean (a comparison or a boolean
/// function), which cannot carry text into a script whatever its inputs.
fn is_boolean(expr: &str) -> bool {
    let e = expr.trim();
    let lower = e.to_ascii_lowercase();
    e.contains("==")
        || e.contains("!=")
        || [
            "contains(",
            "startswith(",
            "endswith(",
            "success(",
            "failure(",
            "always(",
            "cancelled(",
            "!",
        ]
        .iter()
        .any(|f| lower.starts_with(f))
}

/// Keys whose values are code: `run:` steps, and action inputs that evaluate
/// their value as a script or command.
fn is_sink_key(k: &str) -> bool {
    matches!(
        k,
        "run" | "script" | "cmd" | "command" | "shell-script" | "inline-script"
    )
}

/// The expression paths (`github.event.issue.title`) inside `${{ ... }}`.
fn paths(expr: &str) -> Vec<&str> {
    expr.split(|c: char| {
        !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']' | '*'))
    })
    .filter(|t| t.contains('.'))
    .collect()
}

fn indent(s: &str) -> usize {
    s.len() - s.trim_start_matches(' ').len()
}

/// The YAML key a line starts with (after a list dash), if any.
fn key(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let t = t.strip_prefix("- ").unwrap_or(t).trim_start();
    let colon = t.find(':')?;
    let k = &t[..colon];
    (!k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then_some(k)
}

enum Where {
    Script(String),
    Elsewhere,
    Unknown,
}

fn context(ctx: &Ctx<'_, '_>) -> Where {
    let own = ctx.text.trim_end_matches('\r');
    match key(own) {
        Some(k) if is_sink_key(k) => return Where::Script(format!("{k}:")),
        Some(_) => return Where::Elsewhere,
        None => {}
    }
    let want = indent(own);
    let lines = ctx.hunk.lines();
    for l in lines[..ctx.line].iter().rev() {
        if l.kind() == LineKind::Removed {
            continue;
        }
        let text = String::from_utf8_lossy(ctx.diff.line_bytes(l));
        let t = text.trim_end();
        if t.trim().is_empty() || t.trim_start().starts_with('#') {
            continue;
        }
        if indent(t) < want {
            return match key(t) {
                Some(k) if is_sink_key(k) => Where::Script(format!("{k}:")),
                Some(_) => Where::Elsewhere,
                None => Where::Unknown,
            };
        }
    }
    Where::Unknown
}

/// Environment variables set from attacker-controlled data anywhere in the
/// hunk (`TITLE: ${{ github.event.issue.title }}`); `${{ env.TITLE }}` in a
/// script carries the same data. Scoping (step over job over workflow) is
/// approximated: the definition nearest above the use at a lower
/// indentation, or inside the same step, wins.
fn env_tainted(ctx: &Ctx<'_, '_>, name: &str) -> bool {
    let lines = ctx.hunk.lines();
    let texts: Vec<String> = lines
        .iter()
        .map(|l| {
            if l.kind() == LineKind::Removed {
                String::new()
            } else {
                String::from_utf8_lossy(ctx.diff.line_bytes(l)).into_owned()
            }
        })
        .collect();
    let defines = |t: &str| -> Option<bool> {
        let k = key(t)?;
        if k != name {
            return None;
        }
        let value = &t[t.find(':').map_or(t.len(), |i| i + 1)..];
        let tainted = value.contains("${{")
            && value.split("${{").skip(1).any(|e| {
                paths(e.split("}}").next().unwrap_or(""))
                    .into_iter()
                    .any(attacker_controlled)
            });
        Some(tainted)
    };
    // The step around the use: from its `- ` line to the next item at that indentation.
    let use_at = ctx.line;
    let step_start = (0..=use_at)
        .rev()
        .find(|&i| texts[i].trim_start().starts_with("- "));
    if let Some(s0) = step_start {
        let ind = indent(&texts[s0]);
        let mut i = s0;
        while i < texts.len() {
            let t = &texts[i];
            if i > s0 && !t.trim().is_empty() && indent(t) <= ind {
                break;
            }
            if let Some(tainted) = defines(t) {
                return tainted;
            }
            i += 1;
        }
    }
    // Otherwise the nearest definition above the step and outside any step
    // (job level, then workflow level).
    let before = step_start.unwrap_or(use_at);
    let step_indent = step_start.map_or(usize::MAX, |s0| indent(&texts[s0]));
    (0..before)
        .rev()
        .filter(|&i| indent(&texts[i]) <= step_indent)
        .find_map(|i| defines(&texts[i]))
        .unwrap_or(false)
}

pub(super) fn template_injection(ctx: &Ctx<'_, '_>) -> Vec<Hit> {
    let mut out = Vec::new();
    let mut from = 0;
    let text = ctx.text;
    let mut place: Option<Where> = None;
    while let Some(i) = text[from..].find("${{") {
        let start = from + i;
        let Some(len) = text[start..].find("}}") else {
            break;
        };
        let end = start + len + 2;
        let expr = &text[start + 3..start + len];
        from = end;
        if is_boolean(expr) {
            continue;
        }
        let direct = paths(expr).into_iter().find(|p| attacker_controlled(p));
        let via_env = || {
            paths(expr)
                .into_iter()
                .find(|p| p.strip_prefix("env.").is_some_and(|n| env_tainted(ctx, n)))
        };
        let Some(bad) = direct.or_else(via_env) else {
            continue;
        };
        let place = place.get_or_insert_with(|| context(ctx));
        let msg = match place {
            Where::Script(k) => format!(
                "attacker-controlled `{bad}` is expanded into a script ({k}); pass it through an environment variable instead"
            ),
            Where::Unknown => format!(
                "attacker-controlled `{bad}` is expanded in a workflow where the enclosing key is not in the diff; check it is not a script"
            ),
            Where::Elsewhere => continue,
        };
        out.push(Hit {
            start,
            end,
            message: msg,
            key: bad.to_owned(),
            in_literal: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::attacker_controlled;

    #[test]
    fn contexts() {
        for p in [
            "github.event.issue.title",
            "github.event.pull_request.body",
            "github.head_ref",
            "github.event.pull_request.head.ref",
            "github.event.head_commit.message",
            "github.event.commits[0].author.email",
            "github.event.workflow_run.head_branch",
        ] {
            assert!(attacker_controlled(p), "{p}");
        }
        for p in [
            "github.event.pull_request.head.sha",
            "github.event.pull_request.base.sha",
            "github.server_url",
            "github.event.pull_request.head.repo.fork",
            "github.event.issue.number",
            "env.FOO",
        ] {
            assert!(!attacker_controlled(p), "{p}");
        }
    }
}
