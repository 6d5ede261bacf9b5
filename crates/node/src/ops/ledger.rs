//! Ledger operations: pay (and settle an invoice), invoice, set a credit limit.
//!
//! Each checks first, against the derived state, what every node will check (the payee is a
//! member, the amount, the payer's limit, the invoice), so nothing is written for a mistake;
//! then writes sealed like a decision. The judge is `dualpower-state`'s `credit` domain.

use dualpower_core::ledger::{LedgerAct, amount_text, parse_amount};
use dualpower_core::{EventId, Payload, PublicKey};
use dualpower_state::GroupState;
use serde_json::{Value, json};

use super::keys::{view, write_decision};
use super::write::{
    Cx, OpError, by_prefix, group_arg, invalid, known_keys, member_among, require_member,
};
use super::{Op, Outcome};

/// A member's limit as of the whole set.
pub fn limit_of(st: &GroupState, k: &PublicKey) -> u64 {
    st.credit
        .limits
        .get(k)
        .copied()
        .unwrap_or(st.constitution.credit.default_limit)
}

/// A member's balance as of the whole set.
pub fn balance_of(st: &GroupState, k: &PublicKey) -> i128 {
    st.credit.balances.get(k).copied().unwrap_or(0)
}

/// Whether `me` may pay `amount` now, as every node will judge it from what this node has
/// seen; if not, says how much it can pay.
pub(crate) fn within_limit(st: &GroupState, me: &PublicKey, amount: u64) -> Result<(), OpError> {
    let unit = &st.constitution.credit.unit;
    let balance = balance_of(st, me);
    let limit = limit_of(st, me);
    let after = balance - i128::from(amount);
    if after < -i128::from(limit) {
        return Err(invalid(format!(
            "your balance is {} {unit}; paying {} would take it to {}, below your limit of -{} \
             (you can pay at most {} now)",
            amount_text(balance),
            amount_text(i128::from(amount)),
            amount_text(after),
            amount_text(i128::from(limit)),
            amount_text((balance + i128::from(limit)).max(0)),
        )));
    }
    Ok(())
}

fn amount_arg(s: &str) -> Result<u64, OpError> {
    parse_amount(s, false).map_err(|e| invalid(e.to_string()))
}

fn find_invoice(st: &GroupState, key: &str) -> Result<EventId, OpError> {
    by_prefix(
        key,
        "invoice",
        "dualpower ledger",
        st.credit.invoices.keys().map(|i| (*i, *i)),
    )
}

/// Carries out a ledger operation (the caller routes only those here).
pub(crate) fn apply(cx: Cx<'_>, op: Op) -> Result<Outcome, OpError> {
    let me = cx.me();
    let (group, act) = match op {
        Op::Pay {
            group,
            to,
            amount,
            memo,
            invoice,
        } => {
            let g = group_arg(&group)?;
            let st = view(cx.store, cx.id, g, cx.now)?.state;
            require_member(&st, &me)?;
            let (to, amount, invoice) = match invoice {
                Some(i) => {
                    let id = find_invoice(&st, &i)?;
                    let inv = &st.credit.invoices[&id];
                    if inv.payer != me {
                        return Err(OpError::Denied(format!(
                            "this invoice asks {} to pay, not you",
                            inv.payer.to_did()
                        )));
                    }
                    if let Some(p) = inv.paid_by {
                        return Err(invalid(format!("this invoice was paid already ({p})")));
                    }
                    (inv.payee, inv.amount, Some(id))
                }
                None => {
                    let to = member_among(to.as_deref().unwrap_or_default(), known_keys(&st))?;
                    let amount = amount_arg(amount.as_deref().unwrap_or_default())?;
                    (to, amount, None)
                }
            };
            if to == me {
                return Err(invalid("you cannot pay yourself"));
            }
            if !st.is_member(&to) {
                return Err(invalid(format!("{} is not a member", to.to_did())));
            }
            within_limit(&st, &me, amount)?;
            (
                g,
                LedgerAct::Pay {
                    to,
                    amount,
                    memo: memo.trim().to_owned(),
                    invoice,
                },
            )
        }
        Op::Invoice {
            group,
            payer,
            amount,
            memo,
        } => {
            let g = group_arg(&group)?;
            let st = view(cx.store, cx.id, g, cx.now)?.state;
            require_member(&st, &me)?;
            let payer = member_among(&payer, known_keys(&st))?;
            if payer == me {
                return Err(invalid("you cannot invoice yourself"));
            }
            if !st.is_member(&payer) {
                return Err(invalid(format!("{} is not a member", payer.to_did())));
            }
            (
                g,
                LedgerAct::Invoice {
                    payer,
                    amount: amount_arg(&amount)?,
                    memo: memo.trim().to_owned(),
                },
            )
        }
        Op::SetLimit {
            group,
            member,
            limit,
        } => {
            let g = group_arg(&group)?;
            let st = view(cx.store, cx.id, g, cx.now)?.state;
            require_member(&st, &me)?;
            let member = match member.as_deref() {
                None | Some("") => me,
                Some(m) => member_among(m, known_keys(&st))?,
            };
            let limit = parse_amount(&limit, true).map_err(|e| invalid(e.to_string()))?;
            let lowering_own = member == me && limit <= limit_of(&st, &me);
            if !lowering_own {
                let rule = &st.constitution.credit.limits;
                if matches!(rule, dualpower_core::Rule::Vote) {
                    return Err(super::decisions::needs_vote(
                        "set credit limits (other than lowering your own)",
                        &format!(
                            "dualpower propose GROUP \"Limit for …\" --set-limit {}={}",
                            member.to_did(),
                            amount_text(i128::from(limit))
                        ),
                    ));
                }
                super::write::require(&st, rule, &me, "set credit limits")?;
                if !st.is_member(&member) {
                    return Err(invalid(format!("{} is not a member", member.to_did())));
                }
            }
            (g, LedgerAct::Limit { member, limit })
        }
        other => return Err(invalid(format!("not a ledger operation: {other:?}"))),
    };
    let (ev, st) = write_decision(cx, group, Payload::Ledger(act), vec![])?;
    Ok(Outcome {
        value: ledger_json(&st, Some(&me), Some(&ev.id())),
        events: vec![ev],
    })
}

