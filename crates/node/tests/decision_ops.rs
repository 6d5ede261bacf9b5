//! Decision operations (`ops::apply` with `Op::Propose`, `Vote`, `Close`, `Revise`, `Delegate`)
//! between real stores and keys, events copied by hand as a bundle would.
//!
//! What it proves:
//!
//! * bad input of every kind gets an error that says what was wrong, and **nothing is written**:
//!   the group's event count is unchanged (an op that appended first and reported the group's
//!   refusal afterwards would leave a refused event in the log);
//! * admission by vote works end to end: a direct admission is refused, a passed `--admit-member`
//!   proposal admits the pending newcomer, the proposer's node hands them the key, and they read
//!   what is written afterwards;
//! * removal by vote works end to end: the removed member is no longer a member once the close is
//!   derived, and the next post (under a rotated key) is readable by the remaining members only.
//! * a member whose clock has passed an open proposal's deadline, and who wrote nothing since,
//!   writes exactly one witness (a merge citing the heads), so fallback closes have evidence.
#![allow(clippy::unwrap_used)]

mod common;
use common::{
    Member, apply, count, create, exchange, member, post, refused, state, texts, try_apply,
};

use dualpower_core::{GroupId, Identity, Payload};
use dualpower_node::ops::{self, ConstitutionArgs, Op};
use serde_json::Value;

/// `a` invites `newcomer`, who joins with the code; everyone in `all` exchanges events.
fn invite_and_join(a: &Member, newcomer: &Member, all: &[&Member], group: GroupId, now: u64) {
    let code = apply(
        a,
        Op::Invite {
            group: group.to_hex(),
            expires_secs: 3_600,
            uses: 1,
            addrs: vec![],
        },
        now,
    )["code"]
        .as_str()
        .unwrap()
        .to_owned();
    exchange(all, group);
    apply(newcomer, Op::Join { code }, now + 1);
    exchange(all, group);
}

/// `a` invites `newcomer`, who joins; `a`'s node admits and welcomes them (admission by invite).
fn admit_normally(a: &Member, newcomer: &Member, all: &[&Member], group: GroupId, now: u64) {
    invite_and_join(a, newcomer, all, group, now);
    ops::run_agent(&a.store, &a.id, group, now + 2).unwrap();
    ops::run_agent(&a.store, &a.id, group, now + 3).unwrap();
    exchange(all, group);
    assert!(state(a, group).is_member(&newcomer.id.public()));
}

/// A proposal as typed at the CLI; `op` turns it into `Op::Propose`.
#[derive(Default)]
struct Prop<'a> {
    title: &'a str,
    method: Option<&'a str>,
    options: &'a [&'a str],
    electorate: Option<&'a str>,
    discuss: bool,
    deadline_secs: u64,
    amend: Option<ConstitutionArgs>,
    remove: Option<String>,
    admit: Option<String>,
}

impl Prop<'_> {
    fn op(self, group: GroupId) -> Op {
        Op::Propose {
            group: group.to_hex(),
            title: self.title.into(),
            body: String::new(),
            options: self.options.iter().map(|s| (*s).to_owned()).collect(),
            method: self.method.map(Into::into),
            electorate: self.electorate.map(Into::into),
            topic: String::new(),
            discuss: self.discuss,
            deadline_secs: self.deadline_secs,
            amend: self.amend.map(Box::new),
            remove: self.remove,
            admit: self.admit,
            grant_role: None,
            revoke_role: None,
            tasks: Vec::new(),
            set_limit: None,
        }
    }
}

/// Proposes and returns the proposal id.
fn propose(m: &Member, group: GroupId, p: Prop<'_>, now: u64) -> String {
    let v = apply(m, p.op(group), now);
    v["id"].as_str().unwrap().to_owned()
}

fn vote_op(group: GroupId, proposal: &str, ballot: &str, reason: &str) -> Op {
    Op::Vote {
        group: group.to_hex(),
        proposal: proposal.into(),
        ballot: ballot.into(),
        reason: reason.into(),
    }
}

fn vote(m: &Member, group: GroupId, proposal: &str, ballot: &str, now: u64) -> Value {
    apply(m, vote_op(group, proposal, ballot, ""), now)
}

