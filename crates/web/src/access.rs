//! Who may use the web app, and the checks every request passes before any handler runs.
//!
//! The app listens on loopback, where every local OS user and every web page the member visits
//! can reach it. So:
//! - a browser proves it is the member's once, by the passphrase or by a one-time link that
//!   `serve` prints (only the member's terminal sees it), and then holds a session cookie
//!   (HttpOnly, SameSite=Strict, named after the port so two nodes on one machine keep theirs);
//! - `Host` must name this server, so a hostile site that points its own DNS name at 127.0.0.1
//!   (DNS rebinding) is refused even though the browser thinks it is same-origin;
//! - every request that changes something must carry `Origin` equal to this server's origin
//!   (browsers always send it on POST), and every form the session's CSRF token, checked here
//!   for every route at once so no form can forget it;
//! - the JSON API (`/api/v1`) takes the node's bearer token instead of a cookie, so a page in
//!   the browser cannot use it on the member's behalf.
//!
//! Creating the identity needs the one-time link (a local user who reaches the port first must
//! not become the member); unlocking needs the passphrase, which only the member knows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Query as UrlQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use dualpower_core::Identity;
use dualpower_store::keystore::{self, KdfParams};
use maud::html;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::layout::{self, Flash};
use crate::{App, Phase, lock};

/// How long a login link printed by `serve` stays valid (once).
pub const LINK_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a session lasts without use.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// At most this many sessions (the oldest goes first): each is a browser of the member's.
pub const MAX_SESSIONS: usize = 64;
/// At most this many login links outstanding.
pub const MAX_LINKS: usize = 16;
/// The largest form body (a post's text is far smaller).
pub const FORM_LIMIT: usize = 256 * 1024;
/// Wrong passphrases allowed per minute before the app stops trying them for a while.
pub const MAX_FAILURES_PER_MINUTE: u32 = 5;

/// The addresses this server answers as.
#[derive(Clone, Debug, Default)]
pub struct Site {
    port: u16,
    /// `host:port` values accepted in `Host` (empty with `public`: any, but Origin must match).
    hosts: Vec<String>,
    base: String,
}

impl Site {
    /// The site of an app bound to `addr`.
    pub fn new(addr: SocketAddr, public: bool) -> Site {
        let port = addr.port();
        let hosts = if public {
            Vec::new()
        } else {
            vec![
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
                addr.to_string(),
            ]
        };
        let base = if addr.ip().is_unspecified() {
            format!("http://127.0.0.1:{port}")
        } else {
            format!("http://{addr}")
        };
        Site { port, hosts, base }
    }

    /// `http://host:port`, for links this app prints.
    pub fn base(&self) -> String {
        self.base.clone()
    }

