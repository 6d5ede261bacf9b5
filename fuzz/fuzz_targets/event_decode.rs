//! Envelope + body decoding and verification must never panic, and whatever decodes must
//! re-encode to exactly the same header bytes (canonical: one encoding per value).
//!
//! Input: a 2-byte little-endian envelope length, the envelope, then the body. Two bytes reach
//! every envelope size (the largest is `MAX_ENVELOPE_BYTES`, 1200), so events with many deps
//! reach the decoder whole; a longer claimed length takes the whole rest as envelope.
#![no_main]

use dualpower_core::{Event, NetworkId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (envelope, body) = rest.split_at(split);
    let body = (!body.is_empty()).then(|| body.to_vec());
    if let Ok(ev) = Event::decode(envelope.to_vec(), body) {
        assert_eq!(ev.header().encode(), ev.header_bytes());
        let _ = ev.verify(&NetworkId::main());
    }
});
