//! The wire types of a group's mutual-credit ledger (issue 15): payments signed by the payer,
//! invoices a payer accepts by paying them, credit limits, and the group's rules for them.
//!
//! One payload kind ([`crate::Payload::Ledger`]) carries a [`LedgerAct`], so the state crate's
//! `credit` domain owns exactly one kind. Amounts are integers in hundredths of the group's unit
//! (`150` is 1.50 hours), never floating point.

use crate::cbor::{Reader, Writer};
use crate::event::EventId;
use crate::keys::PublicKey;
use crate::payload::{PayloadError, Rule};

/// Longest memo, in bytes.
pub const MAX_MEMO_BYTES: usize = 500;
/// Longest unit name, in bytes.
pub const MAX_UNIT_BYTES: usize = 32;
/// The largest amount (in hundredths) one payment, invoice or limit may name.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

/// An act of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerAct {
    /// The author pays `to`; with `invoice`, it accepts and settles that invoice.
    Pay {
        /// The payee.
        to: PublicKey,
        /// Hundredths of the unit (1 to [`MAX_AMOUNT`]).
        amount: u64,
        /// What for.
        memo: String,
        /// The invoice it settles, if any.
        invoice: Option<EventId>,
    },
    /// The author asks `payer` to pay it; it counts only when the payer pays it.
    Invoice {
        /// Who is asked to pay.
        payer: PublicKey,
        /// Hundredths of the unit.
        amount: u64,
        /// What for.
        memo: String,
    },
    /// Sets `member`'s credit limit (how far below zero it may go): lowering one's own is free;
    /// anything else follows the group's `credit.limits` rule.
    Limit {
        /// Whose.
        member: PublicKey,
        /// Hundredths of the unit.
        limit: u64,
    },
}

/// The group's rules for its ledger (a part of the constitution).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditRules {
    /// The unit's name (`hours`, or a local currency).
    pub unit: String,
    /// Every member's limit until one is set for it, in hundredths.
    pub default_limit: u64,
    /// Who may set a limit other than lowering one's own (default: by vote).
    pub limits: Rule,
}

impl Default for CreditRules {
    fn default() -> Self {
        CreditRules {
            unit: "hours".into(),
            default_limit: 2_000,
            limits: Rule::Vote,
        }
    }
}

fn bad(s: impl Into<String>) -> PayloadError {
    PayloadError::Invalid(s.into())
}

fn amount(r: &mut Reader<'_>, what: &str) -> Result<u64, PayloadError> {
    let a = r.uint()?;
    if a > MAX_AMOUNT {
        return Err(bad(format!("{what} {a} is above {MAX_AMOUNT}")));
    }
    Ok(a)
}

fn positive(r: &mut Reader<'_>, what: &str) -> Result<u64, PayloadError> {
    let a = amount(r, what)?;
    if a == 0 {
        return Err(bad(format!("{what} must be above zero")));
    }
    Ok(a)
}

impl LedgerAct {
    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            LedgerAct::Pay {
                to,
                amount,
                memo,
                invoice,
            } => {
                w.array(5)
                    .uint(0)
                    .bytes(&to.0)
                    .uint(*amount)
                    .text(memo)
                    .opt_bytes32(invoice.as_ref().map(|i| &i.0));
            }
            LedgerAct::Invoice {
                payer,
                amount,
                memo,
            } => {
                w.array(4).uint(1).bytes(&payer.0).uint(*amount).text(memo);
            }
            LedgerAct::Limit { member, limit } => {
                w.array(3).uint(2).bytes(&member.0).uint(*limit);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<LedgerAct, PayloadError> {
        let n = r.array("ledger act", 5)?;
        if n == 0 {
            return Err(bad("empty ledger act"));
        }
        let key = |r: &mut Reader<'_>, what| -> Result<PublicKey, PayloadError> {
            Ok(PublicKey(r.bytes_n::<32>(what)?))
        };
        let act = match (r.uint()?, n) {
            (0, 5) => LedgerAct::Pay {
                to: key(r, "to")?,
                amount: positive(r, "amount")?,
                memo: r.text("memo", MAX_MEMO_BYTES)?.to_owned(),
                invoice: r.opt_bytes32("invoice")?.map(EventId),
            },
            (1, 4) => LedgerAct::Invoice {
                payer: key(r, "payer")?,
                amount: positive(r, "amount")?,
                memo: r.text("memo", MAX_MEMO_BYTES)?.to_owned(),
            },
            (2, 3) => LedgerAct::Limit {
                member: key(r, "member")?,
                limit: amount(r, "limit")?,
            },
            (t, n) => return Err(bad(format!("ledger tag {t} with {n} items is not known"))),
        };
        r.leave();
        Ok(act)
    }

