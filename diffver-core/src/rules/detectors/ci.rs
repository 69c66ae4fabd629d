//! GitHub Actions template injection: an attacker-controlled context (an
//! issue title, a PR branch name, a commit message) expanded with `${{ }}`
//! inside a `run:` script, a `script:` input or the input of an action that
//! runs it as code, where it becomes code.
//!
//! The YAML context is read from the hunk's new-side lines: the nearest
//! enclosing key at a lower indentation decides whether the expression sits in
//! a script. The same expression in `env:` (the safe pattern) is not reported.
//!
//! Expressions are read as GitHub evaluates them: context names are
//! case-insensitive (`GitHub.Event.Issue.Title`), bracket notation is a
//! property access (`github['event']['issue']['title']`), a parenthesised
//! alternative dereferences each branch (`(a || b).title`), and a whole object
//! dumped with `toJSON(github.event)` carries every field inside it. Values
//! derived from untrusted data through `env.*` and `matrix.*` keep the taint;
//! `inputs.*` and dispatch payloads are reported one level lower, and
//! structured values an outsider shapes only partly (`github.ref`, a matrix
//! built from other expressions) at info: listed, never blocking, since they
//! are common in ordinary workflows and rarely injectable.

use super::{Ctx, Hit};
use crate::diff::LineKind;
use crate::finding::Severity;

/// How much of a context's value an outside contributor controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Taint {
    /// A ref name (constrained characters, chosen by someone with push
    /// access), or a value of unknown origin built from expressions.
    Structured,
    /// Whoever calls or dispatches the workflow decides (`inputs.*`,
    /// `client_payload`), or a matrix built from such data.
    Indirect,
    /// Free text from anyone who can open an issue or a pull request.
    Free,
}

impl Taint {
    fn severity(self) -> Option<Severity> {
        match self {
            Taint::Free => None,
            Taint::Indirect => Some(Severity::Medium),
            Taint::Structured => Some(Severity::Info),
        }
    }
}

/// Event objects whose dump (`toJSON(github.event.issue)`) holds free text.
const DUMPED_OBJECTS: [&str; 16] = [
    "github",
    "github.event",
    "github.event.issue",
    "github.event.pull_request",
    "github.event.pull_request.head",
    "github.event.comment",
    "github.event.review",
    "github.event.review_comment",
    "github.event.head_commit",
    "github.event.commits",
    "github.event.workflow_run",
    "github.event.workflow_run.head_commit",
    "github.event.discussion",
    "github.event.pages",
    "github.event.release",
    "github.event.client_payload",
];

/// Whether an expression path (canonical: lower case, dotted) names data an
/// outside contributor controls, and how much.
fn taint(p: &str) -> Option<Taint> {
    let p = p.trim_end_matches(".*");
    if p == "github.head_ref" {
        return Some(Taint::Free);
    }
    if p == "github.ref"
        || p == "github.ref_name"
        || p == "github.event.pull_request.head.repo.full_name"
    {
        return Some(Taint::Structured);
    }
    if p.starts_with("inputs.") || p.starts_with("github.event.inputs.") {
        return Some(Taint::Indirect);
    }
    let rest = p.strip_prefix("github.event.")?;
    if rest.starts_with("client_payload") {
        return Some(Taint::Indirect);
    }
    const SUFFIXES: [&str; 10] = [
        ".title",
        ".body",
        ".message",
        ".page_name",
        ".head_branch",
        ".label",
        ".display_title",
        ".head_ref",
        ".default_branch",
        ".description",
    ];
    let free = SUFFIXES.iter().any(|s| rest.ends_with(s))
        || ((rest.contains(".author.")
            || rest.contains(".committer.")
            || rest.contains(".pusher."))
            && (rest.ends_with(".email") || rest.ends_with(".name")))
        || rest == "pull_request.head.ref"
        || rest.starts_with("commits")
        || rest.starts_with("pages")
        || (rest.contains("labels") && rest.ends_with(".name"));
    free.then_some(Taint::Free)
}

