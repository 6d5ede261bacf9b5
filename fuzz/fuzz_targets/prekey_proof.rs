//! Checking a prekey's proof of possession must never panic on any key, message or signature
//! (all three come from remote events), and a key that converts does so to the sign-0 Edwards
//! point the signer normalises to.
#![no_main]

use dualpower_core::sig::{verify_x25519_possession, x25519_to_ed25519};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((key, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let Some((sig, msg)) = rest.split_first_chunk::<64>() else {
        return;
    };
    let ed = x25519_to_ed25519(key);
    if let Some(ed) = ed {
        assert_eq!(ed[31] >> 7, 0);
    }
    if verify_x25519_possession(key, msg, sig) {
        assert!(ed.is_some());
    }
});
