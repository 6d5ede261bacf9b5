//! Decision operations: propose, revise, open voting, withdraw, vote, delegate, close, and the
//! node's duties around them (co-signing certificates).
//!
//! Like every domain, each checks against the derived state what every node will check and
//! writes through [`super::keys::write_decision`], which seals the payload under the writing
//! epoch's governance key and reports a refusal the checks could not foresee. Only members read
//! decisions; every member can recount all of them, including members who joined without the
//! history keys, because governance keys are handed down a chain that posts do not follow (see
//! [`dualpower_groups::body`]). Discussion (comments on a proposal) is encrypted like any other
//! comment. Finding proposals
//! and reading ballots is the read side in [`crate::decisions`].

use dualpower_core::decision::{
    Choice, Electorate, Method, MethodKind, Proposal, ProposalText, Scope, Target,
};
use dualpower_core::event::MAX_DEPS;
use dualpower_core::{EventId, GroupId, Identity, Payload, PublicKey, VerifiedEvent};
use dualpower_state::{GroupState, ProposalState, Status};
use dualpower_store::Store;
use serde_json::{Value, json};

use super::constitution::ConstitutionArgs;
use super::keys::{view, write_decision};
use super::write::{
    Cx, OpError, check_encoding, group_arg, invalid, known_keys, member_among, require_member,
};
use super::{Op, Outcome};
use crate::decisions::{
    attestations_json, find_proposal, in_electorate, parse_ballot, proposal_json,
};

/// What a proposal says besides its text: how it is decided, by whom, and what it enacts.
struct Draft {
    title: String,
    body: String,
    options: Vec<String>,
    method: Option<String>,
    electorate: Option<String>,
    topic: String,
    discuss: bool,
    deadline_secs: u64,
    amend: Option<Box<ConstitutionArgs>>,
    remove: Option<String>,
    admit: Option<String>,
    /// `MEMBER=ROLE` and whether it is granted (true) or revoked.
    role: Option<(String, bool)>,
    /// Tasks its close creates.
    tasks: Vec<super::work::TaskArgs>,
    /// `MEMBER=AMOUNT`: the credit limit it sets.
    set_limit: Option<String>,
    /// An action built and checked by another module (a ledger link or a grant).
    act: Option<Payload>,
}

/// Carries out a decision operation (the caller routes only those here).
pub(crate) fn apply(cx: Cx<'_>, op: Op) -> Result<Outcome, OpError> {
    match op {
        Op::Propose {
            group,
            title,
            body,
            options,
            method,
            electorate,
            topic,
            discuss,
            deadline_secs,
            amend,
            remove,
            admit,
            grant_role,
            revoke_role,
            tasks,
            set_limit,
        } => {
            let role = match (grant_role, revoke_role) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "one proposal grants or revokes one role: give --grant-role or --revoke-role, not both",
                    ));
                }
                (Some(g), None) => Some((g, true)),
                (None, Some(r)) => Some((r, false)),
                (None, None) => None,
            };
            let draft = Draft {
                title,
                body,
                options,
                method,
                electorate,
                topic,
                discuss,
                deadline_secs,
                amend,
                remove,
                admit,
                role,
                tasks,
                set_limit,
                act: None,
            };
            propose(cx, &group, draft)
        }
        Op::Revise {
            group,
            proposal,
            title,
            body,
            options,
        } => revise(cx, &group, &proposal, title, body, options),
        Op::OpenVoting { group, proposal } => open_voting(cx, &group, &proposal),
        Op::Withdraw { group, proposal } => withdraw(cx, &group, &proposal),
        Op::Vote {
            group,
            proposal,
            ballot,
            reason,
        } => vote(cx, &group, &proposal, &ballot, reason),
        Op::Delegate {
            group,
            to,
            topic,
            proposal,
            nobody,
        } => delegate(cx, &group, to, topic, proposal, nobody),
        Op::Close { group, proposal } => close(cx, &group, &proposal),
        other => Err(invalid(format!("not a decision operation: {other:?}"))),
    }
}

