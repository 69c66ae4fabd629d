//! The normalised "prose" view phrase rules also match against, so that
//! evasions do not work: invisible characters stripped, NFKC, the UTS #39
//! confusable skeleton (Cyrillic `і` reads as `i`), combining marks dropped,
//! lower-cased, whitespace collapsed, and comment markers at line starts
//! removed (so a phrase split over two `//` lines still reads as one).
//!
//! Noise inside words is removed too (issue 11, item 8): control characters
//! (NUL, BEL, …), terminal control sequences (`ESC [ 0 m`) and U+FFFD (what
//! invalid UTF-8 becomes), single character
//! references and escapes (`&#73;`, `&#x49;`, `&colon;` from the complete
//! WHATWG table, `\u0049`, `\u{49}`, `\x49`), HTML tags and comments
//! (`Ig<b></b>nore`, `Ig<!-- -->nore`) and Markdown emphasis or code marks
//! touching a word (`Ig**nore**`, ``Ig`nore` ``, `Ig~~nore~~`). Decoding
//! repeats until nothing changes (bounded), so the view stays a fixed point.
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

/// Pushes the normalised form of one source character (at source offset
/// `at`) onto `items`. Original ASCII case is kept in `case` (for entity
/// names, which are case-sensitive).
fn push_char(items: &mut Vec<(char, usize)>, case: &mut Vec<char>, c: char, at: usize) {
    if c == '\n' {
        items.push(('\n', at));
        case.push('\n');
    } else if c.is_ascii() {
        if c.is_ascii_control() && c != '\t' && c != '\r' {
            // NUL, BEL and friends inside a word: invisible, dropped.
            return;
        }
        items.push((
            if c.is_ascii_whitespace() {
                ' '
            } else {
                c.to_ascii_lowercase()
            },
            at,
        ));
        case.push(c);
    } else if is_deceptive_char(c)
        || is_combining_mark(c)
        || c == '\u{FFFD}'
        || ('\u{80}'..='\u{9F}').contains(&c)
    {
        // Invisible, combining, C1 controls, and replaced invalid UTF-8.
    } else if c.is_whitespace() {
        items.push((' ', at));
        case.push(' ');
    } else {
        with_fold(c, |folded| {
            for e in folded.chars() {
                let e = if e.is_whitespace() { ' ' } else { e };
                items.push((e, at));
                case.push(e);
            }
        });
    }
}

/// Calls `f` with [`fold`]`(c)`, through a small per-thread cache mapped
/// directly by code point: folding runs NFKC and the confusable skeleton to
/// a fixed point, allocating as it goes, and a text repeats the same few
/// non-ASCII characters.
fn with_fold<R>(c: char, f: impl FnOnce(&str) -> R) -> R {
    const SLOTS: usize = 512;
    // A character and its fold, or a free slot.
    type Slot = Option<(char, Box<str>)>;
    thread_local! {
        static CACHE: std::cell::RefCell<Vec<Slot>> =
            std::cell::RefCell::new(vec![None; SLOTS]);
    }
    CACHE.with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => {
            let slot = &mut cache[c as usize % SLOTS];
            if !matches!(slot, Some((k, _)) if *k == c) {
                *slot = Some((c, fold(c).into_boxed_str()));
            }
            match slot {
                Some((_, folded)) => f(folded),
                None => f(&fold(c)),
            }
        }
        // Not reached (`f` does not fold), but never a panic.
        Err(_) => f(&fold(c)),
    })
}

/// Most rounds of noise removal (an entity that decodes to an entity…).
const NOISE_ROUNDS: usize = 3;

