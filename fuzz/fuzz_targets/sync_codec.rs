//! The sync codec reads length-prefixed frames from a peer's stream: whatever the stream holds
//! (a lying length, a cut-short frame, garbage), reading must never panic, and what it accepts
//! must be exactly the frame's bytes (written back, it reads back the same).
//!
//! Input: one byte choosing the side (even: the responder reading a request, odd: the requester
//! reading a response), then the stream.
#![no_main]

use dualpower_net::protocol::{Inbound, SYNC_PROTOCOL, SyncCodec};
use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec;

fuzz_target!(|data: &[u8]| {
    let Some((side, stream)) = data.split_first() else {
        return;
    };
    let mut codec = SyncCodec;
    // What a successful read consumed: the length prefix says how much of the rest is the frame.
    let frame = |len: usize| &stream[4..4 + len];
    if side % 2 == 0 {
        let got = block_on(codec.read_request(&SYNC_PROTOCOL, &mut Cursor::new(stream)));
        if let Ok(Inbound::Valid(req)) = got {
            let bytes = req.encode();
            assert_eq!(frame(bytes.len()), &bytes[..]);
            assert_eq!(stream[..4], (bytes.len() as u32).to_be_bytes());
            let mut out = Cursor::new(Vec::new());
            block_on(codec.write_request(&SYNC_PROTOCOL, &mut out, Inbound::Valid(req.clone())))
                .expect("a request we read can be written");
            let again =
                block_on(codec.read_request(&SYNC_PROTOCOL, &mut Cursor::new(out.into_inner())));
            assert_eq!(again.ok(), Some(Inbound::Valid(req)));
        }
    } else {
        let got = block_on(codec.read_response(&SYNC_PROTOCOL, &mut Cursor::new(stream)));
        if let Ok(res) = got {
            let bytes = res.encode();
            assert_eq!(frame(bytes.len()), &bytes[..]);
            assert_eq!(stream[..4], (bytes.len() as u32).to_be_bytes());
            let mut out = Cursor::new(Vec::new());
            block_on(codec.write_response(&SYNC_PROTOCOL, &mut out, res.clone()))
                .expect("a response we read can be written");
            let again =
                block_on(codec.read_response(&SYNC_PROTOCOL, &mut Cursor::new(out.into_inner())));
            assert_eq!(again.ok(), Some(res));
        }
    }
});
