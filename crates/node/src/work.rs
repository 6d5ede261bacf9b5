//! The read side of the work domain: finding tasks and cases by what a person types, and the
//! JSON the CLI, the API and the web app show (tasks, roles and their draws, mediation cases,
//! receipts, reputation with its reasons).
//!
//! One place builds these answers so the three front ends say the same thing.

use std::collections::BTreeMap;

use dualpower_core::work::{Pool, TaskRef};
use dualpower_core::{EventId, PublicKey};
use dualpower_state::GroupState;
use dualpower_state::work::{Case, Draw, Reputation, Task};
use serde_json::{Value, json};

use crate::ops::OpError;
use crate::ops::write::{by_prefix, invalid};

/// The text form of a task: its creating event's hex and its index, `HEX:INDEX`.
pub fn task_text(t: &TaskRef) -> String {
    format!("{}:{}", t.event.to_hex(), t.index)
}

/// Finds a task by `HEX[:INDEX]` (a prefix of at least 4 digits; index 0 if left out).
pub fn find_task(st: &GroupState, key: &str) -> Result<TaskRef, OpError> {
    let (hex, index) = match key.trim().split_once(':') {
        Some((h, i)) => (
            h,
            i.parse::<u64>().map_err(|_| {
                invalid(format!("`{key}`: the part after `:` is the task's number"))
            })?,
        ),
        None => (key, 0),
    };
    by_prefix(
        hex,
        "task",
        "dualpower task list",
        st.work
            .tasks
            .keys()
            .filter(|t| t.index == index)
            .map(|t| (t.event, *t)),
    )
}

/// Finds a mediation case by a prefix of its event id.
pub fn find_case(st: &GroupState, key: &str) -> Result<EventId, OpError> {
    by_prefix(
        key,
        "case",
        "dualpower mediate list",
        st.work.cases.keys().map(|c| (*c, *c)),
    )
}

fn keys(v: impl IntoIterator<Item = PublicKey>) -> Vec<String> {
    v.into_iter().map(|k| k.to_did()).collect()
}

/// A task's state in words: `open`, `claimed`, `done` (all slots counted) and `overdue`.
pub fn task_status(t: &Task, now: u64) -> &'static str {
    if t.completed.len() as u64 >= t.spec.slots {
        "done"
    } else if t.overdue(now) {
        "overdue"
    } else if t.slots.is_empty() {
        "unclaimed"
    } else if t.free() > 0 {
        "open"
    } else {
        "taken"
    }
}

/// One task as JSON.
pub fn task_json(r: &TaskRef, t: &Task, now: u64) -> Value {
    json!({
        "id": task_text(r),
        "title": t.spec.title,
        "slots": t.spec.slots,
        "free": t.free(),
        "skills": t.spec.skills,
        "due": t.spec.due,
        "domain": t.spec.domain,
        "status": task_status(t, now),
        "overdue": t.overdue(now),
        "creator": t.creator.to_did(),
        "proposal": t.proposal.map(|p| p.to_hex()),
        "created_at": t.created_at,
        "holders": t.slots.iter().map(|(k, s)| json!({
            "member": k.to_did(),
            "done": s.done.as_ref().map(|(_, n)| n),
            "confirmed_by": keys(s.confirmed.keys().copied()),
            "disputes": s.disputes.iter().map(|d| d.to_hex()).collect::<Vec<_>>(),
            "counted": t.completed.contains_key(k),
        })).collect::<Vec<_>>(),
        "completed": t.completed.keys().map(|k| k.to_did()).collect::<Vec<_>>(),
    })
}

fn pool_json(p: &Pool) -> Value {
    match p {
        Pool::Term { role, term } => json!({ "role": role, "term": term }),
        Pool::Case(c) => json!({ "case": c.to_hex() }),
    }
}