/// A proposal only its author may act on this way (`what`: "revise it", …).
fn own_proposal<'a>(
    st: &'a GroupState,
    key: &str,
    me: &PublicKey,
    what: &str,
) -> Result<&'a ProposalState, OpError> {
    let p = find_proposal(st, key)?;
    if p.author != *me {
        return Err(OpError::Denied(format!(
            "only the proposal's author may {what}"
        )));
    }
    Ok(p)
}

/// Parses `label` or `label=cost` options.
fn options_arg(opts: &[String], budget: bool) -> Result<Vec<Choice>, OpError> {
    opts.iter()
        .map(|o| {
            let (label, cost) = match o.rsplit_once('=') {
                Some((l, c)) if budget => (
                    l,
                    c.trim().parse::<u64>().map_err(|_| {
                        invalid(format!("option `{o}`: cost must be a whole number"))
                    })?,
                ),
                _ if budget => {
                    return Err(invalid(format!(
                        "budget option `{o}` needs a cost: `label=cost`"
                    )));
                }
                _ => (o.as_str(), 0),
            };
            Ok(Choice {
                label: label.trim().to_owned(),
                cost,
            })
        })
        .collect()
}

/// What a proposal operation reports: the events written and the proposal as it now stands.
fn proposal_outcome(events: Vec<VerifiedEvent>, st: &GroupState, proposal: &EventId) -> Outcome {
    Outcome {
        events,
        value: st
            .proposals
            .get(proposal)
            .map(proposal_json)
            .unwrap_or_default(),
    }
}

/// The method a proposal is decided by: as given, or the constitution's for one that acts.
fn method_of(st: &GroupState, d: &Draft) -> Result<Method, OpError> {
    match d.method.as_deref() {
        Some(m) => Method::parse(m).map_err(|e| invalid(e.to_string())),
        None if d.amend.is_some()
            || !d.tasks.is_empty()
            || d.set_limit.is_some()
            || d.act.is_some()
            || d.remove.is_some()
            || d.admit.is_some()
            || d.role.is_some() =>
        {
            Ok(st.constitution.vote.clone())
        }
        None => Err(invalid(
            "say how to decide: --method majority|consent|plurality|approval|score|star|dot:dots=N|quadratic|schulze|irv|budget:total=N",
        )),
    }
}

