//! Whose events a sync answer may bring ([`Admit`]): a newcomer catching up from nothing keeps
//! every event of the group's history (the creator's, a member's who was removed later), while
//! events signed by fresh keys that never were members, and a joiner's answer carrying anyone
//! else's events, store nothing.
#![allow(clippy::unwrap_used)]

mod common;
use common::{Member, apply, exchange, member, post};

use dualpower_core::{Draft, GroupId, Identity, Payload, VerifiedEvent};
use dualpower_net::{Request, Response, Want};
use dualpower_node::ops::{self, ConstitutionArgs, Op};
use dualpower_node::sync::{Admit, answer, store_answer_checked};

/// Every log of `group` at `from`, from seq 0, as one `Events` request.
fn ask_all(from: &Member, group: GroupId, extra: &[&VerifiedEvent]) -> Request {
    let mut wants: Vec<Want> = from
        .store
        .logs(Some(group))
        .unwrap()
        .iter()
        .map(|l| Want {
            author: l.author,
            log: l.log,
            from: 0,
        })
        .collect();
    wants.extend(extra.iter().map(|e| Want {
        author: e.header().author,
        log: 0,
        from: 0,
    }));
    Request::Events {
        token: [0; 32],
        wants,
        max: 4000,
    }
}

/// A group where B joined, posted and was removed, and A posted afterwards.
fn history() -> (Member, GroupId) {
    let (a, b) = (member(), member());
    let g = apply(
        &a,
        Op::Create {
            name: "co-op".into(),
            constitution: ConstitutionArgs::default(),
        },
        1_000,
    );
    let group = GroupId::from_hex(g["group"].as_str().unwrap()).unwrap();
    let code = apply(
        &a,
        Op::Invite {
            group: group.to_hex(),
            expires_secs: 3_600,
            uses: 1,
            addrs: vec![],
        },
        2_000,
    )["code"]
        .as_str()
        .unwrap()
        .to_owned();
    exchange(&[&a, &b], group);
    apply(&b, Op::Join { code }, 3_000);
    exchange(&[&a, &b], group);
    ops::run_agent(&a.store, &a.id, group, 4_000).unwrap();
    ops::run_agent(&a.store, &a.id, group, 4_001).unwrap();
    exchange(&[&a, &b], group);
    post(&b, group, "B was here", 5_000);
    exchange(&[&a, &b], group);
    apply(
        &a,
        Op::Remove {
            group: group.to_hex(),
            member: b.did(),
            reason: "left town".into(),
        },
        6_000,
    );
    post(&a, group, "after B", 7_000);
    (a, group)
}

/// An event by a fresh key in `group`, citing `dep`.
fn fresh(group: GroupId, dep: &VerifiedEvent, body: Payload) -> VerifiedEvent {
    Draft {
        group,
        log: 0,
        seq: 0,
        deps: vec![dep.id()],
        timestamp: 8_000,
        body: body.encode(),
        ..Default::default()
    }
    .sign(
        &Identity::generate(),
        &dualpower_core::NetworkId::named("ops-test"),
    )
    .unwrap()
}

#[test]
fn a_catch_up_keeps_the_history_and_fresh_keys_store_nothing() {
    let (a, group) = history();
    let total = a.store.group_events(group).unwrap().len();
    let state = ops::derived::derived(&a.store, group).unwrap().1;
    assert_eq!(state.removed.len(), 1, "B was removed");

    // A newcomer's empty store catches up from a member's answer: everything is kept (the
    // genesis, the invite, B's join and posts although B is removed now, A's later post).
    let c = member();
    let req = ask_all(&a, group, &[]);
    let Response::Events { events, more } = answer(&a.store, Some(group), req.clone()).unwrap()
    else {
        panic!("an events answer");
    };
    assert!(!more);
    let f = store_answer_checked(&c.store, group, events, &req, Admit::Members).unwrap();
    assert_eq!((f.stored.len(), f.dropped, f.invalid), (total, 0, 0));
    assert!(f.unlinked.is_empty());

    // Events by fresh keys: a post citing the genesis, and a join with a made-up invite.
    let genesis = a
        .store
        .group_events(group)
        .unwrap()
        .into_iter()
        .find(|e| e.header().seq == 0 && e.header().deps.is_empty())
        .unwrap();
    let forged_join = Payload::Join {
        invite: genesis.id(),
        proof: [7; 64],
    };
    let strangers = [
        fresh(group, &genesis, Payload::Post { text: "hi".into() }),
        fresh(group, &genesis, forged_join),
    ];
    let req = ask_all(&a, group, &[&strangers[0], &strangers[1]]);
    let raw = strangers
        .iter()
        .map(|e| (e.envelope().to_vec(), e.body().map(<[u8]>::to_vec)))
        .collect();
    let f = store_answer_checked(&a.store, group, raw, &req, Admit::Members).unwrap();
    assert!(f.stored.is_empty(), "stored {:?}", f.stored);
    assert_eq!(f.dropped, 2);
    for e in &strangers {
        assert!(!a.store.contains(&e.id()).unwrap());
    }

    // An answer from a peer that proved only an invite may bring only the events of joiners
    // pending with that invite: here there are none (B was admitted, then removed), so the
    // members' events it carries are all dropped.
    let d = member();
    let invite = state.invites.keys().next().copied().unwrap();
    let req = ask_all(&a, group, &[]);
    let Response::Events { events, .. } = answer(&a.store, Some(group), req.clone()).unwrap()
    else {
        panic!("an events answer");
    };
    let f = store_answer_checked(&d.store, group, events, &req, Admit::Joiner(invite)).unwrap();
    assert!(f.stored.is_empty(), "a joiner brought {:?}", f.stored);
    assert_eq!(f.dropped as usize, total);
}
