//! Roles by vote attacked by a member with real stores and keys: proposal payloads made by hand
//! and sealed under the group's governance key as the node seals decisions (so no operation
//! checks them), then copied to every member as a bundle would.
//!
//! * a hand-made proposal granting a role the constitution lacks is refused by every member's
//!   state, identically; the operation refuses the same proposal before writing it;
//! * a sealed role proposal copied into another group the author also belongs to is nothing
//!   there (its governance key belongs to the first group), so no vote there can enact it.
#![allow(clippy::unwrap_used)]

mod common;
use common::{Member, admit, apply, exchange, member};

use dualpower_core::decision::{Electorate, Method, Proposal, ProposalText};
use dualpower_core::event::{FLAG_ENCRYPTED, Position};
use dualpower_core::{GroupId, Payload, VerifiedEvent};
use dualpower_node::ops::{self, ConstitutionArgs, Op};
use dualpower_state::{GroupState, Refusal};
use dualpower_store::Body;

fn state(m: &Member, group: GroupId) -> GroupState {
    std::sync::Arc::unwrap_or_clone(ops::view(&m.store, &m.id, group, 0).unwrap().state)
}

/// A group created by `a` where roles change by vote, with `others` admitted.
fn group(a: &Member, others: &[&Member], now: u64) -> GroupId {
    let v = apply(
        a,
        Op::Create {
            name: "tenants".into(),
            constitution: ConstitutionArgs {
                amend: Some("vote".into()),
                ..ConstitutionArgs::default()
            },
        },
        now,
    );
    let g = GroupId::from_hex(v["group"].as_str().unwrap()).unwrap();
    let mut all = vec![a];
    all.extend_from_slice(others);
    for (i, o) in others.iter().enumerate() {
        admit(a, o, &all, g, now + 100 * (i as u64 + 1));
    }
    exchange(&all, g);
    g
}

/// `m` writes `payload` into `group` sealed under the writing epoch's governance key, exactly
/// as the node seals a decision, but with no operation checking it.
fn sealed(m: &Member, group: GroupId, payload: &Payload, now: u64) -> VerifiedEvent {
    let epoch = state(m, group).writing_epoch().unwrap();
    let gov = ops::load_keyring(&m.store, &m.id, &group)
        .unwrap()
        .gov_key(&epoch)
        .unwrap();
    let network = *m.store.network();
    let plain = payload.encode();
    let body = Body::Build(Box::new(move |pos: &Position| {
        Ok(dualpower_groups::keyring::seal_governance(
            &network, epoch, &gov, pos, &plain,
        ))
    }));
    m.store
        .append(&m.id, group, 0, body, FLAG_ENCRYPTED, now)
        .unwrap()
}

fn role_proposal(member: &Member, role: &str) -> Payload {
    Payload::Propose(Proposal {
        text: ProposalText {
            title: "make me".into(),
            body: String::new(),
            options: Vec::new(),
        },
        method: Method::default(),
        electorate: Electorate::Members,
        topic: String::new(),
        voting: true,
        deadline: 0,
        action: Payload::Role {
            member: member.id.public(),
            role: role.into(),
            grant: true,
        }
        .encode(),
    })
}

fn refusal(st: &GroupState, ev: &VerifiedEvent) -> Option<Refusal> {
    st.rejected
        .iter()
        .find(|(id, _)| *id == ev.id())
        .map(|(_, r)| r.clone())
}

#[test]
fn a_hand_made_proposal_for_a_role_the_group_lacks_is_refused_by_every_member() {
    let (a, b, c) = (member(), member(), member());
    let g = group(&a, &[&b, &c], 1_000);
    // The operation refuses it before writing anything.
    let Err(err) = ops::apply(
        &b.store,
        &b.id,
        Op::Propose {
            group: g.to_hex(),
            title: "make me landlord".into(),
            body: String::new(),
            options: vec![],
            method: None,
            electorate: None,
            topic: String::new(),
            discuss: false,
            deadline_secs: 0,
            amend: None,
            remove: None,
            admit: None,
            grant_role: Some(format!("{}=landlord", b.did())),
            revoke_role: None,
            tasks: Vec::new(),
            set_limit: None,
        },
        2_000,
    ) else {
        panic!("the operation wrote a proposal for a role the group lacks");
    };
    assert!(err.to_string().contains("no role `landlord`"), "{err}");
    // Written by hand and sealed: opened and refused by every member, for the same reason.
    let ev = sealed(&b, g, &role_proposal(&b, "landlord"), 2_100);
    exchange(&[&a, &b, &c], g);
    let states: Vec<GroupState> = [&a, &b, &c].iter().map(|m| state(m, g)).collect();
    for st in &states {
        assert_eq!(
            refusal(st, &ev),
            Some(Refusal::UnknownRole("landlord".into()))
        );
        assert!(!st.proposals.contains_key(&ev.id()));
        assert_eq!(st.rejected, states[0].rejected);
    }
}

