//! The wire types of a group's mutual-credit ledger (issue 15): payments signed by the payer,
//! invoices a payer accepts by paying them, credit limits, and the group's rules for them.
//!
//! One payload kind ([`crate::Payload::Ledger`]) carries a [`LedgerAct`], so the state crate's
//! `credit` domain owns exactly one kind. Amounts are integers in hundredths of the group's unit
//! (`150` is 1.50 hours), never floating point.

use crate::cbor::{Reader, Writer};
use crate::event::{EventId, GroupId};
use crate::keys::PublicKey;
use crate::payload::{PayloadError, Rule};

/// Longest memo, in bytes.
pub const MAX_MEMO_BYTES: usize = 500;
/// Longest unit name, in bytes.
pub const MAX_UNIT_BYTES: usize = 32;
/// The largest amount (in hundredths) one payment, invoice or limit may name.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;
/// Most bridges one link names.
pub const MAX_BRIDGES: usize = 8;
/// Longest link name or bounce reason, in bytes.
pub const MAX_LINK_TEXT_BYTES: usize = 200;
/// The highest demurrage: 10% (1 000 basis points) per period.
pub const MAX_DEMURRAGE_BP: u64 = 1_000;
/// A demurrage period: 30 days of group time, counted from the Unix epoch.
pub const DEMURRAGE_PERIOD_MS: u64 = 30 * 86_400_000;

/// The terms on which a group links its ledger to another group's (Credit Commons style): the
/// other group is an account in this ledger, its *clearing account*, through which members of
/// the two groups pay each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkTerms {
    /// What this group calls the other group.
    pub name: String,
    /// How far below zero the clearing account may go: the credit this group extends to the
    /// other (what the other group's members may buy here, net), in hundredths.
    pub limit: u64,
    /// The members who carry payments across: each must also be a member of the other group,
    /// and named by its decision too. None: the link is closed.
    pub bridges: Vec<PublicKey>,
}

/// The account that stands for linked group `other` in a group's ledger. Nobody holds its key:
/// only bridges move it, by the rules of [`LedgerAct::PayIn`] and [`LedgerAct::Settle`].
pub fn clearing_account(other: &GroupId) -> PublicKey {
    PublicKey(blake3::derive_key(
        "dualpower clearing account v1",
        &other.0,
    ))
}

/// The group's commons account in its own ledger: where demurrage goes, spent by decision
/// ([`LedgerAct::Grant`]).
pub fn commons_account(group: &GroupId) -> PublicKey {
    PublicKey(blake3::derive_key("dualpower commons account v1", &group.0))
}

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
    /// Links (or, with no bridges, unlinks) this group's ledger to `group`'s: a proposal's
    /// action only, under the rule `credit.limits` (both extend the group's credit).
    Link {
        /// The other group.
        group: GroupId,
        /// On what terms.
        terms: LinkTerms,
    },
    /// A bridge of the link to `group` attests that the other group decided to link too (by
    /// its close `decision` there): the link is open from here on.
    Linked {
        /// The other group.
        group: GroupId,
        /// The close of the other group's link decision, in the other group's log.
        decision: EventId,
    },
    /// The author pays member `to` of linked group `group`: the author pays this ledger's
    /// clearing account for `group`, and a bridge credits `to` from the other ledger's.
    PayOut {
        /// The linked group.
        group: GroupId,
        /// The payee there.
        to: PublicKey,
        /// Hundredths of this group's unit.
        amount: u64,
        /// What for.
        memo: String,
    },
    /// A bridge credits `to` here for payment `origin` made in linked group `group`: the
    /// clearing account for `group` pays `to`. One per origin.
    PayIn {
        /// The linked group the payment came from.
        group: GroupId,
        /// The [`LedgerAct::PayOut`] event in that group's log.
        origin: EventId,
        /// Who paid, there.
        from: PublicKey,
        /// The payee here.
        to: PublicKey,
        /// Hundredths.
        amount: u64,
        /// What for.
        memo: String,
    },
    /// A bridge reports what became of outgoing payment `origin` (a [`LedgerAct::PayOut`] here):
    /// delivered as event `Ok(id)` in the other group, or bounced (`Err(reason)`), in which
    /// case the clearing account pays the payer back. Once per origin.
    Settle {
        /// The payment here.
        origin: EventId,
        /// Delivered (the other group's `PayIn`) or why not.
        result: Result<EventId, String>,
    },
    /// Charges the demurrage of the 30-day `period` that just ended (group time): every
    /// positive balance (members' and former members'; not clearing accounts or the commons)
    /// pays the rate into the commons account. Any member may post
    /// it; a period is charged once.
    Demurrage {
        /// The period (group time in ms / [`DEMURRAGE_PERIOD_MS`]).
        period: u64,
    },
    /// The commons account pays `to` (a proposal's action only, under `credit.limits`); it pays
    /// what the commons holds, up to `amount`.
    Grant {
        /// The member.
        to: PublicKey,
        /// Hundredths.
        amount: u64,
        /// What for.
        memo: String,
    },
}

