//! The credit domain: a group's mutual-credit ledger judged event by event (issue 15).
//!
//! It exists to put [`dualpower_credit::Ledger`]'s rules into the causal order: each payment is
//! checked at its own causal point, counting as the payer's incoming credit only the payments in
//! that point's past. Rules, each tested in `tests/credit.rs`:
//!
//! - A payment is signed by its payer (the author), to a current member other than itself, of
//!   1 to `MAX_AMOUNT` hundredths; it may take the payer below zero by its limit and no further.
//! - **Forks freeze**: a payer that signed two events at one seq of its log has every event from
//!   that seq on refused (the pass screens them), on both branches, so it cannot spend twice.
//!   Payments others made to it still count. A payment that relied on credit from a frozen
//!   branch is refused in turn: credit that never existed cannot be spent, and balances keep
//!   summing to zero.
//! - A removed member's payments after its removal are refused (the pass's cut); payments to a
//!   non-member are refused.
//! - An invoice counts only when its payer pays it (a payment naming the invoice, of its amount,
//!   to its author); it is settled once.
//! - Lowering one's own limit is free; any other limit change follows the rule `credit.limits`
//!   (by default a vote: a passed proposal whose action is the limit). A payment is judged
//!   with the payer's limit as of its own causal point: the last limit change in its past, else
//!   the default of the rules in force there.
//!
//! **Links between groups** (Credit Commons style). Each group decides by its own rule
//! (`credit.limits`) to link to another group, naming the bridges (members of both) and how
//! much credit it extends. The other group is then an account here, its *clearing account*
//! ([`dualpower_core::ledger::clearing_account`]), which nobody holds the key of:
//!
//! - A bridge opens the link here (`Linked`) once it has seen the other group decide too; no
//!   payment crosses before. Closing the link (a decision with no bridges) and reopening it
//!   needs a new `Linked`.
//! - A member pays across (`PayOut`): it pays the clearing account, within its own limit.
//! - A bridge credits the payee in the other group (`PayIn`, once per origin): that group's
//!   clearing account for this one pays the payee, within the credit that group extends.
//! - A bridge settles the origin (`Settle`, once): delivered, or bounced, and then the clearing
//!   account pays the payer back (a return is never refused for the clearing account's limit).
//! - Every step is a payment inside one ledger, so each ledger still sums to zero. What one
//!   group cannot check is the other's log: a bridge is trusted by both decisions, bounded by
//!   the credit each extends, and a member of both groups can audit it (`link audit`).
//!
//! **Demurrage** (`credit.demurrage` basis points per 30 days of group time): a member posts
//! `Demurrage` for the period that just ended, once; every positive balance as seen at that
//! event pays the rate into the commons account; clearing accounts and the commons are exempt.
//! The charge counts as paid, so it never takes a balance below zero and later payments see it.
//! The commons pays out only by `Grant` (by the `credit.limits` rule), up to what it holds.

use std::collections::{BTreeMap, HashMap};

use dualpower_core::ledger::{
    DEMURRAGE_PERIOD_MS, LedgerAct, LinkTerms, clearing_account, commons_account,
};
use dualpower_core::{EventId, GroupId, Payload, PublicKey};
use dualpower_credit::Ledger;

use crate::authority::{Act, Cx};
use crate::domain::{Domain, Effect};
use crate::refusal::Refusal;

/// Whether the credit domain judges `p`.
pub fn owns(p: &Payload) -> bool {
    matches!(p, Payload::Ledger(_))
}

fn no(act: &'static str, why: impl Into<String>) -> Refusal {
    Refusal::Credit {
        act,
        why: why.into(),
    }
}

/// An accepted payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The payment event.
    pub id: EventId,
    /// Payer.
    pub from: PublicKey,
    /// Payee.
    pub to: PublicKey,
    /// Hundredths of the unit.
    pub amount: u64,
    /// What for.
    pub memo: String,
    /// The invoice it settled.
    pub invoice: Option<EventId>,
    /// The payer's claimed time (ms).
    pub at: u64,
}

/// An invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// Who asked to be paid.
    pub payee: PublicKey,
    /// Who is asked to pay.
    pub payer: PublicKey,
    /// Hundredths of the unit.
    pub amount: u64,
    /// What for.
    pub memo: String,
    /// The payment that settled it.
    pub paid_by: Option<EventId>,
    /// Claimed time (ms).
    pub at: u64,
}

