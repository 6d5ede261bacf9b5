//! Display names (`dualpower_state::display_names`): a member's latest sealed profile names
//! them, the same for every delivery order; nobody names anyone but themselves; a non-member,
//! a pending joiner, a removed member past the cut and a forked author name nobody.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};

use common::*;
use dualpower_core::cbor::Writer;
use dualpower_core::{Constitution, EventId, Payload, PayloadError, PublicKey, VerifiedEvent};
use dualpower_state::{GroupState, display_names};
use proptest::prelude::*;

/// The names a member holding every key derives from `events` (in the order given).
fn names_of(s: &Scenario, events: &[VerifiedEvent]) -> BTreeMap<PublicKey, String> {
    let st = GroupState::derive(&s.network, s.group, events);
    display_names(s.group, events, &s.opened_bytes(), &st.refusals())
}

fn named(s: &Scenario, pairs: &[(&str, &str)]) -> BTreeMap<PublicKey, String> {
    pairs
        .iter()
        .map(|(who, name)| (s.key(who), (*name).to_owned()))
        .collect()
}

#[test]
fn the_latest_profile_along_the_authors_log_wins() {
    let (mut s, tip) = group_of(&["ana", "ben"], Constitution::default());
    let a1 = s.profile("ana", "Ana", &[tip]);
    s.profile("ben", "Benjamin", &[tip]);
    // A later profile wins even when a concurrent event of someone else sorts after it.
    s.profile("ana", "Ana R.", &[a1.id()]);
    s.post("ben", "hello", &[]);
    assert_eq!(
        names_of(&s, &s.events),
        named(&s, &[("ana", "Ana R."), ("ben", "Benjamin")])
    );
    // The feed does not list a profile as rejected (it is not a feed item, and not hidden
    // control either).
    let st = s.derive();
    let feed =
        dualpower_state::Feed::derive_opened(s.group, &s.events, &s.opened_bytes(), &st.refusals());
    assert!(feed.rejected.is_empty(), "{:?}", feed.rejected);
    assert_eq!(feed.posts.len(), 1);
}

#[test]
fn a_profile_names_its_signer_and_nobody_else() {
    // There is no field for whom a profile names: the name belongs to the event's signer. Ana
    // choosing the name "Ben" names Ana (the labels then tell the two apart by key), and Ben
    // keeps his own.
    let (mut s, tip) = group_of(&["ana", "ben"], Constitution::default());
    s.profile("ben", "Ben", &[tip]);
    s.profile("ana", "Ben", &[tip]);
    assert_eq!(
        names_of(&s, &s.events),
        named(&s, &[("ana", "Ben"), ("ben", "Ben")])
    );
    // A profile that tries to carry a key of someone else does not even decode.
    let mut w = Writer::default();
    w.map(3)
        .uint(0)
        .uint(24)
        .uint(1)
        .text("Ben")
        .uint(2)
        .bytes(&s.key("ben").0);
    assert!(matches!(
        Payload::decode(&w.into_bytes()),
        Err(PayloadError::UnknownField { kind: 24, field: 2 })
    ));
}

#[test]
fn outsiders_joiners_and_removed_members_name_nobody() {
    let (mut s, tip) = group_of(&["ana", "ben", "cal"], Constitution::default());
    // Eve never joined: her sealed profile (cited by nobody, or even by a member) names nobody.
    let eve = s.profile("eve", "Ana", &[tip]);
    // Dan joined but was never admitted.
    let (invite, key) = s.invite("ana", 1, NEVER, &[]);
    let join = s.join("dan", &invite, &key);
    let dan = s.profile("dan", "Dan", &[join.id()]);
    // Cal names himself, then is removed; what he writes past the cut names nobody.
    let c1 = s.profile("cal", "Cal", &[tip]);
    let seen = s.count("cal");
    let removal = s.remove("ana", "cal", seen, &[c1.id(), eve.id(), dan.id()]);
    let late = s.profile("cal", "Ana (admin)", &[removal.id()]);
    // A profile in the clear does not count (names are for the group only).
    let clear = s.write_as(
        "ben",
        0,
        Payload::Profile { name: "Ben".into() },
        &[removal.id()],
        T,
        false,
    );
    let st = s.derive();
    assert_refused(&st, &eve, dualpower_state::Refusal::NotMember(s.key("eve")));
    assert_refused(&st, &dan, dualpower_state::Refusal::NotMember(s.key("dan")));
    assert!(
        refusal(&st, &late).is_some(),
        "cal's late profile is refused"
    );
    assert_valid(&st, &clear);
    // Cal keeps the name he set while a member (his removal shows who was removed).
    assert_eq!(names_of(&s, &s.events), named(&s, &[("cal", "Cal")]));
}

