//! Direct messages: every message to or from this member, as conversations per person, and the
//! form to write to a member of a shared group (sealed to that person only).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dualpower_node::ops::Op;
use dualpower_node::query::Query;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Place, csrf, text, when, who};
use crate::pages::{act, empty, read};

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/messages", get(messages))
        .route("/messages", post(send))
}

async fn messages(State(app): State<App>, me: Me) -> Response {
    let v = match read(&app, &me, Query::DirectMessages).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let me_did = me.key.to_did();
    // Everyone one can write to: the members of one's groups, by the name one sees.
    let mut people: BTreeMap<String, String> = BTreeMap::new();
    for g in app.groups().await {
        if let Ok(n) = app
            .view(Query::Names {
                group: g.id.to_hex(),
            })
            .await
            && let Some(m) = n["labels"].as_object()
        {
            for (did, l) in m {
                if *did != me_did {
                    let label = l["label"].as_str().unwrap_or(did).to_string();
                    people.entry(did.clone()).or_insert(label);
                }
            }
        }
    }
    // The answer is a list, or (with labels) an object holding it.
    let list = v["messages"]
        .as_array()
        .or(v.as_array())
        .cloned()
        .unwrap_or_default();
    let labels = &v["labels"];
    let mut by_person: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for m in &list {
        let other = if m["from"].as_str() == Some(&me_did) {
            &m["to"]
        } else {
            &m["from"]
        };
        by_person
            .entry(other.as_str().unwrap_or_default().to_string())
            .or_default()
            .push(m);
    }
    let body = html! {
        h1 { "Messages" }
        section class="card" {
            form method="post" action="/messages" class="stack" {
                (csrf(&me))
                label for="to" { "To" }
                select id="to" name="to" required {
                    @for (did, label) in &people { option value=(did) { (label) } }
                }
                label for="dm-text" { "Message (only they can read it)" }
                textarea id="dm-text" name="text" required {}
                div { button type="submit" { "Send" } }
            }
        }
        div data-live="messages" {
            @if list.is_empty() { (empty("No direct messages yet.")) }
            @for (person, msgs) in &by_person {
                section class="card" {
                    h2 { "With " (who(labels, person)) }
                    @for m in msgs {
                        div class="comment" {
                            div class="meta" {
                                (who(labels, m["from"].as_str().unwrap_or_default()))
                                (when(m["timestamp"].as_u64().unwrap_or(0)))
                            }
                            div { (text(m["text"].as_str().unwrap_or_default())) }
                        }
                    }
                }
            }
        }
    };
    layout::page(&me, "Messages", Place::Messages, body).into_response()
}

#[derive(Deserialize)]
struct SendForm {
    to: String,
    text: String,
}

async fn send(State(app): State<App>, me: Me, axum::Form(f): axum::Form<SendForm>) -> Response {
    let op = Op::Dm {
        group: None,
        to: f.to.trim().to_string(),
        text: f.text,
    };
    act(&app, &me, op, "/messages", |_| {
        "Sent, sealed to them only.".into()
    })
    .await
}
