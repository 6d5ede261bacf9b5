//! Work operations: tasks (create, claim, release, hand over, mark done, confirm, dispute),
//! rotating roles (volunteer, draw), mediation (request, volunteer, draw, outcome, agree) and
//! vouches, plus the node's one duty here: revealing its sortition secrets once a list closes.
//!
//! Each checks first, against the derived state, the mistakes people make (so nothing is written
//! for them), then writes sealed like a decision ([`super::keys::write_decision`]); the judge in
//! `dualpower-state` decides, and a refusal it finds is reported with its reason.

use dualpower_core::work::{Pool, Settlement, TaskRef, TaskSpec, Work, commitment, domain_name};
use dualpower_core::{GroupId, Identity, Payload, PublicKey, VerifiedEvent};
use dualpower_state::GroupState;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::keys::{view, write_decision};
use super::write::{
    Cx, OpError, group_arg, invalid, known_keys, member_among, require, require_member,
};
use super::{Op, Outcome};
use crate::work::{case_json, find_case, find_task, roles_json, task_json, task_text};

/// A task as a person describes it (the CLI's flags, the web form, the API's JSON).
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TaskArgs {
    /// What is to be done.
    pub title: String,
    /// How many people it takes (default 1).
    #[serde(default)]
    pub slots: Option<u64>,
    /// The reputation domain (default `logistics`).
    #[serde(default)]
    pub domain: Option<String>,
    /// Due in this many days from now (none: no due date).
    #[serde(default)]
    pub due_days: Option<u64>,
    /// Skills it needs.
    #[serde(default)]
    pub skills: Vec<String>,
}

