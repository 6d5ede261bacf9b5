//! What a newcomer sees of decisions (issue 12), through real `dualpower` processes on stores
//! with no node running (members exchange bundles where two are needed): roles granted by vote,
//! what a close enacted, empty amendments, revisions in the feed, a proposal shown in full,
//! `tally --expect` with the short digest people read aloud, options counted from 1, ballots
//! in the wrong format, votes on a proposal still in discussion, amending away one's own power,
//! and the proposal list sorted by time with relative times.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

impl Net {
    /// Runs `ARGS` (text output); (success, stdout, stderr).
    fn text(&self, home: &Path, args: &[&str]) -> (bool, String, String) {
        let out = self.run(home, args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs `ARGS` (text output) expecting success; what it printed.
    fn ok_text(&self, home: &Path, args: &[&str]) -> String {
        let (ok, out, err) = self.text(home, args);
        assert!(ok, "{args:?} failed: {out}{err}");
        out
    }

    /// Runs `ARGS` expecting failure; what it printed (stdout and stderr).
    fn fails(&self, home: &Path, args: &[&str]) -> String {
        let (ok, out, err) = self.text(home, args);
        assert!(!ok, "{args:?} should fail: {out}{err}");
        format!("{out}{err}")
    }

    /// Proposes with `args` after `propose GROUP TITLE`; the proposal id.
    fn propose(&self, home: &Path, group: &str, title: &str, args: &[&str]) -> String {
        let mut all = vec!["propose", group, title];
        all.extend_from_slice(args);
        self.ok_json(home, &all)["id"].as_str().unwrap().to_owned()
    }

    /// The roles `did` holds in `group`, as `home` sees it.
    fn roles(&self, home: &Path, group: &str, did: &str) -> Vec<String> {
        let m = self.ok_json(home, &["group", "members", group]);
        m["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == did)
            .map(|x| {
                x["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Moves `group`'s events from `from` to `to` through a bundle file.
    fn carry(&self, from: &Path, to: &Path, group: &str, name: &str) {
        let file = self.tmp.path().join(name);
        self.ok_json(from, &["export", group, file.to_str().unwrap()]);
        let v = self.ok_json(to, &["import", file.to_str().unwrap()]);
        assert!(v["rejected"].as_array().unwrap().is_empty(), "{v}");
    }
}

/// Point 1: under `--amend vote`, `group role` is refused with the command that does it
/// instead, and `propose --grant-role` / `--revoke-role` grants or revokes by vote, only when
/// the proposal passes.
#[test]
fn a_role_is_granted_and_revoked_by_vote() {
    let net = Net::new("ux-roles");
    let a = net.member("a");
    let g = net.ok_json(&a, &["group", "create", "Co-op", "--amend", "vote"])["group"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = net.did(&a);

    let refused = net.fails(&a, &["group", "role", &g, &me, "moderator"]);
    assert!(
        refused.contains("only a vote") && refused.contains("dualpower propose"),
        "{refused}"
    );
    assert!(
        refused.contains(&format!("--grant-role {me}=moderator")),
        "{refused}"
    );

    let rules = net.fails(&a, &["group", "amend", &g, "--history", "false"]);
    assert!(rules.contains("--constitution --history false"), "{rules}");

    // A grant that does not pass changes nothing, and says so.
    let arg = format!("{me}=moderator");
    let p = net.propose(&a, &g, "Make me moderator", &["--grant-role", &arg]);
    let shown = net.ok_json(&a, &["proposals", &g, &p]);
    assert_eq!(
        shown["enacts"],
        format!("grant the role `moderator` to {me}"),
        "{shown}"
    );
    net.ok_json(&a, &["vote", &g, &p, "no"]);
    let closed = net.ok_text(&a, &["close", &g, &p]);
    assert!(
        closed.contains("nothing changed: the proposal did not pass"),
        "{closed}"
    );
    assert!(!net.roles(&a, &g, &me).contains(&"moderator".to_owned()));

    // One that passes grants it at the close.
    let p = net.propose(&a, &g, "Make me moderator", &["--grant-role", &arg]);
    net.ok_json(&a, &["vote", &g, &p, "yes"]);
    assert!(!net.roles(&a, &g, &me).contains(&"moderator".to_owned()));
    let closed = net.ok_text(&a, &["close", &g, &p]);
    assert!(
        closed.contains(&format!("granted the role `moderator` to {me}")),
        "{closed}"
    );
    assert!(!closed.contains("rules changed"), "{closed}");
    assert!(net.roles(&a, &g, &me).contains(&"moderator".to_owned()));

    // Granting a role one holds, or a role that does not exist, is refused before writing.
    let again = net.fails(&a, &["propose", &g, "Again", "--grant-role", &arg]);
    assert!(again.contains("already holds"), "{again}");
    let bad = format!("{me}=treasurer");
    let none = net.fails(&a, &["propose", &g, "T", "--grant-role", &bad]);
    assert!(none.contains("no role `treasurer`"), "{none}");

    // Revoking it by vote.
    let p = net.propose(&a, &g, "Step down", &["--revoke-role", &arg]);
    net.ok_json(&a, &["vote", &g, &p, "yes"]);
    let closed = net.ok_json(&a, &["close", &g, &p]);
    assert_eq!(
        closed["enactment"],
        format!("revoked the role `moderator` from {me}"),
        "{closed}"
    );
    assert!(!net.roles(&a, &g, &me).contains(&"moderator".to_owned()));
}

/// Point 2: closing an admission or a removal says who was admitted or removed, not that the
/// rules changed; a direct removal under `--removal vote` names the proposal to make.
#[test]
fn closing_an_admission_or_removal_says_what_happened() {
    let net = Net::new("ux-close");
    let a = net.member("a");
    let b = net.member("b");
    let g = net.ok_json(
        &a,
        &[
            "group",
            "create",
            "Co-op",
            "--admission",
            "vote",
            "--removal",
            "vote",
        ],
    )["group"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = net.invite(&a, &g);
    net.join(&b, &code, &g);
    let b_id = net.did(&b);
    net.carry(&b, &a, &g, "b.bundle");

    let p = net.propose(&a, &g, "Admit B", &["--admit-member", &b_id]);
    net.ok_json(&a, &["vote", &g, &p, "yes"]);
    let closed = net.ok_text(&a, &["close", &g, &p]);
    assert!(closed.contains(&format!("admitted {b_id}")), "{closed}");
    assert!(!closed.contains("rules changed"), "{closed}");

    let refused = net.fails(&a, &["group", "remove", &g, &b_id]);
    assert!(
        refused.contains(&format!("--remove-member {b_id}")),
        "{refused}"
    );
    let p = net.propose(&a, &g, "Remove B", &["--remove-member", &b_id]);
    net.ok_json(&a, &["vote", &g, &p, "yes"]);
    let closed = net.ok_text(&a, &["close", &g, &p]);
    assert!(closed.contains(&format!("removed {b_id}")), "{closed}");
    assert!(!closed.contains("rules changed"), "{closed}");
    let m = net.ok_json(&a, &["group", "members", &g]);
    assert!(
        m["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == b_id.as_str()),
        "{m}"
    );
}

/// Point 3: an amendment with no rule flags is refused with the flags listed (by proposal and
/// directly), and rule flags without `--constitution` are not silently dropped.
#[test]
fn an_empty_amendment_is_refused() {
    let net = Net::new("ux-empty");
    let a = net.member("a");
    let g = net.ok_json(&a, &["group", "create", "Co-op", "--amend", "vote"])["group"]
        .as_str()
        .unwrap()
        .to_owned();
    let empty = net.fails(&a, &["propose", &g, "Change", "--constitution"]);
    assert!(
        empty.contains("--history") && empty.contains("--admission"),
        "{empty}"
    );
    let same = net.fails(
        &a,
        &["propose", &g, "Same", "--constitution", "--amend", "vote"],
    );
    assert!(same.contains("change nothing"), "{same}");
    let dropped = net.fails(&a, &["propose", &g, "Oops", "--history", "false"]);
    assert!(dropped.contains("--constitution"), "{dropped}");
    let all = net.ok_json(&a, &["proposals", &g]);
    assert_eq!(all["proposals"], serde_json::json!([]), "{all}");

    let b = net.member("b");
    let h = net.create_group(&b, "Direct");
    let direct = net.fails(&b, &["group", "amend", &h]);
    assert!(direct.contains("--history"), "{direct}");
}

/// Point 4: after `revise`, the feed shows the revised text, marked revised; `proposals G P`
/// shows title, body, options numbered from 1, method, deadline, state and votes.
#[test]
fn a_revision_shows_in_the_feed_and_a_proposal_shows_in_full() {
    let net = Net::new("ux-revise");
    let a = net.member("a");
    let g = net.create_group(&a, "Garden");
    let p = net.propose(
        &a,
        &g,
        "What to build",
        &[
            "--method",
            "plurality",
            "--option",
            "beds",
            "--option",
            "shed",
            "--body",
            "first draft",
            "--discuss",
            "--deadline",
            "2d",
        ],
    );
    net.ok_json(
        &a,
        &[
            "revise",
            &g,
            &p,
            "--title",
            "What to build this spring",
            "--body",
            "second draft",
            "--option",
            "beds",
            "--option",
            "shed",
            "--option",
            "compost",
        ],
    );
    let feed = net.ok_text(&a, &["feed", &g]);
    assert!(
        feed.contains("Proposal (revised): What to build this spring")
            && feed.contains("second draft"),
        "{feed}"
    );
    assert!(!feed.contains("first draft"), "{feed}");
    let (_, texts) = net.feed(&a, &g).unwrap();
    assert!(
        texts.iter().any(|t| t.contains("second draft")),
        "{texts:?}"
    );

    net.ok_json(&a, &["open", &g, &p]);
    net.ok_json(&a, &["vote", &g, &p, "compost"]);
    let shown = net.ok_text(&a, &["proposals", &g, &p]);
    for want in [
        "What to build this spring",
        "second draft",
        "1. beds",
        "2. shed",
        "3. compost",
        "method plurality",
        "closes in 1 d 23 h",
        "[voting]",
        "1 vote(s)",
        "voted compost",
        "(revised)",
    ] {
        assert!(shown.contains(want), "no {want:?} in:\n{shown}");
    }
}

/// Point 5: `--expect` needs `--verify`; a prefix of 8+ hex digits (any case) is compared, a
/// shorter one refused, a wrong one exits 1.
#[test]
fn tally_expect_takes_the_digest_read_aloud() {
    let net = Net::new("ux-expect");
    let a = net.member("a");
    let g = net.create_group(&a, "Co-op");
    let p = net.propose(&a, &g, "Paint", &["--method", "majority"]);
    net.ok_json(&a, &["vote", &g, &p, "yes"]);
    let closed = net.ok_json(&a, &["close", &g, &p]);
    let digest = closed["certificate"]["digest"].as_str().unwrap().to_owned();

    let alone = net.fails(&a, &["tally", &g, &p, "--expect", &digest]);
    assert!(alone.contains("--verify"), "{alone}");

    let short = digest[..8].to_uppercase();
    let out = net.ok_text(&a, &["tally", &g, &p, "--verify", "--expect", &short]);
    assert!(out.contains("matches the expected digest"), "{out}");
    let v = net.ok_json(
        &a,
        &["tally", &g, &p, "--verify", "--expect", &digest[..12]],
    );
    assert_eq!(v["matches"], true, "{v}");

    let seven = net.fails(&a, &["tally", &g, &p, "--verify", "--expect", &digest[..7]]);
    assert!(seven.contains("at least the first 8"), "{seven}");

    let wrong: String = digest[..8]
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let (ok, out, _) = net.text(&a, &["tally", &g, &p, "--verify", "--expect", &wrong]);
    assert!(!ok && out.contains("DOES NOT match"), "{out}");
}

/// Points 6 and 7: options are counted from 1 in errors as in ballots; a ranking given where
/// the method wants grades says what it wants, with an example; a vote on a proposal in
/// discussion says who opens voting and how.
#[test]
fn ballot_errors_say_what_the_method_expects() {
    let net = Net::new("ux-ballots");
    let a = net.member("a");
    let g = net.create_group(&a, "Garden");
    let opts = [
        "--option", "beds", "--option", "shed", "--option", "compost",
    ];

    let mut args = vec!["--method", "score"];
    args.extend(opts);
    let p = net.propose(&a, &g, "Score them", &args);
    let range = net.fails(&a, &["vote", &g, &p, "beds=9"]);
    assert!(range.contains("option 1: 9 is outside 0 to 5"), "{range}");
    let none = net.fails(&a, &["vote", &g, &p, "sheds=1"]);
    assert!(none.contains("1 beds, 2 shed, 3 compost"), "{none}");

    let mut args = vec!["--method", "schulze"];
    args.extend(opts);
    let p = net.propose(&a, &g, "Rank them", &args);
    let ranked = net.fails(&a, &["vote", &g, &p, "beds,shed,compost"]);
    assert!(
        ranked.contains("not a ranking") && ranked.contains("beds=2,shed=1,compost=-1"),
        "{ranked}"
    );
    net.ok_json(&a, &["vote", &g, &p, "beds=2,shed=1,compost=-1"]);

    let mut args = vec!["--method", "plurality", "--discuss"];
    args.extend(opts);
    let p = net.propose(&a, &g, "Talk first", &args);
    let early = net.fails(&a, &["vote", &g, &p, "beds"]);
    assert!(
        early.contains("still in discussion") && early.contains("dualpower open"),
        "{early}"
    );
    assert!(!early.contains("is discussion"), "{early}");
}

/// Point 7: amending away one's own power is refused without `--yes` (no terminal to ask).
#[test]
fn amending_away_your_own_power_needs_yes() {
    let net = Net::new("ux-power");
    let a = net.member("a");
    let g = net.create_group(&a, "Co-op");
    let warned = net.fails(&a, &["group", "amend", &g, "--amend", "role:moderator"]);
    assert!(
        warned.contains("could no longer change the rules") && warned.contains("--yes"),
        "{warned}"
    );
    let rules = &net.ok_json(&a, &["group", "members", &g])["constitution"];
    assert_eq!(rules["amend"], "role:admin", "nothing changed: {rules}");
    // A change that keeps one's powers goes through without asking.
    net.ok_json(&a, &["group", "amend", &g, "--history", "false"]);
    net.ok_json(
        &a,
        &["group", "amend", &g, "--amend", "role:moderator", "--yes"],
    );
    let rules = &net.ok_json(&a, &["group", "members", &g])["constitution"];
    assert_eq!(rules["amend"], "role:moderator", "{rules}");
}

/// Point 8: `proposals` lists the newest first (it says so) with when each was written.
#[test]
fn proposals_are_listed_newest_first_with_relative_times() {
    let net = Net::new("ux-list");
    let a = net.member("a");
    let g = net.create_group(&a, "Co-op");
    let mut ids = Vec::new();
    for title in ["First idea", "Second idea", "Third idea"] {
        ids.push(net.propose(&a, &g, title, &["--method", "majority"]));
        std::thread::sleep(Duration::from_millis(20));
    }
    let all = net.ok_json(&a, &["proposals", &g]);
    let listed: Vec<&str> = all["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);
    let text = net.ok_text(&a, &["proposals", &g]);
    assert!(text.starts_with("Newest first"), "{text}");
    let at = |t: &str| text.find(t).unwrap_or_else(|| panic!("{t} not in {text}"));
    assert!(at("Third idea") < at("Second idea") && at("Second idea") < at("First idea"));
    for line in text.lines().filter(|l| l.contains("idea")) {
        assert!(line.contains("just now") || line.contains(" ago"), "{line}");
    }
}
