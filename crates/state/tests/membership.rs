//! Membership derivation: admission, removal, roles, constitution and key epochs, judged at each
//! event's causal point (see the rules at the top of `crates/state/src/membership.rs`).
#![allow(clippy::unwrap_used)]

use dualpower_core::payload::join_proof_message;
use dualpower_core::{
    Constitution, EventId, Identity, KeyShare, Payload, Rule, Seal, VerifiedEvent,
};
use dualpower_state::{GroupState, Refusal};

mod common;
use common::*;

/// A group of A with B (and the events that made B a member).
struct Base {
    s: Scenario,
    genesis: VerifiedEvent,
    invite: VerifiedEvent,
    invite_key: Identity,
    join_b: VerifiedEvent,
    admit_b: VerifiedEvent,
}

fn base(uses: u64) -> Base {
    let (mut s, genesis) = Scenario::new("A", Constitution::default());
    let (invite, invite_key) = s.invite("A", uses, NEVER, &[]);
    let join_b = s.join("B", &invite, &invite_key);
    let admit_b = s.admit("A", &join_b, &[], T);
    Base {
        s,
        genesis,
        invite,
        invite_key,
        join_b,
        admit_b,
    }
}

// 1. Happy path.

#[test]
fn creator_invites_newcomer_joins_and_is_admitted() {
    let Base {
        mut s,
        genesis,
        invite,
        join_b,
        admit_b,
        ..
    } = base(1);
    // Before admission, B is pending.
    let before = GroupState::derive(&s.network, s.group, &s.events[..3]);
    assert_eq!(members(&before), keys(&s, &["A"]));
    let pending = &before.pending[&s.key("B")];
    assert_eq!((pending.join, pending.invite), (join_b.id(), invite.id()));

    let post = s.post("B", "hello", &[admit_b.id()]);
    let st = s.derive();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    assert_eq!(st.genesis, Some(genesis.id()));
    assert_eq!(st.creator, Some(s.key("A")));
    assert_eq!(st.name.as_deref(), Some("Tenants' union"));
    assert_eq!(st.constitution, Constitution::default());
    assert_eq!(members(&st), keys(&s, &["A", "B"]));
    assert!(st.members[&s.key("A")].roles.contains("admin"));
    assert_eq!(st.members[&s.key("A")].roles.len(), 1);
    assert!(st.members[&s.key("B")].roles.is_empty());
    assert!(st.pending.is_empty());
    assert!(st.removed.is_empty());
    let info = &st.invites[&invite.id()];
    assert_eq!(info.author, s.key("A"));
    assert_eq!(
        info.used_by.iter().copied().collect::<Vec<_>>(),
        keys(&s, &["B"])
    );
    assert_valid(&st, &post);
    assert!(st.is_member(&s.key("B")));
    assert!(st.allows(&Rule::Member, &s.key("B")));
    assert!(!st.allows(&Rule::Role("admin".into()), &s.key("B")));
    assert!(st.allows(&Rule::Role("admin".into()), &s.key("A")));
}

// 2. Forged invite.

#[test]
fn join_with_a_forged_proof_is_refused_and_cannot_be_admitted() {
    let (mut s, _) = Scenario::new("A", Constitution::default());
    let (invite, _key) = s.invite("A", 5, NEVER, &[]);
    let forger = Identity::from_seed(&[0x66; 32]);
    let join = s.join("B", &invite, &forger);
    let admit = s.admit("A", &join, &[], T);
    // A proof made for someone else does not carry over either.
    let (invite2, key2) = s.invite("A", 5, NEVER, &[]);
    let proof_for_c = key2.sign(&join_proof_message(&s.network, &s.group, &s.key("C")));
    let stolen = s.write(
        "D",
        Payload::Join {
            invite: invite2.id(),
            proof: proof_for_c,
        },
        &[invite2.id()],
        T,
    );
    // And an invite nobody knows.
    let unknown = s.write(
        "E",
        Payload::Join {
            invite: EventId([0x42; 32]),
            proof: [0; 64],
        },
        &[],
        T,
    );
    let post = s.post("B", "let me in", &[admit.id()]);

    let st = s.derive();
    assert_refused(&st, &join, Refusal::InviteForged);
    assert_refused(&st, &admit, Refusal::JoinMismatch);
    assert_refused(&st, &stolen, Refusal::InviteForged);
    assert_refused(&st, &unknown, Refusal::InviteUnknown(EventId([0x42; 32])));
    assert_refused(&st, &post, Refusal::NotMember(s.key("B")));
    assert_eq!(members(&st), keys(&s, &["A"]));
    assert!(st.pending.is_empty(), "{:?}", st.pending);
    assert!(st.invites[&invite.id()].used_by.is_empty());
}