/// A link to another group's ledger, as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    /// Its terms (no bridges: closed).
    pub terms: LinkTerms,
    /// The act that set them.
    pub decided: EventId,
    /// The bridge's `Linked` that opened it (None: waiting for the other group's decision).
    pub opened: Option<EventId>,
    /// The other group's close its bridge cited.
    pub their_decision: Option<EventId>,
    /// Its clearing account here.
    pub account: PublicKey,
}

/// What became of a payment across.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Waiting for a bridge.
    Sent,
    /// Credited in the other group by that event.
    Delivered(EventId),
    /// Refused there, and paid back here, for this reason.
    Bounced(String),
}

/// A payment across, made here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The linked group.
    pub group: GroupId,
    /// The payer (a member here).
    pub from: PublicKey,
    /// The payee (a member there).
    pub to: PublicKey,
    /// Hundredths.
    pub amount: u64,
    /// What for.
    pub memo: String,
    /// The bridges of the link when it was paid (who may settle it).
    pub bridges: Vec<PublicKey>,
    /// What became of it, and by which event.
    pub delivery: Delivery,
    /// The settling event.
    pub settled_by: Option<EventId>,
    /// Claimed time (ms).
    pub at: u64,
    /// Delivered, then voided here by its payer's fork or cut: its debit is kept (booked by
    /// the delivery), since the other group has honoured it.
    pub kept: bool,
}

/// A payment across, credited here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The `PayIn` event here.
    pub id: EventId,
    /// The linked group it came from.
    pub group: GroupId,
    /// Who paid there.
    pub from: PublicKey,
    /// The payee here.
    pub to: PublicKey,
    /// Hundredths.
    pub amount: u64,
    /// The bridge that carried it.
    pub bridge: PublicKey,
    /// What for.
    pub memo: String,
    /// The bridge's claimed time (ms).
    pub at: u64,
}

/// A demurrage charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The event.
    pub id: EventId,
    /// Who posted it.
    pub by: PublicKey,
    /// The rate, in basis points.
    pub rate: u64,
    /// What each account paid.
    pub paid: Vec<(PublicKey, u64)>,
}

/// The ledger as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreditState {
    /// Balances of every account that paid or was paid, in hundredths.
    pub balances: BTreeMap<PublicKey, i128>,
    /// Limits set for members (others have the rules' default).
    pub limits: BTreeMap<PublicKey, u64>,
    /// Accepted payments, in causal order.
    pub payments: Vec<Payment>,
    /// Invoices by event.
    pub invoices: BTreeMap<EventId, Invoice>,
    /// Links by the other group.
    pub links: BTreeMap<GroupId, LinkView>,
    /// Payments across made here, by their event.
    pub outgoing: BTreeMap<EventId, Transfer>,
    /// Payments across credited here, by the group they came from and their origin (the
    /// payment's event in that group's log): one credit per origin and link, so a bridge of
    /// another link cannot take a payment's id.
    pub incoming: BTreeMap<(GroupId, EventId), Arrival>,
    /// Demurrage charged, by period.
    pub demurrage: BTreeMap<u64, Charge>,
    /// Accounts that are not members: clearing accounts (by the linked group's name here) and
    /// the commons.
    pub named: BTreeMap<PublicKey, String>,
}

impl CreditState {
    /// The sum of all balances (zero, always).
    pub fn sum(&self) -> i128 {
        self.balances.values().sum()
    }
}

/// A payment across voided by the pass (see [`CreditBook`]).
#[derive(Clone)]
struct VoidedPayOut {
    group: GroupId,
    from: PublicKey,
    to: PublicKey,
    amount: u64,
    memo: String,
    at: u64,
}

