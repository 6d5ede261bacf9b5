//! A member's keyring opens what other members (any of whom may be hostile) wrote: encrypted
//! bodies, the plaintext payloads inside them, and history bundles inside key shares. With a fixed
//! keyring (one epoch secret, one prekey) none of this may panic, and a history bundle never adds
//! more than `MAX_HISTORY_EPOCHS` epochs.
//!
//! Input: one mode byte, then the data. Mode 0: the data is the body of an encrypted event (it
//! reaches `Encrypted::decode`, the AEAD and the direct-message seals). Mode 1: the data is the
//! plaintext of group content, sealed here under the fixed epoch, so decryption succeeds and the
//! plaintext reaches `Payload::decode` as a member's node does. Mode 2: the data is the plaintext
//! of a history bundle, encrypted here under the fixed epoch's history key and carried by a key
//! share the keyring learns from, so the fuzzer reaches the bundle parser behind the AEAD.
#![no_main]

use std::collections::BTreeSet;

use dualpower_core::event::{Draft, FLAG_ENCRYPTED, Position};
use dualpower_core::{EventId, GroupId, Identity, KeyShare, NetworkId, Payload, VerifiedEvent};
use dualpower_crypto::{ContentKey, EpochSecret, PrekeySecret, derive, encrypt};
use dualpower_groups::body::history_aad;
use dualpower_groups::keyring::{KeyScheme, Keyring, MAX_HISTORY_EPOCHS, seal_content};
use dualpower_state::{Epoch, GroupState};
use libfuzzer_sys::fuzz_target;

const EPOCH: EventId = EventId([0xe0; 32]);
const SECRET: [u8; 32] = [0x5e; 32];
const GROUP: GroupId = GroupId([0x60; 32]);

fn keyring() -> Keyring {
    let mut k = Keyring::default();
    k.epochs.insert(EPOCH, EpochSecret(SECRET));
    let prekey = PrekeySecret::from_bytes([0x9c; 32]);
    k.prekeys.insert(prekey.public(), prekey);
    k
}

/// The first event of the fixed author's log 0 in the fixed group, with `body` and `flags`.
fn event(body: Vec<u8>, flags: u64) -> Option<VerifiedEvent> {
    Draft {
        group: GROUP,
        log: 0,
        seq: 0,
        backlink: None,
        deps: Vec::new(),
        timestamp: 1,
        body,
        flags,
    }
    .sign(&Identity::from_seed(&[7; 32]), &NetworkId::main())
    .ok()
}

fn position() -> Position {
    Position::of(event(Vec::new(), 0).expect("an empty event signs").header())
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let network = NetworkId::main();
    let mut keys = keyring();
    match mode % 3 {
        0 => {
            if let Some(ev) = event(rest.to_vec(), FLAG_ENCRYPTED)
                && let Ok(plain) = keys.decrypt(&network, &ev)
            {
                let _ = Payload::decode(&plain);
            }
        }
        1 => {
            let body = seal_content(&network, EPOCH, &EpochSecret(SECRET), &position(), rest);
            if let Some(ev) = event(body, FLAG_ENCRYPTED) {
                let plain = keys.decrypt(&network, &ev).expect("own content decrypts");
                assert_eq!(plain, rest);
                let _ = Payload::decode(&plain);
            }
        }
        _ => {
            // The history key as the keyring derives it (a fixed, documented context string).
            let key =
                ContentKey::from_bytes(derive(&EpochSecret(SECRET), "dualpower history key v1"));
            let history = encrypt(&key, &history_aad(&network, &position()), rest);
            let share = Payload::KeyShare(KeyShare {
                epoch: Some(EPOCH),
                prev: Vec::new(),
                seals: Vec::new(),
                history,
                gov: Vec::new(),
                gov_check: None,
            })
            .encode();
            let Some(ev) = event(share, 0) else {
                return;
            };
            let mut state = GroupState {
                group: GROUP,
                ..GroupState::default()
            };
            state.epochs.insert(
                EPOCH,
                Epoch {
                    creator: ev.header().author,
                    position: 0,
                    prev: Vec::new(),
                    seals: Vec::new(),
                    knowers: BTreeSet::new(),
                    tainted: false,
                    superseded: false,
                    refused: false,
                    created_at: 1,
                    superseded_at: None,
                },
            );
            let learnt = keys.learn(&network, &state, &[ev]);
            assert!(learnt <= MAX_HISTORY_EPOCHS);
        }
    }
});
