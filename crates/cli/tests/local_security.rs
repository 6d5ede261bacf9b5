//! What another user on the same computer, or a program listening on a stale port, can do to a
//! member's data directory and local API, through the real `dualpower` binary:
//!
//! * the data directory is 0700 and its files 0600 (also SQLite's write-ahead log and shared
//!   memory, and `api.json` while a node runs); a directory with the loose modes older versions
//!   left is tightened by the next command, which says so;
//! * a stale `api.json` (left by a crash) pointing at a port where something else listens never
//!   gets the token or any content: the CLI asks a fresh challenge first;
//! * the node's API signs no raw payload: forbidden writes are refused with a typed error and
//!   nothing is appended;
//! * onboarding works with bundles alone: a pending join exports on its own, and an admission
//!   hands over the group key in the same operation.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The files of `home` that exist now, among those the data directory may hold.
fn data_files(home: &Path) -> Vec<PathBuf> {
    [
        "keystore.json",
        "store.sqlite",
        "store.sqlite-wal",
        "store.sqlite-shm",
        "store.lock",
        "api.json",
    ]
    .iter()
    .map(|n| home.join(n))
    .filter(|p| p.exists())
    .collect()
}

fn assert_private(home: &Path, must: &[&str]) {
    assert_eq!(mode(home), 0o700, "{}", home.display());
    let files = data_files(home);
    for m in must {
        assert!(
            files.contains(&home.join(m)),
            "{m} missing in {}",
            home.display()
        );
    }
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn data_directory_is_private_and_old_ones_are_tightened() {
    let net = Net::new("modes");
    let a = net.member("a");
    // A fresh init.
    assert_private(&a, &["keystore.json", "store.sqlite", "store.lock"]);
    let group = net.create_group(&a, "committee");
    // While a node runs: the write-ahead log, shared memory and api.json too.
    let node = Node::start(&net, "a", &[]);
    net.post(&a, &group, "hello");
    assert_private(
        &a,
        &[
            "store.sqlite-wal",
            "store.sqlite-shm",
            "api.json",
            "store.lock",
        ],
    );
    node.stop();
    // What older versions left: 0755 and 0644, as with the default umask.
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o755)).unwrap();
    let loosened = data_files(&a);
    assert!(loosened.len() >= 3, "{loosened:?}");
    for f in &loosened {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = net.run(&a, &["--json", "status"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "notice: {} was accessible to other users (mode 0755); changed to 0700",
            a.display()
        )),
        "{stderr}"
    );
    for f in &loosened {
        assert!(
            stderr.contains(&format!(
                "notice: {} was accessible to other users (mode 0644); changed to 0600",
                f.display()
            )),
            "{}: {stderr}",
            f.display()
        );
    }
    assert_private(&a, &["keystore.json", "store.sqlite", "store.lock"]);
    // Nothing more to say the next time.
    let out = net.run(&a, &["--json", "status"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("notice"));
}

/// A program on a local port that answers every HTTP request with 200 and a made-up proof, and
/// keeps every byte it is sent.
fn stranger() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as many body bytes as they announce.
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
                if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            keep.lock().unwrap().extend_from_slice(&req);
            let body = format!(r#"{{"proof":"{}","id":"00"}}"#, "ab".repeat(32));
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, got)
}

#[test]
fn a_stale_api_json_gets_no_token_and_no_content() {
    let net = Net::new("stale");
    let a = net.member("a");
    let group = net.create_group(&a, "committee");
    let (port, got) = stranger();
    let token = "5e".repeat(32);
    // What a node killed by a crash leaves; the port is now someone else's.
    std::fs::write(
        a.join("api.json"),
        format!(r#"{{"url":"http://127.0.0.1:{port}","token":"{token}"}}"#),
    )
    .unwrap();

    // No other process holds the store: the post is written offline, and `status` says no
    // node runs.
    net.post(&a, &group, "offline text one");
    let out = net.run(&a, &["--json", "status"]);
    assert!(out.status.success(), "{out:?}");
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status["node"].is_null(), "{status}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the node is not running") && stderr.contains("is stale"),
        "{stderr}"
    );

    // Another command (say a `sync` with its temporary node) holds the store: writes would go
    // to the node named in api.json. They must not go to the stranger.
    let lock = File::open(a.join("store.lock")).unwrap();
    lock.try_lock().unwrap();
    let out = net.run(&a, &["post", &group, "locked text two"]);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the node is not running")
            && stderr.contains("api.json is stale")
            && stderr.contains("nothing was written"),
        "{stderr}"
    );
    let out = net.run(&a, &["dm", "send", &net.did(&a), "locked dm three"]);
    assert!(!out.status.success(), "{out:?}");
    drop(lock);

    let seen = got.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the CLI never checked the listener");
    for secret in [
        token.as_str(),
        "offline text one",
        "locked text two",
        "locked dm three",
        "authorization",
        "Authorization",
    ] {
        assert!(
            !contains(&seen, secret),
            "the stranger received {secret:?}: {}",
            String::from_utf8_lossy(&seen)
        );
    }
    // The offline post is in the store; the refused one is not.
    let (_, texts) = net.feed(&a, &group).unwrap();
    assert_eq!(texts, vec!["offline text one".to_owned()]);
}

