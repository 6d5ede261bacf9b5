//! The web app's server-side render time on a big group (issue 13's target: a page renders in
//! at most 50 ms for a group with 10 000 posts and 1 000 proposals).
//!
//! A page is a read through the node ([`dualpower_node::query::answer`], what `App::view` runs
//! on the node's event loop) and a render of its answer (the page's `render` function in
//! `dualpower-web`). Both run here in one thread, without HTTP or the layout around the page
//! (which does not depend on the group's size), and are timed apart and together:
//!
//! - feed: `Query::FeedPage` (the first page, as the web app asks since this bench; before, it
//!   asked `Query::Feed`, every post) and `feed::render_as`;
//! - feed (all posts): `Query::Feed`, every post (what the CLI reads), rendered the same;
//! - decisions: `Query::Proposals` and `Query::Members` (the page's context: the delegate
//!   select) and `decisions::render_list`;
//! - proposal: `Query::Proposal` and `Query::Members` and `decisions::render_proposal`;
//! - members: `Query::Members` and `members::render_as`.
//!
//! "Cold" is the first request of a node that just started (a fresh copy of the store's
//! directory, so the process-wide caches keyed by the store's path start empty); "warm" is
//! every later request with no new event in between (the median and 95th percentile of RUNS
//! repeats). CPU time is this thread's (`CLOCK_THREAD_CPUTIME_ID`).
//!
//! The group is built through the operations layer (`dualpower_node::ops::apply`), as people's
//! nodes build it: 5 members with their own stores (events copied between them as a bundle
//! would), POSTS sealed posts round robin, a comment on every 4th post and a reaction on every
//! 3rd, PROPOSALS proposals by turns under five methods (majority, consent, approval, score,
//! plurality), 4 votes on each, and every 3rd proposal closed by its author.
//!
//! `cargo run --release -p dualpower-bench --bin web_render [-- POSTS PROPOSALS RUNS]`
//! (default 10000 1000 30).

use std::path::Path;
use std::time::Instant;

use dualpower_bench::thread_cpu;

use dualpower_core::{GroupId, Identity, Payload};
use dualpower_node::ops::{self, ConstitutionArgs, Op};
use dualpower_node::query::{Query, answer};
use dualpower_store::{Store, StoreConfig};
use dualpower_web::pages::decisions::{Cx, render_list, render_proposal};
use dualpower_web::pages::feed::{self, Reader};
use dualpower_web::pages::members;
use serde_json::Value;

/// One member: its own store and keys.
struct Member {
    store: Store,
    id: Identity,
    dir: tempfile::TempDir,
}

fn open(path: &Path) -> Store {
    Store::open(
        path,
        StoreConfig {
            network: dualpower_bench::network(),
            ..StoreConfig::default()
        },
    )
    .unwrap_or_else(|e| panic!("store: {e}"))
}