    fn host_ok(&self, host: &str) -> bool {
        if self.hosts.is_empty() {
            return !host.is_empty();
        }
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The session cookie's name (ports share cookies in browsers).
    fn cookie(&self) -> String {
        format!("dualpower_{}", self.port)
    }
}

/// One browser's session.
struct Session {
    csrf: String,
    /// Proved to be the member's (passphrase or login link).
    authed: bool,
    last: Instant,
    flash: Option<Flash>,
}

/// Sessions and outstanding login links, in memory only: a restarted node asks again.
#[derive(Default)]
pub struct Sessions {
    map: HashMap<String, Session>,
    links: HashMap<String, Instant>,
    /// Passphrase attempts of the last minute (begun, less the right ones).
    failures: Vec<Instant>,
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b);
    hex::encode(b)
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// A new one-time login token.
    pub fn new_link(&mut self) -> String {
        let now = Instant::now();
        self.links.retain(|_, t| now.duration_since(*t) < LINK_TTL);
        while self.links.len() >= MAX_LINKS {
            let oldest = self
                .links
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.links.remove(&k);
            }
        }
        let t = random_hex();
        self.links.insert(t.clone(), now);
        t
    }

    fn take_link(&mut self, token: &str) -> bool {
        let found = self.links.keys().find(|k| ct_eq(k, token)).cloned();
        match found.and_then(|k| self.links.remove(&k)) {
            Some(t) => t.elapsed() < LINK_TTL,
            None => false,
        }
    }

    fn create(&mut self, authed: bool) -> String {
        let now = Instant::now();
        self.map
            .retain(|_, s| now.duration_since(s.last) < SESSION_IDLE);
        while self.map.len() >= MAX_SESSIONS {
            // Unproved sessions go first: anyone who reaches the port makes one per visit to
            // /login, and a flood of those must not log the member's browsers out.
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, s)| (s.authed, s.last))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.map.remove(&k);
            }
        }
        let id = random_hex();
        self.map.insert(
            id.clone(),
            Session {
                csrf: random_hex(),
                authed,
                last: now,
                flash: None,
            },
        );
        id
    }

    fn get(&mut self, id: &str) -> Option<&mut Session> {
        if self.map.get(id)?.last.elapsed() >= SESSION_IDLE {
            self.map.remove(id);
            return None;
        }
        let s = self.map.get_mut(id)?;
        s.last = Instant::now();
        Some(s)
    }

    /// Counts a passphrase attempt *before* it is tried, or `None` when the last minute's
    /// attempts reached the limit. Counted up front, not once it failed: attempts sent all at
    /// once would otherwise all pass the check while the first was still being tried (each
    /// takes a while, by design), and a burst would try any number of guesses.
    fn begin_attempt(&mut self) -> Option<Instant> {
        let now = Instant::now();
        self.failures
            .retain(|t| now.duration_since(*t) < Duration::from_secs(60));
        if self.failures.len() as u32 >= MAX_FAILURES_PER_MINUTE {
            return None;
        }
        self.failures.push(now);
        Some(now)
    }

    /// The attempt begun at `at` was the right passphrase: it does not count against the
    /// member.
    fn forgive(&mut self, at: Instant) {
        if let Some(i) = self.failures.iter().position(|t| *t == at) {
            self.failures.remove(i);
        }
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(app: &App, id: &str) -> (header::HeaderName, String) {
    let name = lock(&app.0.site).cookie();
    (
        header::SET_COOKIE,
        format!("{name}={id}; HttpOnly; SameSite=Strict; Path=/"),
    )
}

/// A plain refusal from the checks, before any handler ran.
fn refuse(status: StatusCode, api: bool, msg: &str) -> Response {
    if api {
        (
            status,
            axum::Json(serde_json::json!({ "error": msg, "kind": "denied" })),
        )
            .into_response()
    } else {
        (
            status,
            layout::bare(
                "Refused",
                html! { p { (msg) } p { a href="/" { "Start again" } } },
            ),
        )
            .into_response()
    }
}

/// Wraps `routes` in the checks every request passes (see the module docs).
pub fn guard(app: App, routes: Router<App>) -> Router<App> {
    routes
        .merge(login_routes())
        .layer(axum::middleware::from_fn_with_state(app, check))
}

async fn check(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let res = check_inner(app, req, next).await;
    tracing::debug!(%method, status = res.status().as_u16(), ms = started.elapsed().as_millis() as u64, "web request");
    res
}

async fn check_inner(app: App, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let api = path.starts_with("/api/");
    let site = lock(&app.0.site).clone();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !site.host_ok(&host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            api,
            &format!(
                "this server answers only as {} (the request named `{host}`)",
                site.base()
            ),
        );
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    if !safe {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok());
        let ours = format!("http://{host}");
        match origin {
            Some(o) if o.eq_ignore_ascii_case(&ours) => {}
            // Tools (curl, scripts) send no Origin; they hold the bearer token instead.
            None if api => {}
            Some(o) => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    api,
                    &format!("a request from {o} may not change anything here"),
                );
            }
            None => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    api,
                    "this request did not say where it came from (no Origin header); use the \
                     app's own pages",
                );
            }
        }
    }
    let mut res = if api {
        let public_doc = safe && path == "/api/openapi.json";
        if !public_doc && !bearer_ok(&app, req.headers()) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                true,
                "missing or wrong API token: send `Authorization: Bearer TOKEN` with the token \
                 from api.json in the node's data directory",
            );
        }
        next.run(req).await
    } else if !safe {
        match with_csrf(&app, &site, req).await {
            Ok(req) => next.run(req).await,
            Err(r) => return r,
        }
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

fn bearer_ok(app: &App, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| ct_eq(t, &app.0.token))
}

