//! A group's decisions: the list of proposals by stage, proposing, a proposal's page with a
//! ballot form that fits its method, the live count, the final result with charts and its
//! certificate, re-verifying a tally, and delegating one's weight.
//!
//! Every action is an [`Op`] sent through the node (the same checks as the CLI and every peer);
//! every read is a [`Query`]. Rendering is split from the handlers into pure functions of the
//! query answers ([`render_list`], [`render_new`], [`render_proposal`], [`render_verify`]) so
//! they can be tested on answers from a real store without a server. The ballot form and the
//! ballot text it produces are in [`ballot`]; the SVG charts in [`chart`].

pub mod ballot;
pub mod chart;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dualpower_core::decision::Method;
use dualpower_node::ops::{Op, TaskArgs};
use dualpower_node::query::Query;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Flash, Place, text, when, who};
use crate::pages::{act, act_then, empty, read};

use ballot::Opt;

/// The methods the new-proposal form offers: `(method text, what people see)`. The first is
/// the default. `budget` and `dot` get their parameter from the form's own fields.
pub const METHODS: [(&str, &str); 12] = [
    ("majority", "Majority: yes / no, more yes than no"),
    ("majority:threshold=2/3", "Two-thirds majority: yes / no"),
    ("consent", "Consent: agree / stand aside / disagree / block"),
    ("approval", "Approval: tick every option you accept"),
    ("plurality", "Plurality: one choice, most votes wins"),
    ("score", "Score: 0–5 per option, highest total wins"),
    ("star", "STAR: score, then a runoff of the top two"),
    ("irv", "Ranked choice (instant runoff)"),
    (
        "schulze",
        "Ranked (Schulze), with “no change” as a candidate",
    ),
    ("quadratic", "Quadratic: votes cost votes² voice credits"),
    (
        "budget",
        "Participatory budget: fund options within a total",
    ),
    ("dot", "Dot voting: spread points over options"),
];

/// Largest deadline the form accepts, in hours (ten years): beyond that it is a typo.
pub const MAX_DEADLINE_HOURS: f64 = 24.0 * 365.0 * 10.0;

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/g/{g}/decisions", get(list).post(propose))
        .route("/g/{g}/decisions/new", get(new_page))
        .route("/g/{g}/decisions/delegate", post(delegate))
        .route("/g/{g}/decisions/{p}", get(proposal))
        .route("/g/{g}/decisions/{p}/verify", get(verify))
        .route("/g/{g}/decisions/{p}/vote", post(vote))
        .route("/g/{g}/decisions/{p}/open", post(open))
        .route("/g/{g}/decisions/{p}/withdraw", post(withdraw))
        .route("/g/{g}/decisions/{p}/close", post(close))
        .route("/g/{g}/decisions/{p}/revise", post(revise))
}

/// What every render function needs besides the query answer: plain data, so tests can call
/// them without a session.
#[derive(Clone, Debug, Default)]
pub struct Cx {
    /// The session's CSRF token (every form carries it).
    pub csrf: String,
    /// Our `did:key`.
    pub me: String,
    /// The group (hex).
    pub group: String,
    /// Now (ms since the epoch), for deadlines.
    pub now: u64,
    /// The group's members (`did:key`), for the delegate select.
    pub members: Vec<String>,
    /// Members the node suggests as delegates (the most trusted for their work).
    pub suggested: Vec<String>,
    /// Labels (did → {label, …}) when the answer that carries them is another one.
    pub labels: Value,
    /// The group's roles (a proposal may be put to one role's holders only).
    pub roles: Vec<String>,
}

impl Cx {
    fn base(&self) -> String {
        format!("/g/{}/decisions", self.group)
    }

    fn csrf(&self) -> Markup {
        html! { input type="hidden" name="_csrf" value=(self.csrf); }
    }