/// The expression in canonical form: ASCII lower case (context names are
/// case-insensitive), and bracket notation with a literal or a number as a
/// property access (`github['event']` is `github.event`, `commits[0]` is
/// `commits.0`, `labels[*]` is `labels.*`).
fn canonical(expr: &str) -> String {
    let lower = expr.to_ascii_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut rest = lower.as_str();
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = after[..close]
            .trim()
            .trim_matches(|c| c == '\'' || c == '"')
            .trim();
        if !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'*'))
        {
            out.push('.');
            out.push_str(inner);
        } else {
            out.push('[');
            out.push_str(&after[..=close]);
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
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

/// Keys whose values are code whatever the action: `run:` steps, and inputs
/// that actions commonly evaluate as a script or command.
fn is_sink_key(k: &str) -> bool {
    matches!(
        k.to_ascii_lowercase().as_str(),
        "run" | "script" | "cmd" | "command" | "shell-script" | "inline-script" | "inlinescript"
    )
}

/// Inputs of specific actions that reach a shell or an interpreter: the
/// action's name (lower case, without the version) and the input.
const ACTION_SINKS: [(&str, &str); 6] = [
    // Passed to `docker run` through a shell.
    ("addnab/docker-run-action", "options"),
    // Evaluated as JavaScript.
    ("cardinalby/js-eval-action", "expression"),
    // Run by a shell on the remote host.
    ("appleboy/ssh-action", "script"),
    ("garygrossgarten/github-action-ssh", "command"),
    // Run by a shell, retried.
    ("nick-fields/retry", "command"),
    ("nick-invision/retry", "command"),
];

/// The expression paths (`github.event.issue.title`) inside a canonical
/// expression, with each parenthesised alternative dereferenced
/// (`(a || b).title` gives `a.title` and `b.title`).
fn paths(expr: &str) -> Vec<String> {
    let token = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*');
    let mut out: Vec<String> = expr
        .split(|c: char| !token(c))
        .filter(|t| t.contains('.') && !t.starts_with('.'))
        .map(str::to_owned)
        .collect();
    let mut from = 0;
    while let Some(i) = expr[from..].find(").") {
        let close = from + i;
        from = close + 2;
        let suffix: String = expr[close + 2..]
            .chars()
            .take_while(|&c| token(c))
            .collect();
        if suffix.is_empty() {
            continue;
        }
        // The matching `(`, unless it opens a function call (`fromJSON(…).x`).
        let mut depth = 0usize;
        let mut open = None;
        for (j, c) in expr[..close].char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' if depth == 0 => {
                    open = Some(j);
                    break;
                }
                '(' => depth -= 1,
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        if expr[..open]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        for p in expr[open + 1..close].split(|c: char| !token(c)) {
            if p.contains('.') && !p.starts_with('.') {
                out.push(format!("{p}.{suffix}"));
            }
        }
    }
    out
}