/// The encoded action a proposal enacts if it passes (empty: none).
fn action_of(st: &GroupState, d: &Draft, now: u64) -> Result<Vec<u8>, OpError> {
    let acts = [
        d.amend.is_some(),
        d.remove.is_some(),
        d.admit.is_some(),
        d.role.is_some(),
        !d.tasks.is_empty(),
        d.set_limit.is_some(),
        d.act.is_some(),
    ];
    if acts.iter().filter(|x| **x).count() > 1 {
        return Err(invalid(
            "one proposal changes the rules, removes or admits one member, grants or revokes one role, creates tasks or sets one credit limit: not several",
        ));
    }
    if let Some(p) = &d.act {
        return Ok(p.encode());
    }
    if let Some(arg) = &d.set_limit {
        let (m, amount) = arg.rsplit_once('=').ok_or_else(|| {
            invalid("--set-limit takes MEMBER=AMOUNT, e.g. --set-limit did:key:z6Mk…=40")
        })?;
        let member = member_among(m.trim(), known_keys(st))?;
        if !st.is_member(&member) {
            return Err(invalid(format!("{} is not a member", member.to_did())));
        }
        let limit = dualpower_core::ledger::parse_amount(amount, true)
            .map_err(|e| invalid(e.to_string()))?;
        return Ok(
            Payload::Ledger(dualpower_core::ledger::LedgerAct::Limit { member, limit }).encode(),
        );
    }
    if !d.tasks.is_empty() {
        let max = dualpower_core::work::MAX_TASKS;
        if d.tasks.len() > max {
            return Err(invalid(format!("one proposal creates at most {max} tasks")));
        }
        let specs = d
            .tasks
            .iter()
            .map(|t| t.spec(st, now))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Payload::Work(dualpower_core::work::Work::Tasks(specs)).encode());
    }
    if let Some(args) = &d.amend {
        if args.is_empty() {
            return Err(invalid(format!(
                "--constitution needs at least one rule to change: {}",
                ConstitutionArgs::FLAGS
            )));
        }
        let new = args.apply_among(
            &st.constitution,
            &st.members.keys().copied().collect::<Vec<_>>(),
        )?;
        if new == st.constitution {
            return Err(invalid(
                "these rules are already the group's rules: the amendment would change nothing",
            ));
        }
        return Ok(Payload::Amend(new).encode());
    }
    if let Some((arg, grant)) = &d.role {
        return role_action(st, arg, *grant);
    }
    if let Some(m) = &d.remove {
        let member = member_among(m, known_keys(st))?;
        if !st.is_member(&member) {
            return Err(invalid(format!("{} is not a member", member.to_did())));
        }
        // The cut is taken at the close (what it saw); `seen` is not used.
        let reason = d.title.trim().to_owned();
        return Ok(Payload::Remove {
            member,
            seen: 0,
            reason,
        }
        .encode());
    }
    if let Some(m) = &d.admit {
        let member = member_among(m, known_keys(st))?;
        let pending = st.pending.get(&member).ok_or_else(|| {
            invalid(format!(
                "{} has not asked to join (no pending join)",
                member.to_did()
            ))
        })?;
        let join = pending.join;
        return Ok(Payload::Admit { member, join }.encode());
    }
    Ok(Vec::new())
}

/// The encoded role change `MEMBER=ROLE` (granted or revoked), checked as every node will
/// check it when the proposal is made; the close checks again at its own point (the role must
/// still exist, a grantee must still be a member).
fn role_action(st: &GroupState, arg: &str, grant: bool) -> Result<Vec<u8>, OpError> {
    let flag = if grant {
        "--grant-role"
    } else {
        "--revoke-role"
    };
    let (m, role) = arg.rsplit_once('=').ok_or_else(|| {
        invalid(format!(
            "{flag} takes MEMBER=ROLE, e.g. {flag} did:key:z6Mk…=moderator"
        ))
    })?;
    let (member, role) = (
        member_among(m.trim(), known_keys(st))?,
        role.trim().to_owned(),
    );
    if !st.constitution.roles.contains(&role) {
        return Err(invalid(format!(
            "the constitution has no role `{role}` (roles: {})",
            st.constitution.roles.join(", ")
        )));
    }
    let holds = st.members.get(&member).map(|x| x.roles.contains(&role));
    match (grant, holds) {
        (_, None) => Err(invalid(format!("{} is not a member", member.to_did()))),
        (true, Some(true)) => Err(invalid(format!(
            "{} already holds the role `{role}`",
            member.to_did()
        ))),
        (false, Some(false)) => Err(invalid(format!(
            "{} does not hold the role `{role}`",
            member.to_did()
        ))),
        _ => Ok(Payload::Role {
            member,
            role,
            grant,
        }
        .encode()),
    }
}

/// The refusal for doing directly what the group's rules put to a vote, naming the proposal
/// that does it instead (`what`: "change roles"; `command`: the `dualpower propose …` line).
pub(crate) fn needs_vote(what: &str, command: &str) -> OpError {
    OpError::Denied(format!(
        "the group's rules say only a vote may {what}; propose it instead (it takes effect when \
         the proposal passes and is closed):\n  {command}"
    ))
}

/// Proposes `title` (with `body`) to enact `act`, decided by the constitution's vote method by
/// every member; `deadline_secs` 0: only the author closes.
pub(crate) fn propose_act(
    cx: Cx<'_>,
    group: &str,
    title: String,
    body: String,
    deadline_secs: u64,
    act: Payload,
) -> Result<Outcome, OpError> {
    let draft = Draft {
        title,
        body,
        options: Vec::new(),
        method: None,
        electorate: None,
        topic: String::new(),
        discuss: false,
        deadline_secs,
        amend: None,
        remove: None,
        admit: None,
        role: None,
        tasks: Vec::new(),
        set_limit: None,
        act: Some(act),
    };
    propose(cx, group, draft)
}