// 3. Expired invite.

#[test]
fn admission_after_the_invite_expired_is_refused() {
    let (mut s, _) = Scenario::new("A", Constitution::default());
    let (invite, key) = s.invite("A", 5, 5_000, &[]);
    let join = s.join("B", &invite, &key);
    let mut on_time = s.clone();
    let late = s.admit("A", &join, &[], 6_000);
    let st = s.derive();
    assert_refused(
        &st,
        &late,
        Refusal::InviteExpired {
            expires: 5_000,
            at: 6_000,
        },
    );
    assert_eq!(members(&st), keys(&s, &["A"]));
    // B's join still waits.
    assert_eq!(st.pending[&s.key("B")].join, join.id());
    assert!(st.invites[&invite.id()].used_by.is_empty());

    // Exactly at the expiry is still in time.
    let admit = on_time.admit("A", &join, &[], 5_000);
    let st = on_time.derive();
    assert_valid(&st, &admit);
    assert_eq!(members(&st), keys(&on_time, &["A", "B"]));
}

// 4. Reused single-use invite.

#[test]
fn single_use_invite_admits_only_one() {
    let Base {
        mut s,
        invite,
        invite_key,
        admit_b,
        ..
    } = base(1);
    let join_c = s.join("C", &invite, &invite_key);
    let admit_c = s.admit("A", &join_c, &[admit_b.id()], T);
    let st = s.derive();
    assert_valid(&st, &admit_b);
    assert_refused(&st, &admit_c, Refusal::InviteUsedUp { uses: 1 });
    assert_eq!(members(&st), keys(&s, &["A", "B"]));
    assert_eq!(st.pending[&s.key("C")].join, join_c.id());
    assert_eq!(
        st.invites[&invite.id()]
            .used_by
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        keys(&s, &["B"])
    );
}

/// A newcomer turned away with a used code joins again with a fresh one: the pending join
/// members act on is the one whose invite still has uses, whatever the ids' order.
#[test]
fn a_fresh_code_after_a_used_one_is_the_pending_join() {
    let Base {
        mut s,
        invite,
        invite_key,
        admit_b,
        ..
    } = base(1);
    let used = s.join("C", &invite, &invite_key);
    let (fresh, fresh_key) = s.invite("A", 1, NEVER, &[admit_b.id()]);
    let again = s.join("C", &fresh, &fresh_key);
    let st = s.derive();
    let p = &st.pending[&s.key("C")];
    assert_eq!(
        (p.join, p.invite),
        (again.id(), fresh.id()),
        "not {}",
        used.id()
    );
    let admit = s.admit("A", &again, &[], T);
    let st = s.derive();
    assert_valid(&st, &admit);
    assert!(st.is_member(&s.key("C")));
}

#[test]
fn two_use_invite_admits_two() {
    let Base {
        mut s,
        invite,
        invite_key,
        admit_b,
        ..
    } = base(2);
    let join_c = s.join("C", &invite, &invite_key);
    let admit_c = s.admit("A", &join_c, &[admit_b.id()], T);
    let join_d = s.join("D", &invite, &invite_key);
    let admit_d = s.admit("A", &join_d, &[admit_c.id()], T);
    let st = s.derive();
    assert_valid(&st, &admit_c);
    assert_refused(&st, &admit_d, Refusal::InviteUsedUp { uses: 2 });
    assert_eq!(members(&st), keys(&s, &["A", "B", "C"]));
    assert_eq!(
        st.invites[&invite.id()]
            .used_by
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        keys(&s, &["B", "C"])
    );
}

// 5. A removed member posting.

/// A, B; B posted once; A removed B having seen both of B's events (`seen` = 2).
struct Removed {
    s: Scenario,
    admit_b: VerifiedEvent,
    old_post: VerifiedEvent,
    removal: VerifiedEvent,
}

fn removed_b() -> Removed {
    let Base { mut s, admit_b, .. } = base(1);
    let old_post = s.post("B", "before", &[admit_b.id()]);
    let seen = s.count("B");
    assert_eq!(seen, 2);
    let removal = s.remove("A", "B", seen, &[old_post.id()]);
    Removed {
        s,
        admit_b,
        old_post,
        removal,
    }
}