/// Checks the form's `_csrf` field against the session's token, then hands the body on.
async fn with_csrf(app: &App, site: &Site, req: Request) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let sid = cookie_value(&parts.headers, &site.cookie());
    let expected = sid.and_then(|id| lock(&app.0.sessions).get(&id).map(|s| s.csrf.clone()));
    // A file upload (a bundle, up to hundreds of MiB) is not read here: its form names the
    // token in its action's query string instead, checked before the body is touched.
    let multipart = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        let token = form_urlencoded_field(parts.uri.query().unwrap_or("").as_bytes(), "_csrf");
        return match (expected, token) {
            (Some(e), Some(t)) if ct_eq(&t, &e) => Ok(Request::from_parts(parts, body)),
            _ => Err(refuse(
                StatusCode::FORBIDDEN,
                false,
                "this upload is stale or did not come from this app (CSRF token missing or \
                 wrong); nothing was changed. Reload the page and try again",
            )),
        };
    }
    let Some(expected) = expected else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            false,
            "your session has ended (the node restarted, or it was idle too long); nothing was \
             changed. Open the app again and log in",
        ));
    };
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            false,
            &format!("the form is larger than {FORM_LIMIT} bytes; nothing was changed"),
        )
    })?;
    let token = form_urlencoded_field(&bytes, "_csrf");
    if !token.is_some_and(|t| ct_eq(&t, &expected)) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            false,
            "this form is stale or did not come from this app (CSRF token missing or wrong); \
             nothing was changed. Reload the page and try again",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// A browser the member proved to be theirs, on an unlocked node: what every page needs.
pub struct Me {
    /// Our key.
    pub key: dualpower_core::PublicKey,
    /// The session's CSRF token, for forms.
    pub csrf: String,
    /// A message left by the previous action (shown once).
    pub flash: Option<Flash>,
    sid: String,
}

impl Me {
    /// Leaves a message for the next page this browser sees.
    pub fn flash(&self, app: &App, flash: Flash) {
        if let Some(s) = lock(&app.0.sessions).get(&self.sid) {
            s.flash = Some(flash);
        }
    }
}

impl layout::Viewer for Me {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }

    fn message(&self) -> Option<&Flash> {
        self.flash.as_ref()
    }
}

impl FromRequestParts<App> for Me {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Me, Response> {
        let site = lock(&app.0.site).clone();
        let sid = cookie_value(&parts.headers, &site.cookie());
        let Some(key) = app.me() else {
            return Err(Redirect::to("/login").into_response());
        };
        let mut sessions = lock(&app.0.sessions);
        match sid.and_then(|id| sessions.get(&id).map(|s| (id, s))) {
            Some((sid, s)) if s.authed => Ok(Me {
                key,
                csrf: s.csrf.clone(),
                flash: s.flash.take(),
                sid,
            }),
            _ => Err(Redirect::to("/login").into_response()),
        }
    }
}

fn login_routes() -> Router<App> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/onboard", post(onboard))
        .route("/logout", post(logout))
}

#[derive(Deserialize)]
struct LinkQuery {
    t: Option<String>,
}

/// The login page's view of this browser's session.
struct Visit {
    id: String,
    authed: bool,
    csrf: String,
    flash: Option<Flash>,
    /// Made just now: the answer must set its cookie.
    new: bool,
}