/// The credit domain's record while the pass runs.
#[derive(Default)]
pub(crate) struct CreditBook {
    ledger: Ledger<PublicKey, EventId>,
    st: CreditState,
    /// Control bits of payments, invoices and limit changes (markers), for "is it in my past".
    bits: HashMap<EventId, usize>,
    /// Each member's limit changes in causal order: (the event that set it, the limit).
    limit_changes: HashMap<PublicKey, Vec<(EventId, u64)>>,
    /// `Linked` events by group: (event, the link act that opened the run it opens).
    opened: HashMap<GroupId, Vec<(EventId, usize)>>,
    /// The current run of each link as of the pass so far (the act that opened it), as
    /// [`crate::authority::Authority::link_at`] computes it over every link act: the view
    /// says "open" only for a `Linked` of this run.
    runs: HashMap<GroupId, Option<usize>>,
    /// Payments across that the pass voided (their payer forked, or was cut) before they
    /// reached this domain: a delivery of one books its debit after all.
    voided: HashMap<EventId, VoidedPayOut>,
    touched: bool,
}

impl CreditBook {
    fn in_past(&self, cx: &Cx<'_>, id: &EventId) -> bool {
        self.bits.get(id).is_some_and(|b| cx.past.has(*b))
    }

    /// Takes whether anything changed since the last call.
    pub(crate) fn take_touched(&mut self) -> bool {
        std::mem::take(&mut self.touched)
    }

    /// The state so far.
    pub(crate) fn view(&self) -> CreditState {
        self.st.clone()
    }

    /// Brings `st` up to date if anything changed.
    pub(crate) fn refresh(&mut self, st: &mut CreditState) {
        if self.take_touched() {
            *st = self.st.clone();
        }
    }

    /// A limit set by event `by` (with control bit `bit` once known): a passed proposal's close,
    /// or a member's own limit act.
    pub(crate) fn set_limit(
        &mut self,
        by: EventId,
        bit: Option<usize>,
        member: PublicKey,
        limit: u64,
    ) {
        if let Some(b) = bit {
            self.bits.insert(by, b);
        }
        self.limit_changes
            .entry(member)
            .or_default()
            .push((by, limit));
        self.st.limits.insert(member, limit);
        self.touched = true;
    }

    /// A link act (by decision or by a holder of the rule) was recorded as event `by`, control
    /// index `idx`.
    pub(crate) fn link(&mut self, by: EventId, idx: usize, group: GroupId, terms: &LinkTerms) {
        let run = self.runs.entry(group).or_default();
        *run = match (*run, terms.bridges.is_empty()) {
            (_, true) => None,
            (None, false) => Some(idx),
            (Some(r), false) => Some(r),
        };
        let account = clearing_account(&group);
        self.st.named.insert(account, terms.name.clone());
        let e = self.st.links.entry(group).or_insert_with(|| LinkView {
            terms: terms.clone(),
            decided: by,
            opened: None,
            their_decision: None,
            account,
        });
        // Reopening after a close waits for a new `Linked`.
        if e.terms.bridges.is_empty() || terms.bridges.is_empty() {
            e.opened = None;
            e.their_decision = None;
        }
        e.terms = terms.clone();
        e.decided = by;
        self.touched = true;
    }