fn propose(cx: Cx<'_>, group: &str, d: Draft) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let st = view(cx.store, cx.id, group, cx.now)?.state;
    require_member(&st, &cx.me())?;
    let method = method_of(&st, &d)?;
    let electorate = match d.electorate.as_deref() {
        Some(e) => Electorate::parse(e).map_err(|e| invalid(e.to_string()))?,
        None => Electorate::Members,
    };
    let action = action_of(&st, &d, cx.now)?;
    let budget = matches!(method.kind, MethodKind::Budget { .. });
    let p = Proposal {
        text: ProposalText {
            title: d.title.trim().to_owned(),
            body: d.body,
            options: options_arg(&d.options, budget)?,
        },
        method,
        electorate,
        topic: d.topic,
        voting: !d.discuss,
        deadline: if d.deadline_secs == 0 {
            0
        } else {
            cx.now.saturating_add(d.deadline_secs.saturating_mul(1000))
        },
        action,
    };
    // Check what every node will check, before anything is written.
    if let Electorate::Role(r) = &p.electorate
        && !st.constitution.roles.contains(r)
    {
        return Err(invalid(format!(
            "the constitution has no role `{r}` (roles: {})",
            st.constitution.roles.join(", ")
        )));
    }
    if !p.action.is_empty() {
        dualpower_state::decisions::check_action(&st.constitution, &p)
            .map_err(|r| OpError::Denied(r.to_string()))?;
    }
    let payload = Payload::Propose(p);
    check_encoding(&payload)?;
    let (ev, st) = write_decision(cx, group, payload, Vec::new())?;
    let pid = ev.id();
    Ok(proposal_outcome(vec![ev], &st, &pid))
}

fn revise(
    cx: Cx<'_>,
    group: &str,
    proposal: &str,
    title: Option<String>,
    body: Option<String>,
    options: Option<Vec<String>>,
) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let st = view(cx.store, cx.id, group, cx.now)?.state;
    let p = own_proposal(&st, proposal, &cx.me(), "revise it")?;
    if p.status != Status::Discussion {
        return Err(invalid(match p.status {
            Status::Voting => format!(
                "voting on this proposal is open, so its text is frozen and can no longer be \
                 revised; to change it, withdraw it (`dualpower withdraw {} {}`) and propose again",
                short_group(&group),
                short_id(&p.id)
            ),
            _ => not_open(p, &group),
        }));
    }
    let budget = matches!(p.proposal.method.kind, MethodKind::Budget { .. });
    let text = ProposalText {
        title: title.unwrap_or_else(|| p.text.title.clone()),
        body: body.unwrap_or_else(|| p.text.body.clone()),
        options: match options {
            Some(o) => options_arg(&o, budget)?,
            None => p.text.options.clone(),
        },
    };
    Proposal {
        text: text.clone(),
        ..p.proposal.clone()
    }
    .check()
    .map_err(|e| invalid(e.to_string()))?;
    let pid = p.id;
    let payload = Payload::Revise {
        proposal: pid,
        text,
    };
    check_encoding(&payload)?;
    let (ev, st) = write_decision(cx, group, payload, Vec::new())?;
    Ok(proposal_outcome(vec![ev], &st, &pid))
}

fn open_voting(cx: Cx<'_>, group: &str, proposal: &str) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let st = view(cx.store, cx.id, group, cx.now)?.state;
    let p = own_proposal(&st, proposal, &cx.me(), "open voting")?;
    if p.status != Status::Discussion {
        return Err(invalid(match p.status {
            Status::Voting => "voting on this proposal is already open".to_owned(),
            _ => not_open(p, &group),
        }));
    }
    let (pid, text) = (p.id, p.text_id);
    let payload = Payload::OpenVoting {
        proposal: pid,
        text,
    };
    let (ev, st) = write_decision(cx, group, payload, Vec::new())?;
    Ok(proposal_outcome(vec![ev], &st, &pid))
}

