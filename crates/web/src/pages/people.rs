//! A person's page: the full `did:key` behind a name (one click from anywhere a name is shown),
//! the names they chose in the groups this member shares with them, and this member's own
//! private name for them (a petname: kept on this device only, encrypted, never sent).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dualpower_node::ops::Op;
use dualpower_node::query::Query;
use maud::html;
use serde::Deserialize;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Place, csrf, short_key};
use crate::pages::act;

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/people/{did}", get(person))
        .route("/people/{did}/petname", post(petname))
}

/// A plausible `did:key` (the node checks it properly).
fn plausible(did: &str) -> bool {
    did.len() < 128
        && did
            .strip_prefix("did:key:z")
            .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
}

async fn person(State(app): State<App>, me: Me, Path(did): Path<String>) -> Response {
    if !plausible(&did) {
        return crate::pages::problem(&me, "invalid", "This is not a did:key.");
    }
    // What each shared group calls them (their own choice), and our petname.
    let mut seen = Vec::new();
    let mut petname = None;
    for g in app.groups().await {
        if let Ok(v) = app
            .view(Query::Names {
                group: g.id.to_hex(),
            })
            .await
        {
            let l = &v["labels"][&did];
            if l.is_object() {
                if let Some(p) = l["petname"].as_str() {
                    petname = Some(p.to_string());
                }
                seen.push((
                    g.name,
                    g.id.to_hex(),
                    l["display"].as_str().map(str::to_string),
                ));
            }
        }
    }
    let title = petname
        .clone()
        .or_else(|| seen.iter().find_map(|s| s.2.clone()))
        .unwrap_or_else(|| format!("…{}", short_key(&did)));
    let body = html! {
        h1 { (title) @if did == me.key.to_did() { " " span class="badge" { "you" } } }
        div class="card" {
            p { "Their key: what every name on this page stands for. Names are chosen by people and prove nothing; the key does." }
            div id="did" class="code" { (did) }
            button type="button" class="secondary small" data-copy="did" hidden { "Copy" }
        }
        @if !seen.is_empty() {
            h2 { "In your groups" }
            table {
                thead { tr { th scope="col" { "Group" } th scope="col" { "Their name there" } } }
                tbody {
                    @for (gname, g, display) in &seen {
                        tr {
                            td { a href={"/g/" (g) "/members"} { (gname) } }
                            td { @if let Some(d) = display { (d) } @else { span class="muted" { "(none chosen)" } } }
                        }
                    }
                }
            }
        }
        section class="card" {
            h2 { "Your name for them" }
            p class="hint" { "Only you see it, everywhere in the app, instead of the name they chose. It stays on this device." }
            form method="post" action={"/people/" (did) "/petname"} class="stack" {
                (csrf(&me))
                label for="petname" { "Petname" }
                input id="petname" name="name" maxlength="64" value=[petname.as_deref()];
                div { button type="submit" class="secondary" { "Save" } " "
                      button type="submit" name="clear" value="1" class="secondary" { "Clear" } }
            }
        }
    };
    layout::page(&me, &title, Place::People, body).into_response()
}

#[derive(Deserialize)]
struct PetnameForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    clear: Option<String>,
}

async fn petname(
    State(app): State<App>,
    me: Me,
    Path(did): Path<String>,
    axum::Form(f): axum::Form<PetnameForm>,
) -> Response {
    if !plausible(&did) {
        return crate::pages::problem(&me, "invalid", "This is not a did:key.");
    }
    let name = f.name.trim().to_string();
    let clear = f.clear.is_some() || name.is_empty();
    let op = Op::Petname {
        member: did.clone(),
        name: (!clear).then_some(name),
    };
    act(&app, &me, op, &format!("/people/{did}"), |_| {
        if clear {
            "Petname cleared.".into()
        } else {
            "Petname saved: only you see it.".into()
        }
    })
    .await
}