/// B's post written after its removal but claiming only old deps, with the text varied until
/// its id sorts after (`after == true`) or before the removal's: the two are concurrent, so the
/// causal order puts the smaller id first.
fn backdated(r: &Removed, after: bool) -> (Scenario, VerifiedEvent) {
    for n in 0.. {
        let mut s = r.s.clone();
        let ev = s.post("B", &format!("backdated {n}"), &[r.admit_b.id()]);
        if (ev.id() > r.removal.id()) == after {
            return (s, ev);
        }
    }
    unreachable!()
}

#[test]
fn removed_member_events_past_the_cut_are_void() {
    let r = removed_b();
    // Backdated (deps only on old events); here its id sorts after the removal's (see
    // `removal_cut_applies_whichever_id_sorts_first` for the other case).
    let (mut s, backdated) = backdated(&r, true);
    let after = s.post("B", "after", &[r.removal.id()]);
    let st = s.derive();
    let cut = Refusal::AfterRemoval {
        author: s.key("B"),
        cut: 2,
    };
    assert_refused(&st, &backdated, cut.clone());
    assert_refused(&st, &after, cut);
    // What A had seen stays valid.
    assert_valid(&st, &r.old_post);
    assert_valid(&st, &r.removal);
    assert_eq!(members(&st), keys(&s, &["A"]));
    let removal = &st.removed[&s.key("B")];
    assert_eq!(
        (
            removal.event,
            removal.by,
            removal.cut,
            removal.reason.as_str()
        ),
        (r.removal.id(), s.key("A"), 2, "test")
    );
    assert!(st.pending.is_empty());
}

#[test]
fn removal_cut_applies_whichever_id_sorts_first() {
    let r = removed_b();
    for after in [true, false] {
        let (s, backdated) = backdated(&r, after);
        let st = s.derive();
        assert_eq!(
            refusal(&st, &backdated),
            Some(Refusal::AfterRemoval {
                author: s.key("B"),
                cut: 2,
            }),
            "backdated post sorting {} the removal",
            if after { "after" } else { "before" }
        );
    }
}

#[test]
fn removed_member_cannot_write_backdated_events_in_another_log() {
    let Removed {
        mut s,
        admit_b,
        removal,
        ..
    } = removed_b();
    let other_log = s.write_in(
        "B",
        1,
        Payload::Post {
            text: "still here".into(),
        },
        &[admit_b.id()],
        T,
    );
    let st = s.derive();
    assert!(
        refusal(&st, &other_log).is_some(),
        "B's log-1 post written after removal {} was accepted",
        removal.id()
    );
}

#[test]
fn leaving_voids_later_events() {
    let Base { mut s, admit_b, .. } = base(1);
    let leave = s.write("B", Payload::Leave, &[admit_b.id()], T);
    let after = s.post("B", "changed my mind", &[]);
    let st = s.derive();
    assert_valid(&st, &leave);
    assert_refused(
        &st,
        &after,
        Refusal::AfterRemoval {
            author: s.key("B"),
            cut: 2,
        },
    );
    assert_eq!(members(&st), keys(&s, &["A"]));
    let removal = &st.removed[&s.key("B")];
    assert_eq!((removal.by, removal.cut), (s.key("B"), 2));
}

#[test]
fn concurrent_removals_lowest_cut_wins() {
    let Base {
        mut s,
        invite,
        invite_key,
        admit_b,
        ..
    } = base(5);
    let role = s.role("A", "B", "admin", true, &[admit_b.id()]);
    let join_c = s.join("C", &invite, &invite_key);
    let admit_c = s.admit("A", &join_c, &[role.id()], T);
    let c1 = s.post("C", "one", &[admit_c.id()]);
    let c2 = s.post("C", "two", &[]);
    // A saw three of C's events, B concurrently only two. B's removal is concurrent with C's
    // seq-2 post; its reason is varied until its id sorts first, so the causal order puts it
    // before that post (see `removal_cut_applies_whichever_id_sorts_first` for the other case).
    let by_b = (0..)
        .find_map(|n| {
            let mut t = s.clone();
            let ev = t.write(
                "B",
                Payload::Remove {
                    member: t.key("C"),
                    seen: 2,
                    reason: format!("reason {n}"),
                },
                &[c1.id(), admit_c.id()],
                T,
            );
            (ev.id() < c2.id()).then(|| {
                s = t;
                ev
            })
        })
        .unwrap();
    let by_a = s.remove("A", "C", 3, &[c2.id()]);
    let c3 = s.post("C", "three", &[by_a.id(), by_b.id()]);
    let st = s.derive();
    assert_valid(&st, &by_a);
    assert_valid(&st, &by_b);
    assert_valid(&st, &c1);
    assert_refused(
        &st,
        &c2,
        Refusal::AfterRemoval {
            author: s.key("C"),
            cut: 2,
        },
    );
    assert_refused(
        &st,
        &c3,
        Refusal::AfterRemoval {
            author: s.key("C"),
            cut: 2,
        },
    );
    assert_eq!(members(&st), keys(&s, &["A", "B"]));
}