fn withdraw(cx: Cx<'_>, group: &str, proposal: &str) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let st = view(cx.store, cx.id, group, cx.now)?.state;
    let p = own_proposal(&st, proposal, &cx.me(), "withdraw it")?;
    if matches!(p.status, Status::Closed | Status::Withdrawn) {
        return Err(invalid(format!(
            "the proposal is already {}",
            p.status.as_str()
        )));
    }
    let pid = p.id;
    let (ev, _) = write_decision(cx, group, Payload::Withdraw { proposal: pid }, Vec::new())?;
    Ok(Outcome {
        events: vec![ev],
        value: json!({ "proposal": pid.to_hex(), "status": "withdrawn" }),
    })
}

fn vote(
    cx: Cx<'_>,
    group: &str,
    proposal: &str,
    ballot: &str,
    reason: String,
) -> Result<Outcome, OpError> {
    let me = cx.me();
    let group = group_arg(group)?;
    let st = view(cx.store, cx.id, group, cx.now)?.state;
    require_member(&st, &me)?;
    let p = find_proposal(&st, proposal)?;
    if p.status != Status::Voting {
        return Err(invalid(not_open(p, &group)));
    }
    if !in_electorate(&st, p, &me) {
        return Err(OpError::Denied(format!(
            "only `{}` vote on this proposal",
            p.proposal.electorate.to_text()
        )));
    }
    let b = parse_ballot(p, ballot)?;
    let costs = p.text.costs(&p.proposal.method);
    dualpower_decide::validate(&p.proposal.method, costs.len(), &costs, &b, &reason)
        .map_err(|e| invalid(format!("{e}\n{}", crate::decisions::ballot_format(p))))?;
    if matches!(p.proposal.method.kind, MethodKind::Quadratic) {
        check_credits(&st, p, &me, dualpower_decide::quadratic_cost(&b))?;
    }
    let pid = p.id;
    let payload = Payload::Vote {
        proposal: pid,
        ballot: b,
        reason,
    };
    let (ev, st) = write_decision(cx, group, payload, Vec::new())?;
    Ok(proposal_outcome(vec![ev], &st, &pid))
}

/// That a quadratic vote costing `cost` fits in what `me` has left of this period's credits.
fn check_credits(
    st: &GroupState,
    p: &ProposalState,
    me: &PublicKey,
    cost: u64,
) -> Result<(), OpError> {
    let others: u64 = st
        .spent
        .get(&(*me, p.period))
        .into_iter()
        .flatten()
        .filter(|(q, _)| **q != p.id)
        .map(|(_, c)| *c)
        .sum();
    let credits = st.constitution.credits;
    if others.saturating_add(cost) > credits {
        return Err(invalid(format!(
            "this vote costs {cost} voice credits (votes²); you have {} left this period",
            credits.saturating_sub(others)
        )));
    }
    Ok(())
}

fn delegate(
    cx: Cx<'_>,
    group: &str,
    to: Option<String>,
    topic: Option<String>,
    proposal: Option<String>,
    nobody: bool,
) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let st = view(cx.store, cx.id, group, cx.now)?.state;
    require_member(&st, &cx.me())?;
    let scope = delegation_scope(&st, topic, proposal)?;
    let target = delegation_target(&st, &cx.me(), to, nobody)?;
    let payload = Payload::Delegate {
        scope: scope.clone(),
        target: target.clone(),
    };
    let (ev, _) = write_decision(cx, group, payload, Vec::new())?;
    Ok(Outcome {
        events: vec![ev],
        value: json!({
            "scope": crate::decisions::scope_text(&scope),
            "target": crate::decisions::target_text(&target),
        }),
    })
}

