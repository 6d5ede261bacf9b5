//! The web app's guard as an attacker on the member's computer meets it: a real app bound on
//! loopback, driven with raw HTTP, in front of a fake node that records every command it gets.
//!
//! For every route that changes something (each form route, found by reading the page modules'
//! source so a new one cannot escape, and each JSON API route, from [`api::table`]) a request
//! with no or a wrong session cookie, a logged-out session, a missing or wrong CSRF token, a
//! foreign `Host` (DNS rebinding), a foreign, `null` or missing `Origin`, or no or a wrong bearer
//! token is refused with a 4xx and a message a person can act on — and **no command reaches the
//! node**, which is what "nothing changed" means at this level (every write goes through it).
//! Malformed, mistyped and oversized bodies get a 400/413 with an `error` text, also without a
//! command. No GET route sends the node anything but reads. A locked node's API answers 503
//! `locked`, and wrong passphrases are limited per minute, even when sent all at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use dualpower_core::Identity;
use dualpower_node::ops::Refused;
use dualpower_node::{Command, Handle, Status};
use dualpower_store::keystore::{self, KdfParams};
use dualpower_web::{App, WebOptions, access, api};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const PASS: &str = "correct horse battery staple of the tenants union";
/// A valid-looking group id and proposal id for the routes that take one.
const HEX_G: &str = "6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a";
const HEX_P: &str = "7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b";

/// The source of every module that defines routes, by file name. `pages.rs` lists the page
/// modules; [`every_page_module_is_read`] checks this list against it.
const SOURCES: &[(&str, &str)] = &[
    ("access.rs", include_str!("../src/access.rs")),
    ("pages/aid.rs", include_str!("../src/pages/aid.rs")),
    (
        "pages/aid/render.rs",
        include_str!("../src/pages/aid/render.rs"),
    ),
    (
        "pages/aid/resources.rs",
        include_str!("../src/pages/aid/resources.rs"),
    ),
    ("layout.rs", include_str!("../src/layout.rs")),
    ("live.rs", include_str!("../src/live.rs")),
    (
        "pages/decisions.rs",
        include_str!("../src/pages/decisions.rs"),
    ),
    ("pages/feed.rs", include_str!("../src/pages/feed.rs")),
    ("pages/groups.rs", include_str!("../src/pages/groups.rs")),
    ("pages/members.rs", include_str!("../src/pages/members.rs")),
    (
        "pages/messages.rs",
        include_str!("../src/pages/messages.rs"),
    ),
    ("pages/peers.rs", include_str!("../src/pages/peers.rs")),
    ("pages/people.rs", include_str!("../src/pages/people.rs")),
    ("pages/work.rs", include_str!("../src/pages/work.rs")),
    (
        "pages/work/render.rs",
        include_str!("../src/pages/work/render.rs"),
    ),
    (
        "pages/decisions/ballot.rs",
        include_str!("../src/pages/decisions/ballot.rs"),
    ),
    (
        "pages/decisions/chart.rs",
        include_str!("../src/pages/decisions/chart.rs"),
    ),
];
const PAGES_RS: &str = include_str!("../src/pages.rs");
const LIB_RS: &str = include_str!("../src/lib.rs");

/// What the fake node was asked, in order: `op:NAME`, `view`, `status`, `append`, `import`,
/// `follow`, `dial`.
type Log = Arc<Mutex<Vec<String>>>;

/// Commands that change something (everything but reads).
fn writes(log: &Log) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|c| *c != "view" && *c != "status")
        .cloned()
        .collect()
}

/// A bound app with a fake node behind it.
struct Harness {
    _rt: tokio::runtime::Runtime,
    app: App,
    addr: SocketAddr,
    log: Log,
    _home: TempDir,
    unlocked_rx: Option<oneshot::Receiver<Identity>>,
}

