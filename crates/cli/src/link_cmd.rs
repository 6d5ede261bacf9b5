//! The `link` commands: link the group's ledger to another group's (each group by its own
//! decision), pay a member of a linked group, list the links, and audit the bridges.
//!
//! Writes go through [`crate::op`], reads through [`crate::view`]; every command takes `--json`.

use anyhow::Result;
use clap::Subcommand;
use dualpower_node::ops::Op;
use dualpower_node::query::Query;
use serde_json::Value;

use crate::{Ctx, group_hex, label, op, view};

/// Links between groups' ledgers.
#[derive(Subcommand, Debug)]
pub(crate) enum LinkCommand {
    /// Propose linking the group's ledger to another group's (the other group decides too).
    Propose {
        /// Group id, id prefix or name.
        group: String,
        /// The other group's id (64 hex digits; its name if this node is in it).
        #[arg(long)]
        with: String,
        /// What this group calls the other group.
        #[arg(long)]
        name: String,
        /// The credit this group extends to the other, e.g. 50.
        #[arg(long)]
        limit: String,
        /// A member of both groups who carries payments across (repeat; the other group must
        /// name the same one).
        #[arg(long = "bridge", required = true)]
        bridges: Vec<String>,
        /// Proposal deadline, seconds from now (0: its author closes it).
        #[arg(long, default_value_t = 0)]
        deadline: u64,
    },
    /// Propose closing the link (payments across stop; balances stay).
    Close {
        /// Group id, id prefix or name.
        group: String,
        /// The linked group (id, prefix or its name here).
        with: String,
    },
    /// The group's links: terms, status, clearing balances, payments across.
    List {
        /// Group id, id prefix or name.
        group: String,
    },
    /// Pay a member of a linked group through the two clearing accounts.
    Pay {
        /// Group id, id prefix or name.
        group: String,
        /// The linked group (id, prefix or its name here).
        to_group: String,
        /// The payee there (did:key; a name if this node is in that group).
        to: String,
        /// The amount, e.g. 3.
        amount: String,
        /// What for.
        #[arg(long, default_value = "")]
        memo: String,
    },
    /// Compare two groups' logs (for a member of both): every payment across credited on one
    /// side must have been paid on the other.
    Audit {
        /// One group.
        group: String,
        /// The other.
        with: String,
    },
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The other group's id: as the node knows it, else as given.
fn other_hex(ctx: &Ctx, g: &str) -> String {
    group_hex(ctx, g).unwrap_or_else(|_| g.trim().to_owned())
}

/// The link named `with` in `v` (a [`Query::Links`] answer).
fn find_link<'a>(v: &'a Value, with: &str) -> Option<&'a Value> {
    v["links"]
        .as_array()?
        .iter()
        .find(|l| s(&l["name"]) == with || s(&l["group"]).starts_with(&with.to_ascii_lowercase()))
}

/// Runs a link command.
pub(crate) fn run(ctx: &Ctx, cmd: LinkCommand) -> Result<i32> {
    match cmd {
        LinkCommand::Propose {
            group,
            with,
            name,
            limit,
            bridges,
            deadline,
        } => propose(
            ctx,
            &group,
            other_hex(ctx, &with),
            name,
            limit,
            bridges,
            deadline,
        ),
        LinkCommand::Close { group, with } => {
            let g = group_hex(ctx, &group)?;
            let links = view(ctx, Query::Links { group: g.clone() })?;
            let l = find_link(&links, &with)
                .ok_or_else(|| anyhow::anyhow!("the ledger has no link to `{with}`"))?;
            let (other, name, limit) = (
                s(&l["group"]).to_owned(),
                s(&l["name"]).to_owned(),
                s(&l["limit"]).to_owned(),
            );
            propose(ctx, &group, other, name, limit, Vec::new(), 0)
        }
        LinkCommand::List { group } => {
            let v = view(
                ctx,
                Query::Links {
                    group: group_hex(ctx, &group)?,
                },
            )?;
            ctx.emit(v.clone(), || links_text(&v));
            Ok(0)
        }
        LinkCommand::Pay {
            group,
            to_group,
            to,
            amount,
            memo,
        } => {
            let v = op(
                ctx,
                Op::PayAcross {
                    group: group_hex(ctx, &group)?,
                    to_group,
                    to,
                    amount,
                    memo,
                },
            )?;
            let id = s(&v["event"]).to_owned();
            ctx.emit(v, || {
                format!(
                    "Paid across ({}). A bridge carries it; `dualpower link list GROUP` shows when it is delivered.",
                    &id[..12.min(id.len())]
                )
            });
            Ok(0)
        }
        LinkCommand::Audit { group, with } => {
            let v = view(
                ctx,
                Query::LinkAudit {
                    group: group_hex(ctx, &group)?,
                    with: group_hex(ctx, &with)?,
                },
            )?;
            let findings: Vec<String> = v["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| s(f).to_owned())
                .collect();
            let checked = v["checked"].as_u64().unwrap_or(0);
            ctx.emit(v, || {
                if findings.is_empty() {
                    format!("{checked} payments across checked: both logs agree.")
                } else {
                    findings.join("\n")
                }
            });
            Ok(if findings.is_empty() { 0 } else { 3 })
        }
    }
}

fn propose(
    ctx: &Ctx,
    group: &str,
    with: String,
    name: String,
    limit: String,
    bridges: Vec<String>,
    deadline_secs: u64,
) -> Result<i32> {
    let v = op(
        ctx,
        Op::Link {
            group: group_hex(ctx, group)?,
            with,
            name,
            limit,
            bridges,
            deadline_secs,
        },
    )?;
    ctx.emit(v.clone(), || match v["id"].as_str() {
        Some(id) => format!(
            "Proposed {id}: if it passes, closing it will {}.\nMembers vote with `dualpower vote GROUP PROPOSAL yes`.",
            s(&v["enacts"])
        ),
        None => links_text(&v),
    });
    Ok(0)
}

fn links_text(v: &Value) -> String {
    let mut out = Vec::new();
    let unit = s(&v["unit"]);
    for l in v["links"].as_array().into_iter().flatten() {
        out.push(format!(
            "{} ({})  {}  credit extended {} {unit}, clearing balance {}  bridges: {}",
            s(&l["name"]),
            &s(&l["group"])[..12.min(s(&l["group"]).len())],
            match s(&l["status"]) {
                "waiting" => "waiting for the other group's decision",
                other => other,
            },
            s(&l["limit"]),
            s(&l["balance"]),
            l["bridges"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| label(v, s(b)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for t in l["outgoing"].as_array().into_iter().flatten() {
            out.push(format!(
                "  out {}  {} → {} {} \"{}\": {}{}",
                &s(&t["id"])[..12.min(s(&t["id"]).len())],
                label(v, s(&t["from"])),
                s(&t["to"]),
                s(&t["amount"]),
                s(&t["memo"]),
                s(&t["state"]),
                if s(&t["state"]) == "bounced" {
                    format!(" ({})", s(&t["detail"]))
                } else {
                    String::new()
                }
            ));
        }
        for a in l["incoming"].as_array().into_iter().flatten() {
            out.push(format!(
                "  in  {}  {} → {} {}",
                &s(&a["id"])[..12.min(s(&a["id"]).len())],
                s(&a["from"]),
                label(v, s(&a["to"])),
                s(&a["amount"]),
            ));
        }
    }
    if out.is_empty() {
        out.push("No links. Propose one with `dualpower link propose GROUP --with OTHER --name … --limit … --bridge MEMBER`.".into());
    }
    out.push(format!("Commons: {} {unit}", s(&v["commons"])));
    out.join("\n")
}
