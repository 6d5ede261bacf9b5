//! A group's people and rules: members with their roles, newcomers waiting to be admitted,
//! removals with their reasons, the constitution, and the actions on them (invite with a code
//! and its QR code, admit or vouch, grant and revoke roles, remove, leave). Whether an action is
//! allowed is the node's decision, not this page's: a refused action comes back with the
//! node's reason (and, when the rules want a vote, the proposal to make instead).

use crate::pages::anonymity::Anonymity;
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
use crate::layout::{self, Flash, Place, csrf, svg, who};
use crate::pages::feed::Reader;
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
        .route("/g/{g}/rules", post(rules))
}

async fn members(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let v = match read(&app, &me, Query::Members { group: g.clone() }).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = group_name(&v);
    let anonymity = Anonymity::read(&app, &g).await;
    let body = html! { (anonymity.banner()) (render(&me, &g, &v)) };
    layout::page(&me, &name, Place::Group(&g, &name, "members"), body).into_response()
}

/// The members page's content.
pub fn render(me: &Me, g: &str, v: &Value) -> Markup {
    render_as(&Reader::of(me), g, v)
}

/// The members page's content for `me`, plain data (what the render benchmark calls).
pub fn render_as(me: &Reader, g: &str, v: &Value) -> Markup {
    let labels = &v["labels"];
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let c = &v["constitution"];
    let roles: Vec<String> = c["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    let w = &c["work"];
    let rotations = strings(&w["rotations"]);
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
                            (csrf(me))
                            input type="hidden" name="member" value=(id);
                            @if c["admission"] == "vote" {
                                button type="submit" name="how" value="propose" class="small" { "Propose admitting them" }
                            } @else {
                                button type="submit" class="small" { "Admit / vouch" }
                            }
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
                    (csrf(me))
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
                    tr { th scope="row" { "Who may invite" } td { (rule_words(c["invite"].as_str().unwrap_or_default())) } }
                    tr { th scope="row" { "How newcomers get in" } td { (rule_words(c["admission"].as_str().unwrap_or_default())) } }
                    tr { th scope="row" { "Who may remove members" } td { (rule_words(c["removal"].as_str().unwrap_or_default())) } }
                    tr { th scope="row" { "Who may change the rules and roles" } td { (rule_words(c["amend"].as_str().unwrap_or_default())) } }
                    tr { th scope="row" { "Roles" } td { (roles.join(", ")) } }
                    tr { th scope="row" { "Newcomers read past posts" } td { @if c["history"].as_bool().unwrap_or(false) { "yes" } @else { "no" } } }
                    tr { th scope="row" { "Who may create tasks without a proposal" } td { (rule_words(w["tasks"].as_str().unwrap_or("member"))) } }
                    tr { th scope="row" { "Confirmations a completed task needs" } td { (w["confirmations"].as_u64().unwrap_or(0)) } }
                    tr { th scope="row" { "Rotating roles" } td { @if rotations.is_empty() { "none" } @else { (rotations.join(", ")) } } }
                    tr {
                        th scope="row" { "Anonymous mode (I2P)" }
                        td id="rule-anonymous" {
                            @if c["anonymous_only"].as_bool().unwrap_or(false) {
                                span class="badge warn" { "Anonymous mode required" }
                                " Members reach each other only through I2P; no member's IP address is revealed to the others."
                            } @else {
                                "not required"
                            }
                        }
                    }
                }
            }
        }
        @if i_am_member {
            details class="card" id="rules-form" {
                summary { "Change the rules" }
                form method="post" action={"/g/" (g) "/rules"} class="stack" {
                    (csrf(me))
                    label for="r-invite" { "Who may invite" }
                    (rule_select("r-invite", "invite", &["member", "role:admin", "vote"], c["invite"].as_str()))
                    label for="r-admission" { "How newcomers get in" }
                    (rule_select("r-admission", "admission", &["invite", "vouches:2", "vouches:3", "vote"], c["admission"].as_str()))
                    label for="r-removal" { "Who may remove members" }
                    (rule_select("r-removal", "removal", &["role:admin", "member", "vote"], c["removal"].as_str()))
                    label for="r-amend" { "Who may change the rules and roles" }
                    (rule_select("r-amend", "amend", &["role:admin", "vote"], c["amend"].as_str()))
                    label { input type="checkbox" name="history" value="true" checked[c["history"].as_bool().unwrap_or(true)]; " Newcomers read past posts" }
                    (work_rules(v, c))
                    fieldset class="stack" {
                        legend { "Mutual credit" }
                        label for="r-demurrage" { "Demurrage: the percent of every positive balance paid into the commons per 30 days (e.g. 1 or 0.5; at most 10; 0 = none; empty = unchanged)" }
                        input id="r-demurrage" name="demurrage" inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,2})?%?" placeholder="unchanged";
                    }
                    label { input type="checkbox" name="confirmed" value="true"; " I know this may take away a power of my own" }
                    p class="hint" { "Changing the rules is itself judged by the current rules: where they say “by vote”, propose it." }
                    div {
                        button type="submit" class="secondary" { "Change now" } " "
                        button type="submit" name="how" value="propose" class="secondary" { "Propose it to the group" }
                    }
                }
            }
        }
        @if i_am_member {
            details class="card" {
                summary { "Roles and removal" }
                form method="post" action={"/g/" (g) "/role"} class="stack" {
                    (csrf(me))
                    label for="role-member" { "Member" }
                    (member_select(v, "role-member", "member"))
                    label for="role" { "Role" }
                    select id="role" name="role" { @for r in &roles { option value=(r) { (r) } } }
                    label { input type="radio" name="grant" value="true" checked; " Grant" }
                    label { input type="radio" name="grant" value="false"; " Revoke" }
                    div {
                        button type="submit" class="secondary" { "Change role now" } " "
                        button type="submit" name="how" value="propose" class="secondary" { "Propose it to the group" }
                    }
                }
                form method="post" action={"/g/" (g) "/remove"} class="stack" {
                    (csrf(me))
                    label for="rm-member" { "Remove member" }
                    (member_select(v, "rm-member", "member"))
                    label for="reason" { "Reason (members read it)" }
                    input id="reason" name="reason";
                    div {
                        @if c["removal"] == "vote" {
                            button type="submit" name="how" value="propose" class="secondary" { "Propose removing them" }
                        } @else {
                            button type="submit" class="secondary" { "Remove" }
                        }
                    }
                }
                form method="post" action={"/g/" (g) "/leave"} class="stack" {
                    (csrf(me))
                    p class="hint" { "Leaving: you stop receiving the group's new posts." }
                    div { button type="submit" class="secondary" { "Leave this group" } }
                }
            }
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The work rules' part of the rules form, filled in with the rules in force.
fn work_rules(v: &Value, c: &Value) -> Markup {
    let w = &c["work"];
    let seeds = strings(&w["seeds"]);
    let labels = &v["labels"];
    html! {
        fieldset class="stack" {
            legend { "Tasks, rotating roles and reputation" }
            label for="r-task-rule" { "Who may create tasks without a proposal" }
            (rule_select("r-task-rule", "task_rule", &["member", "role:admin", "vote"], w["tasks"].as_str()))
            label for="r-confirmations" { "How many other members confirm a completed task before it counts" }
            input id="r-confirmations" name="confirmations" type="number" min="1" max="100" value=(w["confirmations"].as_u64().unwrap_or(2));
            label for="r-rotate" { "Rotating roles, one per line: ROLE:DAYS (optionally :limit=N:rest=N)" }
            textarea id="r-rotate" name="rotate" placeholder="e.g. moderator:30" { (strings(&w["rotations"]).join("\n")) }
            label for="r-reveal" { "Hours volunteers have to reveal after a draw's list closes" }
            input id="r-reveal" name="reveal_hours" type="number" min="1" max="720" value=(w["reveal_hours"].as_u64().unwrap_or(24));
            label for="r-half-life" { "Reputation: a receipt loses half its weight after (days; 0 = never)" }
            input id="r-half-life" name="half_life_days" type="number" min="0" value=(w["half_life_days"].as_u64().unwrap_or(180));
            label for="r-domains" { "The group's own domains besides logistics, care, tech, outreach, mediation (comma-separated)" }
            input id="r-domains" name="domains" value=(strings(&w["domains"]).join(", "));
            fieldset {
                legend { "Reputation seeds: trust starts from them (none ticked: the group's creator)" }
                @for m in v["members"].as_array().into_iter().flatten() {
                    @let did = m["id"].as_str().unwrap_or_default();
                    label { input type="checkbox" name="seeds" value=(did) checked[seeds.iter().any(|s| s == did)]; " " (layout::label(labels, did)) }
                }
            }
        }
    }
}

/// A rule as the constitution writes it (`member`, `role:admin`, `vote`, `vouches:2`), in words.
pub fn rule_words(rule: &str) -> String {
    match rule.split_once(':') {
        _ if rule == "member" => "any member".into(),
        _ if rule == "vote" => "the group, by vote".into(),
        _ if rule == "invite" => "anyone with an invite".into(),
        Some(("role", r)) => format!("members with the role “{r}”"),
        Some(("vouches", k)) => format!("{k} members vouch for them"),
        _ => rule.to_string(),
    }
}

fn rule_select(id: &str, name: &str, choices: &[&str], current: Option<&str>) -> Markup {
    let mut all: Vec<&str> = choices.to_vec();
    if let Some(c) = current.filter(|c| !all.contains(c)) {
        all.insert(0, c);
    }
    html! {
        select id=(id) name=(name) {
            @for r in all { option value=(r) selected[Some(r) == current] { (rule_words(r)) } }
        }
    }
}

/// The one change a proposal made from this page enacts if it passes.
enum Enacts {
    Admit(String),
    Remove(String),
    /// `MEMBER=ROLE`.
    Grant(String),
    /// `MEMBER=ROLE`.
    Revoke(String),
    Rules(Box<dualpower_node::ops::ConstitutionArgs>),
}

/// Puts `enacts` to the group as a proposal (where its rules want a vote), then shows it.
async fn propose(
    app: &App,
    me: &Me,
    g: &str,
    title: String,
    body: String,
    enacts: Enacts,
) -> Response {
    let (mut admit, mut remove, mut grant_role, mut revoke_role, mut amend) =
        (None, None, None, None, None);
    match enacts {
        Enacts::Admit(m) => admit = Some(m),
        Enacts::Remove(m) => remove = Some(m),
        Enacts::Grant(c) => grant_role = Some(c),
        Enacts::Revoke(c) => revoke_role = Some(c),
        Enacts::Rules(r) => amend = Some(r),
    }
    let op = Op::Propose {
        group: g.to_string(),
        title,
        body,
        options: Vec::new(),
        method: None,
        electorate: None,
        topic: String::new(),
        discuss: false,
        deadline_secs: 72 * 3600,
        amend,
        remove,
        admit,
        grant_role,
        revoke_role,
        tasks: Vec::new(),
        set_limit: None,
    };
    act_then(app, me, op, &format!("/g/{g}/members"), |v| {
        let p = v["id"].as_str().unwrap_or_default();
        (
            Flash::ok("Proposed: the group decides. Vote here."),
            format!("/g/{g}/decisions/{p}"),
        )
    })
    .await
}

fn member_select(v: &Value, id: &str, name: &str) -> Markup {
    let labels = &v["labels"];
    html! {
        select id=(id) name=(name) {
            @for m in v["members"].as_array().into_iter().flatten() {
                @let did = m["id"].as_str().unwrap_or_default();
                option value=(did) {
                    (layout::label(labels, did))
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
    #[serde(default)]
    how: String,
}

async fn admit(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<MemberForm>,
) -> Response {
    if f.how == "propose" {
        let title = "Admit a newcomer".to_string();
        return propose(&app, &me, &g, title, String::new(), Enacts::Admit(f.member)).await;
    }
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
    #[serde(default)]
    how: String,
}

async fn remove(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<RemoveForm>,
) -> Response {
    if f.how == "propose" {
        let title = if f.reason.trim().is_empty() {
            "Remove a member".to_string()
        } else {
            format!("Remove a member: {}", f.reason.trim())
        };
        return propose(&app, &me, &g, title, f.reason, Enacts::Remove(f.member)).await;
    }
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
    #[serde(default)]
    how: String,
}

async fn role(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<RoleForm>,
) -> Response {
    if f.how == "propose" {
        let verb = if f.grant { "Grant" } else { "Revoke" };
        let title = format!("{verb} the role “{}”", f.role);
        let change = format!("{}={}", f.member, f.role);
        let enacts = if f.grant {
            Enacts::Grant(change)
        } else {
            Enacts::Revoke(change)
        };
        return propose(&app, &me, &g, title, String::new(), enacts).await;
    }
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

/// The rules form's fields: the one-value fields by name (the last one sent counts) and the
/// seeds (a checkbox each, so the name repeats).
#[derive(Debug, Default)]
pub struct RulesForm {
    fields: Vec<(String, String)>,
}

impl RulesForm {
    /// The form as sent.
    pub fn new(fields: Vec<(String, String)>) -> RulesForm {
        RulesForm { fields }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, name: &str, what: &str) -> Result<Option<u64>, String> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{what} is a whole number, not “{v}”")),
        }
    }

    /// The changes the form asks for (a field the form did not send is left as it is).
    pub fn args(&self) -> Result<dualpower_node::ops::ConstitutionArgs, String> {
        let text = |n: &str| self.get(n).map(str::to_string);
        let work = self.get("confirmations").is_some();
        Ok(dualpower_node::ops::ConstitutionArgs {
            invite: text("invite"),
            admission: text("admission"),
            removal: text("removal"),
            amend: text("amend"),
            history: Some(self.get("history").is_some()),
            task_rule: text("task_rule"),
            confirmations: self.num("confirmations", "the number of confirmations")?,
            half_life_days: self.num("half_life_days", "the half-life")?,
            reveal_hours: self.num("reveal_hours", "the hours to reveal")?,
            rotate: self.get("rotate").map(|r| {
                r.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
            domains: self.get("domains").map(|d| {
                d.split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
            // The seed checkboxes are on the form whenever its work part is: none ticked means
            // the creator.
            seeds: work.then(|| {
                self.fields
                    .iter()
                    .filter(|(k, _)| k == "seeds")
                    .map(|(_, v)| v.clone())
                    .collect()
            }),
            demurrage: self
                .get("demurrage")
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            ..Default::default()
        })
    }
}

async fn rules(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let f = RulesForm::new(fields);
    let back = format!("/g/{g}/members");
    let args = match f.args() {
        Ok(a) => a,
        Err(e) => {
            me.flash(&app, Flash::error(format!("{e}. Nothing was changed.")));
            return crate::pages::go(&back);
        }
    };
    if f.get("how") == Some("propose") {
        let title = "Change the group's rules".to_string();
        return propose(
            &app,
            &me,
            &g,
            title,
            String::new(),
            Enacts::Rules(Box::new(args)),
        )
        .await;
    }
    let op = Op::Amend {
        group: g.clone(),
        constitution: args,
        confirmed: f.get("confirmed").is_some(),
    };
    act(&app, &me, op, &back, |_| "The rules are changed.".into()).await
}