fn close_op(group: GroupId, proposal: &str) -> Op {
    Op::Close {
        group: group.to_hex(),
        proposal: proposal.into(),
    }
}

fn delegate_op(
    group: GroupId,
    to: Option<String>,
    topic: Option<&str>,
    proposal: Option<&str>,
) -> Op {
    Op::Delegate {
        group: group.to_hex(),
        to,
        topic: topic.map(Into::into),
        proposal: proposal.map(Into::into),
        nobody: false,
    }
}

fn revise_op(group: GroupId, proposal: &str, title: &str, options: Option<&[&str]>) -> Op {
    Op::Revise {
        group: group.to_hex(),
        proposal: proposal.into(),
        title: Some(title.into()),
        body: None,
        options: options.map(|o| o.iter().map(|s| (*s).to_owned()).collect()),
    }
}

// ---- 1. Bad input gets a clear error and loses nothing ----

#[test]
fn bad_proposals_get_a_clear_error_and_write_nothing() {
    let a = member();
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    let now = 2_000;
    let p = |title, method, options| Prop {
        title,
        method,
        options,
        ..Default::default()
    };
    refused(
        &a,
        g,
        p("Lunch", Some("ranked"), &[]).op(g),
        now,
        "unknown method `ranked`",
    );
    refused(
        &a,
        g,
        p("Lunch", Some("majority"), &["pizza", "soup"]).op(g),
        now,
        "has fixed options; do not name any",
    );
    refused(
        &a,
        g,
        p("Lunch", Some("plurality"), &["pizza"]).op(g),
        now,
        "needs at least two options",
    );
    // Ballots name options case-insensitively, so options may not differ by case alone.
    refused(
        &a,
        g,
        p("Lunch", Some("plurality"), &["Pizza", "pizza"]).op(g),
        now,
        "option `pizza` is named twice",
    );
    // Quadratic votes are personal: no delegation on such a proposal.
    let q = propose(
        &a,
        g,
        p("Garden", Some("quadratic"), &["beds", "shed"]),
        now,
    );
    refused(
        &a,
        g,
        Op::Delegate {
            group: g.to_hex(),
            to: Some(a.id.public().to_hex()),
            topic: None,
            proposal: Some(q),
            nobody: false,
        },
        now,
        "cannot be delegated",
    );
    refused(
        &a,
        g,
        p("Repairs", Some("budget:total=100"), &["roof=60", "door"]).op(g),
        now,
        "budget option `door` needs a cost",
    );
    refused(
        &a,
        g,
        Prop {
            title: "Admins only",
            method: Some("majority"),
            electorate: Some("role:nosuch"),
            ..Default::default()
        }
        .op(g),
        now,
        "no role `nosuch`",
    );
    for title in ["", "   "] {
        refused(
            &a,
            g,
            p(title, Some("majority"), &[]).op(g),
            now,
            "`title` must not be empty",
        );
    }
    // Nothing was proposed but the quadratic one.
    assert_eq!(state(&a, g).proposals.len(), 1);
    assert!(state(&a, g).rejected.is_empty());
}

