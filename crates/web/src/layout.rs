//! The page shell every page shares (navigation, messages, the stylesheet and script), and the
//! small pieces pages are built from, so that every page looks and behaves the same.
//!
//! The stylesheet and script are compiled into the binary and served from this app: nothing is
//! fetched from the internet, and the Content-Security-Policy forbids anything else.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use crate::App;

const CSS: &str = concat!(
    include_str!("../static/app.css"),
    include_str!("../static/decisions.css"),
    include_str!("../static/work.css"),
    include_str!("../static/aid.css")
);
const JS: &str = include_str!("../static/app.js");

/// A message shown once on the next page (after a form was sent).
#[derive(Clone, Debug)]
pub struct Flash {
    /// `ok` or `error`.
    pub kind: &'static str,
    /// The text.
    pub text: String,
}

impl Flash {
    /// Something went well.
    pub fn ok(text: impl Into<String>) -> Flash {
        Flash {
            kind: "ok",
            text: text.into(),
        }
    }

    /// Something was refused (the text says why and what to do).
    pub fn error(text: impl Into<String>) -> Flash {
        Flash {
            kind: "error",
            text: text.into(),
        }
    }
}

/// The static files.
pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/static/app.css",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                        (header::CACHE_CONTROL, "max-age=3600"),
                    ],
                    CSS,
                )
                    .into_response()
            }),
        )
        .route(
            "/static/app.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "max-age=3600"),
                    ],
                    JS,
                )
                    .into_response()
            }),
        )
}

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · Dual Power" }
        link rel="stylesheet" href="/static/app.css";
        script src="/static/app.js" defer {}
    }
}

fn flash_box(flash: &Option<Flash>) -> Markup {
    html! {
        @if let Some(f) = flash {
            div class={"flash " (f.kind)} role=(if f.kind == "error" { "alert" } else { "status" }) { (f.text) }
        }
    }
}

/// A page outside a session (login, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    bare_with_flash(title, None, body)
}

/// [`bare`] with a message.
pub fn bare_with_flash(title: &str, flash: Option<Flash>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                header class="top" { span class="brand" { "Dual Power" } }
                main class="narrow" { (flash_box(&flash)) (body) }
            }
        }
    }
}

/// A group's tabs: `(path after /g/{g}/, label)`; `feed` is the group's own page.
pub const TABS: [(&str, &str); 9] = [
    ("feed", "Feed"),
    ("members", "Members"),
    ("decisions", "Decisions"),
    ("tasks", "Tasks"),
    ("roles", "Roles"),
    ("mediation", "Mediation"),
    ("reputation", "Reputation"),
    ("board", "Mutual aid"),
    ("ledger", "Ledger"),
];

/// Where a page sits, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// The groups list.
    Groups,
    /// A group's tab (one of [`TABS`]).
    Group(&'a str, &'a str, &'a str),
    /// Direct messages.
    Messages,
    /// Peers and sync.
    Peers,
    /// A person.
    People,
}

/// Who a page is rendered for, as far as the shell needs to know: the session's CSRF token (every
/// form carries it) and the message left by the previous action. The session itself
/// ([`crate::access::Me`]) implements it; the shell need not know how sessions work.
pub trait Viewer {
    /// The session's CSRF token.
    fn csrf_token(&self) -> &str;
    /// The message to show once, if any.
    fn message(&self) -> Option<&Flash>;
}

/// A page of a logged-in member.
pub fn page(me: &impl Viewer, title: &str, place: Place, body: Markup) -> Markup {
    let nav = |p: Place, href: &str, text: &str| {
        let current = match (p, place) {
            (Place::Groups, Place::Group(..)) => true,
            (a, b) => a == b,
        };
        html! { a href=(href) aria-current=[current.then_some("page")] { (text) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body data-csrf=(me.csrf_token()) {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "Dual Power" }
                    nav aria-label="Main" {
                        (nav(Place::Groups, "/", "Groups"))
                        (nav(Place::Messages, "/messages", "Messages"))
                        (nav(Place::Peers, "/peers", "Network"))
                    }
                    form method="post" action="/logout" class="logout" {
                        (csrf(me))
                        button type="submit" class="link" { "Log out" }
                    }
                }
                @if let Place::Group(g, name, tab) = place {
                    nav class="tabs" aria-label="Group" {
                        span class="group-name" { (name) }
                        @for (t, label) in TABS {
                            a href={"/g/" (g) @if t != "feed" { "/" (t) }}
                              aria-current=[(tab == t).then_some("page")] { (label) }
                        }
                    }
                }
                main id="main" {
                    (flash_box(&me.message().cloned()))
                    (body)
                }
                div id="live-status" class="live-status" aria-live="polite" {}
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(me: &impl Viewer) -> Markup {
    html! { input type="hidden" name="_csrf" value=(me.csrf_token()); }
}

/// The displayed piece of a `did:key`: enough to tell keys apart, short enough to read.
pub fn short_key(did: &str) -> &str {
    let k = did.strip_prefix("did:key:").unwrap_or(did);
    let start = k
        .len()
        .saturating_sub(dualpower_node::names::SHORT_KEY_CHARS);
    k.get(start..).unwrap_or(k)
}

/// The name this member sees for `did`: its label from an answer's `labels` map (the node's
/// one labelling rule), or, for a key the answer does not label, its short key written as the
/// node writes one (`…tail`).
pub fn label(labels: &Value, did: &str) -> String {
    labels[did]["label"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("…{}", short_key(did)))
}

/// A person, by the name this member sees for them (petname, display name, or a short key
/// when neither exists), linking to their page where the full `did:key` is shown.
pub fn who(labels: &Value, did: &str) -> Markup {
    let pet = labels[did]["petname"].is_string();
    html! {
        a class={"who" @if pet { " pet" }} href={"/people/" (did)} title=(did) { (label(labels, did)) }
    }
}

/// A time (ms since the epoch) as an ISO-like UTC string; the script shows it as "3 min ago".
pub fn when(ms: u64) -> Markup {
    let secs = ms / 1000;
    let (d, s) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = dualpower_node::clock::civil(d as i64);
    html! { time datetime=(format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}Z", s / 3600, (s % 3600) / 60, s % 60)) { (dualpower_node::clock::utc_text(ms)) } }
}

/// A time like [`when`] that stays as it is written (a booking's start, not "in 3 days").
pub fn when_exact(ms: u64) -> Markup {
    let secs = ms / 1000;
    let (d, s) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = dualpower_node::clock::civil(d as i64);
    html! { time datetime=(format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}Z", s / 3600, (s % 3600) / 60, s % 60)) data-exact { (dualpower_node::clock::utc_text(ms)) } }
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

/// Text with line breaks kept (escaped by maud).
pub fn text(t: &str) -> Markup {
    html! {
        @for (i, line) in t.lines().enumerate() {
            @if i > 0 { br; }
            (line)
        }
    }
}

/// An inline SVG, already built by this app (never from user text unescaped).
pub fn svg(s: String) -> Markup {
    PreEscaped(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let civil = dualpower_node::clock::civil;
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_454), (2026, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }

    #[test]
    fn who_escapes_and_falls_back() {
        let labels = serde_json::json!({ "did:key:z6Mkabc": { "label": "<b>Sam</b>" } });
        let m = who(&labels, "did:key:z6Mkabc").into_string();
        assert!(m.contains("&lt;b&gt;Sam"), "{m}");
        let m = who(&Value::Null, "did:key:z6Mkabcdefghij").into_string();
        assert!(m.contains("…cdefghij"), "{m}");
    }
}
