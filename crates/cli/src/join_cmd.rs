//! `group join` and the join lines of `groups`: what a person sees while asking to join.
//!
//! A join is a request to people who may be offline, so the command used to write it and
//! return, and a bad code looked exactly like a good one. Now it waits (bounded) for the
//! running node to report the outcome: admitted, turned away by a member's node (which says why:
//! the node keeps the reason, `/v1/status` shows it under `joins`), pending a decision (a vote
//! or vouches), or no answer yet, and each ending names the next step. What a peer said is shown
//! as that peer's word, in our own wording for a typed reason, never as text from the network.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Result;
use dualpower_node::ops::Op;
use dualpower_store::keystore;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::node_cmd::Remote;
use crate::{Ctx, Writer, now_ms};

/// How often the node is asked how the join stands.
const POLL: Duration = Duration::from_millis(200);

/// Exit code when the wait ended without an outcome (the join is still in flight).
pub const EXIT_TIMEOUT: i32 = 2;

/// `dualpower group join CODE`: writes the join (through the running node if there is one)
/// and, unless `no_wait`, waits up to `timeout` for its outcome. Exit 0 when admitted or
/// pending a decision, 1 when refused, [`EXIT_TIMEOUT`] when nothing was decided in time.
pub fn join(ctx: &Ctx, code: String, timeout: Duration, no_wait: bool) -> Result<i32> {
    let remote = match ctx.writer()? {
        Writer::Local(store) => {
            let identity = ctx.identity()?;
            let v =
                dualpower_node::ops::apply(&store, &identity, Op::Join { code }, now_ms())?.value;
            let g = v["group"].as_str().unwrap_or_default().to_owned();
            let mut out = v.clone();
            out["state"] = json!("offline");
            ctx.emit(out, || {
                format!(
                    "Asked to join {g}, but no node is running, so your join has reached no one \
                     yet.\nEither start your node and keep it running: `dualpower serve` (it \
                     contacts the inviter's node at the addresses in the code),\nor send your \
                     join by bundle: `dualpower export {g} join.bundle`, give the file to a \
                     member, who runs `dualpower import join.bundle`."
                )
            });
            return Ok(0);
        }
        Writer::Node(remote) => remote,
    };
    let mut body = serde_json::to_value(&Op::Join { code })?;
    body["now"] = json!(now_ms());
    let v = remote.post("/v1/op", body)?;
    let g = v["group"].as_str().unwrap_or_default().to_owned();
    let addrs: Vec<String> = v["addrs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    if no_wait {
        let mut out = v.clone();
        out["state"] = json!("asked");
        ctx.emit(out, || {
            format!(
                "Asked to join {g}.\nKeep your node running (`dualpower serve`); `dualpower \
                 groups` shows where your join stands."
            )
        });
        return Ok(0);
    }
    let progress = spinner(ctx);
    let start = Instant::now();
    let end = wait(&remote, &g, timeout, &progress);
    progress.finish_and_clear();
    let waited = start.elapsed().as_secs_f64();
    let mut out = v.clone();
    out["waited_secs"] = json!((waited * 10.0).round() / 10.0);
    match end {
        End::Admitted => {
            out["state"] = json!("admitted");
            ctx.emit(out, || {
                format!(
                    "Admitted to {g} after {waited:.1} s.\nRead it with `dualpower feed {g}`; \
                     `dualpower groups` lists it."
                )
            });
            Ok(0)
        }
        End::Pending(j) => {
            out["state"] = json!("waiting");
            out["join"] = j.clone();
            ctx.emit(out, || {
                format!(
                    "Your join reached the group; {}\nKeep your node running (`dualpower serve`); \
                     `dualpower groups` shows where it stands.",
                    decision_text(&j, &g, &my_id(ctx))
                )
            });
            Ok(0)
        }
        End::Refused(j) => {
            out["state"] = json!("refused");
            out["join"] = j.clone();
            if ctx.json {
                crate::out::line(&out);
            } else {
                crate::out::err_line(refusal_text(&j, &g).unwrap_or_default());
            }
            Ok(1)
        }
        End::TimedOut(j) => {
            out["state"] = json!("timeout");
            out["join"] = j.clone().unwrap_or(Value::Null);
            let reached = j.as_ref().is_some_and(|j| j["state"] == "waiting");
            let me = my_id(ctx);
            let text = if reached {
                format!(
                    "Not admitted yet after {waited:.0} s, though a member's node holds your \
                     join.\nKeep `dualpower serve` running: you are admitted when a member's node \
                     acts on it. Ask a member to run `dualpower group members {g}` (you are listed \
                     as waiting) and `dualpower group admit {g} {}`.",
                    me
                )
            } else {
                format!(
                    "No member's node answered within {waited:.0} s; your join is still \
                     waiting to reach one.\nKeep `dualpower serve` running (it keeps trying), and \
                     check that the inviter's node runs and is reachable at {}.\nOr send your \
                     join by bundle: `dualpower export {g} join.bundle`, and a member runs \
                     `dualpower import join.bundle`.",
                    if addrs.is_empty() {
                        "an address your node can dial (the code carries none: connect with \
                         `dualpower sync --peer ADDR`)"
                            .to_owned()
                    } else {
                        addrs.join(" or ")
                    }
                )
            };
            let text = match j.as_ref().and_then(unconfirmed_text) {
                Some(u) => format!("{text}\n{u}"),
                None => text,
            };
            if ctx.json {
                crate::out::line(&out);
            } else {
                crate::out::err_line(&text);
            }
            Ok(EXIT_TIMEOUT)
        }
    }
}

