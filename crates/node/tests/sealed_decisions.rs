//! Decisions are sealed: proposals, votes with their reasons, delegations and closes travel and
//! rest encrypted under epoch governance keys, yet every member recounts every decision.
//!
//! What it proves, between real stores and keys (events copied by hand, as a bundle would):
//!
//! * a bundle of the group, a non-member's store after importing it, and a member's own data
//!   directory (a disk image without the passphrase) hold none of the texts of a proposal, a
//!   vote's reason, a post or a delegation, while every member's derived state has the proposal,
//!   the votes and the same certificate;
//! * a removed member holding every later event reads no later decision (its state does not
//!   know the proposal, its feed does not show it) and not the reason it was removed for, which
//!   the remaining members read;
//! * a newcomer admitted without history (`--history false`) cannot read earlier posts but
//!   recounts an earlier removal by vote: it agrees with the others on who is a member and on
//!   the certificate of the decision, across several key rotations;
//! * a member whose node forgot an epoch (`--forget-after-days`) no longer reads its posts but
//!   still recounts its decisions from the stored bytes.
#![allow(clippy::unwrap_used)]

mod common;
use common::{Member, admit, apply, exchange, member, post, texts};

use dualpower_core::GroupId;
use dualpower_node::ops::{self, ConstitutionArgs, Op};
use dualpower_state::GroupState;
use serde_json::Value;

const TITLE: &str = "XQTITLE rent strike from March";
const BODY: &str = "XQBODY we withhold rent until repairs";
const REASON: &str = "XQREASON my landlord knows my name";
const POST: &str = "XQPOST meeting at the laundry room";
const LATER: &str = "XQLATER after the removal";
const WHY: &str = "XQWHY threatened a neighbour";
const SECRETS: [&str; 6] = [
    "XQTITLE", "XQBODY", "XQREASON", "XQPOST", "XQLATER", "XQWHY",
];

fn state(m: &Member, group: GroupId) -> GroupState {
    std::sync::Arc::unwrap_or_clone(ops::view(&m.store, &m.id, group, 0).unwrap().state)
}

fn create(a: &Member, constitution: ConstitutionArgs, now: u64) -> GroupId {
    let v = apply(
        a,
        Op::Create {
            name: "tenants".into(),
            constitution,
        },
        now,
    );
    GroupId::from_hex(v["group"].as_str().unwrap()).unwrap()
}

fn propose(m: &Member, group: GroupId, title: &str, remove: Option<String>, now: u64) -> String {
    let v = apply(
        m,
        Op::Propose {
            group: group.to_hex(),
            title: title.into(),
            body: BODY.into(),
            options: vec![],
            method: remove.is_none().then(|| "majority".into()),
            electorate: None,
            topic: String::new(),
            discuss: false,
            deadline_secs: 0,
            amend: None,
            remove,
            admit: None,
            grant_role: None,
            revoke_role: None,
            tasks: Vec::new(),
            set_limit: None,
        },
        now,
    );
    v["id"].as_str().unwrap().to_owned()
}

fn vote(m: &Member, group: GroupId, proposal: &str, reason: &str, now: u64) {
    apply(
        m,
        Op::Vote {
            group: group.to_hex(),
            proposal: proposal.into(),
            ballot: "yes".into(),
            reason: reason.into(),
        },
        now,
    );
}

fn close(m: &Member, group: GroupId, proposal: &str, now: u64) -> Value {
    apply(
        m,
        Op::Close {
            group: group.to_hex(),
            proposal: proposal.into(),
        },
        now,
    )
}

/// Every secret string found in `bytes`.
fn leaks(bytes: &[u8]) -> Vec<&'static str> {
    SECRETS
        .iter()
        .copied()
        .filter(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        .collect()
}

/// Every secret string found in any file under `dir`, with the file.
fn leaks_in_dir(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(leaks_in_dir(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.extend(
                leaks(&bytes)
                    .into_iter()
                    .map(|s| format!("{s} in {}", p.display())),
            );
        }
    }
    out
}

