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

use std::collections::{BTreeMap, HashMap};

use dualpower_core::ledger::LedgerAct;
use dualpower_core::{EventId, Payload, PublicKey};
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
}

impl CreditState {
    /// The sum of all balances (zero, always).
    pub fn sum(&self) -> i128 {
        self.balances.values().sum()
    }
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
                let bits = &self.bits;
                self.ledger
                    .pay(cx.id, &cx.author, &to, amount, limit, |p| {
                        bits.get(p).is_some_and(|b| cx.past.has(*b))
                    })
                    .map_err(|e| no(name, e.to_string()))?;
                if let Some(i) = &invoice
                    && let Some(inv) = self.st.invoices.get_mut(i)
                {
                    inv.paid_by = Some(cx.id);
                }
                *self.st.balances.entry(cx.author).or_default() -= i128::from(amount);
                *self.st.balances.entry(to).or_default() += i128::from(amount);
                self.st.payments.push(Payment {
                    id: cx.id,
                    from: cx.author,
                    to,
                    amount,
                    memo,
                    invoice,
                    at: cx.timestamp,
                });
                self.touched = true;
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
        }
    }
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
}
