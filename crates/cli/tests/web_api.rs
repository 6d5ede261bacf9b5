//! The web app of a real `dualpower serve`, as a tool and as an attacker on the same computer
//! reach it, with raw HTTP:
//!
//! * with the bearer token from `api.json`, `/api/v1` creates a group, writes a post and reads
//!   the feed back;
//! * a batch of requests that must be refused (no or a wrong token, a foreign `Host`, a foreign
//!   or `null` `Origin`, malformed, mistyped or oversized bodies, forms without a session or
//!   CSRF token) each gets a 4xx with a message, and the group's events are exactly the same
//!   afterwards (one accepted write after them shows the count would have moved);
//! * a node started without a passphrase is locked: pages send the browser to `/login`, the
//!   API has no token to give yet, a wrong passphrase is refused, after five wrong ones in a
//!   minute even the right one waits, and on another node the right one unlocks it (its local
//!   API then answers `dualpower status`).
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

use std::io::{Read, Write};
use std::net::TcpStream;

use dualpower_core::payload::Payload;

/// An HTTP answer: status, headers, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The JSON `error`, or the page's text.
    fn message(&self) -> String {
        self.json()["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| self.body.clone())
    }

    fn cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.split(';').next().unwrap().to_owned())
            .find(|c| c.starts_with("dualpower_") && !c.ends_with('='))
    }
}