/// Where a delegation applies: a topic, one proposal (if its method allows), or the group.
fn delegation_scope(
    st: &GroupState,
    topic: Option<String>,
    proposal: Option<String>,
) -> Result<Scope, OpError> {
    Ok(match (topic, proposal) {
        (Some(_), Some(_)) => return Err(invalid("give --topic or --proposal, not both")),
        (Some(t), None) => {
            Scope::Topic(dualpower_core::decision::topic(&t).map_err(|e| invalid(e.to_string()))?)
        }
        (None, Some(p)) => {
            let p = find_proposal(st, &p)?;
            if !p.proposal.method.allows_delegation() {
                return Err(invalid(format!(
                    "`{}` votes are personal: they cannot be delegated",
                    p.proposal.method.name()
                )));
            }
            Scope::Proposal(p.id)
        }
        (None, None) => Scope::Group,
    })
}

/// Whom a delegation goes to: a member other than ourselves, explicitly nobody, or inherited.
fn delegation_target(
    st: &GroupState,
    me: &PublicKey,
    to: Option<String>,
    nobody: bool,
) -> Result<Target, OpError> {
    Ok(match (to, nobody) {
        (Some(_), true) => return Err(invalid("give a delegate or --nobody, not both")),
        (Some(t), false) => {
            let k = member_among(&t, known_keys(st))?;
            if k == *me {
                return Err(invalid("you cannot delegate to yourself"));
            }
            if !st.is_member(&k) {
                return Err(invalid(format!(
                    "{} is not a member of this group",
                    k.to_did()
                )));
            }
            Target::To(k)
        }
        (None, true) => Target::Nobody,
        (None, false) => Target::Inherit,
    })
}

fn close(cx: Cx<'_>, group: &str, proposal: &str) -> Result<Outcome, OpError> {
    let me = cx.me();
    let group = group_arg(group)?;
    // The events come with the state (one read, shared with every other reader of the group).
    let v = view(cx.store, cx.id, group, cx.now)?;
    let (events, st) = (v.events, v.state);
    require_member(&st, &me)?;
    let p = find_proposal(&st, proposal)?;
    may_close(&st, p, &me, cx.now).map_err(|e| match e {
        OpError::Invalid(_) => invalid(not_open(p, &group)),
        other => other,
    })?;
    if p.author != me {
        witnessed(&events, &st, &me, p.proposal.deadline)?;
    }
    let pid = p.id;
    // What counts is the close's causal past, and one event cites at most MAX_DEPS others:
    // bring the head of every log this node holds into our own log first (merge events), so
    // the close counts every vote we have.
    let mut heads: Vec<EventId> = cx
        .store
        .logs(Some(group))?
        .into_iter()
        .filter(|l| l.author != me)
        .filter_map(|l| l.head)
        .collect();
    heads.sort_unstable();
    let mut events = Vec::new();
    while heads.len() > MAX_DEPS {
        let chunk: Vec<EventId> = heads.drain(..MAX_DEPS).collect();
        events.push(cx.store.append_citing(
            cx.id,
            group,
            0,
            Payload::Merge.encode(),
            0,
            cx.now,
            chunk,
        )?);
    }
    let (close, st) = write_decision(cx, group, Payload::Close { proposal: pid }, heads)?;
    events.push(close);
    Ok(proposal_outcome(events, &st, &pid))
}

/// A group id as a person types it in a suggested command (a prefix `group_hex` resolves).
fn short_group(g: &GroupId) -> String {
    g.to_hex()[..12].to_owned()
}

/// A proposal id as a person types it in a suggested command.
fn short_id(p: &EventId) -> String {
    p.to_hex()[..12].to_owned()
}

