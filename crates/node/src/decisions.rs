//! The read side of decisions: finding proposals, reading ballots as people type them, and
//! proposals, certificates and attestations as JSON (reading them through the member's keys, and
//! re-verifying a tally from the stored bytes, is in [`crate::ops::decisions`]).
//!
//! These are pure functions of the derived state (or of the stored events), used by the CLI and
//! by the decision operations in [`crate::ops`] alike; the writing lives there.

use dualpower_core::decision::{Ballot, Electorate, MethodKind, Scope, Target};
use dualpower_core::{EventId, Payload, PublicKey};
use dualpower_state::{GroupState, ProposalState, Status, WeightHolder};
use serde_json::{Value, json};

use crate::ops::constitution::ConstitutionArgs;
use crate::ops::write::OpError;

fn invalid(s: impl Into<String>) -> OpError {
    OpError::Invalid(s.into())
}

/// Finds a proposal by full id or unique hex prefix (at least 4 digits).
pub fn find_proposal<'a>(st: &'a GroupState, key: &str) -> Result<&'a ProposalState, OpError> {
    crate::ops::write::by_prefix(
        key,
        "proposal",
        "dualpower proposals",
        st.proposals.values().map(|p| (p.id, p)),
    )
}

/// Whether `who` may vote on `p` now (a current member, holding the role if one is required).
pub fn in_electorate(st: &GroupState, p: &ProposalState, who: &PublicKey) -> bool {
    match (&p.proposal.electorate, st.members.get(who)) {
        (_, None) => false,
        (Electorate::Members, Some(_)) => true,
        (Electorate::Role(r), Some(m)) => m.roles.contains(r),
    }
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
        "`{s}` is not an option; the options are {} (a name or its number)",
        numbered(labels)
    )))
}

