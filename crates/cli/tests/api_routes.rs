//! The routes of the unlocked node (`/v1/view`, `/v1/import`) as an attacker on the same
//! computer reaches them, with raw HTTP to a real `dualpower serve`:
//!
//! * without the token nothing is answered, imported or even read: an unauthenticated import
//!   announcing a huge body is refused at once, before the node reads (and holds) the body;
//! * a malformed or oversized request, a query for a group the node does not hold and garbage
//!   bundle bytes each get a typed JSON error, and the node keeps answering;
//! * an import through the node of a bundle with a tampered event keeps the good events and
//!   reports exactly what the same import on the stopped store reports.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends one HTTP request with `body` (its `Content-Length` is `len`, or the body's length);
/// returns the status and the answer parsed as JSON (`Null` if it is not JSON).
fn http_raw(
    url: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    len: Option<usize>,
    timeout: Duration,
) -> (u16, Value) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        len.unwrap_or(body.len())
    )
    .unwrap();
    // The node may answer (and close) before taking the whole body.
    let _ = s.write_all(body);
    let mut answer = Vec::new();
    if let Err(e) = s.read_to_end(&mut answer) {
        assert!(
            !answer.is_empty(),
            "no answer to {path} within {timeout:?}: {e}"
        );
    }
    let answer = String::from_utf8_lossy(&answer);
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

