//! What a newcomer meets, through the real binary and no network (bundles carry the events):
//! members named by the piece of their key that the CLI displays, a removed member's direct
//! message told why it cannot go, `log` not calling one's own posts unreadable, the feed saying
//! when things were written, and `status` naming groups.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

/// The key as `group members` and `feed` display it: an ellipsis and its last 8 characters.
fn displayed(did: &str) -> String {
    format!("…{}", &did[did.len() - 8..])
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_member_is_named_by_the_piece_of_key_people_see() {
    let net = Net::new("newcomer-keys");
    let (a, b, group, did_b) = onboard_offline(&net);
    // As displayed, with the ellipsis; and a prefix of the did:key.
    net.ok_json(&a, &["group", "role", &group, &displayed(&did_b), "admin"]);
    let m = net.ok_json(&a, &["group", "members", &group]);
    let b_row = m["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == did_b.as_str())
        .unwrap()
        .clone();
    assert!(b_row.to_string().contains("admin"), "{m}");
    let head = &did_b[..did_b.len() - 20];
    net.ok_json(&a, &["group", "role", &group, head, "admin", "--revoke"]);
    net.ok_json(&a, &["dm", "send", &displayed(&did_b), "see you at 7"]);

    // Too short, or matching nobody: refused with the command that shows the keys.
    let out = net.run(&a, &["dm", "send", "z6Mk", "hello"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("too short"), "{}", stderr_of(&out));
    let out = net.run(&a, &["group", "role", &group, "…zzzzzzzz", "admin"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("dualpower group members"),
        "{}",
        stderr_of(&out)
    );
    drop(b);
}

#[test]
fn a_removed_member_is_told_why_no_message_can_go() {
    let net = Net::new("newcomer-removed");
    let (a, b, group, did_b) = onboard_offline(&net);
    let did_a = net.did(&a);
    net.ok_json(
        &a,
        &["group", "remove", &group, &did_b, "--reason", "moved out"],
    );
    let bundle = net.tmp.path().join("removal.bundle");
    net.ok_json(&a, &["export", &group, bundle.to_str().unwrap()]);
    net.ok_json(&b, &["import", bundle.to_str().unwrap()]);

    let out = net.run(&b, &["dm", "send", &did_a, "why?"]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr_of(&out);
    assert!(
        e.contains("you were removed from \"strike committee\""),
        "{e}"
    );
    assert!(!e.contains("--group"), "no --group can help here: {e}");

    let out = net.run(&a, &["dm", "send", &displayed(&did_b), "bye"]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr_of(&out);
    assert!(e.contains("was removed from \"strike committee\""), "{e}");
}

#[test]
fn log_feed_and_status_say_what_a_person_needs() {
    let net = Net::new("newcomer-log");
    let a = net.member("a");
    let group = net.create_group(&a, "strike committee");
    net.post(&a, &group, "meeting at 7");
    let out = net.run(&a, &["log", &group]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("does not hold"), "{text}");
    assert!(text.contains("sealed: `dualpower feed` opens it"), "{text}");
    // The feed says when things were written.
    let out = net.run(&a, &["feed", &group]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("just now: meeting at 7"), "{text}");
    let out = net.run(&a, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"strike committee\""), "{text}");
}

#[test]
fn admitting_by_hand_names_the_proposal_when_the_group_admits_by_vote() {
    let net = Net::new("newcomer-admit-vote");
    let a = net.member("a");
    let b = net.member("b");
    let group = net.ok_json(&a, &["group", "create", "co-op", "--admission", "vote"])["group"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = net.invite(&a, &group);
    net.join(&b, &code, &group);
    let bundle = net.tmp.path().join("b.bundle");
    net.ok_json(&b, &["export", &group, bundle.to_str().unwrap()]);
    net.ok_json(&a, &["import", bundle.to_str().unwrap()]);
    let did_b = net.did(&b);
    let out = net.run(&a, &["group", "admit", &group, &displayed(&did_b)]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr_of(&out);
    assert!(e.contains("--admit-member") && e.contains(&did_b), "{e}");
    // Someone who never asked gets told how people join.
    let c = net.member("c");
    let did_c = net.did(&c);
    let out = net.run(&a, &["group", "admit", &group, &did_c]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr_of(&out);
    assert!(
        e.contains("--admit-member") || e.contains("group join CODE"),
        "{e}"
    );
}

#[test]
fn sync_with_a_peer_that_syncs_no_group_with_us_says_so_instead_of_timing_out() {
    // B holds the group but was removed from it: A's node is a Dual Power node that knows the
    // group, answers the handshake, and syncs nothing with B.
    let net = Net::new("newcomer-sync");
    let (a, b, group, did_b) = onboard_offline(&net);
    net.ok_json(&a, &["group", "remove", &group, &did_b]);
    let na = Node::start(&net, "a", &[]);
    let nb = Node::start(&net, "b", &[]);
    let started = Instant::now();
    let out = net.run(&b, &["sync", "--peer", &na.addr, "--timeout", "60"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
    assert!(
        said.contains("syncs no group with you") || said.contains("shares no group"),
        "{said}"
    );
    assert!(!said.contains("did not finish"), "{said}");
    // It concluded from the connection, not from the deadline.
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    drop((na, nb));
}