    /// A grant (by decision or by a holder of the rule) recorded as event `by` at control
    /// index `bit`, whose control past is `past`: the commons pays what it holds, up to
    /// `amount`, counting only what is in that past.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn grant(
        &mut self,
        group: &GroupId,
        by: EventId,
        bit: usize,
        past: &crate::authority::Bits,
        to: PublicKey,
        amount: u64,
        memo: &str,
        at: u64,
    ) {
        self.bits.insert(by, bit);
        let commons = commons_account(group);
        self.st.named.insert(commons, "commons".into());
        let bits = &self.bits;
        let held = self
            .ledger
            .peek_balance(&commons, |p| bits.get(p).is_some_and(|b| past.has(*b)));
        let pay = u64::try_from(held.min(i128::from(amount))).unwrap_or(0);
        if pay == 0 {
            return;
        }
        if self
            .ledger
            .pay_from_other_log(by, &commons, &to, pay, 0, |p| {
                bits.get(p).is_some_and(|b| past.has(*b))
            })
            .is_ok()
        {
            self.moved(by, commons, to, pay, memo.to_owned(), None, at);
        }
    }

    /// Books an accepted movement in the state.
    #[allow(clippy::too_many_arguments)]
    fn moved(
        &mut self,
        id: EventId,
        from: PublicKey,
        to: PublicKey,
        amount: u64,
        memo: String,
        invoice: Option<EventId>,
        at: u64,
    ) {
        *self.st.balances.entry(from).or_default() -= i128::from(amount);
        *self.st.balances.entry(to).or_default() += i128::from(amount);
        self.st.payments.push(Payment {
            id,
            from,
            to,
            amount,
            memo,
            invoice,
            at,
        });
        self.touched = true;
    }

    /// Moves `amount` from `from` (limit `limit`) to `to` at `cx`, or says why not. The
    /// author pays from its own account (its log is a chain, so what it saw stays seen);
    /// anything else (a bridge paying out of a clearing account) is judged without remembering.
    fn pay_at(
        &mut self,
        cx: &Cx<'_>,
        name: &'static str,
        from: PublicKey,
        to: PublicKey,
        amount: u64,
        limit: u64,
    ) -> Result<(), Refusal> {
        let bits = &self.bits;
        let in_past = |p: &EventId| bits.get(p).is_some_and(|b| cx.past.has(*b));
        if from == cx.author {
            self.ledger.pay(cx.id, &from, &to, amount, limit, in_past)
        } else {
            self.ledger
                .pay_from_other_log(cx.id, &from, &to, amount, limit, in_past)
        }
        .map_err(|e| no(name, e.to_string()))
    }

    /// The link to `group` at `cx`, open (a `Linked` for its current run is in the past), with
    /// the author among its bridges if `bridge`.
    fn open_link<'c>(
        &self,
        cx: &'c Cx<'_>,
        name: &'static str,
        group: &GroupId,
        bridge: bool,
    ) -> Result<&'c LinkTerms, Refusal> {
        let (run, terms) = cx
            .auth
            .link_at(group, cx.past)
            .ok_or_else(|| no(name, format!("the ledger is not linked to group {group}")))?;
        if bridge && !terms.bridges.contains(&cx.author) {
            return Err(no(
                name,
                format!("only a bridge of the link to {} may do this", terms.name),
            ));
        }
        let open = self
            .opened
            .get(group)
            .is_some_and(|v| v.iter().any(|(e, r)| *r == run && self.in_past(cx, e)));
        if !open {
            return Err(no(
                name,
                format!(
                    "the link to {} is not open yet: a bridge opens it once the other group has decided too",
                    terms.name
                ),
            ));
        }
        Ok(terms)
    }

    /// `member`'s limit at `cx`: the last limit change in its causal past (in causal order),
    /// else the default of the rules in force there. A change the payer had not seen does not
    /// apply to its payment, in either direction.
    fn limit_at(&self, cx: &Cx<'_>, member: &PublicKey) -> u64 {
        self.limit_changes
            .get(member)
            .and_then(|v| v.iter().rev().find(|(by, _)| self.in_past(cx, by)))
            .map_or(cx.constitution().credit.default_limit, |(_, l)| *l)
    }

    fn judge_act(&mut self, cx: &Cx<'_>, act: LedgerAct) -> Result<Effect, Refusal> {
        let name = act.name();
        let rules = &cx.constitution().credit;
        match act {
            LedgerAct::Pay {
                to,
                amount,
                memo,
                invoice,
            } => {
                if !cx.is_member(&to) {
                    return Err(Refusal::TargetNotMember(to));
                }
                if let Some(i) = &invoice {
                    let inv = self
                        .st
                        .invoices
                        .get(i)
                        .filter(|_| self.in_past(cx, i))
                        .ok_or_else(|| no(name, "no such invoice in the payer's past"))?;
                    if inv.payer != cx.author || inv.payee != to || inv.amount != amount {
                        return Err(no(
                            name,
                            "a payment settles an invoice to its payer, from its author, of its amount",
                        ));
                    }
                    if let Some(p) = inv.paid_by {
                        return Err(no(name, format!("the invoice was paid already by {p}")));
                    }
                }
                let limit = self.limit_at(cx, &cx.author);
                self.pay_at(cx, name, cx.author, to, amount, limit)?;
                if let Some(i) = &invoice
                    && let Some(inv) = self.st.invoices.get_mut(i)
                {
                    inv.paid_by = Some(cx.id);
                }
                self.moved(cx.id, cx.author, to, amount, memo, invoice, cx.timestamp);
                Ok(Effect::act(Act::Marker))
            }
            LedgerAct::Invoice {
                payer,
                amount,
                memo,
            } => {
                if payer == cx.author {
                    return Err(no(name, "a member cannot invoice itself"));
                }
                if !cx.is_member(&payer) {
                    return Err(Refusal::TargetNotMember(payer));
                }
                self.st.invoices.insert(
                    cx.id,
                    Invoice {
                        payee: cx.author,
                        payer,
                        amount,
                        memo,
                        paid_by: None,
                        at: cx.timestamp,
                    },
                );
                self.touched = true;
                Ok(Effect::act(Act::Marker))
            }
            LedgerAct::Limit { member, limit } => {
                let current = self.limit_at(cx, &member);
                if !(member == cx.author && limit <= current) {
                    cx.check("set credit limits", &rules.limits)?;
                    if !cx.is_member(&member) {
                        return Err(Refusal::TargetNotMember(member));
                    }
                }
                // Its bit arrives through `marked`, before any later event asks.
                self.set_limit(cx.id, None, member, limit);
                Ok(Effect::act(Act::Marker))
            }
            LedgerAct::Link { group, terms } => {
                cx.check("link the ledger to another group's", &rules.limits)?;
                link_act(cx, group, terms)
                    .map(Effect::act)
                    .map_err(|why| no(name, why))
            }
            LedgerAct::Grant { to, amount, memo } => {
                cx.check("grant from the commons", &rules.limits)?;
                if !cx.is_member(&to) {
                    return Err(Refusal::TargetNotMember(to));
                }
                Ok(Effect::act(Act::Grant { to, amount, memo }))
            }
            LedgerAct::Linked { group, decision } => self.linked(cx, group, decision),
            LedgerAct::PayOut {
                group,
                to,
                amount,
                memo,
            } => self.pay_out(cx, group, to, amount, memo),
            LedgerAct::PayIn {
                group,
                origin,
                from,
                to,
                amount,
                memo,
            } => self.pay_in(cx, group, origin, from, to, amount, memo),
            LedgerAct::Settle { origin, result } => self.settle(cx, origin, result),
            LedgerAct::Demurrage { period } => self.demurrage(cx, period),
        }
    }

    /// A member pays across: its payment to the clearing account of `group`.
    fn pay_out(
        &mut self,
        cx: &Cx<'_>,
        group: GroupId,
        to: PublicKey,
        amount: u64,
        memo: String,
    ) -> Result<Effect, Refusal> {
        let name = "pay across";
        let terms = self.open_link(cx, name, &group, false)?;
        let bridges = terms.bridges.clone();
        let limit = self.limit_at(cx, &cx.author);
        let account = clearing_account(&group);
        self.pay_at(cx, name, cx.author, account, amount, limit)?;
        self.st.outgoing.insert(
            cx.id,
            Transfer {
                group,
                from: cx.author,
                to,
                amount,
                memo: memo.clone(),
                bridges,
                delivery: Delivery::Sent,
                settled_by: None,
                at: cx.timestamp,
                kept: false,
            },
        );
        self.moved(cx.id, cx.author, account, amount, memo, None, cx.timestamp);
        Ok(Effect::act(Act::Marker))
    }

    /// A bridge credits `to` for payment `origin` made in `group`, from its clearing account.
    #[allow(clippy::too_many_arguments)]
    fn pay_in(
        &mut self,
        cx: &Cx<'_>,
        group: GroupId,
        origin: EventId,
        from: PublicKey,
        to: PublicKey,
        amount: u64,
        memo: String,
    ) -> Result<Effect, Refusal> {
        let name = "pay in";
        let limit = self.open_link(cx, name, &group, true)?.limit;
        if let Some(a) = self.st.incoming.get(&(group, origin)) {
            return Err(no(
                name,
                format!("that payment was credited already, by {}", a.id),
            ));
        }
        if !cx.is_member(&to) {
            return Err(Refusal::TargetNotMember(to));
        }
        let account = clearing_account(&group);
        self.pay_at(cx, name, account, to, amount, limit)?;
        self.st.incoming.insert(
            (group, origin),
            Arrival {
                id: cx.id,
                group,
                from,
                to,
                amount,
                bridge: cx.author,
                memo: memo.clone(),
                at: cx.timestamp,
            },
        );
        self.moved(cx.id, account, to, amount, memo, None, cx.timestamp);
        Ok(Effect::act(Act::Marker))
    }

    /// A bridge opens the link to `group` (see the module's rules).
    fn linked(
        &mut self,
        cx: &Cx<'_>,
        group: GroupId,
        decision: EventId,
    ) -> Result<Effect, Refusal> {
        let name = "linked";
        let (run, terms) = cx
            .auth
            .link_at(&group, cx.past)
            .ok_or_else(|| no(name, format!("the ledger is not linked to group {group}")))?;
        if !terms.bridges.contains(&cx.author) {
            return Err(no(name, "only a bridge of the link may open it"));
        }
        let runs = self.opened.entry(group).or_default();
        if runs.iter().any(|(_, r)| *r == run) {
            return Err(no(
                name,
                format!("the link to {} is open already", terms.name),
            ));
        }
        runs.push((cx.id, run));
        // A late `Linked` of a run that has since been closed (or closed and reopened) opens
        // that run only: the view, and the bridge's node reading it, still wait for the
        // current one.
        if self.runs.get(&group) == Some(&Some(run))
            && let Some(l) = self.st.links.get_mut(&group)
        {
            l.opened = Some(cx.id);
            l.their_decision = Some(decision);
        }
        self.touched = true;
        Ok(Effect::act(Act::Marker))
    }

    /// A bridge settles an outgoing payment: delivered, or bounced and paid back.
    fn settle(
        &mut self,
        cx: &Cx<'_>,
        origin: EventId,
        result: Result<EventId, String>,
    ) -> Result<Effect, Refusal> {
        let name = "settle";
        if !self.st.outgoing.contains_key(&origin)
            && let Some(v) = self.voided.get(&origin).cloned()
        {
            return self.settle_voided(cx, origin, v, result);
        }
        let t = self
            .st
            .outgoing
            .get(&origin)
            .filter(|_| self.in_past(cx, &origin))
            .ok_or_else(|| no(name, "no such payment across in the bridge's past"))?;
        if !t.bridges.contains(&cx.author) {
            return Err(no(
                name,
                "only a bridge of the link it was paid through may settle it",
            ));
        }
        if let Some(by) = t.settled_by {
            return Err(no(
                name,
                format!("the payment was settled already, by {by}"),
            ));
        }
        let (from, amount, group) = (t.from, t.amount, t.group);
        let delivery = match result {
            Ok(remote) => Delivery::Delivered(remote),
            Err(why) => {
                // A return is never refused for the clearing account's limit: the payer's
                // credit went out and did not arrive.
                let account = clearing_account(&group);
                self.pay_at(cx, name, account, from, amount, u64::MAX)?;
                let memo = format!("returned: {why}");
                self.moved(cx.id, account, from, amount, memo, None, cx.timestamp);
                Delivery::Bounced(why)
            }
        };
        if let Some(t) = self.st.outgoing.get_mut(&origin) {
            t.delivery = delivery;
            t.settled_by = Some(cx.id);
        }
        self.touched = true;
        Ok(Effect::act(Act::Marker))
    }

    /// A delivery of a payment across that the pass voided (its payer forked or was cut after
    /// paying): the other group has credited the payee, so the payer's debit is booked now,
    /// from the bridge's settlement, and both clearing accounts still mirror each other. The
    /// payment must be in the bridge's past and the bridge one of the link's here. A bounce of
    /// it moves nothing: the payment never counted.
    fn settle_voided(
        &mut self,
        cx: &Cx<'_>,
        origin: EventId,
        v: VoidedPayOut,
        result: Result<EventId, String>,
    ) -> Result<Effect, Refusal> {
        let name = "settle";
        let floor = cx.graph.position(&origin).and_then(|p| p.checked_sub(1));
        if !cx
            .graph
            .contains(&cx.graph.ancestors_above(&cx.id, floor), &origin)
        {
            return Err(no(name, "no such payment across in the bridge's past"));
        }
        let (_, terms) = cx.auth.link_at(&v.group, cx.past).ok_or_else(|| {
            no(
                name,
                format!("the ledger is not linked to group {}", v.group),
            )
        })?;
        if !terms.bridges.contains(&cx.author) {
            return Err(no(name, "only a bridge of the link may settle it"));
        }
        let Ok(remote) = result else {
            return Err(no(
                name,
                "the payment was void (its payer forked or was removed)",
            ));
        };
        let bridges = terms.bridges.clone();
        let account = clearing_account(&v.group);
        // The payer's own log is frozen or cut: its debit is booked from outside it, past any
        // limit (the payment was accepted when it was made).
        self.pay_at(cx, name, v.from, account, v.amount, u64::MAX)?;
        let memo = format!("kept after its payer's log was voided: {}", v.memo);
        self.moved(cx.id, v.from, account, v.amount, memo, None, v.at);
        self.voided.remove(&origin);
        self.st.outgoing.insert(
            origin,
            Transfer {
                group: v.group,
                from: v.from,
                to: v.to,
                amount: v.amount,
                memo: v.memo,
                bridges,
                delivery: Delivery::Delivered(remote),
                settled_by: Some(cx.id),
                at: v.at,
                kept: true,
            },
        );
        Ok(Effect::act(Act::Marker))
    }

    /// Charges `period`'s demurrage (see the module's rules).
    fn demurrage(&mut self, cx: &Cx<'_>, period: u64) -> Result<Effect, Refusal> {
        let name = "demurrage";
        let rate = cx.constitution().credit.demurrage;
        if rate == 0 {
            return Err(no(name, "the group charges no demurrage"));
        }
        if let Some(c) = self.st.demurrage.get(&period) {
            return Err(no(
                name,
                format!("period {period} was charged already, by {}", c.id),
            ));
        }
        let now = crate::work::group_time(cx) / DEMURRAGE_PERIOD_MS;
        if now == 0 {
            return Err(no(name, "no 30-day period of group time has ended yet"));
        }
        if period.checked_add(1) != Some(now) {
            return Err(no(
                name,
                format!(
                    "only the period that just ended ({}) can be charged, not {period}",
                    now.saturating_sub(1)
                ),
            ));
        }
        let commons = commons_account(&cx.group);
        self.st.named.insert(commons, "commons".into());
        let bits = &self.bits;
        let named = &self.st.named;
        let paid = self.ledger.levy(
            cx.id,
            &commons,
            rate,
            |p| bits.get(p).is_some_and(|b| cx.past.has(*b)),
            |k| named.contains_key(k),
        );
        for (k, a) in &paid {
            let memo = format!("demurrage, period {period}");
            self.moved(cx.id, *k, commons, *a, memo, None, cx.timestamp);
        }
        self.st.demurrage.insert(
            period,
            Charge {
                id: cx.id,
                by: cx.author,
                rate,
                paid,
            },
        );
        self.touched = true;
        Ok(Effect::act(Act::Marker))
    }
}

