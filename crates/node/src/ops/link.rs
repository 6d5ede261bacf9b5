//! Links between groups' ledgers (issue 15): linking by decision, paying across, granting from
//! the commons, the bridge's duties, and the audit a member of both groups can run.
//!
//! A link is two decisions, one in each group, naming the same bridges: members of both groups
//! whose nodes carry payments across (see the rules in `dualpower-state`'s `credit` module).
//! Everything a bridge does is an event the member could write by hand; its node does it by
//! itself ([`link_duties`]), as soon as it holds both groups' events:
//!
//! 1. open the link here once the other group has decided too (`Linked`);
//! 2. for each payment across from here that is not settled: credit the payee there (`PayIn`)
//!    and mark it delivered here, or, if the other group would refuse it, bounce it here (the
//!    clearing account pays the payer back) with the other group's reason;
//! 3. show here the other group's shared offers and needs (`Mirror`), and update them when
//!    what is open there changes.
//!
//! Both ledgers count in hundredths of their own unit, one for one: groups that link agree
//! that their units are worth the same (an exchange rate is not built).

use dualpower_core::aid::AidAct;
use dualpower_core::ledger::{
    DEMURRAGE_PERIOD_MS, LedgerAct, LinkTerms, MAX_LINK_TEXT_BYTES, amount_text, clearing_account,
    parse_amount,
};
use dualpower_core::{EventId, GroupId, Identity, Payload, PublicKey, VerifiedEvent};
use dualpower_state::GroupState;
use dualpower_state::credit::Delivery;
use serde_json::{Value, json};

use super::decisions::propose_act;
use super::keys::{view, write_decision};
use super::ledger::balance_of;
use super::write::{
    Cx, OpError, group_arg, invalid, known_keys, member_among, member_arg, require, require_member,
};
use super::{Op, Outcome};

/// The most mirrors one round of duties writes per linked group (the rest follow next round).
const MIRRORS_PER_ROUND: usize = 32;

/// A linked group named by id, id prefix or its name here.
fn linked_group(st: &GroupState, key: &str) -> Result<GroupId, OpError> {
    let k = key.trim();
    let lower = k.to_ascii_lowercase();
    let hits: Vec<GroupId> = st
        .credit
        .links
        .iter()
        .filter(|(g, l)| g.to_hex().starts_with(&lower) && lower.len() >= 4 || l.terms.name == k)
        .map(|(g, _)| *g)
        .collect();
    match hits.as_slice() {
        [g] => Ok(*g),
        [] => Err(invalid(format!(
            "the ledger has no link to `{k}` (see `dualpower link list GROUP`)"
        ))),
        _ => Err(invalid(format!("`{k}` names more than one linked group"))),
    }
}

/// Carries out a link operation (the caller routes only those here).
pub(crate) fn apply(cx: Cx<'_>, op: Op) -> Result<Outcome, OpError> {
    match op {
        Op::Link {
            group,
            with,
            name,
            limit,
            bridges,
            deadline_secs,
        } => link(cx, &group, &with, name, &limit, &bridges, deadline_secs),
        Op::Grant {
            group,
            to,
            amount,
            memo,
            deadline_secs,
        } => grant(cx, &group, &to, &amount, memo, deadline_secs),
        Op::PayAcross {
            group,
            to_group,
            to,
            amount,
            memo,
        } => pay_across(cx, &group, &to_group, &to, &amount, &memo),
        other => Err(invalid(format!("not a link operation: {other:?}"))),
    }
}

