//! Collective decisions across three real `dualpower serve` processes on loopback. A group of
//! A, B and C takes one real decision of every method from the CLI — majority with a 2/3
//! threshold, consent (once blocked with a reason, once passed), plurality, approval, score, star,
//! dot, quadratic, schulze, irv and budget — and changes its own rules by vote. C delegates its
//! weight to B and, where it does not vote itself, B carries it (and changes the result). Each
//! member votes from its own node, the author closes, and once the events have replicated
//! every node prints the same certificate (same digest, same JSON) with the expected result;
//! `tally --verify --expect` on the other nodes re-verifies the log, recomputes that digest and
//! exits 0, and exits 1 for a wrong one; the enacted rule change shows on every node. One
//! network of three nodes serves every decision, so the run stays short. Every node listens on
//! 127.0.0.1 only and runs without mDNS; every wait has a deadline; every child process is
//! killed when its guard is dropped, also when a test panics.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

/// The members, by index into the homes.
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

/// What a decision must come to.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Majority and consent: passed or not.
    Passed(bool),
    /// The other methods: the winners (budgeting: the selected options, in selection order).
    Winners(&'static [u64]),
}

/// One decision: how A proposes it, who votes what, and what must come of it.
struct Case {
    title: &'static str,
    /// `--method`; `None` for an amendment (the constitution's vote method).
    method: Option<&'static str>,
    options: &'static [&'static str],
    /// Further `propose` flags.
    extra: &'static [&'static str],
    /// (member, ballot, reason).
    votes: &'static [(usize, &'static str, &'static str)],
    expect: Expect,
    /// The per-option figures (what each means is the method's rule).
    figures: &'static [i64],
    /// Weight delegated to a voter (C's, to B, where C does not vote).
    delegated: u64,
    /// Budgeting: what the selection costs (0 for the other methods).
    spent: u64,
}

