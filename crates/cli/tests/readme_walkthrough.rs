//! The README's walkthrough, command by command and in its order, run by three members (Alice,
//! Bob, Carol) each with a real `dualpower serve` on 127.0.0.1, reading the text output a person
//! reads (no `--json` where the README shows none). While the nodes run, no command gets a
//! passphrase: the running node acts for its member, as the README says. Every wait has a
//! deadline.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

/// Runs a command as a person types it in the second terminal (no passphrase in the
/// environment); its text output, after checking it succeeded.
fn say(net: &Net, home: &Path, args: &[&str]) -> String {
    let out = typed(net, home, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{args:?} on {}: {text}",
        home.display()
    );
    assert!(!text.contains("panicked"), "{args:?}: {text}");
    text
}

/// Runs a command with no passphrase in the environment: the running node acts for its member.
fn typed(net: &Net, home: &Path, args: &[&str]) -> Output {
    net.cmd(home)
        .env_remove("DUALPOWER_PASSPHRASE")
        .args(args)
        .output()
        .unwrap()
}

/// The key as the CLI displays it (`…` and its last 8 characters).
fn shown(did: &str) -> String {
    format!("…{}", &did[did.len() - 8..])
}

/// The id prefix shown in brackets on the feed line that contains `text`.
fn feed_id(feed: &str, text: &str) -> String {
    let line = feed
        .lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no `{text}` in the feed:\n{feed}"));
    line.split('[').nth(1).unwrap()[..8].to_owned()
}

/// The proposal id printed by `propose` ("Proposed <id> (…)"), as a prefix people type.
fn proposed(out: &str) -> String {
    let id = out
        .split_whitespace()
        .skip_while(|w| *w != "Proposed")
        .nth(1)
        .unwrap_or_else(|| panic!("no id in: {out}"));
    id[..8].to_owned()
}