/// Sends one HTTP request to `url` (`http://127.0.0.1:PORT`); returns the status and the JSON
/// answer.
fn http(url: &str, method: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let body = body.to_string();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
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

#[test]
fn onboarding_by_bundles_alone_hands_over_the_key_at_admission() {
    let net = Net::new("offline");
    let (a, b, group, did_b) = onboard_offline(&net);
    // B is a member and reads what A wrote before, without A writing anything after the admit.
    let m = net.ok_json(&b, &["group", "members", &group]);
    assert!(
        m["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == did_b.as_str()),
        "{m}"
    );
    let (_, texts) = net.feed(&b, &group).unwrap();
    assert!(
        texts.contains(&"written before the admit".to_owned()),
        "B cannot read the group: {texts:?}"
    );
    assert!(
        texts.contains(&"written before the invite".to_owned()),
        "B gets no history: {texts:?}"
    );
    // And the way back: B writes, A reads it from B's bundle.
    net.post(&b, &group, "thanks from b");
    let b_bundle = net.tmp.path().join("b2.bundle");
    net.ok_json(&b, &["export", &group, b_bundle.to_str().unwrap()]);
    net.ok_json(&a, &["import", b_bundle.to_str().unwrap()]);
    let (_, texts) = net.feed(&a, &group).unwrap();
    assert!(texts.contains(&"thanks from b".to_owned()), "{texts:?}");
}

#[test]
fn the_api_signs_nothing_the_operations_would_refuse() {
    let net = Net::new("apiwrites");
    let (a, b, group, did_b) = onboard_offline(&net);
    // A group B holds (by bundle) but is not a member of.
    let other = net.create_group(&a, "other");
    let other_bundle = net.tmp.path().join("other.bundle");
    net.ok_json(&a, &["export", &other, other_bundle.to_str().unwrap()]);
    net.ok_json(&b, &["import", other_bundle.to_str().unwrap()]);

    let node = Node::start(&net, "b", &[]);
    let info: Value = serde_json::from_slice(&std::fs::read(b.join("api.json")).unwrap()).unwrap();
    let (url, token) = (
        info["url"].as_str().unwrap().to_owned(),
        info["token"].as_str().unwrap().to_owned(),
    );
    let before = net.event_ids(&b, &group);
    let before_other = net.event_ids(&b, &other);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;

    // The raw route: a Role grant to oneself by a member who is no admin, signed as is.
    let grant = dualpower_core::Payload::Role {
        member: dualpower_core::PublicKey::from_did(&did_b).unwrap(),
        role: "admin".into(),
        grant: true,
    };
    let (status, answer) = http(
        &url,
        "POST",
        "/v1/append",
        Some(&token),
        &serde_json::json!({ "group": group, "payload": hex::encode(grant.encode()), "timestamp": now }),
    );
    assert!(!(200..300).contains(&status), "{status} {answer}");

    // The same through the operations: refused, with the kind of refusal.
    let refusals = [
        (
            serde_json::json!({ "op": "role", "group": group, "member": did_b, "role": "admin",
                                "grant": true, "now": now }),
            403,
            "denied",
            "role:admin",
        ),
        (
            serde_json::json!({ "op": "vote", "group": group, "proposal": "ab".repeat(32),
                                "ballot": "yes", "now": now }),
            400,
            "invalid",
            "no proposal",
        ),
        (
            serde_json::json!({ "op": "amend", "group": other, "constitution": { "history": false },
                                "now": now }),
            403,
            "denied",
            "not a member",
        ),
    ];
    for (req, code, kind, text) in refusals {
        let (status, answer) = http(&url, "POST", "/v1/op", Some(&token), &req);
        assert_eq!(status, code, "{req}: {answer}");
        assert_eq!(answer["kind"], kind, "{req}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(text),
            "{req}: {answer}"
        );
    }
    // Nothing was appended to either group.
    assert_eq!(net.event_ids(&b, &group), before);
    assert_eq!(net.event_ids(&b, &other), before_other);
    // And the hello route proves the token without needing it.
    let (status, answer) = http(
        &url,
        "POST",
        "/v1/hello",
        None,
        &serde_json::json!({ "challenge": "01".repeat(32) }),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["proof"].as_str().unwrap().len(), 64, "{answer}");
    node.stop();
}
