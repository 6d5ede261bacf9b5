//! The ledger's links to other groups (Credit Commons style) and its commons, as pure functions
//! of the node's answers: [`Query::Links`] (`dualpower_node::ops::link::links_json`) on the
//! Ledger tab, the board's `linked` entries (`dualpower_node::ops::aid::board_json`) on the
//! Mutual aid tab.
//!
//! A link is two decisions, one in each group, naming the same bridges (members of both, whose
//! nodes carry payments across). Each group's clearing account stands for the other group in its
//! ledger, so every step is a payment inside one ledger and each ledger still sums to zero.
//!
//! [`Query::Links`]: dualpower_node::query::Query::Links

use dualpower_core::ledger::amount_text;
use maud::{Markup, html};
use serde_json::Value;

use super::marks::{amount_class, kind_badge, signed};
use crate::layout::{self, csrf, when, who};
use crate::pages::answer::{arr, n, s};
use crate::pages::feed::Reader;

/// The amount pattern of every amount field (whole hundredths at most).
const AMOUNT: &str = "[0-9]+(\\.[0-9]{1,2})?";

/// A link's status (`waiting`, `open`, `closed`) in words.
pub fn status_words(status: &str) -> &'static str {
    match status {
        "open" => "open",
        "closed" => "closed",
        _ => "waiting for the other group's decision",
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "open" => "badge open",
        "closed" => "badge closed",
        _ => "badge warn",
    }
}

/// Basis points as a percent: `100` → `1.00%`.
pub fn percent(bp: u64) -> String {
    format!("{}%", amount_text(i128::from(bp)))
}

/// How a payment across stands, in words: on its way, delivered, or bounced with the reason.
fn delivery(o: &Value) -> Markup {
    let state = s(&o["state"]);
    html! {
        @match state {
            "delivered" => { span class="badge open" data-state="delivered" { "delivered" } }
            "bounced" => {
                span class="badge warn" data-state="bounced" { "bounced" }
                " " span class="bounce" { "paid back: " (s(&o["detail"])) }
            }
            _ => { span class="badge" data-state="sent" { "on its way" } }
        }
    }
}