    /// The labels of `v`, or those the context carries.
    fn labels<'a>(&'a self, v: &'a Value) -> &'a Value {
        if v["labels"].is_object() {
            &v["labels"]
        } else {
            &self.labels
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn context(app: &App, me: &Me, g: &str) -> Cx {
    // The members (for delegating) are a second read; a failure only empties the select.
    let members = app
        .view(Query::Members {
            group: g.to_string(),
        })
        .await
        .ok();
    let list = members
        .as_ref()
        .and_then(|m| m["members"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let roles = members
        .as_ref()
        .and_then(|m| m["constitution"]["roles"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let suggested = members
        .as_ref()
        .and_then(|m| m["suggested_delegates"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Cx {
        roles,
        suggested,
        csrf: me.csrf.clone(),
        me: me.key.to_did(),
        group: g.to_string(),
        now: crate::now_ms(),
        members: list,
        labels: members.map(|m| m["labels"].clone()).unwrap_or(Value::Null),
    }
}

/// The group's name for the tabs: from the answer if it carries one, else from the store.
async fn group_title(app: &App, g: &str, v: &Value) -> String {
    if let Some(n) = v["name"].as_str() {
        return n.to_string();
    }
    app.groups()
        .await
        .into_iter()
        .find(|i| i.id.to_hex() == g)
        .map(|i| i.name)
        .unwrap_or_else(|| "(unnamed group)".into())
}

async fn list(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let v = match read(&app, &me, Query::Proposals { group: g.clone() }).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let cx = context(&app, &me, &g).await;
    let name = group_title(&app, &g, &v).await;
    let body = render_list(&cx, &v);
    layout::page(&me, "Decisions", Place::Group(&g, &name, "decisions"), body).into_response()
}

async fn new_page(State(app): State<App>, me: Me, Path(g): Path<String>) -> Response {
    let cx = context(&app, &me, &g).await;
    let name = group_title(&app, &g, &Value::Null).await;
    let body = html! {
        p { a href=(cx.base()) { "← Decisions" } }
        h1 { "New proposal" }
        (render_new(&cx))
    };
    layout::page(
        &me,
        "New proposal",
        Place::Group(&g, &name, "decisions"),
        body,
    )
    .into_response()
}

async fn proposal(
    State(app): State<App>,
    me: Me,
    Path((g, p)): Path<(String, String)>,
) -> Response {
    let v = match read(
        &app,
        &me,
        Query::Proposal {
            group: g.clone(),
            proposal: p,
        },
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let cx = context(&app, &me, &g).await;
    let name = group_title(&app, &g, &v).await;
    let title = v["title"].as_str().unwrap_or("Proposal").to_string();
    let body = render_proposal(&cx, &v);
    layout::page(&me, &title, Place::Group(&g, &name, "decisions"), body).into_response()
}

async fn verify(State(app): State<App>, me: Me, Path((g, p)): Path<(String, String)>) -> Response {
    let q = |p: &str| Query::Proposal {
        group: g.clone(),
        proposal: p.to_string(),
    };
    let shown = match read(&app, &me, q(&p)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let v = match read(
        &app,
        &me,
        Query::VerifyTally {
            group: g.clone(),
            proposal: p,
        },
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let cx = context(&app, &me, &g).await;
    let name = group_title(&app, &g, &shown).await;
    let body = render_verify(&cx, &shown, &v);
    layout::page(
        &me,
        "Verify a tally",
        Place::Group(&g, &name, "decisions"),
        body,
    )
    .into_response()
}

/// Where an action goes back to: `/g/{g}/decisions[/{p}]{tail}`, or `/` when `g` or `p` is not
/// hex. The ids come from the URL and the form, percent-decoded: anything else (a line break,
/// `//host`) must not reach a `Location` header, where axum would panic on a control character
/// and a browser might follow a crafted path.
pub fn back_url(g: &str, p: Option<&str>, tail: &str) -> String {
    let hex = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    match p {
        _ if !hex(g) => "/".into(),
        None => format!("/g/{g}/decisions{tail}"),
        Some(p) if hex(p) => format!("/g/{g}/decisions/{p}{tail}"),
        Some(_) => format!("/g/{g}/decisions{tail}"),
    }
}

/// The new-proposal form's fields.
#[derive(Deserialize, Debug, Default)]
pub struct ProposeForm {
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Body.
    #[serde(default)]
    pub body: String,
    /// One of [`METHODS`].
    #[serde(default)]
    pub method: String,
    /// Budget total (for `budget`).
    #[serde(default)]
    pub total: String,
    /// Points per voter (for `dot`).
    #[serde(default)]
    pub dots: String,
    /// Quorum (`N/D`, empty = none).
    #[serde(default)]
    pub quorum: String,
    /// A method typed out in full (overrides the select when not empty).
    #[serde(default)]
    pub method_text: String,
    /// Options, one per line (`label=cost` for a budget).
    #[serde(default)]
    pub options: String,
    /// Deadline in hours (0 or empty = none).
    #[serde(default)]
    pub deadline_hours: String,
    /// Start with a discussion phase.
    #[serde(default)]
    pub discuss: Option<String>,
    /// Topic (for topic delegation).
    #[serde(default)]
    pub topic: String,
    /// `members` (or empty) or `role:NAME`.
    #[serde(default)]
    pub electorate: String,
    /// Tasks the proposal creates if it passes, one per line (`TITLE;slots=N;domain=D;due=DAYS`).
    #[serde(default)]
    pub tasks: String,
}

/// The [`Op::Propose`] a filled-in form asks for, or what is wrong with it (nothing is sent).
pub fn propose_op(group: &str, f: &ProposeForm) -> Result<Op, String> {
    let title = f.title.trim();
    if title.is_empty() {
        return Err("give the proposal a title".into());
    }
    let method = method_text(f)?;
    let options = lines(&f.options);
    let m = Method::parse(&method).map_err(|e| e.to_string())?;
    if m.fixed_options().is_some() && !options.is_empty() {
        return Err(format!(
            "a {} vote has fixed choices; leave the options empty, or pick a method that \
             chooses among options",
            m.name()
        ));
    }
    if m.fixed_options().is_none() && options.len() < 2 {
        return Err(format!(
            "a {} vote needs at least two options, one per line",
            m.name()
        ));
    }
    let tasks = task_lines(&f.tasks)?;
    let hours = match f.deadline_hours.trim() {
        "" => 0.0,
        h => h
            .parse::<f64>()
            .ok()
            .filter(|h| h.is_finite() && *h >= 0.0 && *h <= MAX_DEADLINE_HOURS)
            .ok_or_else(|| {
                format!("the deadline “{h}” is not a number of hours from 0 (none) to {MAX_DEADLINE_HOURS}")
            })?,
    };
    Ok(Op::Propose {
        group: group.to_string(),
        title: title.to_string(),
        body: f.body.trim_end().to_string(),
        options,
        // A proposal that creates tasks is decided like the rules' other changes: by every
        // member, by the constitution's method (the node fills it in).
        method: tasks.is_empty().then_some(method),
        electorate: match f.electorate.trim() {
            _ if !tasks.is_empty() => None,
            "" | "members" => None,
            e => Some(e.to_string()),
        },
        topic: f.topic.trim().to_string(),
        discuss: f.discuss.as_deref().is_some_and(|d| !d.is_empty()),
        deadline_secs: (hours * 3600.0).round() as u64,
        amend: None,
        remove: None,
        admit: None,
        grant_role: None,
        revoke_role: None,
        tasks,
        set_limit: None,
    })
}

/// The tasks a proposal creates, one per line in the form `TITLE;slots=N;domain=D;due=DAYS`
/// ([`TaskArgs::parse`]); a line that does not parse is named with its number.
pub fn task_lines(text: &str) -> Result<Vec<TaskArgs>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let t = TaskArgs::parse(l.trim()).map_err(|e| format!("task line {}: {e}", i + 1))?;
            if t.title.is_empty() {
                return Err(format!(
                    "task line {}: the task needs a title before the first `;`",
                    i + 1
                ));
            }
            Ok(t)
        })
        .collect()
}

/// The method text a form asks for (select plus parameters, or the typed text), checked.
pub fn method_text(f: &ProposeForm) -> Result<String, String> {
    let typed = f.method_text.trim();
    let text = if !typed.is_empty() {
        typed.to_string()
    } else {
        let base = match f.method.trim() {
            "" => METHODS[0].0,
            m => METHODS
                .iter()
                .map(|(t, _)| *t)
                .find(|t| *t == m)
                .ok_or_else(|| format!("“{m}” is not one of the offered methods"))?,
        };
        let mut params: Vec<String> = base
            .split_once(':')
            .map(|(_, p)| p.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let name = base.split(':').next().unwrap_or(base);
        let num = |v: &str, what: &str, default: u64| -> Result<u64, String> {
            match v.trim() {
                "" => Ok(default),
                v => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{what} must be a whole number above 0, not “{v}”")),
            }
        };
        match name {
            "budget" => params.push(format!(
                "total={}",
                num(&f.total, "the budget total", 1000)?
            )),
            "dot" => params.push(format!("dots={}", num(&f.dots, "the points per voter", 5)?)),
            _ => {}
        }
        match f.quorum.trim() {
            "" | "0" | "none" => {}
            q => params.push(format!("quorum={q}")),
        }
        if params.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{}", params.join(","))
        }
    };
    // Canonical form, so the node accepts exactly what is shown.
    Method::parse(&text)
        .map(|m| m.to_text())
        .map_err(|e| e.to_string())
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

async fn propose(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<ProposeForm>,
) -> Response {
    let back = back_url(&g, None, "/new");
    let op = match propose_op(&g, &f) {
        Ok(op) => op,
        Err(e) => {
            me.flash(&app, Flash::error(format!("{e}. Nothing was proposed.")));
            return crate::pages::go(&back);
        }
    };
    let g2 = g.clone();
    act_then(&app, &me, op, &back, move |v| {
        let id = v["id"].as_str().unwrap_or_default();
        let to = if id.is_empty() {
            format!("/g/{g2}/decisions")
        } else {
            format!("/g/{g2}/decisions/{id}")
        };
        (Flash::ok("Proposed."), to)
    })
    .await
}

async fn vote(
    State(app): State<App>,
    me: Me,
    Path((g, p)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let back = back_url(&g, Some(&p), "");
    let v = match read(
        &app,
        &me,
        Query::Proposal {
            group: g.clone(),
            proposal: p.clone(),
        },
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let method = v["method"].as_str().unwrap_or_default();
    let text = ballot::ballot_text_within(method, &options_of(&v), &form, v["credits"].as_u64());
    let ballot = match text {
        Ok(b) => b,
        Err(e) => {
            me.flash(&app, Flash::error(format!("{e}. Your vote was not sent.")));
            return crate::pages::go(&back);
        }
    };
    let reason = form
        .iter()
        .rev()
        .find(|(k, _)| k == ballot::REASON)
        .map(|(_, r)| r.trim().to_string())
        .unwrap_or_default();
    let op = Op::Vote {
        group: g,
        proposal: p,
        ballot,
        reason,
    };
    act(&app, &me, op, &back, |_| {
        "Your vote was recorded. You can change it until voting closes.".into()
    })
    .await
}

async fn open(State(app): State<App>, me: Me, Path((g, p)): Path<(String, String)>) -> Response {
    let back = back_url(&g, Some(&p), "");
    let op = Op::OpenVoting {
        group: g,
        proposal: p,
    };
    act(&app, &me, op, &back, |_| "Voting is open.".into()).await
}

async fn withdraw(
    State(app): State<App>,
    me: Me,
    Path((g, p)): Path<(String, String)>,
) -> Response {
    let back = back_url(&g, Some(&p), "");
    let op = Op::Withdraw {
        group: g,
        proposal: p,
    };
    act(&app, &me, op, &back, |_| "Withdrawn.".into()).await
}

async fn close(State(app): State<App>, me: Me, Path((g, p)): Path<(String, String)>) -> Response {
    let back = back_url(&g, Some(&p), "");
    let op = Op::Close {
        group: g,
        proposal: p,
    };
    act(&app, &me, op, &back, |v| match result_line(v) {
        Some(r) => format!("Closed: {r}."),
        None => "Closed.".into(),
    })
    .await
}

/// The revise form's fields.
#[derive(Deserialize, Debug, Default)]
pub struct ReviseForm {
    /// New title.
    #[serde(default)]
    pub title: String,
    /// New body.
    #[serde(default)]
    pub body: String,
    /// New options, one per line (absent for fixed-choice methods).
    #[serde(default)]
    pub options: Option<String>,
}

async fn revise(
    State(app): State<App>,
    me: Me,
    Path((g, p)): Path<(String, String)>,
    Form(f): Form<ReviseForm>,
) -> Response {
    let back = back_url(&g, Some(&p), "");
    if f.title.trim().is_empty() {
        me.flash(
            &app,
            Flash::error("A proposal needs a title. Nothing was changed."),
        );
        return crate::pages::go(&back);
    }
    let op = Op::Revise {
        group: g,
        proposal: p,
        title: Some(f.title.trim().to_string()),
        body: Some(f.body.trim_end().to_string()),
        options: f.options.as_deref().map(lines),
    };
    act(&app, &me, op, &back, |_| "Revised.".into()).await
}

/// The delegate form's fields.
#[derive(Deserialize, Debug, Default)]
pub struct DelegateForm {
    /// A member's `did:key`, `nobody`, or empty to clear the delegation at this scope.
    #[serde(default)]
    pub to: String,
    /// Only for this topic.
    #[serde(default)]
    pub topic: String,
    /// Only for this proposal (its id).
    #[serde(default)]
    pub proposal: String,
}

/// The [`Op::Delegate`] a delegate form asks for.
pub fn delegate_op(group: &str, f: &DelegateForm) -> Result<Op, String> {
    let topic = Some(f.topic.trim().to_string()).filter(|t| !t.is_empty());
    let proposal = Some(f.proposal.trim().to_string()).filter(|t| !t.is_empty());
    if topic.is_some() && proposal.is_some() {
        return Err("delegate either for a topic or for one proposal, not both".into());
    }
    let to = f.to.trim();
    let (to, nobody) = match to {
        "" => (None, false),
        "nobody" => (None, true),
        d => (Some(d.to_string()), false),
    };
    Ok(Op::Delegate {
        group: group.to_string(),
        to,
        topic,
        proposal,
        nobody,
    })
}

async fn delegate(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    Form(f): Form<DelegateForm>,
) -> Response {
    let back = match f.proposal.trim() {
        "" => back_url(&g, None, "#delegate"),
        p => back_url(&g, Some(p), "#delegate"),
    };
    let op = match delegate_op(&g, &f) {
        Ok(op) => op,
        Err(e) => {
            me.flash(&app, Flash::error(format!("{e}. Nothing was changed.")));
            return crate::pages::go(&back);
        }
    };
    act(&app, &me, op, &back, |v| {
        let target = v["target"].as_str().unwrap_or_default();
        let scope = v["scope"].as_str().unwrap_or_default();
        match target {
            "inherit" => format!("Delegation cleared for {}.", scope_words(scope)),
            "nobody" => format!("Your weight stays with you for {}.", scope_words(scope)),
            _ => format!("Delegated for {}.", scope_words(scope)),
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// A proposal's options with their costs, from a proposal answer.
pub fn options_of(v: &Value) -> Vec<Opt> {
    let costs = v["costs"].as_array();
    v["options"]
        .as_array()
        .map(|a| {
            a.iter()
                .enumerate()
                .map(|(i, l)| Opt {
                    label: l.as_str().unwrap_or_default().to_string(),
                    cost: costs
                        .and_then(|c| c.get(i))
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn labels_of(v: &Value) -> Vec<String> {
    options_of(v).into_iter().map(|o| o.label).collect()
}

/// "group", "topic “x”", "this proposal" for a scope as the node writes it.
pub fn scope_words(scope: &str) -> String {
    if scope == "group" {
        "everything in the group".into()
    } else if let Some(t) = scope.strip_prefix("topic:") {
        format!("topic “{t}”")
    } else if let Some(p) = scope.strip_prefix("proposal:") {
        format!("proposal {}", p.get(..12).unwrap_or(p))
    } else {
        scope.to_string()
    }
}

/// "closes in 2 h 5 min" / "deadline passed" / "no deadline".
pub fn time_left(deadline: u64, now: u64) -> String {
    if deadline == 0 {
        return "no deadline (the author closes it)".into();
    }
    if deadline <= now {
        return "deadline passed: any voter may close it".into();
    }
    let mins = (deadline - now) / 60_000;
    match (mins / 1440, (mins % 1440) / 60, mins % 60) {
        (0, 0, m) => format!("closes in {m} min"),
        (0, h, m) => format!("closes in {h} h {m} min"),
        (d, h, _) => format!("closes in {d} d {h} h"),
    }
}

/// One line for a certificate's result: passes / winner / funded (from a proposal answer).
pub fn result_line(v: &Value) -> Option<String> {
    let cert = &v["certificate"];
    let o = cert.get("outcome")?;
    let labels = labels_of(v);
    let label = |i: &Value| {
        i.as_u64()
            .and_then(|i| labels.get(i as usize))
            .cloned()
            .unwrap_or_else(|| "?".into())
    };
    if let Some(p) = o["passed"].as_bool() {
        return Some(if p { "passes" } else { "does not pass" }.into());
    }
    let winners: Vec<String> = o["winners"].as_array()?.iter().map(label).collect();
    let budget = cert["method"]
        .as_str()
        .is_some_and(|m| m.starts_with("budget"));
    Some(match (winners.is_empty(), budget) {
        (true, false) => "no winner".into(),
        (true, true) => "nothing funded".into(),
        (false, false) => format!("winner: {}", winners.join(", ")),
        (false, true) => format!("funded: {}", winners.join(", ")),
    })
}

/// The badge of a proposal: its stage, or once closed whether it passed.
fn badge(v: &Value) -> Markup {
    let passed = v["certificate"]["outcome"]["passed"].as_bool();
    let (class, text) = match (v["status"].as_str().unwrap_or_default(), passed) {
        ("discussion", _) => ("badge warn", "in discussion"),
        ("voting", _) => ("badge open", "voting"),
        ("closed", Some(true)) => ("badge open", "passed"),
        ("closed", Some(false)) => ("badge failed", "failed"),
        ("closed", None) => ("badge closed", "decided"),
        ("withdrawn", _) => ("badge", "withdrawn"),
        _ => ("badge", "unknown"),
    };
    html! { span class=(class) { (text) } }
}

/// Where my weight goes on a proposal answer: my own vote, a delegate, or lost.
fn my_weight(cx: &Cx, labels: &Value, v: &Value) -> Option<Markup> {
    let votes = v["votes"].as_array()?;
    if let Some(mine) = votes.iter().find(|x| x["voter"] == cx.me.as_str()) {
        return Some(html! {
            span { "You voted " strong { (mine["ballot"].as_str().unwrap_or_default()) } "." }
        });
    }
    let h = v["holders"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["member"] == cx.me.as_str()));
    match h {
        Some(h) if h["held_by"].is_string() => Some(html! {
            span {
                "Your weight is carried by " (who(labels, h["held_by"].as_str().unwrap_or_default()))
                " (" (h["depth"].as_u64().unwrap_or(1)) " hop(s)); vote yourself to override."
            }
        }),
        Some(h) => Some(html! {
            span class="warn-text" {
                "Your delegation reaches no voter ("
                (h["lost"].as_str().unwrap_or("lost")) "): your weight is lost unless you vote."
            }
        }),
        None if v["status"] == "voting" => Some(html! { span { "You have not voted." } }),
        None => None,
    }
}

/// The list page's content: proposals by stage, my delegations, the delegate form and a
/// link to propose.
pub fn render_list(cx: &Cx, v: &Value) -> Markup {
    let labels = cx.labels(v);
    let mut all = v["proposals"].as_array().cloned().unwrap_or_default();
    // Newest first, by the author's clock; ids break ties so the order is stable.
    all.sort_by(|a, b| {
        let key = |v: &Value| (v["timestamp"].as_u64(), v["id"].as_str().map(str::to_owned));
        key(b).cmp(&key(a))
    });
    let stage = |s: &[&str]| -> Vec<&Value> {
        all.iter()
            .filter(|p| s.contains(&p["status"].as_str().unwrap_or_default()))
            .collect()
    };
    let sections = [
        ("Open for voting", stage(&["voting"])),
        ("In discussion", stage(&["discussion"])),
        ("Decided", stage(&["closed"])),
        ("Withdrawn", stage(&["withdrawn"])),
    ];
    html! {
        div class="row-between" {
            h1 { "Decisions" }
            a class="button" href={(cx.base()) "/new"} { "New proposal" }
        }
        div data-live="decisions" {
            @if all.is_empty() { (empty("No proposals yet. Put a question to the group with “New proposal”.")) }
            @for (title, items) in &sections {
                @if !items.is_empty() {
                    section class="decisions-stage" {
                        h2 { (title) " " span class="muted" { "(" (items.len()) ")" } }
                        @for p in items { (list_item(cx, labels, p)) }
                    }
                }
            }
        }
        section class="card" id="delegate" {
            h2 { "Who holds my weight" }
            div data-live="delegations" { (delegations(cx, labels, v)) }
            (delegate_form(cx, labels, None))
        }
        details class="card" {
            summary { "Propose something" }
            (render_new(cx))
        }
    }
}

fn list_item(cx: &Cx, labels: &Value, p: &Value) -> Markup {
    let id = p["id"].as_str().unwrap_or_default();
    let status = p["status"].as_str().unwrap_or_default();
    let deadline = p["deadline"].as_u64().unwrap_or(0);
    let votes = p["votes"].as_array().map_or(0, Vec::len);
    html! {
        article class="card proposal-item" {
            div class="row-between" {
                a class="proposal-title" href={(cx.base()) "/" (id)} { (p["title"].as_str().unwrap_or("(untitled)")) }
                (badge(p))
            }
            div class="meta" {
                span { "by " (who(labels, p["author"].as_str().unwrap_or_default())) }
                span { (method_name(p["method"].as_str().unwrap_or_default())) }
                @if status != "discussion" { span { (votes) " vote" @if votes != 1 { "s" } } }
                @if status == "voting" { span { (time_left(deadline, cx.now)) } }
                @if let Some(t) = p["topic"].as_str().filter(|t| !t.is_empty()) { span class="badge" { "topic: " (t) } }
            }
            @if let Some(r) = result_line(p).filter(|_| status == "closed") {
                div { strong { (r) } }
            }
            @if status == "voting" {
                @if let Some(m) = my_weight(cx, labels, p) { div class="hint" { (m) } }
            }
        }
    }
}

/// A method's name for people, from its text (`score:min=1,max=10` → "Score (1–10)").
pub fn method_name(text: &str) -> String {
    let Ok(m) = Method::parse(text) else {
        return text.to_string();
    };
    use dualpower_core::decision::MethodKind as K;
    let base = match &m.kind {
        K::Majority { threshold } if threshold.to_string() == "1/2" => "Majority".to_string(),
        K::Majority { threshold } => format!("Majority of {threshold}"),
        K::Consent => "Consent".into(),
        K::Plurality => "Plurality".into(),
        K::Approval => "Approval".into(),
        K::Score { min, max } => format!("Score ({min}–{max})"),
        K::Star { min, max } => format!("STAR ({min}–{max})"),
        K::Dot { dots } => format!("Dot voting ({dots} points)"),
        K::Quadratic => "Quadratic".into(),
        K::Schulze => "Ranked (Schulze)".into(),
        K::Irv => "Ranked choice (IRV)".into(),
        K::Budget { total } => format!("Budget ({total})"),
    };
    if m.quorum.is_zero() {
        base
    } else {
        format!("{base}, quorum {}", m.quorum)
    }
}

fn delegations(cx: &Cx, labels: &Value, v: &Value) -> Markup {
    let empty_list = Vec::new();
    let all = v["delegations"].as_array().unwrap_or(&empty_list);
    let mine: Vec<&Value> = all
        .iter()
        .filter(|d| d["member"] == cx.me.as_str())
        .collect();
    let to_me: Vec<&Value> = all
        .iter()
        .filter(|d| d["target"] == cx.me.as_str())
        .collect();
    // Where my weight is carried on open proposals (chains included), from their holders.
    let carried: Vec<(&Value, &Value)> = v["proposals"]
        .as_array()
        .unwrap_or(&empty_list)
        .iter()
        .filter(|p| p["status"] == "voting")
        .filter_map(|p| {
            p["holders"]
                .as_array()?
                .iter()
                .find(|h| h["member"] == cx.me.as_str())
                .map(|h| (p, h))
        })
        .collect();
    let target = |t: &str| -> Markup {
        match t {
            "nobody" => html! { "nobody (you vote yourself)" },
            "inherit" => html! { "as the wider scope says" },
            d => html! { (who(labels, d)) },
        }
    };
    html! {
        @if mine.is_empty() {
            p class="muted" { "You have not delegated: your weight counts only when you vote." }
        } @else {
            ul {
                @for d in &mine {
                    li { "For " (scope_words(d["scope"].as_str().unwrap_or_default())) ": " (target(d["target"].as_str().unwrap_or_default())) }
                }
            }
        }
        @if !carried.is_empty() {
            ul {
                @for (p, h) in &carried {
                    li {
                        a href={(cx.base()) "/" (p["id"].as_str().unwrap_or_default())} { (p["title"].as_str().unwrap_or_default()) } ": "
                        @match h["held_by"].as_str() {
                            Some(by) => { "carried by " (who(labels, by)) }
                            None => { "lost (" (h["lost"].as_str().unwrap_or("no voter")) ")" }
                        }
                    }
                }
            }
        }
        @if !to_me.is_empty() {
            p {
                "Trusting you: "
                @for (i, d) in to_me.iter().enumerate() {
                    @if i > 0 { ", " }
                    (who(labels, d["member"].as_str().unwrap_or_default()))
                    " (" (scope_words(d["scope"].as_str().unwrap_or_default())) ")"
                }
            }
        }
    }
}

/// The delegate form: to a member, to nobody, or clear; for the group, a topic, or (with
/// `proposal`) only that proposal.
fn delegate_form(cx: &Cx, labels: &Value, proposal: Option<&str>) -> Markup {
    let l = |d: &str| layout::label(labels, d);
    html! {
        form method="post" action={(cx.base()) "/delegate"} class="stack" {
            (cx.csrf())
            label for="delegate-to" { "Let someone carry my weight" }
            select id="delegate-to" name="to" {
                option value="" { "— clear (use the wider scope) —" }
                option value="nobody" { "Nobody: only my own votes count" }
                @for m in cx.members.iter().filter(|m| **m != cx.me) {
                    option value=(m) { (l(m)) }
                }
            }
            @match proposal {
                Some(p) => { input type="hidden" name="proposal" value=(p); p class="hint" { "Only for this proposal. Voting yourself always overrides a delegation." } }
                None => {
                    label for="delegate-topic" { "Topic (empty: everything in the group)" }
                    input id="delegate-topic" name="topic" maxlength="100" placeholder="e.g. repairs";
                }
            }
            @if !cx.suggested.is_empty() {
                p class="hint" {
                    "Trusted most for their work (by reputation; it never weighs a vote): "
                    @for (i, k) in cx.suggested.iter().enumerate() {
                        @if i > 0 { ", " }
                        (layout::who(labels, k))
                    }
                }
            }
            div { button type="submit" class="secondary" { "Save delegation" } }
        }
    }
}

/// The new-proposal form.
pub fn render_new(cx: &Cx) -> Markup {
    html! {
        form method="post" action=(cx.base()) class="stack new-proposal" {
            (cx.csrf())
            label for="np-title" { "Title" }
            input id="np-title" name="title" required maxlength="200" placeholder="e.g. Fix the boiler before winter";
            label for="np-body" { "What and why" }
            textarea id="np-body" name="body" {}
            label for="np-method" { "How the group decides" }
            select id="np-method" name="method" {
                @for (i, (m, l)) in METHODS.iter().enumerate() {
                    option value=(m) selected[i == 0] { (l) }
                }
            }
            label for="np-options" { "Options, one per line" }
            textarea id="np-options" name="options" placeholder="Not needed for majority or consent.\nFor a budget: label=cost, e.g. New roof=800" {}
            div class="grid2" {
                div class="stack" {
                    label for="np-total" { "Budget total (budget)" }
                    input id="np-total" name="total" type="number" min="1" value="1000";
                }
                div class="stack" {
                    label for="np-dots" { "Points per voter (dot voting)" }
                    input id="np-dots" name="dots" type="number" min="1" value="5";
                }
                div class="stack" {
                    label for="np-quorum" { "Quorum (share of members who must take part)" }
                    select id="np-quorum" name="quorum" {
                        option value="" { "none" }
                        option value="1/4" { "a quarter" }
                        option value="1/3" { "a third" }
                        option value="1/2" { "half" }
                        option value="2/3" { "two thirds" }
                    }
                }
                div class="stack" {
                    label for="np-deadline" { "Deadline in hours (0 = none: you close it)" }
                    input id="np-deadline" name="deadline_hours" type="number" min="0" step="any" value="72";
                }
            }
            @if !cx.roles.is_empty() {
                label for="np-electorate" { "Who votes" }
                select id="np-electorate" name="electorate" {
                    option value="members" selected { "All members" }
                    @for r in &cx.roles {
                        option value={"role:" (r)} { "Only members with the role “" (r) "”" }
                    }
                }
            }
            label for="np-tasks" { "Tasks this proposal creates if it passes (optional), one per line" }
            textarea id="np-tasks" name="tasks" aria-describedby="np-tasks-hint" placeholder="e.g. Fix the boiler;slots=2;domain=logistics;due=7" {}
            p class="hint" id="np-tasks-hint" { "TITLE;slots=N;domain=D;due=DAYS (slots, domain and due may be left out). A proposal with tasks is decided by every member, by the group's method for votes (see the rules), whatever is chosen above." }
            label for="np-topic" { "Topic (for topic delegations; optional)" }
            input id="np-topic" name="topic" maxlength="100";
            label { input type="checkbox" name="discuss" value="1"; " Start with a discussion phase (you open voting when ready; you can revise until then)" }
            details {
                summary { "Type the method yourself" }
                label for="np-method-text" { "Method (overrides the choice above), e.g. score:min=1,max=10,quorum=1/2" }
                input id="np-method-text" name="method_text" maxlength="200";
            }
            div { button type="submit" { "Propose" } }
        }
    }
}

/// The proposal page's content.
pub fn render_proposal(cx: &Cx, v: &Value) -> Markup {
    let labels = cx.labels(v);
    let id = v["id"].as_str().unwrap_or_default();
    let status = v["status"].as_str().unwrap_or_default();
    let author = v["author"].as_str().unwrap_or_default();
    let mine = author == cx.me;
    let deadline = v["deadline"].as_u64().unwrap_or(0);
    let method = v["method"].as_str().unwrap_or_default();
    let opts = options_of(v);
    let here = format!("{}/{id}", cx.base());
    let fixed = Method::parse(method)
        .map(|m| m.fixed_options().is_some())
        .unwrap_or(false);
    let budget = method.starts_with("budget");
    html! {
        p { a href=(cx.base()) { "← Decisions" } }
        article class="card proposal" {
            div class="row-between" {
                h1 { (v["title"].as_str().unwrap_or("(untitled)")) }
                (badge(v))
            }
            div class="meta" {
                span { "proposed by " (who(labels, author)) }
                (when(v["timestamp"].as_u64().unwrap_or(0)))
                @if v["text"] != v["id"] { span class="badge" { "revised" } }
            }
            @if let Some(b) = v["body"].as_str().filter(|b| !b.trim().is_empty()) {
                p { (text(b)) }
            }
            dl class="facts" {
                dt { "Method" } dd { (method_name(method)) " " code { (method) } }
                dt { "Who votes" } dd { (electorate_words(v["electorate"].as_str().unwrap_or("members"))) }
                dt { "Deadline" } dd {
                    @match (deadline, status) {
                        (0, _) => { "none (the author closes it)" }
                        (d, "voting") => { (when(d)) " — " (time_left(d, cx.now)) }
                        (d, _) => { (when(d)) }
                    }
                }
                @if let Some(t) = v["topic"].as_str().filter(|t| !t.is_empty()) {
                    dt { "Topic" } dd { (t) }
                }
                @if let Some(a) = v["enacts"].as_str() {
                    dt { "If it passes" } dd { "closing it will " strong { (a) } }
                }
                @if let Some(e) = v["enactment"].as_str() {
                    dt { "What happened" } dd { (e) }
                }
            }
            @if !fixed && !opts.is_empty() {
                h2 { "Options" }
                ol class="options" {
                    @for o in &opts {
                        li { (o.label) @if budget { " " span class="badge" { "costs " (o.cost) } } }
                    }
                }
            }
        }
        @if status == "voting" {
            section class="card" id="vote" {
                h2 { "Your vote" }
                @if let Some(m) = my_weight(cx, labels, v) { p class="hint" { (m) } }
                form method="post" action={(here) "/vote"} class="stack ballot-form" {
                    (cx.csrf())
                    (ballot::ballot_fields(method, &opts, v["credits"].as_u64(), &current_vote(cx, v)))
                    label for="reason" {
                        "Reason " span class="hint" {
                            @if method.starts_with("consent") { "(required for a block; members see it)" } @else { "(optional; members see it)" }
                        }
                    }
                    textarea id="reason" name=(ballot::REASON) maxlength="2000" {}
                    div class="buttons" {
                        button type="submit" { "Vote" }
                        " "
                        button type="submit" class="secondary" name=(ballot::ABSTAIN) value="1" formnovalidate { "Abstain" }
                    }
                    p class="hint" { "You can vote again until voting closes: your latest vote counts." }
                }
            }
        }
        div data-live={"proposal-" (id)} {
            (count_section(cx, labels, v))
        }
        @if matches!(status, "discussion" | "voting") {
            section class="card actions" {
                h2 { "Actions" }
                div class="buttons" {
                    @if mine && status == "discussion" {
                        form method="post" action={(here) "/open"} class="inline" {
                            (cx.csrf())
                            button type="submit" { "Open voting" }
                        }
                    }
                    @if status == "voting" && (mine || (deadline > 0 && deadline <= cx.now)) {
                        form method="post" action={(here) "/close"} class="inline" {
                            (cx.csrf())
                            button type="submit" { "Close and count" }
                        }
                    }
                    @if mine {
                        form method="post" action={(here) "/withdraw"} class="inline" {
                            (cx.csrf())
                            button type="submit" class="secondary" { "Withdraw" }
                        }
                    }
                }
                @if status == "voting" && !mine && !(deadline > 0 && deadline <= cx.now) {
                    p class="hint" {
                        @if deadline == 0 { "Only the author closes a proposal without a deadline." }
                        @else { "Any voter may close it once the deadline has passed." }
                    }
                }
                @if mine && status == "discussion" {
                    details {
                        summary { "Revise" }
                        form method="post" action={(here) "/revise"} class="stack" {
                            (cx.csrf())
                            label for="rv-title" { "Title" }
                            input id="rv-title" name="title" required maxlength="200" value=(v["title"].as_str().unwrap_or_default());
                            label for="rv-body" { "What and why" }
                            textarea id="rv-body" name="body" { (v["body"].as_str().unwrap_or_default()) }
                            @if !fixed {
                                label for="rv-options" { "Options, one per line" @if budget { " (label=cost)" } }
                                textarea id="rv-options" name="options" {
                                    @for (i, o) in opts.iter().enumerate() {
                                        @if i > 0 { "\n" }
                                        (o.label) @if budget { "=" (o.cost) }
                                    }
                                }
                            }
                            div { button type="submit" { "Save revision" } }
                        }
                    }
                }
            }
        }
        @if matches!(status, "discussion" | "voting") && Method::parse(method).is_ok_and(|m| m.allows_delegation()) {
            section class="card" id="delegate" {
                h2 { "Delegate for this proposal" }
                (delegate_form(cx, labels, Some(id)))
            }
        }
    }
}

/// My standing vote on a proposal answer as ballot form fields (empty if I have not voted).
fn current_vote(cx: &Cx, v: &Value) -> Vec<(String, String)> {
    v["votes"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["voter"] == cx.me.as_str()))
        .and_then(|x| x["ballot"].as_str())
        .map(|words| {
            ballot::prefill(
                v["method"].as_str().unwrap_or_default(),
                &labels_of(v),
                words,
            )
        })
        .unwrap_or_default()
}

fn electorate_words(e: &str) -> String {
    match e.strip_prefix("role:") {
        Some(r) => format!("members with the role “{r}”"),
        None => "all members".into(),
    }
}

/// The live part of a proposal: votes, weight holders, and the (provisional or final) count
/// with its chart and certificate.
fn count_section(cx: &Cx, labels: &Value, v: &Value) -> Markup {
    let empty_list = Vec::new();
    let status = v["status"].as_str().unwrap_or_default();
    let votes = v["votes"].as_array().unwrap_or(&empty_list);
    let holders = v["holders"].as_array().unwrap_or(&empty_list);
    let cert = &v["certificate"];
    html! {
        @if status != "discussion" {
            section class="card votes-card" {
                h2 { (votes.len()) " vote" @if votes.len() != 1 { "s" } }
                @if !votes.is_empty() {
                    table class="votes" {
                        thead { tr { th { "Member" } th { "Ballot" } th { "Reason" } } }
                        tbody {
                            @for x in votes {
                                tr {
                                    td { (who(labels, x["voter"].as_str().unwrap_or_default())) }
                                    td { (x["ballot"].as_str().unwrap_or_default()) }
                                    td { (x["reason"].as_str().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
                @if !holders.is_empty() {
                    h3 { "Delegated weight" }
                    ul class="holders" {
                        @for h in holders {
                            li {
                                (who(labels, h["member"].as_str().unwrap_or_default()))
                                @match h["held_by"].as_str() {
                                    Some(by) => { " → carried by " (who(labels, by)) }
                                    None => { " — lost (" (h["lost"].as_str().unwrap_or("no voter")) ")" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if cert.is_object() {
            (result_section(cx, labels, v))
        }
    }
}

/// The bars of a certificate's figures, winners highlighted.
pub fn chart_bars(v: &Value) -> Vec<chart::Bar> {
    let o = &v["certificate"]["outcome"];
    let labels = labels_of(v);
    let winners: Vec<u64> = o["winners"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let passed = o["passed"].as_bool();
    o["figures"]
        .as_array()
        .map(|f| {
            f.iter()
                .enumerate()
                .map(|(i, x)| {
                    let label = labels
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("#{}", i + 1));
                    // Majority and consent name no winner; the first option (yes / agree) is
                    // highlighted when it passed.
                    let win = winners.contains(&(i as u64)) || (passed == Some(true) && i == 0);
                    chart::Bar {
                        label,
                        value: x.as_i64().unwrap_or(0),
                        win,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn result_section(cx: &Cx, labels: &Value, v: &Value) -> Markup {
    let cert = &v["certificate"];
    let o = &cert["outcome"];
    let closed = v["status"] == "closed";
    let id = v["id"].as_str().unwrap_or_default();
    let bars = chart_bars(v);
    let rounds: Vec<Vec<i64>> = o["rounds"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| {
                    x.as_array()
                        .map(|a| a.iter().map(|n| n.as_i64().unwrap_or(-1)).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let winner = o["winners"]
        .as_array()
        .and_then(|w| w.first())
        .and_then(Value::as_u64)
        .map(|w| w as usize);
    let att = &v["attestations"];
    let empty_list = Vec::new();
    let agree = att["agree"].as_array().unwrap_or(&empty_list);
    let differ = att["differ"].as_array().unwrap_or(&empty_list);
    let late = v["late"].as_array().map_or(0, Vec::len);
    html! {
        section class="card result" {
            h2 { @if closed { "Result" } @else { "Count so far (provisional)" } }
            @if let Some(r) = result_line(v) {
                p class="result-line" {
                    @if !closed { "If it closed now: " }
                    strong { (r) }
                    @if o["tie"] == true { " " span class="hint" { "(a tie, broken by option hash)" } }
                }
            }
            @if o["quorum_met"] == false { p class="flash error" { "Quorum not met: too few took part." } }
            @if !bars.is_empty() {
                figure class="chart-box" {
                    (layout::svg(chart::bars(if closed { "Result per option" } else { "Count so far per option" }, &bars)))
                    figcaption class="hint" { (figures_caption(cert["method"].as_str().unwrap_or_default())) }
                }
            }
            @if !bars.is_empty() {
                details class="numbers" {
                    summary { "The numbers" }
                    table {
                        thead { tr { th { "Option" } th { "Figure" } } }
                        tbody {
                            @for b in &bars {
                                tr { td { (b.label) @if b.win { " ★" } } td { (b.value) } }
                            }
                        }
                    }
                    (pairwise(v))
                }
            }
            @if !rounds.is_empty() {
                figure class="chart-box" {
                    (layout::svg(chart::rounds(&labels_of(v), &rounds, winner)))
                    figcaption class="hint" {
                        "Each round the option with the fewest votes is eliminated and its ballots move to their next choice."
                        @if o["exhausted"].as_u64().unwrap_or(0) > 0 { " Ballots with no remaining choice: " (o["exhausted"]) "." }
                    }
                }
            }
            p class="meta" {
                span { "took part: " (o["participation"]) " of " (cert["electorate"]) }
                span { "abstained: " (o["abstained"]) }
                span { "voted directly: " (cert["voters"]) }
                span { "delegated: " (cert["delegated"]) }
                @if cert["lost"].as_array().is_some_and(|l| !l.is_empty()) { span { "weight lost: " (cert["lost"].as_array().map_or(0, Vec::len)) } }
                @if cert["void"].as_array().is_some_and(|l| !l.is_empty()) { span { "void votes: " (cert["void"].as_array().map_or(0, Vec::len)) } }
                @if o["spent"].as_u64().unwrap_or(0) > 0 { span { "spent: " (o["spent"]) } }
            }
            @if late > 0 { p class="hint" { (late) " vote(s) arrived after the close and do not count." } }
            @if v["closes"].as_array().is_some_and(|c| c.len() > 1) { p class="hint" { "Closed concurrently by more than one member; the first close counts." } }
            @if closed {
                details class="certificate" open[!differ.is_empty()] {
                    summary { "Certificate " code { (cert["digest"].as_str().map(|d| d.get(..16).unwrap_or(d)).unwrap_or_default()) "…" } }
                    p class="code" { (cert["digest"].as_str().unwrap_or_default()) }
                    p class="hint" { "Method " code { (cert["method"].as_str().unwrap_or_default()) } ", rules " code { (cert["version"].as_str().unwrap_or_default()) } ". Every member's node that counts the same votes gets the same digest and co-signs it." }
                    @if agree.is_empty() {
                        p class="muted" { "No co-signatures yet." }
                    } @else {
                        p { "Co-signed by " (agree.len()) ": "
                            @for (i, a) in agree.iter().enumerate() {
                                @if i > 0 { ", " }
                                (who(labels, a.as_str().unwrap_or_default()))
                            }
                        }
                    }
                    @if !differ.is_empty() {
                        p class="flash error" {
                            (differ.len()) " member(s) computed a DIFFERENT certificate: "
                            @for (i, d) in differ.iter().enumerate() {
                                @if i > 0 { ", " }
                                (who(labels, d["member"].as_str().unwrap_or_default()))
                                " (" code { (d["digest"].as_str().map(|x| x.get(..16).unwrap_or(x)).unwrap_or_default()) } ")"
                            }
                            ". Their nodes saw different votes or different rules; compare with “Verify”."
                        }
                    }
                    p { a href={(cx.base()) "/" (id) "/verify"} { "Verify this tally from the stored events" } }
                }
            }
        }
    }
}

/// Schulze's pairwise table: how much weight prefers the row's option to the column's, with
/// "no change" (the status quo) as the last row and column. Empty for other methods.
fn pairwise(v: &Value) -> Markup {
    let matrix: Vec<Vec<u64>> = v["certificate"]["outcome"]["matrix"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|r| {
                    r.as_array()
                        .map(|r| r.iter().map(|n| n.as_u64().unwrap_or(0)).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut names = labels_of(v);
    names.push("no change".into());
    if matrix.is_empty() || matrix.len() != names.len() {
        return html! {};
    }
    html! {
        table class="pairwise" {
            caption { "Weight preferring the row to the column" }
            thead { tr { th {} @for n in &names { th scope="col" { (n) } } } }
            tbody {
                @for (a, row) in matrix.iter().enumerate() {
                    tr {
                        th scope="row" { (names[a]) }
                        @for (b, n) in row.iter().enumerate() {
                            td { @if a == b { "–" } @else { (n) } }
                        }
                    }
                }
            }
        }
    }
}

/// What the figures of a method's chart mean.
fn figures_caption(method: &str) -> &'static str {
    match method.split(':').next().unwrap_or_default() {
        "majority" | "consent" | "plurality" | "approval" => "Weight per choice.",
        "score" => "Total score per option.",
        "star" => "Total score per option (the top two then go to a runoff).",
        "dot" => "Points per option.",
        "quadratic" => "Net votes per option (negative: against).",
        "schulze" => "Schulze strength per option.",
        "irv" => "Votes per option in the final round.",
        "budget" => "Approvals per option; funded options are highlighted.",
        _ => "Per option.",
    }
}

/// The verify page: the certificate recomputed from every stored event, compared with the one
/// the proposal page shows.
pub fn render_verify(cx: &Cx, shown: &Value, v: &Value) -> Markup {
    let labels = cx.labels(shown);
    let id = shown["id"].as_str().unwrap_or_default();
    let digest = v["digest"].as_str().unwrap_or_default();
    let shown_digest = shown["certificate"]["digest"].as_str();
    let same = shown_digest == Some(digest);
    let att = &v["attestations"];
    let empty_list = Vec::new();
    let agree = att["agree"].as_array().unwrap_or(&empty_list);
    let differ = att["differ"].as_array().unwrap_or(&empty_list);
    html! {
        p { a href={(cx.base()) "/" (id)} { "← " (shown["title"].as_str().unwrap_or("Proposal")) } }
        h1 { "Verify the tally" }
        section class="card" {
            p {
                "Recounted from " strong { (v["events_verified"]) } " stored events, each re-verified from its bytes and signature. "
                @if v["final"] == true { "The proposal is closed: this is the final certificate." }
                @else { "The proposal is not closed: this is a provisional count." }
            }
            p { "Digest:" }
            p class="code" { (digest) }
            @if same {
                p class="flash ok" { "✓ It matches the certificate the proposal page shows." }
            } @else {
                p class="flash error" {
                    "✗ It differs from the certificate the proposal page shows ("
                    code { (shown_digest.unwrap_or("none")) }
                    "). The stored events and the derived state disagree: report this."
                }
            }
            @if let Some(r) = result_line(&serde_json::json!({ "certificate": v["certificate"], "options": shown["options"] })) {
                p { "Result: " strong { (r) } }
            }
            p { (agree.len()) " member(s) co-signed this digest"
                @if !agree.is_empty() { ": " }
                @for (i, a) in agree.iter().enumerate() {
                    @if i > 0 { ", " }
                    (who(labels, a.as_str().unwrap_or_default()))
                }
                "."
            }
            @if !differ.is_empty() {
                p class="flash error" { (differ.len()) " member(s) signed a different digest." }
            }
        }
    }
}

#[cfg(test)]
mod tests;
