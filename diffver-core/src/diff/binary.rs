//! Decoding `GIT binary patch` data: git's base85 lines, then zlib.
//!
//! Each data line is a length character (`A`–`Z` for 1–26 bytes, `a`–`z` for
//! 27–52) followed by groups of five base85 characters, each carrying four
//! bytes big-endian, in git's alphabet (`0-9A-Za-z!#$%&()*+-;<=>?@^_\`{|}~`).
//! The bytes of all lines form one zlib stream, which inflates to the literal
//! content (or, for `delta`, to a delta against the other side, which diffver
//! does not apply).
//!
//! Base85 is written here (a few lines) because git's alphabet and line
//! framing are its own: the base85 crates implement RFC 1924 or Ascii85,
//! neither of which matches. Inflation uses `miniz_oxide` (pure Rust, the
//! backend of `flate2`) with an output limit, so a small deflate bomb cannot
//! make it allocate more than the limit.

use super::model::{BinaryHunk, BinaryKind, Diff};

/// Most bytes one literal is inflated to; larger content is not decoded.
pub const MAX_DECODED_BYTES: usize = 8 << 20;

/// Why a binary hunk could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BinaryDecodeError {
    /// The hunk is a delta: its content depends on the pre-image.
    #[error("a delta binary patch cannot be decoded without the pre-image")]
    Delta,
    /// A data line is not valid base85 in git's framing.
    #[error("data line {line} is not valid git base85")]
    Base85 {
        /// 0-based data line.
        line: usize,
    },
    /// The declared size exceeds the limit.
    #[error("the declared size {declared} exceeds the decoding limit of {limit} bytes")]
    TooLarge {
        /// The size the `literal` line declares.
        declared: u64,
        /// The limit.
        limit: usize,
    },
    /// The zlib stream is corrupt, or inflates to more than the declared size.
    #[error("the zlib data is corrupt or larger than declared")]
    Inflate,
    /// The inflated size differs from the declared size.
    #[error("the data inflates to {actual} bytes, but {declared} are declared")]
    SizeMismatch {
        /// The size the `literal` line declares.
        declared: u64,
        /// What the data inflates to.
        actual: usize,
    },
}

fn digit(c: u8) -> Option<u32> {
    const ALPHABET: &[u8; 85] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Decodes the base85 data lines of a binary hunk into the zlib stream.
fn base85_lines(data: &[u8]) -> Result<Vec<u8>, BinaryDecodeError> {
    let mut out = Vec::with_capacity(data.len() / 5 * 4);
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let bad = || BinaryDecodeError::Base85 { line: i };
        let n = match line[0] {
            c @ b'A'..=b'Z' => usize::from(c - b'A') + 1,
            c @ b'a'..=b'z' => usize::from(c - b'a') + 27,
            _ => return Err(bad()),
        };
        let body = &line[1..];
        if body.len() != n.div_ceil(4) * 5 {
            return Err(bad());
        }
        let mut bytes = Vec::with_capacity(body.len() / 5 * 4);
        for group in body.chunks(5) {
            let mut acc: u64 = 0;
            for &c in group {
                acc = acc * 85 + u64::from(digit(c).ok_or_else(bad)?);
            }
            let v = u32::try_from(acc).map_err(|_| bad())?;
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&bytes[..n]);
    }
    Ok(out)
}

/// Decodes a `literal` binary hunk of `diff` into the file's content, inflating
/// at most `max` bytes (and never more than the declared size).
///
/// # Errors
///
/// [`BinaryDecodeError`]: a delta hunk, malformed base85, a declared size
/// over the limit, corrupt zlib data, or a size that disagrees with the header.
pub fn decode_literal(
    diff: &Diff<'_>,
    hunk: &BinaryHunk,
    max: usize,
) -> Result<Vec<u8>, BinaryDecodeError> {
    if hunk.kind == BinaryKind::Delta {
        return Err(BinaryDecodeError::Delta);
    }
    let limit = max.min(MAX_DECODED_BYTES);
    let declared = usize::try_from(hunk.size)
        .ok()
        .filter(|&d| d <= limit)
        .ok_or(BinaryDecodeError::TooLarge {
            declared: hunk.size,
            limit,
        })?;
    let zlib = base85_lines(diff.bytes(hunk.data))?;
    // Ask for one byte more than declared so that "larger than declared" is
    // seen as an error rather than silently cut.
    let out = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&zlib, declared + 1)
        .map_err(|_| BinaryDecodeError::Inflate)?;
    if out.len() != declared {
        return Err(BinaryDecodeError::SizeMismatch {
            declared: hunk.size,
            actual: out.len(),
        });
    }
    Ok(out)
}

