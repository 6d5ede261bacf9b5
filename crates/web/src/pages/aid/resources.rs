//! The shared things page's content: the group's resources (tools, a cargo bike, a room) with
//! who looks after them, their condition notes and upcoming bookings, and the forms to add one,
//! note its condition, book it, cancel a booking and change its custodians. A pure function of
//! the board answer (`dualpower_node::ops::aid::board_json`, its `resources`) and the members.

use dualpower_core::aid::Category;
use maud::{Markup, html};
use serde_json::Value;

use crate::layout::hidden;
use crate::layout::{self, csrf, when, when_exact, who};
use crate::pages::answer::{arr, n, s};
use crate::pages::empty;
use crate::pages::feed::Reader;

/// What a booking that lost to a crossing one says.
pub const LOST: &str =
    "made at the same moment as another booking of this time and lost to it; book again";

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// The shared things page: `v` is the board answer, `members` the group's current members.
pub fn resources(me: &Reader, g: &str, v: &Value, members: &[String]) -> Markup {
    let labels = &v["labels"];
    let list = arr(&v["resources"]);
    html! {
        h1 { "Shared things" }
        p class="hint" {
            "Things the group shares: tools, a cargo bike, a room. Book one for a time; whoever looks after it (a custodian) can cancel bookings and add or remove custodians. "
            a href={"/g/" (g) "/board"} { "Back to offers and needs" }
        }
        div data-live="resources-empty" {
            @if list.is_empty() { (empty("Nothing is shared yet: add the first thing below.")) }
        }
        @for (k, r) in list.iter().enumerate() {
            (resource_card(me, g, labels, r, k, members))
        }
        (add_form(me, g))
    }
}

fn resource_card(
    me: &Reader,
    g: &str,
    labels: &Value,
    r: &Value,
    k: usize,
    members: &[String],
) -> Markup {
    let id = s(&r["id"]);
    let custodians = strs(&r["custodians"]);
    let custodian = custodians.contains(&me.did);
    let mut bookings = arr(&r["bookings"]);
    bookings.sort_by_key(|b| n(&b["from"]));
    let notes = arr(&r["notes"]);
    let action = |what: &str| format!("/g/{g}/resources/{what}");
    let others: Vec<&String> = members.iter().filter(|m| !custodians.contains(m)).collect();
    html! {
        article class="card resource" id={"r-" (id)} data-id=(id) {
            div data-live={"r-" (id)} {
                h2 { (s(&r["name"])) }
                p class="meta" {
                    span class="badge" { (s(&r["category"])) }
                    @if !s(&r["place"]).is_empty() { span { "at " (s(&r["place"])) } }
                    span {
                        "looked after by "
                        @for (i, c) in custodians.iter().enumerate() {
                            @if i > 0 { ", " }
                            (who(labels, c)) @if *c == me.did { " (you)" }
                        }
                    }
                }
                @if !notes.is_empty() {
                    h3 { "Condition" }
                    ul class="notes" {
                        @for note in &notes {
                            li {
                                q class="note" { (s(&note["note"])) }
                                " — " (who(labels, s(&note["by"]))) ", " (when(n(&note["at"])))
                            }
                        }
                    }
                }
                h3 { "Booked" }
                @if bookings.is_empty() {
                    p class="muted" { "Nothing booked ahead." }
                } @else {
                    ul class="bookings" {
                        @for b in &bookings {
                            @let by = s(&b["by"]);
                            @let lost = b["lost_to"].is_string();
                            li data-booking=(s(&b["id"])) class=[lost.then_some("lost")] {
                                (when_exact(n(&b["from"]))) " – " (when_exact(n(&b["until"])))
                                ", " (who(labels, by)) @if by == me.did { " (you)" }
                                @if !s(&b["note"]).is_empty() { div class="memo" { (s(&b["note"])) } }
                                @if lost {
                                    div { span class="badge warn" data-status="lost" { (LOST) } }
                                }
                                @if by == me.did || custodian {
                                    form method="post" action=(action("cancel")) class="inline" {
                                        (csrf(me)) (hidden("id", s(&b["id"])))
                                        button type="submit" class="small secondary" {
                                            @if by == me.did { "Cancel my booking" } @else { "Cancel this booking" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            details class="resource-book" open {
                summary { "Book " (s(&r["name"])) }
                form method="post" action=(action("book")) class="stack book" {
                    (csrf(me)) (hidden("resource", id))
                    div class="grid2" {
                        div class="stack" {
                            label for={"b-from-" (k)} { "From (UTC, not your local time)" }
                            input id={"b-from-" (k)} name="from" type="datetime-local" required;
                        }
                        div class="stack" {
                            label for={"b-hours-" (k)} { "For how many hours" }
                            input id={"b-hours-" (k)} name="hours" type="number" min="1" max="2160" value="2" required;
                        }
                    }
                    label for={"b-note-" (k)} { "What for (optional)" }
                    input id={"b-note-" (k)} name="note" maxlength="200";
                    div { button type="submit" class="small" { "Book it" } }
                }
            }
            details class="resource-note" {
                summary { "Note its condition" }
                form method="post" action=(action("note")) class="stack" {
                    (csrf(me)) (hidden("resource", id))
                    label for={"n-note-" (k)} { "Its condition now" }
                    input id={"n-note-" (k)} name="note" required maxlength="500" placeholder="e.g. the chain needs oil";
                    div { button type="submit" class="small secondary" { "Save the note" } }
                }
            }
            @if custodian {
                details class="resource-custodians" {
                    summary { "Who looks after it" }
                    @if !others.is_empty() {
                        form method="post" action=(action("custodian")) class="stack" {
                            (csrf(me)) (hidden("resource", id)) (hidden("add", "add"))
                            label for={"c-add-" (k)} { "Add a custodian" }
                            select id={"c-add-" (k)} name="member" {
                                @for m in &others { option value=(m) { (layout::label(labels, m)) } }
                            }
                            div { button type="submit" class="small secondary" { "Add as custodian" } }
                        }
                    }
                    @if custodians.len() > 1 {
                        form method="post" action=(action("custodian")) class="stack" {
                            (csrf(me)) (hidden("resource", id)) (hidden("add", "remove"))
                            label for={"c-remove-" (k)} { "Remove a custodian" }
                            select id={"c-remove-" (k)} name="member" {
                                @for m in &custodians {
                                    option value=(m) { (layout::label(labels, m)) @if *m == me.did { " (you)" } }
                                }
                            }
                            div { button type="submit" class="small secondary" { "Remove as custodian" } }
                        }
                    } @else {
                        p class="hint" { "A thing keeps at least one custodian: add another before you step down." }
                    }
                }
            }
        }
    }
}

fn add_form(me: &Reader, g: &str) -> Markup {
    html! {
        details class="card" id="new-resource" {
            summary { "Share a thing" }
            p class="hint" { "You look after what you add (you can add others to look after it too)." }
            form method="post" action={"/g/" (g) "/resources"} class="stack" {
                (csrf(me))
                label for="r-name" { "What it is" }
                input id="r-name" name="name" required maxlength="100" placeholder="e.g. Cargo bike";
                div class="grid2" {
                    div class="stack" {
                        label for="r-category" { "Category" }
                        select id="r-category" name="category" {
                            @for c in Category::ALL {
                                option value=(c.word()) selected[c == Category::Tools] { (c.word()) }
                            }
                        }
                    }
                    div class="stack" {
                        label for="r-place" { "Where it is (never an exact address)" }
                        input id="r-place" name="place" maxlength="100";
                    }
                }
                div { button type="submit" { "Share it" } }
            }
        }
    }
}