/// The ledger as JSON: unit, every balance and limit, payments and invoices (only `member`'s if
/// given), and `event` (what an operation wrote).
pub fn ledger_json(st: &GroupState, member: Option<&PublicKey>, event: Option<&EventId>) -> Value {
    let c = &st.credit;
    let mine = |a: &PublicKey, b: &PublicKey| member.is_none_or(|m| m == a || m == b);
    let mut accounts: Vec<&PublicKey> = st.members.keys().chain(c.balances.keys()).collect();
    accounts.sort();
    accounts.dedup();
    json!({
        "group": st.group.to_hex(),
        "name": st.name,
        "unit": st.constitution.credit.unit,
        "default_limit": amount_text(i128::from(st.constitution.credit.default_limit)),
        "event": event.map(|e| e.to_hex()),
        "member": member.map(|m| m.to_did()),
        "sum": amount_text(c.sum()),
        "named": c.named.iter().map(|(k, n)| {
            let name = if *k == dualpower_core::ledger::commons_account(&st.group) {
                "commons".to_owned()
            } else {
                format!("clearing: {n}")
            };
            (k.to_did(), Value::String(name))
        }).collect::<serde_json::Map<_, _>>(),
        "accounts": accounts.iter().filter(|k| member.is_none_or(|m| m == **k)).map(|k| json!({
            "member": k.to_did(),
            "balance": amount_text(balance_of(st, k)),
            "balance_hundredths": balance_of(st, k).to_string(),
            "limit": amount_text(i128::from(limit_of(st, k))),
            "is_member": st.is_member(k),
        })).collect::<Vec<_>>(),
        "payments": c.payments.iter().filter(|p| mine(&p.from, &p.to)).map(|p| json!({
            "id": p.id.to_hex(), "from": p.from.to_did(), "to": p.to.to_did(),
            "amount": amount_text(i128::from(p.amount)), "memo": p.memo,
            "invoice": p.invoice.map(|i| i.to_hex()), "at": p.at,
        })).collect::<Vec<_>>(),
        "invoices": c.invoices.iter().filter(|(_, i)| mine(&i.payer, &i.payee)).map(|(id, i)| json!({
            "id": id.to_hex(), "payee": i.payee.to_did(), "payer": i.payer.to_did(),
            "amount": amount_text(i128::from(i.amount)), "memo": i.memo,
            "paid_by": i.paid_by.map(|p| p.to_hex()), "at": i.at,
        })).collect::<Vec<_>>(),
    })
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// One CSV field, quoted when it needs to be (RFC 4180), and defused against spreadsheet
/// formulas (a field a member wrote that starts with `=`, `+`, `-` or `@` gets a leading `'`).
fn csv_field(x: &str) -> String {
    let x = if x.starts_with(['=', '+', '-', '@']) && x.parse::<f64>().is_err() {
        format!("'{x}")
    } else {
        x.to_owned()
    };
    if x.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", x.replace('"', "\"\""))
    } else {
        x
    }
}

/// The payments of a [`ledger_json`] answer as CSV for a spreadsheet: `date, from, to, amount,
/// unit, memo, invoice, id`, one line each (no trailing newline). The CLI's `ledger --csv` and
/// the web app's download both write this.
pub fn ledger_csv(v: &Value) -> String {
    let mut out = vec!["date,from,to,amount,unit,memo,invoice,id".to_owned()];
    for p in v["payments"].as_array().into_iter().flatten() {
        let at = p["at"].as_u64().unwrap_or(0);
        out.push(
            [
                crate::clock::utc_text(at),
                s(&p["from"]).to_owned(),
                s(&p["to"]).to_owned(),
                s(&p["amount"]).to_owned(),
                s(&v["unit"]).to_owned(),
                s(&p["memo"]).to_owned(),
                s(&p["invoice"]).to_owned(),
                s(&p["id"]).to_owned(),
            ]
            .iter()
            .map(|x| csv_field(x))
            .collect::<Vec<_>>()
            .join(","),
        );
    }
    out.join("\n")
}
