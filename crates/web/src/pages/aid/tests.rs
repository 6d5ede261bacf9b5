//! Render tests of the mutual-aid pages: real answers from a store (offers and needs posted,
//! a limit lowered, through `ops::apply`, read through `query::answer`) where one member can make
//! them, and hand-written answers of the same shape for what needs several members (matches,
//! commitments between two people, payments and invoices).
#![allow(clippy::unwrap_used)]

use dualpower_core::Identity;
use dualpower_node::ops::Op;
use dualpower_node::ops::aid::IntentArgs;
use dualpower_node::query::Query;
use serde_json::{Value, json};

use crate::pages::test_world::{self, T0, World};

use super::{FilterForm, IntentForm, ResourceForm, book_op, csv_name, intent_op, named, resources};
use super::{marks, render};
use crate::pages::feed::Reader;

const HOSTILE: &str = "<script>alert(1)</script>";

/// This file's world (`test_world::world` on its own network).
fn world() -> World {
    test_world::world("web-aid-test")
}

impl World {
    fn board(&self, f: &FilterForm, now: u64) -> Value {
        self.ask(
            Query::Board {
                group: self.g(),
                filter: f.filter(),
            },
            now,
        )
    }

    fn ledger(&self, now: u64) -> Value {
        self.ask(
            Query::Ledger {
                group: self.g(),
                member: None,
            },
            now,
        )
    }

    fn reader(&self) -> Reader {
        Reader {
            did: self.id.public().to_did(),
            csrf: "tok123".into(),
        }
    }

    fn post(&self, need: bool, category: &str, text: &str, place: &str, now: u64) -> String {
        let v = self.apply(
            Op::AidIntent {
                group: self.g(),
                need,
                intent: IntentArgs {
                    category: category.into(),
                    text: text.into(),
                    quantity: Some(3),
                    unit: "evenings".into(),
                    place: place.into(),
                    days: Some(7),
                    linked: false,
                },
            },
            now,
        );
        v["event"].as_str().unwrap().to_string()
    }
}

fn html(m: maud::Markup) -> String {
    m.into_string()
}

fn reader(did: &str) -> Reader {
    Reader {
        did: did.into(),
        csrf: "tok123".into(),
    }
}