// 6. A non-admin removing someone.

#[test]
fn non_admin_cannot_remove() {
    let Base {
        mut s,
        invite,
        invite_key,
        admit_b,
        ..
    } = base(5);
    let join_c = s.join("C", &invite, &invite_key);
    let admit_c = s.admit("A", &join_c, &[admit_b.id()], T);
    let removal = s.remove("B", "C", 1, &[admit_c.id()]);
    // An admin removing a non-member is refused too.
    let stray = s.remove("A", "Z", 0, &[]);
    let st = s.derive();
    assert_refused(
        &st,
        &removal,
        Refusal::NoRight {
            action: "remove members",
            rule: "role:admin".into(),
        },
    );
    assert_refused(&st, &stray, Refusal::TargetNotMember(s.key("Z")));
    assert_eq!(members(&st), keys(&s, &["A", "B", "C"]));
    assert!(st.removed.is_empty());
}

// 7. Sealing a key to a non-member.

fn seal(prekey: [u8; 32]) -> Seal {
    Seal {
        prekey,
        enc: [1; 32],
        ct: [2; 48],
    }
}

fn share(prev: Vec<EventId>, prekeys: &[[u8; 32]]) -> Payload {
    Payload::KeyShare(KeyShare {
        epoch: None,
        prev,
        seals: prekeys.iter().map(|p| seal(*p)).collect(),
        history: vec![],
        gov: vec![],
        gov_check: None,
    })
}