/// How a wait for a join ended.
enum End {
    /// We are a member.
    Admitted,
    /// Members hold the join; admission is a decision (a vote, vouches) that may take days.
    Pending(Value),
    /// A member's node turned the join away, or the group removed us.
    Refused(Value),
    /// Nothing decided in time (the last join status, if the node reported one).
    TimedOut(Option<Value>),
}

/// Polls the node's status until the join in `group` ends one way or another, or `timeout`.
fn wait(remote: &Remote, group: &str, timeout: Duration, progress: &ProgressBar) -> End {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Ok(node) = remote.get("/v1/status") {
            let member = node["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["group"] == group && x["member"] == true);
            if member {
                return End::Admitted;
            }
            let join = node["joins"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|x| x["group"] == group)
                .cloned();
            if let Some(j) = join {
                if j["refused"].is_object() || j["state"] == "removed" {
                    return End::Refused(j);
                }
                if j["state"] == "waiting" && j["admission"].as_str().is_none_or(|a| a != "invite")
                {
                    return End::Pending(j);
                }
                progress.set_message(progress_text(&j));
                last = Some(j);
            }
        }
        if Instant::now() >= deadline {
            return End::TimedOut(last);
        }
        std::thread::sleep(POLL);
    }
}

/// A spinner on stderr, only for a person at a terminal (or with `DUALPOWER_PROGRESS` set).
fn spinner(ctx: &Ctx) -> ProgressBar {
    if ctx.json
        || !std::io::stderr().is_terminal() && std::env::var_os("DUALPOWER_PROGRESS").is_none()
    {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message("asking to join…");
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// What a node we cannot tell is a member's said of our join (see the node's
/// `JoinStatus::unconfirmed`), if one did: shown, never acted on (anyone who knows the group's
/// id can say it before our node holds the group's state).
fn unconfirmed_text(j: &Value) -> Option<String> {
    let r = j["unconfirmed"].as_object()?;
    let peer = short_peer(r.get("peer").and_then(Value::as_str).unwrap_or(""));
    let what = match r.get("reason").and_then(Value::as_str).unwrap_or("") {
        "expired" => "this invite has expired",
        "used" => "this invite was already used",
        "unknown_invite" => "it knows no such invite",
        "removed" => "you were removed from this group",
        _ => "it turns your join away",
    };
    Some(format!(
        "Unconfirmed: node {peer} says {what}, but nothing shows it is a member's node (the          code does not name it, and your node holds none of the group's events yet)."
    ))
}

/// The progress line for a join status.
fn progress_text(j: &Value) -> String {
    if let Some(u) = unconfirmed_text(j) {
        return format!("{u} Still waiting for a member's node");
    }
    match j["state"].as_str() {
        Some("waiting") => "a member's node holds your join; waiting to be admitted".into(),
        _ if j["member_peers"].as_u64().unwrap_or(0) > 0 => {
            "connected to a member's node; sending your join".into()
        }
        _ if j["connected"].as_u64().unwrap_or(0) > 0 => {
            "connected; waiting for a member's node to answer".into()
        }
        _ => "reaching the inviter's node…".into(),
    }
}

/// Our did, for commands a member runs about us (a placeholder if it cannot be read).
pub fn my_id(ctx: &Ctx) -> String {
    keystore::public(&ctx.home)
        .map(|p| p.to_did())
        .unwrap_or_else(|_| "<your id from `dualpower id`>".into())
}

/// The last eight characters of a peer id, as shown to people.
fn short_peer(p: &str) -> String {
    format!("…{}", &p[p.len().saturating_sub(8)..])
}

/// What a pending decision on our join in `group` means, in words; `me` is our did.
fn decision_text(j: &Value, group: &str, me: &str) -> String {
    let g = &group[..group.len().min(16)];
    let admission = j["admission"].as_str().unwrap_or("");
    if admission == "vote" {
        format!(
            "admission is decided by a vote: a member proposes admitting you (`dualpower \
             propose {g} \"Admit\" --admit-member {me}`), and you are a member once it passes."
        )
    } else if admission.starts_with("vouches") {
        format!(
            "admission needs {} members to vouch for you ({} so far): each runs `dualpower \
             group admit {g} {me}`.",
            j["needed"].as_u64().unwrap_or(1),
            j["vouches"].as_u64().unwrap_or(0)
        )
    } else {
        "waiting for a member's node to admit you.".into()
    }
}

/// Why a join was turned away and what to do next, or `None` if it was not. Reasons are typed
/// names from our own node (see `dualpower_net::JoinRefusal`); an unknown one is not shown raw.
fn refusal_text(j: &Value, group: &str) -> Option<String> {
    if j["state"] == "removed" {
        return Some(
            "Refused: the group removed you (its events, which your node holds, say so). \
             Members' nodes do not act on a new join from a removed member.\nTalk to the \
             members; `dualpower groups` shows this join as refused."
                .into(),
        );
    }
    let r = j["refused"].as_object()?;
    let peer = short_peer(r.get("peer").and_then(Value::as_str).unwrap_or(""));
    let fresh = format!(
        "Ask a member for a fresh code (`dualpower group invite {}`), then run `dualpower group \
         join <new code>`.",
        &group[..group.len().min(16)]
    );
    let text = match r.get("reason").and_then(Value::as_str).unwrap_or("") {
        "expired" => format!("Refused: member node {peer} says this invite has expired.\n{fresh}"),
        "used" => format!(
            "Refused: member node {peer} says this invite was already used by someone else.\n{fresh}"
        ),
        "unknown_invite" => format!(
            "Refused: member node {peer} knows no such invite: the code is forged or mistyped \
             (or made by a member whose events that node has not seen yet).\n{fresh}"
        ),
        "removed" => format!(
            "Refused: member node {peer} says you were removed from this group; members' nodes \
             do not act on a new join from a removed member.\nTalk to the members."
        ),
        _ => format!("Refused: member node {peer} turned your join away.\n{fresh}"),
    };
    Some(text)
}

/// The line `groups` shows for a join in flight (from the node's `joins`), or for a group we
/// follow without holding its genesis when no node runs.
pub fn join_line(node: bool, j: Option<&Value>, group: &str, me: &str) -> String {
    let Some(j) = j else {
        return if node {
            "followed; waiting for a peer that holds it".into()
        } else {
            "join pending: no node is running, so it has reached no one (start `dualpower \
             serve`, or send it by bundle with `dualpower export`)"
                .into()
        };
    };
    if let Some(t) = refusal_text(j, group) {
        return format!(
            "join refused — {}",
            t.lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("Refused: ")
        );
    }
    match j["state"].as_str() {
        Some("waiting") => format!("join pending — {}", decision_text(j, group, me)),
        _ => format!("join pending — {}", progress_text(j)),
    }
}

/// The running node's join statuses (`None` if no node runs).
pub fn node_joins(ctx: &Ctx) -> Option<Vec<Value>> {
    let status = Remote::find(&ctx.home)?.get("/v1/status").ok()?;
    Some(status["joins"].as_array().cloned().unwrap_or_default())
}