/// Why nothing can be voted on `p` (not open for voting), and what to do next.
fn not_open(p: &ProposalState, group: &GroupId) -> String {
    let (g, id) = (short_group(group), short_id(&p.id));
    match p.status {
        Status::Discussion => format!(
            "the proposal is still in discussion: voting has not opened yet. Its author opens \
             voting with `dualpower open {g} {id}` (and may revise it until then); follow it \
             with `dualpower proposals {g} {id}`"
        ),
        Status::Voting => "the proposal is open for voting".into(),
        Status::Closed => format!(
            "the proposal is closed: votes no longer count. See the result with \
             `dualpower proposals {g} {id}`"
        ),
        Status::Withdrawn => {
            "the proposal was withdrawn by its author: there is nothing to vote on or close".into()
        }
    }
}

/// That `me` may close `p` now: it is open for voting, and `me` is its author, or a voter once
/// its deadline has passed.
fn may_close(st: &GroupState, p: &ProposalState, me: &PublicKey, now: u64) -> Result<(), OpError> {
    if p.status != Status::Voting {
        return Err(invalid(format!(
            "the proposal is {}, not open for voting",
            p.status.as_str()
        )));
    }
    if p.author == *me {
        return Ok(());
    }
    if !in_electorate(st, p, me) {
        return Err(OpError::Denied(format!(
            "only the author or the electorate ({}) may close this proposal",
            p.proposal.electorate.to_text()
        )));
    }
    if p.proposal.deadline == 0 {
        return Err(OpError::Denied(
            "only the proposal's author may close it (it has no deadline)".into(),
        ));
    }
    if now < p.proposal.deadline {
        return Err(OpError::Denied(
            "only the proposal's author may close it before its deadline".into(),
        ));
    }
    Ok(())
}

/// That another member's event dated at or after `deadline` is among `events` (all of which the
/// close will have in its causal past, see [`close`]): the derived state refuses a close by
/// anyone but the author without such evidence, so the node never writes one.
fn witnessed(
    events: &[VerifiedEvent],
    st: &GroupState,
    me: &PublicKey,
    deadline: u64,
) -> Result<(), OpError> {
    let seen = events.iter().any(|e| {
        let h = e.header();
        h.author != *me && h.timestamp >= deadline && st.is_member(&h.author)
    });
    if seen {
        Ok(())
    } else {
        Err(OpError::Denied(
            "no other member's event dated after the deadline has reached this node yet, and a \
             close needs one as evidence that the deadline has passed (your clock alone is not \
             enough): wait for another member's node to sync, or ask the author to close"
                .into(),
        ))
    }
}

/// Co-signs the certificate of every closed proposal of `group` whose digest this member has
/// not attested yet (or attested differently: a concurrent close changed what counts). Called
/// by the node whenever the group changes, with the state it has just derived. Returns the
/// events written.
pub fn attest_closed(
    store: &Store,
    id: &Identity,
    group: GroupId,
    st: &GroupState,
    now: u64,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let me = id.public();
    if !st.is_member(&me) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for p in st.proposals.values() {
        let Some(cert) = p
            .certificate
            .as_ref()
            .filter(|_| p.status == Status::Closed)
        else {
            continue;
        };
        let digest = cert.digest();
        if p.attestations.get(&me) == Some(&digest) {
            continue;
        }
        let payload = Payload::Attest {
            proposal: p.id,
            digest,
        };
        out.push(store.append(id, group, 0, payload.encode(), 0, now)?);
    }
    Ok(out)
}