fn certificate_digest(st: &GroupState, proposal: &str) -> [u8; 32] {
    st.proposals
        .values()
        .find(|p| p.id.to_hex() == proposal)
        .unwrap_or_else(|| panic!("no proposal {proposal}"))
        .certificate
        .as_ref()
        .unwrap()
        .digest()
}

#[test]
fn bundles_and_disks_hold_no_decision_or_post_text_yet_members_recount() {
    let (a, b, outsider) = (member(), member(), member());
    let all = [&a, &b];
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    admit(&a, &b, &all, g, 2_000);
    post(&a, g, POST, 3_000);
    let pid = propose(&a, g, TITLE, None, 4_000);
    exchange(&all, g);
    vote(&b, g, &pid, REASON, 4_100);
    vote(&a, g, &pid, "", 4_200);
    exchange(&all, g);
    let closed = close(&a, g, &pid, 5_000);
    assert_eq!(closed["status"], "closed", "{closed}");
    exchange(&all, g);
    // Members recount the same result.
    let (sa, sb) = (state(&a, g), state(&b, g));
    assert_eq!(certificate_digest(&sa, &pid), certificate_digest(&sb, &pid));
    let p = sb
        .proposals
        .values()
        .find(|p| p.id.to_hex() == pid)
        .unwrap();
    assert_eq!(p.text.title, TITLE);
    assert_eq!(p.votes.len(), 2);
    assert!(p.votes.values().any(|v| v.reason == REASON));
    assert!(texts(&b, g, 0).iter().any(|t| t.contains(TITLE)));

    // The bundle.
    let mut bundle = Vec::new();
    a.store.export_group(g, &mut bundle).unwrap();
    assert!(bundle.len() > 1_000);
    assert_eq!(leaks(&bundle), Vec::<&str>::new(), "the bundle leaks");

    // A non-member's disk after importing it: every event is stored, nothing is readable.
    let report = outsider.store.import(&bundle[..], |_| {}).unwrap();
    assert!(report.stored > 0, "{report:?}");
    assert_eq!(
        leaks_in_dir(outsider.store.path().parent().unwrap()),
        Vec::<String>::new()
    );
    let so = GroupState::derive(
        outsider.store.network(),
        g,
        &outsider.store.group_events(g).unwrap(),
    );
    assert!(so.proposals.is_empty(), "the outsider derives a proposal");

    // A member's own disk, read without the passphrase.
    drop(sa);
    assert_eq!(
        leaks_in_dir(a.store.path().parent().unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn a_removed_member_reads_no_later_decision() {
    let (a, b, c) = (member(), member(), member());
    let all = [&a, &b, &c];
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    admit(&a, &b, &all, g, 2_000);
    admit(&a, &c, &all, g, 3_000);
    apply(
        &a,
        Op::Remove {
            group: g.to_hex(),
            member: c.did(),
            reason: WHY.into(),
        },
        4_000,
    );
    exchange(&all, g);
    // The reason reaches the remaining members only.
    let why = ops::removal_reasons(&b.store, &b.id, g, 0).unwrap();
    assert_eq!(why.get(&c.id.public()).map(String::as_str), Some(WHY));
    assert!(
        ops::removal_reasons(&c.store, &c.id, g, 0)
            .unwrap()
            .is_empty()
    );
    let pid = propose(&a, g, LATER, None, 5_000);
    vote(&a, g, &pid, REASON, 5_100);
    // C's store holds every event (the worst case: a peer relayed them).
    exchange(&all, g);
    assert!(
        state(&b, g)
            .proposals
            .values()
            .any(|p| p.id.to_hex() == pid)
    );
    let sc = state(&c, g);
    assert!(!sc.is_member(&c.id.public()));
    assert!(
        !sc.proposals.values().any(|p| p.id.to_hex() == pid),
        "the removed member derives the later proposal"
    );
    assert!(!texts(&c, g, 0).iter().any(|t| t.contains("XQLATER")));
    assert_eq!(
        leaks_in_dir(c.store.path().parent().unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn a_newcomer_without_history_recounts_an_earlier_removal_by_vote() {
    let (a, b, c, d) = (member(), member(), member(), member());
    let all = [&a, &b, &c, &d];
    let g = create(
        &a,
        ConstitutionArgs {
            removal: Some("vote".into()),
            history: Some(false),
            ..Default::default()
        },
        1_000,
    );
    admit(&a, &b, &all, g, 2_000);
    admit(&a, &c, &all, g, 3_000);
    post(&a, g, POST, 3_500);
    let pid = propose(&a, g, TITLE, Some(c.did()), 4_000);
    vote(&a, g, &pid, "", 4_100);
    exchange(&all, g);
    vote(&b, g, &pid, REASON, 4_200);
    exchange(&all, g);
    let closed = close(&a, g, &pid, 5_000);
    assert_eq!(closed["enacted"], true, "{closed}");
    exchange(&all, g);
    // Two more rotations, so the decision sits several epochs back.
    for (i, t) in [6_000u64, 7_000].into_iter().enumerate() {
        apply(&a, Op::Rekey { group: g.to_hex() }, t);
        post(&b, g, &format!("round {i}"), t + 100);
        exchange(&all, g);
    }
    admit(&a, &d, &all, g, 8_000);
    post(&a, g, "welcome D", 8_500);
    exchange(&all, g);

    let (sa, sd) = (state(&a, g), state(&d, g));
    assert!(sd.is_member(&d.id.public()));
    assert!(!sd.is_member(&c.id.public()), "D does not see C's removal");
    assert_eq!(
        sa.members.keys().collect::<Vec<_>>(),
        sd.members.keys().collect::<Vec<_>>()
    );
    assert_eq!(certificate_digest(&sa, &pid), certificate_digest(&sd, &pid));
    let d_feed = texts(&d, g, 0);
    assert!(d_feed.contains(&"welcome D".to_owned()), "{d_feed:?}");
    assert!(
        !d_feed.contains(&POST.to_owned()),
        "history leaked: {d_feed:?}"
    );
}

#[test]
fn a_member_who_forgot_an_epoch_still_recounts_its_decisions() {
    const DAY: u64 = 86_400_000;
    let (a, b) = (member(), member());
    let all = [&a, &b];
    let g = create(
        &a,
        ConstitutionArgs {
            forget_after_days: Some(1),
            ..Default::default()
        },
        1_000,
    );
    admit(&a, &b, &all, g, 2_000);
    post(&a, g, POST, 2_500);
    let pid = propose(&a, g, TITLE, None, 3_000);
    vote(&a, g, &pid, "", 3_100);
    exchange(&all, g);
    vote(&b, g, &pid, REASON, 3_200);
    exchange(&all, g);
    close(&a, g, &pid, 4_000);
    let old = state(&a, g).writing_epoch().unwrap();
    let digest = certificate_digest(&state(&a, g), &pid);
    apply(&a, Op::Rekey { group: g.to_hex() }, 5_000);
    exchange(&all, g);
    // A's node sees the old epoch superseded, then forgets it a day later.
    ops::run_agent(&a.store, &a.id, g, 6_000).unwrap();
    let later = 6_000 + 2 * DAY;
    ops::run_agent(&a.store, &a.id, g, later).unwrap();
    let v = ops::view(&a.store, &a.id, g, later).unwrap();
    assert!(
        !v.keyring.epochs.contains_key(&old),
        "the epoch was not forgotten"
    );
    assert!(!texts(&a, g, 0).contains(&POST.to_owned()));
    // The decision is still recounted, from scratch, from the stored bytes.
    let (cert, _) =
        dualpower_node::ops::decisions::verify_tally(&a.store, &a.id, g, &pid, later).unwrap();
    assert_eq!(cert["digest"], hex::encode(digest), "{cert}");
    assert_eq!(certificate_digest(&v.state, &pid), digest);
}

#[test]
fn a_newcomer_without_history_reads_decisions_sealed_under_concurrent_epochs() {
    let (a, b, d) = (member(), member(), member());
    let g = create(
        &a,
        ConstitutionArgs {
            history: Some(false),
            ..Default::default()
        },
        1_000,
    );
    admit(&a, &b, &[&a, &b], g, 2_000);
    // Both rotate without hearing of each other, and each proposes under its own new epoch.
    apply(&a, Op::Rekey { group: g.to_hex() }, 3_000);
    apply(&b, Op::Rekey { group: g.to_hex() }, 3_000);
    let pa = propose(&a, g, "XQTITLE from A", None, 3_100);
    let pb = propose(&b, g, "XQTITLE from B", None, 3_100);
    exchange(&[&a, &b], g);
    admit(&a, &d, &[&a, &b, &d], g, 4_000);
    exchange(&[&a, &b, &d], g);
    let sd = state(&d, g);
    for p in [&pa, &pb] {
        assert!(
            sd.proposals.values().any(|x| x.id.to_hex() == *p),
            "the newcomer cannot read {p}"
        );
    }
    assert_eq!(state(&a, g).proposals.len(), sd.proposals.len());
}

/// An attacker member starts an epoch whose key share hands down a wrong governance key for an
/// earlier epoch. A member who reads that share before the honest chain (here: the first share
/// it learns from) still ends up with the right key, because the earlier epoch's starting share
/// published a check of it; before the check, the first key heard stuck and the member could
/// never open that epoch's decisions.
#[test]
fn a_wrong_governance_key_handed_down_is_refused_for_the_checked_one() {
    use dualpower_core::event::Position;
    use dualpower_crypto::EpochSecret;
    use dualpower_groups::{KeyScheme, Keyring};
    use dualpower_store::Body;

    let (a, b, c) = (member(), member(), member());
    let all = [&a, &b, &c];
    let g = create(&a, ConstitutionArgs::default(), 1_000);
    admit(&a, &b, &all, g, 2_000);
    admit(&a, &c, &all, g, 2_500);
    let pid = propose(&a, g, TITLE, None, 3_000);
    exchange(&all, g);
    let e1 = state(&a, g).writing_epoch().unwrap();

    // B starts an epoch sealed to every member, superseding E1, with a wrong key for E1.
    let st = state(&b, g);
    let prekeys: Vec<[u8; 32]> = st.members.values().filter_map(|m| m.prekey).collect();
    let network = *b.store.network();
    let secret = EpochSecret::generate();
    let body = Body::Build(Box::new(move |pos: &Position| {
        Keyring::start_epoch(
            &network,
            pos,
            &secret,
            &prekeys,
            vec![e1],
            &[],
            &[(e1, [7; 32])],
        )
        .map_err(|e| e.to_string())
    }));
    let bogus = b.store.append(&b.id, g, 0, body, 0, 4_000).unwrap();
    exchange(&all, g);
    // A rotates: its share hands down the right key.
    apply(&a, Op::Rekey { group: g.to_hex() }, 5_000);
    exchange(&all, g);

    // C as a newcomer who never held E1: only its prekeys and the later epochs' secrets.
    let v = ops::view(&c.store, &c.id, g, 0).unwrap();
    let mut kr = ops::load_keyring(&c.store, &c.id, &g).unwrap();
    kr.gov.clear();
    kr.epochs.retain(|e, _| *e != e1);
    kr.forgotten.clear();
    let mut events: Vec<_> = v.events.iter().cloned().collect();
    events.sort_by_key(|e| e.id() != bogus.id());
    kr.learn(&network, &v.state, &events);
    let right = ops::load_keyring(&a.store, &a.id, &g).unwrap().gov_key(&e1);
    assert_eq!(kr.gov_key(&e1), right, "the wrong key stuck");
    let opened = dualpower_node::ops::derived::open_with(&network, &kr, &events);
    assert!(opened.keys().any(|id| id.to_hex() == pid));
}