/// Whether plain ASCII text holds noise *inside a word* that [`prose`]
/// removes: a character reference or escape touching a letter
/// (`&#73;gnore`, `Ignore&nbsp;previous`, `\u0049gnore`), a tag between
/// letters (`Ig<b></b>nore`), an HTML comment, or Markdown marks touching a
/// word (`Ig**nore**`, ``Ig`nore` ``). Cheap, and strict on purpose: it
/// decides whether a plain line needs the (slower) prose view, and most code
/// (`Vec<u8>`, `*ptr`, `a &= b`, `"\x1b"`) does not.
pub(crate) fn has_noise(b: &[u8]) -> bool {
    let word = |i: Option<usize>| {
        i.and_then(|i| b.get(i))
            .is_some_and(u8::is_ascii_alphanumeric)
    };
    let prev = |i: usize| i.checked_sub(1);
    // Two SIMD scans for the trigger bytes; the rest of the line is not
    // looked at.
    let coded = memchr::memchr3_iter(b'&', b'\\', b'<', b).any(|i| match b[i] {
        b'&' => entity_len(&b[i..]).is_some_and(|n| {
            b.get(i + 1) == Some(&b'#')
                || word(prev(i))
                || word(Some(i + n))
                || b.get(i + n) == Some(&b'#')
        }),
        b'\\' => {
            let n = match b.get(i + 1) {
                Some(b'u') if b.get(i + 2) == Some(&b'{') => b[i..]
                    .iter()
                    .take(12)
                    .position(|&c| c == b'}')
                    .map(|p| p + 1),
                Some(b'u') => Some(6),
                Some(b'x') => Some(4),
                _ => None,
            };
            n.is_some_and(|n| word(prev(i)) || word(Some(i + n)))
        }
        _ => {
            b[i..].starts_with(b"<!--")
                || (word(prev(i)) && {
                    // Cheap test first: what follows the next `>` must be a
                    // letter or another tag (`Vec<u8>` is not noise).
                    let window = &b[i..b.len().min(i + 260)];
                    memchr::memchr(b'>', window).is_some_and(|c| {
                        (word(Some(i + c + 1)) || b.get(i + c + 1) == Some(&b'<'))
                            && ascii_tag_len(window) == Some(c + 1)
                    })
                })
        }
    });
    if coded {
        return true;
    }
    // Markdown marks inside a word (`Ig*nore*`, ``Ig`nore` ``), or a double
    // mark touching one (`**Ignore**`, `~~x~~`). Each run is judged once.
    let mut next = 0;
    for i in memchr::memchr3_iter(b'*', b'~', b'`', b) {
        if i < next {
            continue;
        }
        let c = b[i];
        let run = b[i..].iter().take_while(|&&x| x == c).count();
        next = i + run;
        let (before, after) = (word(prev(i)), word(Some(i + run)));
        if (before && after) || (run >= 2 && c != b'`' && (before || after)) {
            return true;
        }
    }
    false
}

