//! Putting decisions into action: a group's tasks (create, claim, release, hand over, mark
//! done, confirm, dispute), its rotating roles and their draws, mediation cases, and the
//! reputation that co-signed receipts earn (with its reasons), plus vouching.
//!
//! Like every page, each action here is one [`Op`] sent through the node, which decides; the
//! pages read [`Query::Work`] (tasks, roles, cases, receipts, members, rules) and
//! [`Query::Reputation`]. The rendering is in [`render`], pure functions of those answers, so
//! tests render real answers without a server. Routes live in this file only (the access test
//! reads it to find every form).

pub mod render;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dualpower_node::ops::{Op, TaskArgs};
use dualpower_node::query::Query;
use maud::Markup;
use serde::Deserialize;
use serde_json::Value;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Flash, Place};
use crate::pages::feed::Reader;
use crate::pages::{act, group_name, read};

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/g/{g}/tasks", get(tasks).post(task_create))
        .route("/g/{g}/tasks/claim", post(task_claim))
        .route("/g/{g}/tasks/release", post(task_release))
        .route("/g/{g}/tasks/handover", post(task_handover))
        .route("/g/{g}/tasks/done", post(task_done))
        .route("/g/{g}/tasks/confirm", post(task_confirm))
        .route("/g/{g}/tasks/dispute", post(task_dispute))
        .route("/g/{g}/roles", get(roles))
        .route("/g/{g}/roles/volunteer", post(role_volunteer))
        .route("/g/{g}/roles/draw", post(role_draw))
        .route("/g/{g}/mediation", get(mediation).post(mediate_request))
        .route("/g/{g}/mediation/volunteer", post(mediate_volunteer))
        .route("/g/{g}/mediation/draw", post(mediate_draw))
        .route("/g/{g}/mediation/outcome", post(mediate_outcome))
        .route("/g/{g}/mediation/agree", post(mediate_agree))
        .route("/g/{g}/reputation", get(reputation).post(vouch))
}

// ---------------------------------------------------------------------------------------------
// Pages

/// The work answer, or the page that says why it failed.
async fn work(app: &App, me: &Me, g: &str) -> Result<Value, Response> {
    read(
        app,
        me,
        Query::Work {
            group: g.to_string(),
        },
    )
    .await
}

/// Every member's reputation; a failure only leaves out what it would add.
async fn rep(app: &App, g: &str) -> Value {
    app.view(Query::Reputation {
        group: g.to_string(),
        member: None,
    })
    .await
    .unwrap_or(Value::Null)
}

fn show(me: &Me, g: &str, v: &Value, title: &str, tab: &str, body: Markup) -> Response {
    let name = group_name(v);
    layout::page(me, title, Place::Group(g, &name, tab), body).into_response()
}

async fn tasks(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let v = match work(&app, &me, &g).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let r = rep(&app, &g).await;
    let body = render::tasks(&Reader::of(&me), &g, &v, &r);
    show(&me, &g, &v, "Tasks", "tasks", body)
}

async fn roles(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let v = match work(&app, &me, &g).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = render::roles(&Reader::of(&me), &g, &v);
    show(&me, &g, &v, "Roles", "roles", body)
}

async fn mediation(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let v = match work(&app, &me, &g).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = render::mediation(&Reader::of(&me), &g, &v);
    show(&me, &g, &v, "Mediation", "mediation", body)
}

