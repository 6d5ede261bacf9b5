//! The network page: which peers the node is connected to, each group's sync with them (with
//! progress), joins in flight, and a form to connect to a peer by address.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Flash, Place, csrf};
use crate::pages::empty;

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/peers", get(peers))
        .route("/peers/dial", post(dial))
}

async fn peers(State(app): State<App>, me: Me) -> Response {
    let Some(s) = app.handle().status().await else {
        return layout::page(
            &me,
            "Network",
            Place::Peers,
            html! { p { "The node is stopping." } },
        )
        .into_response();
    };
    let names: std::collections::HashMap<String, String> = app
        .groups()
        .await
        .into_iter()
        .map(|g| (g.id.to_hex(), g.name))
        .collect();
    let gname = |hex: &str| {
        names
            .get(hex)
            .cloned()
            .unwrap_or_else(|| hex[..hex.len().min(12)].to_string())
    };
    let body = html! {
        h1 { "Network" }
        div data-live="peers" {
            p class="muted" { "Your node: " code { (s.peer_id) } }
            h2 { "Connected peers (" (s.peers.len()) ")" }
            @if s.peers.is_empty() {
                (empty("No peers connected. Peers on your local network are found by themselves; others through invite codes or an address below."))
            }
            @for p in &s.peers {
                div class="card" {
                    code { (p.peer) }
                    div class="meta" {
                        span { (p.addr) }
                        @if p.gossip { span class="badge open" { "shares a group" } } @else { span class="badge" { "not proven" } }
                        @if p.strikes > 0 { span class="badge warn" { (p.strikes) " strikes" } }
                    }
                    @if let Some(note) = s.peer_notes.get(&p.peer) { p class="hint" { (note) } }
                }
            }
            h2 { "Sync" }
            @if s.syncs.is_empty() { (empty("No sync sessions yet.")) }
            @for y in &s.syncs {
                @let total = y.fetched + y.remaining;
                div class="card" {
                    strong { (gname(&y.group)) }
                    div class="meta" {
                        span { "with " code { (&y.peer[y.peer.len().saturating_sub(8)..]) } }
                        span class={"badge" @if y.state == "running" { " warn" } @else { " open" }} { (y.state) }
                        span { (y.fetched) " fetched" @if y.remaining > 0 { ", " (y.remaining) " to go" } }
                    }
                    @if total > 0 {
                        progress value=(y.fetched) max=(total) aria-label="Sync progress" { (y.fetched) " of " (total) }
                    }
                }
            }
            h2 { "Totals" }
            table {
                tbody {
                    tr { th scope="row" { "Events from gossip" } td { (s.from_gossip) } }
                    tr { th scope="row" { "Events from sync" } td { (s.from_sync) } }
                    tr { th scope="row" { "Events rejected" } td { (s.rejected) } }
                    tr { th scope="row" { "Held until their history arrives" } td { (s.held) } }
                    tr { th scope="row" { "Sync round (p50 / p99)" } td { (format!("{:.0} / {:.0} ms", s.sync_round_ms[0], s.sync_round_ms[1])) } }
                }
            }
            h2 { "Listening on" }
            @for a in &s.listen { div class="code" { (a) } }
        }
        section class="card" {
            h2 { "Connect to a peer" }
            form method="post" action="/peers/dial" class="stack" {
                (csrf(&me))
                label for="addr" { "Address (with /p2p/…)" }
                input id="addr" name="addr" required placeholder="/ip4/203.0.113.5/tcp/4001/p2p/12D3Koo…";
                div { button type="submit" class="secondary" { "Connect" } }
            }
        }
    };
    layout::page(&me, "Network", Place::Peers, body).into_response()
}

#[derive(Deserialize)]
struct DialForm {
    addr: String,
}

async fn dial(State(app): State<App>, me: Me, axum::Form(f): axum::Form<DialForm>) -> Response {
    let flash = match f.addr.trim().parse() {
        Err(e) => Flash::error(format!("`{}` is not an address: {e}", f.addr.trim())),
        Ok(addr) => match app.handle().dial(addr).await {
            Ok(()) => Flash::ok("Connecting…"),
            Err(e) => Flash::error(e),
        },
    };
    me.flash(&app, flash);
    crate::pages::go("/peers")
}
