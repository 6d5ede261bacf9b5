//! The mutual-aid pages' content, as pure functions of the node's answers ([`Query::Board`],
//! `dualpower_node::ops::aid::board_json`, and [`Query::Ledger`],
//! `dualpower_node::ops::ledger::ledger_json`).
//!
//! The parts that show state are marked `data-live` (the script swaps them when something
//! changes); forms where a person types sit outside them, so nothing being typed is replaced.
//!
//! [`Query::Board`]: dualpower_node::query::Query::Board
//! [`Query::Ledger`]: dualpower_node::query::Query::Ledger

use dualpower_core::aid::{Category, MAX_QUANTITY};
use dualpower_core::ledger::amount_text;
use maud::{Markup, html};
use serde_json::Value;

use super::FilterForm;
use super::links;
use super::marks::{amount_class, hundredths, kind_badge, signed};
use crate::layout::hidden;
use crate::layout::{self, csrf, when, who};
use crate::pages::answer::{arr, n, s};
use crate::pages::empty;
use crate::pages::feed::Reader;

/// The first 12 characters of an id (as the CLI shows them).
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

// ---------------------------------------------------------------------------------------------
// The board

/// How much of an intent is left, in words: `2 of 3 kg left`.
pub fn left_words(i: &Value) -> String {
    let unit = s(&i["unit"]);
    format!(
        "{} of {}{}{} left",
        n(&i["left"]),
        n(&i["quantity"]),
        if unit.is_empty() { "" } else { " " },
        unit
    )
}

/// The board page's content: `v` is the board answer (filtered as `f` says).
pub fn board(me: &Reader, g: &str, v: &Value, f: &FilterForm) -> Markup {
    let labels = &v["labels"];
    let intents = arr(&v["intents"]);
    let (needs, offers): (Vec<&Value>, Vec<&Value>) =
        intents.iter().partition(|i| s(&i["kind"]) == "need");
    let commitments = arr(&v["commitments"]);
    let (done, going): (Vec<&Value>, Vec<&Value>) =
        commitments.iter().partition(|c| c["confirmed"] == true);
    let filtered =
        !(f.category.trim().is_empty() && f.kind.trim().is_empty() && f.place.trim().is_empty());
    html! {
        h1 { "Mutual aid" }
        p class="hint" {
            "Offer what you can give and ask for what you need. Someone commits to (part of) an offer or need; the one who provides marks it fulfilled; the one who receives confirms it, and that counts for the provider's reputation."
        }
        p class="shared-link" {
            a href={"/g/" (g) "/resources"} { "Shared things" }
            " — tools, a cargo bike, a room: see what the group shares and book it."
        }
        (filter_form(g, f, filtered))
        section id="needs" aria-labelledby="needs-h" {
            h2 id="needs-h" { "Needs" }
            div data-live="board-needs-empty" {
                @if needs.is_empty() {
                    (empty(if filtered { "No open need matches the filter." } else { "No open needs." }))
                }
            }
            @for (k, i) in needs.iter().enumerate() {
                (intent_card(me, g, labels, &intents, i, &format!("n{k}")))
            }
        }
        section id="offers" aria-labelledby="offers-h" {
            h2 id="offers-h" { "Offers" }
            div data-live="board-offers-empty" {
                @if offers.is_empty() {
                    (empty(if filtered { "No open offer matches the filter." } else { "No open offers." }))
                }
            }
            @for (k, i) in offers.iter().enumerate() {
                (intent_card(me, g, labels, &intents, i, &format!("o{k}")))
            }
        }
        (links::board_linked(v))
        section id="in-progress" aria-labelledby="progress-h" {
            h2 id="progress-h" { "In progress" }
            @if going.is_empty() { (empty("Nothing committed yet.")) }
            @for (k, c) in going.iter().enumerate() {
                (commitment_card(me, g, labels, c, k))
            }
        }
        @if !done.is_empty() {
            section id="done" aria-labelledby="done-h" {
                h2 id="done-h" { "Done" }
                @for (k, c) in done.iter().enumerate() {
                    (commitment_card(me, g, labels, c, going.len() + k))
                }
            }
        }
        (post_form(me, g))
    }
}