/// The group's rules for its ledger (a part of the constitution).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditRules {
    /// The unit's name (`hours`, or a local currency).
    pub unit: String,
    /// Every member's limit until one is set for it, in hundredths.
    pub default_limit: u64,
    /// Who may set a limit other than lowering one's own, link the ledger to another group's
    /// and grant from the commons (default: by vote).
    pub limits: Rule,
    /// Demurrage in basis points per 30-day period (0: none; 100 is 1%), paid into the commons.
    pub demurrage: u64,
}

impl Default for CreditRules {
    fn default() -> Self {
        CreditRules {
            unit: "hours".into(),
            default_limit: 2_000,
            limits: Rule::Vote,
            demurrage: 0,
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

fn group(r: &mut Reader<'_>) -> Result<GroupId, PayloadError> {
    Ok(GroupId(r.bytes_n::<32>("group")?))
}

fn key(r: &mut Reader<'_>, what: &'static str) -> Result<PublicKey, PayloadError> {
    Ok(PublicKey(r.bytes_n::<32>(what)?))
}

fn link_text(r: &mut Reader<'_>, what: &'static str) -> Result<String, PayloadError> {
    Ok(r.text(what, MAX_LINK_TEXT_BYTES)?.to_owned())
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
            LedgerAct::Link { group, terms } => {
                w.array(5)
                    .uint(3)
                    .bytes(&group.0)
                    .text(&terms.name)
                    .uint(terms.limit)
                    .array(terms.bridges.len());
                for b in &terms.bridges {
                    w.bytes(&b.0);
                }
            }
            LedgerAct::Linked { group, decision } => {
                w.array(3).uint(4).bytes(&group.0).bytes(&decision.0);
            }
            LedgerAct::PayOut {
                group,
                to,
                amount,
                memo,
            } => {
                w.array(5)
                    .uint(5)
                    .bytes(&group.0)
                    .bytes(&to.0)
                    .uint(*amount)
                    .text(memo);
            }
            LedgerAct::PayIn {
                group,
                origin,
                from,
                to,
                amount,
                memo,
            } => {
                w.array(7)
                    .uint(6)
                    .bytes(&group.0)
                    .bytes(&origin.0)
                    .bytes(&from.0)
                    .bytes(&to.0)
                    .uint(*amount)
                    .text(memo);
            }
            LedgerAct::Settle { origin, result } => {
                w.array(4).uint(7).bytes(&origin.0);
                match result {
                    Ok(id) => w.bool(true).bytes(&id.0),
                    Err(why) => w.bool(false).text(why),
                };
            }
            LedgerAct::Demurrage { period } => {
                w.array(2).uint(8).uint(*period);
            }
            LedgerAct::Grant { to, amount, memo } => {
                w.array(4).uint(9).bytes(&to.0).uint(*amount).text(memo);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<LedgerAct, PayloadError> {
        let n = r.array("ledger act", 7)?;
        if n == 0 {
            return Err(bad("empty ledger act"));
        }
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
            (3, 5) => {
                let group = group(r)?;
                let name = link_text(r, "link name")?;
                if name.trim().is_empty() {
                    return Err(PayloadError::Empty("link name"));
                }
                let limit = amount(r, "link limit")?;
                let n = r.array("bridges", MAX_BRIDGES)?;
                let mut bridges = Vec::with_capacity(n);
                for _ in 0..n {
                    bridges.push(key(r, "bridge")?);
                }
                r.leave();
                let mut sorted = bridges.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != bridges.len() {
                    return Err(bad("a bridge is named twice"));
                }
                LedgerAct::Link {
                    group,
                    terms: LinkTerms {
                        name,
                        limit,
                        bridges,
                    },
                }
            }
            (4, 3) => LedgerAct::Linked {
                group: group(r)?,
                decision: EventId(r.bytes_n::<32>("decision")?),
            },
            (5, 5) => LedgerAct::PayOut {
                group: group(r)?,
                to: key(r, "to")?,
                amount: positive(r, "amount")?,
                memo: r.text("memo", MAX_MEMO_BYTES)?.to_owned(),
            },
            (6, 7) => LedgerAct::PayIn {
                group: group(r)?,
                origin: EventId(r.bytes_n::<32>("origin")?),
                from: key(r, "from")?,
                to: key(r, "to")?,
                amount: positive(r, "amount")?,
                memo: r.text("memo", MAX_MEMO_BYTES)?.to_owned(),
            },
            (7, 4) => {
                let origin = EventId(r.bytes_n::<32>("origin")?);
                let result = if r.bool()? {
                    Ok(EventId(r.bytes_n::<32>("delivered as")?))
                } else {
                    Err(link_text(r, "reason")?)
                };
                LedgerAct::Settle { origin, result }
            }
            (8, 2) => LedgerAct::Demurrage { period: r.uint()? },
            (9, 4) => LedgerAct::Grant {
                to: key(r, "to")?,
                amount: positive(r, "amount")?,
                memo: r.text("memo", MAX_MEMO_BYTES)?.to_owned(),
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
            LedgerAct::Link { .. } => "link",
            LedgerAct::Linked { .. } => "linked",
            LedgerAct::PayOut { .. } => "pay across",
            LedgerAct::PayIn { .. } => "pay in",
            LedgerAct::Settle { .. } => "settle",
            LedgerAct::Demurrage { .. } => "demurrage",
            LedgerAct::Grant { .. } => "grant",
        }
    }
}

impl CreditRules {
    pub(crate) fn encode(&self, w: &mut Writer) {
        // Without demurrage the rules keep the three items they had before it existed.
        let n = if self.demurrage == 0 { 3 } else { 4 };
        w.array(n)
            .text(&self.unit)
            .uint(self.default_limit)
            .text(&self.limits.to_text());
        if self.demurrage != 0 {
            w.uint(self.demurrage);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<CreditRules, PayloadError> {
        let n = r.array("credit rules", 4)?;
        if n < 3 {
            return Err(bad(
                "credit rules are [unit, default limit, limits rule, demurrage?]",
            ));
        }
        let unit = r.text("unit", MAX_UNIT_BYTES)?.to_owned();
        let default_limit = amount(r, "default limit")?;
        let limits = Rule::parse(r.text("limits rule", 64)?)?;
        let demurrage = if n == 4 {
            let d = r.uint()?;
            if d == 0 {
                return Err(bad("a demurrage of zero is left out"));
            }
            d
        } else {
            0
        };
        r.leave();
        let c = CreditRules {
            unit,
            default_limit,
            limits,
            demurrage,
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
        if self.demurrage > MAX_DEMURRAGE_BP {
            return Err(bad(format!(
                "demurrage is at most {MAX_DEMURRAGE_BP} basis points (10%) per period, not {}",
                self.demurrage
            )));
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
            LedgerAct::Link {
                group: GroupId([5; 32]),
                terms: LinkTerms {
                    name: "Transport collective".into(),
                    limit: 5_000,
                    bridges: vec![PublicKey([6; 32]), PublicKey([7; 32])],
                },
            },
            LedgerAct::Linked {
                group: GroupId([5; 32]),
                decision: EventId([8; 32]),
            },
            LedgerAct::PayOut {
                group: GroupId([5; 32]),
                to: PublicKey([9; 32]),
                amount: 300,
                memo: "two rides".into(),
            },
            LedgerAct::PayIn {
                group: GroupId([5; 32]),
                origin: EventId([10; 32]),
                from: PublicKey([11; 32]),
                to: PublicKey([12; 32]),
                amount: 300,
                memo: String::new(),
            },
            LedgerAct::Settle {
                origin: EventId([10; 32]),
                result: Ok(EventId([13; 32])),
            },
            LedgerAct::Settle {
                origin: EventId([10; 32]),
                result: Err("Dana is not a member there".into()),
            },
            LedgerAct::Demurrage { period: 683 },
            LedgerAct::Grant {
                to: PublicKey([14; 32]),
                amount: 1,
                memo: "the roof".into(),
            },
        ];
        for a in acts {
            let p = Payload::Ledger(a);
            assert_eq!(Payload::decode(&p.encode()), Ok(p));
        }
        let twice = LedgerAct::Link {
            group: GroupId([5; 32]),
            terms: LinkTerms {
                name: "x".into(),
                limit: 0,
                bridges: vec![PublicKey([6; 32]); 2],
            },
        };
        assert!(Payload::decode(&Payload::Ledger(twice).encode()).is_err());
        assert_ne!(
            clearing_account(&GroupId([1; 32])),
            commons_account(&GroupId([1; 32]))
        );
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
