//! Decision operations: propose, revise, open voting, withdraw, vote, delegate, close, and the
//! read side (proposal lists, certificates, verification).
//!
//! Like the membership operations in [`crate::ops`], each checks against the derived state what
//! every node will check, so a person gets a clear error instead of an event everyone refuses,
//! and after appending it derives again and reports the refusal if state still disagrees.
//!
//! Decision events are plaintext group events (like membership events): a binding result must
//! be recomputable by every member, including members who joined without the history keys.
//! Discussion (comments on a proposal) is encrypted like any other comment.

use dualpower_core::decision::{
    Ballot, Choice, Electorate, Method, MethodKind, Proposal, ProposalText, Scope, Target,
};
use dualpower_core::event::MAX_DEPS;
use dualpower_core::payload::Constitution;
use dualpower_core::{EventId, GroupId, Identity, Payload, PublicKey, VerifiedEvent};
use dualpower_state::{GroupState, ProposalState, Status, WeightHolder};
use dualpower_store::Store;
use serde_json::{Value, json};

use crate::ops::{ConstitutionArgs, Op, OpError, Outcome, member_arg};

fn invalid(s: impl Into<String>) -> OpError {
    OpError::Invalid(s.into())
}

fn group_arg(s: &str) -> Result<GroupId, OpError> {
    GroupId::from_hex(s).ok_or_else(|| invalid(format!("`{s}` is not a 64-digit group id")))
}

/// Finds a proposal by full id or unique hex prefix (at least 4 digits).
pub fn find_proposal<'a>(st: &'a GroupState, key: &str) -> Result<&'a ProposalState, OpError> {
    let key = key.trim().to_ascii_lowercase();
    if key.len() < 4 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "`{key}` is not a proposal id (at least 4 hex digits)"
        )));
    }
    let mut hits = st
        .proposals
        .values()
        .filter(|p| p.id.to_hex().starts_with(&key));
    match (hits.next(), hits.next()) {
        (Some(p), None) => Ok(p),
        (None, _) => Err(invalid(format!("no proposal `{key}` in this group"))),
        (Some(_), Some(_)) => Err(invalid(format!(
            "`{key}` matches several proposals; give more digits"
        ))),
    }
}