/// `link propose`: links (or, with no bridges, unlinks) the ledger to group `with`.
fn link(
    cx: Cx<'_>,
    group: &str,
    with: &str,
    name: String,
    limit: &str,
    bridges: &[String],
    deadline_secs: u64,
) -> Result<Outcome, OpError> {
    let me = cx.me();
    let g = group_arg(group)?;
    let st = view(cx.store, cx.id, g, cx.now)?.state;
    require_member(&st, &me)?;
    let other = group_arg(with)?;
    if other == g {
        return Err(invalid("a group cannot link its ledger to itself"));
    }
    let name = name.trim().to_owned();
    if name.is_empty() || name.len() > MAX_LINK_TEXT_BYTES {
        return Err(invalid(format!(
            "name the other group (1 to {MAX_LINK_TEXT_BYTES} bytes)"
        )));
    }
    let limit = parse_amount(limit, true).map_err(|e| invalid(e.to_string()))?;
    let mut keys = Vec::new();
    for b in bridges {
        let k = member_among(b, known_keys(&st))?;
        if !st.is_member(&k) {
            return Err(invalid(format!(
                "bridge {} is not a member here",
                k.to_did()
            )));
        }
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let terms = LinkTerms {
        name: name.clone(),
        limit,
        bridges: keys,
    };
    let act = Payload::Ledger(LedgerAct::Link {
        group: other,
        terms: terms.clone(),
    });
    super::write::check_encoding(&act)?;
    let title = if terms.bridges.is_empty() {
        format!("Unlink our ledger from {name}")
    } else {
        format!(
            "Link our ledger to {name} (credit {})",
            amount_text(i128::from(limit))
        )
    };
    let body = format!(
        "Group {}. Bridges: {}.",
        other.to_hex(),
        crate::names::did_list(&terms.bridges)
    );
    by_credit_rule(
        cx,
        group,
        &st,
        "link the ledger",
        (title, body),
        deadline_secs,
        act,
        |st, id| links_json(st, Some(id)),
    )
}

/// Carries out `act` by the group's credit rule (`credit.limits`): a proposal (`title`, `body`)
/// when the rule is a vote, otherwise written at once if the rule lets us; `answer` says what
/// the group looks like after it.
#[allow(clippy::too_many_arguments)]
fn by_credit_rule(
    cx: Cx<'_>,
    group: &str,
    st: &GroupState,
    what: &str,
    (title, body): (String, String),
    deadline_secs: u64,
    act: Payload,
    answer: impl FnOnce(&GroupState, &EventId) -> Value,
) -> Result<Outcome, OpError> {
    let rule = &st.constitution.credit.limits;
    if matches!(rule, dualpower_core::Rule::Vote) {
        return propose_act(cx, group, title, body, deadline_secs, act);
    }
    require(st, rule, &cx.me(), what)?;
    let (ev, st) = write_decision(cx, group_arg(group)?, act, vec![])?;
    Ok(Outcome {
        value: answer(&st, &ev.id()),
        events: vec![ev],
    })
}

/// `grant`: the commons pays `to`.
fn grant(
    cx: Cx<'_>,
    group: &str,
    to: &str,
    amount: &str,
    memo: String,
    deadline_secs: u64,
) -> Result<Outcome, OpError> {
    let me = cx.me();
    let g = group_arg(group)?;
    let st = view(cx.store, cx.id, g, cx.now)?.state;
    require_member(&st, &me)?;
    let to = member_among(to, known_keys(&st))?;
    if !st.is_member(&to) {
        return Err(invalid(format!("{} is not a member", to.to_did())));
    }
    let amount = parse_amount(amount, false).map_err(|e| invalid(e.to_string()))?;
    let act = Payload::Ledger(LedgerAct::Grant {
        to,
        amount,
        memo: memo.trim().to_owned(),
    });
    super::write::check_encoding(&act)?;
    let title = format!(
        "Grant {} {} from the commons to {}",
        amount_text(i128::from(amount)),
        st.constitution.credit.unit,
        to.to_did()
    );
    by_credit_rule(
        cx,
        group,
        &st,
        "grant from the commons",
        (title, memo),
        deadline_secs,
        act,
        |st, id| super::ledger::ledger_json(st, None, Some(id)),
    )
}

/// `link pay`: pays member `to` of the linked group `to_group`.
fn pay_across(
    cx: Cx<'_>,
    group: &str,
    to_group: &str,
    to: &str,
    amount: &str,
    memo: &str,
) -> Result<Outcome, OpError> {
    let me = cx.me();
    let g = group_arg(group)?;
    let st = view(cx.store, cx.id, g, cx.now)?.state;
    require_member(&st, &me)?;
    let other = linked_group(&st, to_group)?;
    let link = &st.credit.links[&other];
    if link.terms.bridges.is_empty() {
        return Err(invalid(format!(
            "the link to {} is closed",
            link.terms.name
        )));
    }
    if link.opened.is_none() {
        return Err(invalid(format!(
            "the link to {} is not open yet: it opens when {} has decided to link too \
             and a bridge has seen it",
            link.terms.name, link.terms.name
        )));
    }
    // The payee is a member there: named by key, or by label if we are in that group.
    let payee = match member_arg(to) {
        Ok(k) => k,
        Err(_) => {
            let there = view(cx.store, cx.id, other, cx.now).map_err(|_| {
                invalid(format!(
                    "name the payee by its did:key: this node is not in {}",
                    link.terms.name
                ))
            })?;
            member_among(to, known_keys(&there.state))?
        }
    };
    let amount = parse_amount(amount, false).map_err(|e| invalid(e.to_string()))?;
    super::ledger::within_limit(&st, &me, amount)?;
    let act = LedgerAct::PayOut {
        group: other,
        to: payee,
        amount,
        memo: memo.trim().to_owned(),
    };
    let (ev, st) = write_decision(cx, g, Payload::Ledger(act), vec![])?;
    Ok(Outcome {
        value: links_json(&st, Some(&ev.id())),
        events: vec![ev],
    })
}

/// The links of a group's ledger as JSON: each with its terms, whether it is open, its
/// clearing account's balance and the payments across each way; `event`: what an operation
/// wrote (for a proposal, see its answer instead).
pub fn links_json(st: &GroupState, event: Option<&EventId>) -> Value {
    let c = &st.credit;
    let links: Vec<Value> = c
        .links
        .iter()
        .map(|(g, l)| {
            let status = if l.terms.bridges.is_empty() {
                "closed"
            } else if l.opened.is_some() {
                "open"
            } else {
                "waiting"
            };
            let out: Vec<Value> = c
                .outgoing
                .iter()
                .filter(|(_, t)| t.group == *g)
                .map(|(id, t)| {
                    let (state, detail) = match &t.delivery {
                        Delivery::Sent => ("sent", Value::Null),
                        Delivery::Delivered(r) => ("delivered", json!(r.to_hex())),
                        Delivery::Bounced(why) => ("bounced", json!(why)),
                    };
                    json!({
                        "id": id.to_hex(), "from": t.from.to_did(), "to": t.to.to_did(),
                        "amount": amount_text(i128::from(t.amount)), "memo": t.memo,
                        "state": state, "detail": detail, "at": t.at,
                    })
                })
                .collect();
            let inc: Vec<Value> = c
                .incoming
                .iter()
                .filter(|((from, _), _)| from == g)
                .map(|((_, origin), a)| {
                    json!({
                        "id": a.id.to_hex(), "origin": origin.to_hex(),
                        "from": a.from.to_did(), "to": a.to.to_did(),
                        "amount": amount_text(i128::from(a.amount)), "bridge": a.bridge.to_did(),
                        "memo": a.memo, "at": a.at,
                    })
                })
                .collect();
            json!({
                "group": g.to_hex(),
                "name": l.terms.name,
                "limit": amount_text(i128::from(l.terms.limit)),
                "bridges": l.terms.bridges.iter().map(|k| k.to_did()).collect::<Vec<_>>(),
                "status": status,
                "account": l.account.to_did(),
                "balance": amount_text(balance_of(st, &l.account)),
                "outgoing": out,
                "incoming": inc,
            })
        })
        .collect();
    json!({
        "group": st.group.to_hex(),
        "name": st.name,
        "unit": st.constitution.credit.unit,
        "demurrage_bp": st.constitution.credit.demurrage,
        "commons": amount_text(balance_of(st, &dualpower_core::ledger::commons_account(&st.group))),
        "event": event.map(|e| e.to_hex()),
        "named": c.links.values().map(|l| {
            (l.account.to_did(), Value::String(format!("clearing: {}", l.terms.name)))
        }).collect::<serde_json::Map<_, _>>(),
        "links": links,
    })
}

/// A group's name for messages.
fn gname(st: &GroupState) -> String {
    st.name
        .clone()
        .unwrap_or_else(|| format!("group {}", &st.group.to_hex()[..8]))
}

/// What a member of both `a` and `b` finds when it compares their logs: every payment `b`
/// credited from `a` must be a payment across made in `a` to that payee, of that amount, not
/// bounced; every delivery `a` recorded must be credited in `b`. Each finding is one line;
/// none: the bridges kept faith.
pub fn audit(a: &GroupState, b: &GroupState) -> Vec<String> {
    let mut out = Vec::new();
    let from_a = b
        .credit
        .incoming
        .iter()
        .filter(|((g, _), _)| *g == a.group)
        .map(|((_, origin), arr)| (origin, arr));
    for (origin, arr) in from_a {
        match a.credit.outgoing.get(origin) {
            None => out.push(format!(
                "{} credited {} to {} for payment {origin}, which {} does not have",
                gname(b),
                amount_text(i128::from(arr.amount)),
                arr.to.to_did(),
                gname(a)
            )),
            Some(t) if t.to != arr.to || t.amount != arr.amount || t.from != arr.from => {
                out.push(format!(
                    "payment {origin}: {} sent {} to {}, {} credited {} to {} (bridge {})",
                    gname(a),
                    amount_text(i128::from(t.amount)),
                    t.to.to_did(),
                    gname(b),
                    amount_text(i128::from(arr.amount)),
                    arr.to.to_did(),
                    arr.bridge.to_did()
                ))
            }
            Some(t) if matches!(t.delivery, Delivery::Bounced(_)) => out.push(format!(
                "payment {origin} was paid back in {} and also credited in {} (bridge {})",
                gname(a),
                gname(b),
                arr.bridge.to_did()
            )),
            Some(_) => {}
        }
    }
    for (origin, t) in a.credit.outgoing.iter().filter(|(_, t)| t.group == b.group) {
        if let Delivery::Delivered(remote) = &t.delivery
            && b.credit
                .incoming
                .get(&(a.group, *origin))
                .is_none_or(|x| x.id != *remote || !carries(x, t))
        {
            out.push(format!(
                "{} marked payment {origin} delivered as {remote}, which {} does not have",
                gname(a),
                gname(b)
            ));
        }
    }
    out
}

/// Whether credit `x` in the other group is payment `t` (same payer, payee and amount).
fn carries(x: &dualpower_state::credit::Arrival, t: &dualpower_state::credit::Transfer) -> bool {
    x.from == t.from && x.to == t.to && x.amount == t.amount
}

/// The node's ledger duties, run whenever a group's events change:
///
/// - **demurrage**: once a 30-day period of group time has ended, charge it (the member whose
///   turn it is by the period, in key order; any member's node a day later);
/// - **bridge**: for every link of `group` whose other group this node is also in, both
///   directions (see the module docs).
pub fn ledger_duties(
    store: &dualpower_store::Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let st = view(store, id, group, now)?.state;
    let me = id.public();
    if !st.is_member(&me) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let rate = st.constitution.credit.demurrage;
    let period = st.work.now / DEMURRAGE_PERIOD_MS;
    if rate > 0 && period > 0 && !st.credit.demurrage.contains_key(&(period - 1)) {
        let members: Vec<&PublicKey> = st.members.keys().collect();
        let turn = members[usize::try_from((period - 1) % members.len() as u64).unwrap_or(0)];
        let late = st.work.now >= period * DEMURRAGE_PERIOD_MS + 86_400_000;
        if *turn == me || late {
            let act = LedgerAct::Demurrage { period: period - 1 };
            out.extend(duty(Cx { store, id, now }, group, Payload::Ledger(act))?);
        }
    }
    let others: Vec<GroupId> = st.credit.links.keys().copied().collect();
    for other in others {
        let cx = Cx { store, id, now };
        let there = view(store, id, other, now).ok();
        if !there.is_some_and(|t| t.state.is_member(&me)) {
            // We cannot carry what we were trusted with: pay it back rather than strand it.
            out.extend(bounce_stranded(cx, &st, other)?);
            continue;
        }
        out.extend(bridge(cx, group, other)?);
        out.extend(bridge(cx, other, group)?);
    }
    Ok(out)
}

/// Payments across from `st`'s group to `other` that this node was trusted to carry, when it
/// is not (or no longer) a member of `other`: bounced, so the payers are paid back.
fn bounce_stranded(
    cx: Cx<'_>,
    st: &GroupState,
    other: GroupId,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let me = cx.me();
    let mut out = Vec::new();
    let name = st
        .credit
        .links
        .get(&other)
        .map_or_else(String::new, |l| l.terms.name.clone());
    for (origin, x) in pending(st, other, &me) {
        if !due(cx, &origin, &x, &me) {
            continue;
        }
        let why = reason(format!("its bridge is not a member of {name}"));
        let settle = LedgerAct::Settle {
            origin,
            result: Err(why),
        };
        out.extend(duty(cx, st.group, Payload::Ledger(settle))?);
    }
    Ok(out)
}

/// The payments across from `st`'s group to `other` still waiting for a bridge, that `me` was
/// named to carry.
fn pending(
    st: &GroupState,
    other: GroupId,
    me: &PublicKey,
) -> Vec<(EventId, dualpower_state::credit::Transfer)> {
    st.credit
        .outgoing
        .iter()
        .filter(|(_, x)| x.group == other && x.delivery == Delivery::Sent)
        .filter(|(_, x)| x.bridges.contains(me))
        .map(|(i, x)| (*i, x.clone()))
        .collect()
}

/// When this node first saw each payment across it may carry (node clock, ms), so the day a
/// designated bridge is given is not counted from the payer's own claimed time (a backdated
/// payment would otherwise let every bridge carry it at once). Bounded.
static FIRST_SEEN: std::sync::Mutex<std::collections::VecDeque<(EventId, u64)>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());
/// How many payments [`FIRST_SEEN`] remembers.
const FIRST_SEEN_KEPT: usize = 4096;