fn api(home: &Path) -> (String, String) {
    let info: Value =
        serde_json::from_slice(&std::fs::read(home.join("api.json")).unwrap()).unwrap();
    (
        info["url"].as_str().unwrap().to_owned(),
        info["token"].as_str().unwrap().to_owned(),
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A typed refusal: the status, and a JSON body with `kind` and an `error` containing `text`.
#[track_caller]
fn assert_refusal(got: &(u16, Value), status: u16, kind: &str, text: &str) {
    assert_eq!(got.0, status, "{got:?}");
    assert_eq!(got.1["kind"], kind, "{got:?}");
    let e = got.1["error"].as_str().unwrap_or_default();
    assert!(e.contains(text), "{e:?} lacks {text:?}");
}

#[test]
fn without_the_token_the_new_routes_answer_nothing_and_read_no_bundle() {
    let net = Net::new("apiroutes");
    let a = net.member("a");
    let b = net.member("b");
    let group = net.create_group(&b, "b's group");
    net.post(&b, &group, "XQSECRET b's own post");
    // A's group, as a bundle someone would like B's node to import.
    let other = net.create_group(&a, "planted");
    let bundle = net.tmp.path().join("planted.bundle");
    net.ok_json(&a, &["export", &other, bundle.to_str().unwrap()]);
    let bundle = std::fs::read(&bundle).unwrap();

    let node = Node::start(&net, "b", &[]);
    let (url, token) = api(&b);
    let t = Duration::from_secs(20);
    let feed = serde_json::json!({ "query": "feed", "group": group, "now": now() }).to_string();
    for auth in [None, Some("5e".repeat(32).as_str())] {
        let got = http_raw(&url, "/v1/view", auth, feed.as_bytes(), None, t);
        assert_refusal(&got, 401, "unauthorized", "token");
        assert!(!got.1.to_string().contains("XQSECRET"), "{got:?}");
        // Malformed JSON without the token: the token is checked first.
        let got = http_raw(&url, "/v1/view", auth, b"{not json", None, t);
        assert_refusal(&got, 401, "unauthorized", "token");
        let got = http_raw(&url, "/v1/import", auth, &bundle, None, t);
        assert_refusal(&got, 401, "unauthorized", "token");
    }
    // A caller without the token announces a bundle of almost the limit and sends none of it:
    // the node refuses at once instead of waiting for (and holding) 200 MB. Before the fix it
    // read the body first, so no answer came.
    let got = http_raw(
        &url,
        "/v1/import",
        None,
        b"",
        Some(200_000_000),
        Duration::from_secs(5),
    );
    assert_refusal(&got, 401, "unauthorized", "token");
    let groups = net.ok_json(&b, &["groups"]);
    assert!(
        !groups.to_string().contains(&other),
        "imported without the token: {groups}"
    );

    // With the token: malformed, unknown and oversized requests get typed errors.
    let tok = Some(token.as_str());
    let got = http_raw(&url, "/v1/view", tok, b"{not json", None, t);
    assert_refusal(&got, 400, "invalid", "not what this route takes");
    let got = http_raw(
        &url,
        "/v1/view",
        tok,
        br#"{"query":"everything","now":1}"#,
        None,
        t,
    );
    assert_refusal(&got, 400, "invalid", "unknown variant");
    let huge = serde_json::json!({ "query": "feed", "group": "a".repeat(300_000), "now": 1 });
    let got = http_raw(&url, "/v1/view", tok, huge.to_string().as_bytes(), None, t);
    assert_refusal(&got, 413, "invalid", "cannot be read");
    let nowhere = "ab".repeat(32);
    let q = serde_json::json!({ "query": "feed", "group": nowhere, "now": now() });
    let got = http_raw(&url, "/v1/view", tok, q.to_string().as_bytes(), None, t);
    assert_refusal(&got, 400, "invalid", "holds nothing of group");
    let q =
        serde_json::json!({ "query": "proposal", "group": group, "proposal": "ab", "now": now() });
    let got = http_raw(&url, "/v1/view", tok, q.to_string().as_bytes(), None, t);
    assert_refusal(&got, 400, "invalid", "not a proposal id");
    let got = http_raw(&url, "/v1/import", tok, b"garbage, not a bundle", None, t);
    assert_refusal(&got, 400, "invalid", "not a Dual Power bundle");

    // The node still answers, and B still reads its own post through it.
    let (_, texts) = net.feed(&b, &group).unwrap();
    assert_eq!(texts, vec!["XQSECRET b's own post".to_owned()]);
    node.stop();
}

/// The event frames of a bundle: (start of its envelope, envelope length).
fn envelopes(bundle: &[u8]) -> Vec<(usize, usize)> {
    let mut at = 8 + 1 + 32;
    let mut out = Vec::new();
    while bundle[at] == 1 {
        let len = u32::from_be_bytes(bundle[at + 1..at + 5].try_into().unwrap()) as usize;
        out.push((at + 5, len));
        at += 5 + len;
        let body = u32::from_be_bytes(bundle[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + body.saturating_sub(1);
    }
    out
}

#[test]
fn an_import_through_the_node_keeps_the_good_events_and_reports_as_the_local_one() {
    let net = Net::new("apiimport");
    let a = net.member("a");
    let group = net.create_group(&a, "tenants");
    for i in 0..4 {
        net.post(&a, &group, &format!("post {i}"));
    }
    let file = net.tmp.path().join("good.bundle");
    net.ok_json(&a, &["export", &group, file.to_str().unwrap()]);
    let good = std::fs::read(&file).unwrap();
    let frames = envelopes(&good);
    assert!(frames.len() >= 5, "{} events", frames.len());
    // A signature byte of the second-to-last event: that event is rejected, the last one
    // waits for it.
    let mut tampered = good.clone();
    let (start, len) = frames[frames.len() - 2];
    tampered[start + len - 1] ^= 1;
    // And a bundle cut off in its last event: the events before stay.
    let cut = good[..frames[frames.len() - 1].0 + 3].to_vec();

    for (name, bytes) in [("tampered", tampered), ("cut", cut)] {
        let path = net.tmp.path().join(format!("{name}.bundle"));
        std::fs::write(&path, &bytes).unwrap();
        let local = net.member(&format!("{name}-local"));
        let out = net.run(&local, &["--json", "import", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{name}: {out:?}");
        let by_store: Value = serde_json::from_slice(&out.stdout).unwrap();

        let remote = net.member(&format!("{name}-node"));
        let node = Node::start(&net, &format!("{name}-node"), &[]);
        let out = net.run(&remote, &["--json", "import", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{name}: {out:?}");
        let by_node: Value = serde_json::from_slice(&out.stdout).unwrap();
        // (The node holds the store's lock: an import that succeeds went through it.)
        assert_eq!(by_node, by_store, "{name}");
        assert!(
            by_node["stored"].as_u64().unwrap() >= 3,
            "{name}: {by_node}"
        );
        // The same events were kept (the posts are sealed: these members cannot read them).
        let kept = net.ok_json(&remote, &["log", &group]);
        assert_eq!(kept, net.ok_json(&local, &["log", &group]), "{name}");
        assert!(
            kept["events"].as_array().unwrap().len() >= 3,
            "{name}: {kept}"
        );
        node.stop();
    }
}

/// Amending away one's own power is refused by the operation unless confirmed, so a client of
/// the API (the web app) gets the same guard as `group amend` without `--yes`. It is a guard
/// against a slip, not a rule: confirmed, the change is made, and the author then has no power
/// left to undo it (as every node agrees).
#[test]
fn amending_away_ones_own_power_is_refused_by_the_operation_unless_confirmed() {
    let net = Net::new("apiamend");
    let a = net.member("a");
    let group = net.create_group(&a, "tenants");
    let node = Node::start(&net, "a", &[]);
    let (url, token) = api(&a);
    let t = Duration::from_secs(20);
    let amend = |confirmed: Option<bool>| {
        let mut req = serde_json::json!({ "op": "amend", "group": group,
            "constitution": { "amend": "role:moderator" }, "now": now() });
        if let Some(c) = confirmed {
            req["confirmed"] = c.into();
        }
        http_raw(
            &url,
            "/v1/op",
            Some(&token),
            req.to_string().as_bytes(),
            None,
            t,
        )
    };
    let before = net.ok_json(&a, &["log", &group])["events"]
        .as_array()
        .unwrap()
        .len();
    for confirmed in [None, Some(false)] {
        let got = amend(confirmed);
        assert_refusal(&got, 403, "denied", "could no longer change the rules");
    }
    let after = net.ok_json(&a, &["log", &group])["events"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before, "a refused amendment wrote something");
    let got = amend(Some(true));
    assert_eq!(got.0, 200, "{got:?}");
    let m = net.ok_json(&a, &["group", "members", &group]);
    assert_eq!(m["constitution"]["amend"], "role:moderator", "{m}");
    // Now the rule is a role A does not hold: even confirmed, A cannot amend again.
    let got = amend(Some(true));
    assert_refusal(&got, 403, "denied", "role:moderator");
    node.stop();
}

/// A program on a local port that answers every request with 200 and a made-up proof, and
/// keeps every byte it is sent.
fn stranger() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = [0u8; 65536];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                keep.lock().unwrap().extend_from_slice(&buf[..n]);
                let body = format!(r#"{{"proof":"{}"}}"#, "ab".repeat(32));
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        }
    });
    (port, got)
}

/// The reads and the import that go through the node send the token only to a listener that
/// answered the hello challenge: with a stale `api.json` naming a stranger's port and the store
/// held by another process, `feed`, `group members`, `proposals` and `import` send it nothing
/// but a challenge.
#[test]
fn the_new_paths_send_no_token_to_a_stale_listener() {
    let net = Net::new("apistale");
    let a = net.member("a");
    let group = net.create_group(&a, "tenants");
    let file = net.tmp.path().join("g.bundle");
    net.ok_json(&a, &["export", &group, file.to_str().unwrap()]);
    let (port, got) = stranger();
    let token = "5e".repeat(32);
    std::fs::write(
        a.join("api.json"),
        format!(r#"{{"url":"http://127.0.0.1:{port}","token":"{token}"}}"#),
    )
    .unwrap();
    let lock = File::open(a.join("store.lock")).unwrap();
    lock.try_lock().unwrap();
    for args in [
        vec!["feed", group.as_str()],
        vec!["group", "members", group.as_str()],
        vec!["proposals", group.as_str()],
        vec!["import", file.to_str().unwrap()],
    ] {
        let _ = net.run(&a, &args);
    }
    drop(lock);
    let seen = got.lock().unwrap().clone();
    let seen = String::from_utf8_lossy(&seen).to_ascii_lowercase();
    assert!(
        seen.contains("/v1/hello"),
        "the CLI never checked the listener"
    );
    assert!(!seen.contains(&token), "the stranger got the token: {seen}");
    assert!(!seen.contains("authorization"), "{seen}");
    assert!(
        !seen.contains("/v1/view") && !seen.contains("/v1/import"),
        "{seen}"
    );
}
