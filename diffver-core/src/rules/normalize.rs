//! The normalised "prose" view phrase rules also match against, so that
//! evasions do not work: invisible characters stripped, NFKC, the UTS #39
//! confusable skeleton (Cyrillic `і` reads as `i`), combining marks dropped,
//! lower-cased, whitespace collapsed, and comment markers at line starts
//! removed (so a phrase split over two `//` lines still reads as one).
//!
//! Every byte of the view maps back to the byte of the source it came from,
//! so a match in the view is reported at its place in the diff.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::text::is_deceptive_char;

/// A normalised text and, for each of its bytes, the source byte offset.
#[derive(Debug, Default)]
pub(crate) struct View {
    pub(crate) text: String,
    pub(crate) map: Vec<usize>,
}

impl View {
    fn push(&mut self, c: char, at: usize) {
        let before = self.text.len();
        self.text.push(c);
        self.map.resize(self.text.len(), at);
        debug_assert!(self.text.len() > before);
    }

    fn push_space(&mut self, at: usize) {
        if !self.text.is_empty() && !self.text.ends_with(' ') {
            self.push(' ', at);
        }
    }

    /// Maps a byte range of the view back to a byte range of the source.
    pub(crate) fn source_range(&self, start: usize, end: usize, src: &str) -> (usize, usize) {
        let s = self.map.get(start).copied().unwrap_or(0);
        let last = self.map.get(end.saturating_sub(1)).copied().unwrap_or(s);
        let e = last + src[last..].chars().next().map_or(0, char::len_utf8);
        (s, e.max(s))
    }
}

const COMMENT_MARKERS: [&str; 12] = [
    "<!--", "///", "//!", "//", "/*", "*/", "--", "#", "*", ";", ">", "'''",
];

/// Replaces comment markers at line starts (and the indentation before them)
/// with spaces, keeping every offset: the cheap prose view of ASCII text.
pub(crate) fn blank_comment_markers(src: &[u8]) -> Vec<u8> {
    let mut out = src.to_vec();
    let mut i = 0;
    while i < out.len() {
        let line_end = memchr::memchr(b'\n', &out[i..]).map_or(out.len(), |p| i + p);
        let mut j = i;
        while j < line_end && (out[j] == b' ' || out[j] == b'\t') {
            j += 1;
        }
        if let Some(m) = COMMENT_MARKERS
            .iter()
            .find(|m| out[j..line_end].starts_with(m.as_bytes()))
        {
            for b in &mut out[j..j + m.len()] {
                *b = b' ';
            }
        }
        i = line_end + 1;
    }
    out
}

/// Builds the prose view of `src` (which may hold several lines).
pub(crate) fn prose(src: &str) -> View {
    let mut v = View {
        text: String::with_capacity(src.len()),
        map: Vec::with_capacity(src.len()),
    };
    let mut line_start = true;
    let mut i = 0;
    while i < src.len() {
        let rest = &src[i..];
        if line_start {
            let trimmed = rest.trim_start_matches([' ', '\t']);
            let mut skip = rest.len() - trimmed.len();
            if let Some(m) = COMMENT_MARKERS.iter().find(|m| trimmed.starts_with(**m)) {
                skip += m.len();
            }
            if skip > 0 {
                v.push_space(i);
                i += skip;
                continue;
            }
            line_start = false;
        }
        let Some(c) = rest.chars().next() else { break };
        let at = i;
        i += c.len_utf8();
        if c == '\n' {
            v.push_space(at);
            line_start = true;
            continue;
        }
        if c.is_ascii() {
            if c.is_ascii_whitespace() {
                v.push_space(at);
            } else {
                v.push(c.to_ascii_lowercase(), at);
            }
            continue;
        }
        if is_deceptive_char(c) || is_combining_mark(c) {
            continue;
        }
        if c.is_whitespace() {
            v.push_space(at);
            continue;
        }
        for d in std::iter::once(c).nfkc() {
            if d.is_ascii() {
                v.push(d.to_ascii_lowercase(), at);
                continue;
            }
            let mut buf = [0u8; 4];
            for e in unicode_security::skeleton(d.encode_utf8(&mut buf)) {
                if is_combining_mark(e) || is_deceptive_char(e) {
                    continue;
                }
                for l in e.to_lowercase() {
                    v.push(l, at);
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::prose;

    #[test]
    fn evasions_are_normalised() {
        assert_eq!(
            prose("ig\u{200B}nore prev\u{456}ous  Instructions").text,
            "ignore previous instructions"
        );
        assert_eq!(
            prose("// ignore all\n// previous instructions").text,
            "ignore all previous instructions"
        );
        assert_eq!(prose("\u{FF49}gnore").text, "ignore");
        let v = prose("a\u{200B}bc");
        assert_eq!(v.source_range(1, 3, "a\u{200B}bc"), (4, 6));
    }
}