/// The worst taint of an expression: of its paths, or of a whole event
/// object it renders (`toJSON(github.event)`, `${{ github.event.issue }}`).
fn expr_taint(canon: &str) -> Option<(Taint, String)> {
    let e = canon.trim();
    let inner = e
        .strip_prefix("tojson(")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(e)
        .trim();
    if DUMPED_OBJECTS.contains(&inner) {
        return Some((Taint::Free, inner.to_owned()));
    }
    paths(canon)
        .into_iter()
        .filter_map(|p| taint(&p).map(|t| (t, p)))
        .max_by_key(|(t, _)| *t)
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

/// Lines of the hunk read around an expression: this many before it and
/// after it. Keys, steps and `env:`/`matrix:` definitions further away are
/// not seen; the bound keeps a hunk of many expressions linear to scan.
const LOOK_BEHIND: usize = 400;
const LOOK_AHEAD: usize = 100;

/// The new-side text of the hunk's lines around the current one (removed
/// lines are empty), and the current line's index in it.
fn texts(ctx: &Ctx<'_, '_>) -> (Vec<String>, usize) {
    let lines = ctx.hunk.lines();
    let lo = ctx.line.saturating_sub(LOOK_BEHIND);
    let hi = lines.len().min(ctx.line + LOOK_AHEAD + 1);
    let texts = lines[lo..hi]
        .iter()
        .map(|l| {
            if l.kind() == LineKind::Removed {
                String::new()
            } else {
                String::from_utf8_lossy(ctx.diff.line_bytes(l)).into_owned()
            }
        })
        .collect();
    (texts, ctx.line - lo)
}

/// The action a step uses (`uses: owner/name@ref`, lower case, without the
/// ref), for the step around line `at`.
fn step_uses(texts: &[String], at: usize) -> Option<String> {
    let start = (0..=at)
        .rev()
        .find(|&i| texts[i].trim_start().starts_with("- "))?;
    let ind = indent(&texts[start]);
    for (i, t) in texts.iter().enumerate().skip(start) {
        if i > start && !t.trim().is_empty() && indent(t) <= ind {
            break;
        }
        if key(t) == Some("uses") {
            let v = t[t.find(':').map_or(t.len(), |c| c + 1)..]
                .trim()
                .trim_matches(|c| c == '"' || c == '\'');
            return Some(v.split('@').next().unwrap_or(v).to_ascii_lowercase());
        }
    }
    None
}

/// Whether key `k` at line `at` holds code: a generic sink key, or an input
/// of an action known to run that input.
fn sink(texts: &[String], at: usize, k: &str) -> bool {
    if is_sink_key(k) {
        return true;
    }
    let k = k.to_ascii_lowercase();
    ACTION_SINKS.iter().any(|(_, input)| *input == k)
        && step_uses(texts, at)
            .is_some_and(|u| ACTION_SINKS.iter().any(|(a, i)| *a == u && *i == k))
}

fn context(ctx: &Ctx<'_, '_>, texts: &[String], at: usize) -> Where {
    let own = ctx.text.trim_end_matches('\r');
    match key(own) {
        Some(k) if sink(texts, at, k) => return Where::Script(format!("{k}:")),
        Some(_) => return Where::Elsewhere,
        None => {}
    }
    let want = indent(own);
    for i in (0..at).rev() {
        let t = texts[i].trim_end();
        if t.trim().is_empty() || t.trim_start().starts_with('#') {
            continue;
        }
        if indent(t) < want {
            return match key(t) {
                Some(k) if sink(texts, i, k) => Where::Script(format!("{k}:")),
                Some(_) => Where::Elsewhere,
                None => Where::Unknown,
            };
        }
    }
    Where::Unknown
}

/// The taint of the value a key defines on line `t`, if the line defines
/// `name`.
fn defines(t: &str, name: &str) -> Option<Option<(Taint, String)>> {
    let k = key(t)?;
    if !k.eq_ignore_ascii_case(name) {
        return None;
    }
    let value = &t[t.find(':').map_or(t.len(), |i| i + 1)..];
    Some(
        value
            .split("${{")
            .skip(1)
            .filter_map(|e| expr_taint(&canonical(e.split("}}").next().unwrap_or(""))))
            .max_by_key(|(t, _)| *t),
    )
}

/// Environment variables set from attacker-controlled data anywhere in the
/// hunk (`TITLE: ${{ github.event.issue.title }}`); `${{ env.TITLE }}` in a
/// script carries the same data. Scoping (step over job over workflow) is
/// approximated: the definition nearest above the use at a lower
/// indentation, or inside the same step, wins.
fn env_taint(texts: &[String], use_at: usize, name: &str) -> Option<(Taint, String)> {
    // The step around the use: from its `- ` line to the next item at that indentation.
    let step_start = (0..=use_at)
        .rev()
        .find(|&i| texts[i].trim_start().starts_with("- "));
    if let Some(s0) = step_start {
        let ind = indent(&texts[s0]);
        for (i, t) in texts.iter().enumerate().skip(s0) {
            if i > s0 && !t.trim().is_empty() && indent(t) <= ind {
                break;
            }
            if let Some(tainted) = defines(t, name) {
                return tainted;
            }
        }
    }
    // Otherwise the nearest definition above the step and outside any step
    // (job level, then workflow level).
    let before = step_start.unwrap_or(use_at);
    let step_indent = step_start.map_or(usize::MAX, |s0| indent(&texts[s0]));
    (0..before)
        .rev()
        .filter(|&i| indent(&texts[i]) <= step_indent)
        .find_map(|i| defines(&texts[i], name))
        .flatten()
}

/// A matrix value built from untrusted data: `name: ${{ … }}` (or a whole
/// `matrix: ${{ fromJSON(…) }}`) anywhere in the hunk. A matrix carries the
/// data one step further, so it is reported one level lower; a value built
/// from any other expression (`prefix-${{ github.repository_owner }}`) is
/// not static either, and is reported at info.
fn matrix_taint(texts: &[String], name: &str) -> Option<(Taint, String)> {
    let mut dynamic = false;
    let worst = texts
        .iter()
        .filter_map(|t| {
            let found = defines(t, name).or_else(|| defines(t, "matrix"))?;
            dynamic |= t.contains("${{");
            found
        })
        .max_by_key(|(t, _)| *t);
    match worst {
        Some((t, p)) => Some((t.min(Taint::Indirect), p)),
        None if dynamic => Some((Taint::Structured, format!("matrix.{name}"))),
        None => None,
    }
}

pub(super) fn template_injection(ctx: &Ctx<'_, '_>) -> Vec<Hit> {
    let mut out = Vec::new();
    let mut from = 0;
    let text = ctx.text;
    let mut place: Option<Where> = None;
    let mut lines: Option<(Vec<String>, usize)> = None;
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
        let canon = canonical(expr);
        let (texts, at) = lines.get_or_insert_with(|| texts(ctx));
        let (texts, at) = (&*texts, *at);
        let derived = || {
            paths(&canon).into_iter().find_map(|p| {
                if let Some(n) = p.strip_prefix("env.") {
                    env_taint(texts, at, n)
                } else if let Some(n) = p.strip_prefix("matrix.") {
                    matrix_taint(texts, n)
                } else {
                    None
                }
            })
        };
        let Some((level, bad)) = expr_taint(&canon).or_else(derived) else {
            continue;
        };
        let place = place.get_or_insert_with(|| context(ctx, texts, at));
        let how = match level {
            Taint::Free => "attacker-controlled",
            Taint::Indirect => "caller- or dispatch-controlled",
            Taint::Structured => "partly attacker-shaped",
        };
        let msg = match place {
            Where::Script(k) => format!(
                "{how} `{bad}` is expanded into a script ({k}); pass it through an environment variable instead"
            ),
            Where::Unknown => format!(
                "{how} `{bad}` is expanded in a workflow where the enclosing key is not in the diff; check it is not a script"
            ),
            Where::Elsewhere => continue,
        };
        out.push(Hit {
            start,
            end,
            message: msg,
            key: bad,
            in_literal: false,
            severity: level.severity(),
        });
    }
    out
}

