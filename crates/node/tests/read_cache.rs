//! The read side's cache of opened content ([`dualpower_node::ops::opened`]) and the paged feed
//! query ([`Query::FeedPage`]).
//!
//! What it proves:
//!
//! * a read that finds the group unchanged decrypts nothing, and every new event, whether
//!   written here or arriving from another member's store, is in the next answer (the cache is
//!   brought up to date, decrypting only the new events);
//! * the cached answers equal those computed from scratch (a copy of the store at another path
//!   starts with no cache entry);
//! * the cache serves one member's plaintext to no one else: a stranger, and a removed member
//!   whose keys do not open the new epoch, reading the same store after the member, read
//!   nothing they could not read before;
//! * a forgotten epoch's posts leave the feed at once, though the cache had opened them;
//! * `FeedPage` returns exactly the requested slice of the newest-first order, clamps a page
//!   past the end and a bad page size, and `Feed` keeps its shape (the CLI prints it).
#![allow(clippy::unwrap_used)]

mod common;
use common::{Member, admit, apply, exchange, member, post};

use dualpower_core::GroupId;
use dualpower_node::ops::{self, ConstitutionArgs, Op};
use dualpower_node::query::{MAX_PER_PAGE, Query, answer};
use serde_json::Value;

const DAY: u64 = 86_400_000;

fn create(a: &Member, constitution: ConstitutionArgs) -> GroupId {
    let g = apply(
        a,
        Op::Create {
            name: "tenants".into(),
            constitution,
        },
        1_000,
    );
    GroupId::from_hex(g["group"].as_str().unwrap()).unwrap()
}