/// One HTTP/1.1 request to `web` (`http://host:port`) with exactly `headers` (a `Host` naming
/// `web` unless one is given).
fn http(web: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let addr = web.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(head.as_bytes()).unwrap();
    // The app may answer (and close) before taking a body it refuses.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "no answer to {method} {path}: {e}");
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `api.json`'s web app address and bearer token.
fn web_and_token(home: &Path) -> (String, String) {
    let info: Value =
        serde_json::from_slice(&std::fs::read(home.join("api.json")).unwrap()).unwrap();
    (
        info["web"]
            .as_str()
            .expect("api.json names the web app")
            .to_owned(),
        info["token"].as_str().unwrap().to_owned(),
    )
}

/// What a refusal leaves visible: events (ids) and groups at `home`, and the feed's texts.
fn snapshot(net: &Net, home: &Path, group: &str) -> (BTreeSet<String>, usize, Vec<String>) {
    let groups = net.ok_json(home, &["groups"]);
    let n = groups
        .as_array()
        .or_else(|| groups["groups"].as_array())
        .map(Vec::len)
        .unwrap_or_else(|| panic!("groups: {groups}"));
    (
        net.event_ids(home, group),
        n,
        net.feed(home, group).unwrap().1,
    )
}

#[test]
fn the_api_works_with_the_token_and_refused_requests_change_nothing() {
    let net = Net::new("webapi");
    let a = net.member("a");
    let node = Node::start(&net, "a", &[]);
    let (web, token) = web_and_token(&a);
    let bearer = format!("Bearer {token}");
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];

    // A tool with the token: create, write, read.
    let made = http(
        &web,
        "POST",
        "/api/v1/ops/create",
        &auth,
        br#"{"name":"Tenants"}"#,
    );
    assert_eq!(made.status, 200, "{made:?}");
    let group = made.json()["group"].as_str().unwrap().to_owned();
    assert_eq!(group.len(), 64, "{made:?}");
    let payload = hex::encode(
        Payload::Post {
            text: "XQ first post, through the API".into(),
        }
        .encode(),
    );
    let write = serde_json::json!({ "group": group, "payload": payload }).to_string();
    let wrote = http(&web, "POST", "/api/v1/ops/write", &auth, write.as_bytes());
    assert_eq!(wrote.status, 200, "{wrote:?}");
    net.post(&a, &group, "XQ second post, through the CLI");
    let feed = serde_json::json!({ "group": group }).to_string();
    let read = http(&web, "POST", "/api/v1/views/feed", &auth, feed.as_bytes());
    assert_eq!(read.status, 200, "{read:?}");
    let read = read.json();
    let texts: Vec<&str> = read["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"XQ first post, through the API")
            && texts.contains(&"XQ second post, through the CLI"),
        "{read:?}"
    );
    let listed = http(&web, "GET", "/api/v1/groups", &auth, b"");
    assert!(listed.body.contains(&group), "{listed:?}");

    let before = snapshot(&net, &a, &group);
    assert_eq!(before.2.len(), 2, "{before:?}");

    // Every one of these would write a post if it were let through.
    let host = web.strip_prefix("http://").unwrap();
    let port = host.rsplit(':').next().unwrap();
    let evil_host = format!("evil.example:{port}");
    let evil_origin = format!("http://{evil_host}");
    let wrong = format!("Bearer {}", "5e".repeat(32));
    let write_path = "/api/v1/ops/write";
    let huge = serde_json::json!({ "group": group, "payload": "ab".repeat(200_000) }).to_string();
    let mistyped = serde_json::json!({ "group": group, "payload": 12345 }).to_string();
    let tagged =
        serde_json::json!({ "op": "write", "group": group, "payload": payload }).to_string();
    let ct = ("Content-Type", "application/json");
    #[allow(clippy::type_complexity)]
    let api_cases: Vec<(&str, Vec<(&str, &str)>, &[u8], u16, &str)> = vec![
        ("no token", vec![ct], write.as_bytes(), 401, "API token"),
        (
            "a wrong token",
            vec![("Authorization", &wrong), ct],
            write.as_bytes(),
            401,
            "API token",
        ),
        (
            "the token without its scheme",
            vec![("Authorization", &token), ct],
            write.as_bytes(),
            401,
            "API token",
        ),
        (
            "a foreign Host (DNS rebinding)",
            vec![("Host", &evil_host), ("Authorization", &bearer), ct],
            write.as_bytes(),
            421,
            "answers only as",
        ),
        (
            "a cross-site Origin",
            vec![("Origin", &evil_origin), ("Authorization", &bearer), ct],
            write.as_bytes(),
            403,
            "may not change anything",
        ),
        (
            "Origin: null",
            vec![("Origin", "null"), ("Authorization", &bearer), ct],
            write.as_bytes(),
            403,
            "may not change anything",
        ),
        (
            "malformed JSON",
            vec![("Authorization", &bearer), ct],
            b"{\"group\": ",
            400,
            "not valid JSON",
        ),
        (
            "a JSON array",
            vec![("Authorization", &bearer), ct],
            b"[]",
            400,
            "JSON object",
        ),
        (
            "the tag in the body",
            vec![("Authorization", &bearer), ct],
            tagged.as_bytes(),
            400,
            "given by the path",
        ),
        (
            "a field of the wrong type",
            vec![("Authorization", &bearer), ct],
            mistyped.as_bytes(),
            400,
            "not what this route takes",
        ),
        (
            "an oversized body",
            vec![("Authorization", &bearer), ct],
            huge.as_bytes(),
            413,
            "cannot be read",
        ),
    ];
    for (what, headers, body, status, text) in &api_cases {
        let got = http(&web, "POST", write_path, headers, body);
        assert_eq!(got.status, *status, "{what}: {got:?}");
        assert!(got.message().contains(text), "{what}: {got:?}");
        assert!(got.json()["kind"].is_string(), "{what}: {got:?}");
    }
    // The forms: no session, a made-up session, a real (unproved) session without the CSRF
    // token, a foreign Origin.
    let cookie_name = format!("dualpower_{port}");
    let made_up = format!("{cookie_name}={}", "ab".repeat(32));
    let login = http(&web, "GET", "/login", &[], b"");
    let anon = login.cookie().expect("a session for the login form");
    let origin = web.clone();
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let post_path = format!("/g/{group}/post");
    let body = "text=XQ+forged";
    #[allow(clippy::type_complexity)]
    let form_cases: Vec<(&str, Vec<(&str, &str)>, u16, &str)> = vec![
        (
            "no session",
            vec![("Origin", &origin), form],
            403,
            "session",
        ),
        (
            "a made-up session",
            vec![("Origin", &origin), ("Cookie", &made_up), form],
            403,
            "session",
        ),
        (
            "no CSRF token",
            vec![("Origin", &origin), ("Cookie", &anon), form],
            403,
            "CSRF",
        ),
        (
            "a cross-site Origin",
            vec![("Origin", &evil_origin), ("Cookie", &anon), form],
            403,
            "may not change anything",
        ),
        (
            "no Origin",
            vec![("Cookie", &anon), form],
            403,
            "no Origin header",
        ),
        (
            "a foreign Host",
            vec![
                ("Host", &evil_host),
                ("Origin", &evil_origin),
                ("Cookie", &anon),
                form,
            ],
            421,
            "answers only as",
        ),
    ];
    for (what, headers, status, text) in &form_cases {
        for path in [post_path.as_str(), "/groups"] {
            let got = http(&web, "POST", path, headers, body.as_bytes());
            assert_eq!(got.status, *status, "{path} with {what}: {got:?}");
            assert!(got.message().contains(text), "{what}: {got:?}");
        }
    }

    // Nothing changed: the same events, groups and posts.
    let after = snapshot(&net, &a, &group);
    assert_eq!(before, after, "a refused request changed the store");
    // The node still works, and the measure moves when something is written.
    let wrote = http(&web, "POST", write_path, &auth, write.as_bytes());
    assert_eq!(wrote.status, 200, "{wrote:?}");
    let later = snapshot(&net, &a, &group);
    assert_eq!(later.0.len(), before.0.len() + 1, "{later:?}");
    node.stop();
}

