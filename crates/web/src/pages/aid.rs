//! Mutual aid and mutual credit: a group's board of offers and needs (post one, commit to one,
//! fulfil, confirm, cancel; each need with the offers that could meet it; what linked groups
//! share) and its ledger (balances that sum to zero, payments, invoices, paying, invoicing,
//! settling an invoice, lowering one's own limit, the CSV for a spreadsheet, links to other
//! groups' ledgers with payments across, and the commons with its grants).
//!
//! Like every page, each action here is one [`Op`] sent through the node, which decides (and
//! whose refusal, such as an overspend with what can still be paid, is shown as it is); the
//! pages read [`Query::Board`], [`Query::Ledger`] and [`Query::Links`]. The rendering is in
//! [`render`] (and `links`, the links and the commons), pure functions of those answers, so
//! tests render real answers without a server. Routes live in this file only (the access test
//! reads it to find every form).

mod links;
mod marks;
pub mod render;
pub mod resources;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dualpower_node::ops::Op;
use dualpower_node::ops::aid::{BoardFilter, IntentArgs};
use dualpower_node::query::Query;
use maud::Markup;
use serde::Deserialize;
use serde_json::Value;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Flash, Place};
use crate::pages::feed::Reader;
use crate::pages::{act, go, group_name, read};

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/g/{g}/board", get(board).post(post_intent))
        .route("/g/{g}/board/commit", post(commit))
        .route("/g/{g}/board/cancel", post(cancel))
        .route("/g/{g}/board/fulfil", post(fulfil))
        .route("/g/{g}/board/confirm", post(confirm))
        .route("/g/{g}/ledger", get(ledger))
        .route("/g/{g}/ledger.csv", get(ledger_csv))
        .route("/g/{g}/ledger/pay", post(pay))
        .route("/g/{g}/ledger/invoice", post(invoice))
        .route("/g/{g}/ledger/settle", post(settle))
        .route("/g/{g}/ledger/limit", post(limit))
        .route("/g/{g}/ledger/across", post(pay_across))
        .route("/g/{g}/ledger/link", post(link))
        .route("/g/{g}/ledger/grant", post(grant))
        .route("/g/{g}/resources", get(resources_page).post(resource_add))
        .route("/g/{g}/resources/note", post(resource_note))
        .route("/g/{g}/resources/book", post(book))
        .route("/g/{g}/resources/cancel", post(booking_cancel))
        .route("/g/{g}/resources/custodian", post(custodian))
}

fn show(me: &Me, g: &str, v: &Value, title: &str, tab: &str, body: Markup) -> Response {
    let name = group_name(v);
    layout::page(me, title, Place::Group(g, &name, tab), body).into_response()
}

// ---------------------------------------------------------------------------------------------
// The board

/// The board's filter as the URL carries it (`?category=care&kind=needs&place=Elm`); empty
/// fields filter nothing.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct FilterForm {
    /// One category, or empty for all.
    #[serde(default)]
    pub category: String,
    /// `offers`, `needs`, or empty for both.
    #[serde(default)]
    pub kind: String,
    /// Part of a place name.
    #[serde(default)]
    pub place: String,
}

impl FilterForm {
    /// The node's filter for it.
    pub fn filter(&self) -> BoardFilter {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        BoardFilter {
            category: some(&self.category),
            kind: some(&self.kind).filter(|k| k == "offers" || k == "needs"),
            place: some(&self.place),
        }
    }
}

async fn board(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    UrlQuery(f): UrlQuery<FilterForm>,
) -> Response {
    let q = Query::Board {
        group: g.clone(),
        filter: f.filter(),
    };
    let v = match read(&app, &me, q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = render::board(&Reader::of(&me), &g, &v, &f);
    show(&me, &g, &v, "Mutual aid", "board", body)
}

/// The post-an-offer-or-need form's fields.
#[derive(Deserialize, Debug, Default)]
pub struct IntentForm {
    /// `offer` or `need`.
    #[serde(default)]
    pub kind: String,
    /// One of the categories.
    #[serde(default)]
    pub category: String,
    /// In words.
    #[serde(default)]
    pub text: String,
    /// How much (empty: 1).
    #[serde(default)]
    pub quantity: String,
    /// Of what.
    #[serde(default)]
    pub unit: String,
    /// A place name or area.
    #[serde(default)]
    pub place: String,
    /// Open for this many days (empty: 14).
    #[serde(default)]
    pub days: String,
    /// The "show it to linked groups" box (present when ticked).
    #[serde(default)]
    pub linked: Option<String>,
}

fn whole(v: &str, what: &str) -> Result<Option<u64>, String> {
    match v.trim() {
        "" => Ok(None),
        v => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("{what} is a whole number, not “{v}”")),
    }
}

