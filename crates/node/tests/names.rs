//! Names, not keys: display names set with `Op::SetName` (sealed profile events), local petnames
//! (`Op::Petname`, never replicated, stored encrypted), and the `"labels"` map of every answer
//! that names members, between stores with events copied by hand.
#![allow(clippy::unwrap_used)]

mod common;
use common::{Member, admit, apply, exchange, member, post};

use dualpower_core::GroupId;
use dualpower_node::ops::{self, ConstitutionArgs, Op};
use dualpower_node::query::{Query, answer};
use serde_json::Value;

fn create(a: &Member) -> GroupId {
    let g = apply(
        a,
        Op::Create {
            name: "co-op".into(),
            constitution: ConstitutionArgs::default(),
        },
        1_000,
    );
    GroupId::from_hex(g["group"].as_str().unwrap()).unwrap()
}

fn set_name(m: &Member, group: GroupId, name: &str, now: u64) -> Result<Value, ops::OpError> {
    ops::apply(
        &m.store,
        &m.id,
        Op::SetName {
            group: group.to_hex(),
            name: name.into(),
        },
        now,
    )
    .map(|o| o.value)
}

fn petname(m: &Member, who: &str, name: Option<&str>) -> Result<Value, ops::OpError> {
    ops::apply(
        &m.store,
        &m.id,
        Op::Petname {
            member: who.into(),
            name: name.map(str::to_owned),
        },
        50_000,
    )
    .map(|o| o.value)
}

fn ask(m: &Member, q: Query) -> Value {
    answer(&m.store, &m.id, q, 60_000).unwrap()
}

/// The label `m` sees for `did` in `group`.
fn label(m: &Member, group: GroupId, did: &str) -> String {
    let v = ask(
        m,
        Query::Names {
            group: group.to_hex(),
        },
    );
    v["labels"][did]["label"].as_str().unwrap().to_owned()
}

/// A creates a group; B and C are admitted.
fn three() -> (Member, Member, Member, GroupId) {
    let (a, b, c) = (member(), member(), member());
    let g = create(&a);
    admit(&a, &b, &[&a, &b], g, 2_000);
    admit(&a, &c, &[&a, &b, &c], g, 3_000);
    (a, b, c, g)
}

#[test]
fn same_display_names_are_told_apart_and_a_petname_overrides() {
    let (a, b, c, g) = three();
    set_name(&a, g, "  Sam  ", 10_000).unwrap();
    set_name(&b, g, "Sam", 10_001).unwrap();
    post(&b, g, "hello", 10_002);
    exchange(&[&a, &b, &c], g);
    let v = ask(&c, Query::Names { group: g.to_hex() });
    let labels = v["labels"].as_object().unwrap();
    assert_eq!(labels.len(), 3, "{v}");
    let (la, lb) = (&labels[&a.did()], &labels[&b.did()]);
    assert_eq!(la["display"], "Sam");
    assert_eq!(lb["display"], "Sam");
    assert_ne!(la["label"], lb["label"], "told apart: {v}");
    assert_eq!(
        la["label"].as_str().unwrap(),
        format!("Sam ({})", la["short"].as_str().unwrap())
    );
    // C chose no name: its short key, which names it back.
    let lc = &labels[&c.did()];
    assert_eq!(lc["label"], lc["short"]);
    assert_eq!(lc["display"], Value::Null);
    let piece = lc["short"].as_str().unwrap();
    let known = [a.id.public(), b.id.public(), c.id.public()];
    assert_eq!(ops::member_among(piece, known).unwrap(), c.id.public());

    // C gives B a petname: only C sees it, and it ends the clash for both.
    let before = c.store.group_events(g).unwrap().len();
    petname(&c, &b.did(), Some("Sam from no. 3")).unwrap();
    assert_eq!(c.store.group_events(g).unwrap().len(), before, "no event");
    assert_eq!(label(&c, g, &b.did()), "Sam from no. 3");
    assert_eq!(label(&c, g, &a.did()), "Sam");
    assert!(label(&a, g, &b.did()).starts_with("Sam (…"));
    // Every answer that names members carries the same labels.
    let feed = ask(&c, Query::Feed { group: g.to_hex() });
    assert_eq!(feed["posts"][0]["author"], b.did().as_str());
    assert_eq!(feed["labels"][b.did()]["label"], "Sam from no. 3");
    let members = ask(&c, Query::Members { group: g.to_hex() });
    assert_eq!(
        members["labels"],
        ask(&c, Query::Names { group: g.to_hex() })["labels"]
    );
    let proposals = ask(&c, Query::Proposals { group: g.to_hex() });
    assert_eq!(proposals["labels"][a.did()]["label"], "Sam");

    // Clearing the petname brings the clash back; a later name replaces the earlier one.
    assert_eq!(petname(&c, &b.did(), None).unwrap()["cleared"], true);
    assert!(label(&c, g, &b.did()).starts_with("Sam (…"));
    set_name(&b, g, "Bea", 20_000).unwrap();
    exchange(&[&a, &b, &c], g);
    assert_eq!(label(&c, g, &b.did()), "Bea");
    assert_eq!(label(&c, g, &a.did()), "Sam");
}