/// A session for this browser: its own if it has one, else a new one (not yet proven).
fn session_of(app: &App, headers: &HeaderMap) -> Visit {
    let site = lock(&app.0.site).clone();
    let mut sessions = lock(&app.0.sessions);
    if let Some(id) = cookie_value(headers, &site.cookie())
        && let Some(s) = sessions.get(&id)
    {
        let flash = s.flash.take();
        let (authed, csrf) = (s.authed, s.csrf.clone());
        return Visit {
            id,
            authed,
            csrf,
            flash,
            new: false,
        };
    }
    let id = sessions.create(false);
    let csrf = sessions
        .get(&id)
        .map(|s| s.csrf.clone())
        .unwrap_or_default();
    Visit {
        id,
        authed: false,
        csrf,
        flash: None,
        new: true,
    }
}

async fn login_page(
    State(app): State<App>,
    headers: HeaderMap,
    UrlQuery(q): UrlQuery<LinkQuery>,
) -> Response {
    if let Some(t) = q.t {
        let ok = lock(&app.0.sessions).take_link(&t);
        if !ok {
            return (
                StatusCode::FORBIDDEN,
                layout::bare(
                    "Link used or expired",
                    html! {
                        h1 { "This login link was already used or has expired" }
                        p { "Each link works once. Run " code { "dualpower web" } " for a new \
                            one, or log in with your passphrase." }
                        p { a href="/login" { "Log in with the passphrase" } }
                    },
                ),
            )
                .into_response();
        }
        // A fresh id: a session id someone planted before the login must not become proven.
        let id = lock(&app.0.sessions).create(true);
        return ([set_cookie(&app, &id)], Redirect::to("/")).into_response();
    }
    let Visit {
        id,
        authed,
        csrf,
        flash,
        new,
    } = session_of(&app, &headers);
    let has_identity = keystore::path(&app.0.home).exists();
    let unlocked = app.me().is_some();
    if authed && unlocked {
        return Redirect::to("/").into_response();
    }
    let body = if !has_identity && authed {
        html! {
            h1 { "Welcome to Dual Power" }
            p { "Your node has no identity yet. Choose a passphrase: it protects your keys on \
                this computer. Nobody can recover it for you, so write it down somewhere safe." }
            form method="post" action="/onboard" class="stack" {
                input type="hidden" name="_csrf" value=(csrf);
                label for="pass" { "Passphrase" }
                input id="pass" type="password" name="passphrase" autocomplete="new-password" required autofocus;
                label for="repeat" { "Repeat it" }
                input id="repeat" type="password" name="repeat" autocomplete="new-password" required;
                p class="hint" { "Several unrelated words are strong and easy to remember." }
                button type="submit" { "Create my identity" }
            }
        }
    } else if !has_identity {
        html! {
            h1 { "Welcome to Dual Power" }
            p { "This node has no identity yet. Open the login link that " code { "dualpower serve" }
                " printed in its terminal: only that link may create the identity." }
        }
    } else {
        html! {
            h1 { @if unlocked { "Log in" } @else { "Unlock your node" } }
            p { "Enter the passphrase of this node's identity." }
            form method="post" action="/login" class="stack" {
                input type="hidden" name="_csrf" value=(csrf);
                label for="pass" { "Passphrase" }
                input id="pass" type="password" name="passphrase" autocomplete="current-password" required autofocus;
                button type="submit" { @if unlocked { "Log in" } @else { "Unlock" } }
            }
        }
    };
    let page = layout::bare_with_flash("Dual Power", flash, body);
    if new {
        ([set_cookie(&app, &id)], page).into_response()
    } else {
        page.into_response()
    }
}

#[derive(Deserialize)]
struct LoginForm {
    passphrase: String,
}

fn back_to_login(app: &App, headers: &HeaderMap, flash: Flash) -> Response {
    let site = lock(&app.0.site).clone();
    if let Some(id) = cookie_value(headers, &site.cookie())
        && let Some(s) = lock(&app.0.sessions).get(&id)
    {
        s.flash = Some(flash);
    }
    Redirect::to("/login").into_response()
}

