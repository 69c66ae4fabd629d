//! Artifact verification on arbitrary bytes: never panics, never accepts
//! anything the development key did not sign.
#![no_main]

use diffver_core::artifact::{self, Keyring};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ring = Keyring::development().with_key("k", b"fuzz key".to_vec());
    let _ = artifact::verify(data, &ring);
});
