//! The diff parser, stat renderers and verifier on arbitrary bytes.
#![no_main]

use diffver_core::diff::{Limits, parse, stat};
use diffver_core::verify::{Options, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default().with_max_line_bytes(1 << 16);
    if let Ok(d) = parse(data, &limits) {
        let _ = stat::numstat(&d);
        let _ = stat::summary(&d);
        let base: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = d
            .files()
            .iter()
            .filter_map(|f| f.old_path())
            .map(|p| (p.as_bytes().to_vec(), b"a\nb\nc\n".to_vec()))
            .collect();
        let _ = verify(&d, &Options::default());
        let _ = verify(&d, &Options::default().with_base(&base));
    }
});
