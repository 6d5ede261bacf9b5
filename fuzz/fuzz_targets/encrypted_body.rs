//! The body of every encrypted event (group content, direct messages) comes from its author, who
//! may be hostile: decoding must never panic, and a body that decodes must re-encode byte for
//! byte (strict canonical CBOR).
#![no_main]

use dualpower_groups::Encrypted;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = Encrypted::decode(data) {
        assert_eq!(body.encode(), data);
    }
});