/// `1 beds, 2 shed, 3 compost`: options as people pick them (numbered from 1, as in ballots).
pub fn numbered(labels: &[String]) -> String {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{} {l}", i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a ballot for `p` looks like, with an example built from its own options.
pub fn ballot_format(p: &ProposalState) -> String {
    let labels = p.text.labels(&p.proposal.method);
    let first = |n: usize| labels.iter().take(n).cloned().collect::<Vec<_>>();
    let pairs = |vals: &[i64]| {
        labels
            .iter()
            .zip(vals.iter().cycle())
            .map(|(l, v)| format!("{l}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let method = p.proposal.method.name();
    let how = match &p.proposal.method.kind {
        MethodKind::Majority { .. } | MethodKind::Consent | MethodKind::Plurality => {
            format!(
                "one option, e.g. `{}`",
                labels.first().cloned().unwrap_or_default()
            )
        }
        MethodKind::Approval | MethodKind::Budget { .. } => format!(
            "the options you approve, comma-separated, e.g. `{}`",
            first(2).join(",")
        ),
        MethodKind::Irv => format!(
            "the options in order of preference, most preferred first, e.g. `{}`",
            labels.iter().rev().cloned().collect::<Vec<_>>().join(",")
        ),
        MethodKind::Schulze => format!(
            "a grade per option, not a ranking: higher is preferred, and the status quo counts \
             as 0, so grade below 0 what you like less than no change, e.g. `{}`, or one number \
             per option in order",
            pairs(&[2, 1, -1])
        ),
        MethodKind::Score { min, max } | MethodKind::Star { min, max } => format!(
            "a score from {min} to {max} per option, e.g. `{}`, or one number per option in order",
            pairs(&[*max, *min])
        ),
        MethodKind::Dot { dots } => format!(
            "up to {dots} points spread over the options, e.g. `{}={dots}`",
            labels.first().cloned().unwrap_or_default()
        ),
        MethodKind::Quadratic => format!(
            "votes per option (negative against; n votes cost n² credits), e.g. `{}`",
            pairs(&[2, -1])
        ),
    };
    format!(
        "a {method} ballot is {how}; the options are {}; `abstain` works for every method",
        numbered(&labels)
    )
}

/// Turns what a person typed into a ballot for `p` (see the CLI's `vote --help`).
pub fn parse_ballot(p: &ProposalState, text: &str) -> Result<Ballot, OpError> {
    parse_ballot_as_typed(p, text).map_err(|e| invalid(format!("{e}\n{}", ballot_format(p))))
}

fn parse_ballot_as_typed(p: &ProposalState, text: &str) -> Result<Ballot, OpError> {
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
                if let Some(l) = parts.iter().find(|x| x.parse::<i64>().is_err()) {
                    return Err(invalid(if option_index(&labels, l).is_ok() {
                        format!("`{t}` names options without numbers")
                    } else {
                        format!("`{l}` is not a whole number")
                    }));
                }
                if parts.len() != labels.len() {
                    return Err(invalid(format!(
                        "`{t}` gives {} number(s) for {} options",
                        parts.len(),
                        labels.len()
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
            .unwrap_or_else(|| format!("#{}", u64::from(*i) + 1))
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
        "enacts": action_text(p),
        "enacted": p.enacted,
        "enactment": enactment_text(p),
        "timestamp": p.timestamp,
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

/// The constitution arguments of an amendment proposal (re-exported for the CLI).
pub type AmendArgs = ConstitutionArgs;

/// The id of a proposal event, for callers holding only its hex.
pub fn proposal_id(st: &GroupState, key: &str) -> Result<EventId, OpError> {
    find_proposal(st, key).map(|p| p.id)
}

/// What a proposal's action does if it passes, in words (`None`: it carries none).
pub fn action_text(p: &ProposalState) -> Option<String> {
    if p.proposal.action.is_empty() {
        return None;
    }
    Some(match Payload::decode(&p.proposal.action) {
        Ok(Payload::Amend(_)) => "change the group's rules".into(),
        Ok(Payload::Admit { member, .. }) => format!("admit {}", member.to_did()),
        Ok(Payload::Remove { member, .. }) => format!("remove {}", member.to_did()),
        Ok(Payload::Role {
            member,
            role,
            grant: true,
        }) => format!("grant the role `{role}` to {}", member.to_did()),
        Ok(Payload::Role { member, role, .. }) => {
            format!("revoke the role `{role}` from {}", member.to_did())
        }
        Ok(Payload::Work(dualpower_core::work::Work::Tasks(ts))) => format!(
            "create {} task{}: {}",
            ts.len(),
            if ts.len() == 1 { "" } else { "s" },
            ts.iter()
                .map(|t| format!("\"{}\"", t.title))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Ok(Payload::Ledger(dualpower_core::ledger::LedgerAct::Limit { member, limit })) => format!(
            "set {}'s credit limit to {}",
            member.to_did(),
            dualpower_core::ledger::amount_text(i128::from(limit))
        ),
        Ok(Payload::Ledger(dualpower_core::ledger::LedgerAct::Link { group, terms }))
            if terms.bridges.is_empty() =>
        {
            format!(
                "unlink the ledger from {} (group {})",
                terms.name,
                group.to_hex()
            )
        }
        Ok(Payload::Ledger(dualpower_core::ledger::LedgerAct::Link { group, terms })) => format!(
            "link the ledger to {} (group {}), extending it {} of credit, with bridges {}",
            terms.name,
            group.to_hex(),
            dualpower_core::ledger::amount_text(i128::from(terms.limit)),
            crate::names::did_list(&terms.bridges)
        ),
        Ok(Payload::Ledger(dualpower_core::ledger::LedgerAct::Grant { to, amount, memo })) => {
            format!(
                "pay {} from the commons to {} ({memo})",
                dualpower_core::ledger::amount_text(i128::from(amount)),
                to.to_did()
            )
        }
        Ok(other) => format!("a `{}` event", other.kind_name()),
        Err(e) => format!("an unreadable action ({e})"),
    })
}

/// What the close of a proposal with an action did, in words: what happened (`admitted …`,
/// `removed …`, `granted …`, `the group's rules changed`) or why nothing did. `None` while it
/// is not closed, or if it carries no action.
pub fn enactment_text(p: &ProposalState) -> Option<String> {
    if p.status != Status::Closed || p.proposal.action.is_empty() {
        return None;
    }
    if !p.enacted {
        let passed = p
            .certificate
            .as_ref()
            .is_some_and(|c| c.outcome.passed == Some(true));
        return Some(match (&p.not_enacted, passed) {
            (Some(why), _) => format!("failed: {why}"),
            (None, false) => "nothing changed: the proposal did not pass".into(),
            (None, true) => "failed".into(),
        });
    }
    Some(match Payload::decode(&p.proposal.action) {
        Ok(Payload::Amend(_)) => "the group's rules changed".into(),
        Ok(Payload::Work(dualpower_core::work::Work::Tasks(ts))) => {
            format!(
                "created {} task{}",
                ts.len(),
                if ts.len() == 1 { "" } else { "s" }
            )
        }
        Ok(Payload::Admit { member, .. }) => format!("admitted {}", member.to_did()),
        Ok(Payload::Remove { member, .. }) => format!("removed {}", member.to_did()),
        Ok(Payload::Role {
            member,
            role,
            grant: true,
        }) => format!("granted the role `{role}` to {}", member.to_did()),
        Ok(Payload::Role { member, role, .. }) => {
            format!("revoked the role `{role}` from {}", member.to_did())
        }
        _ => "enacted".into(),
    })
}