/// The operation a filled-in offer-or-need form asks for, or what is wrong with it (nothing is
/// sent). The node checks the rest (the category, the quantity's range, the text).
pub fn intent_op(g: &str, f: &IntentForm) -> Result<Op, String> {
    let need = match f.kind.as_str() {
        "need" => true,
        "offer" => false,
        _ => return Err("choose whether you offer or need it".into()),
    };
    Ok(Op::AidIntent {
        group: g.to_string(),
        need,
        intent: IntentArgs {
            category: f.category.trim().to_string(),
            text: f.text.trim().to_string(),
            quantity: whole(&f.quantity, "the quantity")?,
            unit: f.unit.trim().to_string(),
            place: f.place.trim().to_string(),
            days: whole(&f.days, "the number of days")?,
            linked: f.linked.is_some(),
        },
    })
}

async fn post_intent(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<IntentForm>,
) -> Response {
    let back = format!("/g/{g}/board");
    let op = match intent_op(&g, &f) {
        Ok(op) => op,
        Err(e) => {
            me.flash(&app, Flash::error(format!("{e}. Nothing was posted.")));
            return go(&back);
        }
    };
    let ok = if f.kind == "need" {
        "Your need is on the board: members who can help commit to it here."
    } else {
        "Your offer is on the board: members who need it commit to it here."
    };
    act(&app, &me, op, &back, |_| ok.into()).await
}

/// The fields of the forms on an offer, need or commitment (each sends the ones it needs).
#[derive(Deserialize, Debug, Default)]
struct ItemForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    note: String,
}

async fn board_act(app: &App, me: &Me, g: &str, op: Op, ok: &'static str) -> Response {
    act(app, me, op, &format!("/g/{g}/board"), |_| ok.to_string()).await
}

async fn commit(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ItemForm>,
) -> Response {
    let quantity = match whole(&f.quantity, "the quantity") {
        Ok(q) => q,
        Err(e) => {
            me.flash(&app, Flash::error(format!("{e}. Nothing was committed.")));
            return go(&format!("/g/{g}/board"));
        }
    };
    let op = Op::Commit {
        group: g.clone(),
        intent: f.id,
        quantity,
    };
    let ok =
        "Committed: it is under “In progress”. The provider marks it fulfilled when it is done.";
    board_act(&app, &me, &g, op, ok).await
}

async fn cancel(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ItemForm>,
) -> Response {
    let op = Op::AidCancel {
        group: g.clone(),
        target: f.id,
    };
    board_act(&app, &me, &g, op, "Cancelled: what it held is free again.").await
}

async fn fulfil(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ItemForm>,
) -> Response {
    let op = Op::Fulfil {
        group: g.clone(),
        commitment: f.id,
        note: f.note,
    };
    let ok = "Marked fulfilled: the receiver confirms it here.";
    board_act(&app, &me, &g, op, ok).await
}

async fn confirm(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ItemForm>,
) -> Response {
    let op = Op::AidConfirm {
        group: g.clone(),
        commitment: f.id,
    };
    let ok = "Confirmed: it counts for the provider's reputation.";
    board_act(&app, &me, &g, op, ok).await
}

// ---------------------------------------------------------------------------------------------
// The ledger

async fn whole_ledger(app: &App, me: &Me, g: &str) -> Result<Value, Response> {
    read(
        app,
        me,
        Query::Ledger {
            group: g.to_string(),
            member: None,
        },
    )
    .await
}

async fn ledger(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let v = match whole_ledger(&app, &me, &g).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // The links are a second read; a failure only leaves their section out.
    let links = app
        .view(Query::Links { group: g.clone() })
        .await
        .unwrap_or(Value::Null);
    let body = render::ledger(&Reader::of(&me), &g, &v, &links);
    show(&me, &g, &v, "Ledger", "ledger", body)
}

/// The file name of a group's CSV: its name in plain letters, digits and dashes.
pub fn csv_name(name: &str) -> String {
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
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .take(60)
        .collect();
    if file.is_empty() {
        "ledger.csv".into()
    } else {
        format!("{file}-ledger.csv")
    }
}

async fn ledger_csv(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let v = match whole_ledger(&app, &me, &g).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut csv = dualpower_node::ops::ledger::ledger_csv(&v);
    csv.push('\n');
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", csv_name(&group_name(&v))),
            ),
        ],
        csv,
    )
        .into_response()
}