#[test]
fn sealing_to_a_non_member_is_refused_and_taints_the_epoch() {
    let (pb, pc, pd, pf) = (
        prekey_public(0xb0),
        prekey_public(0xc0),
        prekey_public(0xd0),
        prekey_public(0xf0),
    );
    const UNKNOWN: [u8; 32] = [0x77; 32];
    let Base {
        mut s,
        genesis,
        invite,
        invite_key,
        admit_b,
        ..
    } = base(5);
    let join_c = s.join("C", &invite, &invite_key);
    let admit_c = s.admit("A", &join_c, &[], T);
    let prekey_b = s.prekey("B", 0xb0, &[admit_b.id()]);
    let prekey_c = s.prekey("C", 0xc0, &[admit_c.id()]);
    // D never joined; F joined but was never admitted (a pending joiner may publish a prekey).
    let prekey_d = s.prekey("D", 0xd0, &[genesis.id()]);
    let join_f = s.join("F", &invite, &invite_key);
    let prekey_f = s.prekey("F", 0xf0, &[]);
    // Someone else's prekey cannot be claimed: a copy (with the owner's proof) does not verify
    // for another author...
    let Payload::Prekey { proof: c_proof, .. } = s.prekey_payload("C", &prekey_secret(0xc0)) else {
        unreachable!()
    };
    let copied = s.write(
        "B",
        Payload::Prekey {
            key: pc,
            proof: c_proof,
        },
        &[prekey_c.id()],
        T,
    );
    // ...and even someone who holds the same private key (so can prove it) comes second.
    let shared = s.prekey_payload("B", &prekey_secret(0xc0));
    let taken = s.write("B", shared, &[prekey_c.id()], T);

    let e0 = s.write(
        "A",
        share(vec![], &[pb, pc]),
        &[prekey_b.id(), prekey_c.id()],
        T,
    );
    let removal = s.remove("A", "C", s.count("C"), &[prekey_c.id()]);
    // C's prekey after its removal is void.
    let late_prekey = s.prekey("C", 0xc1, &[removal.id()]);
    let e1 = s.write("A", share(vec![e0.id()], &[pb]), &[], T);
    let to_c = s.write("A", share(vec![], &[pc]), &[], T);
    let to_d = s.write("A", share(vec![], &[pd]), &[prekey_d.id()], T);
    let to_f = s.write("A", share(vec![], &[pf]), &[prekey_f.id(), join_f.id()], T);
    let to_unknown = s.write("A", share(vec![], &[UNKNOWN]), &[], T);
    // Adding a seal to an epoch that does not exist.
    let no_epoch = s.write(
        "A",
        Payload::KeyShare(KeyShare {
            epoch: Some(EventId([9; 32])),
            prev: vec![],
            seals: vec![seal(pb)],
            history: vec![],
            gov: vec![],
            gov_check: None,
        }),
        &[],
        T,
    );

    let st = s.derive();
    assert_valid(&st, &prekey_b);
    assert_valid(&st, &prekey_c);
    assert_valid(&st, &prekey_f);
    assert!(refusal(&st, &prekey_d).is_some());
    assert_refused(&st, &copied, Refusal::PrekeyUnproven);
    assert_refused(&st, &taken, Refusal::PrekeyTaken);
    assert_refused(
        &st,
        &late_prekey,
        Refusal::AfterRemoval {
            author: s.key("C"),
            cut: 2,
        },
    );
    assert_eq!(st.prekeys.get(&pb), Some(&s.key("B")));
    assert_eq!(st.prekeys.get(&pc), Some(&s.key("C")));
    assert_eq!(st.prekeys.get(&pf), Some(&s.key("F")));
    assert_eq!(st.prekeys.get(&pd), None);
    assert_eq!(st.members[&s.key("B")].prekey, Some(pb));

    assert_valid(&st, &e0);
    assert_valid(&st, &e1);
    assert_refused(&st, &to_c, Refusal::SealedToNonMember(pc));
    assert_refused(&st, &to_d, Refusal::SealedToNonMember(pd));
    assert_refused(&st, &to_f, Refusal::SealedToNonMember(pf));
    assert_refused(&st, &to_unknown, Refusal::SealedToNonMember(UNKNOWN));
    assert_refused(&st, &no_epoch, Refusal::UnknownEpoch(EventId([9; 32])));
    for bad in [&to_c, &to_d, &to_f, &to_unknown] {
        assert!(st.epochs[&bad.id()].tainted, "{} not tainted", bad.id());
        assert_ne!(st.writing_epoch(), Some(bad.id()));
    }
    assert!(st.epochs[&to_c.id()].knowers.contains(&s.key("C")));
    // E0 was sealed to C, who is no longer a member: tainted (and superseded by E1).
    assert!(st.epochs[&e0.id()].tainted);
    assert!(st.epochs[&e0.id()].superseded);
    let clean = &st.epochs[&e1.id()];
    assert!(!clean.tainted && !clean.superseded);
    assert_eq!(
        clean.knowers.iter().copied().collect::<Vec<_>>(),
        keys(&s, &["A", "B"])
    );
    assert_eq!(st.writing_epoch(), Some(e1.id()));
    assert!(st.missing_knowers(&e1.id()).is_empty());
    assert!(!st.epochs.contains_key(&EventId([9; 32])));
    // Membership is untouched by all this.
    assert_eq!(members(&st), keys(&s, &["A", "B"]));
    assert!(st.pending.contains_key(&s.key("F")));
}

#[test]
fn prekey_of_someone_who_never_joined_is_refused_as_without_join() {
    let (mut s, genesis) = Scenario::new("A", Constitution::default());
    let prekey = s.prekey("D", 0xd0, &[genesis.id()]);
    let st = s.derive();
    assert_refused(&st, &prekey, Refusal::PrekeyWithoutJoin);
    assert!(st.prekeys.is_empty());
}

// 8. Concurrency: removal wins, revoke wins; re-admission after removal.

/// A; A2 (admin, granted by A); B; C.
struct Four {
    s: Scenario,
    invite: VerifiedEvent,
    invite_key: Identity,
    admit_a2: VerifiedEvent,
    make_admin: VerifiedEvent,
    join_c: VerifiedEvent,
    admit_c: VerifiedEvent,
    admit_b: VerifiedEvent,
}

fn four() -> Four {
    let (mut s, _) = Scenario::new("A", Constitution::default());
    let (invite, invite_key) = s.invite("A", 10, NEVER, &[]);
    let join_a2 = s.join("A2", &invite, &invite_key);
    let admit_a2 = s.admit("A", &join_a2, &[], T);
    let make_admin = s.role("A", "A2", "admin", true, &[]);
    let join_b = s.join("B", &invite, &invite_key);
    let admit_b = s.admit("A", &join_b, &[], T);
    let join_c = s.join("C", &invite, &invite_key);
    let admit_c = s.admit("A", &join_c, &[], T);
    Four {
        s,
        invite,
        invite_key,
        admit_a2,
        make_admin,
        join_c,
        admit_c,
        admit_b,
    }
}