/// C has delegated its weight to B (group scope) before any of these is proposed: where C
/// votes, its own vote counts; where it does not, B votes with weight 2.
const CASES: &[Case] = &[
    Case {
        title: "Rent strike in March?",
        method: Some("majority:threshold=2/3"),
        options: &[],
        extra: &[],
        // 2 yes of 3 reaches 2/3 exactly: passes.
        votes: &[(A, "yes", ""), (B, "yes", ""), (C, "no", "too early")],
        expect: Expect::Passed(true),
        figures: &[2, 1, 0],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "Hire a lawyer",
        method: Some("consent"),
        options: &[],
        extra: &[],
        // One block stops it (the constitution sets no block override).
        votes: &[
            (A, "agree", ""),
            (B, "agree", ""),
            (C, "block", "we cannot pay a lawyer this year"),
        ],
        expect: Expect::Passed(false),
        figures: &[2, 0, 0, 1],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "Ask the city for a mediator",
        method: Some("consent"),
        options: &[],
        extra: &[],
        votes: &[(A, "agree", ""), (B, "agree", ""), (C, "abstain", "")],
        expect: Expect::Passed(true),
        figures: &[2, 1, 0, 0],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "Meeting day",
        method: Some("plurality"),
        options: &["Monday", "Wednesday", "Saturday"],
        extra: &[],
        // C does not vote: B carries C's weight. Without it Wednesday and Saturday would tie.
        votes: &[(A, "Saturday", ""), (B, "Wednesday", "")],
        expect: Expect::Winners(&[1]),
        figures: &[0, 2, 1],
        delegated: 1,
        spent: 0,
    },
    Case {
        title: "Where to hold the assembly",
        method: Some("approval"),
        options: &["park", "library", "pool"],
        extra: &[],
        votes: &[(A, "park,pool", ""), (B, "library", ""), (C, "park", "")],
        expect: Expect::Winners(&[0]),
        figures: &[2, 1, 1],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "Colour of the banner",
        method: Some("score"),
        options: &["red", "green", "blue"],
        extra: &[],
        // By name and by position.
        votes: &[
            (A, "red=5,green=0,blue=2", ""),
            (B, "1,4,3", ""),
            (C, "green=5,blue=1", ""),
        ],
        expect: Expect::Winners(&[1]),
        figures: &[6, 9, 6],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "Day of the general assembly",
        method: Some("star"),
        options: &["mon", "tue", "wed"],
        extra: &[],
        // Monday has the highest total, but two of three prefer Tuesday in the runoff.
        votes: &[(A, "mon=5", ""), (B, "mon=4,tue=5", ""), (C, "tue=1", "")],
        expect: Expect::Winners(&[1]),
        figures: &[9, 6, 0],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "What the garden buys first",
        method: Some("dot:dots=5"),
        options: &["tools", "seeds", "tarp"],
        extra: &[],
        votes: &[
            (A, "tools=3,seeds=2", ""),
            (B, "seeds=5", ""),
            (C, "tools=1,tarp=4", ""),
        ],
        expect: Expect::Winners(&[1]),
        figures: &[4, 7, 4],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "This year's priority",
        method: Some("quadratic"),
        options: &["rent", "repairs", "events"],
        extra: &[],
        // Costs 10, 16 and 9 voice credits of 100; no delegation applies.
        votes: &[(A, "3,-1,0", ""), (B, "0,4,0", ""), (C, "2,1,-2", "")],
        expect: Expect::Winners(&[0]),
        figures: &[5, 4, -2],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "Which entrance to open",
        method: Some("schulze"),
        options: &["north", "south", "east"],
        extra: &[],
        // Figures count the candidates each option beats, the status quo included: south beats
        // north (2:1), east and the status quo; north beats east and the status quo; east
        // beats nothing (the status quo beats it 2:0). South wins.
        votes: &[
            (A, "north=2,south=1,east=-1", ""),
            (B, "north=1,south=2,east=0", ""),
            (C, "north=0,south=1,east=-1", ""),
        ],
        expect: Expect::Winners(&[1]),
        figures: &[2, 3, 0],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "Treasurer",
        method: Some("irv"),
        options: &["alice", "bob", "carol"],
        extra: &[],
        // Bob holds 2 of 3 first preferences: a majority in the first round.
        votes: &[(A, "carol,bob", ""), (B, "bob,carol", ""), (C, "bob", "")],
        expect: Expect::Winners(&[1]),
        figures: &[0, 2, 1],
        delegated: 0,
        spent: 0,
    },
    Case {
        title: "Spend the winter fund",
        method: Some("budget:total=1000"),
        options: &["beds=300", "kitchen=500", "roof=600"],
        extra: &[],
        // C does not vote: B's basket weighs 2. Approvals beds 3, roof 2, kitchen 1; beds and
        // roof fit (900), the kitchen no longer does. Without the delegation kitchen and roof
        // would tie at 1 and the cheaper kitchen would be chosen.
        votes: &[(A, "beds,kitchen", ""), (B, "beds,roof", "")],
        expect: Expect::Winners(&[0, 2]),
        figures: &[3, 1, 2],
        delegated: 1,
        spent: 900,
    },
    Case {
        title: "Newcomers do not see old history",
        method: None,
        options: &[],
        extra: &["--constitution", "--history", "false"],
        votes: &[(A, "yes", ""), (B, "yes", ""), (C, "yes", "")],
        expect: Expect::Passed(true),
        figures: &[3, 0, 0],
        delegated: 0,
        spent: 0,
    },
];

impl Net {
    /// `proposals GROUP` at `home`: every proposal, and the delegations.
    fn proposals(&self, home: &Path, group: &str) -> Result<Value, String> {
        self.try_json(home, &["proposals", group])
    }

    /// One proposal from `proposals GROUP` at `home`, by id.
    fn proposal(&self, home: &Path, group: &str, id: &str) -> Result<Value, String> {
        find(&self.proposals(home, group)?, id).cloned()
    }

    /// Runs `--json ARGS` expecting failure; returns what it printed (the error).
    fn fails(&self, home: &Path, args: &[&str]) -> String {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(home, &all);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?} should fail: {text}");
        text
    }
}

/// The proposal `id` in a `proposals GROUP` answer.
fn find<'v>(all: &'v Value, id: &str) -> Result<&'v Value, String> {
    all["proposals"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["id"] == id))
        .ok_or_else(|| format!("no proposal {id} in {all}"))
}