/// The fields of the ledger's forms (each sends the ones it needs).
#[derive(Deserialize, Debug, Default)]
struct LedgerForm {
    #[serde(default)]
    member: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    memo: String,
    #[serde(default)]
    invoice: String,
    #[serde(default)]
    limit: String,
}

/// Sends a ledger operation and leaves `ok(outcome)` (with the group's labels added, so the
/// message names people as the page does) or the node's refusal for the ledger page.
/// Carries out `op` and goes back to `/g/{g}/{page}`, with the group's labels on hand: the
/// outcome (given to `ok`) and a refusal both name people as the page does, not by key.
async fn named_act(
    app: &App,
    me: &Me,
    g: &str,
    page: &str,
    op: Op,
    ok: impl FnOnce(&Value) -> String,
) -> Response {
    let outcome = app.op(op).await;
    let names = Query::Names {
        group: g.to_string(),
    };
    let labels = app
        .view(names)
        .await
        .map(|n| n["labels"].clone())
        .unwrap_or_default();
    match outcome {
        Ok(mut v) => {
            v["labels"] = labels;
            me.flash(app, Flash::ok(ok(&v)));
        }
        Err(e) => me.flash(app, Flash::error(named(&e.message, &labels))),
    }
    go(&format!("/g/{g}/{page}"))
}

/// What a payment's outcome says: amount, payee and the new balance.
fn paid_words(v: &Value) -> String {
    let unit = v["unit"].as_str().unwrap_or_default();
    let p = v["payments"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["id"] == v["event"]));
    let mine = v["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["member"] == v["member"]));
    match p {
        Some(p) => format!(
            "Paid {} {unit} to {}.{}",
            p["amount"].as_str().unwrap_or_default(),
            layout::label(&v["labels"], p["to"].as_str().unwrap_or_default()),
            mine.map(|a| format!(
                " Your balance: {} {unit}.",
                a["balance"].as_str().unwrap_or_default()
            ))
            .unwrap_or_default()
        ),
        None => "Paid.".into(),
    }
}

async fn pay(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<LedgerForm>,
) -> Response {
    let op = Op::Pay {
        group: g.clone(),
        to: Some(f.member),
        amount: Some(f.amount.trim().to_string()),
        memo: f.memo,
        invoice: None,
    };
    named_act(&app, &me, &g, "ledger", op, paid_words).await
}

async fn settle(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<LedgerForm>,
) -> Response {
    let op = Op::Pay {
        group: g.clone(),
        to: None,
        amount: None,
        memo: String::new(),
        invoice: Some(f.invoice),
    };
    named_act(&app, &me, &g, "ledger", op, |v| {
        format!("Invoice settled. {}", paid_words(v))
    })
    .await
}

async fn invoice(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<LedgerForm>,
) -> Response {
    let op = Op::Invoice {
        group: g.clone(),
        payer: f.member,
        amount: f.amount.trim().to_string(),
        memo: f.memo,
    };
    act(&app, &me, op, &format!("/g/{g}/ledger"), |_| {
        "Invoice sent: it counts when they pay it (they settle it on this page).".into()
    })
    .await
}