#[test]
fn second_admin_is_granted() {
    let f = four();
    let st = f.s.derive();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    assert_valid(&st, &f.admit_a2);
    assert_eq!(members(&st), keys(&f.s, &["A", "A2", "B", "C"]));
    assert!(st.members[&f.s.key("A2")].roles.contains("admin"));
}

#[test]
fn admission_concurrent_with_removal_loses() {
    let Four {
        mut s,
        make_admin,
        join_c,
        admit_c,
        ..
    } = four();
    let removal = s.remove("A", "C", s.count("C"), &[]);
    // A2 has not seen the removal and admits C again with the same join.
    let readmit = s.admit("A2", &join_c, &[make_admin.id(), admit_c.id()], T);
    let st = s.derive();
    assert_valid(&st, &removal);
    // Valid at its own causal point, but it does not count against a concurrent removal.
    assert_valid(&st, &readmit);
    assert_eq!(members(&st), keys(&s, &["A", "A2", "B"]));
    assert_eq!(st.removed[&s.key("C")].event, removal.id());
    assert!(!st.pending.contains_key(&s.key("C")));

    // A post by C that has seen both the removal and the concurrent re-admission is past the
    // cut: no admission in its past follows the removal.
    let post = s.post("C", "am I in?", &[readmit.id(), removal.id()]);
    let st = s.derive();
    assert_refused(
        &st,
        &post,
        Refusal::AfterRemoval {
            author: s.key("C"),
            cut: 1,
        },
    );
}

#[test]
fn readmission_after_removal_counts() {
    let Four { mut s, .. } = four();
    let removal = s.remove("A", "C", s.count("C"), &[]);
    let (invite2, key2) = s.invite("A", 1, NEVER, &[]);
    let join2 = s.join("C", &invite2, &key2);
    // Written before C saw its re-admission: past the cut, no re-admission in its past.
    let stale = s.post("C", "waiting", &[]);
    let readmit = s.admit("A", &join2, &[], T);
    let post = s.post("C", "back again", &[readmit.id()]);
    let st = s.derive();
    assert_valid(&st, &removal);
    assert_valid(&st, &join2);
    assert_valid(&st, &readmit);
    assert_refused(
        &st,
        &stale,
        Refusal::AfterRemoval {
            author: s.key("C"),
            cut: 1,
        },
    );
    assert_valid(&st, &post);
    assert_eq!(members(&st), keys(&s, &["A", "A2", "B", "C"]));
    assert!(!st.removed.contains_key(&s.key("C")));
    assert!(st.pending.is_empty());
}

#[test]
fn revoke_concurrent_with_grant_wins() {
    let Four {
        mut s,
        make_admin,
        admit_b,
        ..
    } = four();
    let grant = s.role("A", "B", "moderator", true, &[]);
    let revoke = s.role(
        "A2",
        "B",
        "moderator",
        false,
        &[make_admin.id(), admit_b.id()],
    );
    let st = s.derive();
    assert_valid(&st, &grant);
    assert_valid(&st, &revoke);
    assert!(st.members[&s.key("B")].roles.is_empty());
    assert!(!st.allows(&Rule::Role("moderator".into()), &s.key("B")));

    // A grant that follows the revoke restores the role.
    let again = s.role("A", "B", "moderator", true, &[revoke.id()]);
    let st = s.derive();
    assert_valid(&st, &again);
    assert_eq!(
        st.members[&s.key("B")].roles.iter().collect::<Vec<_>>(),
        ["moderator"]
    );
    assert_eq!(members(&st), keys(&s, &["A", "A2", "B", "C"]));
}

#[test]
fn revoked_admin_keeps_what_it_did_before_but_loses_the_right() {
    let Four {
        mut s,
        make_admin,
        admit_c,
        ..
    } = four();
    // A2 removes C without knowing A is concurrently revoking its admin role: judged at its
    // causal point, where A2 was admin.
    let revoke = s.role("A", "A2", "admin", false, &[]);
    let removal = s.remove("A2", "C", s.count("C"), &[make_admin.id(), admit_c.id()]);
    // After seeing the revoke, A2 may no longer remove.
    let second = s.remove("A2", "B", 1, &[revoke.id()]);
    let st = s.derive();
    assert_valid(&st, &revoke);
    assert_valid(&st, &removal);
    assert_refused(
        &st,
        &second,
        Refusal::NoRight {
            action: "remove members",
            rule: "role:admin".into(),
        },
    );
    assert_eq!(members(&st), keys(&s, &["A", "A2", "B"]));
    assert!(st.members[&s.key("A2")].roles.is_empty());
}