/// [`has_noise`], or a control character (not tab, CR or LF): whether ASCII
/// text needs the prose view to be matched.
pub(crate) fn needs_prose(b: &[u8]) -> bool {
    b.iter()
        .any(|&c| (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')) || c == 0x7f)
        || has_noise(b)
}

/// [`tag_len`] over ASCII bytes (the same grammar, without building items).
fn ascii_tag_len(b: &[u8]) -> Option<usize> {
    let at = |j: usize| b.get(j).copied();
    if at(0) != Some(b'<') {
        return None;
    }
    if b.starts_with(b"<!--") {
        let body = &b[4..b.len().min(512)];
        return memchr::memmem::find(body, b"-->").map(|p| 4 + p + 3);
    }
    let mut j = 1;
    if at(j) == Some(b'/') {
        j += 1;
    }
    let name_start = j;
    while at(j).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-') && j - name_start < 24 {
        j += 1;
    }
    if j == name_start || !at(name_start).is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    match at(j) {
        Some(b'>') => return Some(j + 1),
        Some(b' ' | b'/') => {}
        _ => return None,
    }
    while let Some(c) = at(j) {
        if c == b'>' {
            return Some(j + 1);
        }
        if c == b'<' || c == b'\n' || j > 256 {
            return None;
        }
        j += 1;
    }
    None
}

/// The length of a character reference at the start of `b` (`&#73;`,
/// `&#x49;`, `&name;`), if it is one.
fn entity_len(b: &[u8]) -> Option<usize> {
    let rest = b.strip_prefix(b"&")?;
    let end = rest.iter().take(33).position(|&c| c == b';')?;
    let body = &rest[..end];
    let ok = match body {
        [b'#', b'x' | b'X', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', dec @ ..] => !dec.is_empty() && dec.iter().all(u8::is_ascii_digit),
        name => !name.is_empty() && name.iter().all(u8::is_ascii_alphanumeric),
    };
    ok.then_some(end + 2)
}

/// Decodes the character reference `body` (between `&` and `;`).
fn decode_entity(body: &str) -> Option<std::borrow::Cow<'static, str>> {
    use std::borrow::Cow;
    let num = |s: &str, radix| {
        u32::from_str_radix(s, radix)
            .ok()
            .and_then(char::from_u32)
            .map(|c| Cow::Owned(c.to_string()))
    };
    if let Some(h) = body.strip_prefix("#x").or_else(|| body.strip_prefix("#X")) {
        return num(h, 16);
    }
    if let Some(d) = body.strip_prefix('#') {
        return num(d, 10);
    }
    // Names are case-sensitive in HTML; the exact name wins. The view is
    // lower case, so a name that only exists in lower case is decoded too —
    // otherwise normalising the view again would decode what the first pass
    // kept, and the view would not be a fixed point of itself.
    let find = |name: &[u8]| {
        html_escape::NAMED_ENTITIES
            .binary_search_by(|(n, _)| n.cmp(&name))
            .ok()
            .map(|i| Cow::Borrowed(html_escape::NAMED_ENTITIES[i].1))
    };
    find(body.as_bytes()).or_else(|| find(body.to_ascii_lowercase().as_bytes()))
}

/// Length in items of an HTML tag or comment starting at `k` (`<b>`,
/// `</b>`, `<br/>`, `<span class="x">`, `<!-- … -->`), if there is one.
fn tag_len(items: &[(char, usize)], k: usize) -> Option<usize> {
    let at = |j: usize| items.get(j).map(|&(c, _)| c);
    if at(k) != Some('<') {
        return None;
    }
    if at(k + 1) == Some('!') && at(k + 2) == Some('-') && at(k + 3) == Some('-') {
        let mut j = k + 4;
        while j + 2 < items.len().min(k + 512) {
            if at(j) == Some('-') && at(j + 1) == Some('-') && at(j + 2) == Some('>') {
                return Some(j + 3 - k);
            }
            j += 1;
        }
        return None;
    }
    let mut j = k + 1;
    if at(j) == Some('/') {
        j += 1;
    }
    let name_start = j;
    while at(j).is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') && j - name_start < 24 {
        j += 1;
    }
    if j == name_start || !at(name_start).is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    // After the name: `>`, `/>`, or whitespace and attributes (anything but
    // `<`, `>` and line breaks, bounded) up to `>`.
    match at(j) {
        Some('>') => return Some(j + 1 - k),
        Some(' ' | '/') => {}
        _ => return None,
    }
    while let Some(c) = at(j) {
        if c == '>' {
            return Some(j + 1 - k);
        }
        if c == '<' || c == '\n' || j - k > 256 {
            return None;
        }
        j += 1;
    }
    None
}

