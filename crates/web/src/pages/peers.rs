//! The network page: which peers the node is connected to, each group's sync with them (with
//! progress), a form to connect to a peer by address, and the way without a network: a group
//! exported to a bundle file (for a USB stick or an email) and a bundle imported from one.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
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
        .route("/g/{g}/export", get(export))
        .route(
            "/import",
            post(import).layer(axum::extract::DefaultBodyLimit::max(
                dualpower_node::api::MAX_IMPORT_BYTES,
            )),
        )
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
    let sorted: Vec<(String, String)> = {
        let mut v: Vec<_> = names.iter().map(|(k, n)| (k.clone(), n.clone())).collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    };
    let gname = |hex: &str| {
        names
            .get(hex)
            .cloned()
            .unwrap_or_else(|| hex[..hex.len().min(12)].to_string())
    };
    let body = html! {
        h1 { "Network" }
        (anonymous_card(s.anonymous, &s.listen))
        div data-live="peers" {
            // The id breaks where it must: at 360 px it is wider than the screen.
            p class="muted" { "Your node: " code class="code" { (s.peer_id) } }
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
            h2 { "Without a network" }
            p class="hint" { "A bundle file carries a group's signed events (posts stay encrypted) \
                to a member who has no connection: by USB stick, email or chat." }
            @for (hex, name) in &sorted {
                p { a class="button secondary" href={"/g/" (hex) "/export"} download { "Export “" (name) "”" } }
            }
            form method="post" action={"/import?_csrf=" (me.csrf)} enctype="multipart/form-data" class="stack" {
                label for="bundle" { "Import a bundle file" }
                input id="bundle" name="bundle" type="file" required accept=".dpb,application/octet-stream";
                div { button type="submit" class="secondary" { "Import" } }
            }
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

/// Addresses longer than this are shortened for display (an I2P address is over 500 characters).
const SHORT_ADDR: usize = 48;

/// `addr` shortened to its start and end for display (the full one is shown beside it).
fn short_addr(addr: &str) -> String {
    let chars: Vec<char> = addr.chars().collect();
    if chars.len() <= SHORT_ADDR {
        return addr.to_string();
    }
    let head: String = chars[..SHORT_ADDR - 16].iter().collect();
    let tail: String = chars[chars.len() - 12..].iter().collect();
    format!("{head}…{tail}")
}

/// The anonymous mode card: whether the peers this node talks to can learn this computer's IP
/// address, the node's I2P addresses when they cannot, and how to turn it on when it is off.
fn anonymous_card(anonymous: bool, listen: &[String]) -> Markup {
    let garlic: Vec<&String> = listen.iter().filter(|a| a.contains("/garlic64/")).collect();
    html! {
        section class="card" id="anonymous-mode" aria-labelledby="anonymous-mode-title" {
            h2 id="anonymous-mode-title" {
                "Anonymous mode "
                @if anonymous { span class="badge open" { "On" } } @else { span class="badge warn" { "Off" } }
            }
            @if anonymous {
                p id="anonymous-state" { "On: peers reach this node only through I2P; they never learn its IP address." }
                @if garlic.is_empty() {
                    p class="hint" { "This node's I2P address appears here once its I2P router has built its \
                        tunnels: seconds on a test network, up to a few minutes on the public one." }
                }
                @for (i, a) in garlic.iter().enumerate() {
                    p { "This node's I2P address: " code title=(a) { (short_addr(a)) } }
                    details {
                        summary { "Show the full address" }
                        div id={"i2p-addr-" (i)} class="code" { (a) }
                        button type="button" class="secondary small" data-copy={"i2p-addr-" (i)} hidden { "Copy" }
                    }
                }
            } @else {
                p id="anonymous-state" { "Off: peers you connect to see this computer's IP address." }
                p class="hint" {
                    "To hide it, stop the node and start it again with "
                    code { "dualpower serve --anonymous" }
                    ". Peers then reach it only through I2P. Every member of a group that requires \
                     anonymous mode must run it that way."
                }
            }
            p class="hint" {
                "Anonymous mode hides this computer's IP address from peers and from whoever watches \
                 your connection. It does not hide the timing of your messages from someone who \
                 watches most of the network at once, nor what you write from the group's members. \
                 Messages also take longer to arrive. More in the project's "
                code { "docs/anonymous.md" } "."
            }
        }
    }
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

async fn export(
    State(app): State<App>,
    me: Me,
    axum::extract::Path(g): axum::extract::Path<String>,
) -> Response {
    let Some(group) = dualpower_core::GroupId::from_hex(&g) else {
        return crate::pages::problem(&me, "invalid", "This is not a group id.");
    };
    let name = app
        .groups()
        .await
        .into_iter()
        .find(|i| i.id == group)
        .map(|i| i.name);
    let Some(name) = name else {
        return crate::pages::problem(&me, "invalid", "This node holds no such group.");
    };
    match app.export(group).await {
        Ok(bytes) => {
            // A file name from the group's name, reduced to characters every system takes.
            let file: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
                .trim_matches('-')
                .chars()
                .take(60)
                .collect();
            let file = if file.is_empty() {
                "group".to_string()
            } else {
                file
            };
            (
                [
                    (
                        axum::http::header::CONTENT_TYPE,
                        "application/octet-stream".to_string(),
                    ),
                    (
                        axum::http::header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.dpb\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => crate::pages::problem(&me, "conflict", &format!("The export failed: {e}")),
    }
}

async fn import(State(app): State<App>, me: Me, mut form: axum::extract::Multipart) -> Response {
    let mut bytes = None;
    loop {
        match form.next_field().await {
            Ok(Some(f)) if f.name() == Some("bundle") => match f.bytes().await {
                Ok(b) => bytes = Some(b),
                Err(e) => {
                    me.flash(
                        &app,
                        Flash::error(format!(
                            "The file could not be read ({e}); nothing was imported."
                        )),
                    );
                    return crate::pages::go("/peers");
                }
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                me.flash(
                    &app,
                    Flash::error(format!(
                        "The upload could not be read ({e}); nothing was imported."
                    )),
                );
                return crate::pages::go("/peers");
            }
        }
    }
    let flash = match bytes {
        None => Flash::error("Choose a bundle file first."),
        Some(b) => match app.handle().import(b.to_vec()).await {
            Ok(r) => {
                app.changed();
                Flash::ok(format!(
                    "Imported: {} new events, {} already here, {} rejected.",
                    r["stored"],
                    r["duplicates"],
                    r["rejected"].as_array().map_or(0, Vec::len)
                ))
            }
            Err(e) => Flash::error(format!("Nothing was imported: {e}")),
        },
    };
    me.flash(&app, flash);
    crate::pages::go("/peers")
}

#[cfg(test)]
mod tests {
    use super::{anonymous_card, short_addr};

    #[test]
    fn the_anonymous_card_says_on_with_the_i2p_address_or_off_with_how() {
        let dest = "AbC~-".repeat(110);
        let garlic =
            format!("/garlic64/{dest}/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo");
        let listen = vec![
            "/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWQ".to_string(),
            garlic.clone(),
        ];

        let on = anonymous_card(true, &listen).into_string();
        assert!(
            on.contains(
                "On: peers reach this node only through I2P; they never learn its IP address."
            ),
            "{on}"
        );
        // The whole address (to copy), and a short one to read.
        assert!(
            on.contains(&format!(
                r#"<div id="i2p-addr-0" class="code">{garlic}</div>"#
            )),
            "{on}"
        );
        assert!(
            on.contains(&format!(
                "<code title=\"{garlic}\">{}</code>",
                short_addr(&garlic)
            )),
            "{on}"
        );
        assert!(
            short_addr(&garlic).chars().count() < 60
                && short_addr(&garlic).starts_with("/garlic64/")
        );
        assert!(!on.contains("192.0.2.7"), "{on}");
        assert!(!on.contains("Off:"));

        let off = anonymous_card(false, &listen[..1]).into_string();
        assert!(
            off.contains("Off: peers you connect to see this computer's IP address."),
            "{off}"
        );
        assert!(
            off.contains("<code>dualpower serve --anonymous</code>"),
            "{off}"
        );
        assert!(
            off.contains("docs/anonymous.md") && off.contains("timing"),
            "{off}"
        );
        assert!(!off.contains("On:") && !off.contains("i2p-addr"), "{off}");

        // On, before the router has built its tunnels: no address yet, and it says so.
        let waiting = anonymous_card(true, &listen[..1]).into_string();
        assert!(waiting.contains("appears here once"), "{waiting}");
        assert_eq!(short_addr("/ip4/1.2.3.4/tcp/1"), "/ip4/1.2.3.4/tcp/1");
    }
}