#[test]
fn bad_votes_get_a_clear_error_and_write_nothing() {
    let a = member();
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    let mut now = 2_000;
    let mut prop = |method: &str, options: &'static [&'static str]| {
        now += 10;
        propose(
            &a,
            g,
            Prop {
                title: "Question",
                method: Some(method),
                options,
                ..Default::default()
            },
            now,
        )
    };
    let plurality = prop("plurality", &["pizza", "soup"]);
    let score = prop("score", &["pizza", "soup"]);
    let dot = prop("dot:dots=3", &["pizza", "soup"]);
    let consent = prop("consent", &[]);
    let budget = prop("budget:total=100", &["roof=60", "door=50"]);
    let quadratic = prop("quadratic", &["pizza", "soup"]);
    let now = now + 100;

    refused(
        &a,
        g,
        vote_op(g, &"0".repeat(64), "yes", ""),
        now,
        "no proposal `0000",
    );
    refused(
        &a,
        g,
        vote_op(g, &plurality[..3], "pizza", ""),
        now,
        "is not a proposal id (at least 4 hex digits",
    );
    refused(
        &a,
        g,
        vote_op(g, &plurality, "curry", ""),
        now,
        "`curry` is not an option; the options are 1 pizza, 2 soup",
    );
    refused(
        &a,
        g,
        vote_op(g, &score, "7,0", ""),
        now,
        "option 1: 7 is outside 0 to 5",
    );
    refused(
        &a,
        g,
        vote_op(g, &dot, "2,2", ""),
        now,
        "gives 4 dots but each voter has 3",
    );
    refused(
        &a,
        g,
        vote_op(g, &consent, "block", ""),
        now,
        "a block must give a reason",
    );
    refused(
        &a,
        g,
        vote_op(g, &budget, "roof,door", ""),
        now,
        "the basket costs 110, more than the budget of 100",
    );
    // 10² + 1² = 101 voice credits; the default constitution gives 100.
    refused(
        &a,
        g,
        vote_op(g, &quadratic, "10,1", ""),
        now,
        "this vote costs 101 voice credits",
    );

    // The quadratic budget is per period, across proposals: 36 + 64 fits, one more does not.
    let other = propose(
        &a,
        g,
        Prop {
            title: "Another",
            method: Some("quadratic"),
            options: &["tea", "coffee"],
            ..Default::default()
        },
        now,
    );
    vote(&a, g, &quadratic, "6,0", now + 1);
    refused(
        &a,
        g,
        vote_op(g, &other, "8,1", ""),
        now + 2,
        "you have 64 left this period",
    );
    vote(&a, g, &other, "8,0", now + 3);

    // Still in discussion.
    let discussed = propose(
        &a,
        g,
        Prop {
            title: "Talk first",
            method: Some("majority"),
            discuss: true,
            ..Default::default()
        },
        now + 10,
    );
    refused(
        &a,
        g,
        vote_op(g, &discussed, "yes", ""),
        now + 11,
        "the proposal is still in discussion: voting has not opened yet",
    );

    // Closed.
    let closed = propose(
        &a,
        g,
        Prop {
            title: "Quick one",
            method: Some("majority"),
            ..Default::default()
        },
        now + 20,
    );
    vote(&a, g, &closed, "yes", now + 21);
    apply(&a, close_op(g, &closed), now + 22);
    refused(
        &a,
        g,
        vote_op(g, &closed, "no", ""),
        now + 23,
        "the proposal is closed: votes no longer count",
    );

    // None of the refused votes was recorded.
    let st = state(&a, g);
    assert!(st.rejected.is_empty(), "refused events: {:?}", st.rejected);
    for p in [&plurality, &score, &dot, &consent, &budget] {
        let ps = st.proposals.values().find(|x| x.id.to_hex() == *p).unwrap();
        assert!(ps.votes.is_empty());
    }
}