async fn reputation(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let v = match work(&app, &me, &g).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let r = match read(
        &app,
        &me,
        Query::Reputation {
            group: g.clone(),
            member: None,
        },
    )
    .await
    {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let body = render::reputation(&Reader::of(&me), &g, &v, &r);
    show(&me, &g, &v, "Reputation", "reputation", body)
}

// ---------------------------------------------------------------------------------------------
// Tasks

/// The create-a-task form's fields.
#[derive(Deserialize, Debug, Default)]
pub struct CreateForm {
    /// What is to be done.
    #[serde(default)]
    pub title: String,
    /// How many people it takes.
    #[serde(default)]
    pub slots: String,
    /// Its domain.
    #[serde(default)]
    pub domain: String,
    /// Due in this many days (empty: no due date).
    #[serde(default)]
    pub due_days: String,
    /// Skills, comma-separated.
    #[serde(default)]
    pub skills: String,
}

/// The task a filled-in create form describes, or what is wrong with it (nothing is sent).
pub fn create_args(f: &CreateForm) -> Result<TaskArgs, String> {
    let title = f.title.trim();
    if title.is_empty() {
        return Err("give the task a title".into());
    }
    let num = |v: &str, what: &str| -> Result<Option<u64>, String> {
        match v.trim() {
            "" => Ok(None),
            v => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{what} is a whole number, not “{v}”")),
        }
    };
    Ok(TaskArgs {
        title: title.to_string(),
        slots: num(&f.slots, "the number of people")?,
        domain: Some(f.domain.trim())
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        due_days: num(&f.due_days, "the days until it is due")?,
        skills: f
            .skills
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

async fn task_create(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<CreateForm>,
) -> Response {
    let back = format!("/g/{g}/tasks");
    let task = match create_args(&f) {
        Ok(t) => t,
        Err(e) => {
            me.flash(&app, Flash::error(format!("{e}. Nothing was created.")));
            return crate::pages::go(&back);
        }
    };
    let op = Op::TaskCreate { group: g, task };
    act(&app, &me, op, &back, |_| {
        "Task created: members can claim it here.".into()
    })
    .await
}

/// The fields of the forms on a task (each form sends the ones it needs).
#[derive(Deserialize, Debug, Default)]
struct TaskForm {
    task: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    reason: String,
}

async fn task_act(app: &App, me: &Me, g: &str, op: Op, ok: &'static str) -> Response {
    act(app, me, op, &format!("/g/{g}/tasks"), |_| ok.to_string()).await
}

async fn task_claim(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<TaskForm>,
) -> Response {
    let op = Op::TaskClaim {
        group: g.clone(),
        task: f.task,
    };
    let ok = "Claimed. When your part is done, mark it done here.";
    task_act(&app, &me, &g, op, ok).await
}

async fn task_release(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<TaskForm>,
) -> Response {
    let op = Op::TaskRelease {
        group: g.clone(),
        task: f.task,
    };
    task_act(&app, &me, &g, op, "Released: the slot is free again.").await
}

async fn task_handover(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<TaskForm>,
) -> Response {
    let op = Op::TaskHandover {
        group: g.clone(),
        task: f.task,
        to: f.to,
    };
    task_act(&app, &me, &g, op, "Handed over.").await
}

async fn task_done(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<TaskForm>,
) -> Response {
    let op = Op::TaskDone {
        group: g.clone(),
        task: f.task,
        note: f.note,
    };
    let ok = "Marked done. It counts once other members confirm it.";
    task_act(&app, &me, &g, op, ok).await
}

async fn task_confirm(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<TaskForm>,
) -> Response {
    let op = Op::TaskConfirm {
        group: g.clone(),
        task: f.task,
        member: f.member,
    };
    task_act(&app, &me, &g, op, "Confirmed.").await
}

async fn task_dispute(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<TaskForm>,
) -> Response {
    let op = Op::TaskDispute {
        group: g.clone(),
        task: f.task,
        member: f.member,
        reason: f.reason,
    };
    let ok = "Disputed: a mediation case is open (see Mediation); the completion counts only \
              after an agreed outcome.";
    task_act(&app, &me, &g, op, ok).await
}

// ---------------------------------------------------------------------------------------------
// Roles

#[derive(Deserialize, Debug)]
struct RoleForm {
    role: String,
}

async fn role_volunteer(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<RoleForm>,
) -> Response {
    let op = Op::RoleVolunteer {
        group: g.clone(),
        role: f.role,
    };
    act(&app, &me, op, &format!("/g/{g}/roles"), |_| {
        "Volunteered: your secret is committed; your node reveals it when the list closes.".into()
    })
    .await
}

async fn role_draw(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<RoleForm>,
) -> Response {
    let role = f.role.clone();
    let op = Op::RoleDraw {
        group: g.clone(),
        role: f.role,
    };
    act(&app, &me, op, &format!("/g/{g}/roles"), move |v| {
        let r = v["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["role"].as_str() == Some(&role));
        match r {
            Some(r) if r["next"]["closed"] == true => {
                "The list is closed: volunteers' nodes reveal their secrets; then the next step \
                 draws."
                    .into()
            }
            _ => "Drawn: the role's holder is shown below.".into(),
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Mediation

async fn mediate_request(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let parties: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "parties")
        .map(|(_, v)| v.clone())
        .collect();
    let about = f
        .iter()
        .find(|(k, _)| k == "about")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let op = Op::MediateRequest {
        group: g.clone(),
        parties,
        about,
    };
    act(&app, &me, op, &format!("/g/{g}/mediation"), |_| {
        "Mediation requested: members who are not parties may volunteer to mediate.".into()
    })
    .await
}

#[derive(Deserialize, Debug)]
struct CaseForm {
    case: String,
    #[serde(default)]
    settlement: String,
    #[serde(default)]
    text: String,
}

async fn mediate_volunteer(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<CaseForm>,
) -> Response {
    let op = Op::MediateVolunteer {
        group: g.clone(),
        case: f.case,
    };
    act(&app, &me, op, &format!("/g/{g}/mediation"), |_| {
        "Volunteered to mediate: your node reveals your secret when the list closes.".into()
    })
    .await
}

async fn mediate_draw(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<CaseForm>,
) -> Response {
    let op = Op::MediateDraw {
        group: g.clone(),
        case: f.case,
    };
    act(&app, &me, op, &format!("/g/{g}/mediation"), |v| {
        if v["mediator"].is_string() {
            "Drawn: the case's mediator is shown below.".into()
        } else {
            "Step done: the list is closed and volunteers' nodes reveal their secrets; then the \
             next step draws."
                .into()
        }
    })
    .await
}

async fn mediate_outcome(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<CaseForm>,
) -> Response {
    let op = Op::MediateOutcome {
        group: g.clone(),
        case: f.case,
        settlement: f.settlement,
        text: f.text,
    };
    act(&app, &me, op, &format!("/g/{g}/mediation"), |_| {
        "Outcome recorded: it settles the case once every party agrees.".into()
    })
    .await
}

async fn mediate_agree(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<CaseForm>,
) -> Response {
    let op = Op::MediateAgree {
        group: g.clone(),
        case: f.case,
    };
    act(
        &app,
        &me,
        op,
        &format!("/g/{g}/mediation"),
        |v| match v["settled"].as_str() {
            Some(s) => format!("Agreed: the case is settled ({s})."),
            None => "Agreed: the case settles once every party agrees.".into(),
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Reputation

#[derive(Deserialize, Debug)]
struct VouchForm {
    member: String,
    domain: String,
}

async fn vouch(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<VouchForm>,
) -> Response {
    let op = Op::Vouch {
        group: g.clone(),
        member: f.member,
        domain: f.domain,
    };
    act(&app, &me, op, &format!("/g/{g}/reputation"), |v| {
        format!(
            "Vouched in {}: it counts for their reputation there.",
            v["domain"].as_str().unwrap_or_default()
        )
    })
    .await
}

#[cfg(test)]
mod tests;