async fn limit(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<LedgerForm>,
) -> Response {
    let op = Op::SetLimit {
        group: g.clone(),
        member: None,
        limit: f.limit.trim().to_string(),
    };
    act(&app, &me, op, &format!("/g/{g}/ledger"), |_| {
        "Your limit is lowered.".into()
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Links to other groups' ledgers, and the commons

/// How long a link or grant proposed from the ledger stays open (as the Members page's
/// proposals): its author may close it sooner.
const PROPOSAL_SECS: u64 = 72 * 3600;

/// The pay-across form's fields.
#[derive(Deserialize, Debug, Default)]
pub struct AcrossForm {
    /// The linked group (hex).
    #[serde(default)]
    pub link: String,
    /// The payee there.
    #[serde(default)]
    pub to: String,
    /// How much.
    #[serde(default)]
    pub amount: String,
    /// What for.
    #[serde(default)]
    pub memo: String,
}

/// What a payment across's outcome (a links answer) says: amount, payee, the group.
pub fn across_words(v: &Value) -> String {
    let unit = v["unit"].as_str().unwrap_or_default();
    let sent = v["links"].as_array().into_iter().flatten().find_map(|l| {
        l["outgoing"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["id"] == v["event"])
            .map(|o| (l, o))
    });
    match sent {
        Some((l, o)) => format!(
            "Sent {} {unit} to {} in {}. A bridge carries it across: it shows “delivered” under Linked groups once {} has credited it.",
            o["amount"].as_str().unwrap_or_default(),
            layout::label(&v["labels"], o["to"].as_str().unwrap_or_default()),
            l["name"].as_str().unwrap_or_default(),
            l["name"].as_str().unwrap_or_default(),
        ),
        None => "Sent across.".into(),
    }
}

async fn pay_across(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<AcrossForm>,
) -> Response {
    let op = Op::PayAcross {
        group: g.clone(),
        to_group: f.link.trim().to_string(),
        to: f.to.trim().to_string(),
        amount: f.amount.trim().to_string(),
        memo: f.memo.trim().to_string(),
    };
    named_act(&app, &me, &g, "ledger", op, across_words).await
}

/// The link a filled-in link form asks for (`fields` as sent: the bridges are a checkbox
/// each), or what is wrong with it (nothing is sent). The node checks the rest (the id, the
/// amount, that the bridges are members).
pub fn link_op(g: &str, fields: &[(String, String)]) -> Result<Op, String> {
    let get = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    };
    let with = get("with");
    if with.is_empty() {
        return Err("give the other group's id".into());
    }
    let name = get("name");
    if name.is_empty() {
        return Err("say what we call the other group".into());
    }
    let limit = get("limit");
    if limit.is_empty() {
        return Err("say how much credit we extend to it".into());
    }
    let bridges: Vec<String> = fields
        .iter()
        .filter(|(k, v)| k == "bridges" && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_string())
        .collect();
    if bridges.is_empty() {
        return Err("tick at least one bridge: a member of both groups".into());
    }
    Ok(Op::Link {
        group: g.to_string(),
        with: with.to_string(),
        name: name.to_string(),
        limit: limit.to_string(),
        bridges,
        deadline_secs: PROPOSAL_SECS,
    })
}

/// Where an operation that is either done at once or proposed (by the rule `credit.limits`)
/// leaves the person, and what it tells them: a proposal's page, or back to the ledger.
pub fn done_or_proposed(g: &str, v: &Value, done: String, proposed: &str) -> (Flash, String) {
    match v["id"].as_str().filter(|_| v["votes"].is_array()) {
        Some(p) => (Flash::ok(proposed), format!("/g/{g}/decisions/{p}")),
        None => (Flash::ok(done), format!("/g/{g}/ledger")),
    }
}

/// Carries out `op` (a link or a grant) and goes where [`done_or_proposed`] says; a refusal
/// names people as the page does and goes back to the ledger.
async fn decided_act(
    app: &App,
    me: &Me,
    g: &str,
    op: Op,
    then: impl FnOnce(&Value) -> (Flash, String),
) -> Response {
    match app.op(op).await {
        Ok(v) => {
            let (flash, to) = then(&v);
            me.flash(app, flash);
            go(&to)
        }
        Err(e) => {
            let names = Query::Names {
                group: g.to_string(),
            };
            let labels = app
                .view(names)
                .await
                .map(|n| n["labels"].clone())
                .unwrap_or_default();
            me.flash(app, Flash::error(named(&e.message, &labels)));
            go(&format!("/g/{g}/ledger"))
        }
    }
}

async fn link(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let op = match link_op(&g, &fields) {
        Ok(op) => op,
        Err(e) => {
            me.flash(&app, Flash::error(format!("{e}. Nothing was proposed.")));
            return go(&format!("/g/{g}/ledger"));
        }
    };
    let name = match &op {
        Op::Link { name, .. } => name.clone(),
        _ => String::new(),
    };
    decided_act(&app, &me, &g, op, |v| {
        done_or_proposed(
            &g,
            v,
            format!("Linked on our side: the link opens once {name} links to us too."),
            &format!(
                "Proposed to the group: our ledger is linked to {name} if this passes (vote here), and the link opens once {name} decides to link to us too."
            ),
        )
    })
    .await
}

async fn grant(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<LedgerForm>,
) -> Response {
    let op = Op::Grant {
        group: g.clone(),
        to: f.member,
        amount: f.amount.trim().to_string(),
        memo: f.memo.trim().to_string(),
        deadline_secs: PROPOSAL_SECS,
    };
    decided_act(&app, &me, &g, op, |v| {
        done_or_proposed(
            &g,
            v,
            "Granted from the commons.".into(),
            "Proposed to the group: the commons pays it if this passes. Vote here.",
        )
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Shared things

async fn resources_page(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let q = Query::Board {
        group: g.clone(),
        filter: BoardFilter::default(),
    };
    let v = match read(&app, &me, q).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // The members (for the custodian select) are a second read; a failure only empties it.
    let members: Vec<String> = app
        .view(Query::Members { group: g.clone() })
        .await
        .ok()
        .and_then(|m| {
            m["members"].as_array().map(|a| {
                a.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default();
    let body = resources::resources(&Reader::of(&me), &g, &v, &members);
    show(&me, &g, &v, "Shared things", "board", body)
}

/// The fields of the shared-things forms (each sends the ones it needs).
#[derive(Deserialize, Debug, Default)]
pub struct ResourceForm {
    /// The resource (id).
    #[serde(default)]
    pub resource: String,
    /// A new resource's name.
    #[serde(default)]
    pub name: String,
    /// A new resource's category.
    #[serde(default)]
    pub category: String,
    /// A new resource's place.
    #[serde(default)]
    pub place: String,
    /// A condition note, or what a booking is for.
    #[serde(default)]
    pub note: String,
    /// A booking's start as a `datetime-local` field sends it (`2026-12-06T10:00`), in UTC.
    #[serde(default)]
    pub from: String,
    /// A booking's length in hours.
    #[serde(default)]
    pub hours: String,
    /// A booking (id), to cancel.
    #[serde(default)]
    pub id: String,
    /// A member (custodian forms).
    #[serde(default)]
    pub member: String,
    /// `add` or `remove` (custodian forms).
    #[serde(default)]
    pub add: String,
}

/// The booking a filled-in book form asks for, or what is wrong with it (nothing is sent). The
/// start is taken as UTC (the form says so); the node checks the rest (the range of hours, a
/// crossing booking).
pub fn book_op(g: &str, f: &ResourceForm) -> Result<Op, String> {
    let from = f.from.trim().replacen('T', " ", 1);
    if from.is_empty() {
        return Err("say when the booking starts".into());
    }
    let hours = whole(&f.hours, "the number of hours")?
        .ok_or_else(|| "say for how many hours".to_string())?;
    Ok(Op::Book {
        group: g.to_string(),
        resource: f.resource.trim().to_string(),
        from,
        hours,
        note: f.note.trim().to_string(),
    })
}

/// `text` with every key the labels name written as its label (so a refusal names people as
/// the page does).
fn named(text: &str, labels: &Value) -> String {
    let mut out = text.to_string();
    if let Some(m) = labels.as_object() {
        for did in m.keys() {
            if out.contains(did.as_str()) {
                out = out.replace(did.as_str(), &layout::label(labels, did));
            }
        }
    }
    out
}

async fn resource_add(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ResourceForm>,
) -> Response {
    let op = Op::ResourceAdd {
        group: g.clone(),
        name: f.name.trim().to_string(),
        category: f.category.trim().to_string(),
        place: f.place.trim().to_string(),
    };
    named_act(&app, &me, &g, "resources", op, |_| {
        "Shared: members can book it here. You look after it.".into()
    })
    .await
}

async fn resource_note(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ResourceForm>,
) -> Response {
    let op = Op::ResourceNote {
        group: g.clone(),
        resource: f.resource,
        note: f.note,
    };
    named_act(&app, &me, &g, "resources", op, |_| "Noted.".into()).await
}

async fn book(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ResourceForm>,
) -> Response {
    let op = match book_op(&g, &f) {
        Ok(op) => op,
        Err(e) => {
            me.flash(&app, Flash::error(format!("{e}. Nothing was booked.")));
            return go(&format!("/g/{g}/resources"));
        }
    };
    named_act(&app, &me, &g, "resources", op, |v| {
        let b = v["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["bookings"].as_array().into_iter().flatten())
            .find(|b| b["id"] == v["event"]);
        match b {
            Some(b) => format!(
                "Booked from {} to {}.",
                dualpower_node::clock::utc_text(b["from"].as_u64().unwrap_or(0)),
                dualpower_node::clock::utc_text(b["until"].as_u64().unwrap_or(0)),
            ),
            None => "Booked.".into(),
        }
    })
    .await
}

async fn booking_cancel(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ResourceForm>,
) -> Response {
    let op = Op::AidCancel {
        group: g.clone(),
        target: f.id,
    };
    named_act(&app, &me, &g, "resources", op, |_| {
        "Booking cancelled: that time is free again.".into()
    })
    .await
}

async fn custodian(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ResourceForm>,
) -> Response {
    let add = f.add != "remove";
    let op = Op::ResourceCustodian {
        group: g.clone(),
        resource: f.resource,
        member: f.member,
        add,
    };
    named_act(&app, &me, &g, "resources", op, move |_| {
        if add {
            "Added: they look after it too.".into()
        } else {
            "Removed: they no longer look after it.".into()
        }
    })
    .await
}

#[cfg(test)]
mod tests;
