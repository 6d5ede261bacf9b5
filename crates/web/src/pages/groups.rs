//! The home page: the member's groups, joins in flight, and the forms to create a group or join
//! one with an invite code (pasted, or scanned with the camera where the browser can).

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dualpower_node::ops::{ConstitutionArgs, Op};
use maud::{Markup, html};
use serde::Deserialize;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Flash, Place, Viewer, csrf};
use crate::pages::anonymity::Anonymity;
use crate::pages::{act_then, empty};

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(index))
        .route("/groups", post(create))
        .route("/join", post(join))
}

async fn index(State(app): State<App>, me: Me) -> Response {
    let groups = app.groups().await;
    let status = app.handle().status().await;
    let joins = status.as_ref().map(|s| s.joins.clone()).unwrap_or_default();
    let member_of = |hex: &str| {
        status
            .as_ref()
            .and_then(|s| s.groups.iter().find(|g| g.group == hex))
            .is_none_or(|g| g.member)
    };
    let body = html! {
        h1 { "Your groups" }
        div data-live="groups" {
            @if groups.is_empty() && joins.is_empty() {
                (empty("No groups yet. Create one below, or join one with an invite code someone gave you."))
            }
            @for g in &groups {
                @let hex = g.id.to_hex();
                a class="card tile" href={"/g/" (hex)} {
                    strong { (g.name) }
                    div class="meta" {
                        span { (g.events) " events" }
                        @if !member_of(&hex) { span class="badge warn" { "not a member" } }
                        @let anonymity = Anonymity::of(status.as_ref(), &hex);
                        @if anonymity.cut_off() {
                            span class="badge warn" { "not syncing: needs anonymous mode" }
                        } @else if anonymity.required {
                            span class="badge" { "anonymous mode" }
                        }
                    }
                }
            }
            @for j in joins.iter().filter(|j| j.state != "admitted") {
                div class="card" {
                    strong { "Joining…" }
                    div class="meta" {
                        span class="badge warn" { (j.state) }
                        @if let Some(a) = &j.admission { span { "admission: " (a) } }
                        @if j.needed > 1 { span { (j.vouches) " of " (j.needed) " vouches" } }
                    }
                    @if let Some(r) = &j.refused { p class="flash error" { (r.reason) } }
                    @else if j.state == "unanswered" {
                        p class="hint" { "Waiting for a member's node to answer. It can take a moment; \
                            the member who invited you must have their node running." }
                    } @else if j.state == "waiting" {
                        p class="hint" { "The group has your request; its members decide." }
                    }
                }
            }
        }
        div class="grid2" {
            section class="card" {
                h2 { "Join a group" }
                form method="post" action="/join" class="stack" {
                    (csrf(&me))
                    label for="code" { "Invite code" }
                    textarea id="code" name="code" required placeholder="Paste the code you were given" {}
                    button type="button" id="scan" class="secondary" hidden { "Scan a QR code" }
                    video id="scan-video" hidden muted playsinline {}
                    button type="submit" { "Join" }
                }
            }
            (create_form(&me))
        }
    };
    layout::page(&me, "Groups", Place::Groups, body).into_response()
}

/// The form that creates a group.
fn create_form(me: &impl Viewer) -> Markup {
    html! {
        section class="card" {
            h2 { "Create a group" }
            form method="post" action="/groups" class="stack" {
                (csrf(me))
                label for="name" { "Name" }
                input id="name" name="name" required maxlength="200" placeholder="e.g. Elm Street Tenants";
                label for="admission" { "How do newcomers get in?" }
                select id="admission" name="admission" {
                    option value="invite" { "Anyone with an invite" }
                    option value="vouches:2" { "Two members vouch" }
                    option value="vote" { "The group votes" }
                }
                label for="method" { "How are decisions taken?" }
                select id="method" name="vote_method" {
                    option value="" { "Majority (default)" }
                    option value="majority:threshold=2/3" { "Two-thirds majority" }
                    option value="consent" { "Consent (anyone may block)" }
                }
                label { input type="checkbox" name="history" value="true" checked; " Newcomers read the group's past posts" }
                label {
                    input type="checkbox" id="anonymous-only" name="anonymous_only" value="true" aria-describedby="anonymous-only-hint";
                    " Members must use anonymous mode (I2P)"
                }
                p class="hint" id="anonymous-only-hint" {
                    "No member's IP address is revealed to the others. Every member must run "
                    code { "dualpower serve --anonymous" }
                    "; a node not in that mode will not sync this group."
                }
                button type="submit" { "Create group" }
            }
        }
    }
}

