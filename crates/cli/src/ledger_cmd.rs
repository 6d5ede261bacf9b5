//! The ledger commands: `pay`, `invoice`, `balance`, `ledger` (with `--csv` for the
//! treasurer's spreadsheet), `limit`.
//!
//! Writes go through [`crate::op`], reads through [`crate::view`]; every command takes `--json`.

use anyhow::Result;
use clap::Subcommand;
use dualpower_node::ops::Op;
use dualpower_node::ops::ledger::ledger_csv;
use dualpower_node::query::Query;
use serde_json::Value;

use crate::{Ctx, group_hex, label, op, view};

/// Ledger commands (flattened into the top level).
#[derive(Subcommand, Debug)]
pub(crate) enum LedgerCommand {
    /// Pay a member in the group's unit (mutual credit: you may go below zero by your limit).
    Pay {
        /// Group id, id prefix or name.
        group: String,
        /// The payee (not with --invoice).
        to: Option<String>,
        /// The amount, e.g. 1.5 (not with --invoice).
        amount: Option<String>,
        /// What for.
        #[arg(long, default_value = "")]
        memo: String,
        /// Settle this invoice (its id as `ledger` shows) instead.
        #[arg(long, conflicts_with_all = ["to", "amount"])]
        invoice: Option<String>,
    },
    /// Ask a member to pay you; it counts when they pay it (`pay --invoice`).
    Invoice {
        /// Group id, id prefix or name.
        group: String,
        /// Who is asked to pay.
        payer: String,
        /// The amount, e.g. 3.
        amount: String,
        /// What for.
        #[arg(long, default_value = "")]
        memo: String,
    },
    /// Balances (yours, a member's, or everyone's with --all).
    Balance {
        /// Group id, id prefix or name.
        group: String,
        /// The member (default: you).
        member: Option<String>,
        /// Every account.
        #[arg(long)]
        all: bool,
    },
    /// Payments and invoices (the group's, or a member's), as text or `--csv`.
    Ledger {
        /// Group id, id prefix or name.
        group: String,
        /// Only this member's.
        member: Option<String>,
        /// CSV: date, from, to, amount, unit, memo, invoice, id.
        #[arg(long)]
        csv: bool,
    },
    /// Pay a member from the commons (where demurrage goes): by the group's rule (by default
    /// a vote, proposed by this command).
    Grant {
        /// Group id, id prefix or name.
        group: String,
        /// The member.
        to: String,
        /// The amount, e.g. 10.
        amount: String,
        /// What for.
        #[arg(long, default_value = "")]
        memo: String,
    },
    /// Set a credit limit: lowering your own is free; anything else follows the group's rule
    /// (by default a vote: `propose … --set-limit MEMBER=AMOUNT`).
    Limit {
        /// Group id, id prefix or name.
        group: String,
        /// The new limit, e.g. 10.
        limit: String,
        /// Whose (default: yours).
        #[arg(long)]
        member: Option<String>,
    },
}