/// Waits until `args` run at `home` succeeds and its output contains `want`.
fn wait_text(net: &Net, home: &Path, args: &[&str], want: &str, within: Duration) -> String {
    wait_for(format!("{args:?} to show `{want}`"), within, || {
        let out = typed(net, home, args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains(want) {
            Ok(text)
        } else {
            Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
        }
    })
}

#[test]
fn three_members_follow_the_readme() {
    let net = Net::new("readme");
    // Alice: `serve` creates the identity on first run (the passphrase comes from the
    // environment of the terminal that runs it).
    let alice = net.home("alice");
    let out = net.run(&alice, &["init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = Node::start(&net, "alice", &[]);

    // On your own.
    let did_a = say(&net, &alice, &["id"]).trim().to_owned();
    assert!(did_a.starts_with("did:key:z6Mk"), "{did_a}");
    let out = say(&net, &alice, &["group", "create", "Tenants of 5th St"]);
    assert!(
        out.contains("Created private group \"Tenants of 5th St\""),
        "{out}"
    );
    let gid = out.split_whitespace().last().unwrap().to_owned();
    assert!(say(&net, &alice, &["groups"]).contains("Tenants of 5th St"));
    say(
        &net,
        &alice,
        &["post", "tenants", "Rent strike meeting tonight at 7"],
    );
    let feed = say(&net, &alice, &["feed", "tenants"]);
    let post = feed_id(&feed, "Rent strike meeting tonight at 7");
    say(
        &net,
        &alice,
        &["comment", "tenants", &post, "I'll bring food"],
    );
    say(&net, &alice, &["react", "tenants", &post, "✊"]);
    let feed = say(&net, &alice, &["feed", "tenants"]);
    assert!(feed.contains("just now: I'll bring food"), "{feed}");
    assert!(feed.contains("✊ 1"), "{feed}");
    let log = say(&net, &alice, &["log", "tenants"]);
    assert!(
        !log.contains("INVALID") && !log.contains("does not hold"),
        "{log}"
    );
    say(&net, &alice, &["verify"]);

    // Together, live: Bob and Carol start their nodes and paste codes.
    let b = Node::start(&net, "bob", &[&a.addr]);
    let c = Node::start(&net, "carol", &[&a.addr]);
    let (bob, carol) = (b.home.clone(), c.home.clone());
    for newcomer in [&bob, &carol] {
        let invite = say(&net, &alice, &["group", "invite", "tenants"]);
        let code = invite
            .split_whitespace()
            .find(|w| w.starts_with("dpinvite1"))
            .unwrap()
            .to_owned();
        let joined = say(&net, newcomer, &["group", "join", &code]);
        assert!(joined.contains("Admitted"), "{joined}");
        assert!(say(&net, newcomer, &["groups"]).contains("Tenants of 5th St"));
    }
    let (did_b, did_c) = (net.did(&bob), net.did(&carol));
    let members = say(&net, &bob, &["group", "members", "tenants"]);
    for d in [&did_a, &did_b, &did_c] {
        assert!(
            members.contains(&shown(d)) || members.contains(d.as_str()),
            "{members}"
        );
    }
    // Names: Bob's display name reaches Alice; his petname for Alice is his alone.
    say(&net, &bob, &["name", "tenants", "Bob"]);
    say(&net, &bob, &["petname", &shown(&did_a), "Alice (5th St)"]);
    let members = say(&net, &bob, &["group", "members", "tenants"]);
    assert!(
        members.contains(&format!("Alice (5th St)  {did_a}")),
        "{members}"
    );
    assert!(members.contains(&format!("Bob  {did_b}")), "{members}");
    wait_text(
        &net,
        &alice,
        &["group", "members", "tenants"],
        &format!("Bob  {did_b}"),
        LIVE,
    );
    assert!(!say(&net, &alice, &["group", "members", "tenants"]).contains("Alice (5th St)"));
    say(&net, &bob, &["post", "tenants", "hello"]);
    net.wait_post(&alice, &gid, "hello", LIVE);
    say(&net, &bob, &["dm", "send", &shown(&did_a), "see you at 7"]);
    wait_text(&net, &alice, &["dm", "list"], "see you at 7", LIVE);
    say(&net, &bob, &["dm", "list"]);

    // Alice manages the group.
    say(
        &net,
        &alice,
        &["group", "role", "tenants", &shown(&did_b), "moderator"],
    );
    say(
        &net,
        &alice,
        &["group", "amend", "tenants", "--invite", "member"],
    );
    say(&net, &alice, &["group", "rekey", "tenants"]);
    wait_text(
        &net,
        &bob,
        &["group", "members", "tenants"],
        "moderator",
        DEADLINE,
    );
    say(&net, &bob, &["post", "tenants", "after the new key"]);
    net.wait_post(&alice, &gid, "after the new key", LIVE);

    // Deciding together.
    let strike = proposed(&say(
        &net,
        &alice,
        &[
            "propose",
            "tenants",
            "Rent strike in March?",
            "--method",
            "majority:threshold=2/3,quorum=1/2",
            "--deadline",
            "72h",
        ],
    ));
    say(
        &net,
        &alice,
        &[
            "propose",
            "tenants",
            "Garden budget",
            "--method",
            "budget:total=1000",
            "-o",
            "beds=300",
            "-o",
            "shed=900",
            "-o",
            "compost=200",
        ],
    );
    let quiet = proposed(&say(
        &net,
        &alice,
        &[
            "propose",
            "tenants",
            "Quiet hours",
            "--method",
            "consent",
            "--discuss",
            "--body",
            "10pm to 7am",
        ],
    ));
    say(
        &net,
        &alice,
        &["revise", "tenants", &quiet, "--body", "11pm to 7am"],
    );
    assert!(say(&net, &alice, &["feed", "tenants"]).contains("11pm to 7am"));
    say(&net, &alice, &["open", "tenants", &quiet]);
    say(&net, &alice, &["withdraw", "tenants", &quiet]);
    for (home, reason) in [
        (&alice, "they ignored every letter"),
        (&bob, "the boiler is broken"),
        (&carol, "together"),
    ] {
        wait_text(
            &net,
            home,
            &["proposals", "tenants"],
            "Rent strike in March?",
            DEADLINE,
        );
        say(
            &net,
            home,
            &["vote", "tenants", &strike, "yes", "--reason", reason],
        );
    }
    say(
        &net,
        &carol,
        &["delegate", "tenants", &shown(&did_b), "--topic", "housing"],
    );
    say(
        &net,
        &carol,
        &["undelegate", "tenants", "--topic", "housing"],
    );
    let list = say(&net, &alice, &["proposals", "tenants"]);
    assert!(list.starts_with("Newest first"), "{list}");
    wait_text(
        &net,
        &alice,
        &["proposals", "tenants", &strike],
        "3 vote(s)",
        DEADLINE,
    );
    let closed = say(&net, &alice, &["close", "tenants", &strike]);
    assert!(closed.contains("pass"), "{closed}");
    let digest = net.ok_json(&alice, &["tally", "tenants", &strike])["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bob checks the digest Alice read out, by its first 8 hex digits.
    wait_text(
        &net,
        &bob,
        &["proposals", "tenants", &strike],
        "[closed]",
        DEADLINE,
    );
    let verified = say(
        &net,
        &bob,
        &[
            "tally",
            "tenants",
            &strike,
            "--verify",
            "--expect",
            &digest[..8],
        ],
    );
    assert!(!verified.contains("DOES NOT match"), "{verified}");

    // Through a peer, and what the node holds.
    let synced = say(&net, &carol, &["sync", "--peer", &a.addr]);
    assert!(synced.contains("synced with"), "{synced}");
    let status = say(&net, &alice, &["status"]);
    assert!(status.contains("\"Tenants of 5th St\""), "{status}");
    let followed = say(&net, &alice, &["group", "follow", &gid]);
    assert!(followed.contains("already following"), "{followed}");

    // Carol leaves; Alice removes Bob.
    say(&net, &carol, &["group", "leave", "tenants"]);
    say(
        &net,
        &alice,
        &[
            "group",
            "remove",
            "tenants",
            &shown(&did_b),
            "--reason",
            "left the building",
        ],
    );
    wait_for("Carol's leaving to reach Alice", DEADLINE, || {
        let m = net.try_json(&alice, &["group", "members", "tenants"])?;
        let ids: Vec<_> = m["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].clone())
            .collect();
        if ids.len() == 1 && ids[0] == did_a.as_str() {
            Ok(())
        } else {
            Err(format!("{m}"))
        }
    });

    // Without any network: a bundle, imported through Carol's running node.
    let bundle = net.tmp.path().join("tenants.dpb");
    say(
        &net,
        &alice,
        &["export", "tenants", bundle.to_str().unwrap()],
    );
    say(&net, &carol, &["import", bundle.to_str().unwrap()]);
    // Dee has no network at all: her join and Alice's admission travel by bundle.
    let dee = net.home("dee");
    let out = net.run(&dee, &["init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let invite = say(&net, &alice, &["group", "invite", "tenants"]);
    let code = invite
        .split_whitespace()
        .find(|w| w.starts_with("dpinvite1"))
        .unwrap();
    let out = net.run(&dee, &["group", "join", code]);
    let told =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        told.contains("export"),
        "a join without a node says how else to send it: {told}"
    );
    let dee_bundle = net.tmp.path().join("dee.dpb");
    net.ok_json(&dee, &["export", &gid, dee_bundle.to_str().unwrap()]);
    say(&net, &alice, &["import", dee_bundle.to_str().unwrap()]);
    let did_d = net.did(&dee);
    // Alice's node admitted the join when the bundle came in (it was made with its invite);
    // `admit` as the README shows it finds nothing left to do and says so.
    let admitted = say(&net, &alice, &["group", "admit", "tenants", &shown(&did_d)]);
    assert!(admitted.contains("already a member"), "{admitted}");
    say(
        &net,
        &alice,
        &["export", "tenants", bundle.to_str().unwrap()],
    );
    net.ok_json(&dee, &["import", bundle.to_str().unwrap()]);
    let out = net.run(&dee, &["feed", "tenants"]);
    let feed = String::from_utf8_lossy(&out.stdout);
    assert!(feed.contains("Rent strike meeting tonight at 7"), "{feed}");
    drop((a, b, c));
}