fn filter_form(g: &str, f: &FilterForm, filtered: bool) -> Markup {
    html! {
        form method="get" action={"/g/" (g) "/board"} class="card filters" role="search" {
            div class="filter-fields" {
                div class="stack" {
                    label for="f-category" { "Category" }
                    select id="f-category" name="category" {
                        option value="" { "All categories" }
                        @for c in Category::ALL {
                            option value=(c.word()) selected[f.category == c.word()] { (c.word()) }
                        }
                    }
                }
                div class="stack" {
                    label for="f-kind" { "Show" }
                    select id="f-kind" name="kind" {
                        option value="" { "Offers and needs" }
                        option value="offers" selected[f.kind == "offers"] { "Only offers" }
                        option value="needs" selected[f.kind == "needs"] { "Only needs" }
                    }
                }
                div class="stack" {
                    label for="f-place" { "Place contains" }
                    input id="f-place" name="place" value=(f.place) maxlength="100";
                }
            }
            div class="filter-actions" {
                button type="submit" class="small secondary" { "Filter" }
                @if filtered { a href={"/g/" (g) "/board"} { "Show everything" } }
            }
        }
    }
}

fn intent_card(
    me: &Reader,
    g: &str,
    labels: &Value,
    all: &[Value],
    i: &Value,
    key: &str,
) -> Markup {
    let id = s(&i["id"]);
    let kind = s(&i["kind"]);
    let need = kind == "need";
    let author = s(&i["author"]);
    let mine = author == me.did;
    let left = n(&i["left"]);
    let matches: Vec<&str> = i["matches"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str())
        .collect();
    html! {
        article class={"card intent " (kind)} id={"i-" (id)} data-id=(id) {
            div data-live={"i-" (id)} {
                h3 { (kind_badge(kind)) " " (s(&i["text"])) }
                p class="meta" {
                    span class="badge" { (s(&i["category"])) }
                    span class="left" { (left_words(i)) }
                    @if !s(&i["place"]).is_empty() { span { "at " (s(&i["place"])) } }
                    span { "by " (who(labels, author)) @if mine { " (you)" } }
                    @if n(&i["until"]) > 0 { span { "open until " (when(n(&i["until"]))) } }
                }
                @if need && !matches.is_empty() {
                    div class="matches" {
                        p class="hint" { "Offers that could meet it:" }
                        ul {
                            @for m in &matches {
                                @let offer = all.iter().find(|o| s(&o["id"]) == *m);
                                li {
                                    @match offer {
                                        Some(o) => {
                                            a href={"#i-" (m)} class="match" { (s(&o["text"])) }
                                            " (" (left_words(o)) ", by " (who(labels, s(&o["author"]))) ")"
                                        }
                                        None => {
                                            a href={"/g/" (g) "/board#i-" (m)} class="match" { "an offer (" (short(m)) "…)" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div class="intent-actions" {
                @if mine {
                    form method="post" action={"/g/" (g) "/board/cancel"} class="inline" {
                        (csrf(me)) (hidden("id", id))
                        button type="submit" class="small secondary" {
                            "Cancel my " (kind)
                        }
                    }
                } @else if left > 0 {
                    form method="post" action={"/g/" (g) "/board/commit"} class="inline commit" {
                        (csrf(me)) (hidden("id", id))
                        label for={"q-" (key)} {
                            "How much"
                            @if !s(&i["unit"]).is_empty() { " (" (s(&i["unit"])) ")" }
                        }
                        input id={"q-" (key)} name="quantity" type="number" min="1" max=(left) value=(left) class="qty";
                        button type="submit" class="small" {
                            @if need { "I can give this" } @else { "I would like this" }
                        }
                    }
                }
            }
        }
    }
}

fn commitment_status(c: &Value) -> (&'static str, &'static str) {
    if c["confirmed"] == true {
        ("confirmed", "badge closed")
    } else if c["fulfilled"].is_string() {
        ("fulfilled", "badge open")
    } else {
        ("committed", "badge warn")
    }
}

fn commitment_card(me: &Reader, g: &str, labels: &Value, c: &Value, k: usize) -> Markup {
    let id = s(&c["id"]);
    let provider = s(&c["provider"]);
    let receiver = s(&c["receiver"]);
    let (status, class) = commitment_status(c);
    let fulfilled = c["fulfilled"].is_string();
    let action = |what: &str| format!("/g/{g}/board/{what}");
    html! {
        article class="card commitment" id={"c-" (id)} data-id=(id) {
            div data-live={"c-" (id)} {
                p {
                    (who(labels, provider)) @if provider == me.did { " (you)" }
                    " gives " (n(&c["quantity"])) " × “" (s(&c["what"])) "” to "
                    (who(labels, receiver)) @if receiver == me.did { " (you)" }
                    " " span class=(class) data-status=(status) { (status) }
                }
                @if let Some(note) = c["fulfilled"].as_str().filter(|x| !x.is_empty()) {
                    p class="meta" { "Note: " q class="note" { (note) } }
                }
                @if status == "fulfilled" {
                    p class="hint" { "Waiting for " (who(labels, receiver)) " to confirm." }
                }
            }
            div class="commitment-actions" {
                @if provider == me.did && !fulfilled {
                    form method="post" action=(action("fulfil")) class="stack" {
                        (csrf(me)) (hidden("id", id))
                        label for={"note-" (k)} { "What was done (a note for the receiver)" }
                        input id={"note-" (k)} name="note" maxlength="500";
                        div { button type="submit" class="small" { "Mark fulfilled" } }
                    }
                }
                @if receiver == me.did && fulfilled && c["confirmed"] != true {
                    form method="post" action=(action("confirm")) class="inline" {
                        (csrf(me)) (hidden("id", id))
                        button type="submit" class="small" { "Confirm I received it" }
                    }
                }
                @if (provider == me.did || receiver == me.did) && !fulfilled {
                    form method="post" action=(action("cancel")) class="inline" {
                        (csrf(me)) (hidden("id", id))
                        button type="submit" class="small secondary" { "Cancel this commitment" }
                    }
                }
            }
        }
    }
}

fn post_form(me: &Reader, g: &str) -> Markup {
    html! {
        details class="card" id="new-intent" {
            summary { "Post an offer or a need" }
            form method="post" action={"/g/" (g) "/board"} class="stack" {
                (csrf(me))
                div class="grid2" {
                    div class="stack" {
                        label for="a-kind" { "I…" }
                        select id="a-kind" name="kind" {
                            option value="need" { "need something" }
                            option value="offer" { "offer something" }
                        }
                    }
                    div class="stack" {
                        label for="a-category" { "Category" }
                        select id="a-category" name="category" {
                            @for c in Category::ALL {
                                option value=(c.word()) selected[c == Category::Other] { (c.word()) }
                            }
                        }
                    }
                }
                label for="a-text" { "What, in words" }
                input id="a-text" name="text" required maxlength="500" placeholder="e.g. Someone to sit with my mother on Tuesdays";
                div class="grid2" {
                    div class="stack" {
                        label for="a-quantity" { "How much" }
                        input id="a-quantity" name="quantity" type="number" min="1" max=(MAX_QUANTITY) value="1";
                    }
                    div class="stack" {
                        label for="a-unit" { "Of what (kg, rides, evenings)" }
                        input id="a-unit" name="unit" maxlength="40";
                    }
                    div class="stack" {
                        label for="a-place" { "Place or area (never an exact address)" }
                        input id="a-place" name="place" maxlength="100";
                    }
                    div class="stack" {
                        label for="a-days" { "Open for how many days" }
                        input id="a-days" name="days" type="number" min="1" max="3650" value="14";
                    }
                }
                label {
                    input type="checkbox" id="a-linked" name="linked" value="yes";
                    " Show it to linked groups too (their members see it on their board)"
                }
                div { button type="submit" { "Post it" } }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger

/// `me`'s account in a ledger answer.
fn account<'a>(v: &'a Value, did: &str) -> Option<&'a Value> {
    v["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| s(&a["member"]) == did))
}

/// How much `me` can pay now (balance plus limit, never below zero), as text.
pub fn can_pay(v: &Value, did: &str) -> String {
    let a = account(v, did);
    let balance = a.and_then(|a| hundredths(s(&a["balance"]))).unwrap_or(0);
    let limit = a
        .and_then(|a| hundredths(s(&a["limit"])))
        .or_else(|| hundredths(s(&v["default_limit"])))
        .unwrap_or(0);
    amount_text((balance + limit).max(0))
}

fn member_options(v: &Value, except: &str) -> Markup {
    let labels = &v["labels"];
    html! {
        @for a in arr(&v["accounts"]).iter().filter(|a| a["is_member"] == true && s(&a["member"]) != except) {
            option value=(s(&a["member"])) { (layout::label(labels, s(&a["member"]))) }
        }
    }
}

/// The accounts of a ledger answer that nobody holds the key of (each linked group's clearing
/// account, the commons), with the names the node gives them (its `named` map).
pub fn named_accounts(v: &Value) -> Vec<(String, String)> {
    v["named"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| (k.clone(), s(n).to_string()))
        .collect()
}

/// An account in the ledger's tables: a person (by label, linking to their page), or one of the
/// accounts nobody holds (a clearing account, the commons) by what it is.
fn account_who(labels: &Value, special: &[(String, String)], did: &str) -> Markup {
    match special.iter().find(|(k, _)| k == did) {
        Some((_, name)) => html! { span class="account" title=(did) { (name) } },
        None => who(labels, did),
    }
}

/// The ledger page's content (`v` is the whole group's ledger answer, `linked` the links
/// answer, or null when it could not be read).
pub fn ledger(me: &Reader, g: &str, v: &Value, linked: &Value) -> Markup {
    let labels = &v["labels"];
    let special = named_accounts(v);
    let unit = s(&v["unit"]);
    let mine = account(v, &me.did);
    let balance = mine.map_or("0.00", |a| s(&a["balance"]));
    let limit = mine.map_or_else(|| s(&v["default_limit"]), |a| s(&a["limit"]));
    let mut payments = arr(&v["payments"]);
    payments.sort_by_key(|p| std::cmp::Reverse(n(&p["at"])));
    let mut invoices = arr(&v["invoices"]);
    invoices.sort_by_key(|i| std::cmp::Reverse(n(&i["at"])));
    let due: Vec<&Value> = invoices
        .iter()
        .filter(|i| s(&i["payer"]) == me.did && !i["paid_by"].is_string())
        .collect();
    let others = arr(&v["accounts"])
        .iter()
        .any(|a| a["is_member"] == true && s(&a["member"]) != me.did);
    html! {
        h1 { "Ledger" }
        section class="card mine" aria-labelledby="mine-h" {
            div data-live="ledger-mine" {
                h2 id="mine-h" { "Your balance" }
                p class="balance" {
                    span class=(amount_class(balance)) id="my-balance" { (signed(balance)) } " " (unit)
                }
                p class="meta" {
                    span { "Your limit: you may go down to −" (limit) " " (unit) "." }
                    span { "You can pay at most " strong { (can_pay(v, &me.did)) " " (unit) } " now." }
                }
            }
        }
        p class="hint" {
            "Mutual credit: nobody issues money. A payment credits the payee and debits the payer by the same amount, so the balances always sum to zero; you may go below zero by your limit, no further."
        }
        div data-live="ledger-due" {
            @if !due.is_empty() {
                section class="card due" aria-labelledby="due-h" {
                    h2 id="due-h" { "Invoices for you to settle" }
                    ul class="due-list" {
                        @for i in &due {
                            li {
                                (who(labels, s(&i["payee"]))) " asks you for " strong { (s(&i["amount"])) " " (unit) }
                                @if !s(&i["memo"]).is_empty() { " for “" (s(&i["memo"])) "”" }
                                " "
                                form method="post" action={"/g/" (g) "/ledger/settle"} class="inline" {
                                    (csrf(me)) (hidden("invoice", s(&i["id"])))
                                    button type="submit" class="small" { "Pay " (s(&i["amount"])) " " (unit) " to " (layout::label(labels, s(&i["payee"]))) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="card" id="pay" aria-labelledby="pay-h" {
            h2 id="pay-h" { "Pay someone" }
            @if others {
                form method="post" action={"/g/" (g) "/ledger/pay"} class="stack" {
                    (csrf(me))
                    div class="grid2" {
                        div class="stack" {
                            label for="p-member" { "To" }
                            select id="p-member" name="member" { (member_options(v, &me.did)) }
                        }
                        div class="stack" {
                            label for="p-amount" { "Amount (" (unit) ")" }
                            input id="p-amount" name="amount" required inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,2})?" placeholder="e.g. 1.5";
                        }
                    }
                    label for="p-memo" { "What for" }
                    input id="p-memo" name="memo" maxlength="200";
                    div { button type="submit" { "Pay" } }
                }
            } @else {
                p class="muted" { "Nobody else is in the group yet." }
            }
        }
        section class="card" aria-labelledby="balances-h" {
            h2 id="balances-h" { "Balances" }
            div class="table-wrap" data-live="ledger-balances" {
                table class="balances" {
                    thead { tr { th scope="col" { "Member" } th scope="col" class="num" { "Balance" } th scope="col" class="num" { "Limit" } } }
                    tbody {
                        @for a in arr(&v["accounts"]) {
                            @let m = s(&a["member"]);
                            tr data-member=(m) {
                                td {
                                    (account_who(labels, &special, m))
                                    @if m == me.did { " " span class="badge" { "you" } }
                                    @if a["is_member"] != true && !special.iter().any(|(k, _)| k == m) {
                                        " " span class="muted" { "(former member)" }
                                    }
                                }
                                td class=(format!("num {}", amount_class(s(&a["balance"])))) { (signed(s(&a["balance"]))) }
                                td class="num" {
                                    @if special.iter().any(|(k, _)| k == m) { "—" } @else { "−" (s(&a["limit"])) }
                                }
                            }
                        }
                    }
                    tfoot {
                        tr { th scope="row" { "Sum (always zero)" } td class="num sum" { (s(&v["sum"])) } td {} }
                    }
                }
            }
            p class="hint" { "Amounts in " (unit) ". " a href={"/g/" (g) "/ledger.csv"} download class="csv" { "Download CSV" } " (every payment, for a spreadsheet)." }
        }
        section class="card" aria-labelledby="payments-h" {
            h2 id="payments-h" { "Payments" }
            div class="table-wrap" data-live="ledger-payments" {
                @if payments.is_empty() {
                    p class="muted" { "No payments yet." }
                } @else {
                    table class="payments" {
                        thead { tr { th scope="col" { "When" } th scope="col" { "From → to, what for" } th scope="col" class="num" { "Amount" } } }
                        tbody {
                            @for p in &payments {
                                tr {
                                    td { (when(n(&p["at"]))) }
                                    td {
                                        (account_who(labels, &special, s(&p["from"]))) " → " (account_who(labels, &special, s(&p["to"])))
                                        @if !s(&p["memo"]).is_empty() { div class="memo" { (s(&p["memo"])) } }
                                        @if p["invoice"].is_string() { div { span class="badge" { "settles an invoice" } } }
                                    }
                                    td class="num" { (s(&p["amount"])) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="card" aria-labelledby="invoices-h" {
            h2 id="invoices-h" { "Invoices" }
            div class="table-wrap" data-live="ledger-invoices" {
                @if invoices.is_empty() {
                    p class="muted" { "No invoices." }
                } @else {
                    table class="invoices" {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Who asks whom, what for" } th scope="col" class="num" { "Amount" } th scope="col" { "Status" } } }
                        tbody {
                            @for i in &invoices {
                                @let paid = i["paid_by"].is_string();
                                tr data-invoice=(s(&i["id"])) {
                                    td { (when(n(&i["at"]))) }
                                    td {
                                        (who(labels, s(&i["payee"]))) " asks " (who(labels, s(&i["payer"])))
                                        @if !s(&i["memo"]).is_empty() { div class="memo" { (s(&i["memo"])) } }
                                    }
                                    td class="num" { (s(&i["amount"])) }
                                    td {
                                        @if paid { span class="badge closed" data-status="paid" { "paid" } }
                                        @else { span class="badge warn" data-status="open" { "open" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if linked.is_object() {
            (links::ledger_section(me, g, v, linked))
        }
        @if others {
            details class="card" id="new-invoice" {
                summary { "Send an invoice" }
                p class="hint" { "An invoice asks a member to pay you; it counts only when they pay it." }
                form method="post" action={"/g/" (g) "/ledger/invoice"} class="stack" {
                    (csrf(me))
                    div class="grid2" {
                        div class="stack" {
                            label for="i-member" { "Who is asked to pay" }
                            select id="i-member" name="member" { (member_options(v, &me.did)) }
                        }
                        div class="stack" {
                            label for="i-amount" { "Amount (" (unit) ")" }
                            input id="i-amount" name="amount" required inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,2})?" placeholder="e.g. 1.5";
                        }
                    }
                    label for="i-memo" { "What for" }
                    input id="i-memo" name="memo" maxlength="200";
                    div { button type="submit" class="secondary" { "Send the invoice" } }
                }
            }
        }
        details class="card" id="lower-limit" {
            summary { "Lower your limit" }
            p class="hint" {
                "Lowering your own limit is up to you. Raising it, or changing anyone else's, follows the group's rules (by default a vote: propose it on "
                a href={"/g/" (g) "/decisions/new"} { "Decisions" } ")."
            }
            form method="post" action={"/g/" (g) "/ledger/limit"} class="stack" {
                (csrf(me))
                label for="l-limit" { "New limit (" (unit) ", at most " (limit) ")" }
                input id="l-limit" name="limit" required inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,2})?";
                div { button type="submit" class="secondary" { "Lower my limit" } }
            }
        }
    }
}