#[test]
fn bad_closes_revisions_and_delegations_get_a_clear_error_and_write_nothing() {
    let (a, b) = (member(), member());
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    admit_normally(&a, &b, &[&a, &b], g, 2_000);
    let now = 10_000;

    // Close by a non-author: before the deadline, and with no deadline at all.
    let timed = propose(
        &a,
        g,
        Prop {
            title: "Timed",
            method: Some("majority"),
            deadline_secs: 3_600,
            ..Default::default()
        },
        now,
    );
    let open_ended = propose(
        &a,
        g,
        Prop {
            title: "Open-ended",
            method: Some("majority"),
            ..Default::default()
        },
        now + 1,
    );
    exchange(&[&a, &b], g);
    refused(
        &b,
        g,
        close_op(g, &timed),
        now + 2,
        "only the proposal's author may close it before its deadline",
    );
    refused(
        &b,
        g,
        close_op(g, &open_ended),
        now + 3,
        "only the proposal's author may close it (it has no deadline)",
    );
    // After the deadline by B's clock alone: refused before writing (the derived state would
    // refuse a close without another member's evidence that the deadline has passed).
    refused(
        &b,
        g,
        close_op(g, &timed),
        now + 3_600_000,
        "no other member's event dated after the deadline",
    );
    // Once A's node has witnessed the deadline, a member of the electorate may.
    ops::decisions::witness_deadlines(&a.store, &a.id, g, now + 3_600_000)
        .unwrap()
        .expect("A witnesses the passed deadline");
    exchange(&[&a, &b], g);
    apply(&b, close_op(g, &timed), now + 3_600_000);
    // Closing again, by anyone.
    refused(
        &b,
        g,
        close_op(g, &timed),
        now + 3_600_001,
        "the proposal is closed: votes no longer count",
    );
    exchange(&[&a, &b], g);
    refused(
        &a,
        g,
        close_op(g, &timed),
        now + 3_600_002,
        "the proposal is closed: votes no longer count",
    );

    // Revise by a non-author; revise after voting opened.
    let draft = propose(
        &a,
        g,
        Prop {
            title: "Draft",
            method: Some("plurality"),
            options: &["red", "blue"],
            discuss: true,
            ..Default::default()
        },
        now + 10,
    );
    exchange(&[&a, &b], g);
    refused(
        &b,
        g,
        revise_op(g, &draft, "Hijacked", None),
        now + 11,
        "only the proposal's author may revise it",
    );
    refused(
        &a,
        g,
        revise_op(g, &open_ended, "Too late", None),
        now + 12,
        "voting on this proposal is open, so its text is frozen",
    );
    // The author may revise the draft (sanity check that the refusals above were specific).
    apply(&a, revise_op(g, &draft, "Draft, revised", None), now + 13);

    // Open and withdraw are the author's; a proposal for admins is voted on by admins.
    refused(
        &b,
        g,
        Op::OpenVoting {
            group: g.to_hex(),
            proposal: draft.clone(),
        },
        now + 14,
        "only the proposal's author may open voting",
    );
    refused(
        &a,
        g,
        Op::OpenVoting {
            group: g.to_hex(),
            proposal: open_ended.clone(),
        },
        now + 15,
        "voting on this proposal is already open",
    );
    refused(
        &b,
        g,
        Op::Withdraw {
            group: g.to_hex(),
            proposal: open_ended.clone(),
        },
        now + 16,
        "only the proposal's author may withdraw it",
    );
    refused(
        &a,
        g,
        Op::Withdraw {
            group: g.to_hex(),
            proposal: timed.clone(),
        },
        now + 17,
        "the proposal is already closed",
    );
    let admins = propose(
        &a,
        g,
        Prop {
            title: "Admins decide",
            method: Some("majority"),
            electorate: Some("role:admin"),
            ..Default::default()
        },
        now + 18,
    );
    exchange(&[&a, &b], g);
    refused(
        &b,
        g,
        vote_op(g, &admins, "yes", ""),
        now + 19,
        "only `role:admin` vote on this proposal",
    );

    // Delegation: to oneself, to a non-member, with two scopes.
    refused(
        &a,
        g,
        delegate_op(g, Some(a.did()), None, None),
        now + 20,
        "you cannot delegate to yourself",
    );
    let stranger = Identity::generate().public().to_did();
    refused(
        &a,
        g,
        delegate_op(g, Some(stranger.clone()), None, None),
        now + 21,
        &format!("{stranger} is not a member of this group"),
    );
    refused(
        &a,
        g,
        delegate_op(g, Some(b.did()), Some("budget"), Some(&open_ended)),
        now + 22,
        "give --topic or --proposal, not both",
    );

    let st = state(&a, g);
    assert!(st.rejected.is_empty(), "refused events: {:?}", st.rejected);
    assert!(st.delegations.is_empty() || st.delegations.values().all(|d| d.is_empty()));
}

