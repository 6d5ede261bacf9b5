//! Render tests of the work pages: real answers from a store (tasks created, claimed and marked
//! done through `ops::apply`, read through `query::answer`) where one member can make them, and
//! hand-written answers of the same shape for what needs several members.
#![allow(clippy::unwrap_used)]

use dualpower_core::Identity;
use dualpower_node::ops::{ConstitutionArgs, Op, TaskArgs};
use dualpower_node::query::{self, Query};
use serde_json::{Value, json};

use crate::pages::test_world::{self, T0, World};

use super::render;
use super::{CreateForm, create_args};
use crate::pages::feed::Reader;

const DAY: u64 = 86_400_000;
const HOSTILE: &str = "<script>alert(1)</script>";

/// This file's world (`test_world::world` on its own network).
fn world() -> World {
    test_world::world("web-work-test")
}

impl World {
    fn work(&self, now: u64) -> Value {
        query::answer(&self.store, &self.id, Query::Work { group: self.g() }, now).unwrap()
    }

    fn rep(&self, now: u64) -> Value {
        let q = Query::Reputation {
            group: self.g(),
            member: None,
        };
        query::answer(&self.store, &self.id, q, now).unwrap()
    }

    fn me(&self) -> Reader {
        Reader {
            did: self.id.public().to_did(),
            csrf: "tok123".into(),
        }
    }

    fn task(&self, title: &str, slots: u64, due_days: Option<u64>, now: u64) -> String {
        let v = self.apply(
            Op::TaskCreate {
                group: self.g(),
                task: TaskArgs {
                    title: title.into(),
                    slots: Some(slots),
                    domain: Some("care".into()),
                    due_days,
                    skills: vec!["plumbing".into()],
                },
            },
            now,
        );
        v["id"].as_str().unwrap().to_string()
    }
}

fn other() -> Reader {
    Reader {
        did: Identity::generate().public().to_did(),
        csrf: "tok123".into(),
    }
}

fn html(m: maud::Markup) -> String {
    m.into_string()
}