/// Who has a standing vote on a proposal.
fn voters(p: &Value) -> BTreeSet<String> {
    p["votes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v["voter"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn three_nodes_decide_by_every_method_and_agree_on_every_certificate() {
    let t = Instant::now();
    let net = Net::new("decide");
    let a_home = net.member("a");
    // Amendments need a decision in this group.
    let created = net.ok_json(
        &a_home,
        &["group", "create", "Tenants of 5th St", "--amend", "vote"],
    );
    let g = created["group"].as_str().unwrap().to_owned();
    let rules = &net.ok_json(&a_home, &["group", "members", &g])["constitution"];
    assert_eq!(rules["amend"], "vote", "{rules}");
    assert_eq!(rules["history"], true, "{rules}");
    let a = Node::start(&net, "a", &[]);
    let b_home = net.member("b");
    let c_home = net.member("c");
    let b = Node::start(&net, "b", &[&a.addr]);
    let c = Node::start(&net, "c", &[&a.addr]);
    let homes = [a_home.clone(), b_home.clone(), c_home.clone()];

    // A invites B and C; A's node admits them.
    let a_id = net.did(&a_home);
    let b_id = net.invite_and_join(&a_home, &b_home, &g);
    let c_id = net.invite_and_join(&a_home, &c_home, &g);
    let ids = [a_id.clone(), b_id.clone(), c_id.clone()];
    net.wait_member(&a_home, &g, &b_id);
    net.wait_member(&a_home, &g, &c_id);
    for h in &homes {
        for id in &ids {
            net.wait_member(h, &g, id);
        }
    }
    // A first post read everywhere shows every node holds the key and follows the group live.
    net.post(&a_home, &g, "welcome");
    for h in &homes {
        net.wait_post(h, &g, "welcome", DEADLINE);
    }
    eprintln!("group of three ready after {:?}", t.elapsed());

    // A direct change of the rules is refused: the constitution says amendments need a vote.
    let refused = net.fails(&a_home, &["group", "amend", &g, "--history", "false"]);
    assert!(refused.contains("vote"), "{refused}");

    // C gives its weight to B (group scope), from C's node; everyone sees it.
    net.fails(&c_home, &["delegate", &g, &c_id]);
    let d = net.ok_json(&c_home, &["delegate", &g, &b_id]);
    assert_eq!(d["scope"], "group", "{d}");
    assert_eq!(d["target"], b_id.as_str(), "{d}");
    for h in &homes {
        wait_for(
            format!("C's delegation on {}", h.display()),
            DEADLINE,
            || {
                let all = net.proposals(h, &g)?;
                let ds = all["delegations"].as_array().ok_or("no delegations")?;
                if ds.iter().any(|d| {
                    d["member"] == c_id.as_str()
                        && d["scope"] == "group"
                        && d["target"] == b_id.as_str()
                }) {
                    Ok(())
                } else {
                    Err(format!("delegations: {ds:?}"))
                }
            },
        );
    }

    // A proposes every decision at once.
    let mut pids = Vec::new();
    for case in CASES {
        let mut args = vec!["propose", &g, case.title];
        if let Some(m) = case.method {
            args.extend(["--method", m]);
        }
        for o in case.options {
            args.extend(["--option", *o]);
        }
        args.extend(case.extra);
        let p = net.ok_json(&a_home, &args);
        assert_eq!(p["status"], "voting", "{p}");
        assert_eq!(p["author"], a_id.as_str(), "{p}");
        assert_eq!(p["title"], case.title, "{p}");
        match case.method {
            Some(m) => assert_eq!(p["method"], m, "{p}"),
            None => {
                assert_eq!(p["method"], "majority:threshold=2/3,quorum=1/2", "{p}");
                assert_eq!(p["action"], true, "{p}");
            }
        }
        pids.push(p["id"].as_str().unwrap().to_owned());
    }
    for h in &homes {
        wait_for(
            format!("every proposal on {}", h.display()),
            DEADLINE,
            || {
                let all = net.proposals(h, &g)?;
                for pid in &pids {
                    let p = find(&all, pid)?;
                    if p["status"] != "voting" {
                        return Err(format!("{pid} is not open: {p}"));
                    }
                }
                Ok(())
            },
        );
    }
    eprintln!(
        "{} proposals everywhere after {:?}",
        pids.len(),
        t.elapsed()
    );

    let by_title = |title: &str| &pids[CASES.iter().position(|c| c.title == title).unwrap()];
    let consent = by_title("Hire a lawyer");
    let plurality = by_title("Meeting day");
    let amend = by_title("Newcomers do not see old history");

    // Ballots that do not fit are refused before anything is written.
    let e = net.fails(&c_home, &["vote", &g, consent, "block"]);
    assert!(e.contains("reason"), "{e}");
    let dot = by_title("What the garden buys first");
    let e = net.fails(&b_home, &["vote", &g, dot, "tools=5,seeds=1"]);
    assert!(e.contains("dots"), "{e}");
    net.fails(&b_home, &["vote", &g, plurality, "Sunday"]);

    // Everyone votes from their own node.
    for (case, pid) in CASES.iter().zip(&pids) {
        for (who, ballot, reason) in case.votes {
            let mut args = vec!["vote", &g, pid, *ballot];
            if !reason.is_empty() {
                args.extend(["--reason", *reason]);
            }
            let v = net.ok_json(&homes[*who], &args);
            assert_eq!(v["id"], pid.as_str(), "{v}");
        }
    }
    // The closer counts what its node has seen: wait until A holds every vote.
    wait_for("A to hold every vote", DEADLINE, || {
        let all = net.proposals(&a_home, &g)?;
        for (case, pid) in CASES.iter().zip(&pids) {
            let want: BTreeSet<String> =
                case.votes.iter().map(|(w, _, _)| ids[*w].clone()).collect();
            let got = voters(find(&all, pid)?);
            if got != want {
                return Err(format!("{}: voters {got:?}", case.title));
            }
        }
        Ok(())
    });
    eprintln!("every vote on A after {:?}", t.elapsed());

    // Before the close, the certificate is provisional; only the author may close (there is no
    // deadline).
    let provisional = net.ok_json(&a_home, &["tally", &g, plurality]);
    assert_eq!(provisional["status"], "voting", "{provisional}");
    assert_eq!(provisional["final"], false, "{provisional}");
    let e = net.fails(&b_home, &["close", &g, plurality]);
    assert!(e.contains("author"), "{e}");

    // A closes every proposal.
    let mut closed = Vec::new();
    for (case, pid) in CASES.iter().zip(&pids) {
        let v = net.ok_json(&a_home, &["close", &g, pid]);
        assert_eq!(v["status"], "closed", "{}: {v}", case.title);
        assert!(v["certificate"].is_object(), "{}: {v}", case.title);
        closed.push(v);
    }

    // Every node comes to the same final certificates.
    for (i, (case, pid)) in CASES.iter().zip(&pids).enumerate() {
        let tallies: Vec<Value> = homes
            .iter()
            .map(|h| {
                wait_for(
                    format!("{} closed on {}", case.title, h.display()),
                    DEADLINE,
                    || {
                        let v = net.try_json(h, &["tally", &g, pid])?;
                        if v["status"] == "closed" {
                            Ok(v)
                        } else {
                            Err(format!("tally: {v}"))
                        }
                    },
                )
            })
            .collect();
        let digest = tallies[A]["digest"].as_str().unwrap().to_owned();
        assert_eq!(digest.len(), 64, "{}", tallies[A]);
        let cert = tallies[A]["certificate"].to_string();
        for (h, v) in homes.iter().zip(&tallies) {
            assert_eq!(v["final"], true, "{}: {v}", h.display());
            assert_eq!(v["proposal"], pid.as_str(), "{v}");
            assert_eq!(
                v["digest"],
                digest.as_str(),
                "{} on {}",
                case.title,
                h.display()
            );
            assert_eq!(
                v["certificate"].to_string(),
                cert,
                "{} on {}",
                case.title,
                h.display()
            );
        }
        // Byte for byte: the whole answer is the same on every node.
        let raw: Vec<Vec<u8>> = homes
            .iter()
            .map(|h| net.run(h, &["--json", "tally", &g, pid]).stdout)
            .collect();
        assert!(raw.iter().all(|r| *r == raw[A]), "{}: {raw:?}", case.title);
        // What A's close printed is that certificate.
        assert_eq!(closed[i]["certificate"].to_string(), cert, "{}", case.title);

        // The result.
        let c = &tallies[A]["certificate"];
        let o = &c["outcome"];
        assert_eq!(c["electorate"], 3, "{}: {c}", case.title);
        assert_eq!(c["delegated"], case.delegated, "{}: {c}", case.title);
        assert_eq!(o["quorum_met"], true, "{}: {c}", case.title);
        assert_eq!(o["participation"], 3, "{}: {c}", case.title);
        // No result here depends on a tiebreak key.
        assert_eq!(o["tie"], false, "{}: {c}", case.title);
        assert_eq!(o["spent"], case.spent, "{}: {c}", case.title);
        match case.expect {
            Expect::Passed(p) => {
                assert_eq!(o["passed"], p, "{}: {c}", case.title);
                assert_eq!(o["winners"], serde_json::json!([]), "{}: {c}", case.title);
            }
            Expect::Winners(w) => {
                assert!(o["passed"].is_null(), "{}: {c}", case.title);
                assert_eq!(o["winners"], serde_json::json!(w), "{}: {c}", case.title);
            }
        }
        assert_eq!(
            o["figures"],
            serde_json::json!(case.figures),
            "{}: {c}",
            case.title
        );

        // B and C recompute it from their own logs and match A's digest; a wrong digest exits 1.
        for h in [&b_home, &c_home] {
            let v = net.ok_json(h, &["tally", &g, pid, "--verify", "--expect", &digest]);
            assert_eq!(v["matches"], true, "{}: {v}", case.title);
            assert_eq!(v["final"], true, "{v}");
            assert_eq!(v["digest"], digest.as_str(), "{v}");
            assert_eq!(v["certificate"].to_string(), cert, "{}", case.title);
            assert!(v["events_verified"].as_u64().unwrap() > 0, "{v}");
        }
        // The same digest with its first digit changed.
        let first = if digest.starts_with('0') { "1" } else { "0" };
        let wrong = format!("{first}{}", &digest[1..]);
        let out = net.run(
            &c_home,
            &["--json", "tally", &g, pid, "--verify", "--expect", &wrong],
        );
        assert_eq!(out.status.code(), Some(1), "{}: {out:?}", case.title);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["matches"], false, "{v}");
        assert_eq!(v["digest"], digest.as_str(), "{v}");
    }
    eprintln!(
        "every certificate agreed and verified after {:?}",
        t.elapsed()
    );

    // B held C's weight exactly where C did not vote.
    for (case, pid) in CASES.iter().zip(&pids) {
        let p = net.proposal(&b_home, &g, pid).unwrap();
        let held = p["holders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["member"] == c_id.as_str() && h["held_by"] == b_id.as_str());
        assert_eq!(held, case.delegated == 1, "{}: {p}", case.title);
    }
    // The block's reason reached every node.
    for h in &homes {
        let p = net.proposal(h, &g, consent).unwrap();
        assert!(
            p["votes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["voter"] == c_id.as_str()
                    && v["reason"] == "we cannot pay a lawyer this year"),
            "{p}"
        );
    }

    // The amendment passed and was enacted: every node now applies the new rule.
    for h in &homes {
        let p = net.proposal(h, &g, amend).unwrap();
        assert_eq!(p["enacted"], true, "{p}");
        let rules = net.ok_json(h, &["group", "members", &g])["constitution"].clone();
        assert_eq!(rules["history"], false, "{}: {rules}", h.display());
        assert_eq!(rules["amend"], "vote", "{}: {rules}", h.display());
    }
    // No other proposal enacted anything, and no node refused any event.
    for h in &homes {
        let all = net.proposals(h, &g).unwrap();
        for p in all["proposals"].as_array().unwrap() {
            if p["id"] != amend.as_str() {
                assert_eq!(p["enacted"], false, "{p}");
            }
        }
        let m = net.ok_json(h, &["group", "members", &g]);
        assert_eq!(m["rejected"], serde_json::json!([]), "{}: {m}", h.display());
    }

    // Every member's node co-signed every certificate, with the digest every node computed.
    for (case, pid) in CASES.iter().zip(&pids) {
        for h in &homes {
            wait_for(
                format!("three co-signatures of {}", case.title),
                Duration::from_secs(60),
                || {
                    let p = net.proposal(h, &g, pid)?;
                    let att = &p["attestations"];
                    let agree = att["agree"].as_array().map_or(0, Vec::len);
                    let differ = att["differ"].as_array().map_or(0, Vec::len);
                    match (agree, differ) {
                        (3, 0) => Ok(()),
                        _ => Err(format!("{att}")),
                    }
                },
            );
        }
    }

    for n in [c, b, a] {
        n.stop();
    }
    eprintln!("done after {:?}", t.elapsed());
}

/// A proposal with a deadline closes by itself: the author's running node writes the close
/// when the deadline passes, and the certificate counts the votes it had.
#[test]
fn the_author_s_node_closes_at_the_deadline() {
    let net = Net::new("decisions-deadline");
    let a = net.member("A");
    let group = net.create_group(&a, "Deadline co-op");
    let node = Node::start(&net, "A", &[]);
    let p = net.ok_json(
        &a,
        &[
            "propose",
            &group,
            "Order flour?",
            "--method",
            "majority",
            "--deadline",
            "3s",
        ],
    );
    let id = p["id"].as_str().unwrap().to_owned();
    net.ok_json(&a, &["vote", &group, &id, "yes"]);
    let closed = wait_for(
        "the node to close the proposal",
        Duration::from_secs(60),
        || {
            let t = net.try_json(&a, &["tally", &group, &id])?;
            if t["status"] == "closed" {
                Ok(t)
            } else {
                Err(format!("status {}", t["status"]))
            }
        },
    );
    assert_eq!(closed["certificate"]["outcome"]["passed"], true);
    assert_eq!(closed["certificate"]["voters"], 1);
    // Closing again by hand is refused: it is already closed.
    let again = net.run(&a, &["close", &group, &id]);
    assert!(!again.status.success());
    node.stop();
}

#[test]
fn a_voter_s_node_witnesses_a_passed_deadline_once() {
    let net = Net::new("decisions-witness");
    let a_home = net.member("A");
    let group = net.create_group(&a_home, "Witness co-op");
    let a = Node::start(&net, "A", &[]);
    let b_home = net.member("B");
    let b = Node::start(&net, "B", &[&a.addr]);
    let b_id = net.invite_and_join(&a_home, &b_home, &group);
    net.wait_member(&a_home, &group, &b_id);
    net.wait_member(&b_home, &group, &b_id);
    let p = net.ok_json(
        &a_home,
        &[
            "propose",
            &group,
            "Paint it?",
            "--method",
            "majority",
            "--deadline",
            "10s",
        ],
    );
    let deadline = p["deadline"].as_u64().unwrap();
    let id = p["id"].as_str().unwrap().to_owned();
    wait_for("B to hold the proposal", DEADLINE, || {
        net.try_json(&b_home, &["tally", &group, &id]).map(|_| ())
    });
    // The author goes away before the deadline (so no close, and no attestation by B, which
    // would be a write of B's after the deadline). B writes nothing after the deadline, so its
    // node writes one witness: a merge with a timestamp at or after the deadline.
    a.stop();
    let merges = |home: &Path| -> Result<Vec<Value>, String> {
        let log = net.try_json(home, &["log", &group])?;
        Ok(log["events"]
            .as_array()
            .ok_or("no events")?
            .iter()
            .filter(|e| e["kind"] == "merge" && e["author"] == b_id.as_str())
            .cloned()
            .collect())
    };
    let witnessed = wait_for(
        "B's node to witness the deadline",
        DEADLINE,
        || match merges(&b_home)? {
            m if m.is_empty() => Err("no merge by B yet".to_owned()),
            m => Ok(m),
        },
    );
    assert_eq!(witnessed.len(), 1, "{witnessed:?}");
    assert!(witnessed[0]["timestamp"].as_u64().unwrap() >= deadline);
    // A few more ticks on B's node write no second witness.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(merges(&b_home).unwrap().len(), 1);
    b.stop();
}
