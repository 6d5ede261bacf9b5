//! Mutual credit: a ledger in which money is created by the act of paying, so every credit is
//! someone's debit and the balances of a group always sum to zero.
//!
//! It exists apart from the event machinery so its rules can be read, tested and measured on
//! their own. The state crate feeds it a group's payments in causal order and answers, for each
//! one, which earlier payments are in the payment's causal past. The rules:
//!
//! - **A payment moves `amount` from the payer to the payee** (1 ≤ amount ≤ [`MAX_AMOUNT`], never
//!   to oneself). Balances are `i128`, so no sequence of valid payments overflows.
//! - **The payer may go below zero by its limit, no further**: at the payment, its balance
//!   counted from the payments in the payment's causal past minus the amount must be at least
//!   `-limit`. A payer's own payments are all in its own log, so each one sees the ones before it;
//!   overspending would need a fork, and forks are void upstream (the state crate refuses a
//!   forked author's events from the fork on, on both branches).
//! - **Incoming credit counts for spending only once it is in the spender's causal past**: a
//!   payment the payee has not seen when it pays does not count for that payment.
//! - Balances as of the whole set count every accepted payment, so they are never below what the
//!   payer could see when it paid, and a balance never goes below its limit at any payment.
//!
//! Everything is integer arithmetic and a pure function of the payments and their order, so
//! every node gets the same ledger.

use std::collections::BTreeMap;

/// The largest amount of one payment, in the unit's smallest part (so that ten million
/// payments of it still fit an `i64` many times over and `i128` balances never overflow).
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

/// Why a payment is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    /// An amount of zero moves nothing.
    #[error("an amount of zero moves nothing")]
    Zero,
    /// Above [`MAX_AMOUNT`].
    #[error("{amount} is more than one payment may move ({MAX_AMOUNT})")]
    TooLarge {
        /// The amount.
        amount: u64,
    },
    /// Payer and payee are the same.
    #[error("a member cannot pay itself")]
    ToSelf,
    /// The payer would go below its limit.
    #[error(
        "the payer's balance is {balance} as far as it has seen; paying {amount} would take it to {after}, below its limit of -{limit}"
    )]
    Overspend {
        /// The payer's balance counted from what is in the payment's past.
        balance: i128,
        /// The amount.
        amount: u64,
        /// The balance the payment would leave.
        after: i128,
        /// The payer's limit.
        limit: u64,
    },
}

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account<P> {
    /// Balance as of every accepted payment.
    pub balance: i128,
    /// Everything it paid.
    pub paid: i128,
    /// Incoming payments already in its own causal past (what it may spend from).
    pub seen_in: i128,
    /// Incoming payments it has not been seen to know of yet: (payment, amount).
    pending: Vec<(P, u64)>,
    /// Accepted payments it made or received.
    pub payments: u64,
}

impl<P> Default for Account<P> {
    fn default() -> Self {
        Account {
            balance: 0,
            paid: 0,
            seen_in: 0,
            pending: Vec::new(),
            payments: 0,
        }
    }
}

/// A ledger of accounts keyed by `K`, whose payments are identified by `P`.
#[derive(Debug, Clone)]
pub struct Ledger<K, P> {
    accounts: BTreeMap<K, Account<P>>,
    /// Sum of every accepted amount.
    pub volume: u128,
}

impl<K: Ord + Clone, P: Clone> Default for Ledger<K, P> {
    fn default() -> Self {
        Ledger {
            accounts: BTreeMap::new(),
            volume: 0,
        }
    }
}

impl<K: Ord + Clone, P: Clone> Ledger<K, P> {
    /// The balance of `k` as of every accepted payment.
    pub fn balance(&self, k: &K) -> i128 {
        self.accounts.get(k).map_or(0, |a| a.balance)
    }

    /// `k`'s balance counted only from incoming payments for which `in_past` holds (those in
    /// the causal past of the point asking), minus everything it paid.
    pub fn seen_balance(&mut self, k: &K, in_past: impl Fn(&P) -> bool) -> i128 {
        let Some(a) = self.accounts.get_mut(k) else {
            return 0;
        };
        // What was in the past of an earlier payment of `k` is in the past of a later one (its
        // log is a chain), so only what was still pending needs looking at.
        let mut seen = 0i128;
        a.pending.retain(|(p, amount)| {
            if in_past(p) {
                seen += i128::from(*amount);
                false
            } else {
                true
            }
        });
        a.seen_in += seen;
        a.seen_in - a.paid
    }

    /// `k`'s balance as a point outside `k`'s own log sees it: the incoming payments `k`'s own
    /// payments have already counted, plus those still pending that are in that point's past,
    /// minus everything it paid. Remembers nothing, so asking on behalf of another log (a
    /// bridge crediting from a clearing account, a demurrage charge) never makes credit
    /// spendable for `k` that `k` has not seen. For an account with no log of its own (a
    /// clearing account, the commons) it is exactly what that point sees.
    pub fn peek_balance(&self, k: &K, in_past: impl Fn(&P) -> bool) -> i128 {
        let Some(a) = self.accounts.get(k) else {
            return 0;
        };
        let pending: i128 = a
            .pending
            .iter()
            .filter(|(p, _)| in_past(p))
            .map(|(_, amount)| i128::from(*amount))
            .sum();
        a.seen_in + pending - a.paid
    }

