//! The sync requester decodes whatever answer the peer it asked sends: decoding must never panic,
//! an answer that decodes must re-encode byte for byte, and every event it carries goes through
//! the same decode and verification the node applies (none of it may panic either).
#![no_main]

use dualpower_core::{Event, NetworkId};
use dualpower_net::protocol::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(res) = Response::decode(data) {
        assert_eq!(res.encode(), data);
        if let Response::Events { events, .. } = res {
            for (envelope, body) in events {
                if let Ok(ev) = Event::decode(envelope, body) {
                    let _ = ev.verify(&NetworkId::main());
                }
            }
        }
    }
});