impl TaskArgs {
    /// Parses `TITLE[;slots=N][;domain=D][;due=DAYS][;skills=a,b]` (the `--task` form).
    pub fn parse(s: &str) -> Result<TaskArgs, OpError> {
        let mut parts = s.split(';');
        let mut t = TaskArgs {
            title: parts.next().unwrap_or("").trim().to_owned(),
            ..TaskArgs::default()
        };
        for p in parts {
            let (k, v) = p.split_once('=').ok_or_else(|| {
                invalid(format!(
                    "`{p}` in `{s}`: say slots=N, domain=NAME, due=DAYS or skills=a,b"
                ))
            })?;
            let num = |v: &str| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| invalid(format!("`{k}={v}`: a whole number, please")))
            };
            match k.trim() {
                "slots" => t.slots = Some(num(v)?),
                "domain" => t.domain = Some(v.trim().to_owned()),
                "due" => t.due_days = Some(num(v)?),
                "skills" => {
                    t.skills = v
                        .split(',')
                        .map(|x| x.trim().to_owned())
                        .filter(|x| !x.is_empty())
                        .collect()
                }
                other => {
                    return Err(invalid(format!(
                        "`{other}` is not slots, domain, due or skills"
                    )));
                }
            }
        }
        Ok(t)
    }

    /// The task as the wire carries it, checked against the group's domains.
    pub fn spec(&self, st: &GroupState, now: u64) -> Result<TaskSpec, OpError> {
        let domain = self.domain.clone().unwrap_or_else(|| "logistics".into());
        let domain = domain_name(domain.trim()).map_err(|e| invalid(e.to_string()))?;
        let rules = &st.constitution.work;
        if !rules.has_domain(&domain) {
            return Err(invalid(format!(
                "the group has no domain `{domain}` (domains: {})",
                rules.all_domains().join(", ")
            )));
        }
        let mut skills = self
            .skills
            .iter()
            .map(|s| domain_name(s.trim()).map_err(|e| invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        skills.sort();
        skills.dedup();
        let spec = TaskSpec {
            title: self.title.trim().to_owned(),
            slots: self.slots.unwrap_or(1),
            skills,
            due: self
                .due_days
                .filter(|d| *d > 0)
                .map_or(0, |d| now.saturating_add(d.saturating_mul(86_400_000))),
            domain,
        };
        spec.check().map_err(|e| invalid(e.to_string()))?;
        Ok(spec)
    }
}

/// The secret this identity commits to for `pool` in `group`: derived from its seed, so the
/// node can reveal it later without storing anything, and nobody else can compute it.
fn secret(id: &Identity, group: &GroupId, pool: &Pool) -> [u8; 32] {
    let key = blake3::derive_key("dualpower sortition secret v1", id.seed().as_slice());
    let mut h = blake3::Hasher::new_keyed(&key);
    h.update(&group.0);
    h.update(&dualpower_core::work::pool_bytes(pool));
    *h.finalize().as_bytes()
}

/// Carries out a work operation (the caller routes only those here).
pub(crate) fn apply(cx: Cx<'_>, op: Op) -> Result<Outcome, OpError> {
    match op {
        Op::TaskCreate { group, task } => {
            let (g, st) = state(cx, &group)?;
            require(&st, &st.constitution.work.tasks, &cx.me(), "create tasks without a proposal")
                .map_err(|e| match e {
                    OpError::Denied(m) => OpError::Denied(format!(
                        "{m}; propose the task instead: dualpower propose GROUP \"…\" --method majority --task \"{}\"",
                        task.title
                    )),
                    e => e,
                })?;
            let spec = task.spec(&st, cx.now)?;
            let (ev, st) = write_decision(cx, g, Payload::Work(Work::Tasks(vec![spec])), vec![])?;
            let r = TaskRef {
                event: ev.id(),
                index: 0,
            };
            Ok(task_outcome(ev, &st, &r))
        }
        Op::TaskClaim { group, task } => task_op(cx, &group, &task, |st, me, r| {
            let t = &st.work.tasks[r];
            if t.slots.contains_key(me) {
                return Err(invalid("you hold a slot on this task already"));
            }
            if t.free() == 0 {
                return Err(invalid(format!(
                    "the task is full ({} of {} slots taken); a holder can hand theirs over to you",
                    t.slots.len(),
                    t.spec.slots
                )));
            }
            Ok(Work::Claim(*r))
        }),
        Op::TaskRelease { group, task } => task_op(cx, &group, &task, |st, me, r| {
            holder_not_done(st, me, r)?;
            Ok(Work::Release(*r))
        }),
        Op::TaskHandover { group, task, to } => task_op(cx, &group, &task, |st, me, r| {
            holder_not_done(st, me, r)?;
            let to = member_among(&to, known_keys(st))?;
            if !st.is_member(&to) {
                return Err(invalid(format!("{} is not a member", to.to_did())));
            }
            if to == *me {
                return Err(invalid("hand it over to someone else"));
            }
            if st.work.tasks[r].slots.contains_key(&to) {
                return Err(invalid(format!(
                    "{} holds a slot on this task already",
                    to.to_did()
                )));
            }
            Ok(Work::Handover { task: *r, to })
        }),
        Op::TaskDone { group, task, note } => task_op(cx, &group, &task, |st, me, r| {
            holder_not_done(st, me, r)?;
            Ok(Work::Done {
                task: *r,
                note: note.trim().to_owned(),
            })
        }),
        Op::TaskConfirm {
            group,
            task,
            member,
        } => task_op(cx, &group, &task, |st, me, r| {
            let worker = worker_done(st, r, &member)?;
            if worker == *me {
                return Err(invalid(
                    "nobody confirms their own work; other members confirm it",
                ));
            }
            if st.work.tasks[r].slots[&worker].confirmed.contains_key(me) {
                return Err(invalid("you confirmed this completion already"));
            }
            Ok(Work::Confirm { task: *r, worker })
        }),
        Op::TaskDispute {
            group,
            task,
            member,
            reason,
        } => task_op(cx, &group, &task, |st, me, r| {
            let worker = worker_done(st, r, &member)?;
            if worker == *me {
                return Err(invalid("nobody disputes their own work"));
            }
            if reason.trim().is_empty() {
                return Err(invalid("say why you dispute it (--reason)"));
            }
            let disputed = st.work.tasks[r].slots[&worker]
                .disputes
                .iter()
                .any(|c| st.work.cases.get(c).is_some_and(|c| c.parties.contains(me)));
            if disputed {
                return Err(invalid("you disputed this completion already"));
            }
            Ok(Work::Dispute {
                task: *r,
                worker,
                reason: reason.trim().to_owned(),
            })
        }),
        Op::RoleVolunteer { group, role } => {
            let (g, st) = state(cx, &group)?;
            require_member(&st, &cx.me())?;
            if st.constitution.work.rotation(&role).is_none() {
                return Err(invalid(format!(
                    "role `{role}` does not rotate; the rules name rotations with --rotate ROLE:DAYS"
                )));
            }
            let term = st.work.next_term(&role);
            let rot = st
                .constitution
                .work
                .rotation(&role)
                .expect("checked")
                .clone();
            let me = cx.me();
            let held = |t: u64| {
                let pool = Pool::Term {
                    role: role.clone(),
                    term: t,
                };
                st.work.draws.get(&pool).and_then(|d| d.winner) == Some(me)
            };
            if let Some(why) = dualpower_state::work::excluded(&rot, term, held) {
                return Err(OpError::Denied(format!("you cannot volunteer: {why}")));
            }
            volunteer(cx, g, &st, Pool::Term { role, term })
        }
        Op::RoleDraw { group, role } => {
            let (g, st) = state(cx, &group)?;
            require_member(&st, &cx.me())?;
            let pool = Pool::Term {
                term: st.work.next_term(&role),
                role,
            };
            step(cx, g, &st, pool)
        }
        Op::MediateRequest {
            group,
            parties,
            about,
        } => {
            let (g, st) = state(cx, &group)?;
            require_member(&st, &cx.me())?;
            let mut keys: Vec<PublicKey> = parties
                .iter()
                .map(|p| member_among(p, known_keys(&st)))
                .collect::<Result<_, _>>()?;
            keys.sort();
            keys.dedup();
            if keys.len() < 2 {
                return Err(invalid(
                    "a mediation is between at least two different members",
                ));
            }
            if let Some(k) = keys.iter().find(|k| !st.is_member(k)) {
                return Err(invalid(format!("{} is not a member", k.to_did())));
            }
            let (ev, st) = write_decision(
                cx,
                g,
                Payload::Work(Work::Mediate {
                    parties: keys,
                    about: about.trim().to_owned(),
                }),
                vec![],
            )?;
            Ok(case_outcome(ev, &st))
        }
        Op::MediateVolunteer { group, case } => {
            let (g, st) = state(cx, &group)?;
            let c = find_case(&st, &case)?;
            if st.work.cases[&c].parties.contains(&cx.me()) {
                return Err(invalid("a party cannot mediate its own case"));
            }
            volunteer(cx, g, &st, Pool::Case(c))
        }
        Op::MediateDraw { group, case } => {
            let (g, st) = state(cx, &group)?;
            let c = find_case(&st, &case)?;
            step(cx, g, &st, Pool::Case(c))
        }
        Op::MediateOutcome {
            group,
            case,
            settlement,
            text,
        } => {
            let (g, st) = state(cx, &group)?;
            let c = find_case(&st, &case)?;
            let settlement = Settlement::parse(&settlement).map_err(|e| invalid(e.to_string()))?;
            let mediator = st.work.draws.get(&Pool::Case(c)).and_then(|d| d.winner);
            if mediator != Some(cx.me()) {
                return Err(OpError::Denied(
                    "only the case's drawn mediator records its outcome".into(),
                ));
            }
            let case = &st.work.cases[&c];
            if case.outcome.is_some() {
                return Err(invalid("the case has an outcome already"));
            }
            if settlement == Settlement::Overturned && case.dispute.is_none() {
                return Err(invalid(
                    "only a disputed completion can be overturned: say agreed or no-agreement",
                ));
            }
            let (ev, st) = write_decision(
                cx,
                g,
                Payload::Work(Work::Outcome {
                    case: c,
                    settlement,
                    text: text.trim().to_owned(),
                }),
                vec![],
            )?;
            Ok(Outcome {
                events: vec![ev],
                value: case_json(&c, &st.work.cases[&c], &st),
            })
        }
        Op::MediateAgree { group, case } => {
            let (g, st) = state(cx, &group)?;
            let c = find_case(&st, &case)?;
            let k = &st.work.cases[&c];
            if !k.parties.contains(&cx.me()) {
                return Err(OpError::Denied("only a party co-signs the outcome".into()));
            }
            let Some((outcome, settlement, _)) = &k.outcome else {
                return Err(invalid("the mediator has not recorded an outcome yet"));
            };
            if *settlement == Settlement::NoAgreement {
                return Err(invalid(
                    "the outcome records that there was no agreement: there is nothing to co-sign",
                ));
            }
            if k.agreed.contains(&cx.me()) {
                return Err(invalid("you agreed to this outcome already"));
            }
            let (ev, st) = write_decision(
                cx,
                g,
                Payload::Work(Work::Agree { outcome: *outcome }),
                vec![],
            )?;
            Ok(Outcome {
                events: vec![ev],
                value: case_json(&c, &st.work.cases[&c], &st),
            })
        }
        Op::Vouch {
            group,
            member,
            domain,
        } => {
            let (g, st) = state(cx, &group)?;
            require_member(&st, &cx.me())?;
            let member = member_among(&member, known_keys(&st))?;
            if member == cx.me() {
                return Err(invalid("nobody vouches for themselves"));
            }
            if !st.is_member(&member) {
                return Err(invalid(format!("{} is not a member", member.to_did())));
            }
            let domain = domain_name(domain.trim()).map_err(|e| invalid(e.to_string()))?;
            if !st.constitution.work.has_domain(&domain) {
                return Err(invalid(format!(
                    "the group has no domain `{domain}` (domains: {})",
                    st.constitution.work.all_domains().join(", ")
                )));
            }
            let (ev, _) = write_decision(
                cx,
                g,
                Payload::Work(Work::Vouch {
                    member,
                    domain: domain.clone(),
                }),
                vec![],
            )?;
            Ok(Outcome {
                events: vec![ev],
                value: json!({ "vouched": member.to_did(), "domain": domain }),
            })
        }
        other => Err(invalid(format!("not a work operation: {other:?}"))),
    }
}

fn state(cx: Cx<'_>, group: &str) -> Result<(GroupId, std::sync::Arc<GroupState>), OpError> {
    let g = group_arg(group)?;
    Ok((g, view(cx.store, cx.id, g, cx.now)?.state))
}

fn task_outcome(ev: VerifiedEvent, st: &GroupState, r: &TaskRef) -> Outcome {
    Outcome {
        events: vec![ev],
        value: st
            .work
            .tasks
            .get(r)
            .map(|t| task_json(r, t, st.work.now))
            .unwrap_or_else(|| json!({ "id": task_text(r) })),
    }
}

fn case_outcome(ev: VerifiedEvent, st: &GroupState) -> Outcome {
    let id = ev.id();
    Outcome {
        value: st
            .work
            .cases
            .get(&id)
            .map(|c| case_json(&id, c, st))
            .unwrap_or_default(),
        events: vec![ev],
    }
}

/// A task operation: finds the task, checks with `check`, writes what it returns.
fn task_op(
    cx: Cx<'_>,
    group: &str,
    task: &str,
    check: impl FnOnce(&GroupState, &PublicKey, &TaskRef) -> Result<Work, OpError>,
) -> Result<Outcome, OpError> {
    let (g, st) = state(cx, group)?;
    require_member(&st, &cx.me())?;
    let r = find_task(&st, task)?;
    let work = check(&st, &cx.me(), &r)?;
    let (ev, st) = write_decision(cx, g, Payload::Work(work), vec![])?;
    Ok(task_outcome(ev, &st, &r))
}

fn holder_not_done(st: &GroupState, me: &PublicKey, r: &TaskRef) -> Result<(), OpError> {
    match st.work.tasks[r].slots.get(me) {
        None => Err(invalid("you hold no slot on this task (claim it first)")),
        Some(s) if s.done.is_some() => Err(invalid("you marked your part done already")),
        Some(_) => Ok(()),
    }
}

/// The worker named by `member` (or the only one who marked the task done), who must have
/// marked its part done.
fn worker_done(st: &GroupState, r: &TaskRef, member: &str) -> Result<PublicKey, OpError> {
    let t = &st.work.tasks[r];
    let worker = if member.trim().is_empty() {
        let mut done = t.slots.iter().filter(|(_, s)| s.done.is_some());
        match (done.next(), done.next()) {
            (Some((k, _)), None) => *k,
            (None, _) => return Err(invalid("nobody has marked this task done yet")),
            _ => {
                return Err(invalid(
                    "several members marked it done: say whose (--member)",
                ));
            }
        }
    } else {
        member_among(member, t.slots.keys().copied())
            .map_err(|_| invalid(format!("`{member}` holds no slot on this task")))?
    };
    if t.slots[&worker].done.is_none() {
        return Err(invalid(format!(
            "{} has not marked their part done",
            worker.to_did()
        )));
    }
    Ok(worker)
}

fn volunteer(cx: Cx<'_>, g: GroupId, st: &GroupState, pool: Pool) -> Result<Outcome, OpError> {
    let me = cx.me();
    require_member(st, &me)?;
    if let Some(d) = st.work.draws.get(&pool) {
        if d.volunteers.contains_key(&me) {
            return Err(invalid("you volunteered for this already"));
        }
        if d.closed {
            return Err(invalid("the list of volunteers is closed"));
        }
    }
    let commit = commitment(&g, &pool, &me, &secret(cx.id, &g, &pool));
    let (ev, st) = write_decision(
        cx,
        g,
        Payload::Work(Work::Volunteer {
            pool: pool.clone(),
            commit,
        }),
        vec![],
    )?;
    Ok(Outcome {
        events: vec![ev],
        value: pool_state(&st, &pool),
    })
}

fn pool_state(st: &GroupState, pool: &Pool) -> Value {
    match pool {
        Pool::Term { .. } => roles_json(st),
        Pool::Case(c) => st
            .work
            .cases
            .get(c)
            .map(|k| case_json(c, k, st))
            .unwrap_or_default(),
    }
}

/// The next step of a sortition: close the list, reveal our secret, or draw.
fn step(cx: Cx<'_>, g: GroupId, st: &GroupState, pool: Pool) -> Result<Outcome, OpError> {
    let me = cx.me();
    let d = st.work.draws.get(&pool).cloned().unwrap_or_default();
    if d.volunteers.is_empty() {
        return Err(invalid("nobody has volunteered yet (volunteer first)"));
    }
    // The group time as of what we hold: our event's own can only be later, so a step this
    // allows the judge allows too.
    let now = st.work.now;
    let window = st.constitution.work.reveal_hours.saturating_mul(3_600_000);
    let work = if !d.closed {
        if let Pool::Term { role, .. } = &pool {
            let days = st
                .constitution
                .work
                .rotation(role)
                .map_or(0, |r| r.term_days);
            if let Some((_, _, end)) = st.work.term_holder(role, days)
                && now.saturating_add(window) < end
            {
                return Err(invalid(format!(
                    "the current term ends {}; the list closes at most {} hour(s) before that",
                    crate::clock::utc_text(end),
                    st.constitution.work.reveal_hours
                )));
            }
        }
        Work::CloseList(pool.clone())
    } else if d.drawn.is_some() {
        return Err(invalid("this is drawn already"));
    } else if d.listed.contains(&me) && !revealed(st, &pool, &me) {
        Work::Reveal {
            pool: pool.clone(),
            secret: secret(cx.id, &g, &pool),
        }
    } else {
        let waiting = d.waiting();
        let due = d.closed_at.saturating_add(window);
        // The judge also wants the drawer's own clock past the window.
        if !waiting.is_empty() && (now < due || cx.now < due) {
            return Err(invalid(format!(
                "waiting for {} volunteer(s) to reveal ({}); the draw can go ahead without them \
                 from {}",
                waiting.len(),
                waiting
                    .iter()
                    .map(|k| k.to_did())
                    .collect::<Vec<_>>()
                    .join(", "),
                crate::clock::utc_text(due)
            )));
        }
        Work::Draw(pool.clone())
    };
    let (ev, st) = write_decision(cx, g, Payload::Work(work), vec![])?;
    Ok(Outcome {
        events: vec![ev],
        value: pool_state(&st, &pool),
    })
}

fn revealed(st: &GroupState, pool: &Pool, me: &PublicKey) -> bool {
    st.work
        .draws
        .get(pool)
        .is_some_and(|d| d.reveals.contains(me))
}

/// The node's duties in the work domain, run whenever a group's events change:
///
/// - reveal our secret for every closed list we are on and have not revealed;
/// - **succession**: when a rotating role's term is within one reveal window of its end (or
///   over) and members volunteered for the next term, the holder's node closes the list (any
///   member's node once the term has ended, in case the holder is away);
/// - draw once every listed volunteer revealed, or the reveal window passed: the node of a
///   member who closed the list does (any member's node once the window is an hour past).
///
/// Each step is one the member could take by hand; the judge decides as for any event, so two
/// nodes doing the same step at once only write a duplicate that changes nothing.
pub fn work_duties(
    store: &dualpower_store::Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let cx = Cx { store, id, now };
    let st = view(store, id, group, now)?.state;
    let me = id.public();
    if !st.is_member(&me) {
        return Ok(Vec::new());
    }
    let rules = &st.constitution.work;
    let window = rules.reveal_hours.saturating_mul(3_600_000);
    let gt = st.work.now;
    let mut steps: Vec<Work> = Vec::new();
    for (pool, d) in &st.work.draws {
        if d.drawn.is_some() || d.volunteers.is_empty() {
            continue;
        }
        if d.closed {
            if d.listed.contains(&me) && !d.reveals.contains(&me) {
                steps.push(Work::Reveal {
                    pool: pool.clone(),
                    secret: secret(id, &group, pool),
                });
                continue;
            }
            let due = d.closed_at.saturating_add(window);
            let ready = d.waiting().is_empty() || (gt >= due && now >= due);
            let mine = d.closers.contains(&me) || gt >= due.saturating_add(3_600_000);
            if ready && mine {
                steps.push(Work::Draw(pool.clone()));
            }
            continue;
        }
        // Succession: only a running (or just ended) term's next list closes by itself; the
        // first term's list is closed by a person, when the group has had time to volunteer.
        let Pool::Term { role, term } = pool else {
            continue;
        };
        if *term != st.work.next_term(role) {
            continue;
        }
        let days = rules.rotation(role).map_or(0, |r| r.term_days);
        let Some((_, holder, end)) = st.work.term_holder(role, days) else {
            continue;
        };
        let near = gt.saturating_add(window) >= end;
        let mine = holder == me || gt >= end;
        if near && mine {
            steps.push(Work::CloseList(pool.clone()));
        }
    }
    let mut out = Vec::new();
    for work in steps {
        match write_decision(cx, group, Payload::Work(work), vec![]) {
            Ok((ev, _)) => out.push(ev),
            // The state moved under us (a crossing close or draw): the next round sees it.
            Err(OpError::Denied(why)) => {
                tracing::debug!(group = %group, %why, "work duty refused");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
