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

/// One character's normalised form: NFKC, confusable skeleton, combining
/// marks and invisibles dropped, lower-cased — repeated until nothing changes, so
/// the view is a fixed point (lower-casing can expose a new confusable, as
/// `₽` → `Ք` → `ք` → `f`).
fn fold(c: char) -> String {
    let mut cur = c.to_string();
    for _ in 0..4 {
        let mut next = String::with_capacity(cur.len());
        for d in cur.chars().nfkc() {
            if d.is_ascii() {
                next.push(d.to_ascii_lowercase());
                continue;
            }
            let mut buf = [0u8; 4];
            for e in unicode_security::skeleton(d.encode_utf8(&mut buf)) {
                if is_combining_mark(e) || is_deceptive_char(e) {
                    continue;
                }
                next.extend(e.to_lowercase());
            }
        }
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

/// Builds the prose view of `src` (which may hold several lines).
///
/// Two passes: characters are normalised first (each with its source
/// offset, line breaks kept), then comment markers are removed at line
/// starts and whitespace is collapsed — so markers are recognised in their
/// normalised form too, and the view is a fixed point of itself.
pub(crate) fn prose(src: &str) -> View {
    let mut items: Vec<(char, usize)> = Vec::with_capacity(src.len());
    for (at, c) in src.char_indices() {
        if c == '\n' {
            items.push(('\n', at));
        } else if c.is_ascii() {
            items.push((
                if c.is_ascii_whitespace() {
                    ' '
                } else {
                    c.to_ascii_lowercase()
                },
                at,
            ));
        } else if is_deceptive_char(c) || is_combining_mark(c) {
            continue;
        } else if c.is_whitespace() {
            items.push((' ', at));
        } else {
            for e in fold(c).chars() {
                items.push((if e.is_whitespace() { ' ' } else { e }, at));
            }
        }
    }
    let mut v = View {
        text: String::with_capacity(items.len()),
        map: Vec::with_capacity(items.len()),
    };
    let starts_with = |k: usize, m: &str| {
        let mut j = k;
        for mc in m.chars() {
            match items.get(j) {
                Some(&(c, _)) if c == mc => j += 1,
                _ => return None,
            }
        }
        Some(j)
    };
    let mut line_start = true;
    let mut k = 0;
    while k < items.len() {
        let (c, at) = items[k];
        if c == '\n' {
            v.push_space(at);
            line_start = true;
            k += 1;
            continue;
        }
        if c == ' ' {
            v.push_space(at);
            k += 1;
            continue;
        }
        if line_start {
            if let Some(end) = COMMENT_MARKERS.iter().find_map(|m| starts_with(k, m)) {
                v.push_space(at);
                k = end;
                continue;
            }
            line_start = false;
        }
        v.push(c, at);
        k += 1;
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
        assert_eq!(
            prose("a # b").text,
            "a # b",
            "markers only count at line starts"
        );
        let v = prose("a\u{200B}bc");
        assert_eq!(v.source_range(1, 3, "a\u{200B}bc"), (4, 6));
    }
}

#[cfg(test)]
mod properties {
    use super::{blank_comment_markers, prose};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Normalising twice changes nothing more: the view is a fixed point.
        #[test]
        fn prose_is_idempotent(s in "\\PC{0,60}") {
            let once = prose(&s).text;
            let twice = prose(&once).text;
            prop_assert_eq!(twice, once);
        }

        /// Every byte of the view maps into the source, in order.
        #[test]
        fn prose_map_is_monotone(s in "\\PC{0,60}") {
            let v = prose(&s);
            prop_assert_eq!(v.map.len(), v.text.len());
            prop_assert!(v.map.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(v.map.iter().all(|&i| i < s.len().max(1)));
        }

        /// Blanking comment markers keeps every offset.
        #[test]
        fn blanking_keeps_length(s in "[ -~\\n]{0,80}") {
            prop_assert_eq!(blank_comment_markers(s.as_bytes()).len(), s.len());
        }
    }
}
