//! The work pages' content, as pure functions of the node's answers ([`Query::Work`] and
//! [`Query::Reputation`], `dualpower_node::work`): tasks, rotating roles, mediation, reputation.
//!
//! The parts that show state are marked `data-live` (the script swaps them when something
//! changes); the forms sit outside them, so nothing a person is typing is replaced.
//!
//! [`Query::Work`]: dualpower_node::query::Query::Work
//! [`Query::Reputation`]: dualpower_node::query::Query::Reputation

use maud::{Markup, html};
use serde_json::Value;

use crate::layout::hidden;
use crate::layout::{self, csrf, when, who};
use crate::pages::answer::{arr, s};
use crate::pages::empty;
use crate::pages::feed::Reader;
use crate::pages::members::rule_words;

/// How many members the tasks page suggests for an open task.
pub const SUGGESTIONS: usize = 3;

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The group's current members (`did:key`), from the work answer.
pub fn members(v: &Value) -> Vec<String> {
    v["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect()
}

/// Everyone in `list`, by label, comma-separated (or `none`).
fn people(labels: &Value, list: &[String]) -> Markup {
    html! {
        @if list.is_empty() { span class="muted" { "none" } }
        @for (i, k) in list.iter().enumerate() {
            @if i > 0 { ", " }
            (who(labels, k))
        }
    }
}

/// A select of members (all of them but `except`).
fn member_select(v: &Value, id: &str, name: &str, except: Option<&str>) -> Markup {
    let labels = &v["labels"];
    html! {
        select id=(id) name=(name) {
            @for m in members(v).iter().filter(|m| Some(m.as_str()) != except) {
                option value=(m) { (layout::label(labels, m)) }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks

/// A task's status as a badge: `unclaimed`, `open`, `taken`, `overdue`, `done`.
pub fn status_badge(status: &str) -> Markup {
    let class = match status {
        "open" => "badge open",
        "done" => "badge closed",
        "overdue" | "unclaimed" => "badge warn",
        _ => "badge",
    };
    html! { span class=(class) data-status=(status) { (status) } }
}

/// The node's suggestions for an open task (current members without a slot, by reputation in
/// its domain, highest first), with each one's share in that domain as shown (`12.50%`). Only a
/// suggestion: it changes nothing.
pub fn suggestions(rep: &Value, task: &Value) -> Vec<(String, String)> {
    let domain = s(&task["domain"]);
    let percent = |m: &str| {
        rep["domains"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["domain"].as_str() == Some(domain))
            .flat_map(|d| arr(&d["scores"]))
            .find(|sc| sc["member"].as_str() == Some(m))
            .map_or_else(String::new, |sc| s(&sc["percent"]).to_string())
    };
    arr(&task["suggested"])
        .iter()
        .filter_map(|m| m.as_str())
        .take(SUGGESTIONS)
        .map(|m| (m.to_string(), percent(m)))
        .collect()
}

/// Whether `me` may create a task directly under the group's task rule.
pub fn may_create(v: &Value, me: &str) -> bool {
    let rule = s(&v["rules"]["tasks"]);
    let mine = v["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"].as_str() == Some(me));
    match rule.split_once(':') {
        _ if rule == "member" => mine.is_some(),
        Some(("role", r)) => mine.is_some_and(|m| strs(&m["roles"]).iter().any(|x| x == r)),
        _ => false,
    }
}

fn status_rank(status: &str) -> u8 {
    match status {
        "overdue" => 0,
        "unclaimed" => 1,
        "open" => 2,
        "taken" => 3,
        _ => 4,
    }
}

/// The tasks page's content: `v` is the work answer, `rep` the reputation answer (for the
/// suggestions; `Null` leaves them out).
pub fn tasks(me: &Reader, g: &str, v: &Value, rep: &Value) -> Markup {
    let mut list = arr(&v["tasks"]);
    list.sort_by_key(|t| status_rank(s(&t["status"])));
    html! {
        h1 { "Tasks" }
        @if list.is_empty() {
            (empty("No tasks yet. Create one below, or propose one with a decision: a proposal can create tasks when it passes."))
        }
        @for (i, t) in list.iter().enumerate() {
            (task_card(me, g, v, rep, t, i))
        }
        (create_form(me, g, v))
    }
}

fn task_card(me: &Reader, g: &str, v: &Value, rep: &Value, t: &Value, i: usize) -> Markup {
    let labels = &v["labels"];
    let id = s(&t["id"]);
    let status = s(&t["status"]);
    let k = v["confirmations"].as_u64().unwrap_or(0);
    let holders = arr(&t["holders"]);
    let mine = holders
        .iter()
        .find(|h| h["member"].as_str() == Some(me.did.as_str()));
    let slots = t["slots"].as_u64().unwrap_or(0);
    let taken = slots.saturating_sub(t["free"].as_u64().unwrap_or(0));
    let skills = strs(&t["skills"]);
    let due = t["due"].as_u64().unwrap_or(0);
    let action = |what: &str| format!("/g/{g}/tasks/{what}");
    let suggested = if status != "done" && t["free"].as_u64().unwrap_or(0) > 0 {
        suggestions(rep, t)
    } else {
        Vec::new()
    };
    html! {
        article class="card task" id={"task-" (i)} {
            div data-live={"task-" (id)} {
                h2 { (s(&t["title"])) " " (status_badge(status)) }
                p class="meta" {
                    span { (taken) " of " (slots) " slot(s) taken" }
                    span { "domain: " (s(&t["domain"])) }
                    @if due > 0 { span { "due " (when(due)) } }
                    @if !skills.is_empty() { span { "skills: " (skills.join(", ")) } }
                    @if let Some(p) = t["proposal"].as_str() {
                        span { a href={"/g/" (g) "/decisions/" (p)} { "from a decision" } }
                    }
                }
                @if !holders.is_empty() {
                    ul class="holders" {
                        @for h in &holders {
                            @let m = s(&h["member"]);
                            @let confirmed = strs(&h["confirmed_by"]);
                            li {
                                (who(labels, m))
                                @if m == me.did { " " span class="badge" { "you" } }
                                @if let Some(note) = h["done"].as_str() {
                                    " " span class="badge open" { "done" }
                                    @if !note.is_empty() { " " q class="note" { (note) } }
                                    div class="meta" {
                                        @if h["counted"] == true {
                                            span { "✓ counted" }
                                        } @else {
                                            span { (confirmed.len()) " of " (k) " confirmation(s)" }
                                        }
                                        @if !confirmed.is_empty() {
                                            span { "confirmed by " (people(labels, &confirmed)) }
                                        }
                                        @if !arr(&h["disputes"]).is_empty() {
                                            span class="badge warn" { "disputed" }
                                        }
                                    }
                                } @else {
                                    " " span class="muted" { "working on it" }
                                }
                            }
                        }
                    }
                }
                @if !suggested.is_empty() {
                    p class="hint suggest" {
                        "Could take this: "
                        @for (j, (m, pct)) in suggested.iter().enumerate() {
                            @if j > 0 { ", " }
                            (who(labels, m)) " (" (pct) ")"
                        }
                    }
                }
            }
            (task_forms(me, v, t, i, mine.is_some(), &action))
        }
    }
}

fn task_forms(
    me: &Reader,
    v: &Value,
    t: &Value,
    i: usize,
    holding: bool,
    action: &dyn Fn(&str) -> String,
) -> Markup {
    let labels = &v["labels"];
    let id = s(&t["id"]);
    let status = s(&t["status"]);
    let holders = arr(&t["holders"]);
    let mine = holders
        .iter()
        .find(|h| h["member"].as_str() == Some(me.did.as_str()));
    let my_done = mine.is_some_and(|h| h["done"].is_string());
    let free = t["free"].as_u64().unwrap_or(0);
    html! {
        @if !holding && free > 0 && status != "done" {
            form method="post" action=(action("claim")) class="inline" {
                (csrf(me)) (hidden("task", id))
                button type="submit" class="small" { "Claim a slot" }
            }
        }
        @if holding && !my_done {
            details class="task-actions" {
                summary { "My part: mark done, release or hand over" }
                form method="post" action=(action("done")) class="stack" {
                    (csrf(me)) (hidden("task", id))
                    label for={"note-" (i)} { "What you did (a note for the others)" }
                    input id={"note-" (i)} name="note" maxlength="500";
                    div { button type="submit" class="small" { "Mark my part done" } }
                }
                form method="post" action=(action("handover")) class="stack" {
                    (csrf(me)) (hidden("task", id))
                    label for={"to-" (i)} { "Hand my slot over to" }
                    (member_select(v, &format!("to-{i}"), "to", Some(&me.did)))
                    div { button type="submit" class="small secondary" { "Hand over" } }
                }
                form method="post" action=(action("release")) class="inline" {
                    (csrf(me)) (hidden("task", id))
                    button type="submit" class="small secondary" { "Release my slot" }
                }
            }
        }
        @for (j, h) in holders.iter().enumerate() {
            @let m = s(&h["member"]);
            @let confirmed = strs(&h["confirmed_by"]);
            @if h["done"].is_string() && m != me.did {
                div class="review" {
                    @if h["counted"] != true && !confirmed.contains(&me.did) {
                        form method="post" action=(action("confirm")) class="inline" {
                            (csrf(me)) (hidden("task", id)) (hidden("member", m))
                            button type="submit" class="small" { "Confirm " (layout::label(labels, m)) "’s part" }
                        }
                    }
                    details class="dispute" {
                        summary { "Dispute " (layout::label(labels, m)) "’s part" }
                        form method="post" action=(action("dispute")) class="stack" {
                            (csrf(me)) (hidden("task", id)) (hidden("member", m))
                            label for={"reason-" (i) "-" (j)} { "Why (the mediation starts from this)" }
                            input id={"reason-" (i) "-" (j)} name="reason" required maxlength="500";
                            div { button type="submit" class="small secondary" { "Dispute" } }
                        }
                    }
                }
            }
        }
    }
}

fn create_form(me: &Reader, g: &str, v: &Value) -> Markup {
    let rule = s(&v["rules"]["tasks"]);
    let domains = strs(&v["domains"]);
    html! {
        @if may_create(v, &me.did) {
            details class="card" id="new-task" {
                summary { "Create a task" }
                form method="post" action={"/g/" (g) "/tasks"} class="stack" {
                    (csrf(me))
                    label for="t-title" { "What is to be done" }
                    input id="t-title" name="title" required maxlength="200" placeholder="e.g. Fix the boiler";
                    div class="grid2" {
                        div class="stack" {
                            label for="t-slots" { "How many people it takes" }
                            input id="t-slots" name="slots" type="number" min="1" max="100" value="1";
                        }
                        div class="stack" {
                            label for="t-domain" { "Domain (for reputation)" }
                            select id="t-domain" name="domain" {
                                @for d in &domains { option value=(d) selected[d == "logistics"] { (d) } }
                            }
                        }
                        div class="stack" {
                            label for="t-due" { "Due in days (empty: no due date)" }
                            input id="t-due" name="due_days" type="number" min="1" max="3650";
                        }
                        div class="stack" {
                            label for="t-skills" { "Skills it needs (comma-separated)" }
                            input id="t-skills" name="skills" maxlength="200";
                        }
                    }
                    div { button type="submit" { "Create task" } }
                }
            }
        } @else {
            p class="card" id="new-task" {
                "Tasks are created by " (rule_words(rule)) " under the group's rules. "
                a href={"/g/" (g) "/decisions/new#np-tasks"} { "Propose a task" }
                " instead: it is created when the proposal passes."
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Roles

/// What the "next step" button of a draw does now, in words.
fn next_step_words(draw: &Value, me: &str) -> &'static str {
    if draw.is_null() || arr(&draw["volunteers"]).is_empty() {
        "Nobody has volunteered yet."
    } else if draw["closed"] != true {
        "The next step closes the list of volunteers (nobody can join after)."
    } else if strs(&draw["waiting"]).iter().any(|w| w == me) {
        "The next step reveals your secret (your node also does this by itself)."
    } else {
        "The next step draws, once every volunteer revealed or the time for reveals is over."
    }
}

fn draw_state(labels: &Value, draw: &Value) -> Markup {
    let volunteers = strs(&draw["volunteers"]);
    let waiting = strs(&draw["waiting"]);
    let withheld = strs(&draw["withheld"]);
    html! {
        dl class="draw" {
            dt { "Volunteers" } dd { (people(labels, &volunteers)) }
            dt { "List" } dd {
                @if draw["closed"] == true { span class="badge closed" { "closed" } }
                @else { span class="badge open" { "open: volunteers may join" } }
            }
            @if !waiting.is_empty() {
                dt { "Waiting for reveals from" } dd { (people(labels, &waiting)) }
            }
            @if !withheld.is_empty() {
                dt { "Did not reveal" } dd { (people(labels, &withheld)) }
            }
            @if let Some(seed) = draw["seed"].as_str() {
                dt { "Seed" } dd { code class="seed" { (seed) } }
            }
            @if draw["drawn"].is_string() {
                dt { "Drawn" } dd {
                    @if let Some(w) = draw["winner"].as_str() { (who(labels, w)) }
                    @else { "nobody (no volunteer revealed): the seat stays empty" }
                }
            }
        }
    }
}

fn past_draw(labels: &Value, d: &Value) -> Markup {
    html! {
        div class="past-draw" {
            (draw_state(labels, d))
            p class="meta" {
                span { "on the closed list: " (people(labels, &strs(&d["listed"]))) }
                span { "revealed in time: " (people(labels, &strs(&d["revealed"]))) }
            }
        }
    }
}

/// The roles page's content (`v` is the work answer).
pub fn roles(me: &Reader, g: &str, v: &Value) -> Markup {
    let labels = &v["labels"];
    let list = arr(&v["roles"]);
    html! {
        h1 { "Rotating roles" }
        p class="hint" {
            "A rotating role is held for a term by a member drawn by lot among volunteers. Each volunteer's node commits to a secret; when the list closes they reveal it, and the secrets together make the seed anyone can check the draw with."
        }
        @if list.is_empty() {
            p class="card muted" {
                "No role rotates in this group. The rules can make one rotate: "
                a href={"/g/" (g) "/members#rules-form"} { "change the rules" } "."
            }
        }
        @for (i, r) in list.iter().enumerate() {
            @let role = s(&r["role"]);
            @let next = &r["next"];
            @let volunteered = strs(&next["volunteers"]).contains(&me.did);
            section class="card role" id={"role-" (i)} {
                div data-live={"role-" (role)} {
                    h2 { (role) }
                    p class="meta" {
                        span { "terms of " (r["term_days"].as_u64().unwrap_or(0)) " days" }
                        @if r["limit"].as_u64().unwrap_or(0) > 0 { span { "at most " (r["limit"].as_u64().unwrap_or(0)) " term(s) in a row" } }
                        @if r["rest"].as_u64().unwrap_or(0) > 0 { span { "then " (r["rest"].as_u64().unwrap_or(0)) " term(s) off" } }
                    }
                    p class="holder" {
                        @if let Some(h) = r["holder"].as_str() {
                            "Held by " (who(labels, h)) " (term " (r["term"].as_u64().unwrap_or(0)) ")"
                            @if let Some(e) = r["ends"].as_u64() { "; the term ends " (when(e)) }
                        } @else {
                            "Nobody holds it now."
                        }
                    }
                    h3 { "Next term (" (r["next_term"].as_u64().unwrap_or(0)) ")" }
                    @if next.is_null() {
                        p class="muted" { "Nobody has volunteered yet." }
                    } @else {
                        (draw_state(labels, next))
                    }
                    @let past = arr(&r["past"]);
                    @if let Some((last, older)) = past.split_last() {
                        h3 { "The last draw (term " (last["pool"]["term"].as_u64().unwrap_or(0)) "), to check it" }
                        (past_draw(labels, last))
                        @if !older.is_empty() {
                            details class="past" {
                                summary { "Earlier draws (" (older.len()) ")" }
                                @for d in older.iter().rev() {
                                    h4 { "Term " (d["pool"]["term"].as_u64().unwrap_or(0)) }
                                    (past_draw(labels, d))
                                }
                            }
                        }
                    }
                }
                div class="role-actions" {
                    @if !volunteered && next["closed"] != true {
                        form method="post" action={"/g/" (g) "/roles/volunteer"} class="inline" {
                            (csrf(me)) (hidden("role", role))
                            button type="submit" class="small" { "Volunteer for term " (r["next_term"].as_u64().unwrap_or(0)) }
                        }
                    }
                    @if !next.is_null() {
                        form method="post" action={"/g/" (g) "/roles/draw"} class="inline" {
                            (csrf(me)) (hidden("role", role))
                            button type="submit" class="small secondary" { "Next step of the draw" }
                        }
                        p class="hint" { (next_step_words(next, &me.did)) }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mediation

/// The mediation page's content (`v` is the work answer).
pub fn mediation(me: &Reader, g: &str, v: &Value) -> Markup {
    let labels = &v["labels"];
    let cases = arr(&v["cases"]);
    html! {
        h1 { "Mediation" }
        p class="hint" { "A mediator is drawn by lot among members who volunteer and are not parties. The mediator records an outcome; it settles the case when every party agrees." }
        @if cases.is_empty() { (empty("No mediation cases.")) }
        @for (i, c) in cases.iter().rev().enumerate() {
            (case_card(me, g, labels, c, i))
        }
        details class="card" id="new-case" {
            summary { "Ask for mediation" }
            form method="post" action={"/g/" (g) "/mediation"} class="stack" {
                (csrf(me))
                label for="m-parties" { "Between (choose at least two; you may be one)" }
                select id="m-parties" name="parties" multiple size="4" {
                    @for m in members(v) {
                        option value=(m) { (layout::label(labels, &m)) }
                    }
                }
                label for="m-about" { "What it is about" }
                textarea id="m-about" name="about" maxlength="2000" {}
                div { button type="submit" { "Ask for mediation" } }
            }
        }
    }
}

fn case_card(me: &Reader, g: &str, labels: &Value, c: &Value, i: usize) -> Markup {
    let id = s(&c["id"]);
    let parties = strs(&c["parties"]);
    let agreed = strs(&c["agreed"]);
    let party = parties.contains(&me.did);
    let mediator = c["mediator"].as_str();
    let draw = &c["draw"];
    let volunteered = strs(&draw["volunteers"]).contains(&me.did);
    let action = |what: &str| format!("/g/{g}/mediation/{what}");
    html! {
        article class="card case" id={"case-" (i)} {
            div data-live={"case-" (id)} {
                h2 {
                    span { "Between " (people(labels, &parties)) } " "
                    @if let Some(st) = c["settled"].as_str() { span class="badge closed" { "settled: " (st) } }
                    @else { span class="badge open" { "open" } }
                }
                @if !s(&c["about"]).is_empty() { p { (layout::text(s(&c["about"]))) } }
                @if c["dispute"].is_object() {
                    p class="meta" { "A disputed completion by " (who(labels, s(&c["dispute"]["worker"]))) " (task " (s(&c["dispute"]["task"]).get(..12).unwrap_or_default()) "…)" }
                }
                p {
                    "Mediator: "
                    @if let Some(m) = mediator { (who(labels, m)) } @else { span class="muted" { "not drawn yet" } }
                }
                @if mediator.is_none() && draw.is_object() { (draw_state(labels, draw)) }
                @if c["outcome"].is_object() {
                    div class="outcome" {
                        p { "Outcome: " span class="badge" { (s(&c["outcome"]["settlement"])) } }
                        @if !s(&c["outcome"]["text"]).is_empty() { blockquote { (layout::text(s(&c["outcome"]["text"]))) } }
                        p class="meta" { "Agreed by: " (people(labels, &agreed)) }
                    }
                } @else {
                    p class="muted" { "No outcome recorded yet." }
                }
            }
            div class="case-actions" {
                @if mediator.is_none() && !party && !volunteered && draw["closed"] != true {
                    form method="post" action=(action("volunteer")) class="inline" {
                        (csrf(me)) (hidden("case", id))
                        button type="submit" class="small" { "Volunteer to mediate" }
                    }
                }
                @if mediator.is_none() && !draw.is_null() {
                    form method="post" action=(action("draw")) class="inline" {
                        (csrf(me)) (hidden("case", id))
                        button type="submit" class="small secondary" { "Next step of the draw" }
                    }
                    p class="hint" { (next_step_words(draw, &me.did)) }
                }
                @if mediator == Some(me.did.as_str()) && !c["outcome"].is_object() {
                    form method="post" action=(action("outcome")) class="stack" {
                        (csrf(me)) (hidden("case", id))
                        label for={"settle-" (i)} { "How it ended" }
                        select id={"settle-" (i)} name="settlement" {
                            option value="agreed" { "Agreed (a disputed completion stands)" }
                            option value="overturned" { "Overturned (a disputed completion does not count)" }
                            option value="no-agreement" { "No agreement" }
                        }
                        label for={"outcome-" (i)} { "The outcome in words" }
                        textarea id={"outcome-" (i)} name="text" maxlength="2000" {}
                        div { button type="submit" class="small" { "Record the outcome" } }
                    }
                }
                @if party && c["outcome"].is_object() && !agreed.contains(&me.did) {
                    form method="post" action=(action("agree")) class="inline" {
                        (csrf(me)) (hidden("case", id))
                        button type="submit" class="small" { "I agree with this outcome" }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reputation

/// What `from` gave `to` in `domain`, from the receipts: `("task", 2)`, `("vouch", 1)`.
pub fn receipts_between(v: &Value, domain: &str, from: &str, to: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for r in v["receipts"].as_array().into_iter().flatten() {
        if s(&r["domain"]) == domain && s(&r["from"]) == from && s(&r["to"]) == to {
            let what = s(&r["for"]).to_string();
            match out.iter_mut().find(|(w, _)| *w == what) {
                Some((_, n)) => *n += 1,
                None => out.push((what, 1)),
            }
        }
    }
    out
}

fn receipt_words(what: &str, n: usize) -> String {
    match what {
        "task" => format!("confirmed {n} task(s)"),
        "mediation" => format!("co-signed {n} mediation(s)"),
        "vouch" => format!("vouched {n} time(s)"),
        other => format!("{n} {other}"),
    }
}

/// The reputation page's content: `v` is the work answer (members, domains, receipts), `rep`
/// the reputation answer.
pub fn reputation(me: &Reader, g: &str, v: &Value, rep: &Value) -> Markup {
    let labels = if rep["labels"].is_object() {
        &rep["labels"]
    } else {
        &v["labels"]
    };
    let seeds = strs(&rep["seeds"]);
    let domains: Vec<Value> = arr(&rep["domains"])
        .into_iter()
        .filter(|d| !arr(&d["scores"]).is_empty())
        .collect();
    let half_life = rep["half_life_days"].as_u64().unwrap_or(0);
    html! {
        h1 { "Reputation" }
        p class="hint" {
            "Reputation comes only from co-signed receipts: confirmed tasks, mediations and vouches. Trust flows from the group's seeds ("
            (people(labels, &seeds))
            ") along those receipts, each domain on its own"
            @if half_life > 0 { "; a receipt loses half its weight every " (half_life) " days" }
            ". It suggests who could take a task; it decides nothing."
        }
        div data-live="reputation" {
            @if domains.is_empty() {
                (empty("No reputation yet: it comes only from receipts (confirmed tasks, mediations, vouches)."))
            }
            @for d in &domains {
                @let domain = s(&d["domain"]);
                section class="card rep-domain" data-domain=(domain) {
                    h2 { (domain) }
                    table {
                        thead { tr { th scope="col" { "Member" } th scope="col" { "Share" } } }
                        tbody {
                            @for sc in arr(&d["scores"]) {
                                @let m = s(&sc["member"]);
                                tr class="rep-row" data-member=(m) {
                                    td {
                                        (who(labels, m))
                                        @if m == me.did { " " span class="badge" { "you" } }
                                        details class="why" {
                                            summary { "Why" }
                                            ul {
                                                @for w in arr(&sc["why"]) {
                                                    li {
                                                        span class="pct" { (s(&w["percent"])) } " "
                                                        @if let Some(f) = w["from"].as_str() {
                                                            "from " (who(labels, f))
                                                            @let got = receipts_between(v, domain, f, m);
                                                            @if !got.is_empty() {
                                                                ", who "
                                                                (got.iter().map(|(w, n)| receipt_words(w, *n)).collect::<Vec<_>>().join(" and "))
                                                            }
                                                        } @else {
                                                            "seed restart: the share the rules give back to the seeds each round, so trust starts from them"
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                    td class="pct" { (s(&sc["percent"])) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="card" id="vouch" {
            h2 { "Vouch for someone's work" }
            p class="hint" { "A vouch is a receipt from you: it counts for their reputation in that domain." }
            form method="post" action={"/g/" (g) "/reputation"} class="stack" {
                (csrf(me))
                label for="v-member" { "Member" }
                (member_select(v, "v-member", "member", Some(&me.did)))
                label for="v-domain" { "Domain" }
                select id="v-domain" name="domain" {
                    @for d in strs(&v["domains"]) { option value=(d) { (d) } }
                }
                div { button type="submit" class="secondary" { "Vouch" } }
            }
        }
    }
}