/// A `dualpower serve` started without a passphrase (locked), killed when dropped.
struct Locked {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    web: String,
}

impl Drop for Locked {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Locked {
    fn start(net: &Net, home: &Path) -> Locked {
        let mut cmd = net.cmd(home);
        cmd.env_remove("DUALPOWER_PASSPHRASE")
            .args(["serve", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                seen.lock().unwrap().push(line);
            }
        });
        let mut node = Locked {
            child,
            lines,
            web: String::new(),
        };
        node.web = wait_for("the web app's address", DEADLINE, || {
            let lines = node.lines.lock().unwrap().clone();
            lines
                .iter()
                .find_map(|l| l.strip_prefix("web app on "))
                .map(str::to_owned)
                .ok_or_else(|| format!("{lines:?}"))
        });
        node
    }

    /// A browser's session from the login page: (cookie, CSRF token).
    fn session(&self) -> (String, String) {
        let page = http(&self.web, "GET", "/login", &[], b"");
        assert_eq!(page.status, 200, "{page:?}");
        assert!(page.body.contains("Unlock your node"), "{page:?}");
        let at = page.body.find("name=\"_csrf\" value=\"").unwrap() + 20;
        let csrf = page.body[at..].split('"').next().unwrap().to_owned();
        (page.cookie().unwrap(), csrf)
    }

    /// Sends a passphrase; returns the message the login page shows after it (or `unlocked`
    /// when the browser went on to the app).
    fn try_pass(&self, session: &(String, String), pass: &str) -> String {
        let body = format!("_csrf={}&passphrase={}", session.1, pass.replace(' ', "+"));
        let got = http(
            &self.web,
            "POST",
            "/login",
            &[
                ("Origin", &self.web),
                ("Cookie", &session.0),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        );
        assert_eq!(got.status, 303, "{got:?}");
        if got.header("location") == Some("/") {
            return "unlocked".into();
        }
        let page = http(&self.web, "GET", "/login", &[("Cookie", &session.0)], b"");
        let at = page.body.find("class=\"flash").expect("a message");
        page.body[at..].chars().take(200).collect()
    }

    /// Pages send the browser to /login; the API has no token to accept.
    fn assert_locked(&self, home: &Path) {
        let page = http(&self.web, "GET", "/", &[], b"");
        assert_eq!(page.status, 303, "{page:?}");
        assert_eq!(page.header("location"), Some("/login"), "{page:?}");
        let api = http(
            &self.web,
            "GET",
            "/api/v1/status",
            &[("Authorization", &format!("Bearer {}", "ab".repeat(32)))],
            b"",
        );
        assert_eq!(api.status, 401, "{api:?}");
        // The token is written only once the node runs (unlocked).
        assert!(!home.join("api.json").exists());
    }
}

#[test]
fn a_locked_node_refuses_wrong_passphrases_limits_them_and_the_right_one_unlocks() {
    let net = Net::new("weblocked");
    let a = net.member("a");
    let b = net.member("b");

    // A: five wrong passphrases in a minute, then even the right one waits.
    let node = Locked::start(&net, &a);
    node.assert_locked(&a);
    let s = node.session();
    for i in 0..access_limit() {
        let said = node.try_pass(&s, &format!("wrong guess number {i}"));
        assert!(said.contains("wrong passphrase"), "guess {i}: {said}");
    }
    let said = node.try_pass(&s, "yet another guess");
    assert!(said.contains("Too many"), "{said}");
    // Another browser session does not reset the count.
    let said = node.try_pass(&node.session(), PASS);
    assert!(said.contains("Too many"), "{said}");
    node.assert_locked(&a);
    drop(node);

    // B: a wrong passphrase is refused, the right one unlocks and the node starts.
    let node = Locked::start(&net, &b);
    node.assert_locked(&b);
    let s = node.session();
    let said = node.try_pass(&s, "not the passphrase at all");
    assert!(said.contains("wrong passphrase"), "{said}");
    node.assert_locked(&b);
    assert_eq!(node.try_pass(&s, PASS), "unlocked");
    wait_for("the node to start after the unlock", DEADLINE, || {
        let lines = node.lines.lock().unwrap().clone();
        lines
            .iter()
            .any(|l| l.starts_with("local API on "))
            .then_some(())
            .ok_or_else(|| format!("{lines:?}"))
    });
    let status = net.ok_json(&b, &["status"]);
    assert!(status["node"]["peer_id"].is_string(), "{status}");
    let (web, token) = web_and_token(&b);
    assert_eq!(web, node.web);
    let api = http(
        &web,
        "GET",
        "/api/v1/status",
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_eq!(api.status, 200, "{api:?}");
}

/// Wrong passphrases allowed per minute.
fn access_limit() -> u32 {
    dualpower_web::access::MAX_FAILURES_PER_MINUTE
}