#[test]
fn a_forked_author_is_decided_the_same_way_everywhere() {
    let (mut s, tip) = group_of(&["ana", "ben"], Constitution::default());
    s.profile("ben", "Ben", &[tip]);
    // Ben signs two different profiles at the same seq.
    let before = s.authors["ben"].clone();
    let one = s.profile("ben", "Ben one", &[]);
    s.authors.insert("ben", before);
    let two = s.profile("ben", "Ben two", &[]);
    assert_eq!(one.header().seq, two.header().seq);
    // The pass refuses a forked author's events from the fork on, so the name before it stands.
    let mut rng = Rng(7);
    for _ in 0..8 {
        assert_eq!(
            names_of(&s, &shuffled(&s.events, &mut rng)),
            named(&s, &[("ben", "Ben")])
        );
    }
    // Without the membership layer's refusals, the greatest (seq, id) wins, whatever the order.
    let best = if one.id() > two.id() {
        "Ben one"
    } else {
        "Ben two"
    };
    for events in [vec![one.clone(), two.clone()], vec![two, one]] {
        let names = display_names(s.group, &events, &s.opened_bytes(), &HashMap::new());
        assert_eq!(names, named(&s, &[("ben", best)]));
    }
}

/// A group of four members and one outsider writing profiles, posts and one removal, driven by a
/// script: (author, action, dep) choices.
fn scripted(script: &[(usize, u8, usize)]) -> Scenario {
    const WHO: [&str; 5] = ["ana", "ben", "cal", "dan", "eve"];
    let (mut s, tip) = group_of(&WHO[..4], Constitution::default());
    let mut ids: Vec<EventId> = vec![tip];
    let mut removed = false;
    for (i, &(who, action, dep)) in script.iter().enumerate() {
        let who = WHO[who % WHO.len()];
        let deps = [ids[dep % ids.len()]];
        let ev = match action % 4 {
            0 | 1 => s.profile(who, &format!("{who} {i}"), &deps),
            2 => s.post(who, "hi", &deps),
            _ if !removed && who != "dan" => {
                removed = true;
                let seen = s.count("dan");
                s.remove(who, "dan", seen, &deps)
            }
            _ => s.profile(who, "Sam", &deps),
        };
        ids.push(ev.id());
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every delivery order gives the same names.
    #[test]
    fn names_are_the_same_for_every_delivery_order(
        script in prop::collection::vec((0usize..5, any::<u8>(), any::<usize>()), 1..24),
        seed in any::<u64>(),
    ) {
        let s = scripted(&script);
        let reference = names_of(&s, &s.events);
        // The outsider never gets a name.
        prop_assert!(!reference.contains_key(&s.key("eve")));
        let mut rng = Rng(seed | 1);
        for _ in 0..4 {
            prop_assert_eq!(&names_of(&s, &shuffled(&s.events, &mut rng)), &reference);
            prop_assert_eq!(&names_of(&s, &topological(&s.events, &mut rng)), &reference);
        }
        // Duplicates change nothing.
        let mut twice = s.events.clone();
        twice.extend(s.events.iter().cloned());
        prop_assert_eq!(&names_of(&s, &twice), &reference);
    }
}