/// Whether `who` may vote on `p` now (a current member, holding the role if one is required).
pub fn in_electorate(st: &GroupState, p: &ProposalState, who: &PublicKey) -> bool {
    match (&p.proposal.electorate, st.members.get(who)) {
        (_, None) => false,
        (Electorate::Members, Some(_)) => true,
        (Electorate::Role(r), Some(m)) => m.roles.contains(r),
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

/// The index of an option named by label (case-insensitive) or by 1-based number.
fn option_index(labels: &[String], s: &str) -> Result<u32, OpError> {
    let s = s.trim();
    if let Some(i) = labels.iter().position(|l| l.eq_ignore_ascii_case(s)) {
        return Ok(i as u32);
    }
    if let Ok(n) = s.parse::<usize>()
        && (1..=labels.len()).contains(&n)
    {
        return Ok((n - 1) as u32);
    }
    Err(invalid(format!(
        "`{s}` is not an option; options are: {}",
        labels.join(", ")
    )))
}

/// Turns what a person typed into a ballot for `p` (see the CLI's `vote --help`).
pub fn parse_ballot(p: &ProposalState, text: &str) -> Result<Ballot, OpError> {
    let t = text.trim();
    let labels = p.text.labels(&p.proposal.method);
    let kind = &p.proposal.method.kind;
    if t.eq_ignore_ascii_case("abstain") && labels.iter().all(|l| l != "abstain") {
        return Ok(Ballot::Abstain);
    }
    let list = |t: &str| -> Result<Vec<u32>, OpError> {
        t.split(',')
            .filter(|x| !x.trim().is_empty())
            .map(|x| option_index(&labels, x))
            .collect()
    };
    Ok(match kind {
        MethodKind::Majority { .. } | MethodKind::Consent | MethodKind::Plurality => {
            let t = match t.to_ascii_lowercase().as_str() {
                "y" => "yes".to_owned(),
                "n" => "no".to_owned(),
                other => other.to_owned(),
            };
            Ballot::Choice(option_index(&labels, &t)?)
        }
        MethodKind::Approval | MethodKind::Budget { .. } => {
            let mut v = list(t)?;
            v.sort_unstable();
            v.dedup();
            Ballot::Set(v)
        }
        MethodKind::Irv => Ballot::Rank(list(t)?),
        MethodKind::Score { .. }
        | MethodKind::Star { .. }
        | MethodKind::Dot { .. }
        | MethodKind::Quadratic
        | MethodKind::Schulze => {
            let mut scores = vec![0i64; labels.len()];
            let parts: Vec<&str> = t.split(',').map(str::trim).collect();
            let named = parts.iter().any(|x| x.contains('='));
            if named {
                for part in parts.iter().filter(|x| !x.is_empty()) {
                    let (l, n) = part.rsplit_once('=').ok_or_else(|| {
                        invalid(format!("`{part}`: write every entry as option=number"))
                    })?;
                    let i = option_index(&labels, l)? as usize;
                    scores[i] = n
                        .trim()
                        .parse()
                        .map_err(|_| invalid(format!("`{n}` is not a whole number")))?;
                }
            } else {
                if parts.len() != labels.len() {
                    return Err(invalid(format!(
                        "give one number per option ({}), or option=number pairs",
                        labels.join(", ")
                    )));
                }
                for (i, n) in parts.iter().enumerate() {
                    scores[i] = n
                        .parse()
                        .map_err(|_| invalid(format!("`{n}` is not a whole number")))?;
                }
            }
            Ballot::Scores(scores)
        }
    })
}

/// A ballot in words, for people.
pub fn ballot_text(p: &ProposalState, b: &Ballot) -> String {
    let labels = p.text.labels(&p.proposal.method);
    let name = |i: &u32| {
        labels
            .get(*i as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{i}"))
    };
    match b {
        Ballot::Choice(i) => name(i),
        Ballot::Rank(v) => v.iter().map(name).collect::<Vec<_>>().join(" > "),
        Ballot::Set(v) if v.is_empty() => "(none)".into(),
        Ballot::Set(v) => v.iter().map(name).collect::<Vec<_>>().join(", "),
        Ballot::Scores(v) => v
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}={s}", name(&(i as u32))))
            .collect::<Vec<_>>()
            .join(", "),
        Ballot::Abstain => "abstain".into(),
    }
}

fn append(
    store: &Store,
    id: &Identity,
    group: GroupId,
    payload: Payload,
    now: u64,
) -> Result<VerifiedEvent, OpError> {
    Ok(store.append(id, group, 0, payload.encode(), 0, now)?)
}

fn state(store: &Store, group: GroupId) -> Result<GroupState, OpError> {
    let events = store.group_events(group)?;
    Ok(GroupState::derive(store.network(), group, &events))
}

fn require_member(st: &GroupState, me: &PublicKey) -> Result<(), OpError> {
    if st.is_member(me) {
        Ok(())
    } else {
        Err(OpError::Denied("you are not a member of this group".into()))
    }
}

/// Appends `payload` (citing `cite` as deps, or the newest heads if empty), then derives again:
/// if the group refuses the event after all, says why.
fn write_checked(
    store: &Store,
    id: &Identity,
    group: GroupId,
    payload: Payload,
    now: u64,
    cite: Vec<EventId>,
) -> Result<(VerifiedEvent, GroupState), OpError> {
    let ev = store.append_citing(id, group, 0, payload.encode(), 0, now, cite)?;
    let st = state(store, group)?;
    if let Some((_, r)) = st.rejected.iter().find(|(e, _)| *e == ev.id()) {
        return Err(OpError::Denied(format!("the group refuses this: {r}")));
    }
    Ok((ev, st))
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

/// Carries out a decision operation.
pub fn apply(store: &Store, id: &Identity, op: Op, now: u64) -> Result<Outcome, OpError> {
    let me = id.public();
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
        } => {
            let group = group_arg(&group)?;
            let st = state(store, group)?;
            require_member(&st, &me)?;
            let method = match method.as_deref() {
                Some(m) => Method::parse(m).map_err(|e| invalid(e.to_string()))?,
                None if amend.is_some() || remove.is_some() || admit.is_some() => {
                    st.constitution.vote.clone()
                }
                None => {
                    return Err(invalid(
                        "say how to decide: --method majority|consent|plurality|approval|score|star|dot:dots=N|quadratic|schulze|irv|budget:total=N",
                    ));
                }
            };
            let electorate = match electorate.as_deref() {
                Some(e) => Electorate::parse(e).map_err(|e| invalid(e.to_string()))?,
                None => Electorate::Members,
            };
            if [amend.is_some(), remove.is_some(), admit.is_some()]
                .iter()
                .filter(|x| **x)
                .count()
                > 1
            {
                return Err(invalid(
                    "one proposal changes the rules, removes or admits one member: not several",
                ));
            }
            let action = if let Some(args) = &amend {
                let c: Constitution = args.apply(&st.constitution)?;
                Payload::Amend(c).encode()
            } else if let Some(m) = &remove {
                let member = member_arg(m)?;
                if !st.is_member(&member) {
                    return Err(invalid(format!("{} is not a member", member.to_did())));
                }
                // The cut is taken at the close (what it saw); `seen` is not used.
                Payload::Remove {
                    member,
                    seen: 0,
                    reason: title.trim().to_owned(),
                }
                .encode()
            } else if let Some(m) = &admit {
                let member = member_arg(m)?;
                let pending = st.pending.get(&member).ok_or_else(|| {
                    invalid(format!(
                        "{} has not asked to join (no pending join)",
                        member.to_did()
                    ))
                })?;
                Payload::Admit {
                    member,
                    join: pending.join,
                }
                .encode()
            } else {
                Vec::new()
            };
            let p = Proposal {
                text: ProposalText {
                    title: title.trim().to_owned(),
                    body,
                    options: options_arg(
                        &options,
                        matches!(method.kind, MethodKind::Budget { .. }),
                    )?,
                },
                method,
                electorate,
                topic,
                voting: !discuss,
                deadline: if deadline_secs == 0 {
                    0
                } else {
                    now.saturating_add(deadline_secs.saturating_mul(1000))
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
            // Check the encoding limits the way every node will.
            Payload::decode(&payload.encode()).map_err(|e| invalid(e.to_string()))?;
            let (ev, st) = write_checked(store, id, group, payload, now, Vec::new())?;
            let pid = ev.id();
            Ok(proposal_outcome(vec![ev], &st, &pid))
        }
        Op::Revise {
            group,
            proposal,
            title,
            body,
            options,
        } => {
            let group = group_arg(&group)?;
            let st = state(store, group)?;
            let p = own_proposal(&st, &proposal, &me, "revise it")?;
            if p.status != Status::Discussion {
                return Err(invalid(format!(
                    "the proposal is {}; only proposals in discussion can be revised",
                    p.status.as_str()
                )));
            }
            let text = ProposalText {
                title: title.unwrap_or_else(|| p.text.title.clone()),
                body: body.unwrap_or_else(|| p.text.body.clone()),
                options: match options {
                    Some(o) => options_arg(
                        &o,
                        matches!(p.proposal.method.kind, MethodKind::Budget { .. }),
                    )?,
                    None => p.text.options.clone(),
                },
            };
            Proposal {
                text: text.clone(),
                ..p.proposal.clone()
            }
            .check()
            .map_err(|e| invalid(e.to_string()))?;
            let payload = Payload::Revise {
                proposal: p.id,
                text,
            };
            Payload::decode(&payload.encode()).map_err(|e| invalid(e.to_string()))?;
            let pid = p.id;
            let (ev, st) = write_checked(store, id, group, payload, now, Vec::new())?;
            Ok(proposal_outcome(vec![ev], &st, &pid))
        }
        Op::OpenVoting { group, proposal } => {
            let group = group_arg(&group)?;
            let st = state(store, group)?;
            let p = own_proposal(&st, &proposal, &me, "open voting")?;
            if p.status != Status::Discussion {
                return Err(invalid(format!(
                    "the proposal is already {}",
                    p.status.as_str()
                )));
            }
            let (pid, text) = (p.id, p.text_id);
            let (ev, st) = write_checked(
                store,
                id,
                group,
                Payload::OpenVoting {
                    proposal: pid,
                    text,
                },
                now,
                Vec::new(),
            )?;
            Ok(proposal_outcome(vec![ev], &st, &pid))
        }
        Op::Withdraw { group, proposal } => {
            let group = group_arg(&group)?;
            let st = state(store, group)?;
            let p = own_proposal(&st, &proposal, &me, "withdraw it")?;
            if matches!(p.status, Status::Closed | Status::Withdrawn) {
                return Err(invalid(format!(
                    "the proposal is already {}",
                    p.status.as_str()
                )));
            }
            let pid = p.id;
            let (ev, _) = write_checked(
                store,
                id,
                group,
                Payload::Withdraw { proposal: pid },
                now,
                Vec::new(),
            )?;
            Ok(Outcome {
                events: vec![ev],
                value: json!({ "proposal": pid.to_hex(), "status": "withdrawn" }),
            })
        }
        Op::Vote {
            group,
            proposal,
            ballot,
            reason,
        } => {
            let group = group_arg(&group)?;
            let st = state(store, group)?;
            require_member(&st, &me)?;
            let p = find_proposal(&st, &proposal)?;
            if p.status != Status::Voting {
                return Err(invalid(format!(
                    "the proposal is {}; votes count only while it is open for voting",
                    p.status.as_str()
                )));
            }
            if !in_electorate(&st, p, &me) {
                return Err(OpError::Denied(format!(
                    "only `{}` vote on this proposal",
                    p.proposal.electorate.to_text()
                )));
            }
            let b = parse_ballot(p, &ballot)?;
            let costs = p.text.costs(&p.proposal.method);
            let options = costs.len();
            dualpower_decide::validate(&p.proposal.method, options, &costs, &b, &reason)
                .map_err(|e| invalid(e.to_string()))?;
            if matches!(p.proposal.method.kind, MethodKind::Quadratic) {
                let cost = dualpower_decide::quadratic_cost(&b);
                let others: u64 = st
                    .spent
                    .get(&(me, p.period))
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
            }
            let pid = p.id;
            let (ev, st) = write_checked(
                store,
                id,
                group,
                Payload::Vote {
                    proposal: pid,
                    ballot: b,
                    reason,
                },
                now,
                Vec::new(),
            )?;
            Ok(proposal_outcome(vec![ev], &st, &pid))
        }
        Op::Delegate {
            group,
            to,
            topic,
            proposal,
            nobody,
        } => {
            let group = group_arg(&group)?;
            let st = state(store, group)?;
            require_member(&st, &me)?;
            let scope = match (topic, proposal) {
                (Some(_), Some(_)) => {
                    return Err(invalid("give --topic or --proposal, not both"));
                }
                (Some(t), None) => Scope::Topic(
                    dualpower_core::decision::topic(&t).map_err(|e| invalid(e.to_string()))?,
                ),
                (None, Some(p)) => {
                    let p = find_proposal(&st, &p)?;
                    if !p.proposal.method.allows_delegation() {
                        return Err(invalid(format!(
                            "`{}` votes are personal: they cannot be delegated",
                            p.proposal.method.name()
                        )));
                    }
                    Scope::Proposal(p.id)
                }
                (None, None) => Scope::Group,
            };
            let target = match (to, nobody) {
                (Some(_), true) => return Err(invalid("give a delegate or --nobody, not both")),
                (Some(t), false) => {
                    let k = member_arg(&t)?;
                    if k == me {
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
            };
            let (ev, _) = write_checked(
                store,
                id,
                group,
                Payload::Delegate {
                    scope: scope.clone(),
                    target: target.clone(),
                },
                now,
                Vec::new(),
            )?;
            Ok(Outcome {
                events: vec![ev],
                value: json!({ "scope": scope_text(&scope), "target": target_text(&target) }),
            })
        }
        Op::Close { group, proposal } => {
            let group = group_arg(&group)?;
            let st = state(store, group)?;
            require_member(&st, &me)?;
            let p = find_proposal(&st, &proposal)?;
            match p.status {
                Status::Voting => {}
                s => {
                    return Err(invalid(format!(
                        "the proposal is {}, not open for voting",
                        s.as_str()
                    )));
                }
            }
            if p.author != me && !in_electorate(&st, p, &me) {
                return Err(OpError::Denied(format!(
                    "only the author or the electorate ({}) may close this proposal",
                    p.proposal.electorate.to_text()
                )));
            }
            if p.author != me && (p.proposal.deadline == 0 || now < p.proposal.deadline) {
                return Err(OpError::Denied(if p.proposal.deadline == 0 {
                    "only the proposal's author may close it (it has no deadline)".into()
                } else {
                    "only the proposal's author may close it before its deadline".into()
                }));
            }
            let pid = p.id;
            // What counts is the close's causal past, and one event cites at most MAX_DEPS
            // others: bring the head of every log this node holds into our own log first
            // (merge events), so the close counts every vote we have.
            let mut heads: Vec<EventId> = store
                .logs(Some(group))?
                .into_iter()
                .filter(|l| l.author != me)
                .filter_map(|l| l.head)
                .collect();
            heads.sort_unstable();
            let mut events = Vec::new();
            while heads.len() > MAX_DEPS {
                let chunk: Vec<EventId> = heads.drain(..MAX_DEPS).collect();
                events.push(store.append_citing(
                    id,
                    group,
                    0,
                    Payload::Merge.encode(),
                    0,
                    now,
                    chunk,
                )?);
            }
            let (close, st) = write_checked(
                store,
                id,
                group,
                Payload::Close { proposal: pid },
                now,
                heads,
            )?;
            events.push(close);
            Ok(proposal_outcome(events, &st, &pid))
        }
        other => Err(invalid(format!("not a decision operation: {other:?}"))),
    }
}

/// Co-signs the certificate of every closed proposal of `group` whose digest this member has
/// not attested yet (or attested differently: a concurrent close changed what counts). Called
/// by the node whenever the group changes. Returns the events written.
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
        out.push(append(
            store,
            id,
            group,
            Payload::Attest {
                proposal: p.id,
                digest,
            },
            now,
        )?);
    }
    Ok(out)
}

/// Attestations of a proposal as JSON: who co-signed the digest we computed, who did not.
pub fn attestations_json(p: &ProposalState) -> Value {
    let ours = p.certificate.as_ref().map(|c| c.digest());
    let (agree, differ): (Vec<_>, Vec<_>) =
        p.attestations.iter().partition(|(_, d)| Some(**d) == ours);
    json!({
        "agree": agree.iter().map(|(k, _)| k.to_did()).collect::<Vec<_>>(),
        "differ": differ.iter().map(|(k, d)| json!({ "member": k.to_did(), "digest": hex::encode(d) })).collect::<Vec<_>>(),
    })
}

/// A scope in words.
pub fn scope_text(s: &Scope) -> String {
    match s {
        Scope::Group => "group".into(),
        Scope::Topic(t) => format!("topic:{t}"),
        Scope::Proposal(p) => format!("proposal:{}", p.to_hex()),
    }
}

/// A delegation target in words.
pub fn target_text(t: &Target) -> String {
    match t {
        Target::Inherit => "inherit".into(),
        Target::Nobody => "nobody".into(),
        Target::To(k) => k.to_did(),
    }
}

/// A proposal as JSON (certificate included, with its digest).
pub fn proposal_json(p: &ProposalState) -> Value {
    let labels = p.text.labels(&p.proposal.method);
    json!({
        "id": p.id.to_hex(),
        "author": p.author.to_did(),
        "title": p.text.title,
        "body": p.text.body,
        "text": p.text_id.to_hex(),
        "options": labels,
        "costs": p.text.options.iter().map(|o| o.cost).collect::<Vec<_>>(),
        "method": p.proposal.method.to_text(),
        "electorate": p.proposal.electorate.to_text(),
        "topic": p.proposal.topic,
        "deadline": p.proposal.deadline,
        "status": p.status.as_str(),
        "action": !p.proposal.action.is_empty(),
        "enacted": p.enacted,
        "votes": p.votes.iter().map(|(k, v)| json!({
            "voter": k.to_did(), "event": v.event.to_hex(),
            "ballot": ballot_text(p, &v.ballot), "reason": v.reason,
        })).collect::<Vec<_>>(),
        "holders": p.holders.iter().map(|(k, h)| match h {
            WeightHolder::Voter { voter, depth } => json!({
                "member": k.to_did(), "held_by": voter.to_did(), "depth": depth,
            }),
            WeightHolder::Lost { reason, at } => json!({
                "member": k.to_did(), "lost": reason, "at": at.map(|a| a.to_did()),
            }),
        }).collect::<Vec<_>>(),
        "late": p.late.iter().map(|e| e.to_hex()).collect::<Vec<_>>(),
        "closes": p.closes.iter().map(|e| e.to_hex()).collect::<Vec<_>>(),
        "certificate": p.certificate.as_ref().map(|c| c.to_json()),
        "attestations": attestations_json(p),
    })
}

/// The proposals of a group as JSON, newest activity last.
pub fn proposals(store: &Store, group: GroupId) -> Result<(GroupState, Vec<Value>), OpError> {
    let st = state(store, group)?;
    let list = st.proposals.values().map(proposal_json).collect();
    Ok((st, list))
}

/// Re-verifies every stored event of `group` from its bytes, derives the group from scratch
/// and returns the proposal's certificate as JSON with the number of events re-verified.
pub fn verify_tally(
    store: &Store,
    group: GroupId,
    proposal: &str,
) -> Result<(Value, usize), OpError> {
    let network = *store.network();
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
    let st = GroupState::derive(&network, group, &fresh);
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

/// The constitution arguments of an amendment proposal (re-exported for the CLI).
pub type AmendArgs = ConstitutionArgs;

/// The id of a proposal event, for callers holding only its hex.
pub fn proposal_id(st: &GroupState, key: &str) -> Result<EventId, OpError> {
    find_proposal(st, key).map(|p| p.id)
}