#[test]
fn an_amendment_the_constitution_does_not_put_to_a_vote_is_refused_before_writing() {
    let a = member();
    // Default constitution: `amend` is `role:admin`, so the admin amends directly.
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    refused(
        &a,
        g,
        Prop {
            title: "No history for newcomers",
            amend: Some(ConstitutionArgs {
                history: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }
        .op(g),
        2_000,
        "the constitution lets `role:admin` do this directly",
    );
    // Likewise a removal (`removal` is `role:admin`) and an admission (`admission` is `invite`).
    let b = member();
    admit_normally(&a, &b, &[&a, &b], g, 3_000);
    refused(
        &a,
        g,
        Prop {
            title: "Remove B",
            remove: Some(b.did()),
            ..Default::default()
        }
        .op(g),
        4_000,
        "the constitution lets `role:admin` do this directly",
    );
    let c = member();
    invite_and_join(&a, &c, &[&a, &c], g, 5_000);
    assert!(state(&a, g).pending.contains_key(&c.id.public()));
    refused(
        &a,
        g,
        Prop {
            title: "Admit C",
            admit: Some(c.did()),
            ..Default::default()
        }
        .op(g),
        6_000,
        "do this directly",
    );
    let st = state(&a, g);
    assert!(st.rejected.is_empty(), "refused events: {:?}", st.rejected);
    assert!(st.proposals.is_empty());
}

#[test]
fn an_amendment_by_another_method_than_the_constitutions_is_refused_before_writing() {
    let a = member();
    let g = create(
        &a,
        ConstitutionArgs {
            amend: Some("vote".into()),
            ..Default::default()
        },
        1_000,
    );
    refused(
        &a,
        g,
        Prop {
            title: "No history for newcomers",
            method: Some("majority"),
            amend: Some(ConstitutionArgs {
                history: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }
        .op(g),
        2_000,
        "the constitution decides this by `majority:threshold=2/3,quorum=1/2`, not `majority`",
    );
    refused(
        &a,
        g,
        Prop {
            title: "No history for newcomers",
            electorate: Some("role:admin"),
            amend: Some(ConstitutionArgs {
                history: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }
        .op(g),
        2_001,
        "every member decides changes to the constitution",
    );
    assert!(state(&a, g).rejected.is_empty());
}

#[test]
fn a_revision_whose_options_do_not_fit_the_method_is_refused_before_writing() {
    let a = member();
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    let yes_no = propose(
        &a,
        g,
        Prop {
            title: "Yes or no",
            method: Some("majority"),
            discuss: true,
            ..Default::default()
        },
        2_000,
    );
    let pick = propose(
        &a,
        g,
        Prop {
            title: "Pick one",
            method: Some("plurality"),
            options: &["red", "blue"],
            discuss: true,
            ..Default::default()
        },
        2_001,
    );
    // Both cases are tried (each on its own proposal) so the failure lists every one that wrote.
    let mut wrote = Vec::new();
    for (proposal, options, needle) in [
        (
            &yes_no,
            &["maybe", "later"][..],
            "has fixed options; do not name any",
        ),
        (&pick, &["red"][..], "needs at least two options"),
    ] {
        let before = count(&a, g);
        let err = try_apply(&a, revise_op(g, proposal, "Revised", Some(options)), 3_000)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(needle),
            "error `{err}` does not say `{needle}`"
        );
        if count(&a, g) != before {
            wrote.push(format!("{options:?}: `{err}`"));
        }
    }
    assert!(
        wrote.is_empty(),
        "refused revisions were written: {wrote:?}"
    );
    assert!(state(&a, g).rejected.is_empty());
}

// ---- 2. Admission by vote ----

#[test]
fn admission_by_vote_end_to_end() {
    let (a, b) = (member(), member());
    let g = create(
        &a,
        ConstitutionArgs {
            admission: Some("vote".into()),
            ..Default::default()
        },
        1_000,
    );
    post(&a, g, "before B", 2_000);
    invite_and_join(&a, &b, &[&a, &b], g, 3_000);
    let bk = b.id.public();
    assert!(state(&a, g).pending.contains_key(&bk));
    // A's node does not admit by itself: admission is by vote.
    ops::run_agent(&a.store, &a.id, g, 3_100).unwrap();
    assert!(!state(&a, g).is_member(&bk));

    // A direct admission is refused, and writes nothing.
    refused(
        &a,
        g,
        Op::Admit {
            group: g.to_hex(),
            member: b.did(),
        },
        4_000,
        "only a vote may admit members; propose it instead",
    );

    // Admit by proposal: the method is the constitution's vote method.
    let v = apply(
        &a,
        Prop {
            title: "Admit B",
            admit: Some(b.did()),
            ..Default::default()
        }
        .op(g),
        5_000,
    );
    assert_eq!(v["method"], "majority:threshold=2/3,quorum=1/2");
    assert_eq!(v["action"], true);
    let pid = v["id"].as_str().unwrap().to_owned();
    vote(&a, g, &pid, "yes", 5_001);
    let closed = apply(&a, close_op(g, &pid), 5_002);
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["enacted"], true, "{closed}");
    let st = state(&a, g);
    assert!(st.is_member(&bk));
    assert!(!st.pending.contains_key(&bk));
    assert!(st.rejected.is_empty(), "refused events: {:?}", st.rejected);

    // The proposer's node welcomes the newcomer it admitted.
    for t in 0..3 {
        ops::run_agent(&a.store, &a.id, g, 6_000 + t).unwrap();
    }
    exchange(&[&a, &b], g);
    ops::run_agent(&b.store, &b.id, g, 7_000).unwrap();
    exchange(&[&a, &b], g);
    assert!(state(&b, g).is_member(&bk));

    post(&a, g, "after B", 8_000);
    exchange(&[&a, &b], g);
    let seen = texts(&b, g, 9_000);
    assert!(seen.contains(&"after B".to_owned()), "B sees {seen:?}");
    // History is on (the default), so B also reads what came before.
    assert!(seen.contains(&"before B".to_owned()), "B sees {seen:?}");
    // And B can write as a member.
    post(&b, g, "hello from B", 9_500);
    exchange(&[&a, &b], g);
    assert!(texts(&a, g, 10_000).contains(&"hello from B".to_owned()));
}

// ---- 3. Removal by vote ----

#[test]
fn removal_by_vote_end_to_end() {
    let (a, b, c) = (member(), member(), member());
    let all = [&a, &b, &c];
    let g = create(
        &a,
        ConstitutionArgs {
            removal: Some("vote".into()),
            ..Default::default()
        },
        1_000,
    );
    admit_normally(&a, &b, &all, g, 2_000);
    admit_normally(&a, &c, &all, g, 3_000);
    post(&a, g, "all three", 4_000);
    exchange(&all, g);
    for m in all {
        assert_eq!(texts(m, g, 4_500), ["all three"]);
    }
    let ck = c.id.public();

    // A direct removal is refused, and writes nothing.
    refused(
        &a,
        g,
        Op::Remove {
            group: g.to_hex(),
            member: c.did(),
            reason: "no".into(),
        },
        5_000,
        "the group's rules say only a vote may remove members",
    );

    let pid = propose(
        &a,
        g,
        Prop {
            title: "Remove C: broke the rules",
            remove: Some(c.did()),
            ..Default::default()
        },
        6_000,
    );
    vote(&a, g, &pid, "yes", 6_001);
    exchange(&all, g);
    vote(&b, g, &pid, "yes", 6_002);
    exchange(&all, g);
    let closed = apply(&a, close_op(g, &pid), 7_000);
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["enacted"], true, "{closed}");
    let st = state(&a, g);
    assert!(!st.is_member(&ck));
    assert!(st.is_member(&b.id.public()));
    assert!(st.rejected.is_empty(), "refused events: {:?}", st.rejected);

    // The next post rotates the key; C cannot read it, B can.
    post(&a, g, "after C", 8_000);
    exchange(&all, g);
    assert!(!state(&b, g).is_member(&ck));
    // (The feed also lists the proposal itself, as "Proposal: …".)
    let b_sees = texts(&b, g, 9_000);
    assert!(b_sees.contains(&"after C".to_owned()), "B sees {b_sees:?}");
    assert!(
        b_sees.contains(&"all three".to_owned()),
        "B sees {b_sees:?}"
    );
    let c_sees = texts(&c, g, 9_000);
    assert!(!c_sees.contains(&"after C".to_owned()), "C sees {c_sees:?}");
    assert!(
        c_sees.contains(&"all three".to_owned()),
        "C sees {c_sees:?}"
    );
}

/// A close counts everything its node holds, even when the group has more active logs than
/// one event may cite: the node first writes merge events citing the other heads.
#[test]
fn a_close_brings_every_log_head_into_its_past_through_merges() {
    use dualpower_core::{Draft, EventId};
    use std::collections::{HashMap, HashSet};

    let a = member();
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    let p = propose(
        &a,
        g,
        Prop {
            title: "Lunch",
            method: Some("majority"),
            ..Default::default()
        },
        2_000,
    );
    // 20 other logs reach A's store (their authors are not members, so state refuses their
    // events, but they are stored events a close can cite like any others).
    let mut heads = Vec::new();
    for i in 0..20u8 {
        let author = Identity::from_seed(&[i + 1; 32]);
        let ev = Draft {
            group: g,
            log: 0,
            seq: 0,
            backlink: None,
            deps: vec![],
            timestamp: 3_000,
            body: Payload::Post { text: "hi".into() }.encode(),
            flags: 0,
        }
        .sign(&author, a.store.network())
        .unwrap();
        heads.push(ev.id());
        a.store.ingest(vec![ev]).unwrap();
    }
    let before = count(&a, g);
    apply(
        &a,
        Op::Close {
            group: g.to_hex(),
            proposal: p,
        },
        4_000,
    );
    let events = a.store.group_events(g).unwrap();
    // One merge (16 heads) and the close (the other 4).
    assert_eq!(events.len(), before + 2);
    let kinds: Vec<String> = events
        .iter()
        .filter_map(|e| e.body().and_then(|b| Payload::decode(b).ok()))
        .map(|p| p.kind_name().to_owned())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "merge").count(), 1);
    // The close is sealed (a decision): it is a's newest event, and not readable in the clear.
    let close = events
        .iter()
        .filter(|e| e.header().author == a.id.public())
        .max_by_key(|e| e.header().seq)
        .unwrap();
    assert_ne!(
        close.header().flags & dualpower_core::event::FLAG_ENCRYPTED,
        0
    );
    let parents: HashMap<EventId, Vec<EventId>> = events
        .iter()
        .map(|e| {
            let h = e.header();
            (e.id(), h.backlink.iter().chain(&h.deps).copied().collect())
        })
        .collect();
    let mut past = HashSet::new();
    let mut stack = parents[&close.id()].clone();
    while let Some(e) = stack.pop() {
        if past.insert(e) {
            stack.extend(parents.get(&e).cloned().unwrap_or_default());
        }
    }
    for h in &heads {
        assert!(past.contains(h), "head {h} is not in the close's past");
    }
    // The merge has no effect on state: nothing of A's is refused.
    let st = state(&a, g);
    assert!(
        st.rejected.iter().all(|(e, _)| heads.contains(e)),
        "{:?}",
        st.rejected
    );
}

#[test]
fn a_member_witnesses_a_passed_deadline_once_with_a_merge() {
    let (a, b) = (member(), member());
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    admit_normally(&a, &b, &[&a, &b], g, 2_000);
    let p = propose(
        &a,
        g,
        Prop {
            title: "Lunch",
            method: Some("majority"),
            deadline_secs: 60,
            ..Default::default()
        },
        10_000,
    );
    exchange(&[&a, &b], g);
    let deadline = 10_000 + 60_000;
    let witness = |now| ops::decisions::witness_deadlines(&b.store, &b.id, g, now).unwrap();
    // Before the deadline (by B's clock) nothing is written.
    assert!(witness(deadline - 1).is_none());
    let before = count(&b, g);
    let ev = witness(deadline + 5).expect("no witness once the deadline passed");
    assert_eq!(count(&b, g), before + 1);
    assert_eq!(ev.header().author, b.id.public());
    assert!(ev.header().timestamp >= deadline);
    assert!(matches!(
        Payload::decode(ev.body().unwrap()).unwrap(),
        Payload::Merge
    ));
    // Its deps are the newest heads: A's proposal (A's last event) is cited.
    let cited: Vec<String> = ev.header().deps.iter().map(|d| d.to_hex()).collect();
    assert!(cited.contains(&p), "{cited:?} does not cite {p}");
    // One witness per deadline: later ticks write nothing more.
    assert!(witness(deadline + 10_000).is_none());
    assert_eq!(count(&b, g), before + 1);
    // A member that wrote after the deadline (a vote) needs no witness either.
    let c = member();
    admit_normally(&a, &c, &[&a, &b, &c], g, 20_000);
    exchange(&[&a, &b, &c], g);
    vote(&c, g, &p, "yes", deadline + 1);
    assert!(
        ops::decisions::witness_deadlines(&c.store, &c.id, g, deadline + 2)
            .unwrap()
            .is_none()
    );
}