#[test]
fn bad_names_are_refused_and_change_nothing() {
    let (a, b, _c, g) = three();
    let before = a.store.group_events(g).unwrap().len();
    for bad in ["", "   ", "Sam\u{202E}", "Sam (…uW3fgMhW)", &"x".repeat(65)] {
        let e = set_name(&a, g, bad, 10_000).unwrap_err();
        assert!(matches!(e, ops::OpError::Invalid(_)), "{bad:?}: {e}");
        let e = petname(&a, &b.did(), Some(bad)).unwrap_err();
        assert!(e.to_string().contains("petname"), "{bad:?}: {e}");
    }
    assert_eq!(a.store.group_events(g).unwrap().len(), before);
    assert!(ops::petnames(&a.store, &a.id).unwrap().is_empty());
    // A piece of a key nobody has is refused, not guessed.
    assert!(petname(&a, "z6MkNOBODYHERE", Some("x")).is_err());
}

#[test]
fn a_removed_member_cannot_rename_itself() {
    let (a, b, c, g) = three();
    set_name(&c, g, "Cal", 10_000).unwrap();
    exchange(&[&a, &b, &c], g);
    apply(
        &a,
        Op::Remove {
            group: g.to_hex(),
            member: c.did(),
            reason: "test".into(),
        },
        11_000,
    );
    exchange(&[&a, &b], g);
    // C has not heard of its removal yet, so its own node writes the profile.
    set_name(&c, g, "Ana (admin)", 12_000).unwrap();
    exchange(&[&a, &b, &c], g);
    assert_eq!(label(&b, g, &c.did()), "Cal");
    // Once it knows, its node refuses.
    assert!(set_name(&c, g, "Ana", 13_000).is_err());
}

#[test]
fn petnames_are_stored_encrypted() {
    let (a, b, _c, g) = three();
    let secret = "my secret label for b";
    petname(&a, &b.did(), Some(secret)).unwrap();
    assert_eq!(label(&a, g, &b.did()), secret);
    let _ = a.store.checkpoint();
    for entry in std::fs::read_dir(a.dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a petname in the clear on disk"
        );
    }
    // Another identity opening the same store reads none of them.
    assert!(
        ops::petnames(&a.store, &dualpower_core::Identity::generate())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn direct_messages_carry_labels() {
    let (a, b, _c, g) = three();
    set_name(&a, g, "Ana", 10_000).unwrap();
    exchange(&[&a, &b], g);
    ops::run_agent(&b.store, &b.id, g, 10_500).unwrap();
    exchange(&[&a, &b], g);
    apply(
        &b,
        Op::Dm {
            group: Some(g.to_hex()),
            to: a.did(),
            text: "hi".into(),
        },
        11_000,
    );
    exchange(&[&a, &b], g);
    let v = ask(&a, Query::DirectMessages);
    assert_eq!(v["messages"][0]["text"], "hi", "{v}");
    assert_eq!(v["labels"][a.did()]["label"], "Ana");
    assert!(
        v["labels"][b.did()]["label"]
            .as_str()
            .unwrap()
            .starts_with('…')
    );
}