/// One sortition as JSON, with everything needed to recompute it.
pub fn draw_json(p: &Pool, d: &Draw) -> Value {
    json!({
        "pool": pool_json(p),
        "volunteers": keys(d.volunteers.keys().copied()),
        "listed": keys(d.listed.iter().copied()),
        "revealed": keys(d.revealed.iter().copied()),
        "closed": d.closed,
        "waiting": keys(d.waiting()),
        "withheld": keys(d.withheld()),
        "winner": d.winner.map(|w| w.to_did()),
        "drawn": d.drawn.map(|e| e.to_hex()),
        "seed": d.seed.map(hex),
        "at": d.at,
    })
}

fn hex(b: [u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One mediation case as JSON.
pub fn case_json(id: &EventId, c: &Case, st: &GroupState) -> Value {
    let draw = st.work.draws.get(&Pool::Case(*id));
    json!({
        "id": id.to_hex(),
        "parties": keys(c.parties.iter().copied()),
        "about": c.about,
        "dispute": c.dispute.map(|(t, w)| json!({ "task": task_text(&t), "worker": w.to_did() })),
        "mediator": draw.and_then(|d| d.winner).map(|w| w.to_did()),
        "draw": draw.map(|d| draw_json(&Pool::Case(*id), d)),
        "outcome": c.outcome.as_ref().map(|(e, s, t)| json!({
            "event": e.to_hex(), "settlement": s.word(), "text": t,
        })),
        "agreed": keys(c.agreed.iter().copied()),
        "settled": c.settled().map(|s| s.word()),
    })
}

/// The rotating roles: rules, the current holder and term, the next term's draw.
pub fn roles_json(st: &GroupState) -> Value {
    let w = &st.work;
    let roles: Vec<Value> = st
        .constitution
        .work
        .rotations
        .iter()
        .map(|r| {
            let next = w.next_term(&r.role);
            let pool = Pool::Term {
                role: r.role.clone(),
                term: next,
            };
            let holder = w.holders.get(&r.role);
            json!({
                "role": r.role,
                "term_days": r.term_days,
                "limit": r.limit,
                "rest": r.rest,
                "holder": holder.map(|(m, _, _)| m.to_did()),
                "term": holder.map(|(_, t, _)| *t),
                "ends": holder.map(|(_, _, e)| *e),
                "next_term": next,
                "next": w.draws.get(&pool).map(|d| draw_json(&pool, d)),
                "past": w.draws.iter().filter(|(p, d)| matches!(p, Pool::Term { role, .. } if *role == r.role) && d.drawn.is_some())
                    .map(|(p, d)| draw_json(p, d)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "group": st.group.to_hex(), "now": w.now, "roles": roles })
}

/// Up to three current members not in `except`, by reputation in `domain` (all domains summed
/// if none), highest first, ties by key: suggestions only, they decide nothing.
pub fn suggest(
    st: &GroupState,
    rep: &Reputation,
    domain: Option<&str>,
    except: &dyn Fn(&PublicKey) -> bool,
) -> Vec<String> {
    let mut totals: BTreeMap<PublicKey, u64> = BTreeMap::new();
    for (d, scores) in rep {
        if domain.is_some_and(|x| x != d) {
            continue;
        }
        for (k, s) in scores {
            *totals.entry(*k).or_default() += s.share;
        }
    }
    let mut v: Vec<(u64, PublicKey)> = totals
        .into_iter()
        .filter(|(k, s)| *s > 0 && st.is_member(k) && !except(k))
        .map(|(k, s)| (s, k))
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    v.into_iter().take(3).map(|(_, k)| k.to_did()).collect()
}

/// Everything of the work domain as JSON: tasks (open ones with suggestions of who could take
/// them), roles (with suggested volunteers), cases, receipts.
pub fn work_json(st: &GroupState, rep: &Reputation) -> Value {
    let w = &st.work;
    let tasks: Vec<Value> = w
        .tasks
        .iter()
        .map(|(r, t)| {
            let mut v = task_json(r, t, w.now);
            if t.free() > 0 {
                v["suggested"] = json!(suggest(st, rep, Some(&t.spec.domain), &|k| t
                    .slots
                    .contains_key(k)));
            }
            v
        })
        .collect();
    let mut roles = roles_json(st)["roles"].clone();
    for r in roles.as_array_mut().into_iter().flatten() {
        let role = r["role"].as_str().unwrap_or_default().to_owned();
        let domain = (role == "mediator").then_some("mediation");
        let holder = w.holders.get(&role).map(|(h, _, _)| *h);
        r["suggested"] = json!(suggest(st, rep, domain, &|k| Some(*k) == holder));
    }
    json!({
        "group": st.group.to_hex(),
        "name": st.name,
        "now": w.now,
        "members": st.members.iter().map(|(k, m)| json!({ "id": k.to_did(), "roles": m.roles })).collect::<Vec<_>>(),
        "rules": rules_json(&st.constitution.work),
        "confirmations": st.constitution.work.confirmations,
        "domains": st.constitution.work.all_domains(),
        "tasks": tasks,
        "roles": roles,
        "cases": w.cases.iter().map(|(id, c)| case_json(id, c, st)).collect::<Vec<_>>(),
        "receipts": w.receipts.iter().map(|r| json!({
            "domain": r.domain, "from": r.from.to_did(), "to": r.to.to_did(),
            "at": r.at, "for": r.what, "event": r.event.to_hex(),
        })).collect::<Vec<_>>(),
    })
}

/// The group's work rules as JSON, in the text forms the rule flags take.
pub fn rules_json(r: &dualpower_core::work::WorkRules) -> Value {
    json!({
        "tasks": r.tasks.to_text(),
        "confirmations": r.confirmations,
        "half_life_days": r.half_life_days,
        "seeds": keys(r.seeds.iter().copied()),
        "domains": r.domains,
        "rotations": r.rotations.iter().map(|x| x.to_text()).collect::<Vec<_>>(),
        "reveal_hours": r.reveal_hours,
    })
}

/// Share as a percentage with two decimals (fixed point, so identical everywhere).
fn percent(share: u64) -> String {
    let bp = (u128::from(share) * 10_000 / u128::from(dualpower_state::work::ONE)) as u64;
    format!("{}.{:02}%", bp / 100, bp % 100)
}

/// Reputation per domain (or one member's, with its reasons) as JSON.
pub fn reputation_json(st: &GroupState, rep: &Reputation, member: Option<&PublicKey>) -> Value {
    let seeds: Vec<String> = if st.constitution.work.seeds.is_empty() {
        keys(st.creator)
    } else {
        keys(st.constitution.work.seeds.iter().copied())
    };
    let domains: Vec<Value> = rep
        .iter()
        .map(|(d, scores)| {
            let mut rows: Vec<(&PublicKey, &dualpower_state::work::Score)> = scores
                .iter()
                .filter(|(k, _)| member.is_none_or(|m| m == *k))
                .collect();
            rows.sort_by(|a, b| b.1.share.cmp(&a.1.share).then(a.0.cmp(b.0)));
            json!({
                "domain": d,
                "scores": rows.iter().map(|(k, s)| json!({
                    "member": k.to_did(),
                    "share": s.share,
                    "percent": percent(s.share),
                    "why": s.why.iter().map(|(from, w)| json!({
                        "from": from.map(|f| f.to_did()),
                        "seed_restart": from.is_none(),
                        "trust": w,
                        "percent": percent(*w),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "group": st.group.to_hex(),
        "now": st.work.now,
        // The most trusted for their work, all domains: who might carry others' weight well.
        "suggested_delegates": suggest(st, rep, None, &|_| false),
        "seeds": seeds,
        "half_life_days": st.constitution.work.half_life_days,
        "member": member.map(|m| m.to_did()),
        "domains": domains,
    })
}