#[test]
fn a_sealed_role_proposal_copied_into_another_group_is_nothing_there() {
    let (a, b, c) = (member(), member(), member());
    let g1 = group(&a, &[&b, &c], 1_000);
    let g2 = group(&a, &[&b, &c], 5_000);
    // In the first group B proposes, by the operation, that it be made admin.
    let v = apply(
        &b,
        Op::Propose {
            group: g1.to_hex(),
            title: "make B admin".into(),
            body: String::new(),
            options: vec![],
            method: None,
            electorate: None,
            topic: String::new(),
            discuss: false,
            deadline_secs: 0,
            amend: None,
            remove: None,
            admit: None,
            grant_role: Some(format!("{}=admin", b.did())),
            revoke_role: None,
            tasks: Vec::new(),
            set_limit: None,
        },
        9_000,
    );
    let pid = v["id"].as_str().unwrap().to_owned();
    let original = b
        .store
        .group_events(g1)
        .unwrap()
        .into_iter()
        .find(|e| e.id().to_hex() == pid)
        .unwrap();
    assert!(state(&a, g1).proposals.keys().all(|k| k.to_hex() != pid));
    exchange(&[&a, &b, &c], g1);
    assert!(state(&a, g1).proposals.keys().any(|k| k.to_hex() == pid));
    // B copies the sealed body into the second group as its own event there.
    let body = original.body().unwrap().to_vec();
    let copy = b
        .store
        .append(&b.id, g2, 0, body, FLAG_ENCRYPTED, 9_100)
        .unwrap();
    exchange(&[&a, &b, &c], g2);
    for m in [&a, &b, &c] {
        let st = state(m, g2);
        assert!(st.proposals.is_empty(), "{:?}", st.proposals.keys());
        assert!(refusal(&st, &copy).is_none());
    }
    // And a close naming the first group's proposal is refused there as unknown.
    let close = sealed(
        &b,
        g2,
        &Payload::Close {
            proposal: original.id(),
        },
        9_200,
    );
    exchange(&[&a, &b, &c], g2);
    for m in [&a, &b, &c] {
        let st = state(m, g2);
        assert_eq!(
            refusal(&st, &close),
            Some(Refusal::UnknownProposal(original.id()))
        );
        assert!(!st.members[&b.id.public()].roles.contains("admin"));
    }
}

/// A proposal prefix two proposals share is refused with a message saying to give more digits
/// (never answered with one of them), through the same query the node's `/v1/view` runs.
#[test]
fn an_ambiguous_proposal_prefix_names_no_proposal() {
    let (a, b) = (member(), member());
    let g = group(&a, &[&b], 1_000);
    let v = apply(
        &a,
        Op::Propose {
            group: g.to_hex(),
            title: "paint the hall".into(),
            body: String::new(),
            options: vec![],
            method: Some("majority".into()),
            electorate: None,
            topic: String::new(),
            discuss: false,
            deadline_secs: 0,
            amend: None,
            remove: None,
            admit: None,
            grant_role: None,
            revoke_role: None,
            tasks: Vec::new(),
            set_limit: None,
        },
        2_000,
    );
    let pid = v["id"].as_str().unwrap().to_owned();
    let answer = |st: &GroupState, key: &str| {
        dualpower_node::decisions::find_proposal(st, key).map(|p| p.id.to_hex())
    };
    let mut st = state(&a, g);
    assert_eq!(answer(&st, &pid[..8]).unwrap(), pid);
    // A second proposal whose id starts with the same eight digits (ids are hashes: made by
    // hand, as a member grinding ids would).
    let mut twin = st.proposals.values().next().unwrap().clone();
    let mut raw = twin.id.0;
    raw[31] ^= 1;
    twin.id = dualpower_core::EventId(raw);
    st.proposals.insert(twin.id, twin);
    let err = answer(&st, &pid[..8]).unwrap_err().to_string();
    assert!(
        err.contains("matches several proposals; give more digits"),
        "{err}"
    );
    assert_eq!(answer(&st, &pid).unwrap(), pid);
    // Through the query the node answers: an unknown prefix and a short one say what is wrong.
    for (key, says) in [
        ("beef0000", "no proposal `beef0000`"),
        ("ab", "at least 4 hex"),
    ] {
        let q = dualpower_node::query::Query::Proposal {
            group: g.to_hex(),
            proposal: key.into(),
        };
        let err = dualpower_node::query::answer(&a.store, &a.id, q, 3_000).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(err.kind(), "invalid");
    }
}
