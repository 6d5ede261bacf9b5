//! A group's people and rules: members with their roles, newcomers waiting to be admitted,
//! removals with their reasons, the constitution, and the actions on them (invite with a code
//! and its QR code, admit or vouch, grant and revoke roles, remove, leave). Whether an action is
//! allowed is the node's decision, not this page's: a refused action comes back with the
//! node's reason (and, when the rules want a vote, the proposal to make instead).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dualpower_node::ops::Op;
use dualpower_node::query::Query;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Flash, Place, svg, who};
use crate::pages::feed::Viewer;
use crate::pages::{act, act_then, group_name, read};

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/g/{g}/members", get(members))
        .route("/g/{g}/invite", post(invite))
        .route("/g/{g}/admit", post(admit))
        .route("/g/{g}/remove", post(remove))
        .route("/g/{g}/role", post(role))
        .route("/g/{g}/leave", post(leave))
}

async fn members(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let v = match read(&app, &me, Query::Members { group: g.clone() }).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = group_name(&v);
    let body = render(&me, &g, &v);
    layout::page(&me, &name, Place::Group(&g, &name, "members"), body).into_response()
}

/// The members page's content.
pub fn render(me: &Me, g: &str, v: &Value) -> Markup {
    render_as(&Viewer::of(me), g, v)
}