#[derive(Deserialize)]
struct CreateForm {
    name: String,
    #[serde(default)]
    admission: String,
    #[serde(default)]
    vote_method: String,
    #[serde(default)]
    history: Option<String>,
    #[serde(default)]
    anonymous_only: Option<String>,
}

/// The operation the create form asks for. Anonymous mode is set only when ticked: left unset,
/// the constitution keeps the bytes it had before the rule existed.
fn create_op(f: CreateForm) -> Op {
    let nonempty = |s: String| (!s.trim().is_empty()).then_some(s);
    Op::Create {
        name: f.name,
        constitution: ConstitutionArgs {
            admission: nonempty(f.admission),
            vote_method: nonempty(f.vote_method),
            history: Some(f.history.is_some()),
            anonymous_only: f.anonymous_only.is_some().then_some(true),
            ..Default::default()
        },
    }
}

async fn create(State(app): State<App>, me: Me, axum::Form(f): axum::Form<CreateForm>) -> Response {
    let op = create_op(f);
    act_then(&app, &me, op, "/", |v| {
        let g = v["group"].as_str().unwrap_or_default();
        (
            Flash::ok("Group created. Invite people from its Members page."),
            format!("/g/{g}"),
        )
    })
    .await
}

#[derive(Deserialize)]
struct JoinForm {
    code: String,
}

async fn join(State(app): State<App>, me: Me, axum::Form(f): axum::Form<JoinForm>) -> Response {
    let op = Op::Join {
        code: f.code.trim().to_string(),
    };
    act_then(&app, &me, op, "/", |_| {
        (
            Flash::ok(
                "Join sent. Your node is asking the group's members; this page shows when you are in.",
            ),
            "/".to_string(),
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use dualpower_node::query::Query;

    use super::*;
    use crate::pages::feed::Reader;
    use crate::pages::test_world::{self, T0};

    fn form(body: &str) -> CreateForm {
        serde_urlencoded::from_str(body).unwrap()
    }

    fn rules(body: &str) -> ConstitutionArgs {
        match create_op(form(body)) {
            Op::Create { constitution, .. } => constitution,
            op => panic!("not a create: {op:?}"),
        }
    }

    /// The create form's checkbox posts `anonymous_only`; ticked, the group's rules require
    /// anonymous mode; unticked, the rule is left unset (not `false`), so the constitution keeps
    /// the bytes it had before the rule existed.
    #[test]
    fn the_create_form_posts_anonymous_only() {
        let me = Reader {
            did: String::new(),
            csrf: "tok123".into(),
        };
        let html = create_form(&me).into_string();
        assert!(
            html.contains(
                r#"<input type="checkbox" id="anonymous-only" name="anonymous_only" value="true""#
            ),
            "{html}"
        );
        assert!(!html.contains(
            r#"name="anonymous_only" value="true" aria-describedby="anonymous-only-hint" checked"#
        ));
        assert!(
            html.contains(" Members must use anonymous mode (I2P)</label>"),
            "{html}"
        );
        assert!(
            html.contains("No member's IP address is revealed to the others"),
            "{html}"
        );
        assert!(
            html.contains("<code>dualpower serve --anonymous</code>"),
            "{html}"
        );
        assert!(html.contains(r#"name="_csrf" value="tok123""#));

        assert_eq!(
            rules("name=A&anonymous_only=true").anonymous_only,
            Some(true)
        );
        assert_eq!(rules("name=A&history=true").anonymous_only, None);

        let w = test_world::world("web-groups-test");
        for (body, required) in [
            ("name=Quiet&anonymous_only=true", true),
            ("name=Open", false),
        ] {
            let g = w.apply(create_op(form(body)), T0 + 1)["group"]
                .as_str()
                .unwrap()
                .to_string();
            let v = w.ask(Query::Members { group: g.clone() }, T0 + 2);
            assert_eq!(v["constitution"]["anonymous_only"], required, "{body}");
            let page = crate::pages::members::render_as(&me, &g, &v).into_string();
            assert_eq!(page.contains("Anonymous mode required"), required, "{page}");
        }
    }
}
