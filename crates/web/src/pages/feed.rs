//! A group's feed: posts newest first, each with its thread of comments and its reactions, and
//! the forms to post, reply and react. Long feeds are paged so a page renders in milliseconds
//! however large the group grows.

use axum::Router;
use axum::extract::{Path, Query as UrlQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dualpower_core::EventId;
use dualpower_core::payload::Payload;
use dualpower_node::ops::Op;
use dualpower_node::query::Query;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use crate::App;
use crate::access::Me;
use crate::layout::{self, Flash, Place, csrf, text, when, who};
use crate::pages::anonymity::Anonymity;
use crate::pages::{act, empty, group_name, read};

/// Posts per page.
pub const PAGE: usize = 30;
/// The reactions offered as buttons (any other a member sent is shown too).
pub const REACTIONS: [&str; 4] = ["👍", "❤️", "✊", "🎉"];

/// The routes of this part.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/g/{g}", get(feed))
        .route("/g/{g}/post", post(post_new))
        .route("/g/{g}/comment", post(comment))
        .route("/g/{g}/react", post(react))
        .route("/g/{g}/name", post(set_name))
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    page: usize,
}

async fn feed(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    // Only the page shown: its cost does not grow with the group's history.
    let query = Query::FeedPage {
        group: g.clone(),
        page: q.page,
        per_page: PAGE,
    };
    let v = match read(&app, &me, query).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = group_name(&v);
    let anonymity = Anonymity::read(&app, &g).await;
    let body = html! { (anonymity.banner()) (render(&me, &g, &v, q.page)) };
    layout::page(&me, &name, Place::Group(&g, &name, "feed"), body).into_response()
}

/// Who a page is rendered for, as plain data: what [`render_as`] needs of a session, so the
/// render benchmark (`crates/bench/src/bin/web_render.rs`) and tests call it without one.
#[derive(Clone, Debug, Default)]
pub struct Reader {
    /// Our `did:key`.
    pub did: String,
    /// The session's CSRF token (every form carries it).
    pub csrf: String,
}

impl Reader {
    /// The viewer a session stands for.
    pub fn of(me: &Me) -> Reader {
        Reader {
            did: me.key.to_did(),
            csrf: me.csrf.clone(),
        }
    }
}

impl layout::Viewer for Reader {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }

    fn message(&self) -> Option<&Flash> {
        None
    }
}

/// The feed page's content.
pub fn render(me: &Me, g: &str, v: &Value, page: usize) -> Markup {
    render_as(&Reader::of(me), g, v, page)
}

/// The feed page's content for `me` (also what the render benchmark measures): page `page`
/// (0 = newest) of [`PAGE`] posts, from the answer of `Query::FeedPage` (which holds that page
/// only) or of `Query::Feed` (every post).
pub fn render_as(me: &Reader, g: &str, v: &Value, page: usize) -> Markup {
    let empty_list = Vec::new();
    let posts = v["posts"].as_array().unwrap_or(&empty_list);
    let labels = &v["labels"];
    let me_did = me.did.clone();
    // A paged answer says how many posts there are and which page it holds.
    let paged = v["total"].as_u64().map(|t| t as usize);
    let total = paged.unwrap_or(posts.len());
    let pages = total.div_ceil(PAGE).max(1);
    let page = match paged {
        Some(_) => v["page"].as_u64().map_or(0, |p| p as usize),
        None => page,
    }
    .min(pages - 1);
    let skip = if paged.is_some() { 0 } else { page * PAGE };
    let shown = posts.iter().rev().skip(skip).take(PAGE);
    let named = labels[&me_did]["display"].is_string();
    html! {
        h1 class="sr-only" { "Feed" }
        @if !named {
            section class="card" {
                form method="post" action={"/g/" (g) "/name"} class="stack" {
                    (csrf(me))
                    label for="display-name" { "Your name in this group" }
                    p class="hint" { "Members see this name instead of your key. Only members can read it." }
                    input id="display-name" name="name" required maxlength="64" autocomplete="nickname";
                    div { button type="submit" class="secondary" { "Save name" } }
                }
            }
        }
        section class="card" {
            form method="post" action={"/g/" (g) "/post"} class="stack" {
                (csrf(me))
                label for="text" { "New post" }
                textarea id="text" name="text" required placeholder="Write to the group (only members can read it)" {}
                div { button type="submit" { "Post" } }
            }
        }
        div data-live={"feed-" (page)} {
            @if posts.is_empty() { (empty("Nothing posted yet. Say hello!")) }
            @for p in shown {
                (post_card(me, g, labels, &me_did, p))
            }
        }
        @if pages > 1 {
            nav class="pager" aria-label="Pages" {
                @if page > 0 { a href={"/g/" (g) "?page=" (page - 1)} { "← Newer" } } @else { span {} }
                span class="muted" { "Page " (page + 1) " of " (pages) }
                @if page + 1 < pages { a href={"/g/" (g) "?page=" (page + 1)} { "Older →" } } @else { span {} }
            }
        }
    }
}

fn reactions(me: &Reader, g: &str, me_did: &str, target: &str, r: &Value) -> Markup {
    let count = |k: &str| r[k].as_array().map_or(0, Vec::len);
    let mine = |k: &str| {
        r[k].as_array()
            .is_some_and(|a| a.iter().any(|d| d.as_str() == Some(me_did)))
    };
    let others: Vec<&String> = r
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !REACTIONS.contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    html! {
        div class="reactions" {
            @for k in REACTIONS.iter().copied().chain(others.iter().map(|s| s.as_str())) {
                form method="post" action={"/g/" (g) "/react"} class="inline" {
                    (csrf(me))
                    input type="hidden" name="target" value=(target);
                    input type="hidden" name="reaction" value=(k);
                    button type="submit" aria-pressed=(mine(k)) aria-label={"React " (k)} {
                        (k) @if count(k) > 0 { " " (count(k)) }
                    }
                }
            }
        }
    }
}