/// One round of noise removal over `items`; returns whether anything changed.
fn strip_noise(items: &mut Vec<(char, usize)>, case: &mut Vec<char>) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out: Vec<(char, usize)> = Vec::with_capacity(items.len());
    let mut out_case: Vec<char> = Vec::with_capacity(items.len());
    let mut changed = false;
    let mut k = 0;
    while k < items.len() {
        let (c, at) = items[k];
        match c {
            '&' => {
                let tail: String = case[k..items.len().min(k + 36)].iter().collect();
                if let Some(n) = entity_len(tail.as_bytes())
                    && let Some(dec) = decode_entity(&tail[1..n - 1])
                {
                    for d in dec.chars() {
                        push_char(&mut out, &mut out_case, d, at);
                    }
                    k += n;
                    changed = true;
                    continue;
                }
            }
            '\\' => {
                let hex = |from: usize, len: usize| -> Option<char> {
                    let s: String = items
                        .get(from..from + len)?
                        .iter()
                        .map(|&(c, _)| c)
                        .collect();
                    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return None;
                    }
                    u32::from_str_radix(&s, 16).ok().and_then(char::from_u32)
                };
                let next = items.get(k + 1).map(|&(c, _)| c);
                let decoded = match next {
                    Some('u') if items.get(k + 2).map(|&(c, _)| c) == Some('{') => (1..=6)
                        .find_map(|len| {
                            (items.get(k + 3 + len).map(|&(c, _)| c) == Some('}'))
                                .then(|| hex(k + 3, len).map(|c| (c, 4 + len)))
                                .flatten()
                        }),
                    Some('u') => hex(k + 2, 4).map(|c| (c, 6)),
                    Some('x') => hex(k + 2, 2).map(|c| (c, 4)),
                    _ => None,
                };
                if let Some((d, n)) = decoded {
                    push_char(&mut out, &mut out_case, d, at);
                    k += n;
                    changed = true;
                    continue;
                }
            }
            '<' => {
                if let Some(n) = tag_len(items, k) {
                    // A tag, or a comment between two letters (`Ig<!-- -->nore`),
                    // is noise inside a word and goes whole. Any other HTML
                    // comment keeps its text: it is where injected
                    // instructions hide, so only its markers become spaces.
                    let comment = items.get(k + 1).map(|&(c, _)| c) == Some('!');
                    let inside_word = is_word(out.last().map(|&(c, _)| c))
                        && is_word(items.get(k + n).map(|&(c, _)| c));
                    if comment && !inside_word {
                        out.push((' ', at));
                        out_case.push(' ');
                        k += 4;
                    } else {
                        k += n;
                    }
                    changed = true;
                    continue;
                }
            }
            '-' if items.get(k + 1).map(|&(c, _)| c) == Some('-')
                && items.get(k + 2).map(|&(c, _)| c) == Some('>') =>
            {
                // The end of a comment whose opener became a space.
                out.push((' ', at));
                out_case.push(' ');
                k += 3;
                changed = true;
                continue;
            }
            '*' | '`' | '~' => {
                // A whole run of marks (`**`, `` `*` ``, `~~`) at once: taking
                // one kind at a time needed a round per kind, and the view
                // stopped being a fixed point of itself.
                let mut j = k;
                while j < items.len() && matches!(items[j].0, '*' | '`' | '~') {
                    j += 1;
                }
                let before = out.last().map(|&(c, _)| c);
                let after = items.get(j).map(|&(c, _)| c);
                if is_word(before) || is_word(after) {
                    k = j;
                    changed = true;
                    continue;
                }
            }
            _ => {}
        }
        out.push((c, at));
        out_case.push(case[k]);
        k += 1;
    }
    *items = out;
    *case = out_case;
    changed
}

