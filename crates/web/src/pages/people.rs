//! A person's page: the full `did:key` behind a name (one click from anywhere a name is shown),
//! the names they chose in the groups this member shares with them, and this member's own
//! private name for them.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Place, short_key};

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new().route("/people/{did}", get(person))
}

async fn person(State(_app): State<App>, me: Me, Path(did): Path<String>) -> Response {
    let valid = did.starts_with("did:key:z") && did.len() < 128;
    let body = html! {
        h1 { "·" (short_key(&did)) }
        @if !valid { p class="flash error" { "This is not a did:key." } }
        @else {
            div class="card" {
                p { "Their key (what names stand for):" }
                div id="did" class="code" { (did) }
                button type="button" class="secondary small" data-copy="did" hidden { "Copy" }
                @if did == me.key.to_did() { p { span class="badge" { "this is you" } } }
            }
        }
    };
    layout::page(&me, "Person", Place::People, body).into_response()
}
