//! A gossip message comes from any peer on a group's topic: the node decrypts it with the topic's
//! gossip key (when it has one), unframes it with `decode_gossip`, then decodes and verifies the
//! event. None of these steps may panic, and a message that unframes must re-frame byte for byte.
//!
//! The node's wrapper (`Node::on_gossip`) is private; this target runs the same library calls in
//! the same order: `dualpower_crypto::decrypt` under the gossip key with the topic as associated
//! data, then `decode_gossip`, `Event::decode`, `verify`.
//!
//! Input: one mode byte, then the message. Mode 0: an unencrypted topic (the message is framed
//! gossip). Mode 1: the message is what arrives on an encrypted topic (nonce, ciphertext, tag).
//! Mode 2: the message is the plaintext, encrypted here under the fixed key, so the fuzzer reaches
//! the unframing behind a decryption that succeeds.
#![no_main]

use dualpower_core::{Event, NetworkId};
use dualpower_crypto::{ContentKey, decrypt, encrypt};
use dualpower_net::protocol::{decode_gossip, encode_gossip};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [0x5a; 32];
const TOPIC: &[u8] = b"dualpower/g/00112233445566778899aabbccddeeff";

fn unframe(data: &[u8]) {
    if let Ok((envelope, body)) = decode_gossip(data) {
        assert_eq!(encode_gossip(&envelope, body.as_deref()), data);
        if let Ok(ev) = Event::decode(envelope, body) {
            let _ = ev.verify(&NetworkId::main());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, msg)) = data.split_first() else {
        return;
    };
    let key = ContentKey::from_bytes(KEY);
    match mode % 3 {
        0 => unframe(msg),
        1 => {
            if let Ok(plain) = decrypt(&key, TOPIC, msg) {
                unframe(&plain);
            }
        }
        _ => {
            let sealed = encrypt(&key, TOPIC, msg);
            let plain = decrypt(&key, TOPIC, &sealed).expect("what we encrypt decrypts");
            assert_eq!(plain, msg);
            unframe(&plain);
        }
    }
});
