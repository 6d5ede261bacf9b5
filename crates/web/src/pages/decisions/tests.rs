//! Render tests: real answers from a store (proposals made, voted on and closed through
//! `ops::apply`, read through `query::answer`), rendered by the page functions, checked as HTML.
#![allow(clippy::unwrap_used)]

use dualpower_core::{GroupId, Identity, NetworkId};
use dualpower_node::ops::{self, Op};
use dualpower_node::query::{self, Query};
use dualpower_store::{Store, StoreConfig};
use serde_json::Value;

use crate::pages::test_world::{self, T0, World};

use super::*;

/// This file's world (`test_world::world` on its own network).
fn world() -> World {
    test_world::world("web-decisions-test")
}

impl World {
    fn cx(&self, now: u64) -> Cx {
        Cx {
            csrf: "tok123".into(),
            me: self.id.public().to_did(),
            group: self.g(),
            now,
            members: vec![self.id.public().to_did()],
            suggested: Vec::new(),
            labels: Value::Null,
            roles: vec!["admin".into()],
        }
    }

    /// Proposes through the same function the form handler uses; returns the proposal id.
    fn propose(&self, title: &str, method: &str, options: &str, discuss: bool) -> String {
        let f = ProposeForm {
            title: title.into(),
            body: "Because <b>reasons</b>".into(),
            method: method.into(),
            options: options.into(),
            deadline_hours: "24".into(),
            discuss: discuss.then(|| "1".into()),
            ..Default::default()
        };
        let op = propose_op(&self.g(), &f).unwrap();
        self.apply(op, T0 + 10)["id"].as_str().unwrap().to_string()
    }

    /// Votes with the ballot text the form's fields make.
    fn vote(&self, p: &str, fields: &[(&str, &str)], now: u64) {
        let v = self.proposal(p, now);
        let form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let ballot =
            ballot::ballot_text_within(v["method"].as_str().unwrap(), &options_of(&v), &form, None)
                .unwrap();
        let reason = form
            .iter()
            .find(|(k, _)| k == "reason")
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        self.apply(
            Op::Vote {
                group: self.g(),
                proposal: p.into(),
                ballot,
                reason,
            },
            now,
        );
    }

    fn close(&self, p: &str, now: u64) {
        self.apply(
            Op::Close {
                group: self.g(),
                proposal: p.into(),
            },
            now,
        );
    }

    fn proposal(&self, p: &str, now: u64) -> Value {
        self.ask(
            Query::Proposal {
                group: self.g(),
                proposal: p.into(),
            },
            now,
        )
    }
}

