//! Names, not keys, through the real binary (no network: bundles carry the events): two members
//! who chose the same display name are told apart by key in every listing, a petname overrides
//! a display name for its owner only, and `--json` keeps every did:key with its label.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

impl Net {
    /// Runs `ARGS` (text output) expecting success; what it printed.
    fn ok_text(&self, home: &Path, args: &[&str]) -> String {
        let out = self.run(home, args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Carries `from`'s events of `group` to `to` in a bundle.
    fn carry(&self, from: &Path, to: &Path, group: &str) {
        let file = self.tmp.path().join("carry.bundle");
        self.ok_json(from, &["export", group, file.to_str().unwrap()]);
        let v = self.ok_json(to, &["import", file.to_str().unwrap()]);
        assert!(v["rejected"].as_array().unwrap().is_empty(), "{v}");
    }
}

/// The line of `text` that contains `what`.
fn line_with<'a>(text: &'a str, what: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no `{what}` in:\n{text}"))
}

#[test]
fn same_names_are_told_apart_and_a_petname_overrides() {
    let net = Net::new("names");
    let (a, b, group, did_b) = onboard_offline(&net);
    let did_a = net.did(&a);

    // Both choose "Sam".
    let v = net.ok_json(&a, &["name", &group, "Sam"]);
    assert_eq!(v["name"], "Sam", "{v}");
    net.carry(&a, &b, &group);
    net.ok_json(&b, &["name", &group, "Sam"]);
    net.post(&b, &group, "hello from the other Sam");
    net.ok_json(&b, &["dm", "send", &did_a, "which Sam are you?"]);
    net.carry(&b, &a, &group);

    // --json keeps the keys and says how each is shown.
    let m = net.ok_json(&a, &["group", "members", &group]);
    let (la, lb) = (&m["labels"][&did_a], &m["labels"][&did_b]);
    assert_eq!(la["display"], "Sam", "{m}");
    assert_eq!(lb["display"], "Sam", "{m}");
    let (label_a, label_b) = (
        la["label"].as_str().unwrap().to_owned(),
        lb["label"].as_str().unwrap().to_owned(),
    );
    assert_ne!(label_a, label_b, "{m}");
    assert!(
        label_a.starts_with("Sam (…") && label_b.starts_with("Sam (…"),
        "{m}"
    );
    assert!(
        m["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == did_b.as_str())
    );

    // Text: the label, then the did:key one step away.
    let members = net.ok_text(&a, &["group", "members", &group]);
    assert!(line_with(&members, &did_b).contains(&label_b), "{members}");
    assert!(line_with(&members, &did_a).contains(&label_a), "{members}");
    let feed = net.ok_text(&a, &["feed", &group]);
    assert!(
        line_with(&feed, "hello from the other Sam").contains(&label_b),
        "{feed}"
    );
    let dms = net.ok_text(&a, &["dm", "list"]);
    assert!(
        line_with(&dms, "which Sam").starts_with(&format!("{label_b} → {label_a}")),
        "{dms}"
    );

    // A's petname for B overrides B's display name, for A only; nothing travels.
    let events = net.ok_json(&a, &["log", &group])["events"]
        .as_array()
        .unwrap()
        .len();
    let v = net.ok_json(
        &a,
        &["petname", &label_b[5..label_b.len() - 1], "Sam (bakery)"],
    );
    assert_eq!(v["member"], did_b.as_str(), "{v}");
    assert_eq!(
        net.ok_json(&a, &["log", &group])["events"]
            .as_array()
            .unwrap()
            .len(),
        events
    );
    let feed = net.ok_text(&a, &["feed", &group]);
    assert!(
        line_with(&feed, "hello from the other Sam").contains("Sam (bakery),"),
        "{feed}"
    );
    let members = net.ok_text(&a, &["group", "members", &group]);
    assert!(
        line_with(&members, &did_b).contains("Sam (bakery)"),
        "{members}"
    );
    // With the clash gone, A is plain "Sam" again.
    assert!(
        line_with(&members, &did_a)
            .trim_start()
            .starts_with("Sam  "),
        "{members}"
    );
    let m = net.ok_json(&b, &["group", "members", &group]);
    assert_eq!(
        m["labels"][&did_b]["label"],
        label_b.as_str(),
        "B sees no petname: {m}"
    );

    // Cleared, the two are told apart again.
    let v = net.ok_json(&a, &["petname", &did_b, "--clear"]);
    assert_eq!(v["cleared"], true, "{v}");
    let members = net.ok_text(&a, &["group", "members", &group]);
    assert!(line_with(&members, &did_b).contains(&label_b), "{members}");

    // A bad name is refused with the rule, and nothing is written.
    let out = net.run(&a, &["name", &group, "Sam\u{202E}"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invisible"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        net.ok_json(&a, &["log", &group])["events"]
            .as_array()
            .unwrap()
            .len(),
        events
    );
}
