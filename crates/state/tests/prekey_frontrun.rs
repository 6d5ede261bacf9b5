//! Issue 10, "prekey front-running": a member republishes a victim's prekey so that the derived
//! state attributes it to the attacker (or to nobody) and refuses the victim's own publication as
//! taken. A prekey belongs to whoever proves possession of its private half, so a copy must be
//! refused and the victim must keep its prekey, whatever the copy's deps or id.
#![allow(clippy::unwrap_used)]

use dualpower_core::{Constitution, EventId, KeyShare, Payload, Seal, VerifiedEvent};
use dualpower_state::{GroupState, Refusal};

mod common;
use common::*;

/// The victim's prekey seed.
const VICTIM_PREKEY: u8 = 0x42;

/// A group of A with the attacker M (admitted first) and the victim V, who has published its
/// prekey.
struct Setup {
    s: Scenario,
    admit_m: VerifiedEvent,
    victim_prekey: VerifiedEvent,
}

fn setup() -> Setup {
    let (mut s, _) = Scenario::new("A", Constitution::default());
    let (invite, invite_key) = s.invite("A", 5, NEVER, &[]);
    let join_m = s.join("M", &invite, &invite_key);
    let admit_m = s.admit("A", &join_m, &[], T);
    let join_v = s.join("V", &invite, &invite_key);
    let admit_v = s.admit("A", &join_v, &[], T);
    let victim_prekey = s.prekey("V", VICTIM_PREKEY, &[admit_v.id()]);
    Setup {
        s,
        admit_m,
        victim_prekey,
    }
}

/// The attacker's copies of the victim's prekey: the victim's own proof copied, no proof, and a
/// proof for the victim's key made by the attacker's own prekey.
fn copies(s: &Scenario) -> Vec<Payload> {
    // Signing is deterministic: this is exactly the payload of the victim's event.
    let Payload::Prekey { key, proof } = s.prekey_payload("V", &prekey_secret(VICTIM_PREKEY))
    else {
        unreachable!()
    };
    let Payload::Prekey {
        proof: own_proof, ..
    } = s.prekey_payload("M", &prekey_secret(0x66))
    else {
        unreachable!()
    };
    vec![
        Payload::Prekey { key, proof },
        Payload::Prekey {
            key,
            proof: [0; 64],
        },
        Payload::Prekey {
            key,
            proof: own_proof,
        },
    ]
}

/// Writes `payload` as M with only its admission as dep (so it is concurrent with the victim's
/// prekey), grinding the timestamp until the event's id sorts before `beat`: concurrent events are
/// ordered by id, so this copy is judged before the victim's publication.
fn grind_before(
    s: &mut Scenario,
    payload: &Payload,
    deps: &[EventId],
    beat: EventId,
) -> VerifiedEvent {
    for i in 0..256 {
        let mut trial = s.clone();
        let ev = trial.write("M", payload.clone(), deps, T + i);
        if ev.id() < beat {
            *s = trial;
            return ev;
        }
    }
    panic!("no variant sorts before {beat}")
}

fn seal(prekey: [u8; 32]) -> Seal {
    Seal {
        prekey,
        enc: [1; 32],
        ct: [2; 48],
    }
}

#[track_caller]
fn assert_victim_keeps_its_prekey(s: &Scenario, st: &GroupState, victim_prekey: &VerifiedEvent) {
    let key = prekey_public(VICTIM_PREKEY);
    assert_valid(st, victim_prekey);
    assert_eq!(st.prekeys.get(&key), Some(&s.key("V")));
    assert_eq!(st.members[&s.key("V")].prekey, Some(key));
    assert_ne!(st.members[&s.key("M")].prekey, Some(key));
}

#[test]
fn a_copied_prekey_with_old_deps_and_a_ground_id_does_not_displace_the_owner() {
    let Setup {
        s,
        admit_m,
        victim_prekey,
    } = setup();
    for copy in copies(&s) {
        let mut s = s.clone();
        let attack = grind_before(&mut s, &copy, &[admit_m.id()], victim_prekey.id());
        // The attack's preconditions: concurrent with the victim's prekey, and ordered first.
        assert!(attack.id() < victim_prekey.id());
        assert!(!attack.header().deps.contains(&victim_prekey.id()));

        // A then seals an epoch to the victim's prekey: the victim, not the attacker, is its
        // recipient.
        let key = prekey_public(VICTIM_PREKEY);
        let share = s.write(
            "A",
            Payload::KeyShare(KeyShare {
                epoch: None,
                prev: vec![],
                seals: vec![seal(key)],
                history: vec![],
                gov: vec![],
                gov_check: None,
            }),
            &[victim_prekey.id(), attack.id()],
            T,
        );

        let st = s.derive();
        assert_victim_keeps_its_prekey(&s, &st, &victim_prekey);
        assert_refused(&st, &attack, Refusal::PrekeyUnproven);
        assert_valid(&st, &share);
        assert!(st.epochs[&share.id()].knowers.contains(&s.key("V")));
        assert!(!st.epochs[&share.id()].knowers.contains(&s.key("M")));
        assert!(!st.epochs[&share.id()].tainted);
    }
}

#[test]
fn a_copy_the_victim_had_already_seen_does_not_displace_it_either() {
    // The copy is in the victim's causal past (it precedes the victim's publication in every
    // order), yet the victim keeps its key.
    let (mut s, _) = Scenario::new("A", Constitution::default());
    let (invite, invite_key) = s.invite("A", 5, NEVER, &[]);
    let join_m = s.join("M", &invite, &invite_key);
    let admit_m = s.admit("A", &join_m, &[], T);
    let join_v = s.join("V", &invite, &invite_key);
    let admit_v = s.admit("A", &join_v, &[], T);
    // The attacker learnt the public key early (say, from another channel) and publishes it
    // first, with the victim's proof for another group or with no proof at all.
    let key = prekey_public(VICTIM_PREKEY);
    let first = s.write(
        "M",
        Payload::Prekey {
            key,
            proof: [7; 64],
        },
        &[admit_m.id()],
        T,
    );
    let victim_prekey = s.prekey("V", VICTIM_PREKEY, &[admit_v.id(), first.id()]);
    let st = s.derive();
    assert_victim_keeps_its_prekey(&s, &st, &victim_prekey);
    assert_refused(&st, &first, Refusal::PrekeyUnproven);
}

#[test]
fn a_proof_made_for_another_group_is_refused() {
    let Setup {
        s, victim_prekey, ..
    } = setup();
    // The victim's genuine proof, made in another scenario (another group id), republished by
    // the victim itself: the proof does not verify here.
    let (other, _) = Scenario::new("B", Constitution::default());
    assert_ne!(other.group, s.group);
    let mut s = s;
    let elsewhere = other.prekey_payload("V", &prekey_secret(0x43));
    let replay = s.write("V", elsewhere, &[victim_prekey.id()], T);
    let st = s.derive();
    assert_refused(&st, &replay, Refusal::PrekeyUnproven);
    assert_victim_keeps_its_prekey(&s, &st, &victim_prekey);
}