/// The members page's content for `me`, plain data (what the render benchmark calls).
pub fn render_as(me: &Viewer, g: &str, v: &Value) -> Markup {
    let labels = &v["labels"];
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let c = &v["constitution"];
    let roles: Vec<String> = c["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    let me_did = me.did.clone();
    let i_am_member = list("members")
        .iter()
        .any(|m| m["id"].as_str() == Some(&me_did));
    html! {
        h1 { "Members" }
        div data-live="members" {
            table {
                thead { tr { th scope="col" { "Member" } th scope="col" { "Roles" } } }
                tbody {
                    @for m in list("members") {
                        @let id = m["id"].as_str().unwrap_or_default();
                        tr {
                            td { (who(labels, id)) @if id == me_did { " " span class="badge" { "you" } } }
                            td { @for r in m["roles"].as_array().into_iter().flatten() { span class="badge" { (r.as_str().unwrap_or_default()) } " " } }
                        }
                    }
                }
            }
            @if !list("pending").is_empty() {
                h2 { "Waiting to join" }
                @for p in list("pending") {
                    @let id = p["id"].as_str().unwrap_or_default();
                    div class="card" {
                        (who(labels, id))
                        span class="meta" { (p["vouches"].as_u64().unwrap_or(0)) " vouch(es) so far · admission: " (c["admission"].as_str().unwrap_or_default()) }
                        form method="post" action={"/g/" (g) "/admit"} class="inline" {
                            (me.csrf_input())
                            input type="hidden" name="member" value=(id);
                            button type="submit" class="small" { "Admit / vouch" }
                        }
                    }
                }
            }
            @if !list("removed").is_empty() {
                h2 { "Removed" }
                @for r in list("removed") {
                    div class="card" {
                        (who(labels, r["id"].as_str().unwrap_or_default()))
                        span class="meta" { "by " (who(labels, r["by"].as_str().unwrap_or_default())) }
                        @if let Some(reason) = r["reason"].as_str().filter(|s| !s.is_empty()) { p { (reason) } }
                    }
                }
            }
        }
        @if i_am_member {
            section class="card" {
                h2 { "Invite someone" }
                form method="post" action={"/g/" (g) "/invite"} class="stack" {
                    (me.csrf_input())
                    label for="hours" { "Valid for (hours)" }
                    input id="hours" name="hours" type="number" min="1" max="8760" value="72";
                    label for="uses" { "How many people may use it" }
                    input id="uses" name="uses" type="number" min="1" max="1000" value="1";
                    div { button type="submit" { "Create invite code" } }
                }
            }
        }
        h2 { "The group's rules" }
        div class="card" {
            table {
                tbody {
                    tr { th scope="row" { "Who may invite" } td { (c["invite"].as_str().unwrap_or_default()) } }
                    tr { th scope="row" { "How newcomers get in" } td { (c["admission"].as_str().unwrap_or_default()) } }
                    tr { th scope="row" { "Who may remove members" } td { (c["removal"].as_str().unwrap_or_default()) } }
                    tr { th scope="row" { "Who may change the rules and roles" } td { (c["amend"].as_str().unwrap_or_default()) } }
                    tr { th scope="row" { "Roles" } td { (roles.join(", ")) } }
                    tr { th scope="row" { "Newcomers read past posts" } td { @if c["history"].as_bool().unwrap_or(false) { "yes" } @else { "no" } } }
                }
            }
            p class="hint" { "To change the rules, make a proposal under Decisions (or, if you may amend directly, use " code { "dualpower group amend" } ")." }
        }
        @if i_am_member {
            details class="card" {
                summary { "Roles and removal" }
                form method="post" action={"/g/" (g) "/role"} class="stack" {
                    (me.csrf_input())
                    label for="role-member" { "Member" }
                    (member_select(v, "role-member", "member"))
                    label for="role" { "Role" }
                    select id="role" name="role" { @for r in &roles { option value=(r) { (r) } } }
                    label { input type="radio" name="grant" value="true" checked; " Grant" }
                    label { input type="radio" name="grant" value="false"; " Revoke" }
                    div { button type="submit" class="secondary" { "Change role" } }
                }
                form method="post" action={"/g/" (g) "/remove"} class="stack" {
                    (me.csrf_input())
                    label for="rm-member" { "Remove member" }
                    (member_select(v, "rm-member", "member"))
                    label for="reason" { "Reason (members read it)" }
                    input id="reason" name="reason";
                    div { button type="submit" class="secondary" { "Remove" } }
                }
                form method="post" action={"/g/" (g) "/leave"} class="stack" {
                    (me.csrf_input())
                    p class="hint" { "Leaving: you stop receiving the group's new posts." }
                    div { button type="submit" class="secondary" { "Leave this group" } }
                }
            }
        }
    }
}

fn member_select(v: &Value, id: &str, name: &str) -> Markup {
    let labels = &v["labels"];
    html! {
        select id=(id) name=(name) {
            @for m in v["members"].as_array().into_iter().flatten() {
                @let did = m["id"].as_str().unwrap_or_default();
                option value=(did) {
                    (labels[did]["label"].as_str().map(str::to_string).unwrap_or_else(|| format!("·{}", layout::short_key(did))))
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct InviteForm {
    hours: u64,
    uses: u64,
}

async fn invite(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<InviteForm>,
) -> Response {
    // Our node's addresses go in the code, so the newcomer's node can reach ours.
    let addrs: Vec<String> = app
        .handle()
        .status()
        .await
        .map(|s| {
            s.listen
                .into_iter()
                .filter(|a| !a.contains("/p2p-circuit"))
                .collect()
        })
        .unwrap_or_default();
    let op = Op::Invite {
        group: g.clone(),
        expires_secs: f.hours.saturating_mul(3600),
        uses: f.uses,
        addrs,
    };
    match app.op(op).await {
        Ok(v) => {
            let code = v["code"].as_str().unwrap_or_default().to_string();
            let qr = qrcode::QrCode::new(code.as_bytes())
                .map(|q| {
                    q.render::<qrcode::render::svg::Color>()
                        .min_dimensions(220, 220)
                        .build()
                })
                .unwrap_or_default();
            let name = group_name(
                &app.view(Query::Members { group: g.clone() })
                    .await
                    .unwrap_or_default(),
            );
            let body = html! {
                h1 { "Invite code" }
                p { "Give this code only to the person you invite (valid " (f.hours) " h, "
                    (f.uses) " use(s)). They paste it under " em { "Join a group" } ", or scan the QR code." }
                div class="card" {
                    div id="invite-code" class="code" { (code) }
                    button type="button" class="secondary small" data-copy="invite-code" hidden { "Copy" }
                }
                div class="card qr" role="img" aria-label="QR code of the invite" { (svg(qr)) }
                p class="hint" { "Keep your node running until they are in: their node reaches yours at the addresses in the code." }
                p { a href={"/g/" (g) "/members"} { "Back to members" } }
            };
            layout::page(&me, "Invite", Place::Group(&g, &name, "members"), body).into_response()
        }
        Err(e) => {
            me.flash(&app, Flash::error(e.message));
            crate::pages::go(&format!("/g/{g}/members"))
        }
    }
}

#[derive(Deserialize)]
struct MemberForm {
    member: String,
}

async fn admit(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<MemberForm>,
) -> Response {
    let op = Op::Admit {
        group: g.clone(),
        member: f.member,
    };
    act(&app, &me, op, &format!("/g/{g}/members"), |v| {
        if v["already_member"].as_bool() == Some(true) {
            "Already a member.".into()
        } else {
            "Admitted (or vouched for): the group's rules decide when they are in.".into()
        }
    })
    .await
}

#[derive(Deserialize)]
struct RemoveForm {
    member: String,
    #[serde(default)]
    reason: String,
}

async fn remove(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<RemoveForm>,
) -> Response {
    let op = Op::Remove {
        group: g.clone(),
        member: f.member,
        reason: f.reason,
    };
    act(&app, &me, op, &format!("/g/{g}/members"), |_| {
        "Removed; the group's key was changed so they cannot read what comes next.".into()
    })
    .await
}

#[derive(Deserialize)]
struct RoleForm {
    member: String,
    role: String,
    grant: bool,
}

async fn role(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<RoleForm>,
) -> Response {
    let op = Op::Role {
        group: g.clone(),
        member: f.member,
        role: f.role,
        grant: f.grant,
    };
    act(&app, &me, op, &format!("/g/{g}/members"), |v| {
        if v["grant"].as_bool() == Some(true) {
            "Role granted.".into()
        } else {
            "Role revoked.".into()
        }
    })
    .await
}

async fn leave(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let op = Op::Leave { group: g.clone() };
    act_then(&app, &me, op, &format!("/g/{g}/members"), |_| {
        (Flash::ok("You left the group."), "/".to_string())
    })
    .await
}
