//! The aid domain through the pass (issue 15): a need posted, committed to, fulfilled and
//! confirmed becomes a receipt for the provider's reputation; expired, cancelled, over-committed,
//! self-committed and wrongly-fulfilled or -confirmed acts are refused with a reason and change
//! nothing; the board is the same in every delivery order. Rules: `crates/state/src/aid.rs`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use dualpower_core::aid::{AidAct, Category, Intent};
use dualpower_core::{Constitution, EventId, Payload, VerifiedEvent};
use dualpower_state::{GroupState, Refusal};

fn heads(s: &Scenario) -> Vec<EventId> {
    s.events.last().map(|e| e.id()).into_iter().collect()
}

fn aid(s: &mut Scenario, by: &'static str, act: AidAct, at: u64) -> VerifiedEvent {
    let deps = heads(s);
    s.write(by, Payload::Aid(act), &deps, at)
}

fn need(quantity: u64, expires: u64) -> AidAct {
    AidAct::Intent(Intent {
        need: true,
        category: Category::Care,
        text: "Someone to sit with Grandma on Tuesdays".into(),
        quantity,
        unit: "evenings".into(),
        place: "Elm Street".into(),
        from: 0,
        until: 0,
        expires,
        linked: false,
    })
}

#[track_caller]
fn refused_without_effect(s: &Scenario, bad: &VerifiedEvent, why: &str) {
    let (with, without) = s.with_and_without(bad);
    assert_eq!(with.aid, without.aid, "the refused event changed the board");
    assert_eq!(with.work, without.work);
    match refusal(&with, bad) {
        Some(Refusal::Aid { why: w, .. }) if w.contains(why) => {}
        other => panic!("expected a refusal saying `{why}`, got {other:?}"),
    }
}

#[test]
fn a_need_met_and_confirmed_becomes_the_provider_s_receipt() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let n = aid(&mut s, "B", need(2, T + 10_000), T);
    let c = aid(
        &mut s,
        "C",
        AidAct::Commit {
            intent: n.id(),
            quantity: 2,
        },
        T + 1,
    );
    let st = s.derive();
    let com = &st.aid.commitments[&c.id()];
    assert_eq!((com.provider, com.receiver), (s.key("C"), s.key("B")));
    assert_eq!(st.aid.intents[&n.id()].left(), 0);
    // Nobody else can take what is committed; the receiver cannot fulfil; C fulfils.
    let over = aid(
        &mut s,
        "A",
        AidAct::Commit {
            intent: n.id(),
            quantity: 1,
        },
        T + 2,
    );
    refused_without_effect(&s, &over, "only 0 of 2 is left");
    let early = aid(&mut s, "B", AidAct::Confirm { commitment: c.id() }, T + 3);
    refused_without_effect(&s, &early, "not fulfilled yet");
    let wrong = aid(
        &mut s,
        "B",
        AidAct::Fulfil {
            commitment: c.id(),
            note: "x".into(),
        },
        T + 3,
    );
    refused_without_effect(&s, &wrong, "only the provider");
    aid(
        &mut s,
        "C",
        AidAct::Fulfil {
            commitment: c.id(),
            note: "two evenings done".into(),
        },
        T + 4,
    );
    let by_provider = aid(&mut s, "C", AidAct::Confirm { commitment: c.id() }, T + 5);
    refused_without_effect(&s, &by_provider, "only the receiver");
    aid(&mut s, "B", AidAct::Confirm { commitment: c.id() }, T + 6);
    let again = aid(&mut s, "B", AidAct::Confirm { commitment: c.id() }, T + 7);
    refused_without_effect(&s, &again, "confirmed already");
    let st = s.derive();
    let r = &st.aid.receipts;
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].from, r[0].to, r[0].domain.as_str()),
        (s.key("B"), s.key("C"), "care")
    );
    // The receipt counts for reputation (B → C, trust from the creator A's seed does not reach
    // B here, so give B some: A vouches for B in care).
    aid(&mut s, "A", AidAct::Cancel { target: n.id() }, T + 8);
    let deps = heads(&s);
    s.write(
        "A",
        Payload::Work(dualpower_core::work::Work::Vouch {
            member: s.key("B"),
            domain: "care".into(),
        }),
        &deps,
        T + 9,
    );
    let rep = s.derive().reputation();
    assert!(rep["care"][&s.key("C")].share > 0, "{rep:?}");
}

#[test]
fn expired_cancelled_own_and_unknown_intents_are_refused_without_effect() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let n = aid(&mut s, "B", need(3, T + 100), T);
    let own = aid(
        &mut s,
        "B",
        AidAct::Commit {
            intent: n.id(),
            quantity: 1,
        },
        T + 1,
    );
    refused_without_effect(&s, &own, "its own");
    let late = aid(
        &mut s,
        "C",
        AidAct::Commit {
            intent: n.id(),
            quantity: 1,
        },
        T + 100,
    );
    refused_without_effect(&s, &late, "expired");
    let unknown = aid(
        &mut s,
        "C",
        AidAct::Commit {
            intent: EventId([7; 32]),
            quantity: 1,
        },
        T + 2,
    );
    refused_without_effect(&s, &unknown, "no such offer or need");
    let by_other = aid(&mut s, "C", AidAct::Cancel { target: n.id() }, T + 3);
    refused_without_effect(&s, &by_other, "only its author");
    aid(&mut s, "B", AidAct::Cancel { target: n.id() }, T + 4);
    let after = aid(
        &mut s,
        "C",
        AidAct::Commit {
            intent: n.id(),
            quantity: 1,
        },
        T + 5,
    );
    refused_without_effect(&s, &after, "cancelled");
}