/// The act of linking to `group` on `terms` at `cx` (a close, or a holder of the rule), or why
/// not: never to the group itself, and every bridge a member here.
pub(crate) fn link_act(cx: &Cx<'_>, group: GroupId, terms: LinkTerms) -> Result<Act, String> {
    if group == cx.group {
        return Err("a group cannot link its ledger to itself".into());
    }
    if let Some(b) = terms.bridges.iter().find(|b| !cx.is_member(b)) {
        return Err(format!("bridge {b} is not a member here"));
    }
    Ok(Act::Link { group, terms })
}

impl Domain for CreditBook {
    fn judge(&mut self, cx: &Cx<'_>, payload: Payload) -> Result<Effect, Refusal> {
        match payload {
            Payload::Ledger(a) => self.judge_act(cx, a),
            _ => Ok(Effect::None),
        }
    }

    fn marked(&mut self, id: &EventId, bit: usize) {
        self.bits.entry(*id).or_insert(bit);
    }

    /// Remembers a payment across the pass screened out as void (its author's fork, or a cut),
    /// in case a bridge had carried it before (see [`CreditBook::settle_voided`]).
    fn refused(&mut self, cx: &Cx<'_>, payload: &Payload, why: &Refusal) {
        if !matches!(why, Refusal::Forked { .. } | Refusal::AfterRemoval { .. }) {
            return;
        }
        if let Payload::Ledger(LedgerAct::PayOut {
            group,
            to,
            amount,
            memo,
        }) = payload
        {
            self.voided.insert(
                cx.id,
                VoidedPayOut {
                    group: *group,
                    from: cx.author,
                    to: *to,
                    amount: *amount,
                    memo: memo.clone(),
                    at: cx.timestamp,
                },
            );
        }
    }
}