#[test]
fn tasks_escape_hostile_titles_and_notes_and_never_ask_a_worker_to_confirm_itself() {
    let w = world();
    let t = w.task(HOSTILE, 1, None, T0 + 10);
    w.apply(
        Op::TaskClaim {
            group: w.g(),
            task: t.clone(),
        },
        T0 + 20,
    );
    w.apply(
        Op::TaskDone {
            group: w.g(),
            task: t.clone(),
            note: format!("fixed {HOSTILE}"),
        },
        T0 + 30,
    );
    let v = w.work(T0 + 40);
    let mine = html(render::tasks(&w.me(), &w.g(), &v, &Value::Null));
    assert!(!mine.contains("<script>"), "{mine}");
    assert!(
        mine.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{mine}"
    );
    assert!(mine.contains("fixed &lt;script&gt;"), "{mine}");
    // The worker sees its own part as done, and no form to confirm or dispute it.
    assert!(mine.contains("0 of 2 confirmation(s)"), "{mine}");
    assert!(!mine.contains("/tasks/confirm"), "{mine}");
    assert!(!mine.contains("/tasks/dispute"), "{mine}");
    assert!(
        !mine.contains("/tasks/claim"),
        "a full task offers no claim: {mine}"
    );
    // Someone else may confirm or dispute it.
    let theirs = html(render::tasks(&other(), &w.g(), &v, &Value::Null));
    assert!(theirs.contains("/tasks/confirm"), "{theirs}");
    assert!(theirs.contains("/tasks/dispute"), "{theirs}");
    assert!(
        theirs.contains(r#"name="member" value="did:key:"#),
        "{theirs}"
    );
    // Every form carries the CSRF token.
    assert_eq!(
        theirs.matches("<form").count(),
        theirs.matches(r#"name="_csrf" value="tok123""#).count()
    );
}

#[test]
fn status_badges_follow_the_task() {
    let w = world();
    let unclaimed = w.task("Sweep the yard", 1, None, T0 + 10);
    let open = w.task("Paint the hall", 2, None, T0 + 11);
    let late = w.task("Call the landlord", 1, Some(1), T0 + 12);
    w.apply(
        Op::TaskClaim {
            group: w.g(),
            task: open.clone(),
        },
        T0 + 20,
    );
    let v = w.work(T0 + 30);
    let page = html(render::tasks(&w.me(), &w.g(), &v, &Value::Null));
    for status in ["unclaimed", "open"] {
        assert!(
            page.contains(&format!(r#"data-status="{status}""#)),
            "{status}: {page}"
        );
    }
    // The holder sees their own actions; a slot is free for others.
    assert!(page.contains("Mark my part done"), "{page}");
    assert!(page.contains("/tasks/handover"), "{page}");
    assert!(page.contains("/tasks/claim"), "{page}");
    let _ = (unclaimed, late);
    // Two days on, the task due in one day is overdue (group time moves with new events).
    w.task("Later task", 1, None, T0 + 2 * DAY);
    let v = w.work(T0 + 2 * DAY + 10);
    let page = html(render::tasks(&w.me(), &w.g(), &v, &Value::Null));
    assert!(page.contains(r#"data-status="overdue""#), "{page}");
    // Overdue tasks come first.
    let first = page.find("data-status=").unwrap();
    assert!(
        page[first..].starts_with(r#"data-status="overdue""#),
        "{page}"
    );
}

#[test]
fn the_create_form_follows_the_task_rule() {
    let w = world();
    let v = w.work(T0 + 1);
    let page = html(render::tasks(&w.me(), &w.g(), &v, &Value::Null));
    assert!(page.contains(r#"action="/g/"#) && page.contains(r#"id="t-title""#));
    assert!(page.contains("No tasks yet"), "{page}");
    w.apply(
        Op::Amend {
            group: w.g(),
            constitution: ConstitutionArgs {
                task_rule: Some("vote".into()),
                ..Default::default()
            },
            confirmed: true,
        },
        T0 + 10,
    );
    let v = w.work(T0 + 20);
    assert_eq!(v["rules"]["tasks"], "vote");
    let page = html(render::tasks(&w.me(), &w.g(), &v, &Value::Null));
    assert!(!page.contains(r#"id="t-title""#), "{page}");
    assert!(page.contains("/decisions/new#np-tasks"), "{page}");
    assert!(page.contains("the group, by vote"), "{page}");
}

#[test]
fn the_create_form_is_checked_before_anything_is_sent() {
    let f = CreateForm {
        title: "  Fix the boiler ".into(),
        slots: "2".into(),
        domain: "care".into(),
        due_days: "".into(),
        skills: "plumbing, ,gas".into(),
    };
    let t = create_args(&f).unwrap();
    assert_eq!(t.title, "Fix the boiler");
    assert_eq!(t.slots, Some(2));
    assert_eq!(t.due_days, None);
    assert_eq!(t.skills, vec!["plumbing", "gas"]);
    let bad = CreateForm {
        title: "x".into(),
        slots: "two".into(),
        ..Default::default()
    };
    assert!(create_args(&bad).unwrap_err().contains("two"));
    assert!(create_args(&CreateForm::default()).is_err());
}

#[test]
fn proposals_carry_task_lines() {
    use crate::pages::decisions::{ProposeForm, propose_op, task_lines};
    let f = ProposeForm {
        title: "Boiler".into(),
        tasks: "Fix the boiler;slots=2;domain=care;due=7\n\nBuy parts".into(),
        ..Default::default()
    };
    let Op::Propose { tasks, .. } = propose_op("ab", &f).unwrap() else {
        panic!("not a proposal")
    };
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].slots, Some(2));
    assert_eq!(tasks[0].domain.as_deref(), Some("care"));
    assert_eq!(tasks[0].due_days, Some(7));
    assert_eq!(tasks[1].title, "Buy parts");
    let e = task_lines("Fine\nBroken;slots=many").unwrap_err();
    assert!(e.starts_with("task line 2"), "{e}");
    let e = task_lines(";slots=1").unwrap_err();
    assert!(e.contains("title"), "{e}");
    // Through the node, a passing proposal's task appears on the tasks page.
    let w = world();
    let f = ProposeForm {
        title: "Boiler".into(),
        tasks: "Fix the boiler;slots=1;domain=care".into(),
        deadline_hours: "0".into(),
        ..Default::default()
    };
    let p = w.apply(propose_op(&w.g(), &f).unwrap(), T0 + 10)["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.apply(
        Op::Vote {
            group: w.g(),
            proposal: p.clone(),
            ballot: "yes".into(),
            reason: String::new(),
        },
        T0 + 20,
    );
    w.apply(
        Op::Close {
            group: w.g(),
            proposal: p.clone(),
        },
        T0 + 30,
    );
    let v = w.work(T0 + 40);
    let page = html(render::tasks(&w.me(), &w.g(), &v, &Value::Null));
    assert!(page.contains("Fix the boiler"), "{page}");
    assert!(page.contains(&format!("/decisions/{p}")), "{page}");
}

#[test]
fn roles_show_volunteers_the_list_and_the_next_step() {
    let w = world();
    let page = html(render::roles(&w.me(), &w.g(), &w.work(T0 + 1)));
    assert!(page.contains("No role rotates"), "{page}");
    w.apply(
        Op::Amend {
            group: w.g(),
            constitution: ConstitutionArgs {
                rotate: Some(vec!["moderator:30".into()]),
                ..Default::default()
            },
            confirmed: true,
        },
        T0 + 10,
    );
    let page = html(render::roles(&w.me(), &w.g(), &w.work(T0 + 20)));
    assert!(page.contains("Nobody holds it now"), "{page}");
    assert!(page.contains("/roles/volunteer"), "{page}");
    assert!(
        !page.contains("/roles/draw"),
        "no draw before volunteers: {page}"
    );
    w.apply(
        Op::RoleVolunteer {
            group: w.g(),
            role: "moderator".into(),
        },
        T0 + 30,
    );
    let page = html(render::roles(&w.me(), &w.g(), &w.work(T0 + 40)));
    assert!(
        !page.contains("/roles/volunteer"),
        "volunteered twice? {page}"
    );
    assert!(page.contains("/roles/draw"), "{page}");
    assert!(page.contains("closes the list"), "{page}");
    w.apply(
        Op::RoleDraw {
            group: w.g(),
            role: "moderator".into(),
        },
        T0 + 50,
    );
    let page = html(render::roles(&w.me(), &w.g(), &w.work(T0 + 60)));
    assert!(page.contains(">closed<"), "{page}");
    assert!(page.contains("reveals your secret"), "{page}");
    // Reveal, then draw: the only volunteer holds the role, and the draw's seed is shown.
    for t in [70, 80] {
        w.apply(
            Op::RoleDraw {
                group: w.g(),
                role: "moderator".into(),
            },
            T0 + t,
        );
    }
    let page = html(render::roles(&w.me(), &w.g(), &w.work(T0 + 90)));
    assert!(page.contains("Held by"), "{page}");
    assert!(page.contains(r#"class="seed""#), "{page}");
}

/// A work answer for several members, as the node writes it (see `dualpower_node::work`).
fn answer(a: &str, b: &str, c: &str) -> Value {
    json!({
        "group": "ab", "name": "Elm", "now": T0, "confirmations": 1,
        "members": [{"id": a, "roles": ["admin"]}, {"id": b, "roles": []}, {"id": c, "roles": []}],
        "rules": {"tasks": "member"},
        "domains": ["care", "logistics"],
        "tasks": [{
            "id": "aaaa:0", "title": "Paint", "slots": 2, "free": 1, "skills": [], "due": 0,
            "domain": "care", "status": "open", "overdue": false, "creator": a,
            "proposal": null, "created_at": T0,
            "holders": [{"member": b, "done": "painted", "confirmed_by": [a], "disputes": [], "counted": true}],
            "completed": [b],
            "suggested": [a, c],
        }],
        "roles": [],
        "cases": [{
            "id": "cccc", "parties": [a, b], "about": HOSTILE, "dispute": null, "mediator": c,
            "draw": null,
            "outcome": {"event": "eeee", "settlement": "agreed", "text": "Split the cost"},
            "agreed": [a], "settled": null,
        }],
        "receipts": [{"domain": "care", "from": a, "to": b, "at": T0, "for": "task", "event": "ffff"}],
        "labels": {
            a: {"label": "Alice"}, b: {"label": "Bob"}, c: {"label": HOSTILE},
        },
    })
}

fn rep_answer(a: &str, b: &str, c: &str) -> Value {
    json!({
        "group": "ab", "now": T0, "seeds": [a], "half_life_days": 180, "member": null,
        "domains": [{"domain": "care", "scores": [
            {"member": b, "share": 500, "percent": "50.00%", "why": [
                {"from": a, "seed_restart": false, "trust": 500, "percent": "50.00%"}]},
            {"member": a, "share": 400, "percent": "40.00%", "why": [
                {"from": null, "seed_restart": true, "trust": 400, "percent": "40.00%"}]},
            {"member": c, "share": 100, "percent": "10.00%", "why": []},
        ]}],
        "labels": {a: {"label": "Alice"}, b: {"label": "Bob"}, c: {"label": HOSTILE}},
    })
}

fn three() -> (String, String, String) {
    let k = || Identity::generate().public().to_did();
    (k(), k(), k())
}

#[test]
fn suggestions_name_the_most_trusted_who_hold_no_slot() {
    let (a, b, c) = three();
    let v = answer(&a, &b, &c);
    let rep = rep_answer(&a, &b, &c);
    let s = render::suggestions(&rep, &v["tasks"][0]);
    // The node suggests Alice, then the third member (Bob holds a slot); the page adds shares.
    assert_eq!(
        s,
        vec![(a.clone(), "40.00%".into()), (c.clone(), "10.00%".into())]
    );
    let me = Reader {
        did: a.clone(),
        csrf: "t".into(),
    };
    let page = html(render::tasks(&me, "ab", &v, &rep));
    assert!(page.contains("Could take this"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
    // Bob's part is counted: no confirm button, but it can still be disputed.
    assert!(page.contains("✓ counted"), "{page}");
    assert!(!page.contains("/tasks/confirm"), "{page}");
    assert!(page.contains("/tasks/dispute"), "{page}");
}

#[test]
fn reputation_explains_each_share() {
    let (a, b, c) = three();
    let v = answer(&a, &b, &c);
    let rep = rep_answer(&a, &b, &c);
    let me = Reader {
        did: b.clone(),
        csrf: "t".into(),
    };
    let page = html(render::reputation(&me, "ab", &v, &rep));
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("50.00%"), "{page}");
    assert!(page.contains("who confirmed 1 task(s)"), "{page}");
    assert!(page.contains("seed restart"), "{page}");
    // The vouch form offers everyone but oneself, and every domain.
    let form = &page[page.find(r#"id="v-member""#).unwrap()..];
    let form = &form[..form.find("</select>").unwrap()];
    assert!(
        form.contains(&a) && form.contains(&c) && !form.contains(&b),
        "{form}"
    );
    assert!(page.contains(r#"<option value="logistics">"#), "{page}");
    let none = html(render::reputation(&me, "ab", &v, &json!({"domains": []})));
    assert!(none.contains("No reputation yet"), "{none}");
}

#[test]
fn mediation_offers_each_person_only_their_part() {
    let (a, b, c) = three();
    let v = answer(&a, &b, &c);
    let as_ = |k: &str| {
        html(render::mediation(
            &Reader {
                did: k.into(),
                csrf: "t".into(),
            },
            "ab",
            &v,
        ))
    };
    // Alice agreed already; Bob, a party, may agree; the mediator has recorded its outcome.
    let alice = as_(&a);
    let bob = as_(&b);
    let mediator = as_(&c);
    assert!(!alice.contains("/mediation/agree"), "{alice}");
    assert!(bob.contains("/mediation/agree"), "{bob}");
    assert!(!mediator.contains("/mediation/agree"), "{mediator}");
    for p in [&alice, &bob, &mediator] {
        assert!(!p.contains("<script>"), "{p}");
        assert!(p.contains("Split the cost"));
        assert!(!p.contains("/mediation/outcome"), "recorded already: {p}");
        assert!(p.contains(r#"name="parties" multiple"#), "{p}");
    }
    // Before an outcome, only the mediator gets the form.
    let mut v2 = v.clone();
    v2["cases"][0]["outcome"] = Value::Null;
    let page = |k: &str| {
        html(render::mediation(
            &Reader {
                did: k.into(),
                csrf: "t".into(),
            },
            "ab",
            &v2,
        ))
    };
    assert!(page(&c).contains("/mediation/outcome"));
    assert!(!page(&a).contains("/mediation/outcome"));
}

#[test]
fn the_rules_form_reads_work_rules() {
    use crate::pages::members::RulesForm;
    let f = RulesForm::new(vec![
        ("invite".into(), "member".into()),
        ("confirmations".into(), "1".into()),
        (
            "rotate".into(),
            "moderator:30\r\n\r\nadmin:7:limit=2".into(),
        ),
        ("domains".into(), "repairs, garden".into()),
        ("seeds".into(), "did:key:a".into()),
        ("seeds".into(), "did:key:b".into()),
        ("half_life_days".into(), "".into()),
    ]);
    let a = f.args().unwrap();
    assert_eq!(a.confirmations, Some(1));
    assert_eq!(
        a.rotate,
        Some(vec!["moderator:30".into(), "admin:7:limit=2".into()])
    );
    assert_eq!(a.domains, Some(vec!["repairs".into(), "garden".into()]));
    assert_eq!(a.seeds, Some(vec!["did:key:a".into(), "did:key:b".into()]));
    assert_eq!(a.half_life_days, None);
    assert_eq!(a.history, Some(false));
    let bad = RulesForm::new(vec![("confirmations".into(), "one".into())]);
    assert!(bad.args().unwrap_err().contains("one"));
    // Without the work part (an older form), the work rules are left alone.
    let old = RulesForm::new(vec![("invite".into(), "member".into())]);
    let a = old.args().unwrap();
    assert!(a.seeds.is_none() && a.rotate.is_none() && a.confirmations.is_none());
}

#[test]
fn the_members_page_shows_and_prefills_the_work_rules() {
    let w = world();
    w.apply(
        Op::Amend {
            group: w.g(),
            constitution: ConstitutionArgs {
                rotate: Some(vec!["moderator:30".into()]),
                confirmations: Some(1),
                ..Default::default()
            },
            confirmed: true,
        },
        T0 + 10,
    );
    let v = query::answer(&w.store, &w.id, Query::Members { group: w.g() }, T0 + 20).unwrap();
    let page = html(crate::pages::members::render_as(&w.me(), &w.g(), &v));
    assert!(page.contains("moderator:30:limit=0:rest=1"), "{page}");
    assert!(
        page.contains(r#"name="confirmations" type="number" min="1" max="100" value="1""#),
        "{page}"
    );
    assert!(page.contains(r#"name="seeds""#), "{page}");
    let _ = w.rep(T0 + 30);
}
