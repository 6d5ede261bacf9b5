//! Envelope + body decoding and verification must never panic, and whatever decodes must
//! re-encode to exactly the same header bytes (canonical: one encoding per value).
#![no_main]

use dualpower_core::{Event, NetworkId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().copied().unwrap_or(0) as usize;
    let rest = data.get(1..).unwrap_or_default();
    let (envelope, body) = rest.split_at(split.min(rest.len()));
    let body = (!body.is_empty()).then(|| body.to_vec());
    if let Ok(ev) = Event::decode(envelope.to_vec(), body) {
        assert_eq!(ev.header().encode(), ev.header_bytes());
        let _ = ev.verify(&NetworkId::main());
    }
});
