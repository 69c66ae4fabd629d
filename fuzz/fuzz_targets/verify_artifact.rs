//! Artifact verification on arbitrary bytes: never panics, never accepts
//! anything the development key did not sign.
#![no_main]

use std::sync::OnceLock;

use diffver_core::artifact::{self, Keyring, SigningMode};
use diffver_core::report;
use libfuzzer_sys::fuzz_target;

/// The keys the seeds are signed with (see run.sh and tests/vectors), so the
/// fuzzer starts from artifacts that verify.
fn rings() -> &'static [Keyring; 3] {
    static R: OnceLock<[Keyring; 3]> = OnceLock::new();
    R.get_or_init(|| {
        let vectors = include_bytes!("../../tests/vectors/operator-hmac.key");
        [
            Keyring::development(SigningMode::Development).expect("dev keyring"),
            Keyring::new()
                .with_key("op", &b"a fuzzing key of at least 32 bytes"[..])
                .expect("operator keyring"),
            Keyring::new()
                .with_key("vectors-hmac-1", vectors.trim_ascii_end())
                .expect("vectors keyring"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    for ring in rings() {
        if let Ok(v) = artifact::verify(data, ring) {
            // Whatever verifies is consistent and renders.
            assert!(v.verdict.check().is_ok());
            let _ = report::text(&v.verdict, "fuzz");
            let _ = report::check_run(&v.verdict);
        }
    }
});