/// Builds the prose view of `src` (which may hold several lines).
///
/// Three passes: characters are normalised first (each with its source
/// offset, line breaks kept), then noise inside words is removed (repeated
/// until nothing changes), then comment markers are removed at line starts
/// and whitespace is collapsed — so markers are recognised in their
/// normalised form too, and the view is a fixed point of itself.
pub(crate) fn prose(src: &str) -> View {
    let mut items: Vec<(char, usize)> = Vec::with_capacity(src.len());
    let mut case: Vec<char> = Vec::with_capacity(src.len());
    let mut chars = src.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        // A terminal control sequence (`ESC [ … final`) displays as nothing:
        // drop it whole, not just its ESC.
        if c == '\u{1b}' && chars.peek().is_some_and(|&(_, n)| n == '[') {
            chars.next();
            for (_, p) in chars.by_ref().take(32) {
                if ('\u{40}'..='\u{7e}').contains(&p) {
                    break;
                }
            }
            continue;
        }
        push_char(&mut items, &mut case, c, at);
    }
    // Noise starts with one of these; without them a round changes nothing.
    let may_have_noise = items
        .iter()
        .any(|&(c, _)| matches!(c, '&' | '\\' | '<' | '*' | '~' | '`'));
    for _ in 0..NOISE_ROUNDS {
        if !may_have_noise || !strip_noise(&mut items, &mut case) {
            break;
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
mod fixed_points {
    use super::prose;

    /// Inputs the idempotence property found: the view of the view is the view.
    #[test]
    fn found_by_the_property() {
        for s in ["`*`~\u{11BC0}", "\u{FF06}iC;"] {
            let once = prose(s).text;
            assert_eq!(prose(&once).text, once, "{s:?}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::{blank_comment_markers, fold, prose, with_fold};
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

        /// The same over text dense with the noise the view removes
        /// (character references, escapes, tags, Markdown marks, controls).
        #[test]
        fn noisy_prose_is_idempotent_and_maps_monotonically(
            s in "([&#;xXuU{}<>/!*~`\\\\-]|amp|lt|nbsp|colon|b|i|[0-9a-fA-F]|\u{0}|\u{7}| |\u{ff49}|\u{ff06}){0,40}"
        ) {
            let v = prose(&s);
            prop_assert_eq!(v.map.len(), v.text.len());
            prop_assert!(v.map.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(v.map.iter().all(|&i| i < s.len().max(1)));
            let twice = prose(&v.text).text;
            prop_assert_eq!(twice, v.text);
        }

        /// The per-thread fold cache answers what folding answers, for
        /// characters that share a slot and for repeats.
        #[test]
        fn cached_fold_is_fold(cs in proptest::collection::vec(any::<char>(), 1..40)) {
            for &c in cs.iter().chain(cs.iter()) {
                for c in [c, char::from_u32(c as u32 ^ 512).unwrap_or(c)] {
                    prop_assert_eq!(with_fold(c, str::to_owned), fold(c));
                }
            }
        }

        /// Blanking comment markers keeps every offset.
        #[test]
        fn blanking_keeps_length(s in "[ -~\\n]{0,80}") {
            prop_assert_eq!(blank_comment_markers(s.as_bytes()).len(), s.len());
        }
    }
}

#[cfg(test)]
mod noise {
    use super::{has_noise, prose};

    #[test]
    fn noise_inside_words_is_removed() {
        for s in [
            "Ig\0nore",
            "Ig\u{7}nore",
            "Ig\u{FFFD}nore",
            "&#73;gnore",
            "&#x49;gnore",
            "\\u0049gnore",
            "\\u{49}gnore",
            "Ig**nore**",
            "Ig<b></b>nore",
            "Ig<!-- x -->nore",
            "Ig`nore`",
            "Ig\u{1b}[0mnore",
        ] {
            assert_eq!(prose(s).text, "ignore", "{s:?}");
        }
        assert_eq!(prose("https&colon;//x").text, "https://x");
        assert_eq!(prose("a&nbsp;b").text, "a b");
        assert_eq!(
            prose("&Colon;").text,
            prose("\u{2237}").text,
            "case-sensitive names"
        );
        assert_eq!(
            prose("a ** b").text,
            "a ** b",
            "operators between spaces stay"
        );
        assert!(!has_noise(b"plain text, a * b"));
        for t in [
            "<b>",
            "</b>",
            "<br/>",
            "<span class=\"x\">",
            "<!-- x -->",
            "<u8>",
            "<a<b>",
            "<>",
            "< b>",
        ] {
            let items: Vec<(char, usize)> = t.chars().enumerate().map(|(i, c)| (c, i)).collect();
            assert_eq!(
                super::ascii_tag_len(t.as_bytes()),
                super::tag_len(&items, 0),
                "{t}"
            );
        }
        assert!(has_noise(b"&#73;gnore"));
        assert!(super::needs_prose(b"Ig\0nore") && !has_noise(b"Ig\0nore"));
    }
}