fn post_card(me: &Reader, g: &str, labels: &Value, me_did: &str, p: &Value) -> Markup {
    let id = p["id"].as_str().unwrap_or_default();
    let empty_list = Vec::new();
    let comments = p["comments"].as_array().unwrap_or(&empty_list);
    html! {
        article class="card" id={"p-" (id)} {
            div class="meta" {
                (who(labels, p["author"].as_str().unwrap_or_default()))
                (when(p["timestamp"].as_u64().unwrap_or(0)))
            }
            p { (text(p["text"].as_str().unwrap_or_default())) }
            (reactions(me, g, me_did, id, &p["reactions"]))
            @if !comments.is_empty() {
                div class="comments" {
                    @for c in comments {
                        div class="comment" {
                            div class="meta" {
                                (who(labels, c["author"].as_str().unwrap_or_default()))
                                (when(c["timestamp"].as_u64().unwrap_or(0)))
                            }
                            div { (text(c["text"].as_str().unwrap_or_default())) }
                        }
                    }
                }
            }
            details {
                summary { "Reply" @if !comments.is_empty() { " (" (comments.len()) " in thread)" } }
                form method="post" action={"/g/" (g) "/comment"} class="stack" {
                    (csrf(me))
                    input type="hidden" name="parent" value=(id);
                    label for={"c-" (id)} { "Your reply" }
                    textarea id={"c-" (id)} name="text" required {}
                    div { button type="submit" class="small" { "Reply" } }
                }
            }
        }
    }
}

/// Writes `payload` to group `g` sealed, then back to the feed.
async fn write(app: &App, me: &Me, g: &str, payload: Payload, anchor: &str) -> Response {
    let body = payload.encode();
    if let Err(e) = Payload::decode(&body) {
        me.flash(app, Flash::error(format!("This cannot be posted: {e}")));
        return crate::pages::go(&format!("/g/{g}"));
    }
    let op = Op::Write {
        group: g.to_string(),
        payload: hex::encode(&body),
    };
    act(app, me, op, &format!("/g/{g}{anchor}"), |_| "Sent.".into()).await
}

#[derive(Deserialize)]
struct PostForm {
    text: String,
}

async fn post_new(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<PostForm>,
) -> Response {
    write(&app, &me, &g, Payload::Post { text: f.text }, "").await
}

#[derive(Deserialize)]
struct CommentForm {
    parent: String,
    text: String,
}

fn event_id(app: &App, me: &Me, g: &str, hex: &str) -> Result<EventId, Box<Response>> {
    EventId::from_hex(hex).ok_or_else(|| {
        me.flash(app, Flash::error(format!("`{hex}` is not an event id")));
        Box::new(crate::pages::go(&format!("/g/{g}")))
    })
}

async fn comment(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<CommentForm>,
) -> Response {
    let parent = match event_id(&app, &me, &g, &f.parent) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let anchor = format!("#p-{}", f.parent);
    write(
        &app,
        &me,
        &g,
        Payload::Comment {
            parent,
            text: f.text,
        },
        &anchor,
    )
    .await
}

#[derive(Deserialize)]
struct ReactForm {
    target: String,
    reaction: String,
}

async fn react(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<ReactForm>,
) -> Response {
    let target = match event_id(&app, &me, &g, &f.target) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let anchor = format!("#p-{}", f.target);
    write(
        &app,
        &me,
        &g,
        Payload::Reaction {
            target,
            reaction: f.reaction,
        },
        &anchor,
    )
    .await
}

#[derive(Deserialize)]
struct NameForm {
    name: String,
}

async fn set_name(
    State(app): State<App>,
    me: Me,
    Path(g): Path<String>,
    axum::Form(f): axum::Form<NameForm>,
) -> Response {
    let name = f.name.trim().to_string();
    let op = Op::SetName {
        group: g.clone(),
        name: name.clone(),
    };
    act(&app, &me, op, &format!("/g/{g}"), |_| {
        format!("Your name in this group is now “{name}”.")
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::{PAGE, Reader, render_as};
    use serde_json::{Value, json};

    fn post(i: usize) -> Value {
        json!({ "id": format!("{i:064x}"), "author": "did:key:z6Mkx", "timestamp": i,
                "text": format!("post number {i}"), "reactions": {}, "comments": [] })
    }

    /// A paged answer (`Query::FeedPage`) renders the same page as the whole feed (`Query::Feed`)
    /// cut by the page: the same posts, newest first, and the same pager.
    #[test]
    fn a_paged_answer_renders_like_the_whole_feed() {
        let me = Reader {
            did: "did:key:z6Mkme".into(),
            csrf: "t".into(),
        };
        let all: Vec<Value> = (0..65).map(post).collect();
        let whole = json!({ "posts": all, "labels": {} });
        for page in 0..3 {
            let end = 65 - page * PAGE;
            let start = end.saturating_sub(PAGE);
            let paged = json!({ "posts": all[start..end], "labels": {}, "total": 65,
                                "page": page, "pages": 3, "per_page": PAGE });
            let a = render_as(&me, "g", &whole, page).into_string();
            // The page the URL asked for is ignored for a paged answer: it holds one page.
            let b = render_as(&me, "g", &paged, 0).into_string();
            assert_eq!(a, b, "page {page}");
            assert!(a.contains(&format!("Page {} of 3", page + 1)));
            assert!(a.contains(&format!("post number {}", end - 1)));
            assert!(!a.contains(&format!("post number {end}<")));
        }
    }
}