fn member(i: usize) -> Member {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tmp: {e}"));
    let mut seed = [3u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Member {
        store: open(dir.path()),
        id: Identity::from_seed(&seed),
        dir,
    }
}

fn apply(m: &Member, op: Op, now: u64) -> Value {
    let what = format!("{op:?}");
    match ops::apply(&m.store, &m.id, op, now) {
        Ok(o) => o.value,
        Err(e) => panic!("{what} refused: {e}"),
    }
}

/// Copies every event of `group` each member holds to every other member.
fn exchange(all: &[Member], group: GroupId) {
    for from in all {
        let events = from
            .store
            .group_events(group)
            .unwrap_or_else(|e| panic!("{e}"));
        for to in all {
            if !std::ptr::eq(from, to) {
                to.store
                    .ingest(events.clone())
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

fn write(m: &Member, group: GroupId, payload: &Payload, now: u64) -> String {
    let v = apply(
        m,
        Op::Write {
            group: group.to_hex(),
            payload: hex::encode(payload.encode()),
        },
        now,
    );
    v["id"].as_str().unwrap_or_default().to_owned()
}

/// (method, options, the ballots the four voters cast).
const METHODS: [(&str, &[&str], [&str; 4]); 5] = [
    ("majority", &[], ["yes", "no", "yes", "abstain"]),
    ("consent", &[], ["agree", "agree", "abstain", "disagree"]),
    (
        "approval",
        &["north", "south", "east"],
        ["north", "north,south", "east", "south"],
    ),
    (
        "score:min=0,max=5",
        &["tea", "coffee"],
        [
            "tea=5,coffee=1",
            "tea=2,coffee=4",
            "tea=3,coffee=3",
            "tea=0,coffee=5",
        ],
    ),
    (
        "plurality",
        &["red", "green", "blue"],
        ["red", "green", "red", "blue"],
    ),
];

/// Builds the group; returns the members (the first is the one whose pages are measured).
fn build(posts: usize, proposals: usize) -> (Vec<Member>, GroupId) {
    let t0 = Instant::now();
    let mut now = 1_765_000_000_000u64;
    let mut tick = || {
        now += 1_000;
        now
    };
    let all: Vec<Member> = (0..5).map(member).collect();
    let a = &all[0];
    let g = apply(
        a,
        Op::Create {
            name: "big co-op".into(),
            constitution: ConstitutionArgs::default(),
        },
        tick(),
    );
    let group = GroupId::from_hex(g["group"].as_str().unwrap_or_default())
        .unwrap_or_else(|| panic!("no group in {g}"));
    for n in &all[1..] {
        let code = apply(
            a,
            Op::Invite {
                group: group.to_hex(),
                expires_secs: 86_400,
                uses: 1,
                addrs: vec![],
            },
            tick(),
        )["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        exchange(&all, group);
        apply(n, Op::Join { code }, tick());
        exchange(&all, group);
        ops::run_agent(&a.store, &a.id, group, tick()).unwrap_or_else(|e| panic!("{e}"));
        ops::run_agent(&a.store, &a.id, group, tick()).unwrap_or_else(|e| panic!("{e}"));
        exchange(&all, group);
    }
    for (i, m) in all.iter().enumerate() {
        apply(
            m,
            Op::SetName {
                group: group.to_hex(),
                name: format!("Member {i}"),
            },
            tick(),
        );
    }
    exchange(&all, group);
    eprintln!(
        "  group of {} members: {:.1} s",
        all.len(),
        t0.elapsed().as_secs_f64()
    );

    // Posts by turns, each member in its own store, then one exchange.
    let mut ids = Vec::with_capacity(posts);
    for i in 0..posts {
        let m = &all[i % all.len()];
        let text = format!(
            "Post {i}: the rota for the food bank next week, who brings the van, and what we still need."
        );
        ids.push(write(m, group, &Payload::Post { text }, tick()));
    }
    exchange(&all, group);
    eprintln!("  + {posts} posts: {:.1} s", t0.elapsed().as_secs_f64());
    for (i, id) in ids.iter().enumerate() {
        let parent = dualpower_core::EventId::from_hex(id).unwrap_or_else(|| panic!("id {id}"));
        let m = &all[(i + 1) % all.len()];
        if i % 4 == 0 {
            let text = format!("I can do Tuesday ({i}).");
            write(m, group, &Payload::Comment { parent, text }, tick());
        }
        if i % 3 == 0 {
            let reaction = feed::REACTIONS[i % feed::REACTIONS.len()].to_owned();
            let target = parent;
            write(m, group, &Payload::Reaction { target, reaction }, tick());
        }
    }
    exchange(&all, group);
    eprintln!(
        "  + comments and reactions: {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let mut props = Vec::with_capacity(proposals);
    for i in 0..proposals {
        let author = i % all.len();
        let (method, options, _) = METHODS[i % METHODS.len()];
        let v = apply(
            &all[author],
            Op::Propose {
                group: group.to_hex(),
                title: format!("Proposal {i}: spend on the van?"),
                body: "We have had this on the agenda for a while; let us decide.".into(),
                options: options.iter().map(|o| (*o).to_owned()).collect(),
                method: Some(method.to_owned()),
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
            tick(),
        );
        props.push((author, v["id"].as_str().unwrap_or_default().to_owned()));
    }
    exchange(&all, group);
    eprintln!(
        "  + {proposals} proposals: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    for (i, (author, pid)) in props.iter().enumerate() {
        let (_, _, ballots) = METHODS[i % METHODS.len()];
        for (k, ballot) in ballots.iter().enumerate() {
            // Four voters, never the same four in a row.
            let m = &all[(author + 1 + k + i % 2) % all.len()];
            apply(
                m,
                Op::Vote {
                    group: group.to_hex(),
                    proposal: pid.clone(),
                    ballot: (*ballot).to_owned(),
                    reason: String::new(),
                },
                tick(),
            );
        }
    }
    exchange(&all, group);
    eprintln!("  + votes: {:.1} s", t0.elapsed().as_secs_f64());
    for (i, (author, pid)) in props.iter().enumerate() {
        if i % 3 == 0 {
            apply(
                &all[*author],
                Op::Close {
                    group: group.to_hex(),
                    proposal: pid.clone(),
                },
                tick(),
            );
        }
    }
    exchange(&all, group);
    eprintln!("  + closes: {:.1} s", t0.elapsed().as_secs_f64());
    (all, group)
}

/// This thread's CPU time in seconds, to the nanosecond (`/proc/self/stat` ticks in 10 ms, and
/// `/proc/thread-self/schedstat` is only brought up to date at scheduler ticks: both too coarse
/// for one page).
/// Wall and CPU seconds of one call.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let c0 = thread_cpu();
    let t0 = Instant::now();
    let v = f();
    (v, t0.elapsed().as_secs_f64(), thread_cpu() - c0)
}

/// How a page's answers become its HTML.
type Render = Box<dyn Fn(&[Value]) -> String>;

/// One page: which queries, and how its answer becomes HTML.
struct Page {
    name: &'static str,
    queries: Vec<Query>,
    render: Render,
}

/// One measurement of a page: (query wall, query CPU, render wall, render CPU) in seconds, and
/// the HTML's length.
fn once(store: &Store, id: &Identity, page: &Page, now: u64) -> ([f64; 4], usize) {
    let (answers, qw, qc) = timed(|| {
        page.queries
            .iter()
            .map(|q| answer(store, id, q.clone(), now).unwrap_or_else(|e| panic!("{e}")))
            .collect::<Vec<_>>()
    });
    let (html, rw, rc) = timed(|| (page.render)(&answers));
    ([qw, qc, rw, rc], html.len())
}

fn stats(mut xs: Vec<f64>) -> (f64, f64) {
    xs.sort_by(f64::total_cmp);
    let at = |q: f64| xs[((xs.len() - 1) as f64 * q).round() as usize] * 1000.0;
    (at(0.5), at(0.95))
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let posts = args.first().copied().unwrap_or(10_000);
    let proposals = args.get(1).copied().unwrap_or(1_000);
    let runs = args.get(2).copied().unwrap_or(30).max(1);

    eprintln!("building: {posts} posts, {proposals} proposals");
    let (all, group) = build(posts, proposals);
    let me = &all[0];
    let now = 1_800_000_000_000u64;
    let g = group.to_hex();
    let events = me.store.group_events(group).map_or(0, |e| e.len());

    let members_of = |v: &Value| -> Vec<String> {
        v["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect()
    };
    let cx_of = {
        let g = g.clone();
        let did = me.id.public().to_did();
        move |m: &Value| Cx {
            csrf: "x".repeat(43),
            me: did.clone(),
            group: g.clone(),
            now,
            members: members_of(m),
            suggested: Vec::new(),
            labels: m["labels"].clone(),
            roles: m["constitution"]["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
        }
    };
    let viewer = Reader {
        did: me.id.public().to_did(),
        csrf: "x".repeat(43),
    };
    // A closed proposal with votes (the richest page: tally, chart, certificate).
    let v = answer(
        &me.store,
        &me.id,
        Query::Proposals { group: g.clone() },
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let list = v["proposals"].as_array().cloned().unwrap_or_default();
    let closed = list.iter().filter(|p| p["status"] == "closed").count();
    let proposal = list
        .iter()
        .find(|p| p["status"] == "closed" && p["method"].as_str() == Some("majority"))
        .or_else(|| list.first())
        .and_then(|p| p["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let feed_v = answer(&me.store, &me.id, Query::Feed { group: g.clone() }, now)
        .unwrap_or_else(|e| panic!("{e}"));
    let feed_posts = feed_v["posts"].as_array().map_or(0, Vec::len);
    let comments: usize = feed_v["posts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["comments"].as_array().map_or(0, Vec::len))
        .sum();
    drop(feed_v);

    let pages = {
        let (g1, g2, g3, g4, g5) = (g.clone(), g.clone(), g.clone(), g.clone(), g.clone());
        let (c2, c3) = (cx_of.clone(), cx_of);
        let (v1, v4, v5) = (viewer.clone(), viewer.clone(), viewer);
        let p = proposal.clone();
        vec![
            Page {
                name: "feed (first page)",
                queries: vec![Query::FeedPage {
                    group: g1.clone(),
                    page: 0,
                    per_page: feed::PAGE,
                }],
                render: Box::new(move |a| feed::render_as(&v1, &g1, &a[0], 0).into_string()),
            },
            Page {
                name: "feed (all posts)",
                queries: vec![Query::Feed { group: g5.clone() }],
                render: Box::new(move |a| feed::render_as(&v5, &g5, &a[0], 0).into_string()),
            },
            Page {
                name: "decisions list",
                queries: vec![
                    Query::Proposals { group: g2.clone() },
                    Query::Members { group: g2 },
                ],
                render: Box::new(move |a| render_list(&c2(&a[1]), &a[0]).into_string()),
            },
            Page {
                name: "one proposal",
                queries: vec![
                    Query::Proposal {
                        group: g3.clone(),
                        proposal: p,
                    },
                    Query::Members { group: g3 },
                ],
                render: Box::new(move |a| render_proposal(&c3(&a[1]), &a[0]).into_string()),
            },
            Page {
                name: "members",
                queries: vec![Query::Members { group: g4.clone() }],
                render: Box::new(move |a| members::render_as(&v4, &g4, &a[0]).into_string()),
            },
        ]
    };

    println!(
        "# web page render, 1 thread: {events} events ({feed_posts} posts, {comments} comments, {} proposals of which {closed} closed, {} members)",
        list.len(),
        all.len()
    );
    println!(
        "{:<18} {:>5} | {:>17} | {:>17} | {:>17} | {:>8}",
        "page", "", "query ms wall/CPU", "render ms wall/CPU", "total ms wall/CPU", "HTML"
    );
    for page in &pages {
        // Cold: the first request of a node started on a copy of the store.
        let mut cold = Vec::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            copy_dir(me.dir.path(), dir.path());
            let store = open(dir.path());
            cold.push(once(&store, &me.id, page, now).0);
        }
        // Warm: later requests, nothing new in between.
        let mut warm = Vec::new();
        let mut len = 0;
        for _ in 0..runs {
            let (t, n) = once(&me.store, &me.id, page, now);
            warm.push(t);
            len = n;
        }
        for (what, xs) in [("cold", &cold), ("warm", &warm)] {
            let col = |i: usize| xs.iter().map(|t| t[i]).collect::<Vec<_>>();
            let tot = |a: usize, b: usize| xs.iter().map(|t| t[a] + t[b]).collect::<Vec<_>>();
            let cell = |w: Vec<f64>, c: Vec<f64>| {
                let (wm, wp) = stats(w);
                let (cm, cp) = stats(c);
                (wm, wp, cm, cp)
            };
            for (label, pick) in [("median", 0usize), ("p95", 1usize)] {
                let q = cell(col(0), col(1));
                let r = cell(col(2), col(3));
                let t = cell(tot(0, 2), tot(1, 3));
                let f = |c: (f64, f64, f64, f64)| {
                    if pick == 0 {
                        format!("{:>8.2} /{:>7.2}", c.0, c.2)
                    } else {
                        format!("{:>8.2} /{:>7.2}", c.1, c.3)
                    }
                };
                if what == "cold" && pick == 1 {
                    continue;
                }
                println!(
                    "{:<18} {:<4} {:<6} | {} | {} | {} | {:>6} kB",
                    page.name,
                    what,
                    label,
                    f(q),
                    f(r),
                    f(t),
                    len / 1000
                );
            }
        }
    }
    println!(
        "(cold: median of 3 first requests, each on a fresh copy of the store; warm: {runs} runs)"
    );
}

/// Copies the files of `from` (a store's directory: the database and its WAL) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
        let e = e.unwrap_or_else(|e| panic!("{e}"));
        if e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