    /// Checks a payment without making it; `limit` is the payer's limit at the payment (the
    /// caller knows which limit changes are in the payment's past). The payer is the author of
    /// the payment (its own log asks: see [`Ledger::seen_balance`]).
    pub fn check(
        &mut self,
        payer: &K,
        payee: &K,
        amount: u64,
        limit: u64,
        in_past: impl Fn(&P) -> bool,
    ) -> Result<(), CreditError> {
        let balance = self.seen_balance(payer, in_past);
        Self::check_at(payer, payee, amount, limit, balance)
    }

    /// The rules of a payment, given the balance the payer may spend from.
    fn check_at(
        payer: &K,
        payee: &K,
        amount: u64,
        limit: u64,
        balance: i128,
    ) -> Result<(), CreditError> {
        if amount == 0 {
            return Err(CreditError::Zero);
        }
        if amount > MAX_AMOUNT {
            return Err(CreditError::TooLarge { amount });
        }
        if payer == payee {
            return Err(CreditError::ToSelf);
        }
        let after = balance - i128::from(amount);
        if after < -i128::from(limit) {
            return Err(CreditError::Overspend {
                balance,
                amount,
                after,
                limit,
            });
        }
        Ok(())
    }

    /// Makes payment `id` of `amount` from `payer` (whose limit is `limit`) to `payee`, if the
    /// rules allow it.
    pub fn pay(
        &mut self,
        id: P,
        payer: &K,
        payee: &K,
        amount: u64,
        limit: u64,
        in_past: impl Fn(&P) -> bool,
    ) -> Result<(), CreditError> {
        self.check(payer, payee, amount, limit, in_past)?;
        self.book(id, payer, payee, amount);
        Ok(())
    }

    /// Makes payment `id` from an account whose payments are not its own log's (a clearing
    /// account paid out by a bridge, the commons by a grant): judged with
    /// [`Ledger::peek_balance`], which remembers nothing.
    pub fn pay_from_other_log(
        &mut self,
        id: P,
        payer: &K,
        payee: &K,
        amount: u64,
        limit: u64,
        in_past: impl Fn(&P) -> bool,
    ) -> Result<(), CreditError> {
        let balance = self.peek_balance(payer, in_past);
        Self::check_at(payer, payee, amount, limit, balance)?;
        self.book(id, payer, payee, amount);
        Ok(())
    }

    fn book(&mut self, id: P, payer: &K, payee: &K, amount: u64) {
        let a = i128::from(amount);
        let from = self.accounts.entry(payer.clone()).or_default();
        from.balance -= a;
        from.paid += a;
        from.payments += 1;
        let to = self.accounts.entry(payee.clone()).or_default();
        to.balance += a;
        to.pending.push((id, amount));
        to.payments += 1;
        self.volume += u128::from(amount);
    }

    /// Charges demurrage `id` at `rate` basis points (1/10 000) into `to`: every other account
    /// for which `exempt` is false pays `rate` of its positive balance as
    /// [`Ledger::peek_balance`] counts it (what the account itself or the charge had seen, never
    /// more than its whole balance), so a charge never takes an account below zero and makes
    /// nothing spendable. A charge counts as paid, so the account's later payments see it.
    /// Returns what each paid, in key order.
    pub fn levy(
        &mut self,
        id: P,
        to: &K,
        rate: u64,
        in_past: impl Fn(&P) -> bool,
        exempt: impl Fn(&K) -> bool,
    ) -> Vec<(K, u64)> {
        let keys: Vec<K> = self
            .accounts
            .keys()
            .filter(|k| *k != to && !exempt(k))
            .cloned()
            .collect();
        let mut charged = Vec::new();
        let mut total: i128 = 0;
        for k in keys {
            // Never more than its whole balance (incoming only adds).
            let base = self.peek_balance(&k, &in_past);
            if base <= 0 {
                continue;
            }
            // base ≤ the sum of all amounts ever paid, so this fits; floor, so nobody pays more.
            let charge = base * i128::from(rate) / 10_000;
            let Ok(charge_u) = u64::try_from(charge) else {
                continue;
            };
            if charge_u == 0 {
                continue;
            }
            let a = self.accounts.entry(k.clone()).or_default();
            a.balance -= charge;
            a.paid += charge;
            a.payments += 1;
            total += charge;
            charged.push((k, charge_u));
        }
        if total > 0 {
            let c = self.accounts.entry(to.clone()).or_default();
            c.balance += total;
            for (_, amount) in &charged {
                c.pending.push((id.clone(), *amount));
            }
            c.payments += 1;
            self.volume += u128::try_from(total).unwrap_or(0);
        }
        charged
    }

    /// Every account, in key order.
    pub fn accounts(&self) -> impl Iterator<Item = (&K, &Account<P>)> {
        self.accounts.iter()
    }

    /// The sum of all balances: zero, always (checked by the tests; kept as a function so
    /// callers can assert it too).
    pub fn sum(&self) -> i128 {
        self.accounts.values().map(|a| a.balance).sum()
    }
}