    /// A short name, for logs and refusals.
    pub fn name(&self) -> &'static str {
        match self {
            LedgerAct::Pay { .. } => "pay",
            LedgerAct::Invoice { .. } => "invoice",
            LedgerAct::Limit { .. } => "limit",
        }
    }
}

impl CreditRules {
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.array(3)
            .text(&self.unit)
            .uint(self.default_limit)
            .text(&self.limits.to_text());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<CreditRules, PayloadError> {
        if r.array("credit rules", 3)? != 3 {
            return Err(bad("credit rules are [unit, default limit, limits rule]"));
        }
        let unit = r.text("unit", MAX_UNIT_BYTES)?.to_owned();
        let default_limit = amount(r, "default limit")?;
        let limits = Rule::parse(r.text("limits rule", 64)?)?;
        r.leave();
        let c = CreditRules {
            unit,
            default_limit,
            limits,
        };
        c.check()?;
        Ok(c)
    }

    /// Checks the bounds every node applies.
    pub fn check(&self) -> Result<(), PayloadError> {
        if self.unit.trim().is_empty() || self.unit.trim() != self.unit {
            return Err(bad(
                "the unit is a name without spaces around it, e.g. `hours`",
            ));
        }
        Ok(())
    }
}

/// `amount` hundredths as text: `1.50`, `-20.00`.
pub fn amount_text(amount: i128) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Parses `12`, `1.5` or `0.25` into hundredths; at most two decimals, above zero unless
/// `zero_ok`, at most [`MAX_AMOUNT`].
pub fn parse_amount(s: &str, zero_ok: bool) -> Result<u64, PayloadError> {
    let t = s.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > 2 {
        return Err(bad(format!(
            "`{s}` is not an amount like 12, 1.5 or 0.25 (at most two decimals)"
        )));
    }
    let w: u64 = whole
        .parse()
        .map_err(|_| bad(format!("`{s}` is too large")))?;
    let f: u64 = format!("{frac:0<2}").parse().unwrap_or(0);
    let a = w
        .checked_mul(100)
        .and_then(|x| x.checked_add(f))
        .filter(|a| *a <= MAX_AMOUNT)
        .ok_or_else(|| {
            bad(format!(
                "`{s}` is more than {}",
                amount_text(i128::from(MAX_AMOUNT))
            ))
        })?;
    if a == 0 && !zero_ok {
        return Err(bad("an amount of zero moves nothing"));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Payload;

    #[test]
    fn amounts_parse_and_print() {
        assert_eq!(parse_amount("12", false), Ok(1200));
        assert_eq!(parse_amount("1.5", false), Ok(150));
        assert_eq!(parse_amount("0.25", false), Ok(25));
        for bad in [
            "",
            "-1",
            "1.234",
            "1e3",
            "abc",
            " . ",
            "0",
            "99999999999999999999",
        ] {
            assert!(parse_amount(bad, false).is_err(), "{bad}");
        }
        assert_eq!(parse_amount("0", true), Ok(0));
        assert_eq!(amount_text(-2000), "-20.00");
        assert_eq!(amount_text(150), "1.50");
    }

    #[test]
    fn ledger_acts_round_trip_and_bad_ones_are_refused() {
        let acts = [
            LedgerAct::Pay {
                to: PublicKey([1; 32]),
                amount: 150,
                memo: "bread".into(),
                invoice: Some(EventId([2; 32])),
            },
            LedgerAct::Invoice {
                payer: PublicKey([3; 32]),
                amount: 1,
                memo: String::new(),
            },
            LedgerAct::Limit {
                member: PublicKey([4; 32]),
                limit: 0,
            },
        ];
        for a in acts {
            let p = Payload::Ledger(a);
            assert_eq!(Payload::decode(&p.encode()), Ok(p));
        }
        for amount in [0, MAX_AMOUNT + 1] {
            let p = Payload::Ledger(LedgerAct::Pay {
                to: PublicKey([1; 32]),
                amount,
                memo: String::new(),
                invoice: None,
            });
            assert!(Payload::decode(&p.encode()).is_err(), "{amount}");
        }
    }
}