/// Every form carries the CSRF token.
#[track_caller]
fn csrf_everywhere(page: &str) {
    assert_eq!(
        page.matches(r#"<form method="post""#).count(),
        page.matches(r#"name="_csrf" value="tok123""#).count(),
        "{page}"
    );
}

#[test]
fn the_board_escapes_what_members_wrote_and_offers_only_a_cancel_on_ones_own() {
    let w = world();
    let need = w.post(true, "care", HOSTILE, &format!("Elm {HOSTILE}"), T0 + 10);
    let offer = w.post(false, "tools", "A <b>drill</b>", "", T0 + 20);
    let v = w.board(&FilterForm::default(), T0 + 30);
    assert_eq!(v["name"], "Elm Street", "the board names its group");
    let page = html(render::board(
        &w.reader(),
        &w.g(),
        &v,
        &FilterForm::default(),
    ));
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<b>drill"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(page.contains("at Elm &lt;script&gt;"), "{page}");
    assert!(page.contains("3 of 3 evenings left"), "{page}");
    assert!(page.contains(&format!(r#"id="i-{need}""#)), "{page}");
    assert!(page.contains(&format!(r#"id="i-{offer}""#)), "{page}");
    // Both are mine: a cancel each, nothing to commit to.
    assert_eq!(page.matches("/board/cancel").count(), 2, "{page}");
    assert!(page.contains("Cancel my need") && page.contains("Cancel my offer"));
    assert!(!page.contains("/board/commit"), "{page}");
    csrf_everywhere(&page);
    // Someone else may commit to either, up to what is left.
    let other = Identity::generate().public().to_did();
    let theirs = html(render::board(
        &reader(&other),
        &w.g(),
        &v,
        &FilterForm::default(),
    ));
    assert_eq!(theirs.matches("/board/commit").count(), 2, "{theirs}");
    assert!(theirs.contains(r#"max="3" value="3""#), "{theirs}");
    assert!(theirs.contains("I can give this") && theirs.contains("I would like this"));
    assert!(!theirs.contains("/board/cancel"), "{theirs}");
    // The post form: every field labelled, every category offered.
    for id in [
        "a-kind",
        "a-category",
        "a-text",
        "a-quantity",
        "a-unit",
        "a-place",
        "a-days",
    ] {
        assert!(page.contains(&format!(r#"<label for="{id}""#)), "{id}");
    }
    assert!(page.contains(r#"<option value="care""#), "{page}");
}

#[test]
fn the_filter_narrows_the_board_and_says_so() {
    let w = world();
    w.post(true, "care", "Sit with my mother", "Elm", T0 + 10);
    w.post(false, "tools", "A ladder", "Oak", T0 + 20);
    let f = FilterForm {
        kind: "needs".into(),
        ..Default::default()
    };
    let v = w.board(&f, T0 + 30);
    let page = html(render::board(&w.reader(), &w.g(), &v, &f));
    assert!(page.contains("Sit with my mother"), "{page}");
    assert!(!page.contains("A ladder"), "{page}");
    assert!(page.contains("No open offer matches the filter"), "{page}");
    assert!(
        page.contains(r#"<option value="needs" selected>"#),
        "{page}"
    );
    assert!(page.contains("Show everything"), "{page}");
    let f = FilterForm {
        place: " oak ".into(),
        category: "tools".into(),
        ..Default::default()
    };
    let v = w.board(&f, T0 + 30);
    let page = html(render::board(&w.reader(), &w.g(), &v, &f));
    assert!(
        page.contains("A ladder") && !page.contains("Sit with my mother"),
        "{page}"
    );
    // Anything else in `kind` filters nothing; empty fields are no filter.
    let f = FilterForm {
        kind: "<x>".into(),
        ..Default::default()
    };
    assert!(f.filter().kind.is_none() && f.filter().place.is_none());
    let empty = html(render::board(
        &w.reader(),
        &w.g(),
        &world().board(&FilterForm::default(), T0 + 1),
        &FilterForm::default(),
    ));
    assert!(empty.contains("No open needs.") && empty.contains("Nothing committed yet"));
}

/// A board answer for two members, as the node writes it (see `dualpower_node::ops::aid`).
fn board_answer(a: &str, b: &str) -> Value {
    json!({
        "group": "ab", "name": "Elm", "now": T0, "event": null,
        "intents": [
            {"id": "n1", "kind": "need", "author": b, "category": "care", "text": "Childcare",
             "quantity": 2, "left": 1, "unit": "evenings", "place": "Elm", "until": T0 + 1000,
             "expires": T0 + 1000, "at": T0, "matches": ["o1", "o9"]},
            {"id": "o1", "kind": "offer", "author": a, "category": "care", "text": HOSTILE,
             "quantity": 3, "left": 3, "unit": "evenings", "place": "Elm", "until": T0 + 1000,
             "expires": T0 + 1000, "at": T0},
        ],
        "commitments": [
            {"id": "c1", "intent": "n1", "what": "Childcare", "provider": a, "receiver": b,
             "quantity": 1, "fulfilled": null, "confirmed": false},
            {"id": "c2", "intent": "n1", "what": "Childcare", "provider": a, "receiver": b,
             "quantity": 1, "fulfilled": format!("done {HOSTILE}"), "confirmed": false},
            {"id": "c3", "intent": "n1", "what": HOSTILE, "provider": a, "receiver": b,
             "quantity": 1, "fulfilled": "", "confirmed": true},
        ],
        "labels": {a: {"label": "Alice"}, b: {"label": HOSTILE}},
    })
}

#[test]
fn needs_link_their_matches_and_commitments_offer_each_party_its_step() {
    let k = || Identity::generate().public().to_did();
    let (a, b) = (k(), k());
    let v = board_answer(&a, &b);
    let f = FilterForm::default();
    let alice = html(render::board(&reader(&a), "ab", &v, &f));
    let bob = html(render::board(&reader(&b), "ab", &v, &f));
    for p in [&alice, &bob] {
        assert!(!p.contains("<script>"), "{p}");
        assert!(p.contains("Offers that could meet it"), "{p}");
        // A match on the page links to its card; one filtered away to the whole board.
        assert!(
            p.contains(r##"<a href="#i-o1" class="match">&lt;script&gt;"##),
            "{p}"
        );
        assert!(p.contains(r##"href="/g/ab/board#i-o9""##), "{p}");
        assert!(p.contains(r#"data-status="committed""#), "{p}");
        assert!(p.contains(r#"data-status="fulfilled""#), "{p}");
        assert!(p.contains(r#"data-status="confirmed""#), "{p}");
        assert!(p.contains("done &lt;script&gt;"), "{p}");
        assert!(p.contains(r#"id="done-h""#), "{p}");
        csrf_everywhere(p);
    }
    // The provider marks the open one fulfilled (or cancels it); never confirms.
    assert_eq!(alice.matches("/board/fulfil").count(), 1, "{alice}");
    assert!(!alice.contains("/board/confirm"), "{alice}");
    assert!(alice.contains(r#"<label for="note-0""#), "{alice}");
    // The receiver confirms the fulfilled one, once; never fulfils.
    assert_eq!(bob.matches("/board/confirm").count(), 1, "{bob}");
    assert!(!bob.contains("/board/fulfil"), "{bob}");
    // A stranger has no step in either.
    let c = html(render::board(&reader(&k()), "ab", &v, &f));
    for step in ["/board/fulfil", "/board/confirm", "/board/cancel"] {
        assert!(!c.contains(step), "{step}: {c}");
    }
}

#[test]
fn the_post_form_is_checked_before_anything_is_sent() {
    let f = IntentForm {
        kind: "need".into(),
        category: " care ".into(),
        text: "  Sit with my mother ".into(),
        quantity: "2".into(),
        unit: "evenings".into(),
        place: "Elm".into(),
        days: "".into(),
        linked: None,
    };
    let Op::AidIntent { need, intent, .. } = intent_op("ab", &f).unwrap() else {
        panic!("not an intent")
    };
    assert!(need);
    assert_eq!(intent.category, "care");
    assert_eq!(intent.text, "Sit with my mother");
    assert_eq!(intent.quantity, Some(2));
    assert_eq!(intent.days, None);
    assert!(!intent.linked);
    let bad = IntentForm {
        kind: "offer".into(),
        quantity: "two".into(),
        ..Default::default()
    };
    assert!(intent_op("ab", &bad).unwrap_err().contains("two"));
    assert!(intent_op("ab", &IntentForm::default()).is_err());
}

#[test]
fn the_ledger_of_one_member_shows_zero_and_its_limit_lowered() {
    let w = world();
    let v = w.ledger(T0 + 1);
    assert_eq!(v["name"], "Elm Street");
    let page = html(render::ledger(&w.reader(), &w.g(), &v, &Value::Null));
    assert!(page.contains(r#"id="my-balance">0.00<"#), "{page}");
    assert!(page.contains("down to −20.00 hours"), "{page}");
    assert!(page.contains("20.00 hours</strong>"), "{page}");
    assert!(page.contains(r#"<td class="num sum">0.00</td>"#), "{page}");
    assert!(page.contains("Nobody else is in the group yet"), "{page}");
    assert!(!page.contains("/ledger/pay"), "{page}");
    assert!(
        page.contains(&format!(r#"href="/g/{}/ledger.csv""#, w.g())),
        "{page}"
    );
    csrf_everywhere(&page);
    w.apply(
        Op::SetLimit {
            group: w.g(),
            member: None,
            limit: "5".into(),
        },
        T0 + 10,
    );
    let page = html(render::ledger(
        &w.reader(),
        &w.g(),
        &w.ledger(T0 + 20),
        &Value::Null,
    ));
    assert!(page.contains("down to −5.00 hours"), "{page}");
    assert!(page.contains("at most 5.00)"), "{page}");
    let csv = dualpower_node::ops::ledger::ledger_csv(&w.ledger(T0 + 20));
    assert_eq!(csv, "date,from,to,amount,unit,memo,invoice,id");
}

/// A ledger answer for two members, as the node writes it (see `dualpower_node::ops::ledger`).
fn ledger_answer(a: &str, b: &str) -> Value {
    json!({
        "group": "ab", "name": "Elm", "unit": "hours", "default_limit": "20.00", "event": null,
        "member": null, "sum": "0.00",
        "accounts": [
            {"member": a, "balance": "-1.50", "balance_hundredths": "-150", "limit": "20.00", "is_member": true},
            {"member": b, "balance": "1.50", "balance_hundredths": "150", "limit": "10.00", "is_member": true},
        ],
        "payments": [
            {"id": "p1", "from": a, "to": b, "amount": "3.00", "memo": HOSTILE, "invoice": null, "at": T0},
            {"id": "p2", "from": b, "to": a, "amount": "1.50", "memo": "=cmd|' /C calc'!A0", "invoice": "i1", "at": T0 + 5},
        ],
        "invoices": [
            {"id": "i1", "payee": a, "payer": b, "amount": "1.50", "memo": "", "paid_by": "p2", "at": T0 + 1},
            {"id": "i2", "payee": b, "payer": a, "amount": "2.00", "memo": HOSTILE, "paid_by": null, "at": T0 + 2},
        ],
        "labels": {a: {"label": "Alice"}, b: {"label": HOSTILE}},
    })
}

#[test]
fn the_ledger_escapes_memos_and_asks_only_the_payer_to_settle() {
    let k = || Identity::generate().public().to_did();
    let (a, b) = (k(), k());
    let v = ledger_answer(&a, &b);
    let alice = html(render::ledger(&reader(&a), "ab", &v, &Value::Null));
    let bob = html(render::ledger(&reader(&b), "ab", &v, &Value::Null));
    for p in [&alice, &bob] {
        assert!(!p.contains("<script>"), "{p}");
        assert!(p.contains("&lt;script&gt;alert(1)"), "{p}");
        assert!(p.contains(r#"data-status="paid""#) && p.contains(r#"data-status="open""#));
        assert!(p.contains("settles an invoice"), "{p}");
        assert!(p.contains(r#"<td class="num sum">0.00</td>"#), "{p}");
        csrf_everywhere(p);
    }
    // Alice owes 1.50 with a limit of 20: she can pay 18.50; she is asked to settle i2.
    assert!(alice.contains(r#"id="my-balance">-1.50<"#), "{alice}");
    assert!(alice.contains("18.50 hours</strong>"), "{alice}");
    assert_eq!(alice.matches("/ledger/settle").count(), 1, "{alice}");
    assert!(alice.contains(r#"name="invoice" value="i2""#), "{alice}");
    assert!(
        alice.contains("Pay 2.00 hours to &lt;script&gt;"),
        "{alice}"
    );
    // Bob is owed, so he settles nothing; his balance shows with its sign.
    assert!(bob.contains(r#"id="my-balance">+1.50<"#), "{bob}");
    assert!(!bob.contains("/ledger/settle"), "{bob}");
    // The pay and invoice forms offer the others, never oneself.
    let select = |p: &str, id: &str| {
        let s = &p[p.find(&format!(r#"id="{id}""#)).unwrap()..];
        s[..s.find("</select>").unwrap()].to_string()
    };
    for id in ["p-member", "i-member"] {
        let s = select(&alice, id);
        assert!(s.contains(&b) && !s.contains(&a), "{s}");
    }
    for id in [
        "p-member", "p-amount", "p-memo", "i-member", "i-amount", "i-memo", "l-limit",
    ] {
        assert!(alice.contains(&format!(r#"<label for="{id}""#)), "{id}");
    }
    // The CSV quotes and defuses what members wrote.
    let csv = dualpower_node::ops::ledger::ledger_csv(&v);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("date,from,to,amount,unit,memo,invoice,id")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .contains(",hours,<script>alert(1)</script>,,p1")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .contains(",hours,'=cmd|' /C calc'!A0,i1,p2"),
        "{csv}"
    );
}

#[test]
fn amounts_and_file_names() {
    assert_eq!(marks::hundredths("-3.5"), Some(-350));
    assert_eq!(marks::hundredths("12.05"), Some(1205));
    assert_eq!(marks::hundredths("7"), Some(700));
    assert_eq!(marks::hundredths("1.234"), None);
    assert_eq!(marks::hundredths("x"), None);
    assert_eq!(marks::signed("3.00"), "+3.00");
    assert_eq!(marks::signed("-3.00"), "-3.00");
    assert_eq!(marks::signed("0.00"), "0.00");
    assert_eq!(
        csv_name("Elm Street Tenants!"),
        "elm-street-tenants-ledger.csv"
    );
    assert_eq!(csv_name("\"; x"), "x-ledger.csv");
    assert_eq!(csv_name("Ünïcode"), "n-code-ledger.csv");
    assert_eq!(csv_name("¿?"), "ledger.csv");
}

// ---------------------------------------------------------------------------------------------
// Shared things

fn resource_id(v: &Value, name: &str) -> String {
    v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn shared_things_escape_what_members_wrote_and_label_every_control() {
    let w = world();
    let empty = html(resources::resources(
        &w.reader(),
        &w.g(),
        &w.board(&FilterForm::default(), T0 + 1),
        &[],
    ));
    assert!(empty.contains("Nothing is shared yet"), "{empty}");
    let v = w.apply(
        Op::ResourceAdd {
            group: w.g(),
            name: format!("Bike {HOSTILE}"),
            category: "transport".into(),
            place: format!("Yard {HOSTILE}"),
        },
        T0 + 10,
    );
    let r = resource_id(&v, &format!("Bike {HOSTILE}"));
    w.apply(
        Op::ResourceNote {
            group: w.g(),
            resource: r.clone(),
            note: format!("chain {HOSTILE}"),
        },
        T0 + 20,
    );
    w.apply(
        Op::Book {
            group: w.g(),
            resource: r.clone(),
            from: "2027-03-01 10:00".into(),
            hours: 3,
            note: format!("move {HOSTILE}"),
        },
        T0 + 30,
    );
    let v = w.board(&FilterForm::default(), T0 + 40);
    let me = w.reader();
    let page = html(resources::resources(
        &me,
        &w.g(),
        &v,
        std::slice::from_ref(&me.did),
    ));
    assert!(!page.contains("<script>"), "{page}");
    for shown in [
        "Bike &lt;script&gt;",
        "at Yard &lt;script&gt;",
        "chain &lt;script&gt;",
        "move &lt;script&gt;",
        "data-exact>2027-03-01 10:00 UTC</time>",
        "data-exact>2027-03-01 13:00 UTC</time>",
        "Cancel my booking",
        "(UTC, not your local time)",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    assert!(page.contains(&format!(r#"id="r-{r}""#)), "{page}");
    assert!(!page.contains(resources::LOST), "{page}");
    // The only member and custodian: nobody to add, and nobody can step down.
    assert!(!page.contains("/resources/custodian"), "{page}");
    assert!(page.contains("keeps at least one custodian"), "{page}");
    csrf_everywhere(&page);
    for id in [
        "b-from-0",
        "b-hours-0",
        "b-note-0",
        "n-note-0",
        "r-name",
        "r-category",
        "r-place",
    ] {
        assert!(page.contains(&format!(r#"<label for="{id}""#)), "{id}");
        assert!(page.contains(&format!(r#"id="{id}""#)), "{id}");
    }
    assert!(page.contains(r#"type="datetime-local""#), "{page}");
    // The board links here.
    let board = html(render::board(&me, &w.g(), &v, &FilterForm::default()));
    assert!(
        board.contains(&format!(r#"href="/g/{}/resources""#, w.g())),
        "{board}"
    );
}

/// A board answer with one resource looked after by `a`, booked by `b` (lost to a crossing
/// booking) and by `c`.
fn resources_answer(a: &str, b: &str, c: &str) -> Value {
    json!({
        "group": "ab", "name": "Elm", "now": T0, "event": null,
        "intents": [], "commitments": [],
        "resources": [{
            "id": "r1", "name": "Cargo bike", "category": "transport", "place": "Elm",
            "custodians": [a],
            "notes": [{"by": b, "note": "brakes squeak", "at": T0 - 10}],
            "bookings": [
                {"id": "k2", "by": c, "from": T0 + 7_200_000, "until": T0 + 10_800_000, "note": "", "lost_to": null},
                {"id": "k1", "by": b, "from": T0 + 3_600_000, "until": T0 + 7_200_000, "note": HOSTILE, "lost_to": "k9"},
            ],
        }],
        "labels": {a: {"label": "Alice"}, b: {"label": HOSTILE}, c: {"label": "Carol"}},
    })
}

#[test]
fn bookings_say_when_they_lost_and_only_bookers_and_custodians_cancel() {
    let k = || Identity::generate().public().to_did();
    let (a, b, c) = (k(), k(), k());
    let v = resources_answer(&a, &b, &c);
    let members = [a.clone(), b.clone(), c.clone()];
    let page = |did: &str| html(resources::resources(&reader(did), "ab", &v, &members));
    let (alice, bob, carol, stranger) = (page(&a), page(&b), page(&c), page(&k()));
    for p in [&alice, &bob, &carol, &stranger] {
        assert!(!p.contains("<script>"), "{p}");
        assert_eq!(p.matches(resources::LOST).count(), 1, "{p}");
        assert!(p.contains(r#"data-status="lost""#), "{p}");
        assert!(p.contains("brakes squeak"), "{p}");
        // Bookings in time order: Bob's (earlier) before Carol's.
        assert!(p.find(r#"data-booking="k1""#) < p.find(r#"data-booking="k2""#));
        // Anyone may book it and note its condition.
        assert!(p.contains("/resources/book") && p.contains("/resources/note"));
        csrf_everywhere(p);
    }
    // The custodian cancels any booking and changes who looks after it.
    assert_eq!(alice.matches("/resources/cancel").count(), 2, "{alice}");
    assert_eq!(alice.matches("Cancel this booking").count(), 2, "{alice}");
    assert_eq!(alice.matches("/resources/custodian").count(), 1, "{alice}");
    let add = &alice[alice.find(r#"id="c-add-0""#).unwrap()..];
    let add = &add[..add.find("</select>").unwrap()];
    assert!(
        add.contains(&b) && add.contains(&c) && !add.contains(&a),
        "{add}"
    );
    assert!(alice.contains(r#"<label for="c-add-0""#), "{alice}");
    // Each booker cancels only their own; nobody else changes custodians.
    for (p, mine, theirs) in [(&bob, "k1", "k2"), (&carol, "k2", "k1")] {
        assert_eq!(p.matches("/resources/cancel").count(), 1, "{p}");
        assert!(p.contains(&format!(r#"name="id" value="{mine}""#)), "{p}");
        assert!(
            !p.contains(&format!(r#"name="id" value="{theirs}""#)),
            "{p}"
        );
        assert!(p.contains("Cancel my booking"), "{p}");
        assert!(!p.contains("/resources/custodian"), "{p}");
    }
    assert!(!stranger.contains("/resources/cancel"), "{stranger}");
    assert!(!stranger.contains("/resources/custodian"), "{stranger}");
    // Two custodians: either can remove one.
    let mut two = v.clone();
    two["resources"][0]["custodians"] = json!([a, b]);
    let p = html(resources::resources(&reader(&b), "ab", &two, &members));
    assert_eq!(p.matches("/resources/custodian").count(), 2, "{p}");
    assert!(p.contains(r#"<label for="c-remove-0""#), "{p}");
    assert!(p.contains(r#"name="add" value="remove""#), "{p}");
}

#[test]
fn the_book_form_is_checked_before_anything_is_sent_and_refusals_name_people() {
    let f = ResourceForm {
        resource: " r1 ".into(),
        from: "2027-03-01T10:00".into(),
        hours: "3".into(),
        note: " move ".into(),
        ..Default::default()
    };
    let Op::Book {
        resource,
        from,
        hours,
        note,
        ..
    } = book_op("ab", &f).unwrap()
    else {
        panic!("not a booking")
    };
    assert_eq!(
        (resource.as_str(), from.as_str(), hours, note.as_str()),
        ("r1", "2027-03-01 10:00", 3, "move")
    );
    let bad = ResourceForm {
        hours: "three".into(),
        ..f
    };
    assert!(book_op("ab", &bad).unwrap_err().contains("three"));
    assert!(book_op("ab", &ResourceForm::default()).is_err());
    let did = Identity::generate().public().to_did();
    let labels = json!({ &did: {"label": "Bob"} });
    assert_eq!(
        named(
            &format!("it is booked from x to y by {did} (booking k1)"),
            &labels
        ),
        "it is booked from x to y by Bob (booking k1)"
    );
}

// ---------------------------------------------------------------------------------------------
// Links between groups' ledgers, the commons, and what linked groups share

use super::{across_words, done_or_proposed, link_op, links};

impl World {
    fn links(&self, group: &str, now: u64) -> Value {
        self.ask(
            Query::Links {
                group: group.into(),
            },
            now,
        )
    }

    /// Proposes linking `group` to `with` (we are the bridge), votes yes and closes it;
    /// returns the proposal's answer.
    fn link(&self, group: &str, with: &str, name: &str, now: u64) -> Value {
        let fields: Vec<(String, String)> = vec![
            ("with".into(), with.into()),
            ("name".into(), name.into()),
            ("limit".into(), "50".into()),
            ("bridges".into(), self.id.public().to_did()),
        ];
        let op = match link_op(group, &fields).unwrap() {
            Op::Link {
                with,
                name,
                limit,
                bridges,
                ..
            } => Op::Link {
                group: group.into(),
                with,
                name,
                limit,
                bridges,
                deadline_secs: 0,
            },
            other => panic!("not a link: {other:?}"),
        };
        let p = self.apply(op, now);
        let id = p["id"].as_str().unwrap().to_string();
        self.apply(
            Op::Vote {
                group: group.into(),
                proposal: id.clone(),
                ballot: "yes".into(),
                reason: String::new(),
            },
            now + 1,
        );
        self.apply(
            Op::Close {
                group: group.into(),
                proposal: id,
            },
            now + 2,
        );
        p
    }

    /// The node's ledger duties for `group` (a bridge opens links and carries payments).
    fn duties(&self, group: &str, now: u64) {
        let g = dualpower_core::GroupId::from_hex(group).unwrap();
        dualpower_node::ops::ledger_duties(&self.store, &self.id, g, now).unwrap();
    }
}

/// The `<select>` with id `id` in `page`.
fn select_of(page: &str, id: &str) -> String {
    let s = &page[page.find(&format!(r#"id="{id}""#)).unwrap()..];
    s[..s.find("</select>").unwrap()].to_string()
}

/// One member in two groups links each to the other by the group's vote, its node opens the
/// link on both sides, it pays itself-in-the-other-group across: real answers all the way.
#[test]
fn a_link_is_proposed_opened_and_a_payment_across_is_delivered() {
    let w = world();
    let food = w.g();
    let transport = w.apply(
        Op::Create {
            name: "Transport".into(),
            constitution: Default::default(),
        },
        T0 + 5,
    )["group"]
        .as_str()
        .unwrap()
        .to_string();
    let me = w.reader();

    // No link yet: the section says so, offers the link form, and no pay-across form.
    let page = html(render::ledger(
        &me,
        &food,
        &w.ledger(T0 + 10),
        &w.links(&food, T0 + 10),
    ));
    assert!(page.contains("Our ledger is not linked"), "{page}");
    assert!(page.contains(&format!(r#"action="/g/{food}/ledger/link""#)));
    assert!(!page.contains("/ledger/across"), "{page}");
    assert!(
        !page.contains(r#"id="commons""#),
        "no demurrage, empty commons"
    );
    assert!(page.contains(&format!(r#"name="bridges" value="{}""#, me.did)));
    csrf_everywhere(&page);

    // Linking is put to the group: the answer is the proposal, and the page goes to it.
    let p = w.link(&food, &transport, "Transport <b>co</b>", T0 + 20);
    assert!(
        p["enacts"]
            .as_str()
            .unwrap()
            .contains("link the ledger to Transport"),
        "{p}"
    );
    let (flash, to) = done_or_proposed(&food, &p, "done".into(), "proposed");
    assert_eq!(flash.text, "proposed");
    assert_eq!(
        to,
        format!("/g/{food}/decisions/{}", p["id"].as_str().unwrap())
    );

    // Passed here, not yet there: waiting, in words.
    let page = html(render::ledger(
        &me,
        &food,
        &w.ledger(T0 + 30),
        &w.links(&food, T0 + 30),
    ));
    assert!(
        page.contains("waiting for the other group's decision"),
        "{page}"
    );
    assert!(page.contains("Transport &lt;b&gt;co&lt;/b&gt;"), "{page}");
    assert!(!page.contains("<b>co"), "{page}");
    assert!(
        !page.contains("/ledger/across"),
        "a waiting link takes no payments"
    );

    // The other group decides too; our node, the bridge, opens both sides.
    w.link(&transport, &food, "Food co-op", T0 + 40);
    w.duties(&transport, T0 + 50);
    for (g, other) in [(&food, &transport), (&transport, &food)] {
        let l = w.links(g, T0 + 60);
        assert_eq!(l["links"][0]["status"], "open", "{l}");
        assert_eq!(l["links"][0]["group"], other.as_str(), "{l}");
    }
    let page = html(render::ledger(
        &me,
        &food,
        &w.ledger(T0 + 60),
        &w.links(&food, T0 + 60),
    ));
    assert!(page.contains(r#"data-status="open">open<"#), "{page}");
    let choices = select_of(&page, "x-link");
    assert!(
        choices.contains(&format!(r#"value="{transport}""#)),
        "{choices}"
    );
    for id in [
        "x-link", "x-to", "x-amount", "x-memo", "k-with", "k-name", "k-limit",
    ] {
        assert!(page.contains(&format!(r#"<label for="{id}""#)), "{id}");
    }
    csrf_everywhere(&page);

    // Paying across: 2 to ourselves in Transport. Sent, then carried by our node.
    let v = w.apply(
        Op::PayAcross {
            group: food.clone(),
            to_group: transport.clone(),
            to: me.did.clone(),
            amount: "2".into(),
            memo: format!("rides {HOSTILE}"),
        },
        T0 + 70,
    );
    let said = across_words(&v);
    assert!(said.starts_with("Sent 2.00 hours to …"), "{said}");
    assert!(said.contains("in Transport <b>co</b>."), "{said}");
    let page = html(render::ledger(
        &me,
        &food,
        &w.ledger(T0 + 75),
        &w.links(&food, T0 + 75),
    ));
    assert!(page.contains(r#"data-state="sent">on its way<"#), "{page}");
    w.duties(&food, T0 + 80);
    let here = html(render::ledger(
        &me,
        &food,
        &w.ledger(T0 + 90),
        &w.links(&food, T0 + 90),
    ));
    assert!(
        here.contains(r#"data-state="delivered">delivered<"#),
        "{here}"
    );
    assert!(here.contains("rides &lt;script&gt;"), "{here}");
    assert!(!here.contains("<script>"), "{here}");
    assert!(here.contains(r#"id="my-balance">-2.00<"#), "{here}");
    assert!(here.contains(r#"clearing-balance">+2.00<"#), "{here}");
    // The clearing account is named for what it is (not a person's page), in the balances
    // and the payments.
    let account = w.links(&food, T0 + 90)["links"][0]["account"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        here.matches(&format!(
            r#"<span class="account" title="{account}">clearing: Transport &lt;b&gt;co&lt;/b&gt;</span>"#
        ))
        .count(),
        2,
        "{here}"
    );
    assert!(!here.contains(&format!("/people/{account}")), "{here}");
    assert!(!here.contains("(former member)"), "{here}");
    // There: the clearing account paid us 2, and the ledger still sums to zero.
    let there = w.ask(
        Query::Ledger {
            group: transport.clone(),
            member: None,
        },
        T0 + 90,
    );
    assert_eq!(there["sum"], "0.00", "{there}");
    let page = html(render::ledger(
        &me,
        &transport,
        &there,
        &w.links(&transport, T0 + 90),
    ));
    assert!(page.contains(r#"id="my-balance">+2.00<"#), "{page}");
    assert!(page.contains(r#"clearing-balance">-2.00<"#), "{page}");
    assert!(page.contains("Paid from members of Food co-op"), "{page}");
}

/// A links answer as the node writes it (see `dualpower_node::ops::link::links_json`): one
/// link of each status, a bounced payment and one delivered, demurrage on.
fn links_answer(a: &str, b: &str) -> Value {
    json!({
        "group": "ab", "name": "Elm", "unit": "hours", "demurrage_bp": 50, "commons": "3.25",
        "event": null,
        "links": [
            {"group": "11".repeat(32), "name": HOSTILE, "limit": "50.00", "bridges": [a],
             "status": "open", "account": "did:key:zClearing1", "balance": "1.00",
             "outgoing": [
                {"id": "x1", "from": a, "to": "did:key:zTheirs", "amount": "1.00",
                 "memo": format!("memo {HOSTILE}"), "state": "delivered", "detail": "ee", "at": T0},
                {"id": "x2", "from": b, "to": "did:key:zNobody", "amount": "4.00", "memo": "",
                 "state": "bounced", "detail": format!("the payee is not a member of {HOSTILE}"),
                 "at": T0 + 1},
             ],
             "incoming": [
                {"id": "y1", "origin": "o1", "from": "did:key:zTheirs", "to": b, "amount": "0.50",
                 "bridge": a},
             ]},
            {"group": "22".repeat(32), "name": "Bakery", "limit": "10.00", "bridges": [a],
             "status": "waiting", "account": "did:key:zClearing2", "balance": "0.00",
             "outgoing": [], "incoming": []},
            {"group": "33".repeat(32), "name": "Old friends", "limit": "10.00", "bridges": [],
             "status": "closed", "account": "did:key:zClearing3", "balance": "0.00",
             "outgoing": [], "incoming": []},
        ],
    })
}

#[test]
fn linked_groups_escape_names_and_memos_and_take_payments_only_when_open() {
    let k = || Identity::generate().public().to_did();
    let (a, b) = (k(), k());
    let mut v = ledger_answer(&a, &b);
    v["accounts"].as_array_mut().unwrap().push(json!({
        "member": "did:key:zClearing1", "balance": "1.00", "balance_hundredths": "100",
        "limit": "0.00", "is_member": false,
    }));
    v["named"] = json!({ "did:key:zClearing1": format!("clearing: {HOSTILE}") });
    let l = links_answer(&a, &b);
    let page = html(render::ledger(&reader(&a), "ab", &v, &l));
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("memo &lt;script&gt;"), "{page}");
    assert!(
        page.contains(
            r#"<span class="account" title="did:key:zClearing1">clearing: &lt;script&gt;"#
        ),
        "{page}"
    );
    assert!(!page.contains("(former member)"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt; <span"),
        "{page}"
    );
    // Each status in words.
    for (status, words) in [
        ("open", "open"),
        ("waiting", "waiting for the other group's decision"),
        ("closed", "closed"),
    ] {
        assert_eq!(links::status_words(status), words);
        assert!(
            page.contains(&format!(r#"data-status="{status}""#)),
            "{status}"
        );
    }
    assert!(page.contains("It opens when Bakery decides"), "{page}");
    // A bounced payment says why, escaped; a delivered one says so.
    assert!(
        page.contains("paid back: the payee is not a member of &lt;script&gt;"),
        "{page}"
    );
    assert!(page.contains(r#"data-state="delivered""#), "{page}");
    assert!(
        page.contains("Paid from members of &lt;script&gt;"),
        "{page}"
    );
    // Only the open link can be paid across.
    let choices = select_of(&page, "x-link");
    assert!(choices.contains(&"11".repeat(32)), "{choices}");
    assert!(!choices.contains(&"22".repeat(32)), "{choices}");
    assert!(!choices.contains(&"33".repeat(32)), "{choices}");
    assert_eq!(page.matches("/ledger/across").count(), 1, "{page}");
    // The commons: its balance, the rate, and the grant form to members only.
    assert!(page.contains(r#"id="commons-balance">3.25<"#), "{page}");
    assert!(page.contains("pays 0.50% per 30 days"), "{page}");
    let to = select_of(&page, "gr-member");
    assert!(to.contains(&a) && to.contains(&b), "{to}");
    for id in ["gr-member", "gr-amount", "gr-memo", "x-to", "k-with"] {
        assert!(page.contains(&format!(r#"<label for="{id}""#)), "{id}");
    }
    // Bridges to tick: the members, oneself marked.
    assert!(
        page.contains(&format!(r#"name="bridges" value="{a}""#)),
        "{page}"
    );
    assert!(page.contains("Alice (you)"), "{page}");
    csrf_everywhere(&page);

    // No open link: no pay-across form; no demurrage and an empty commons: no commons.
    let mut quiet = l.clone();
    quiet["links"][0]["status"] = json!("closed");
    quiet["demurrage_bp"] = json!(0);
    quiet["commons"] = json!("0.00");
    let page = html(render::ledger(&reader(&a), "ab", &v, &quiet));
    assert!(!page.contains("/ledger/across"), "{page}");
    assert!(!page.contains(r#"id="commons""#), "{page}");
    assert!(page.contains("/ledger/link"), "{page}");
    // No links answer (it could not be read): no section at all.
    let page = html(render::ledger(&reader(&a), "ab", &v, &Value::Null));
    assert!(!page.contains(r#"id="links""#), "{page}");
}

#[test]
fn the_link_form_is_checked_before_anything_is_sent() {
    let f = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let full = f(&[
        ("_csrf", "tok"),
        ("with", " abcd "),
        ("name", " Bakery "),
        ("limit", "50"),
        ("bridges", "did:key:a"),
        ("bridges", "did:key:b"),
    ]);
    let Op::Link {
        group,
        with,
        name,
        limit,
        bridges,
        deadline_secs,
    } = link_op("g1", &full).unwrap()
    else {
        panic!("not a link")
    };
    assert_eq!((group.as_str(), with.as_str()), ("g1", "abcd"));
    assert_eq!((name.as_str(), limit.as_str()), ("Bakery", "50"));
    assert_eq!(bridges, vec!["did:key:a".to_string(), "did:key:b".into()]);
    assert!(deadline_secs > 0);
    let no_bridge = f(&[("with", "abcd"), ("name", "Bakery"), ("limit", "50")]);
    assert!(link_op("g1", &no_bridge).unwrap_err().contains("bridge"));
    let no_name = f(&[("with", "abcd"), ("limit", "5"), ("bridges", "x")]);
    assert!(link_op("g1", &no_name).unwrap_err().contains("call"));
    assert!(link_op("g1", &[]).unwrap_err().contains("id"));
    // Done at once (the rules let this member): back to the ledger.
    let (flash, to) = done_or_proposed("g1", &json!({"links": []}), "done".into(), "p");
    assert_eq!((flash.text.as_str(), to.as_str()), ("done", "/g/g1/ledger"));
}

/// A board answer with what linked groups share.
fn linked_board(a: &str) -> Value {
    json!({
        "group": "ab", "name": "Elm", "now": T0, "event": null,
        "intents": [], "commitments": [],
        "linked": [
            {"origin": "o1", "group": "11".repeat(32), "group_name": HOSTILE, "kind": "offer",
             "author": a, "category": "transport", "text": format!("Rides {HOSTILE}"),
             "left": 4, "unit": "rides", "place": format!("Market {HOSTILE}"),
             "expires": T0 + 1000, "bridge": a},
            {"origin": "o2", "group": "22".repeat(32), "group_name": null, "kind": "need",
             "author": "did:key:z6MkStranger", "category": "care", "text": "Soup",
             "left": 1, "unit": "", "place": "", "expires": 0, "bridge": a},
        ],
        "labels": {a: {"label": "Alice"}},
    })
}

#[test]
fn the_board_shows_what_linked_groups_share_and_offers_to_share_with_them() {
    let a = Identity::generate().public().to_did();
    let page = html(render::board(
        &reader(&a),
        "ab",
        &linked_board(&a),
        &FilterForm::default(),
    ));
    assert!(!page.contains("<script>"), "{page}");
    assert!(
        page.contains(r#"id="linked-h">From linked groups<"#),
        "{page}"
    );
    assert!(page.contains("Rides &lt;script&gt;"), "{page}");
    assert!(page.contains("at Market &lt;script&gt;"), "{page}");
    assert!(page.contains("4 rides left"), "{page}");
    assert!(page.contains("in <strong>&lt;script&gt;"), "{page}");
    assert!(page.contains("by <span class=\"who\""), "{page}");
    assert!(page.contains(">Alice</span>"), "{page}");
    // A stranger by short key; a group with no name here by its id.
    assert!(page.contains("…Stranger"), "{page}");
    assert!(page.contains("in <strong>group 222222222222…"), "{page}");
    assert!(page.contains("1 left"), "{page}");
    // Nothing to commit to here: it is committed to in its own group.
    assert!(!page.contains("/board/commit"), "{page}");
    // The post form's box, labelled; ticked, the intent is shared.
    assert!(
        page.contains(r#"<input type="checkbox" id="a-linked" name="linked" value="yes">"#),
        "{page}"
    );
    assert!(page.contains("Show it to linked groups too"), "{page}");
    let f = IntentForm {
        kind: "offer".into(),
        category: "transport".into(),
        text: "Rides".into(),
        linked: Some("yes".into()),
        ..Default::default()
    };
    let Op::AidIntent { intent, .. } = intent_op("ab", &f).unwrap() else {
        panic!("not an intent")
    };
    assert!(intent.linked);
    // Nothing shared by linked groups: no section.
    let none = html(render::board(
        &reader(&a),
        "ab",
        &board_answer(&a, &a),
        &FilterForm::default(),
    ));
    assert!(!none.contains("From linked groups"), "{none}");
    assert!(none.contains(r#"id="a-linked""#), "{none}");
}

#[test]
fn the_rules_form_sets_demurrage() {
    use crate::pages::members::{RulesForm, render_as};
    let w = world();
    let v = w.ask(Query::Members { group: w.g() }, T0 + 1);
    let page = html(render_as(&w.reader(), &w.g(), &v));
    assert!(page.contains(r#"<label for="r-demurrage""#), "{page}");
    assert!(
        page.contains(r#"id="r-demurrage" name="demurrage""#),
        "{page}"
    );
    let f = RulesForm::new(vec![("demurrage".into(), " 0.5 ".into())]);
    assert_eq!(f.args().unwrap().demurrage.as_deref(), Some("0.5"));
    let f = RulesForm::new(vec![("demurrage".into(), "".into())]);
    assert_eq!(
        f.args().unwrap().demurrage,
        None,
        "empty leaves it unchanged"
    );
    // Set through the rules, it shows on the ledger with the commons.
    let mut args = RulesForm::new(vec![("demurrage".into(), "1".into())])
        .args()
        .unwrap();
    args.history = None;
    w.apply(
        Op::Amend {
            group: w.g(),
            constitution: args,
            confirmed: true,
        },
        T0 + 10,
    );
    let l = w.links(&w.g(), T0 + 20);
    assert_eq!(l["demurrage_bp"], 100, "{l}");
    let page = html(render::ledger(&w.reader(), &w.g(), &w.ledger(T0 + 20), &l));
    assert!(page.contains("pays 1.00% per 30 days"), "{page}");
    assert!(page.contains(r#"id="commons-balance">0.00<"#), "{page}");
    assert!(page.contains("/ledger/grant"), "{page}");
}