/// Whether this node carries payment `origin` now: one bridge carries each payment, chosen by
/// the payment's id, so two honest bridges do not race (one delivering while the other, seeing
/// the credit used up, bounces); the others step in a day after this node first saw it.
fn due(
    cx: Cx<'_>,
    origin: &EventId,
    x: &dualpower_state::credit::Transfer,
    me: &PublicKey,
) -> bool {
    let designated = x.bridges[usize::from(origin.0[0]) % x.bridges.len().max(1)];
    if designated == *me {
        return true;
    }
    let Ok(mut seen) = FIRST_SEEN.lock() else {
        return false;
    };
    let first = match seen.iter().find(|(o, _)| o == origin) {
        Some((_, t)) => *t,
        None => {
            if seen.len() == FIRST_SEEN_KEPT {
                seen.pop_front();
            }
            seen.push_back((*origin, cx.now));
            cx.now
        }
    };
    cx.now >= first.saturating_add(86_400_000)
}

/// A reason short enough for a settlement (at most [`MAX_LINK_TEXT_BYTES`] bytes, cut at a
/// character boundary).
fn reason(why: String) -> String {
    if why.len() <= MAX_LINK_TEXT_BYTES {
        return why;
    }
    let mut end = MAX_LINK_TEXT_BYTES - '…'.len_utf8();
    while !why.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &why[..end])
}