fn link_card(labels: &Value, unit: &str, l: &Value) -> Markup {
    let group = s(&l["group"]);
    let name = s(&l["name"]);
    let status = s(&l["status"]);
    let balance = s(&l["balance"]);
    let bridges = arr(&l["bridges"]);
    let mut out = arr(&l["outgoing"]);
    out.sort_by_key(|o| std::cmp::Reverse(n(&o["at"])));
    let inc = arr(&l["incoming"]);
    html! {
        article class="link" id={"link-" (group)} data-group=(group) {
            h3 {
                (name) " "
                span class=(status_class(status)) data-status=(status) { (status_words(status)) }
            }
            p class="meta" {
                span { "Credit we extend: " (s(&l["limit"])) " " (unit) }
                span {
                    "Their clearing account: "
                    span class={(amount_class(balance)) " clearing-balance"} { (signed(balance)) }
                    " " (unit)
                }
                span {
                    "Bridges: "
                    @if bridges.is_empty() { "none" }
                    @for (i, b) in bridges.iter().enumerate() {
                        @if i > 0 { ", " }
                        (who(labels, s(b)))
                    }
                }
            }
            p class="hint" { "Group " code title=(group) { (group.get(..12).unwrap_or(group)) "…" } }
            @if status == "waiting" {
                p class="hint" {
                    "It opens when " (name) " decides to link to us too, naming the same bridges, and a bridge's node has seen both decisions."
                }
            }
            @if !out.is_empty() {
                h4 { "Paid to members of " (name) }
                div class="table-wrap" {
                    table class="across out" {
                        thead { tr { th scope="col" { "When" } th scope="col" { "From → to, what for" } th scope="col" class="num" { "Amount" } th scope="col" { "State" } } }
                        tbody {
                            @for o in &out {
                                tr data-payment=(s(&o["id"])) {
                                    td { (when(n(&o["at"]))) }
                                    td {
                                        (who(labels, s(&o["from"]))) " → " (who(labels, s(&o["to"])))
                                        @if !s(&o["memo"]).is_empty() { div class="memo" { (s(&o["memo"])) } }
                                    }
                                    td class="num" { (s(&o["amount"])) }
                                    td { (delivery(o)) }
                                }
                            }
                        }
                    }
                }
            }
            @if !inc.is_empty() {
                h4 { "Paid from members of " (name) }
                div class="table-wrap" {
                    table class="across in" {
                        thead { tr { th scope="col" { "From → to" } th scope="col" class="num" { "Amount" } th scope="col" { "Carried by" } } }
                        tbody {
                            @for i in &inc {
                                tr data-payment=(s(&i["id"])) {
                                    td { (who(labels, s(&i["from"]))) " → " (who(labels, s(&i["to"]))) }
                                    td class="num" { (s(&i["amount"])) }
                                    td { (who(labels, s(&i["bridge"]))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The Ledger tab's "Linked groups" section and, when demurrage is on (or the commons holds
/// something), the commons: `v` is the ledger answer (for the labels and the members), `links`
/// the links answer.
pub fn ledger_section(me: &Reader, g: &str, v: &Value, links: &Value) -> Markup {
    let labels = &v["labels"];
    let unit = s(&v["unit"]);
    let all = arr(&links["links"]);
    let open: Vec<&Value> = all.iter().filter(|l| s(&l["status"]) == "open").collect();
    let members: Vec<String> = arr(&v["accounts"])
        .iter()
        .filter(|a| a["is_member"] == true)
        .map(|a| s(&a["member"]).to_string())
        .collect();
    let bp = links["demurrage_bp"].as_u64().unwrap_or(0);
    let commons = s(&links["commons"]);
    let show_commons = bp > 0 || !matches!(commons, "" | "0.00");
    html! {
        section class="card" id="links" aria-labelledby="links-h" {
            h2 id="links-h" { "Linked groups" }
            p class="hint" {
                "Linking our ledger to another group's lets members of each pay members of the other. Each group decides by its own rules, naming the same bridges (members of both, whose nodes carry payments across). In our ledger the other group is its clearing account: it goes up when we pay them, down when they pay us, and no further down than the credit we extend."
            }
            div data-live="ledger-links" {
                @if all.is_empty() {
                    p class="muted" { "Our ledger is not linked to another group." }
                }
                @for l in &all { (link_card(labels, unit, l)) }
            }
            @if !open.is_empty() {
                form method="post" action={"/g/" (g) "/ledger/across"} class="stack" id="pay-across" {
                    (csrf(me))
                    h3 { "Pay a member of a linked group" }
                    div class="grid2" {
                        div class="stack" {
                            label for="x-link" { "Their group" }
                            select id="x-link" name="link" {
                                @for l in &open { option value=(s(&l["group"])) { (s(&l["name"])) } }
                            }
                        }
                        div class="stack" {
                            label for="x-to" { "Their did:key (or their name, if you are in that group too)" }
                            input id="x-to" name="to" required maxlength="200" placeholder="did:key:z6Mk…";
                        }
                        div class="stack" {
                            label for="x-amount" { "Amount (" (unit) ")" }
                            input id="x-amount" name="amount" required inputmode="decimal" pattern=(AMOUNT) placeholder="e.g. 1.5";
                        }
                        div class="stack" {
                            label for="x-memo" { "What for" }
                            input id="x-memo" name="memo" maxlength="200";
                        }
                    }
                    p class="hint" { "It leaves your balance now; a bridge credits them in their group and it shows “delivered” above. If their group refuses it, it bounces and you are paid back." }
                    div { button type="submit" { "Pay across" } }
                }
            }
        }
        details class="card" id="new-link" {
            summary { "Link our ledger to another group" }
            p class="hint" { "This group's id, to give the other group for their side of the link:" }
            div class="code group-id" { (g) }
            form method="post" action={"/g/" (g) "/ledger/link"} class="stack" {
                (csrf(me))
                label for="k-with" { "The other group's id (64 hex digits: ask one of its members)" }
                input id="k-with" name="with" required maxlength="64" pattern="[0-9a-fA-F]{64}" spellcheck="false" autocomplete="off";
                div class="grid2" {
                    div class="stack" {
                        label for="k-name" { "What we call it" }
                        input id="k-name" name="name" required maxlength="200";
                    }
                    div class="stack" {
                        label for="k-limit" { "Credit we extend to it (" (unit) ")" }
                        input id="k-limit" name="limit" required inputmode="decimal" pattern=(AMOUNT) placeholder="e.g. 50";
                    }
                }
                fieldset class="stack" {
                    legend { "Bridges: members of both groups who carry payments across (the other group names the same)" }
                    @for (i, m) in members.iter().enumerate() {
                        label {
                            input type="checkbox" id={"k-bridge-" (i)} name="bridges" value=(m);
                            " " (layout::label(labels, m))
                            @if *m == me.did { " (you)" }
                        }
                    }
                }
                p class="hint" { "Where the group decides credit by vote, this puts the link to the group as a proposal; you are taken to it. The link opens once the other group has decided too." }
                div { button type="submit" class="secondary" { "Propose the link" } }
            }
        }
        @if show_commons {
            section class="card" id="commons" aria-labelledby="commons-h" {
                h2 id="commons-h" { "The commons" }
                div data-live="ledger-commons" {
                    p {
                        "The commons holds "
                        strong class=(amount_class(commons)) id="commons-balance" { (commons) }
                        " " (unit) "."
                    }
                    p class="hint" {
                        @if bp > 0 {
                            "Demurrage: every positive balance pays " (percent(bp)) " per 30 days into the commons. "
                        } @else {
                            "Demurrage is off. "
                        }
                        "The commons pays out only by a grant, decided by the group's rules."
                    }
                }
                details id="new-grant" {
                    summary { "Grant from the commons" }
                    form method="post" action={"/g/" (g) "/ledger/grant"} class="stack" {
                        (csrf(me))
                        div class="grid2" {
                            div class="stack" {
                                label for="gr-member" { "To" }
                                select id="gr-member" name="member" {
                                    @for m in &members { option value=(m) { (layout::label(labels, m)) } }
                                }
                            }
                            div class="stack" {
                                label for="gr-amount" { "Amount (" (unit) ")" }
                                input id="gr-amount" name="amount" required inputmode="decimal" pattern=(AMOUNT);
                            }
                        }
                        label for="gr-memo" { "What for" }
                        input id="gr-memo" name="memo" maxlength="200";
                        p class="hint" { "Where the group decides credit by vote, this becomes a proposal; you are taken to it." }
                        div { button type="submit" class="secondary" { "Grant" } }
                    }
                }
            }
        }
    }
}

/// The Mutual aid tab's "From linked groups": the offers and needs linked groups share with us
/// (`v` is the board answer).
pub fn board_linked(v: &Value) -> Markup {
    let labels = &v["labels"];
    let linked = arr(&v["linked"]);
    html! {
        @if !linked.is_empty() {
            section id="linked" aria-labelledby="linked-h" {
                h2 id="linked-h" { "From linked groups" }
                p class="hint" {
                    "Offers and needs that groups our ledger is linked to share with us, as their bridges last showed them. Take one up with its author in their group; pay them across from the "
                    a href={"/g/" (s(&v["group"])) "/ledger#links"} { "Ledger" } "."
                }
                div data-live="board-linked" {
                    @for i in &linked {
                        @let kind = s(&i["kind"]);
                        @let author = s(&i["author"]);
                        @let group = s(&i["group"]);
                        article class={"card intent linked " (kind)} data-origin=(s(&i["origin"])) {
                            h3 { (kind_badge(kind)) " " (s(&i["text"])) }
                            p class="meta" {
                                span class="badge" { (s(&i["category"])) }
                                span class="left" {
                                    (n(&i["left"]))
                                    @if !s(&i["unit"]).is_empty() { " " (s(&i["unit"])) }
                                    " left"
                                }
                                @if !s(&i["place"]).is_empty() { span { "at " (s(&i["place"])) } }
                                span class="from-group" {
                                    "in "
                                    strong {
                                        @match i["group_name"].as_str() {
                                            Some(name) => { (name) }
                                            None => { "group " (group.get(..12).unwrap_or(group)) "…" }
                                        }
                                    }
                                }
                                span { "by " span class="who" title=(author) { (layout::label(labels, author)) } }
                                @if n(&i["expires"]) > 0 { span { "open until " (when(n(&i["expires"]))) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