/// Whether decoded content is text the rules can read: valid UTF-8 with no
/// NUL byte (git's own test for binary content is a NUL in the first 8000
/// bytes; diffver is stricter).
pub fn is_text(content: &[u8]) -> bool {
    memchr::memchr(0, content).is_none() && std::str::from_utf8(content).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Binary, Limits, parse};

    // `printf 'hello\n'` as git writes it with `git diff --binary`.
    const HELLO: &[u8] = b"diff --git a/x.bin b/x.bin\nnew file mode 100644\nindex 0000000000000000000000000000000000000000..ce013625030ba8dba906f756967f9e9ca394464a\nGIT binary patch\nliteral 6\nNcmc~u&B@8<0ssh00v`YX\n\nliteral 0\nHcmV?d00001\n\n";

    fn forward(d: &Diff<'_>) -> BinaryHunk {
        match d.files()[0].binary() {
            Binary::Patch { forward, .. } => forward.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decodes_gits_literal() {
        let d = parse(HELLO, &Limits::default()).unwrap();
        let out = decode_literal(&d, &forward(&d), MAX_DECODED_BYTES).unwrap();
        assert_eq!(out, b"hello\n");
        assert!(is_text(&out));
    }

    #[test]
    fn limits_and_errors() {
        let d = parse(HELLO, &Limits::default()).unwrap();
        let mut h = forward(&d);
        assert_eq!(
            decode_literal(&d, &h, 3),
            Err(BinaryDecodeError::TooLarge {
                declared: 6,
                limit: 3
            })
        );
        h.size = 5;
        assert!(matches!(
            decode_literal(&d, &h, MAX_DECODED_BYTES),
            Err(BinaryDecodeError::Inflate | BinaryDecodeError::SizeMismatch { .. })
        ));
        h.size = 6;
        h.kind = BinaryKind::Delta;
        assert_eq!(
            decode_literal(&d, &h, MAX_DECODED_BYTES),
            Err(BinaryDecodeError::Delta)
        );
        assert!(base85_lines(b"N~~~~~").is_err(), "overflowing group");
        assert!(base85_lines(b"Ncmd1H").is_err(), "short line");
        assert!(!is_text(b"a\0b"));
        assert!(!is_text(b"\xff"));
    }

    /// git's base85 framing, for building test patches.
    fn encode(data: &[u8]) -> Vec<u8> {
        const ALPHABET: &[u8; 85] =
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
        let mut out = Vec::new();
        for chunk in data.chunks(52) {
            let n = chunk.len();
            out.push(if n <= 26 {
                b'A' + n as u8 - 1
            } else {
                b'a' + n as u8 - 27
            });
            for g in chunk.chunks(4) {
                let mut w = [0u8; 4];
                w[..g.len()].copy_from_slice(g);
                let mut v = u32::from_be_bytes(w);
                let mut digits = [0u8; 5];
                for d in digits.iter_mut().rev() {
                    *d = ALPHABET[(v % 85) as usize];
                    v /= 85;
                }
                out.extend_from_slice(&digits);
            }
            out.push(b'\n');
        }
        out
    }

    fn literal_patch(declared: u64, zlib: &[u8]) -> Vec<u8> {
        let mut p = format!(
            "diff --git a/x.bin b/x.bin\nnew file mode 100644\nindex 0000000..1111111\nGIT binary patch\nliteral {declared}\n"
        )
        .into_bytes();
        p.extend_from_slice(&encode(zlib));
        p.extend_from_slice(b"\nliteral 0\nHcmV?d00001\n\n");
        p
    }

    #[test]
    fn encoder_round_trips_through_the_parser() {
        let z = miniz_oxide::deflate::compress_to_vec_zlib(b"on: push\n", 6);
        let patch = literal_patch(9, &z);
        let d = parse(&patch, &Limits::default()).unwrap();
        assert_eq!(
            decode_literal(&d, &forward(&d), MAX_DECODED_BYTES).unwrap(),
            b"on: push\n"
        );
    }

    #[test]
    fn deflate_bomb_is_bounded() {
        // 64 MiB of zeros deflates to ~64 KiB. Declared small, decoding stops
        // one byte past the declared size; declared as it is, it is over the
        // limit and never inflated.
        let zeros = vec![0u8; 64 << 20];
        let z = miniz_oxide::deflate::compress_to_vec_zlib(&zeros, 9);
        let patch = literal_patch(1024, &z);
        let d = parse(&patch, &Limits::default()).unwrap();
        assert_eq!(
            decode_literal(&d, &forward(&d), MAX_DECODED_BYTES),
            Err(BinaryDecodeError::Inflate)
        );
        let patch = literal_patch(64 << 20, &z);
        let d = parse(&patch, &Limits::default()).unwrap();
        assert!(matches!(
            decode_literal(&d, &forward(&d), MAX_DECODED_BYTES),
            Err(BinaryDecodeError::TooLarge { .. })
        ));
    }
}