/// Runs a ledger command.
pub(crate) fn run(ctx: &Ctx, cmd: LedgerCommand) -> Result<i32> {
    match cmd {
        LedgerCommand::Grant {
            group,
            to,
            amount,
            memo,
        } => {
            let v = op(
                ctx,
                Op::Grant {
                    group: group_hex(ctx, &group)?,
                    to,
                    amount,
                    memo,
                    deadline_secs: 0,
                },
            )?;
            ctx.emit(v.clone(), || match v["id"].as_str() {
                Some(id) => format!(
                    "Proposed {id}: if it passes, closing it will {}.",
                    s(&v["enacts"])
                ),
                None => "Granted.".into(),
            });
            Ok(0)
        }
        LedgerCommand::Pay {
            group,
            to,
            amount,
            memo,
            invoice,
        } => {
            let group = group_hex(ctx, &group)?;
            let v = op(
                ctx,
                Op::Pay {
                    group,
                    to,
                    amount,
                    memo,
                    invoice,
                },
            )?;
            ctx.emit(v.clone(), || {
                let p = v["payments"]
                    .as_array()
                    .and_then(|a| a.iter().find(|p| p["id"] == v["event"]));
                match p {
                    Some(p) => format!(
                        "Paid {} {} to {}. Your balance: {}",
                        s(&p["amount"]),
                        s(&v["unit"]),
                        label(&v, s(&p["to"])),
                        own_balance(&v)
                    ),
                    None => "Paid.".into(),
                }
            });
            Ok(0)
        }
        LedgerCommand::Invoice {
            group,
            payer,
            amount,
            memo,
        } => {
            let group = group_hex(ctx, &group)?;
            let v = op(
                ctx,
                Op::Invoice {
                    group,
                    payer,
                    amount,
                    memo,
                },
            )?;
            ctx.emit(v.clone(), || {
                format!(
                    "Invoice {} sent. It counts when they pay it (`dualpower pay GROUP --invoice {}`).",
                    &s(&v["event"])[..12.min(s(&v["event"]).len())],
                    &s(&v["event"])[..12.min(s(&v["event"]).len())]
                )
            });
            Ok(0)
        }
        LedgerCommand::Limit {
            group,
            limit,
            member,
        } => {
            let group = group_hex(ctx, &group)?;
            let v = op(
                ctx,
                Op::SetLimit {
                    group,
                    member,
                    limit,
                },
            )?;
            ctx.emit(v.clone(), || "The limit is set.".into());
            Ok(0)
        }
        LedgerCommand::Balance { group, member, all } => {
            let group = group_hex(ctx, &group)?;
            let member = if all {
                None
            } else {
                Some(match member {
                    Some(m) => m,
                    None => ctx.identity_did()?,
                })
            };
            let v = view(ctx, Query::Ledger { group, member })?;
            ctx.emit(v.clone(), || {
                v["accounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        format!(
                            "{:>12} {}  {} (limit -{}){}",
                            s(&a["balance"]),
                            s(&v["unit"]),
                            label(&v, s(&a["member"])),
                            s(&a["limit"]),
                            if a["is_member"] == true {
                                ""
                            } else {
                                " (former member)"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(0)
        }
        LedgerCommand::Ledger { group, member, csv } => {
            let group = group_hex(ctx, &group)?;
            let v = view(ctx, Query::Ledger { group, member })?;
            if csv {
                crate::out::line(ledger_csv(&v));
                return Ok(0);
            }
            ctx.emit(v.clone(), || text_of(&v));
            Ok(0)
        }
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn own_balance(v: &Value) -> String {
    let me = s(&v["member"]);
    v["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["member"] == me)
        .map(|a| format!("{} {}", s(&a["balance"]), s(&v["unit"])))
        .unwrap_or_default()
}

fn text_of(v: &Value) -> String {
    let mut out = Vec::new();
    for p in v["payments"].as_array().into_iter().flatten() {
        out.push(format!(
            "{}  {} → {}  {} {}{}",
            crate::when::ago(crate::now_ms(), p["at"].as_u64().unwrap_or(0)),
            label(v, s(&p["from"])),
            label(v, s(&p["to"])),
            s(&p["amount"]),
            s(&v["unit"]),
            if s(&p["memo"]).is_empty() {
                String::new()
            } else {
                format!("  \"{}\"", s(&p["memo"]))
            }
        ));
    }
    for i in v["invoices"].as_array().into_iter().flatten() {
        out.push(format!(
            "invoice {}  {} asks {} for {} {}{}",
            &s(&i["id"])[..12.min(s(&i["id"]).len())],
            label(v, s(&i["payee"])),
            label(v, s(&i["payer"])),
            s(&i["amount"]),
            s(&v["unit"]),
            if i["paid_by"].is_string() {
                "  (paid)"
            } else {
                "  (open)"
            }
        ));
    }
    if out.is_empty() {
        "No payments yet: `dualpower pay GROUP MEMBER AMOUNT`.".into()
    } else {
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_what_members_wrote() {
        let v = serde_json::json!({
            "unit": "hours",
            "payments": [{"at": 0, "from": "a", "to": "b", "amount": "1.50",
                          "memo": "=HYPERLINK(\"x\"), and \"more\"", "invoice": null, "id": "ff"}],
        });
        let c = ledger_csv(&v);
        let line = c.lines().nth(1).unwrap();
        assert!(
            line.contains("\"'=HYPERLINK(\"\"x\"\"), and \"\"more\"\"\""),
            "{line}"
        );
        assert!(
            line.starts_with("1970-01-01 00:00 UTC,a,b,1.50,hours,"),
            "{line}"
        );
        // Numbers stay numbers; a memo that only looks like one is not a formula either.
        let v = serde_json::json!({
            "unit": "hours",
            "payments": [{"at": 0, "from": "a", "to": "b", "amount": "1.50", "memo": "-1.50",
                          "invoice": null, "id": "ff"}],
        });
        assert!(
            ledger_csv(&v).ends_with(",hours,-1.50,,ff"),
            "{}",
            ledger_csv(&v)
        );
    }
}