#[test]
fn a_cancelled_commitment_frees_its_quantity_and_cannot_be_fulfilled() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let n = aid(&mut s, "B", need(2, 0), T);
    let c = aid(
        &mut s,
        "C",
        AidAct::Commit {
            intent: n.id(),
            quantity: 2,
        },
        T + 1,
    );
    let outsider = aid(&mut s, "A", AidAct::Cancel { target: c.id() }, T + 2);
    refused_without_effect(&s, &outsider, "only a party");
    aid(&mut s, "B", AidAct::Cancel { target: c.id() }, T + 3);
    assert_eq!(s.derive().aid.intents[&n.id()].left(), 2);
    let f = aid(
        &mut s,
        "C",
        AidAct::Fulfil {
            commitment: c.id(),
            note: String::new(),
        },
        T + 4,
    );
    refused_without_effect(&s, &f, "cancelled");
    aid(
        &mut s,
        "A",
        AidAct::Commit {
            intent: n.id(),
            quantity: 2,
        },
        T + 5,
    );
    assert_eq!(s.derive().aid.intents[&n.id()].left(), 0);
}

#[test]
fn the_board_is_the_same_in_every_delivery_order() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let n = aid(&mut s, "B", need(4, 0), T);
    let mut commits = Vec::new();
    for (who, q) in [("C", 1), ("D", 2), ("A", 1)] {
        commits.push(aid(
            &mut s,
            who,
            AidAct::Commit {
                intent: n.id(),
                quantity: q,
            },
            T + 1,
        ));
    }
    aid(
        &mut s,
        "D",
        AidAct::Fulfil {
            commitment: commits[1].id(),
            note: "done".into(),
        },
        T + 2,
    );
    aid(
        &mut s,
        "B",
        AidAct::Confirm {
            commitment: commits[1].id(),
        },
        T + 3,
    );
    let reference = s.derive();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..12 {
        let mut ev = s.events.clone();
        for i in (1..ev.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            ev.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        let st = GroupState::derive(&s.network, s.group, &ev);
        assert_eq!(st.aid, reference.aid);
    }
    assert_eq!(reference.aid.receipts.len(), 1);
}

fn resource(s: &mut Scenario, by: &'static str) -> VerifiedEvent {
    aid(
        s,
        by,
        AidAct::Resource {
            name: "Cargo bike".into(),
            category: Category::Transport,
            place: "Elm Street".into(),
        },
        T,
    )
}

fn book(r: &VerifiedEvent, from: u64, until: u64, note: &str) -> AidAct {
    AidAct::Book {
        resource: r.id(),
        from,
        until,
        note: note.into(),
    }
}

#[test]
fn an_overlapping_booking_is_refused_and_says_by_whom() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let r = resource(&mut s, "A");
    let first = aid(&mut s, "B", book(&r, 1_000, 5_000, "moving"), T + 1);
    let clash = aid(&mut s, "C", book(&r, 4_000, 6_000, "market"), T + 2);
    refused_without_effect(&s, &clash, "it is booked from 1000 to 5000");
    aid(&mut s, "C", book(&r, 5_000, 6_000, "market"), T + 3);
    // Only the booker or a custodian cancels; then the span is free again.
    let by_other = aid(&mut s, "C", AidAct::Cancel { target: first.id() }, T + 4);
    refused_without_effect(&s, &by_other, "only its booker or a custodian");
    aid(&mut s, "A", AidAct::Cancel { target: first.id() }, T + 5);
    aid(&mut s, "C", book(&r, 1_000, 2_000, "again"), T + 6);
    assert!(
        s.derive()
            .rejected
            .iter()
            .all(|(id, _)| *id == clash.id() || *id == by_other.id())
    );
    // Custodians: only a custodian changes them, and one always remains.
    let (kb, ka) = (s.key("B"), s.key("A"));
    let not_custodian = aid(
        &mut s,
        "B",
        AidAct::Custodian {
            resource: r.id(),
            member: kb,
            add: true,
        },
        T + 7,
    );
    refused_without_effect(&s, &not_custodian, "only a custodian");
    let last = aid(
        &mut s,
        "A",
        AidAct::Custodian {
            resource: r.id(),
            member: ka,
            add: false,
        },
        T + 8,
    );
    refused_without_effect(&s, &last, "at least one custodian");
}

/// Two bookings of the same span made at the same time (neither in the other's past): one wins
/// by an order fixed per resource and member, the same in every delivery order, and no choice of
/// note or time by either booker changes who.
#[test]
fn crossing_bookings_resolve_the_same_everywhere_and_cannot_be_ground() {
    let mut winners = std::collections::BTreeSet::new();
    for variant in 0..20u64 {
        let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
        let r = resource(&mut s, "A");
        let base = heads(&s);
        let b = s.write(
            "B",
            Payload::Aid(book(&r, 1_000 + variant, 5_000, &format!("B {variant}"))),
            &base,
            T + variant,
        );
        let c = s.write(
            "C",
            Payload::Aid(book(
                &r,
                2_000,
                6_000 + variant * 7,
                &format!("C {variant}"),
            )),
            &base,
            T + 2 * variant,
        );
        let st = s.derive();
        let (lb, lc) = (
            st.aid.bookings[&b.id()].lost_to,
            st.aid.bookings[&c.id()].lost_to,
        );
        let winner = match (lb, lc) {
            (None, Some(w)) if w == b.id() => "B",
            (Some(w), None) if w == c.id() => "C",
            other => panic!("exactly one must lose to the other: {other:?}"),
        };
        winners.insert(winner);
        // Every delivery order agrees.
        let mut ev = s.events.clone();
        ev.reverse();
        assert_eq!(GroupState::derive(&s.network, s.group, &ev).aid, st.aid);
    }
    assert_eq!(
        winners.len(),
        1,
        "grinding times and notes changed the winner"
    );
}
