//! The passphrase model, through the real `dualpower` binary: a running node is an unlocked
//! identity (as an ssh-agent is), so while `dualpower serve` runs every command of the same user
//! acts through it and neither asks for nor uses the passphrase; with no node running, every
//! command that signs or decrypts needs the passphrase, and a wrong one changes nothing. Plus:
//! weak new passphrases are refused, a bundle is imported through the running node, and a
//! mistyped `--home` creates nothing.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

use std::io::{Read, Write};
use std::net::TcpStream;

/// `--json ARGS` at `home` with no DUALPOWER_PASSPHRASE at all (and no terminal to ask on).
fn bare(net: &Net, home: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    net.cmd(home)
        .env_remove("DUALPOWER_PASSPHRASE")
        .args(&all)
        .output()
        .unwrap()
}

fn bare_json(net: &Net, home: &Path, args: &[&str]) -> Value {
    let out = bare(net, home, args);
    assert!(
        out.status.success(),
        "{args:?} without a passphrase failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs ARGS at `home` with DUALPOWER_PASSPHRASE set to `pass`.
fn with_pass(net: &Net, home: &Path, pass: &str, args: &[&str]) -> Output {
    net.cmd(home)
        .env("DUALPOWER_PASSPHRASE", pass)
        .args(args)
        .output()
        .unwrap()
}

/// One raw HTTP request with a body of bytes; the status and the JSON answer.
fn http(url: &str, path: &str, token: Option<&str>, kind: &str, body: &[u8]) -> (u16, Value) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let json = answer
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

/// Every read that decrypts, as JSON: the feed, the members, direct messages, the proposals, one
/// proposal and its re-verified tally.
fn reads(run: &dyn Fn(&[&str]) -> Value, group: &str, proposal: &str) -> Vec<Value> {
    vec![
        run(&["feed", group]),
        run(&["group", "members", group]),
        run(&["dm", "list"]),
        run(&["proposals", group]),
        run(&["proposals", group, proposal]),
        run(&["tally", group, proposal]),
        run(&["tally", group, proposal, "--verify"]),
    ]
}

#[test]
fn a_running_node_acts_for_its_user_without_the_passphrase() {
    let net = Net::new("unlocked");
    let a = net.member("a");
    let b = net.member("b");
    let group = net.create_group(&a, "tenants");
    // B asks to join offline; its pending join travels as a bundle.
    let code = net.invite(&a, &group);
    net.join(&b, &code, &group);
    let did_b = net.did(&b);
    let bundle = net.tmp.path().join("b.bundle");
    net.ok_json(&b, &["export", &group, bundle.to_str().unwrap()]);

    let node = Node::start(&net, "a", &[]);
    // `import` goes through the running node (it used to be refused while the node ran), with
    // no passphrase; the node then admits the join made with its own invite.
    let v = bare_json(&net, &a, &["import", bundle.to_str().unwrap()]);
    assert_eq!(v["stored"], 2, "{v}");
    assert!(v["rejected"].as_array().unwrap().is_empty(), "{v}");
    wait_for("A's node to admit B", ADMIT, || {
        let m = bare_json(&net, &a, &["group", "members", &group]);
        if m["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == did_b.as_str())
        {
            Ok(())
        } else {
            Err(format!("{m}"))
        }
    });

    // Every write, with no passphrase anywhere.
    let post = bare_json(&net, &a, &["post", &group, "meeting at 7"]);
    let pid = post["id"].as_str().unwrap().to_owned();
    bare_json(
        &net,
        &a,
        &["comment", &group, &pid[..10], "I'll bring chairs"],
    );
    bare_json(&net, &a, &["dm", "send", &did_b, "welcome, b"]);
    let inv = bare_json(&net, &a, &["group", "invite", &group]);
    assert!(
        inv["code"].as_str().unwrap().starts_with("dpinvite1"),
        "{inv}"
    );
    let p = bare_json(
        &net,
        &a,
        &["propose", &group, "Buy a kettle?", "--method", "majority"],
    );
    let proposal = p["id"].as_str().unwrap().to_owned();
    bare_json(&net, &a, &["vote", &group, &proposal, "yes"]);

    // A wrong passphrase in the environment is not checked while the node runs: the command
    // works, and says the passphrase played no part.
    let out = with_pass(&net, &a, "not the passphrase", &["post", &group, "second"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was not used or checked"), "{err}");

    // Every read that decrypts, with no passphrase; read twice so nothing the node's agent
    // still writes changes them between the node's answer and the local one.
    let via_node = wait_for("the node's answers to settle", DEADLINE, || {
        let first = reads(&|args| bare_json(&net, &a, args), &group, &proposal);
        thread::sleep(Duration::from_millis(500));
        let again = reads(&|args| bare_json(&net, &a, args), &group, &proposal);
        if first == again {
            Ok(first)
        } else {
            Err("still changing".to_owned())
        }
    });
    let feed = &via_node[0];
    let texts: Vec<&str> = feed["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"meeting at 7"), "{feed}");
    let meeting = feed["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == pid.as_str())
        .unwrap();
    assert_eq!(
        meeting["comments"][0]["text"], "I'll bring chairs",
        "{feed}"
    );
    let dms = &via_node[2];
    assert_eq!(dms["messages"][0]["text"], "welcome, b", "{dms}");
    assert_eq!(via_node[5]["certificate"]["voters"], 1, "{}", via_node[5]);

    // The API routes want the token.
    let info: Value = serde_json::from_slice(&std::fs::read(a.join("api.json")).unwrap()).unwrap();
    let (url, token) = (
        info["url"].as_str().unwrap(),
        info["token"].as_str().unwrap(),
    );
    let view = serde_json::json!({ "query": "feed", "group": group, "now": 0 }).to_string();
    for t in [None, Some("00".repeat(32).as_str())] {
        let (status, answer) = http(url, "/v1/view", t, "application/json", view.as_bytes());
        assert_eq!(status, 401, "{answer}");
        assert!(answer.get("posts").is_none(), "{answer}");
        let (status, answer) = http(
            url,
            "/v1/import",
            t,
            "application/octet-stream",
            &std::fs::read(&bundle).unwrap(),
        );
        assert_eq!(status, 401, "{answer}");
    }
    let (status, answer) = http(
        url,
        "/v1/view",
        Some(token),
        "application/json",
        view.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = http(
        url,
        "/v1/import",
        Some(token),
        "application/octet-stream",
        b"not a bundle",
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("not a Dual Power bundle"),
        "{answer}"
    );
    // A second `serve` says a node runs, without asking for the passphrase first.
    let out = bare(
        &net,
        &a,
        &["serve", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("a node already runs"),
        "{out:?}"
    );
    node.stop();

    // Without the node, the same reads need the passphrase and give the same answers.
    let out = bare(&net, &a, &["feed", &group]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("DUALPOWER_PASSPHRASE"),
        "{out:?}"
    );
    let local = reads(&|args| net.ok_json(&a, args), &group, &proposal);
    assert_eq!(local, via_node);
}

/// The ids of every event of `group` at `home` and the keystore's bytes.
fn snapshot(net: &Net, home: &Path, group: &str) -> (BTreeSet<String>, Value, Vec<u8>) {
    let ids = net.event_ids(home, group);
    let status = net.ok_json(home, &["status"]);
    let keystore = std::fs::read(home.join("keystore.json")).unwrap();
    (ids, status["events"].clone(), keystore)
}

#[test]
fn with_no_node_a_wrong_passphrase_is_refused_and_changes_nothing() {
    let net = Net::new("wrongpass");
    let a = net.member("a");
    let group = net.create_group(&a, "co-op");
    let pid = net.post(&a, &group, "first");
    let proposal = net.ok_json(
        &a,
        &["propose", &group, "Paint it?", "--method", "majority"],
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    net.ok_json(&a, &["vote", &group, &proposal, "yes"]);
    let did = net.did(&a);
    let before = snapshot(&net, &a, &group);

    let commands: Vec<Vec<&str>> = vec![
        vec!["post", &group, "never"],
        vec!["comment", &group, &pid[..10], "never"],
        vec!["react", &group, &pid[..10], "x"],
        vec!["dm", "send", &did, "never"],
        vec!["group", "invite", &group],
        vec!["group", "rekey", &group],
        vec!["group", "create", "never"],
        vec!["propose", &group, "Never?", "--method", "majority"],
        vec!["vote", &group, &proposal, "no"],
        vec!["close", &group, &proposal],
        vec!["feed", &group],
        vec!["dm", "list"],
        vec!["group", "members", &group],
        vec!["proposals", &group],
        vec!["proposals", &group, &proposal],
        vec!["tally", &group, &proposal],
        vec!["tally", &group, &proposal, "--verify"],
        vec!["serve", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
    ];
    for args in &commands {
        let out = with_pass(&net, &a, "not the passphrase", args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "wrong passphrase for the identity in {}",
                a.display()
            )) && err.contains("nothing was read or changed"),
            "{args:?}: {err}"
        );
        assert!(!a.join("api.json").exists(), "{args:?} started a node");
    }
    assert_eq!(snapshot(&net, &a, &group), before);
}

#[test]
fn weak_passphrases_are_refused_when_creating_an_identity() {
    let net = Net::new("weakpass");
    for (i, cmd) in [
        vec!["init"],
        vec!["serve", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
    ]
    .into_iter()
    .enumerate()
    {
        let home = net.home(&format!("weak{i}"));
        let out = with_pass(&net, &home, "password1", &cmd);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("too weak") && err.contains("several unrelated words"),
            "{cmd:?}: {err}"
        );
        assert!(!home.exists(), "{cmd:?} created {}", home.display());
    }
    // A strong one is taken.
    let home = net.home("strong");
    let out = with_pass(&net, &home, "marble otter twelve lanterns sing", &["init"]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_mistyped_home_creates_nothing() {
    let net = Net::new("mistyped");
    let a = net.member("a");
    let group = net.create_group(&a, "co-op");
    let bundle = net.tmp.path().join("g.bundle");
    net.ok_json(&a, &["export", &group, bundle.to_str().unwrap()]);
    let missing = net.home("a-typo");
    let empty = net.home("empty");
    std::fs::create_dir(&empty).unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["id"],
        vec!["status"],
        vec!["groups"],
        vec!["verify"],
        vec!["feed", &group],
        vec!["log", &group],
        vec!["dm", "list"],
        vec!["group", "members", &group],
        vec!["proposals", &group],
        vec!["post", &group, "hello"],
        vec!["group", "create", "x"],
        vec!["group", "follow", &group],
        vec!["import", bundle.to_str().unwrap()],
    ];
    for home in [&missing, &empty] {
        for args in &commands {
            let out = net.run(home, args);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("no identity in {}", home.display()))
                    && err.contains("dualpower init")
                    && err.contains("--home"),
                "{args:?}: {err}"
            );
        }
    }
    assert!(!missing.exists(), "{} was created", missing.display());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}