impl Harness {
    /// An app whose identity is unlocked (`locked` false) or not (then `home` holds a
    /// keystore sealed with [`PASS`], cheap to try).
    fn new(locked: bool) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let home = tempfile::tempdir().unwrap();
        let identity = Identity::generate();
        let cheap = KdfParams {
            m_kib: 8 * 1024,
            t: 1,
            p: 1,
        };
        keystore::create(home.path(), &identity, PASS, cheap).unwrap();
        let (handle, mut rx) = Handle::new();
        let log: Log = Arc::default();
        let seen = log.clone();
        // The fake node: records each command and refuses it (reads too, so pages render
        // their "not available" state), answering so no handler waits forever.
        rt.spawn(async move {
            while let Some(c) = rx.recv().await {
                let no = || Refused {
                    kind: "conflict",
                    message: "fake node".into(),
                };
                let name = match c {
                    Command::Op { op, reply, .. } => {
                        let _ = reply.send(Err(no()));
                        format!("op:{}", serde_json::to_value(&*op).unwrap()["op"])
                    }
                    Command::View { reply, .. } => {
                        let _ = reply.send(Err(no()));
                        "view".into()
                    }
                    Command::Status { reply } => {
                        let _ = reply.send(Status::default());
                        "status".into()
                    }
                    Command::Anonymity { reply, .. } => {
                        let _ = reply.send((false, false));
                        "anonymity".into()
                    }
                    Command::Append { reply, .. } => {
                        let _ = reply.send(Err("fake node".into()));
                        "append".into()
                    }
                    Command::Import { reply, .. } => {
                        let _ = reply.send(Err("fake node".into()));
                        "import".into()
                    }
                    Command::Follow { reply, .. } => {
                        let _ = reply.send(Err("fake node".into()));
                        "follow".into()
                    }
                    Command::Dial { reply, .. } => {
                        let _ = reply.send(Err("fake node".into()));
                        "dial".into()
                    }
                };
                seen.lock().unwrap().push(name);
            }
        });
        let (tx, unlocked_rx) = oneshot::channel();
        let app = App::new(WebOptions {
            home: home.path().to_path_buf(),
            store: Weak::new(),
            handle,
            token: TOKEN.into(),
            unlocked: (!locked).then(|| identity.public()),
            unlock: locked.then_some(tx),
            public: false,
        });
        let bound = rt
            .block_on(app.bind("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        let addr = bound.addr;
        rt.spawn(bound.serve());
        Harness {
            _rt: rt,
            app,
            addr,
            log,
            _home: home,
            unlocked_rx: locked.then_some(unlocked_rx),
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    fn origin(&self) -> String {
        format!("http://{}", self.host())
    }

    fn cookie_name(&self) -> String {
        format!("dualpower_{}", self.addr.port())
    }

    /// A request to this app with the right `Host` and nothing else.
    fn req(&self, method: &str, path: &str) -> Req {
        Req {
            addr: self.addr,
            method: method.into(),
            path: path.into(),
            headers: vec![("Host".into(), self.host())],
            body: Vec::new(),
        }
    }

    /// A session proved by a one-time login link: (cookie header value, CSRF token).
    fn login(&self) -> (String, String) {
        let link = self.app.login_link();
        let path = link.split_once(&self.host()).unwrap().1.to_string();
        let r = self.req("GET", &path).send();
        assert_eq!(r.status, 303, "{r:?}");
        let cookie = r.set_cookie(&self.cookie_name()).expect("a session cookie");
        let cookie = format!("{}={cookie}", self.cookie_name());
        let page = self.req("GET", "/").header("Cookie", &cookie).send();
        assert_eq!(page.status, 200, "{page:?}");
        (cookie, csrf_of(&page.body))
    }

    /// A session not (yet) proved, as anyone who opens `/login` gets: (cookie, CSRF token).
    fn anonymous(&self) -> (String, String) {
        let r = self.req("GET", "/login").send();
        assert_eq!(r.status, 200, "{r:?}");
        let cookie = r.set_cookie(&self.cookie_name()).expect("a session cookie");
        (format!("{}={cookie}", self.cookie_name()), csrf_of(&r.body))
    }
}

/// The `_csrf` value of the first form on a page.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"_csrf\" value=\"")
        .unwrap_or_else(|| panic!("no _csrf field in {page}"));
    let rest = &page[at + "name=\"_csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// One raw HTTP/1.1 request (so every header is exactly what the test says).
#[derive(Clone)]
struct Req {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap().to_string())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Req {
    /// Sets (or with `None` removes) a header.
    fn set(mut self, name: &str, value: Option<&str>) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            self.headers.push((name.into(), v.into()));
        }
        self
    }

    fn header(self, name: &str, value: &str) -> Req {
        self.set(name, Some(value))
    }

    fn form(self, body: &str) -> Req {
        let mut r = self.header("Content-Type", "application/x-www-form-urlencoded");
        r.body = body.as_bytes().to_vec();
        r
    }

    fn json(self, body: &[u8]) -> Req {
        let mut r = self.header("Content-Type", "application/json");
        r.body = body.to_vec();
        r
    }

    fn send(&self) -> Resp {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        s.write_all(head.as_bytes()).unwrap();
        // The app may answer (and close) before taking a body it refuses.
        let _ = s.write_all(&self.body);
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) => panic!(
                    "{} {}: no complete answer: {e}; got {:?}",
                    self.method,
                    self.path,
                    String::from_utf8_lossy(&raw)
                ),
            }
            // An event stream never ends: its head is enough.
            let text = String::from_utf8_lossy(&raw);
            if text.contains("\r\n\r\n") && text.contains("text/event-stream") {
                break;
            }
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
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Resp {
            status,
            headers,
            body: body.to_string(),
        }
    }
}