/// The variables a shell line reads: `$NAME`, `${NAME}`, `$env:NAME`,
/// `${{ env.NAME }}`.
fn var_refs(text: &str) -> Vec<&str> {
    let ident = |s: &str| -> usize {
        s.bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()
    };
    let mut out = Vec::new();
    for (i, _) in text.match_indices('$') {
        let rest = &text[i + 1..];
        let rest = rest
            .strip_prefix('{')
            .or_else(|| rest.strip_prefix("env:"))
            .unwrap_or(rest);
        let rest = match rest
            .strip_prefix("{ env.")
            .or_else(|| rest.strip_prefix("{env."))
        {
            Some(r) => r,
            None => rest,
        };
        let n = ident(rest);
        if n > 0 && !rest[..n].starts_with("GITHUB_") {
            out.push(&rest[..n]);
        }
    }
    out
}

/// A script line appending a variable set from untrusted data to
/// `$GITHUB_ENV` or `$GITHUB_OUTPUT` (`echo "T=$TITLE" >> $GITHUB_ENV`). The
/// direct `${{ … }}` form is template injection and reported as such.
pub(super) fn untrusted_env_write(ctx: &Ctx<'_, '_>) -> Vec<Hit> {
    let text = ctx.text;
    let Some(target) = ["GITHUB_ENV", "GITHUB_OUTPUT"]
        .into_iter()
        .find(|t| text.contains(t))
    else {
        return Vec::new();
    };
    let lower = text.to_ascii_lowercase();
    if !(text.contains('>')
        || lower.contains("tee ")
        || lower.contains("out-file")
        || lower.contains("add-content"))
    {
        return Vec::new();
    }
    let (texts, at) = texts(ctx);
    if !matches!(context(ctx, &texts, at), Where::Script(_) | Where::Unknown) {
        return Vec::new();
    }
    let Some((name, (level, from))) = var_refs(text).into_iter().find_map(|n| {
        env_taint(&texts, at, n)
            .filter(|(t, _)| *t > Taint::Structured)
            .map(|t| (n, t))
    }) else {
        return Vec::new();
    };
    let at = text.find(name).unwrap_or(0);
    let start = text[..at].rfind('$').unwrap_or(at);
    vec![Hit {
        start,
        end: at + name.len(),
        message: format!(
            "`{name}` holds `{from}` and is written to ${target}; a newline in it sets other variables for every later step"
        ),
        key: format!("{target}:{from}"),
        in_literal: false,
        severity: level.severity(),
    }]
}