// 9. Order independence.

fn big_scenario() -> Scenario {
    let Four {
        mut s,
        invite,
        invite_key,
        make_admin,
        admit_b,
        admit_c,
        ..
    } = four();
    let p_b = s.post("B", "first", &[admit_b.id()]);
    let _ = s.write(
        "C",
        Payload::Comment {
            parent: p_b.id(),
            text: "reply".into(),
        },
        &[admit_c.id(), p_b.id()],
        T,
    );
    let (single, single_key) = s.invite("B", 1, NEVER, &[admit_b.id()]);
    let join_d = s.join("D", &single, &single_key);
    let join_e = s.join("E", &single, &single_key);
    // Concurrent admissions with the same single-use invite: both count at their points.
    let admit_d = s.admit("B", &join_d, &[], T);
    let _ = s.admit("C", &join_e, &[single.id()], T);
    let forged = s.join("F", &invite, &single_key);
    let _ = s.admit("A", &forged, &[], T);
    let _ = s.post("F", "sneaking in", &[]);
    let _ = s.role("A", "B", "moderator", true, &[p_b.id()]);
    let _ = s.role(
        "A2",
        "B",
        "moderator",
        false,
        &[make_admin.id(), admit_b.id()],
    );
    let _ = s.role("A", "D", "treasurer", true, &[admit_d.id()]);
    let pk_b = s.prekey("B", 0xb0, &[]);
    let pk_c = s.prekey("C", 0xc0, &[]);
    let e0 = s.write(
        "A",
        share(vec![], &[prekey_public(0xb0), prekey_public(0xc0)]),
        &[pk_b.id(), pk_c.id()],
        T,
    );
    let removal = s.remove("A2", "C", s.count("C"), &[pk_c.id(), make_admin.id()]);
    let _ = s.post("C", "backdated", &[admit_c.id()]);
    let _ = s.write(
        "A",
        share(vec![e0.id()], &[prekey_public(0xb0)]),
        &[removal.id()],
        T,
    );
    let _ = s.write("A", share(vec![], &[prekey_public(0xc0)]), &[], T);
    let _ = s.write(
        "A",
        Payload::Amend(Constitution {
            invite: Rule::Role("moderator".into()),
            ..Constitution::default()
        }),
        &[],
        T,
    );
    let _ = s.invite("D", 1, NEVER, &[admit_d.id()]);
    let _ = s.write("D", Payload::Leave, &[], T);
    let _ = s.post("D", "gone", &[]);
    let _ = s.post("A2", "meeting at 6", &[]);
    let _ = s.remove("B", "A2", 1, &[]);
    let _ = s.join("G", &invite, &invite_key);
    s
}

#[test]
fn any_input_order_gives_the_same_state() {
    let s = big_scenario();
    assert!(s.events.len() >= 30, "{}", s.events.len());
    let reference = s.derive();
    // The scenario exercises the rules (so equality is not trivially about empty state).
    assert!(reference.rejected.len() >= 5, "{:?}", reference.rejected);
    assert!(!reference.removed.is_empty());
    assert!(!reference.epochs.is_empty());
    assert_ne!(reference.constitution, Constitution::default());
    assert!(reference.members.len() >= 4);

    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..50 {
        let mut shuffled = s.events.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        if round % 5 == 0 {
            // Duplicates are ignored.
            let k = (next() % shuffled.len() as u64) as usize;
            shuffled.push(shuffled[k].clone());
        }
        let other = GroupState::derive(&s.network, s.group, &shuffled);
        assert_eq!(reference, other, "round {round}");
    }
}

// 10. Non-members, missing rights, unknown roles, decisions.

