//! Git's C-style path quoting, in both directions.
//!
//! Git writes a path in double quotes with backslash escapes when it contains
//! a control character, a double quote, a backslash, or (with the default
//! `core.quotePath`) any byte at or above 0x80: `"a/\303\244 b.txt"`.

/// Decodes a C-quoted string that starts at `s[0] == b'"'`.
///
/// Returns the decoded bytes and the number of input bytes consumed (including
/// both quotes), or `None` when the quoting is malformed (no closing quote, an
/// unknown escape, or an octal escape above `\377`).
pub(crate) fn unquote(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 1;
    while i < s.len() {
        let c = s[i];
        match c {
            b'"' => return Some((out, i + 1)),
            b'\\' => {
                let e = *s.get(i + 1)?;
                i += 2;
                let decoded = match e {
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'v' => 0x0b,
                    b'f' => 0x0c,
                    b'r' => b'\r',
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'0'..=b'3' => {
                        let d2 = *s.get(i)?;
                        let d3 = *s.get(i + 1)?;
                        if !(b'0'..=b'7').contains(&d2) || !(b'0'..=b'7').contains(&d3) {
                            return None;
                        }
                        i += 2;
                        ((e - b'0') << 6) | ((d2 - b'0') << 3) | (d3 - b'0')
                    }
                    _ => return None,
                };
                out.push(decoded);
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// Whether git would quote this byte (with `core.quotePath` on).
fn needs_quote(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f
}

/// Quotes a path the way git prints it (`core.quotePath` on).
pub(crate) fn git_quote(path: &[u8]) -> String {
    if !path.iter().copied().any(needs_quote) {
        // No byte needs quoting, so every byte is printable ASCII.
        return path.iter().map(|&b| b as char).collect();
    }
    let mut out = String::with_capacity(path.len() + 8);
    out.push('"');
    for &b in path {
        match b {
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            _ if needs_quote(b) => {
                out.push('\\');
                out.push(char::from(b'0' + (b >> 6)));
                out.push(char::from(b'0' + ((b >> 3) & 7)));
                out.push(char::from(b'0' + (b & 7)));
            }
            _ => out.push(b as char),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_octal_and_named_escapes() {
        let (v, n) = unquote(br#""a/\303\244 b\t\"x\".txt" rest"#).unwrap();
        assert_eq!(v, "a/\u{e4} b\t\"x\".txt".as_bytes());
        assert_eq!(n, 25);
    }

    #[test]
    fn rejects_malformed_quoting() {
        assert!(unquote(b"\"abc").is_none());
        assert!(unquote(b"\"a\\q\"").is_none());
        assert!(unquote(b"\"a\\4\"").is_none());
        assert!(unquote(b"\"a\\").is_none());
        assert!(unquote(b"abc").is_none());
    }

    #[test]
    fn quote_round_trips() {
        for p in [
            &b"plain/path.rs"[..],
            "\u{e4} b.txt".as_bytes(),
            b"tab\there",
            b"q\"\\\x7f\x01",
        ] {
            let q = git_quote(p);
            if q.starts_with('"') {
                assert_eq!(unquote(q.as_bytes()).unwrap().0, p);
            } else {
                assert_eq!(q.as_bytes(), p);
            }
        }
        assert_eq!(git_quote("\u{e4} b.txt".as_bytes()), r#""\303\244 b.txt""#);
    }
}