/// `m` puts a yes/no question to the group; returns its id.
fn propose(m: &Member, group: GroupId, title: &str, now: u64) -> String {
    apply(
        m,
        Op::Propose {
            group: group.to_hex(),
            title: title.into(),
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
        now,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn feed(m: &Member, group: GroupId, now: u64) -> Value {
    answer(
        &m.store,
        &m.id,
        Query::Feed {
            group: group.to_hex(),
        },
        now,
    )
    .unwrap()
}

fn page(m: &Member, group: GroupId, page: usize, per_page: usize) -> Value {
    answer(
        &m.store,
        &m.id,
        Query::FeedPage {
            group: group.to_hex(),
            page,
            per_page,
        },
        50_000,
    )
    .unwrap()
}

fn texts(v: &Value) -> Vec<String> {
    v["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_unchanged_group_is_not_decrypted_again_and_every_new_event_is_read() {
    let (a, b) = (member(), member());
    let group = create(&a, ConstitutionArgs::default());
    admit(&a, &b, &[&a, &b], group, 2_000);
    for i in 0..5 {
        post(&a, group, &format!("a{i}"), 10_000 + i);
    }
    exchange(&[&a, &b], group);
    assert_eq!(
        texts(&feed(&a, group, 20_000)),
        ["a0", "a1", "a2", "a3", "a4"]
    );

    // Unchanged: nothing decrypted, for the feed or for the names of any other answer.
    let before = ops::opened::decrypted();
    for q in [
        Query::Feed {
            group: group.to_hex(),
        },
        Query::Members {
            group: group.to_hex(),
        },
        Query::Proposals {
            group: group.to_hex(),
        },
    ] {
        answer(&a.store, &a.id, q, 20_000).unwrap();
    }
    assert_eq!(ops::opened::decrypted(), before);

    // A post written here: read at once, and only it is decrypted.
    post(&a, group, "a5", 21_000);
    let v = feed(&a, group, 22_000);
    assert_eq!(texts(&v).last().unwrap(), "a5");
    assert_eq!(ops::opened::decrypted(), before + 1);

    // A post and a display name from another member's store, arriving as a bundle would.
    post(&b, group, "from b", 23_000);
    apply(
        &b,
        Op::SetName {
            group: group.to_hex(),
            name: "Bea".into(),
        },
        23_500,
    );
    exchange(&[&a, &b], group);
    let v = feed(&a, group, 24_000);
    assert!(texts(&v).contains(&"from b".to_owned()), "{:?}", texts(&v));
    assert_eq!(v["labels"][b.did()]["display"], "Bea", "{}", v["labels"]);
    let members = answer(
        &a.store,
        &a.id,
        Query::Members {
            group: group.to_hex(),
        },
        24_000,
    )
    .unwrap();
    assert_eq!(members["labels"][b.did()]["display"], "Bea");
}

#[test]
fn cached_answers_equal_answers_from_scratch() {
    let (a, b) = (member(), member());
    let group = create(&a, ConstitutionArgs::default());
    admit(&a, &b, &[&a, &b], group, 2_000);
    for i in 0..4 {
        post(&a, group, &format!("p{i}"), 10_000 + i);
        post(&b, group, &format!("q{i}"), 10_000 + i);
    }
    propose(&a, group, "Buy a van?", 10_100);
    exchange(&[&a, &b], group);
    let queries = || {
        [
            Query::Proposals {
                group: group.to_hex(),
            },
            Query::Feed {
                group: group.to_hex(),
            },
            Query::FeedPage {
                group: group.to_hex(),
                page: 1,
                per_page: 3,
            },
            Query::Members {
                group: group.to_hex(),
            },
            Query::Names {
                group: group.to_hex(),
            },
        ]
    };
    // Warm the cache, change the group, read again (an updated entry, not a new one).
    for q in queries() {
        answer(&a.store, &a.id, q, 20_000).unwrap();
    }
    post(&b, group, "late", 21_000);
    let p = propose(&b, group, "Paint the hall?", 21_500);
    exchange(&[&a, &b], group);
    apply(
        &a,
        Op::Vote {
            group: group.to_hex(),
            proposal: p.clone(),
            ballot: "yes".into(),
            reason: String::new(),
        },
        21_600,
    );
    exchange(&[&a, &b], group);
    let cached: Vec<Value> = queries()
        .into_iter()
        .map(|q| answer(&a.store, &a.id, q, 22_000).unwrap())
        .collect();

    // The same store at another path: no cache entry, everything from scratch.
    let copy = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(a.dir()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
    }
    let fresh_store = dualpower_store::Store::open(
        copy.path(),
        dualpower_store::StoreConfig {
            network: *a.store.network(),
            ..Default::default()
        },
    )
    .unwrap();
    let before = ops::opened::decrypted();
    let fresh: Vec<Value> = queries()
        .into_iter()
        .map(|q| answer(&fresh_store, &a.id, q, 22_000).unwrap())
        .collect();
    assert!(
        ops::opened::decrypted() > before,
        "the copy was read from a cache"
    );
    assert_eq!(cached, fresh);
    // The changes are in (the cache was brought up to date, not served stale).
    assert_eq!(cached[0]["proposals"].as_array().unwrap().len(), 2);
    let voted = cached[0]["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == p.as_str())
        .unwrap();
    assert_eq!(voted["votes"].as_array().unwrap().len(), 1, "{voted}");
    assert_eq!(
        texts(&cached[1]).last().unwrap(),
        "Proposal: Paint the hall?"
    );
}

#[test]
fn the_cache_gives_no_one_else_a_members_plaintext() {
    let (a, b) = (member(), member());
    let group = create(&a, ConstitutionArgs::default());
    admit(&a, &b, &[&a, &b], group, 2_000);
    post(&a, group, "before the removal", 3_000);
    exchange(&[&a, &b], group);
    apply(
        &a,
        Op::Remove {
            group: group.to_hex(),
            member: b.did(),
            reason: "leaked the minutes".into(),
        },
        4_000,
    );
    post(&a, group, "after the removal", 5_000);
    // A reads (and caches) everything, including the removal's sealed reason.
    let v = feed(&a, group, 6_000);
    assert_eq!(texts(&v), ["before the removal", "after the removal"]);

    // Someone holding A's store but not A's keys: a stranger's identity reads nothing.
    let stranger = dualpower_core::Identity::generate();
    let v = answer(
        &a.store,
        &stranger,
        Query::Feed {
            group: group.to_hex(),
        },
        6_000,
    )
    .unwrap();
    assert_eq!(texts(&v), Vec::<String>::new(), "{v}");

    // The removed member, given A's events, reads what it read before and nothing after, and
    // not the sealed reason (it is under the epoch that excludes them).
    exchange(&[&a, &b], group);
    assert_eq!(texts(&feed(&b, group, 7_000)), ["before the removal"]);
    let m = answer(
        &b.store,
        &b.id,
        Query::Members {
            group: group.to_hex(),
        },
        7_000,
    )
    .unwrap();
    assert_ne!(m["removed"][0]["reason"], "leaked the minutes", "{m}");
    // And A still reads the reason (its entry was not disturbed by the others' reads).
    let m = answer(
        &a.store,
        &a.id,
        Query::Members {
            group: group.to_hex(),
        },
        7_000,
    )
    .unwrap();
    assert_eq!(m["removed"][0]["reason"], "leaked the minutes", "{m}");
}

#[test]
fn a_forgotten_epochs_posts_leave_the_cached_feed() {
    let a = member();
    let group = create(
        &a,
        ConstitutionArgs {
            forget_after_days: Some(1),
            ..Default::default()
        },
    );
    post(&a, group, "old", 2_000);
    apply(
        &a,
        Op::Rekey {
            group: group.to_hex(),
        },
        3_000,
    );
    post(&a, group, "new", 4_000);
    // Read (and cached) while the old epoch is kept; this read also starts its clock.
    assert_eq!(texts(&feed(&a, group, 5_000)), ["old", "new"]);
    assert_eq!(texts(&feed(&a, group, 6_000)), ["old", "new"]);
    // No new event, only time: the epoch is forgotten, and its post is gone from the answer.
    assert_eq!(texts(&feed(&a, group, 6_000 + 2 * DAY)), ["new"]);
    assert_eq!(texts(&feed(&a, group, 7_000 + 2 * DAY)), ["new"]);
}

#[test]
fn feed_pages_are_the_newest_first_slices() {
    let a = member();
    let group = create(&a, ConstitutionArgs::default());
    for i in 1..=7 {
        post(&a, group, &format!("p{i}"), 10_000 + i);
    }
    let all = feed(&a, group, 50_000);
    assert_eq!(texts(&all), ["p1", "p2", "p3", "p4", "p5", "p6", "p7"]);
    // The full feed keeps its shape: every rejected event listed, no paging fields.
    assert!(all["rejected"].is_array());
    assert!(all.get("total").is_none() && all.get("page").is_none());

    let p0 = page(&a, group, 0, 3);
    assert_eq!(texts(&p0), ["p5", "p6", "p7"]);
    assert_eq!(
        (&p0["total"], &p0["page"], &p0["pages"], &p0["per_page"]),
        (
            &Value::from(7),
            &Value::from(0),
            &Value::from(3),
            &Value::from(3)
        )
    );
    assert!(p0.get("rejected").is_none() && p0["rejected_count"].is_u64());
    assert_eq!(p0["state_hash"], all["state_hash"]);
    assert_eq!(p0["name"], all["name"]);
    assert_eq!(texts(&page(&a, group, 1, 3)), ["p2", "p3", "p4"]);
    assert_eq!(texts(&page(&a, group, 2, 3)), ["p1"]);
    // Past the end: the last page, said so.
    let last = page(&a, group, 99, 3);
    assert_eq!(
        (texts(&last), &last["page"]),
        (vec!["p1".to_owned()], &Value::from(2))
    );
    let huge = page(&a, group, usize::MAX, usize::MAX);
    assert_eq!(huge["per_page"], MAX_PER_PAGE);
    assert_eq!(texts(&huge), texts(&all));
    // A page size of 0 is one post per page, not a division by zero.
    let one = page(&a, group, 0, 0);
    assert_eq!(
        (texts(&one), &one["pages"]),
        (vec!["p7".to_owned()], &Value::from(7))
    );
    // As the API receives it: page and page size may be left out.
    let q: Query = serde_json::from_value(
        serde_json::json!({ "query": "feed_page", "group": group.to_hex() }),
    )
    .unwrap();
    let v = answer(&a.store, &a.id, q, 50_000).unwrap();
    assert_eq!(
        (&v["page"], &v["per_page"]),
        (&Value::from(0), &Value::from(30))
    );
    assert_eq!(texts(&v), texts(&all));
    // Labels name the page's authors like the full feed's.
    assert_eq!(p0["labels"][a.did()], all["labels"][a.did()]);
}

#[test]
fn an_empty_feed_has_one_empty_page_and_bad_groups_are_refused() {
    let a = member();
    let group = create(&a, ConstitutionArgs::default());
    let p = page(&a, group, 3, 30);
    assert_eq!(texts(&p), Vec::<String>::new());
    assert_eq!(
        (&p["total"], &p["page"], &p["pages"]),
        (&Value::from(0), &Value::from(0), &Value::from(1))
    );
    for bad in ["zz".to_owned(), "ab".repeat(32)] {
        let e = answer(
            &a.store,
            &a.id,
            Query::FeedPage {
                group: bad,
                page: 0,
                per_page: 30,
            },
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("group"), "{e}");
    }
}
