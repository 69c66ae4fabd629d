//! The diff parser, stat renderers and verifier on arbitrary bytes (and on
//! the partial diff read before a parse error).
#![no_main]

use diffver_core::diff::{Limits, parse_partial, stat};
use diffver_core::verify::{Options, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default().with_max_line_bytes(1 << 16);
    // What parses before an error is verified and scanned too (issue 11).
    let (d, error) = parse_partial(data, &limits);
    if error.is_none() {
        let _ = stat::numstat(&d);
        let _ = stat::summary(&d);
    }
    let base: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = d
        .files()
        .iter()
        .filter_map(|f| f.old_path())
        .map(|p| (p.as_bytes().to_vec(), b"a\nb\nc\n".to_vec()))
        .collect();
    let _ = verify(&d, &Options::default());
    let _ = verify(&d, &Options::default().with_base(&base));
});