#[test]
fn non_member_events_are_refused() {
    let Base {
        mut s,
        genesis,
        invite,
        invite_key,
        admit_b,
        ..
    } = base(5);
    let stranger = s.post("E", "hi all", &[genesis.id()]);
    let join_f = s.join("F", &invite, &invite_key);
    let pending = s.post("F", "am I in yet?", &[join_f.id()]);
    let invite_by_stranger = s.invite("E", 1, NEVER, &[]).0;
    let st = s.derive();
    assert_refused(&st, &stranger, Refusal::NotMember(s.key("E")));
    assert_refused(&st, &pending, Refusal::NotMember(s.key("F")));
    assert_refused(&st, &invite_by_stranger, Refusal::NotMember(s.key("E")));
    assert!(!st.invites.contains_key(&invite_by_stranger.id()));
    assert_eq!(members(&st), keys(&s, &["A", "B"]));
    assert!(st.pending.contains_key(&s.key("F")));
    assert_valid(&st, &admit_b);
}

#[test]
fn rights_and_roles_follow_the_constitution() {
    let Base { mut s, admit_b, .. } = base(5);
    let tighter = Constitution {
        invite: Rule::Role("admin".into()),
        ..Constitution::default()
    };
    let by_b = s.write("B", Payload::Amend(tighter.clone()), &[admit_b.id()], T);
    let role_by_b = s.role("B", "B", "admin", true, &[]);
    let unknown = s.role("A", "B", "treasurer", true, &[]);
    let to_stranger = s.role("A", "Z", "moderator", true, &[]);
    let invite_before = s.invite("B", 1, NEVER, &[]).0;
    let st = s.derive();
    assert_refused(
        &st,
        &by_b,
        Refusal::NoRight {
            action: "amend the constitution",
            rule: "role:admin".into(),
        },
    );
    assert_refused(
        &st,
        &role_by_b,
        Refusal::NoRight {
            action: "change roles",
            rule: "role:admin".into(),
        },
    );
    assert_refused(&st, &unknown, Refusal::UnknownRole("treasurer".into()));
    assert_refused(&st, &to_stranger, Refusal::TargetNotMember(s.key("Z")));
    assert_valid(&st, &invite_before);
    assert_eq!(st.constitution, Constitution::default());
    assert!(st.members[&s.key("B")].roles.is_empty());

    // The admin's amendment is in force from its causal point on.
    let amend = s.write("A", Payload::Amend(tighter.clone()), &[], T);
    let invite_after = s.invite("B", 1, NEVER, &[amend.id()]).0;
    let st = s.derive();
    assert_valid(&st, &amend);
    assert_eq!(st.constitution, tighter);
    assert_valid(&st, &invite_before);
    assert_refused(
        &st,
        &invite_after,
        Refusal::NoRight {
            action: "invite",
            rule: "role:admin".into(),
        },
    );
    assert_eq!(members(&st), keys(&s, &["A", "B"]));
}

#[test]
fn decisions_by_vote_are_not_taken() {
    let (mut s, _) = Scenario::new(
        "A",
        Constitution {
            amend: Rule::Vote,
            ..Constitution::default()
        },
    );
    let amend = s.write("A", Payload::Amend(Constitution::default()), &[], T);
    let role = s.role("A", "A", "moderator", true, &[]);
    let st = s.derive();
    assert_refused(
        &st,
        &amend,
        Refusal::NeedsDecision("amend the constitution"),
    );
    assert_refused(&st, &role, Refusal::NeedsDecision("change roles"));
    assert_eq!(st.constitution.amend, Rule::Vote);
    // The creator still holds the first role.
    assert_eq!(
        st.members[&s.key("A")].roles.iter().collect::<Vec<_>>(),
        ["admin"]
    );
}

#[test]
fn concurrent_amendments_latest_in_causal_order_wins() {
    let Base { mut s, admit_b, .. } = base(5);
    let role = s.role("A", "B", "admin", true, &[admit_b.id()]);
    let one = Constitution {
        history: false,
        ..Constitution::default()
    };
    let two = Constitution {
        forget_after_days: 30,
        ..Constitution::default()
    };
    let by_a = s.write("A", Payload::Amend(one.clone()), &[], T);
    let by_b = s.write("B", Payload::Amend(two.clone()), &[role.id()], T);
    let st = s.derive();
    assert_valid(&st, &by_a);
    assert_valid(&st, &by_b);
    // Concurrent: ties by id.
    let expected = if by_a.id() > by_b.id() { one } else { two };
    assert_eq!(st.constitution, expected);
    // One that follows both is in force.
    let three = Constitution {
        history: false,
        forget_after_days: 7,
        ..Constitution::default()
    };
    let last = s.write("A", Payload::Amend(three.clone()), &[by_b.id()], T);
    let st = s.derive();
    assert_valid(&st, &last);
    assert_eq!(st.constitution, three);
}