#[test]
fn list_groups_by_stage_and_shows_delegations() {
    let w = world();
    let a = w.propose("Paint the hall", "majority", "", false);
    let _b = w.propose("Garden plan", "approval", "beds\nshed\ncompost", true);
    let c = w.propose("Old idea", "plurality", "x\ny", false);
    w.apply(
        Op::Withdraw {
            group: w.g(),
            proposal: c.clone(),
        },
        T0 + 20,
    );
    w.vote(&a, &[("choice", "yes")], T0 + 30);
    w.apply(
        Op::Delegate {
            group: w.g(),
            to: None,
            topic: Some("repairs".into()),
            proposal: None,
            nobody: true,
        },
        T0 + 40,
    );
    let v = w.ask(Query::Proposals { group: w.g() }, T0 + 50);
    let html = render_list(&w.cx(T0 + 50), &v).into_string();
    let voting = html.find("Open for voting").unwrap();
    let discussion = html.find("In discussion").unwrap();
    let withdrawn = html.find("Withdrawn").unwrap();
    assert!(voting < discussion && discussion < withdrawn, "{html}");
    assert!(html.contains("Paint the hall") && html.contains("Garden plan"));
    assert!(
        html.contains("1 vote<") || html.contains("1 vote</span>"),
        "{html}"
    );
    assert!(html.contains("closes in 23 h"), "{html}");
    assert!(html.contains(r#"data-live="decisions""#));
    assert!(html.contains("For topic “repairs”: nobody"), "{html}");
    assert!(html.contains(r#"name="_csrf" value="tok123""#));
    assert!(html.contains(&format!(r#"href="/g/{}/decisions/{a}""#, w.g())));
}

#[test]
fn hostile_text_is_escaped_everywhere() {
    let w = world();
    let evil = "<script>alert(1)</script>";
    let p = w.propose(
        evil,
        "plurality",
        &format!("{evil}\n\"><img src=x onerror=alert(2)>"),
        false,
    );
    w.vote(&p, &[("choice", "0")], T0 + 30);
    w.close(&p, T0 + 40);
    let v = w.proposal(&p, T0 + 50);
    let html = render_proposal(&w.cx(T0 + 50), &v).into_string();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("<b>reasons"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
    // The chart was drawn, with the label escaped inside the SVG as well.
    assert!(html.contains("<svg"), "{html}");
    let list = w.ask(Query::Proposals { group: w.g() }, T0 + 50);
    let html = render_list(&w.cx(T0 + 50), &list).into_string();
    assert!(!html.contains("<script>alert"), "{html}");
}

#[test]
fn each_method_gets_its_own_ballot_form() {
    let w = world();
    let cases: [(&str, &str, &[&str]); 11] = [
        ("majority", "", &[r#"value="yes""#, r#"value="abstain""#]),
        (
            "consent",
            "",
            &[r#"value="block""#, "Stand aside", r#"name="reason""#],
        ),
        ("approval", "a\nb", &[r#"type="checkbox" name="o0""#]),
        (
            "plurality",
            "a\nb",
            &[r#"type="radio" name="choice" value="1""#],
        ),
        (
            "score",
            "a\nb",
            &[r#"type="number" name="o1" min="0" max="5""#],
        ),
        ("star", "a\nb", &["runoff", r#"max="5""#]),
        ("irv", "a\nb\nc", &["<select", "3rd", "not ranked"]),
        ("schulze", "a\nb", &["worse than no change"]),
        ("quadratic", "a\nb", &["n² voice credits", "4 cost 16"]),
        (
            "budget",
            "roof=800\nmural=150",
            &["costs 800", "at most 1000"],
        ),
        ("dot", "a\nb", &["up to 5 points", r#"max="5""#]),
    ];
    for (method, options, needles) in cases {
        let p = w.propose(&format!("Q {method}"), method, options, false);
        let v = w.proposal(&p, T0 + 20);
        let html = render_proposal(&w.cx(T0 + 20), &v).into_string();
        assert!(html.contains("/vote\""), "{method}: no ballot form");
        for n in needles {
            assert!(html.contains(n), "{method}: no `{n}` in {html}");
        }
    }
}

#[test]
fn a_closed_irv_shows_rounds_and_certificate() {
    let w = world();
    let p = w.propose("Name the co-op", "irv", "Acorn\nBirch\nCedar", false);
    w.vote(&p, &[("o2", "1"), ("o0", "2")], T0 + 30);
    w.close(&p, T0 + 40);
    let v = w.proposal(&p, T0 + 50);
    let html = render_proposal(&w.cx(T0 + 50), &v).into_string();
    assert!(html.contains("winner: Cedar"), "{html}");
    assert!(html.contains("Round 1"), "{html}");
    assert!(html.contains("Certificate"), "{html}");
    let digest = v["certificate"]["digest"].as_str().unwrap();
    assert!(html.contains(digest), "{html}");
    assert!(html.contains(&format!("/decisions/{p}/verify")), "{html}");
    // Closed: no ballot form, no actions.
    assert!(!html.contains("/vote\""), "{html}");
    assert!(!html.contains("Close and count"), "{html}");

    let verified = w.ask(
        Query::VerifyTally {
            group: w.g(),
            proposal: p.clone(),
        },
        T0 + 60,
    );
    let html = render_verify(&w.cx(T0 + 60), &v, &verified).into_string();
    assert!(html.contains("It matches"), "{html}");
    assert!(html.contains(digest), "{html}");
    // A shown certificate that differs from the recount is called out.
    let mut tampered = v.clone();
    tampered["certificate"]["digest"] = "00".repeat(32).into();
    let html = render_verify(&w.cx(T0 + 60), &tampered, &verified).into_string();
    assert!(html.contains("It differs"), "{html}");
}

#[test]
fn consent_block_and_votes_are_shown_with_reasons() {
    let w = world();
    let p = w.propose("Adopt the rota", "consent", "", false);
    w.vote(
        &p,
        &[("choice", "block"), ("reason", "Nights are unfair")],
        T0 + 30,
    );
    let v = w.proposal(&p, T0 + 40);
    let html = render_proposal(&w.cx(T0 + 40), &v).into_string();
    assert!(html.contains("Nights are unfair"), "{html}");
    assert!(html.contains("You voted <strong>block"), "{html}");
    assert!(html.contains("Close and count"), "author may close: {html}");
    w.close(&p, T0 + 50);
    let v = w.proposal(&p, T0 + 60);
    let html = render_proposal(&w.cx(T0 + 60), &v).into_string();
    assert!(html.contains("does not pass"), "{html}");
    assert!(html.contains("failed"), "{html}");
}

#[test]
fn discussion_phase_offers_author_actions_only_to_the_author() {
    let w = world();
    let p = w.propose("Draft", "approval", "a\nb", true);
    let v = w.proposal(&p, T0 + 20);
    let html = render_proposal(&w.cx(T0 + 20), &v).into_string();
    assert!(html.contains("Open voting"), "{html}");
    assert!(html.contains("Save revision"), "{html}");
    assert!(html.contains("Withdraw"), "{html}");
    assert!(!html.contains("/vote\""), "no voting in discussion: {html}");
    // Someone else sees none of the author's buttons.
    let mut other = w.cx(T0 + 20);
    other.me = Identity::generate().public().to_did();
    let html = render_proposal(&other, &v).into_string();
    assert!(
        !html.contains("Open voting") && !html.contains("Withdraw"),
        "{html}"
    );

    // Revising and opening through the ops the buttons send.
    w.apply(
        Op::Revise {
            group: w.g(),
            proposal: p.clone(),
            title: Some("Draft 2".into()),
            body: None,
            options: Some(vec!["a".into(), "b".into(), "c".into()]),
        },
        T0 + 30,
    );
    w.apply(
        Op::OpenVoting {
            group: w.g(),
            proposal: p.clone(),
        },
        T0 + 40,
    );
    let v = w.proposal(&p, T0 + 50);
    let html = render_proposal(&w.cx(T0 + 50), &v).into_string();
    assert!(
        html.contains("Draft 2") && html.contains("revised"),
        "{html}"
    );
    assert!(html.contains(r#"name="o2""#), "{html}");
}

#[test]
fn budget_and_quadratic_results_chart() {
    let w = world();
    let p = w.propose("Spend", "budget", "roof=800\nmural=150\ngarden=300", false);
    w.vote(&p, &[("o1", "1"), ("o2", "1")], T0 + 30);
    w.close(&p, T0 + 40);
    let v = w.proposal(&p, T0 + 50);
    let html = render_proposal(&w.cx(T0 + 50), &v).into_string();
    assert!(
        html.contains("funded: mural, garden") || html.contains("funded: garden, mural"),
        "{html}"
    );
    assert!(html.contains("spent: 450"), "{html}");

    let q = w.propose("Priorities", "quadratic", "heat\nrent", false);
    w.vote(&q, &[("o0", "3"), ("o1", "-2")], T0 + 30);
    w.close(&q, T0 + 40);
    let v = w.proposal(&q, T0 + 50);
    let bars = chart_bars(&v);
    assert_eq!(bars.len(), 2);
    assert_eq!((bars[0].value, bars[0].win), (3, true));
    assert_eq!(bars[1].value, -2);
}

#[test]
fn propose_form_checks() {
    let f = |method: &str, options: &str| ProposeForm {
        title: "t".into(),
        method: method.into(),
        options: options.into(),
        ..Default::default()
    };
    let g = "00".repeat(32);
    assert!(
        propose_op(&g, &ProposeForm::default())
            .unwrap_err()
            .contains("title")
    );
    assert!(
        propose_op(&g, &f("majority", "a\nb"))
            .unwrap_err()
            .contains("fixed choices")
    );
    assert!(
        propose_op(&g, &f("approval", "only one"))
            .unwrap_err()
            .contains("two options")
    );
    assert!(
        propose_op(&g, &f("evil:x", "a\nb"))
            .unwrap_err()
            .contains("not one of")
    );
    let mut bad = f("dot", "a\nb");
    bad.dots = "-3".into();
    assert!(propose_op(&g, &bad).unwrap_err().contains("points"));
    let mut bad = f("majority", "");
    bad.deadline_hours = "-1".into();
    assert!(propose_op(&g, &bad).unwrap_err().contains("deadline"));
    bad.deadline_hours = "NaN".into();
    assert!(propose_op(&g, &bad).is_err());
    let mut ok = f("budget", "roof=800\n\n mural=150 ");
    ok.quorum = "1/2".into();
    ok.deadline_hours = "1.5".into();
    match propose_op(&g, &ok).unwrap() {
        Op::Propose {
            method,
            options,
            deadline_secs,
            ..
        } => {
            assert_eq!(method.as_deref(), Some("budget:total=1000,quorum=1/2"));
            assert_eq!(options, vec!["roof=800", "mural=150"]);
            assert_eq!(deadline_secs, 5400);
        }
        other => panic!("{other:?}"),
    }
    let mut admins = f("majority", "");
    admins.electorate = "role:admin".into();
    match propose_op(&g, &admins).unwrap() {
        Op::Propose { electorate, .. } => assert_eq!(electorate.as_deref(), Some("role:admin")),
        other => panic!("{other:?}"),
    }
    let mut typed = f("majority", "a\nb");
    typed.method_text = "score:max=10,min=1".into();
    assert_eq!(method_text(&typed).unwrap(), "score:min=1,max=10");
}

#[test]
fn delegate_form_maps_to_ops() {
    let g = "00".repeat(32);
    let f = |to: &str, topic: &str, proposal: &str| DelegateForm {
        to: to.into(),
        topic: topic.into(),
        proposal: proposal.into(),
    };
    match delegate_op(&g, &f("nobody", "", "")).unwrap() {
        Op::Delegate { to, nobody, .. } => assert!(to.is_none() && nobody),
        other => panic!("{other:?}"),
    }
    match delegate_op(&g, &f("", "repairs", "")).unwrap() {
        Op::Delegate {
            to, nobody, topic, ..
        } => assert!(to.is_none() && !nobody && topic.as_deref() == Some("repairs")),
        other => panic!("{other:?}"),
    }
    match delegate_op(&g, &f("did:key:z6Mk", "", "abcd")).unwrap() {
        Op::Delegate { to, proposal, .. } => {
            assert_eq!(to.as_deref(), Some("did:key:z6Mk"));
            assert_eq!(proposal.as_deref(), Some("abcd"));
        }
        other => panic!("{other:?}"),
    }
    assert!(delegate_op(&g, &f("nobody", "t", "abcd")).is_err());
}

#[test]
fn time_and_scope_words() {
    assert_eq!(time_left(0, 5), "no deadline (the author closes it)");
    assert!(time_left(10, 20).contains("passed"));
    assert_eq!(time_left(T0 + 3_600_000 * 25, T0), "closes in 1 d 1 h");
    assert_eq!(scope_words("topic:x"), "topic “x”");
    assert_eq!(
        method_name("majority:threshold=2/3,quorum=1/2"),
        "Majority of 2/3, quorum 1/2"
    );
    assert_eq!(method_name("not a method"), "not a method");
}

#[test]
fn the_node_reads_each_ballot_as_the_form_meant_it() {
    let w = world();
    // (method, options, form fields, the ballot as the node then shows it)
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 11] = [
        ("majority", "", &[("choice", "no")], "no"),
        ("consent", "", &[("choice", "stand-aside")], "abstain"),
        ("approval", "a\nb\nc", &[("o0", "1"), ("o2", "1")], "a, c"),
        // A hostile label that is another option's number cannot capture the vote.
        ("plurality", "2\nreal", &[("choice", "1")], "real"),
        ("plurality", "2\nreal", &[("choice", "0")], "2"),
        (
            "irv",
            "Acorn\nBirch\nCedar",
            &[("o2", "1"), ("o0", "2")],
            "Cedar > Acorn",
        ),
        ("schulze", "a\nb", &[("o0", "2"), ("o1", "1")], "a=1, b=2"),
        ("star", "a\nb", &[("o0", "5"), ("o1", "2")], "a=5, b=2"),
        ("dot", "a\nb", &[("o1", "5")], "a=0, b=5"),
        ("quadratic", "a\nb", &[("o0", "-3")], "a=-3, b=0"),
        ("budget", "x=100\ny=2000", &[("o0", "1")], "x"),
    ];
    for (i, (method, options, fields, shown)) in cases.into_iter().enumerate() {
        let p = w.propose(&format!("Q{i}"), method, options, false);
        w.vote(&p, fields, T0 + 30);
        let v = w.proposal(&p, T0 + 40);
        assert_eq!(
            v["votes"][0]["ballot"].as_str(),
            Some(shown),
            "{method} {fields:?}"
        );
        // The page pre-fills the form with that vote, and sending it unchanged votes the same.
        let again = current_vote(&w.cx(T0 + 40), &v);
        assert!(!again.is_empty(), "{method}: no pre-fill from `{shown}`");
        let text = ballot::ballot_text_within(
            v["method"].as_str().unwrap(),
            &options_of(&v),
            &again,
            None,
        )
        .unwrap();
        w.apply(
            Op::Vote {
                group: w.g(),
                proposal: p.clone(),
                ballot: text,
                reason: String::new(),
            },
            T0 + 50,
        );
        let v = w.proposal(&p, T0 + 60);
        assert_eq!(
            v["votes"][0]["ballot"].as_str(),
            Some(shown),
            "{method}: re-sent"
        );
    }
}

#[test]
fn routes_do_not_conflict() {
    // axum panics when building a router with conflicting routes: building it is the test.
    let _ = routes();
}

/// A second member in their own store, admitted by `w`'s creator (admission by invite).
fn second_member(w: &World) -> (Store, Identity, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreConfig {
            network: NetworkId::named("web-decisions-test"),
            ..Default::default()
        },
    )
    .unwrap();
    let id = Identity::generate();
    let code = w.apply(
        Op::Invite {
            group: w.g(),
            expires_secs: 3_600,
            uses: 1,
            addrs: vec![],
        },
        T0 + 1,
    )["code"]
        .as_str()
        .unwrap()
        .to_string();
    exchange(&[&w.store, &store], w.group);
    ops::apply(&store, &id, Op::Join { code }, T0 + 2).unwrap();
    exchange(&[&w.store, &store], w.group);
    ops::run_agent(&w.store, &w.id, w.group, T0 + 3).unwrap();
    ops::run_agent(&w.store, &w.id, w.group, T0 + 4).unwrap();
    exchange(&[&w.store, &store], w.group);
    (store, id, dir)
}

fn exchange(stores: &[&Store], group: GroupId) {
    for from in stores {
        let events = from.group_events(group).unwrap();
        for to in stores {
            to.ingest(events.clone()).unwrap();
        }
    }
}

#[test]
fn who_holds_my_weight_through_a_delegation() {
    let w = world();
    let (bs, b, _dir) = second_member(&w);
    let a_did = w.id.public().to_did();
    let b_did = b.public().to_did();
    // B lets A carry their weight for everything in the group.
    let op = delegate_op(
        &w.g(),
        &DelegateForm {
            to: a_did.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    ops::apply(&bs, &b, op, T0 + 5).unwrap();
    exchange(&[&w.store, &bs], w.group);
    let p = w.propose("Garden", "approval", "beds\nshed", false);
    w.vote(&p, &[("o0", "1")], T0 + 30);
    exchange(&[&w.store, &bs], w.group);

    let mut cx_b = w.cx(T0 + 40);
    cx_b.me = b_did.clone();
    cx_b.members = vec![a_did.clone(), b_did.clone()];
    let list = query::answer(&bs, &b, Query::Proposals { group: w.g() }, T0 + 40).unwrap();
    let html = render_list(&cx_b, &list).into_string();
    let a_short = layout::short_key(&a_did);
    assert!(html.contains("For everything in the group: "), "{html}");
    assert!(html.contains("carried by"), "{html}");
    assert!(html.contains(a_short), "{html}");
    // The delegate select offers the other member, not oneself.
    assert!(
        html.contains(&format!(r#"<option value="{a_did}">"#)),
        "{html}"
    );
    assert!(
        !html.contains(&format!(r#"<option value="{b_did}">"#)),
        "{html}"
    );

    let v = query::answer(
        &bs,
        &b,
        Query::Proposal {
            group: w.g(),
            proposal: p.clone(),
        },
        T0 + 40,
    )
    .unwrap();
    let html = render_proposal(&cx_b, &v).into_string();
    assert!(html.contains("Your weight is carried by"), "{html}");
    assert!(html.contains("→ carried by"), "{html}");
    // B is not the author and the deadline has not passed: no close button, a hint instead.
    assert!(!html.contains("Close and count"), "{html}");
    assert!(html.contains("once the deadline has passed"), "{html}");

    // A sees who trusts them.
    let list = w.ask(Query::Proposals { group: w.g() }, T0 + 40);
    let html = render_list(&w.cx(T0 + 40), &list).into_string();
    assert!(html.contains("Trusting you:"), "{html}");
    assert!(html.contains(layout::short_key(&b_did)), "{html}");
}

#[test]
fn hostile_ids_never_reach_a_redirect() {
    let g = "ab".repeat(32);
    assert_eq!(
        back_url(&g, Some("12cd"), ""),
        format!("/g/{g}/decisions/12cd")
    );
    assert_eq!(back_url(&g, None, "/new"), format!("/g/{g}/decisions/new"));
    assert_eq!(back_url("x\r\nSet-Cookie: a=b", None, ""), "/");
    assert_eq!(back_url("//evil.example", Some("12"), ""), "/");
    assert_eq!(
        back_url(&g, Some("12\r\nX: y"), "#delegate"),
        format!("/g/{g}/decisions#delegate")
    );
    assert_eq!(
        back_url(&g, Some("/../../x"), ""),
        format!("/g/{g}/decisions")
    );
    assert_eq!(back_url(&"a".repeat(65), None, ""), "/");
    // Every URL it returns is a valid header value (Redirect::to would panic otherwise).
    for (g, p) in [
        ("\u{0}", None),
        (g.as_str(), Some("\n")),
        ("ab", Some("\r")),
    ] {
        axum::http::HeaderValue::try_from(back_url(g, p, "")).unwrap();
    }
}

#[test]
fn a_proposal_for_one_role() {
    let w = world();
    let html = render_new(&w.cx(T0)).into_string();
    assert!(html.contains(r#"<option value="role:admin">"#), "{html}");
    let f = ProposeForm {
        title: "Admins only".into(),
        electorate: "role:admin".into(),
        ..Default::default()
    };
    let id = w.apply(propose_op(&w.g(), &f).unwrap(), T0 + 10)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = w.proposal(&id, T0 + 20);
    let html = render_proposal(&w.cx(T0 + 20), &v).into_string();
    assert!(html.contains("members with the role “admin”"), "{html}");
}

#[test]
fn schulze_result_shows_the_pairwise_table() {
    let w = world();
    let p = w.propose("Pick", "schulze", "<i>a</i>\nb", false);
    w.vote(&p, &[("o0", "1"), ("o1", "against")], T0 + 30);
    w.close(&p, T0 + 40);
    let v = w.proposal(&p, T0 + 50);
    let html = render_proposal(&w.cx(T0 + 50), &v).into_string();
    assert!(
        html.contains("Weight preferring the row to the column"),
        "{html}"
    );
    assert!(html.contains("no change"), "{html}");
    assert!(!html.contains("<i>a</i>"), "{html}");
    assert!(html.contains("winner: &lt;i&gt;a&lt;/i&gt;"), "{html}");
}

#[tokio::test]
async fn a_ballot_form_body_arrives_as_pairs() {
    use axum::extract::FromRequest;
    // The vote handler takes the form as ordered pairs (its fields differ per method).
    let req = axum::http::Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(
            "_csrf=t&o2=1&o0=2&reason=a+%3Cb%3E&abstain=",
        ))
        .unwrap();
    let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, &())
        .await
        .unwrap();
    assert_eq!(pairs[1], ("o2".to_string(), "1".to_string()));
    assert_eq!(pairs[3], ("reason".to_string(), "a <b>".to_string()));
    // An empty abstain field does not abstain.
    assert_eq!(
        ballot::ballot_text("irv", &["a".into(), "b".into(), "c".into()], &pairs),
        Ok("3,1".into())
    );
}

#[test]
fn the_delegate_form_suggests_the_most_trusted_and_escapes_them() {
    let w = world();
    let mut cx = w.cx(0);
    let did = "did:key:z6MkTrusted";
    cx.suggested = vec![did.into()];
    let labels = serde_json::json!({ did: { "label": "<script>x</script>" } });
    let html = delegate_form(&cx, &labels, None).into_string();
    assert!(html.contains("Trusted most for their work"), "{html}");
    assert!(
        html.contains("&lt;script&gt;") && !html.contains("<script>x"),
        "{html}"
    );
    cx.suggested.clear();
    assert!(
        !delegate_form(&cx, &labels, None)
            .into_string()
            .contains("Trusted most")
    );
}