/// Writes one witness event (a [`Payload::Merge`] citing the newest heads) in `group` if the
/// clock of this node has passed the deadline of a proposal still open for voting and this
/// member has written nothing in the group since that deadline. A close by anyone but the
/// author needs evidence in its causal past that the deadline passed by another member's
/// clock; in a quiet group this witness is that evidence. Bounded: once written, our newest
/// event is at or after every deadline it covers, so no second witness follows for them.
pub fn witness_deadlines(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<Option<VerifiedEvent>, OpError> {
    let me = id.public();
    let v = view(store, id, group, now)?;
    let (events, st) = (v.events, v.state);
    if !st.is_member(&me) {
        return Ok(None);
    }
    let ours = latest_write(&events, &me);
    if witness_due(&st, ours, now).next().is_none() {
        return Ok(None);
    }
    let merge = Payload::Merge.encode();
    Ok(Some(store.append_citing(
        id,
        group,
        0,
        merge,
        0,
        now,
        Vec::new(),
    )?))
}

/// Timestamp of the newest event `me` wrote among `events` (0 if none).
pub fn latest_write(events: &[VerifiedEvent], me: &PublicKey) -> u64 {
    events
        .iter()
        .filter(|e| e.header().author == *me)
        .map(|e| e.header().timestamp)
        .max()
        .unwrap_or(0)
}

/// Proposals open for voting whose deadline has passed by `now` and which nothing we wrote
/// (newest at `ours`) already witnesses.
pub fn witness_due(st: &GroupState, ours: u64, now: u64) -> impl Iterator<Item = &ProposalState> {
    st.proposals.values().filter(move |p| {
        let d = p.proposal.deadline;
        p.status == Status::Voting && d > 0 && d <= now && ours < d
    })
}

/// Shows each proposal in `feed` with the text in force (its latest revision while in
/// discussion, the frozen text once voting opened) instead of the text first proposed, marked
/// "(revised)" when it differs from it. The feed itself reads events one by one; which
/// revisions count (the author's, before voting opened) is the decisions domain's judgement,
/// so it is taken from the derived state `st`.
pub(crate) fn show_revisions(feed: &mut dualpower_state::Feed, st: &GroupState) {
    for post in &mut feed.posts {
        let Some(p) = st.proposals.get(&post.id) else {
            continue;
        };
        if p.text_id == p.id {
            continue;
        }
        let mut text = format!("Proposal (revised): {}", p.text.title);
        if !p.text.body.is_empty() {
            text.push_str("\n\n");
            text.push_str(&p.text.body);
        }
        post.text = text;
    }
}

/// The proposals of a group as JSON, newest activity last. Decisions are sealed under
/// governance keys, so this opens `id`'s keyring first.
pub fn proposals(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<(GroupState, Vec<Value>), OpError> {
    let st = view(store, id, group, now)?.state;
    let st = std::sync::Arc::unwrap_or_clone(st);
    let list = st.proposals.values().map(proposal_json).collect();
    Ok((st, list))
}

/// Re-verifies every stored event of `group` from its bytes, derives the group from scratch
/// and returns the proposal's certificate as JSON with the number of events re-verified.
pub fn verify_tally(
    store: &Store,
    id: &Identity,
    group: GroupId,
    proposal: &str,
    now: u64,
) -> Result<(Value, usize), OpError> {
    let network = *store.network();
    let keys = view(store, id, group, now)?.keyring;
    let stored = store.group_events(group)?;
    let mut fresh = Vec::with_capacity(stored.len());
    for ev in &stored {
        let (envelope, body) = ev.clone().into_parts();
        let verified = dualpower_core::Event::decode(envelope, body)
            .and_then(|e| e.verify(&network))
            .map_err(|e| invalid(format!("event {} fails verification: {e}", ev.id())))?;
        if verified.id() != ev.id() {
            return Err(invalid(format!(
                "event {} is stored under the wrong id",
                ev.id()
            )));
        }
        fresh.push(verified);
    }
    let opened = super::derived::open_with(&network, &keys, &fresh);
    let st = GroupState::derive_opened(&network, group, &fresh, std::sync::Arc::new(opened));
    let p = find_proposal(&st, proposal)?;
    let cert = p
        .certificate
        .as_ref()
        .ok_or_else(|| invalid("voting has not opened, so there is nothing to tally"))?;
    Ok((
        json!({
            "proposal": p.id.to_hex(),
            "status": p.status.as_str(),
            "final": p.status == Status::Closed,
            "certificate": cert.to_json(),
            "digest": hex::encode(cert.digest()),
            "events_verified": fresh.len(),
            "attestations": attestations_json(p),
        }),
        fresh.len(),
    ))
}
