//! The app's pages, one module per part of the app, and what they share: how a form's action
//! becomes an [`Op`] sent to the node, and how its outcome (or refusal) reaches the person.
//!
//! Every form follows post → redirect → get: the action's handler sends the operation, leaves a
//! message for the next page ([`Flash`]) and redirects back, so reloading never repeats an
//! action and the page shown is always rendered from the node's current state.

pub mod aid;
pub(crate) mod anonymity;
pub(crate) mod answer;
pub mod decisions;
pub mod feed;
pub mod groups;
pub mod members;
pub mod messages;
pub mod peers;
pub mod people;
#[cfg(test)]
pub(crate) mod test_world;
pub mod work;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use dualpower_node::ops::Op;
use dualpower_node::query::Query;
use maud::{Markup, html};
use serde_json::Value;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Flash, Place};

/// Every page route.
pub fn routes() -> Router<App> {
    Router::new()
        .merge(layout::routes())
        .merge(groups::routes())
        .merge(feed::routes())
        .merge(members::routes())
        .merge(decisions::routes())
        .merge(messages::routes())
        .merge(peers::routes())
        .merge(people::routes())
        .merge(work::routes())
        .merge(aid::routes())
}

/// A redirect (303) to a path of this app. Paths built from what a request carried (a group id
/// in the URL) could hold anything: one that is not a plain local path goes to `/` instead, so
/// no request can send the browser elsewhere or break the `Location` header.
pub fn go(to: &str) -> Response {
    let safe = to.starts_with('/')
        && !to.starts_with("//")
        && to.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    Redirect::to(if safe { to } else { "/" }).into_response()
}

/// Sends `op`; leaves `ok(outcome)` or the refusal as the next page's message; redirects to
/// `back`.
pub async fn act(
    app: &App,
    me: &Me,
    op: Op,
    back: &str,
    ok: impl FnOnce(&Value) -> String,
) -> Response {
    match app.op(op).await {
        Ok(v) => me.flash(app, Flash::ok(ok(&v))),
        Err(e) => me.flash(app, Flash::error(e.message)),
    }
    go(back)
}

/// Like [`act`], but hands the outcome to `then` to choose where to go.
pub async fn act_then(
    app: &App,
    me: &Me,
    op: Op,
    fail: &str,
    then: impl FnOnce(&Value) -> (Flash, String),
) -> Response {
    match app.op(op).await {
        Ok(v) => {
            let (f, to) = then(&v);
            me.flash(app, f);
            go(&to)
        }
        Err(e) => {
            me.flash(app, Flash::error(e.message));
            go(fail)
        }
    }
}

/// A read through the node, or the page that says why it failed.
pub async fn read(app: &App, me: &Me, query: Query) -> Result<Value, Response> {
    app.view(query)
        .await
        .map_err(|e| problem(me, e.kind, &e.message))
}

/// A page that says what went wrong and where to go.
pub fn problem(me: &Me, kind: &'static str, message: &str) -> Response {
    let refusal = dualpower_node::ops::Refused {
        kind,
        message: message.to_string(),
    };
    let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::CONFLICT);
    (
        status,
        layout::page(
            me,
            "Not available",
            Place::Groups,
            html! {
                h1 { "This is not available" }
                p class="flash error" { (message) }
                p { a href="/" { "Back to your groups" } }
            },
        ),
    )
        .into_response()
}

/// The group's name for the tabs, from an answer that carries it.
pub fn group_name(v: &Value) -> String {
    v["name"].as_str().unwrap_or("(unnamed group)").to_string()
}

/// An empty-state box.
pub fn empty(text: &str) -> Markup {
    html! { p class="card muted" { (text) } }
}

#[cfg(test)]
mod tests {
    use super::go;

    #[test]
    fn redirects_stay_on_this_app() {
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/g/a\r\nSet-Cookie: x=1",
            "/g/\\evil",
            "/g/ä",
        ] {
            let r = go(bad);
            assert_eq!(r.headers()["location"], "/", "{bad:?}");
        }
        assert_eq!(
            go("/g/ab12/members").headers()["location"],
            "/g/ab12/members"
        );
    }
}