/// A route: method (`get`/`post`) and path pattern, and the file that defines it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    method: String,
    path: String,
    file: String,
}

/// Skips a string literal starting at `i` (a `"`); returns the index after it.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() && b[i] != b'"' {
        if b[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// Every `.route("PATH", METHOD(…).METHOD(…))` in `src`.
fn routes_in(file: &str, src: &str) -> Vec<Route> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = src[from..].find(".route(") {
        let start = from + at + ".route(".len();
        from = start;
        // A path that is not a literal (the API's table) is for its caller to check.
        if !src[start..].trim_start().starts_with('"') {
            continue;
        }
        let q = start + src[start..].find('"').unwrap();
        let end = skip_string(b, q);
        let path = src[q + 1..end - 1].to_string();
        // The handler expression: to the `)` closing `.route(`.
        let mut depth = 1;
        let mut i = end;
        while depth > 0 {
            match b[i] {
                b'"' => {
                    i = skip_string(b, i);
                    continue;
                }
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        let expr = &src[end..i];
        for method in ["get", "post", "put", "patch", "delete"] {
            let mut j = 0;
            while let Some(k) = expr[j..].find(&format!("{method}(")) {
                let pos = j + k;
                let before = expr[..pos].chars().next_back().unwrap_or(' ');
                if !(before.is_alphanumeric() || before == '_') {
                    out.push(Route {
                        method: method.into(),
                        path: path.clone(),
                        file: file.into(),
                    });
                }
                j = pos + 1;
            }
        }
    }
    out
}

/// Every page, form and login route the app serves (not the API, which comes from its table).
fn source_routes() -> Vec<Route> {
    let mut all: Vec<Route> = SOURCES.iter().flat_map(|(f, s)| routes_in(f, s)).collect();
    all.sort();
    all.dedup();
    all
}

/// A concrete path for a pattern.
fn concrete(pattern: &str) -> String {
    pattern.replace("{g}", HEX_G).replace("{p}", HEX_P).replace(
        "{did}",
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    )
}

#[test]
fn every_page_module_is_read() {
    // `pages.rs` declares the page modules; each must be in SOURCES, or its routes would go
    // untested. Likewise every module of the crate that builds a Router.
    for line in PAGES_RS.lines() {
        if let Some(m) = line.trim().strip_prefix("pub mod ") {
            let m = m.trim_end_matches(';');
            assert!(
                SOURCES.iter().any(|(f, _)| *f == format!("pages/{m}.rs")),
                "pages/{m}.rs defines routes this test does not read: add it to SOURCES"
            );
        }
    }
    // And the public submodules of those (a page's rendering, its other parts): a route or a
    // form there is read too.
    for (f, src) in SOURCES {
        let Some(dir) = f.strip_suffix(".rs") else {
            continue;
        };
        for line in src.lines() {
            if let Some(m) = line.strip_prefix("pub mod ") {
                let m = m.trim_end_matches(';');
                assert!(
                    SOURCES.iter().any(|(f, _)| *f == format!("{dir}/{m}.rs")),
                    "{dir}/{m}.rs is not read by this test: add it to SOURCES"
                );
            }
        }
    }
    for line in LIB_RS.lines() {
        if let Some(m) = line.trim().strip_prefix("pub mod ") {
            let m = m.trim_end_matches(';');
            if m != "pages" && m != "api" {
                assert!(
                    SOURCES.iter().any(|(f, _)| *f == format!("{m}.rs")),
                    "{m}.rs is not read by this test: add it to SOURCES"
                );
            }
        }
    }
    // The parser finds what is there (a route in a chain, one split over lines).
    let routes = source_routes();
    for (m, p) in [
        ("post", "/g/{g}/decisions"),
        ("get", "/g/{g}/decisions"),
        ("post", "/groups"),
        ("post", "/login"),
        ("post", "/logout"),
        ("post", "/onboard"),
        ("get", "/static/app.css"),
        ("get", "/events"),
    ] {
        assert!(
            routes.iter().any(|r| r.method == m && r.path == p),
            "{m} {p} not found in {routes:?}"
        );
    }
    assert!(
        routes
            .iter()
            .all(|r| r.method == "get" || r.method == "post"),
        "{routes:?}"
    );
}

/// Asserts a refusal: the status, a message containing `text`, and (for the API) a JSON error.
#[track_caller]
fn refused(r: &Resp, status: u16, text: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    let message = if r
        .header("content-type")
        .unwrap_or_default()
        .contains("json")
    {
        r.json()["error"].as_str().unwrap_or_default().to_string()
    } else {
        r.body.clone()
    };
    assert!(
        message.contains(text),
        "{what}: message {message:?} lacks {text:?}"
    );
}

#[test]
fn every_form_route_refuses_a_request_without_session_csrf_host_or_origin() {
    let h = Harness::new(false);
    let (cookie, csrf) = h.login();
    // A second browser that logged out: its cookie and token are dead.
    let (old_cookie, old_csrf) = h.login();
    let out = h
        .req("POST", "/logout")
        .header("Origin", &h.origin())
        .header("Cookie", &old_cookie)
        .form(&format!("_csrf={old_csrf}"))
        .send();
    assert_eq!(out.status, 303, "{out:?}");
    // A session anyone gets by opening /login, never proved.
    let (anon_cookie, anon_csrf) = h.anonymous();
    let other_port = if h.addr.port() == 1 {
        2
    } else {
        h.addr.port() - 1
    };
    let evil_host = format!("evil.example:{}", h.addr.port());
    // Rendering the pages above asked the node for reads; from here on nothing may reach it.
    h.log.lock().unwrap().clear();

    let posts: Vec<Route> = source_routes()
        .into_iter()
        .filter(|r| r.method == "post")
        .collect();
    assert!(
        posts.len() >= 20,
        "only {} form routes: {posts:?}",
        posts.len()
    );
    let mut tried = 0;
    for route in &posts {
        let path = concrete(&route.path);
        // A body each route could take (the fields it reads are ignored by the guard).
        let fields = "name=x&text=x&addr=%2Fip4%2F127.0.0.1%2Ftcp%2F1&passphrase=wrong&repeat=wrong&title=x&body=x&choice=x&member=x&role=x&code=x&to=x";
        let good = h
            .req("POST", &path)
            .header("Origin", &h.origin())
            .header("Cookie", &cookie)
            .form(&format!("{fields}&_csrf={csrf}"));
        let wrong_cookie = format!("{}={}", h.cookie_name(), "ab".repeat(32));
        let other_name = format!(
            "dualpower_{other_port}={}",
            cookie.split('=').nth(1).unwrap()
        );
        let cases: Vec<(&str, Req, u16, &str)> = vec![
            (
                "no cookie",
                good.clone().set("Cookie", None),
                403,
                "session has ended",
            ),
            (
                "wrong cookie",
                good.clone().header("Cookie", &wrong_cookie),
                403,
                "session has ended",
            ),
            (
                "the session cookie under another port's name",
                good.clone().header("Cookie", &other_name),
                403,
                "session has ended",
            ),
            (
                "logged-out session",
                good.clone()
                    .header("Cookie", &old_cookie)
                    .form(&format!("{fields}&_csrf={old_csrf}")),
                403,
                "session has ended",
            ),
            ("no CSRF token", good.clone().form(fields), 403, "CSRF"),
            (
                "wrong CSRF token",
                good.clone()
                    .form(&format!("{fields}&_csrf={}", "cd".repeat(32))),
                403,
                "CSRF",
            ),
            (
                "another session's CSRF token",
                good.clone().form(&format!("{fields}&_csrf={anon_csrf}")),
                403,
                "CSRF",
            ),
            (
                "CSRF token in the URL, not the form",
                Req {
                    path: format!("{path}?_csrf={csrf}"),
                    ..good.clone().form(fields)
                },
                403,
                "CSRF",
            ),
            (
                "a JSON body",
                good.clone()
                    .json(format!("{{\"_csrf\":\"{csrf}\"}}").as_bytes()),
                403,
                "CSRF",
            ),
            (
                "DNS rebinding (foreign Host, matching Origin)",
                good.clone()
                    .header("Host", &evil_host)
                    .header("Origin", &format!("http://{evil_host}")),
                421,
                "answers only as",
            ),
            (
                "no Host",
                good.clone().set("Host", None),
                421,
                "answers only as",
            ),
            (
                "foreign Origin",
                good.clone().header("Origin", "http://evil.example"),
                403,
                "may not change anything",
            ),
            (
                "Origin of another local port",
                good.clone()
                    .header("Origin", &format!("http://127.0.0.1:{other_port}")),
                403,
                "may not change anything",
            ),
            (
                "Origin https of this host",
                good.clone()
                    .header("Origin", &format!("https://{}", h.host())),
                403,
                "may not change anything",
            ),
            (
                "Origin: null",
                good.clone().header("Origin", "null"),
                403,
                "may not change anything",
            ),
            (
                "no Origin",
                good.clone().set("Origin", None),
                403,
                "no Origin header",
            ),
            (
                "oversized form",
                good.clone().form(&format!(
                    "_csrf={csrf}&text={}",
                    "a".repeat(access::FORM_LIMIT + 1)
                )),
                413,
                "larger than",
            ),
        ];
        for (what, req, status, text) in cases {
            let r = req.send();
            refused(&r, status, text, &format!("POST {path} with {what}"));
            tried += 1;
        }
        // A session nobody proved passes the CSRF check (the login form needs that) but no
        // form handler acts for it: back to /login.
        if !["/login", "/logout", "/onboard"].contains(&route.path.as_str()) {
            let r = good
                .clone()
                .header("Cookie", &anon_cookie)
                .form(&format!("{fields}&_csrf={anon_csrf}"))
                .send();
            assert_eq!(r.status, 303, "POST {path} unproved session: {r:?}");
            assert_eq!(r.header("location"), Some("/login"), "{path}: {r:?}");
        }
        // Other methods are not a way around: the guard treats them as changes too.
        for method in ["PUT", "DELETE", "PATCH"] {
            let r = Req {
                method: method.into(),
                ..good.clone().set("Cookie", None)
            }
            .send();
            assert!(
                (400..500).contains(&r.status),
                "{method} {path} without a session: {r:?}"
            );
        }
    }
    assert_eq!(tried, posts.len() * 17, "{tried}");
    assert_eq!(
        *h.log.lock().unwrap(),
        Vec::<String>::new(),
        "a refused request reached the node"
    );
    // The proved session still works, so the refusals above were the guard's doing: the
    // same request with everything right reaches the node.
    let r = h
        .req("POST", "/groups")
        .header("Origin", &h.origin())
        .header("Cookie", &cookie)
        .form(&format!(
            "name=Tenants&admission=&vote_method=&_csrf={csrf}"
        ))
        .send();
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(writes(&h.log), vec!["op:\"create\"".to_string()]);
}

/// A body that names every field of `schema` with a value of the wrong type for most.
fn mistyped(schema: &Value) -> Option<Value> {
    let props = schema["properties"].as_object()?;
    if props.is_empty() {
        return None;
    }
    Some(Value::Object(
        props
            .keys()
            .map(|k| {
                (
                    k.clone(),
                    json!({ "not": ["what", "this", "field", "takes"] }),
                )
            })
            .collect(),
    ))
}

#[test]
fn every_api_route_refuses_without_the_token_and_rejects_bad_bodies() {
    let h = Harness::new(false);
    let (cookie, _) = h.login();
    let (table, _) = api::table();
    assert!(table.len() > 20, "{}", table.len());
    let evil_host = format!("evil.example:{}", h.addr.port());
    let bearer = format!("Bearer {TOKEN}");
    h.log.lock().unwrap().clear();
    for r in &table {
        let method = r.method.to_uppercase();
        let good = h
            .req(&method, &r.path)
            .header("Authorization", &bearer)
            .json(b"{}");
        let cases: Vec<(&str, Req, u16, &str)> = vec![
            (
                "no token",
                good.clone().set("Authorization", None),
                401,
                "API token",
            ),
            (
                "wrong token",
                good.clone()
                    .header("Authorization", &format!("Bearer {}", "ef".repeat(32))),
                401,
                "API token",
            ),
            (
                "the token with a suffix",
                good.clone().header("Authorization", &format!("{bearer}0")),
                401,
                "API token",
            ),
            (
                "the token without the Bearer scheme",
                good.clone().header("Authorization", TOKEN),
                401,
                "API token",
            ),
            (
                "a session cookie instead of the token",
                good.clone()
                    .set("Authorization", None)
                    .header("Cookie", &cookie)
                    .header("Origin", &h.origin()),
                401,
                "API token",
            ),
            (
                "DNS rebinding (foreign Host)",
                good.clone().header("Host", &evil_host),
                421,
                "answers only as",
            ),
        ];
        let mut cases = cases;
        if r.method == "post" {
            cases.extend([
                (
                    "foreign Origin",
                    good.clone().header("Origin", "http://evil.example"),
                    403,
                    "may not change anything",
                ),
                (
                    "Origin: null",
                    good.clone().header("Origin", "null"),
                    403,
                    "may not change anything",
                ),
            ]);
        }
        // A bundle upload is bytes, not JSON: only its size is refused before the node.
        if r.media != "application/json" {
            cases.push((
                "an oversized bundle",
                good.clone()
                    .json(&vec![0u8; dualpower_node::api::MAX_IMPORT_BYTES + 1]),
                413,
                "cannot be read",
            ));
        }
        let tagged = r.path.contains("/ops/") || r.path.contains("/views/");
        if r.request.is_some() && r.media == "application/json" {
            cases.extend([
                (
                    "malformed JSON",
                    good.clone().json(b"{\"name\": "),
                    400,
                    "not valid JSON",
                ),
                (
                    "a JSON array",
                    good.clone().json(b"[1, 2]"),
                    400,
                    "JSON object",
                ),
                (
                    "a JSON string",
                    good.clone().json(b"\"create\""),
                    400,
                    "JSON object",
                ),
                (
                    "an oversized body",
                    good.clone().json(
                        json!({ "text": "a".repeat(api::BODY_LIMIT) })
                            .to_string()
                            .as_bytes(),
                    ),
                    413,
                    "cannot be read",
                ),
            ]);
            if tagged {
                let tag = if r.path.contains("/ops/") {
                    "op"
                } else {
                    "query"
                };
                let name = r.path.rsplit('/').next().unwrap();
                cases.extend([
                    (
                        "a body naming the tag",
                        good.clone()
                            .json(json!({ tag: name }).to_string().as_bytes()),
                        400,
                        "given by the path",
                    ),
                    (
                        "a body naming another variant in the tag",
                        good.clone()
                            .json(json!({ tag: "create" }).to_string().as_bytes()),
                        400,
                        "given by the path",
                    ),
                ]);
            }
            if let Some(body) = r.request.as_ref().and_then(mistyped) {
                cases.push((
                    "fields of the wrong type",
                    good.clone().json(body.to_string().as_bytes()),
                    400,
                    "not what this route takes",
                ));
            }
        }
        for (what, req, status, text) in cases {
            let got = req.send();
            refused(
                &got,
                status,
                text,
                &format!("{method} {} with {what}", r.path),
            );
            assert!(
                got.header("content-type")
                    .is_some_and(|c| c.contains("application/json")),
                "{what}: {got:?}"
            );
        }
    }
    // Paths that only look like the API's are not a way around the token.
    for path in [
        "/%61pi/v1/ops/create",
        "//api/v1/ops/create",
        "/api/v1/ops/create/",
        "/API/v1/ops/create",
        "/api/v1//ops/create",
    ] {
        let r = h
            .req("POST", path)
            .header("Cookie", &cookie)
            .json(b"{\"name\":\"x\"}")
            .send();
        assert!((400..500).contains(&r.status), "{path}: {r:?}");
    }
    assert_eq!(
        *h.log.lock().unwrap(),
        Vec::<String>::new(),
        "a refused request reached the node"
    );
    // With everything right, the same route does reach the node: the refusals were real.
    let r = h
        .req("POST", "/api/v1/ops/create")
        .header("Authorization", &bearer)
        .json(b"{\"name\":\"Tenants\"}")
        .send();
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(r.json()["error"], "fake node");
    assert_eq!(writes(&h.log), vec!["op:\"create\"".to_string()]);
}

#[test]
fn no_get_route_changes_anything() {
    let h = Harness::new(false);
    let (cookie, _) = h.login();
    let gets: Vec<Route> = source_routes()
        .into_iter()
        .filter(|r| r.method == "get")
        .collect();
    assert!(gets.len() >= 10, "{gets:?}");
    for route in &gets {
        let path = concrete(&route.path);
        for with_session in [true, false] {
            let mut r = h.req("GET", &path).header("Origin", "http://evil.example");
            if with_session {
                r = r.header("Cookie", &cookie);
            }
            let got = r.send();
            assert!(got.status < 500, "GET {path}: {got:?}");
            // HEAD is safe too.
            let got = Req {
                method: "HEAD".into(),
                ..h.req("GET", &path).header("Cookie", &cookie)
            }
            .send();
            assert!(got.status < 500, "HEAD {path}: {got:?}");
        }
    }
    for r in api::table().0.iter().filter(|r| r.method == "get") {
        let got = h
            .req("GET", &r.path)
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send();
        assert!(got.status < 500, "GET {}: {got:?}", r.path);
    }
    let doc = h.req("GET", "/api/openapi.json").send();
    assert_eq!(doc.status, 200);
    assert_eq!(
        writes(&h.log),
        Vec::<String>::new(),
        "a GET sent the node a change"
    );
    // The pages did ask the node (so the check above watched real traffic).
    assert!(
        h.log.lock().unwrap().iter().any(|c| c == "view"),
        "{:?}",
        h.log.lock().unwrap()
    );
}

#[test]
fn a_locked_node_answers_503_and_sends_pages_to_login() {
    let h = Harness::new(true);
    let bearer = format!("Bearer {TOKEN}");
    for r in api::table().0 {
        if r.path == "/api/v1/groups" || r.path == "/api/v1/login-link" {
            // Neither needs the keys.
            continue;
        }
        let got = h
            .req(&r.method.to_uppercase(), &r.path)
            .header("Authorization", &bearer)
            .json(b"{}")
            .send();
        assert_eq!(got.status, 503, "{} {got:?}", r.path);
        assert_eq!(got.json()["kind"], "locked", "{got:?}");
        assert!(
            got.json()["error"].as_str().unwrap().contains("passphrase"),
            "{got:?}"
        );
    }
    // Even a login link's session sees no page but the login.
    let (cookie, _) = {
        let link = h.app.login_link();
        let path = link.split_once(&h.host()).unwrap().1.to_string();
        let r = h.req("GET", &path).send();
        let c = r.set_cookie(&h.cookie_name()).unwrap();
        (format!("{}={c}", h.cookie_name()), ())
    };
    for path in [
        "/".to_string(),
        format!("/g/{HEX_G}"),
        "/peers".into(),
        "/messages".into(),
    ] {
        let got = h.req("GET", &path).header("Cookie", &cookie).send();
        assert_eq!(got.status, 303, "{path}: {got:?}");
        assert_eq!(got.header("location"), Some("/login"), "{got:?}");
    }
    assert_eq!(*h.log.lock().unwrap(), Vec::<String>::new());
}

/// The message the login page shows a session (its flash).
fn flash_of(h: &Harness, cookie: &str) -> String {
    let page = h.req("GET", "/login").header("Cookie", cookie).send();
    let at = page.body.find("class=\"flash").unwrap_or(0);
    page.body[at..].chars().take(300).collect()
}

fn wrong_login(h: &Harness, cookie: &str, csrf: &str, pass: &str) -> Resp {
    h.req("POST", "/login")
        .header("Origin", &h.origin())
        .header("Cookie", cookie)
        .form(&format!(
            "_csrf={csrf}&passphrase={}",
            pass.replace(' ', "+")
        ))
        .send()
}

#[test]
fn passphrases_are_limited_per_minute_even_when_sent_at_once() {
    let mut h = Harness::new(true);
    let mut rx = h.unlocked_rx.take().unwrap();
    // Twelve browsers (any local user can open /login) each try one passphrase, all at once.
    let sessions: Vec<(String, String)> = (0..12).map(|_| h.anonymous()).collect();
    let h = Arc::new(h);
    let barrier = Arc::new(std::sync::Barrier::new(sessions.len()));
    let threads: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(i, (cookie, csrf))| {
            let (h, barrier) = (h.clone(), barrier.clone());
            let (cookie, csrf) = (cookie.clone(), csrf.clone());
            std::thread::spawn(move || {
                barrier.wait();
                wrong_login(&h, &cookie, &csrf, &format!("guess number {i}"))
            })
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!(r.status, 303, "{r:?}");
    }

    let flashes: Vec<String> = sessions.iter().map(|(c, _)| flash_of(&h, c)).collect();
    let limited = flashes.iter().filter(|f| f.contains("Too many")).count();
    assert!(
        limited >= sessions.len() - access::MAX_FAILURES_PER_MINUTE as usize,
        "{} of {} guesses were tried: {flashes:#?}",
        sessions.len() - limited,
        sessions.len()
    );
    // Now even the right passphrase waits.
    let (cookie, csrf) = h.anonymous();
    let r = wrong_login(&h, &cookie, &csrf, PASS);
    assert_eq!(r.status, 303);
    assert!(flash_of(&h, &cookie).contains("Too many"));
    assert!(matches!(
        rx.try_recv(),
        Err(oneshot::error::TryRecvError::Empty)
    ));
    assert!(h.app.me().is_none());
    assert_eq!(*h.log.lock().unwrap(), Vec::<String>::new());
}

#[test]
fn the_right_passphrase_unlocks_and_a_wrong_one_does_not() {
    let mut h = Harness::new(true);
    let (cookie, csrf) = h.anonymous();
    let r = wrong_login(&h, &cookie, &csrf, "not the passphrase");
    assert_eq!(r.status, 303);
    assert!(!flash_of(&h, &cookie).contains("Too many"));
    assert!(h.app.me().is_none());
    let r = wrong_login(&h, &cookie, &csrf, PASS);
    assert_eq!(r.status, 303, "{r:?}");
    // A proved session under a fresh id (the one before the login is dead).
    let new = r.set_cookie(&h.cookie_name()).expect("a new session");
    assert_ne!(format!("{}={new}", h.cookie_name()), cookie);
    let id = h.unlocked_rx.take().unwrap().try_recv().unwrap();
    assert_eq!(Some(id.public()), h.app.me());
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Every `type` keyword of the schemas in `v` (JSON Schema allows only these names).
fn schema_types_ok(v: &Value, at: &str) {
    match v {
        Value::Object(m) => {
            if let Some(t) = m.get("type") {
                let names: Vec<&Value> = match t {
                    Value::Array(a) => a.iter().collect(),
                    t => vec![t],
                };
                for n in names {
                    assert!(
                        matches!(
                            n.as_str(),
                            Some(
                                "null"
                                    | "boolean"
                                    | "object"
                                    | "array"
                                    | "number"
                                    | "string"
                                    | "integer"
                            )
                        ) || at.ends_with("/properties"),
                        "{at}: bad type {n}"
                    );
                }
            }
            for (k, x) in m {
                schema_types_ok(x, &format!("{at}/{k}"));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| schema_types_ok(x, at)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_is_valid_and_lists_exactly_the_served_routes() {
    let h = Harness::new(false);
    // The document as served (no token needed for it).
    let got = h.req("GET", "/api/openapi.json").send();
    assert_eq!(got.status, 200, "{got:?}");
    let doc = got.json();
    assert_eq!(doc, api::openapi());
    // The reference validator (the OpenAPI 3.1 meta-schema, JSON Schema 2020-12), when this
    // machine has it: `pip install openapi-spec-validator`.
    if let Some(dir) = option_env!("CARGO_TARGET_TMPDIR") {
        let file = Path::new(dir).join("openapi.json");
        std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        let check = "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))";
        let has = std::process::Command::new("python3")
            .args(["-c", "import openapi_spec_validator"])
            .output()
            .is_ok_and(|o| o.status.success());
        if has {
            let out = std::process::Command::new("python3")
                .args(["-c", check])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openapi-spec-validator: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            eprintln!("openapi-spec-validator is not installed: only the checks below ran");
        }
    }

    // A real OpenAPI 3.1 model parses it: every object has the fields and types the
    // specification gives it.
    let spec = oas3::from_json(doc.to_string()).expect("an OpenAPI 3.1 document");
    let version = spec.validate_version().expect("a supported version");
    assert_eq!((version.major, version.minor), (3, 1));
    assert!(!spec.info.title.is_empty() && !spec.info.version.is_empty());
    let schemes = spec
        .components
        .as_ref()
        .map(|c| c.security_schemes.keys().cloned().collect::<BTreeSet<_>>())
        .unwrap_or_default();

    let mut ids = BTreeSet::new();
    let mut listed = BTreeSet::new();
    for (path, method, op) in spec.operations() {
        assert!(path.starts_with("/api/"), "{path}");
        listed.insert((method.as_str().to_lowercase(), path.clone()));
        // operationIds are unique.
        let id = op
            .operation_id
            .clone()
            .unwrap_or_else(|| panic!("{path}: no id"));
        assert!(ids.insert(id.clone()), "operationId {id} twice");
        // Every templated parameter is declared as a required path parameter.
        let params = op.parameters(&spec).expect("parameters resolve");
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(['{', '}']);
            assert!(
                params.iter().any(|p| p.name == name
                    && p.location == oas3::spec::ParameterIn::Path
                    && p.required == Some(true)),
                "{path}: {{{name}}} not declared"
            );
        }
        // References resolve; every response is described; security names a scheme.
        op.request_body(&spec).expect("the request body resolves");
        let responses = op.responses(&spec);
        assert!(responses.contains_key("200"), "{path}");
        for (code, r) in &responses {
            assert!(
                r.description.as_deref().is_some_and(|d| !d.is_empty()),
                "{path} {code}: no description"
            );
        }
        for s in &op.security {
            for name in s.0.keys() {
                assert!(schemes.contains(name), "{path}: security {name} undefined");
            }
        }
    }
    // Every `$ref` anywhere (schemas included) points at something in the document.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in &all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r}: not local"));
        assert!(doc.pointer(pointer).is_some(), "{r} dangles");
    }
    schema_types_ok(&doc["components"]["schemas"], "#/components/schemas");
    schema_types_ok(&doc["paths"], "#/paths");

    // It lists exactly the API's routes: the table the router is built from, plus the
    // document itself.
    let (table, _) = api::table();
    let mut served: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect();
    served.insert(("get".into(), "/api/openapi.json".into()));
    assert_eq!(listed, served);
    // And the router serves nothing under /api but those: api.rs routes only the table and
    // the document.
    let api_src = include_str!("../src/api.rs");
    let routed: Vec<String> = routes_in("api.rs", api_src)
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        routed,
        vec!["get /api/openapi.json".to_string()],
        "{routed:?}"
    );
    assert_eq!(
        api_src.matches(".route(").count(),
        2,
        "a route outside the table"
    );

    // Each listed route is served: with the token, none answers 404 or 405.
    for (method, path) in &listed {
        let got = h
            .req(&method.to_uppercase(), path)
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .json(b"{}")
            .send();
        assert!(
            got.status != 404 && got.status != 405 && got.status < 500,
            "{method} {path}: {got:?}"
        );
    }
    // A path it does not list is not served.
    let got = h
        .req("POST", "/api/v1/ops/everything")
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send();
    assert_eq!(got.status, 404, "{got:?}");
}

#[test]
fn a_flood_of_login_page_visits_does_not_log_the_member_out() {
    let h = Harness::new(false);
    let (cookie, _) = h.login();
    // Each visit without a cookie makes a new unproved session (the login form needs one).
    for _ in 0..access::MAX_SESSIONS * 2 {
        h.anonymous();
    }
    let page = h.req("GET", "/").header("Cookie", &cookie).send();
    assert_eq!(
        page.status, 200,
        "the member's session was evicted: {page:?}"
    );
}
