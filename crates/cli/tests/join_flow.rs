//! Joining a group as a newcomer sees it, across real `dualpower serve` processes on loopback:
//! `group join` waits until a member's node admits the newcomer (within seconds of reaching it)
//! or turns the join away, and then says why (a used, expired or forged code, a removed member)
//! and what to do; `groups` shows the same; without a running node, `join` says the join has
//! reached no one. A post written right after a rekey reaches the other member's node within
//! seconds, not at the next anti-entropy round. Every node listens on 127.0.0.1 only, without
//! mDNS; every wait has a deadline; every child process is killed when its guard is dropped.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

/// How long `group join` may wait in these tests before giving up (its own default is 60 s).
const JOIN_TIMEOUT: &str = "40";

/// What `group join` did: exit code, parsed `--json` output, stderr.
struct Joined {
    code: Option<i32>,
    json: Value,
    stderr: String,
    took: Duration,
}

impl Net {
    /// Runs `group join --timeout JOIN_TIMEOUT CODE` at `home` (with `--json` if `json`) and
    /// returns what it did.
    fn join_waiting(&self, home: &Path, code: &str, json: bool) -> Joined {
        let mut args = Vec::new();
        if json {
            args.push("--json");
        }
        args.extend(["group", "join", "--timeout", JOIN_TIMEOUT, code]);
        let t = Instant::now();
        let out = self.run(home, &args);
        let took = t.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Joined {
            code: out.status.code(),
            json: serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took,
        }
    }