/// Duty payloads the group refused, by hash of (group, payload), with when (node clock, ms):
/// the same duty is not written again for an hour. A refusal is only known once the event is
/// written (the judge runs on the stored event), and every write starts a new round of duties,
/// so without this a check that disagreed with the judge would write refusals without end;
/// forgetting after an hour lets a duty that was refused for a passing reason be done later.
static REFUSED: std::sync::Mutex<std::collections::VecDeque<([u8; 32], u64)>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());
/// How many refused duties [`REFUSED`] remembers.
const REFUSED_KEPT: usize = 1024;
/// How long a refused duty is not tried again (ms).
const REFUSED_FOR_MS: u64 = 3_600_000;

/// Writes `payload` into `group` as a duty; a refusal (the state moved under us) is logged,
/// remembered so the same payload is not written again for a while, and the next round sees
/// it.
fn duty(cx: Cx<'_>, group: GroupId, payload: Payload) -> Result<Option<VerifiedEvent>, OpError> {
    // Keyed by the node too: nodes that share a process (simulations) keep their own.
    let mut h = blake3::Hasher::new();
    h.update(&cx.me().0);
    h.update(&group.0);
    h.update(&payload.encode());
    let key = *h.finalize().as_bytes();
    let recent = REFUSED.lock().is_ok_and(|r| {
        r.iter()
            .any(|(k, at)| *k == key && cx.now < at.saturating_add(REFUSED_FOR_MS))
    });
    if recent {
        return Ok(None);
    }
    match write_decision(cx, group, payload, vec![]) {
        Ok((ev, _)) => Ok(Some(ev)),
        Err(OpError::Denied(why) | OpError::Invalid(why)) => {
            tracing::debug!(group = %group, %why, "ledger duty refused");
            if let Ok(mut r) = REFUSED.lock() {
                if r.len() == REFUSED_KEPT {
                    r.pop_front();
                }
                r.push_back((key, cx.now));
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Is `me` a bridge of `st`'s link to `other`, and the link's terms.
fn bridged<'a>(st: &'a GroupState, other: &GroupId, me: &PublicKey) -> Option<&'a LinkTerms> {
    st.credit
        .links
        .get(other)
        .map(|l| &l.terms)
        .filter(|t| t.bridges.contains(me))
}

/// One direction of a link, from `here` to `there`: open it here, carry here's payments
/// across, mirror there's shared intents here.
fn bridge(cx: Cx<'_>, here: GroupId, there: GroupId) -> Result<Vec<VerifiedEvent>, OpError> {
    let me = cx.me();
    let mut out = Vec::new();
    let h = view(cx.store, cx.id, here, cx.now)?.state;
    let t = view(cx.store, cx.id, there, cx.now)?.state;
    if !h.credit.links.contains_key(&there) {
        return Ok(out);
    }
    // 1. Open here once there has decided (with us as a bridge on both sides).
    let theirs = t.credit.links.get(&here);
    if bridged(&h, &there, &me).is_some()
        && h.credit.links[&there].opened.is_none()
        && let Some(l) = theirs.filter(|l| l.terms.bridges.contains(&me))
    {
        let act = LedgerAct::Linked {
            group: there,
            decision: l.decided,
        };
        out.extend(duty(cx, here, Payload::Ledger(act))?);
    }
    // 2. Carry the payments we were named for when they were made, even if the link has been
    //    closed or we are no longer its bridge here since: they are delivered or paid back,
    //    never stranded.
    for (origin, x) in pending(&h, there, &me) {
        if !due(cx, &origin, &x, &me) {
            continue;
        }
        // Re-read there: each credit changes its clearing account.
        let t = view(cx.store, cx.id, there, cx.now)?.state;
        let result = if let Some(a) = t.credit.incoming.get(&(here, origin)) {
            if !carries(a, &x) {
                // Another bridge of this link credited something else for it: the audit
                // shows it; we do not vouch for it.
                tracing::warn!(%origin, "a payment across was credited with other terms");
                continue;
            }
            Ok(a.id)
        } else {
            match refusal_there(&t, &here, &me, &x) {
                Some(Wait) => continue,
                None => {
                    let act = LedgerAct::PayIn {
                        group: here,
                        origin,
                        from: x.from,
                        to: x.to,
                        amount: x.amount,
                        memo: x.memo.clone(),
                    };
                    match duty(cx, there, Payload::Ledger(act))? {
                        Some(ev) => {
                            let id = ev.id();
                            out.push(ev);
                            Ok(id)
                        }
                        None => continue,
                    }
                }
                Some(Bounce(why)) => Err(reason(why)),
            }
        };
        let settle = LedgerAct::Settle { origin, result };
        out.extend(duty(cx, here, Payload::Ledger(settle))?);
    }
    // 3. Mirror there's shared intents here.
    if bridged(&h, &there, &me).is_some() && bridged(&t, &here, &me).is_some() {
        let gt = t.work.now;
        let mut n = 0;
        for (origin, p) in t.aid.intents.iter().filter(|(_, p)| p.intent.linked) {
            let open = if super::aid::is_open(p, gt) {
                p.left()
            } else {
                0
            };
            let shown = h.aid.mirrored.get(&(there, *origin)).map(|m| m.open);
            // Nothing to show for one that closed before it was ever shown.
            if shown == Some(open) || (shown.is_none() && open == 0) {
                continue;
            }
            if n == MIRRORS_PER_ROUND {
                break;
            }
            n += 1;
            let act = AidAct::Mirror {
                group: there,
                origin: *origin,
                author: p.author,
                intent: p.intent.clone(),
                open,
            };
            out.extend(duty(cx, here, Payload::Aid(act))?);
        }
    }
    Ok(out)
}

/// Why the other group would not credit a payment across now.
enum Refusal {
    /// Not yet: its link is not open (it may still decide).
    Wait,
    /// Never: it says why.
    Bounce(String),
}
use Refusal::{Bounce, Wait};

/// Whether `t` (the other group) would refuse to credit `x` from `from`, checked as its judge
/// will: its link open with us as a bridge, the payee a member, its clearing account within
/// the credit it extends.
fn refusal_there(
    t: &GroupState,
    from: &GroupId,
    me: &PublicKey,
    x: &dualpower_state::credit::Transfer,
) -> Option<Refusal> {
    let Some(l) = t.credit.links.get(from) else {
        return Some(Wait);
    };
    if l.terms.bridges.is_empty() {
        return Some(Bounce(format!("{} closed its link", gname(t))));
    }
    if !l.terms.bridges.contains(me) {
        return Some(Bounce(format!(
            "its bridge does not carry for {} any more",
            gname(t)
        )));
    }
    if l.opened.is_none() {
        return Some(Wait);
    }
    if !t.is_member(&x.to) {
        return Some(Bounce(format!("the payee is not a member of {}", gname(t))));
    }
    let account = clearing_account(from);
    let after = balance_of(t, &account) - i128::from(x.amount);
    if after < -i128::from(l.terms.limit) {
        return Some(Bounce(format!(
            "{} extends {} {} of credit to this group and {} of it is used",
            gname(t),
            amount_text(i128::from(l.terms.limit)),
            t.constitution.credit.unit,
            amount_text((-balance_of(t, &account)).max(0)),
        )));
    }
    None
}