/// Marks this browser's session proven, under a fresh id.
fn prove(app: &App, headers: &HeaderMap) -> Response {
    let site = lock(&app.0.site).clone();
    let mut sessions = lock(&app.0.sessions);
    if let Some(old) = cookie_value(headers, &site.cookie()) {
        sessions.map.remove(&old);
    }
    let id = sessions.create(true);
    drop(sessions);
    ([set_cookie(app, &id)], Redirect::to("/")).into_response()
}

/// Hands an unlocked identity to the node, if it waits for one.
fn unlock_with(app: &App, identity: Identity) {
    let mut phase = lock(&app.0.phase);
    if let Phase::Locked(tx) = &mut *phase {
        let key = identity.public();
        if let Some(tx) = tx.take() {
            let _ = tx.send(identity);
        }
        *phase = Phase::Unlocked(key);
    }
}

async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    let pass = Zeroizing::new(f.passphrase);
    let Some(attempt) = lock(&app.0.sessions).begin_attempt() else {
        return back_to_login(
            &app,
            &headers,
            Flash::error(
                "Too many wrong passphrases in the last minute; wait a minute and try again.",
            ),
        );
    };
    let home = app.0.home.clone();
    let result = tokio::task::spawn_blocking(move || keystore::unlock(&home, &pass)).await;
    match result {
        Ok(Ok(identity)) => {
            lock(&app.0.sessions).forgive(attempt);
            if let Some(me) = app.me()
                && me != identity.public()
            {
                return back_to_login(
                    &app,
                    &headers,
                    Flash::error("That unlocks a different identity than the node runs."),
                );
            }
            unlock_with(&app, identity);
            prove(&app, &headers)
        }
        // The attempt stays counted.
        Ok(Err(e)) => back_to_login(&app, &headers, Flash::error(e.to_string())),
        Err(e) => back_to_login(&app, &headers, Flash::error(format!("unlock failed: {e}"))),
    }
}

#[derive(Deserialize)]
struct OnboardForm {
    passphrase: String,
    repeat: String,
}

async fn onboard(
    State(app): State<App>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<OnboardForm>,
) -> Response {
    let site = lock(&app.0.site).clone();
    let authed = cookie_value(&headers, &site.cookie())
        .and_then(|id| lock(&app.0.sessions).get(&id).map(|s| s.authed))
        .unwrap_or(false);
    if !authed {
        return refuse(
            StatusCode::FORBIDDEN,
            false,
            "only the login link that `dualpower serve` printed may create this node's identity",
        );
    }
    let pass = Zeroizing::new(f.passphrase);
    if *pass != f.repeat {
        return back_to_login(
            &app,
            &headers,
            Flash::error("The two passphrases differ; nothing was created."),
        );
    }
    let _one_at_a_time = app.0.creating.lock().await;
    if app.me().is_some() {
        return prove(&app, &headers);
    }
    let home = app.0.home.clone();
    let made = tokio::task::spawn_blocking(move || {
        let dir = home
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        keystore::check_strength(&pass, &["dualpower", "dual power", dir.as_str()])?;
        if keystore::path(&home).exists() {
            return Err(keystore::KeystoreError::AlreadyInitialised(keystore::path(
                &home,
            )));
        }
        let identity = Identity::generate();
        keystore::create(&home, &identity, &pass, KdfParams::STRONG)?;
        Ok(identity)
    })
    .await;
    match made {
        Ok(Ok(identity)) => {
            unlock_with(&app, identity);
            prove(&app, &headers)
        }
        Ok(Err(e)) => back_to_login(
            &app,
            &headers,
            Flash::error(format!("{e}. Nothing was created; try again.")),
        ),
        Err(e) => back_to_login(&app, &headers, Flash::error(format!("failed: {e}"))),
    }
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    let site = lock(&app.0.site).clone();
    if let Some(id) = cookie_value(&headers, &site.cookie()) {
        lock(&app.0.sessions).map.remove(&id);
    }
    (
        [(
            header::SET_COOKIE,
            format!(
                "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
                site.cookie()
            ),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}