    /// `groups` at `home`, as text.
    fn groups_text(&self, home: &Path) -> String {
        let out = self.run(home, &["groups"]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `groups --json` at `home`: the row of `group`.
    fn groups_row(&self, home: &Path, group: &str) -> Value {
        let v = self.ok_json(home, &["groups"]);
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == group)
            .cloned()
            .unwrap_or_else(|| panic!("{group} not in `groups`: {v}"))
    }
}

/// A code for `group` that has the right shape (and A's address) but names an invite that
/// does not exist, with a secret nobody issued.
fn forged_code(real: &str) -> String {
    let mut code = dualpower_groups::InviteCode::parse(real).unwrap();
    code.invite = dualpower_core::EventId([7; 32]);
    code.secret = [9; 32];
    code.to_text()
}

/// Asserts that a join was turned away: exit 1, `reason` in the words shown, and a next step.
fn assert_refused(j: &Joined, words: &str) {
    assert_eq!(
        j.code,
        Some(1),
        "expected a refusal; stdout {}; stderr {}",
        j.json,
        j.stderr
    );
    assert!(
        j.stderr.contains(words),
        "expected {words:?} in: {}",
        j.stderr
    );
    assert!(
        j.stderr.contains("dualpower group invite") || j.stderr.contains("Talk to the members"),
        "no next step in: {}",
        j.stderr
    );
}

/// A newcomer's `group join` waits for the admission and reports it; the admission takes
/// seconds at most once the join reaches the inviter's node; `groups` shows no pending join
/// afterwards. A post written right after `group rekey` reaches the newcomer within seconds.
/// The bounds are not speed claims (the `join` bench measures those: tens of milliseconds);
/// they are set far above them and below the periodic timers (10 s re-sync, 5 s retry) that
/// admission used to wait for, so a fall back onto a timer fails here.
#[test]
fn join_waits_until_admitted_and_a_post_after_a_rekey_arrives_at_once() {
    let net = Net::new("join-admit");
    let a_home = net.member("a");
    let g = net.create_group(&a_home, "Tenants of 5 Elm St");
    net.post(&a_home, &g, "first meeting on Monday");
    let a = Node::start(&net, "a", &[]);
    let b_home = net.member("b");
    let b = Node::start(&net, "b", &[]);
    let code = net.invite(&a_home, &g);
    let j = net.join_waiting(&b_home, &code, true);
    assert_eq!(j.code, Some(0), "{}; {}", j.json, j.stderr);
    assert_eq!(j.json["state"], "admitted", "{}", j.json);
    // From `join` to admitted, including the dial, both handshakes and the sync each way.
    eprintln!(
        "MEASURED join → admitted: {:.2} s (node said {} s)",
        j.took.as_secs_f64(),
        j.json["waited_secs"]
    );
    assert!(
        j.took < Duration::from_secs(5),
        "admission took {:?}",
        j.took
    );
    net.wait_post(&b_home, &g, "first meeting on Monday", LIVE);
    let row = net.groups_row(&b_home, &g);
    assert_eq!(row["name"], "Tenants of 5 Elm St", "{row}");
    let text = net.groups_text(&b_home);
    assert!(!text.contains("join"), "{text}");

    // A new group key, then a post at once: it goes to the new key's topic, which B's node
    // has not joined yet; it must still arrive within seconds.
    let v = net.ok_json(&a_home, &["group", "rekey", &g]);
    assert!(v.is_object(), "{v}");
    net.post(&a_home, &g, "after the rekey");
    let took = net.wait_post(&b_home, &g, "after the rekey", Duration::from_secs(30));
    eprintln!("MEASURED post after rekey → B: {:.2} s", took.as_secs_f64());
    assert!(
        took < Duration::from_secs(3),
        "post after rekey took {took:?}"
    );
    for n in [b, a] {
        n.stop();
    }
}

/// Bad codes are turned away by the inviter's node, and the joiner is told why at once: a
/// code someone else used, an expired code, and a forged one. `groups` says the same.
#[test]
fn bad_codes_are_turned_away_with_the_reason() {
    let net = Net::new("join-refused");
    let a_home = net.member("a");
    let g = net.create_group(&a_home, "Food co-op");
    let a = Node::start(&net, "a", &[]);
    let (b_home, c_home, d_home, e_home) = (
        net.member("b"),
        net.member("c"),
        net.member("d"),
        net.member("e"),
    );
    let b = Node::start(&net, "b", &[]);
    let c = Node::start(&net, "c", &[]);
    let d = Node::start(&net, "d", &[]);
    let e = Node::start(&net, "e", &[]);
    let used = net.invite(&a_home, &g);
    let j = net.join_waiting(&b_home, &used, true);
    assert_eq!(j.json["state"], "admitted", "{}; {}", j.json, j.stderr);
    // An invite valid for zero hours has expired by the time anyone uses it.
    let expired = net.ok_json(&a_home, &["group", "invite", &g, "--hours", "0"])["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = forged_code(&net.invite(&a_home, &g));

    let cases = [
        (&c_home, &used, "already used by someone else", "used"),
        (&d_home, &expired, "has expired", "expired"),
        (&e_home, &forged, "knows no such invite", "unknown_invite"),
    ];
    for (home, code, words, reason) in cases {
        let j = net.join_waiting(home, code, false);
        assert_refused(&j, words);
        assert!(j.took < Duration::from_secs(10), "{:?}", j.took);
        let text = net.groups_text(home);
        assert!(
            text.contains("join refused") && text.contains(words),
            "{reason}: {text}"
        );
        let row = net.groups_row(home, &g);
        assert_eq!(row["join"]["refused"]["reason"], reason, "{row}");
        assert_eq!(row["join"]["refused"]["peer"], a.peer.as_str(), "{row}");
    }
    // None of them got in.
    let m = net.ok_json(&a_home, &["group", "members", &g]);
    assert_eq!(m["members"].as_array().unwrap().len(), 2, "{m}");
    for n in [e, d, c, b, a] {
        n.stop();
    }
}

/// A removed member whose node still counts itself a member (members no longer sync with it)
/// learns from a member's node that it was removed, and asking to join again says so.
#[test]
fn a_removed_member_asking_to_join_again_is_told_it_was_removed() {
    let net = Net::new("join-removed");
    let a_home = net.member("a");
    let g = net.create_group(&a_home, "Strike committee");
    let a = Node::start(&net, "a", &[]);
    let f_home = net.member("f");
    let f = Node::start(&net, "f", &[]);
    let code = net.invite(&a_home, &g);
    let j = net.join_waiting(&f_home, &code, true);
    assert_eq!(j.json["state"], "admitted", "{}; {}", j.json, j.stderr);
    let f_id = net.did(&f_home);
    // Not within the same second as the admission's handshake (the node proves itself again
    // at most every two seconds when a peer stops serving it).
    thread::sleep(Duration::from_millis(2500));
    net.ok_json(&a_home, &["group", "remove", &g, &f_id]);
    let fresh = net.invite(&a_home, &g);
    wait_for("F's node to hear it was removed", DEADLINE, || {
        let row = net.groups_row(&f_home, &g);
        if row["join"]["refused"]["reason"] == "removed" {
            Ok(())
        } else {
            Err(format!("{row}"))
        }
    });
    let text = net.groups_text(&f_home);
    assert!(
        text.contains("join refused") && text.contains("removed"),
        "{text}"
    );
    let j = net.join_waiting(&f_home, &fresh, false);
    assert_eq!(j.code, Some(1), "{}; {}", j.json, j.stderr);
    assert!(j.stderr.contains("removed"), "{}", j.stderr);
    assert!(j.stderr.contains("talk to the members"), "{}", j.stderr);
    for n in [f, a] {
        n.stop();
    }
}

/// Without a running node, `group join` says the join has reached no one and what to do
/// (run the node, or send the join by bundle); `groups` says the same.
#[test]
fn join_without_a_node_says_the_node_must_run() {
    let net = Net::new("join-offline");
    let a_home = net.member("a");
    let g = net.create_group(&a_home, "Book club");
    let code = net.invite(&a_home, &g);
    let b_home = net.member("b");
    let out = net.run(&b_home, &["group", "join", &code]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for words in [
        "no node is running",
        "dualpower serve",
        "dualpower export",
        "dualpower import",
    ] {
        assert!(text.contains(words), "{words:?} not in: {text}");
    }
    let groups = net.groups_text(&b_home);
    assert!(
        groups.contains(&g[..16]) && groups.contains("no node is running"),
        "{groups}"
    );
}

/// Where admission is a decision (here two members must vouch), a join that reached the
/// members is not refused: `group join` says it is pending, what it needs and who does what,
/// and returns; `groups` says the same.
#[test]
fn a_join_pending_a_decision_says_what_it_needs() {
    let net = Net::new("join-vouches");
    let a_home = net.member("a");
    let g = net.ok_json(
        &a_home,
        &[
            "group",
            "create",
            "Housing co-op",
            "--admission",
            "vouches:2",
        ],
    )["group"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = Node::start(&net, "a", &[]);
    let b_home = net.member("b");
    let b = Node::start(&net, "b", &[]);
    let code = net.invite(&a_home, &g);
    let j = net.join_waiting(&b_home, &code, false);
    assert_eq!(j.code, Some(0), "{}; {}", j.json, j.stderr);
    let text = j.json.as_str().unwrap_or_default().to_owned();
    let b_id = net.did(&b_home);
    for words in [
        "needs 2 members to vouch for you (0 so far)",
        "dualpower group admit",
        b_id.as_str(),
    ] {
        assert!(text.contains(words), "{words:?} not in: {text}");
    }
    assert!(j.took < Duration::from_secs(10), "{:?}", j.took);
    let groups = net.groups_text(&b_home);
    assert!(
        groups.contains("join pending") && groups.contains("vouch"),
        "{groups}"
    );
    let row = net.groups_row(&b_home, &g);
    assert_eq!(row["join"]["state"], "waiting", "{row}");
    assert_eq!(row["join"]["admission"], "vouches:2", "{row}");
    // The member's node holds the join, as the newcomer was told.
    let m = net.ok_json(&a_home, &["group", "members", &g]);
    assert!(
        m["pending"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == b_id),
        "{m}"
    );
    for n in [b, a] {
        n.stop();
    }
}

/// When no member's node answers (here the code carries no address, and no member's node
/// runs), `group join` gives up after `--timeout`, exits 2, and says what to do.
#[test]
fn a_join_no_one_answers_times_out_with_the_next_steps() {
    let net = Net::new("join-timeout");
    let a_home = net.member("a");
    let g = net.create_group(&a_home, "Allotment");
    let code = net.invite(&a_home, &g);
    let b_home = net.member("b");
    let b = Node::start(&net, "b", &[]);
    let out = net.run(&b_home, &["group", "join", "--timeout", "2", &code]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = String::from_utf8_lossy(&out.stderr);
    for words in [
        "No member's node answered",
        "Keep `dualpower serve` running",
        "dualpower export",
    ] {
        assert!(text.contains(words), "{words:?} not in: {text}");
    }
    let groups = net.groups_text(&b_home);
    assert!(groups.contains("join pending"), "{groups}");
    b.stop();
}
