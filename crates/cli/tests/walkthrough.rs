//! The README walkthrough, run through the real `dualpower` binary: identity, group, posts,
//! feed, export, import into a second data directory, verify; plus the failure paths a person
//! meets (wrong passphrase, tampered bundle, unknown group).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn dp(home: &Path, pass: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dualpower"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env("DUALPOWER_PASSPHRASE", pass)
        .env("DUALPOWER_NETWORK", "cli-walkthrough")
        .env_remove("DUALPOWER_HOME")
        .output()
        .unwrap()
}

fn ok_json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = dp(home, "pass phrase", &all);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_new_user_can_follow_the_readme() {
    let tmp = tempfile::tempdir().unwrap();
    let alice = tmp.path().join("alice");
    let bob = tmp.path().join("bob");

    let id = ok_json(&alice, &["init"]);
    assert!(id["id"].as_str().unwrap().starts_with("did:key:z6Mk"));
    assert_eq!(ok_json(&alice, &["id"])["id"], id["id"]);

    let group = ok_json(&alice, &["group", "create", "Tenants of 5th St"]);
    let gid = group["group"].as_str().unwrap().to_owned();
    let post = ok_json(
        &alice,
        &["post", "tenants", "Rent strike meeting tonight at 7"],
    );
    let pid = post["id"].as_str().unwrap().to_owned();
    ok_json(
        &alice,
        &["comment", &gid[..8], &pid[..10], "I'll bring food"],
    );
    ok_json(&alice, &["react", &gid, &pid[..10], "✊"]);

    let feed = ok_json(&alice, &["feed", "Tenants of 5th St"]);
    assert_eq!(feed["name"], "Tenants of 5th St");
    assert_eq!(feed["posts"][0]["text"], "Rent strike meeting tonight at 7");
    assert_eq!(feed["posts"][0]["comments"][0]["text"], "I'll bring food");
    assert_eq!(
        feed["posts"][0]["reactions"]["✊"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let log = ok_json(&alice, &["log", &gid]);
    let kinds: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    // Creating a private group writes its genesis, the creator's prekey and the first key
    // epoch; posts, comments and reactions are encrypted.
    assert_eq!(
        kinds,
        [
            "group-genesis",
            "prekey",
            "key-share",
            "encrypted",
            "encrypted",
            "encrypted"
        ]
    );
    assert!(
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["valid"] == true)
    );

    // Bob, offline, gets the group through a bundle: he holds the ciphertext but reads nothing.
    let bundle = tmp.path().join("tenants.dpb");
    let exported = ok_json(&alice, &["export", &gid, bundle.to_str().unwrap()]);
    assert_eq!(exported["events"], 6);
    ok_json(&bob, &["init"]);
    let imported = ok_json(&bob, &["import", bundle.to_str().unwrap()]);
    assert_eq!(imported["stored"], 6);
    assert_eq!(imported["rejected"].as_array().unwrap().len(), 0);
    assert_eq!(
        ok_json(&bob, &["feed", &gid])["posts"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Importing again changes nothing.
    let again = ok_json(&bob, &["import", bundle.to_str().unwrap()]);
    assert_eq!(again["duplicates"], 6);
    assert_eq!(again["stored"], 0);

    // Alice invites Bob; Bob joins with the code; his request travels back by bundle.
    let code = ok_json(&alice, &["group", "invite", &gid])["code"]
        .as_str()
        .unwrap()
        .to_owned();
    ok_json(&bob, &["group", "join", &code]);
    let bob_id = ok_json(&bob, &["id"])["id"].as_str().unwrap().to_owned();
    let back = tmp.path().join("back.dpb");
    ok_json(&bob, &["export", &gid, back.to_str().unwrap()]);
    ok_json(&alice, &["import", back.to_str().unwrap()]);
    let members = ok_json(&alice, &["group", "members", &gid]);
    assert_eq!(members["pending"][0]["id"], bob_id.as_str());
    // Alice admits him; her next post hands him the group key (with the history).
    ok_json(&alice, &["group", "admit", &gid, &bob_id]);
    ok_json(&alice, &["post", &gid, "Welcome, Bob"]);
    ok_json(&alice, &["export", &gid, bundle.to_str().unwrap()]);
    ok_json(&bob, &["import", bundle.to_str().unwrap()]);
    let bob_feed = ok_json(&bob, &["feed", &gid]);
    assert_eq!(bob_feed, ok_json(&alice, &["feed", &gid]));
    assert_eq!(bob_feed["posts"].as_array().unwrap().len(), 2);
    assert_eq!(ok_json(&bob, &["verify"])["ok"], true);
    assert_eq!(ok_json(&alice, &["verify"])["ok"], true);

    // Bob replies; Alice gets it back through a bundle and both feeds are identical.
    ok_json(&bob, &["comment", &gid, &pid[..10], "Count me in"]);
    ok_json(&bob, &["export", &gid, back.to_str().unwrap()]);
    let imported = ok_json(&alice, &["import", back.to_str().unwrap()]);
    assert_eq!(imported["stored"], 1);
    assert_eq!(
        ok_json(&alice, &["feed", &gid])["state_hash"],
        ok_json(&bob, &["feed", &gid])["state_hash"]
    );
    assert_eq!(
        ok_json(&alice, &["group", "members", &gid])["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let status = ok_json(&alice, &["status"]);
    assert_eq!(status["groups"], 1);
}

#[test]
fn tampered_bundles_keep_the_good_events_and_name_the_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let alice = tmp.path().join("alice");
    let carol = tmp.path().join("carol");
    ok_json(&alice, &["init"]);
    let gid = ok_json(&alice, &["group", "create", "Strike committee"])["group"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..5 {
        ok_json(&alice, &["post", &gid, &format!("update number {i}")]);
    }
    let bundle = tmp.path().join("b.dpb");
    ok_json(&alice, &["export", &gid, bundle.to_str().unwrap()]);
    let mut bytes = std::fs::read(&bundle).unwrap();
    // Posts are encrypted, so no text is in the bundle; flip one byte of the last event's body
    // instead (the bundle ends with that body, then the 9-byte end marker).
    assert!(
        !bytes.windows(13).any(|w| w == b"update number"),
        "post text must not appear in a bundle"
    );
    let at = bytes.len() - 9 - 5;
    bytes[at] ^= 0x20;
    std::fs::write(&bundle, &bytes).unwrap();

    ok_json(&carol, &["init"]);
    let out = dp(
        &carol,
        "pass phrase",
        &["--json", "import", bundle.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "a rejected event is a distinct exit code"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // genesis, prekey, key share, 5 posts: the last one is refused.
    assert_eq!(report["stored"], 7);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["index"], 7);
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("body_hash")
    );
    // Carol is not a member: she holds the ciphertext but reads no post.
    let feed = ok_json(&carol, &["feed", &gid]);
    assert_eq!(feed["posts"].as_array().unwrap().len(), 0);
    assert_eq!(ok_json(&carol, &["verify"])["ok"], true);

    // Garbage is not a bundle, and nothing changes.
    std::fs::write(&bundle, b"not a bundle at all, just text").unwrap();
    let out = dp(&carol, "x", &["import", bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Dual Power bundle"));
    assert_eq!(ok_json(&carol, &["status"])["events"], 7);
}

#[test]
fn mistakes_get_clear_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("dana");
    let out = dp(&home, "pass phrase", &["id"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dualpower init"));

    ok_json(&home, &["init"]);
    let keystore = std::fs::read(home.join("keystore.json")).unwrap();
    let out = dp(&home, "pass phrase", &["init"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let gid = ok_json(&home, &["group", "create", "Mutual aid"])["group"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = dp(&home, "wrong", &["post", &gid, "hello"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
    assert_eq!(std::fs::read(home.join("keystore.json")).unwrap(), keystore);
    // The genesis, the creator's prekey and the first key epoch.
    assert_eq!(ok_json(&home, &["status"])["events"], 3);

    let out = dp(
        &home,
        "pass phrase",
        &["--json", "post", "no-such-group", "hello"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(err["error"].as_str().unwrap().contains("no group matches"));

    let out = dp(&home, "pass phrase", &["post", &gid, "   "]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("must not be empty"));
    // The genesis, the creator's prekey and the first key epoch.
    assert_eq!(ok_json(&home, &["status"])["events"], 3);
}