#[cfg(test)]
mod tests {
    use super::{Taint, canonical, expr_taint, paths, taint};

    #[test]
    fn contexts() {
        for p in [
            "github.event.issue.title",
            "github.event.pull_request.body",
            "github.head_ref",
            "github.event.pull_request.head.ref",
            "github.event.head_commit.message",
            "github.event.commits.0.author.email",
            "github.event.workflow_run.head_branch",
            "github.event.review.body",
            "github.event.workflow_run.head_commit.message",
        ] {
            assert_eq!(taint(p), Some(Taint::Free), "{p}");
        }
        for p in [
            "github.event.pull_request.head.sha",
            "github.event.pull_request.base.sha",
            "github.server_url",
            "github.event.pull_request.head.repo.fork",
            "github.event.issue.number",
            "env.foo",
        ] {
            assert_eq!(taint(p), None, "{p}");
        }
        assert_eq!(taint("inputs.test"), Some(Taint::Indirect));
        assert_eq!(taint("github.ref"), Some(Taint::Structured));
    }

    /// A hunk of many expressions is read in a bounded window per line, so
    /// the cost stays linear in its length.
    #[test]
    fn many_expressions_in_one_hunk() {
        let n = 1500;
        let mut patch = format!(
            "diff --git a/.github/workflows/a.yml b/.github/workflows/a.yml\nnew file mode 100644\n--- /dev/null\n+++ b/.github/workflows/a.yml\n@@ -0,0 +1,{} @@\n+      - run: |\n",
            n + 1
        );
        for _ in 0..n {
            patch.push_str("+          echo \"${{ github.event.issue.title }}\" >> $GITHUB_ENV\n");
        }
        let diff = crate::diff::parse(patch.as_bytes(), &crate::diff::Limits::default()).unwrap();
        let rules = crate::rules::Ruleset::builtin();
        let found = rules.find(&diff, &crate::rules::ScanOptions::default());
        assert!(found.iter().any(|f| f.rule_id() == "ci.template-injection"));
    }

    #[test]
    fn expression_syntax() {
        let t = |e: &str| expr_taint(&canonical(e)).map(|(t, _)| t);
        assert_eq!(t(" GitHub.Event.Issue.Title "), Some(Taint::Free));
        assert_eq!(t(" github['event']['issue']['title'] "), Some(Taint::Free));
        assert_eq!(
            t(" github[\"event\"].comment[ 'body' ] "),
            Some(Taint::Free)
        );
        assert_eq!(t(" toJSON(github.event) "), Some(Taint::Free));
        assert_eq!(t(" toJson(github.event.pull_request) "), Some(Taint::Free));
        assert_eq!(
            t(" (github.event.pull_request || github.event.issue).title "),
            Some(Taint::Free)
        );
        assert_eq!(
            t(" (github.event.pull_request || github.event.issue).number "),
            None
        );
        assert_eq!(t(" fromJSON(steps.x.outputs.y).title "), None);
        assert_eq!(t(" github.event.pull_request.number "), None);
        assert!(paths("github.event.commits.*.message").len() == 1);
    }
}
