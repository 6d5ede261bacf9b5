//! Payload decoding must never panic, and known kinds must re-encode byte for byte.
#![no_main]

use dualpower_core::Payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Payload::decode(data)
        && !matches!(p, Payload::Unknown { .. })
    {
        assert_eq!(p.encode(), data);
    }
});
