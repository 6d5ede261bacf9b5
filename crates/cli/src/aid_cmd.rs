//! The mutual-aid commands: `offer`, `need`, `board`, `commit`, `fulfil`.
//!
//! Writes go through [`crate::op`], reads through [`crate::view`]; every command takes `--json`.

use anyhow::Result;
use clap::{Args, Subcommand};
use dualpower_node::ops::Op;
use dualpower_node::ops::aid::{BoardFilter, IntentArgs};
use dualpower_node::query::Query;
use serde_json::Value;

use crate::{Ctx, group_hex, label, op, view};

/// What an offer or need says.
#[derive(Args, Debug)]
pub(crate) struct IntentFlags {
    /// Group id, id prefix or name.
    group: String,
    /// What is offered or needed, in words.
    text: String,
    /// food, housing, energy, transport, tools, skills, care or other.
    #[arg(long, default_value = "other")]
    category: String,
    /// How much.
    #[arg(long, default_value_t = 1)]
    quantity: u64,
    /// Of what (kg, rides, evenings).
    #[arg(long, default_value = "")]
    unit: String,
    /// A place name or area (never coordinates).
    #[arg(long, default_value = "")]
    place: String,
    /// Open for this many days.
    #[arg(long, default_value_t = 14)]
    days: u64,
    /// Show it to the groups the ledger is linked to too.
    #[arg(long)]
    linked: bool,
}

/// Mutual-aid commands (flattened into the top level).
#[derive(Subcommand, Debug)]
pub(crate) enum AidCommand {
    /// Offer something to the group (goods, skills, care, a ride).
    Offer(IntentFlags),
    /// Ask the group for something.
    Need(IntentFlags),
    /// Open offers and needs, with the offers that could meet each need.
    Board {
        /// Group id, id prefix or name.
        group: String,
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
        /// `offers` or `needs`.
        #[arg(long)]
        kind: Option<String>,
        /// Only where the place contains this.
        #[arg(long)]
        place: Option<String>,
    },
    /// Commit to (part of) an offer or need; or cancel one of yours (`--cancel`).
    Commit {
        /// Group id, id prefix or name.
        group: String,
        /// The offer or need (or, with --cancel, what to cancel), as `board` shows.
        id: String,
        /// How much (default: all that is left).
        #[arg(long)]
        quantity: Option<u64>,
        /// Cancel your offer, need or commitment instead.
        #[arg(long, conflicts_with = "quantity")]
        cancel: bool,
    },
    /// Things the group holds in common: add, list, note their condition, custodians.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Book a shared resource (or `--cancel` a booking).
    Book {
        /// Group id, id prefix or name.
        group: String,
        /// The resource (or, with --cancel, the booking), as `resource list` shows.
        id: String,
        /// From, `YYYY-MM-DD HH:MM` (UTC).
        #[arg(long, required_unless_present = "cancel")]
        from: Option<String>,
        /// For this many hours.
        #[arg(long, default_value_t = 1)]
        hours: u64,
        /// What for.
        #[arg(long, default_value = "")]
        note: String,
        /// Cancel this booking instead.
        #[arg(long)]
        cancel: bool,
    },
    /// Say a commitment you provide is fulfilled; or, as its receiver, confirm it (`--confirm`).
    Fulfil {
        /// Group id, id prefix or name.
        group: String,
        /// The commitment, as `board` shows.
        commitment: String,
        /// What was done.
        #[arg(long, default_value = "")]
        note: String,
        /// Confirm, as the receiver, that it was fulfilled (a receipt for the provider).
        #[arg(long, conflicts_with = "note")]
        confirm: bool,
    },
}

/// `resource …`
#[derive(Subcommand, Debug)]
pub(crate) enum ResourceCommand {
    /// Add a thing the group holds in common (you become its first custodian).
    Add {
        /// Group id, id prefix or name.
        group: String,
        /// Its name.
        name: String,
        /// What kind of thing: tools, transport, housing, energy, food, skills, care, other.
        #[arg(long, default_value = "tools")]
        category: String,
        /// Where it is.
        #[arg(long, default_value = "")]
        place: String,
    },
    /// Shared resources, their custodians, condition notes and upcoming bookings.
    List {
        /// Group id, id prefix or name.
        group: String,
    },
    /// Note a resource's condition.
    Note {
        /// Group id, id prefix or name.
        group: String,
        /// The resource.
        resource: String,
        /// The note.
        note: String,
    },
    /// Add (or `--remove`) a custodian (a custodian does).
    Custodian {
        /// Group id, id prefix or name.
        group: String,
        /// The resource.
        resource: String,
        /// The member.
        member: String,
        /// Remove instead of add.
        #[arg(long)]
        remove: bool,
    },
}

fn intent(need: bool, f: IntentFlags, ctx: &Ctx) -> Result<Op> {
    Ok(Op::AidIntent {
        group: group_hex(ctx, &f.group)?,
        need,
        intent: IntentArgs {
            category: f.category,
            text: f.text,
            quantity: Some(f.quantity),
            unit: f.unit,
            place: f.place,
            days: Some(f.days),
            linked: f.linked,
        },
    })
}

/// Runs a mutual-aid command.
pub(crate) fn run(ctx: &Ctx, cmd: AidCommand) -> Result<i32> {
    let (o, done) = match cmd {
        AidCommand::Board {
            group,
            category,
            kind,
            place,
        } => {
            let group = group_hex(ctx, &group)?;
            let v = view(
                ctx,
                Query::Board {
                    group,
                    filter: BoardFilter {
                        category,
                        kind,
                        place,
                    },
                },
            )?;
            ctx.emit(v.clone(), || board_text(&v));
            return Ok(0);
        }
        AidCommand::Resource(ResourceCommand::List { group }) => {
            let group = group_hex(ctx, &group)?;
            let v = view(
                ctx,
                Query::Board {
                    group,
                    filter: BoardFilter::default(),
                },
            )?;
            ctx.emit(v.clone(), || resources_text(&v));
            return Ok(0);
        }
        AidCommand::Resource(ResourceCommand::Add {
            group,
            name,
            category,
            place,
        }) => (
            Op::ResourceAdd {
                group: group_hex(ctx, &group)?,
                name,
                category,
                place,
            },
            "Added; you look after it. Members book it with `dualpower book GROUP RESOURCE --from …`.",
        ),
        AidCommand::Resource(ResourceCommand::Note {
            group,
            resource,
            note,
        }) => (
            Op::ResourceNote {
                group: group_hex(ctx, &group)?,
                resource,
                note,
            },
            "Noted.",
        ),
        AidCommand::Resource(ResourceCommand::Custodian {
            group,
            resource,
            member,
            remove,
        }) => (
            Op::ResourceCustodian {
                group: group_hex(ctx, &group)?,
                resource,
                member,
                add: !remove,
            },
            "Done.",
        ),
        AidCommand::Book {
            group,
            id,
            cancel: true,
            ..
        } => (
            Op::AidCancel {
                group: group_hex(ctx, &group)?,
                target: id,
            },
            "Cancelled.",
        ),
        AidCommand::Book {
            group,
            id,
            from,
            hours,
            note,
            ..
        } => (
            Op::Book {
                group: group_hex(ctx, &group)?,
                resource: id,
                from: from.unwrap_or_default(),
                hours,
                note,
            },
            "Booked. If someone booked the same time at the same moment, `resource list` says who keeps it.",
        ),
        AidCommand::Offer(f) => (intent(false, f, ctx)?, "Offered."),
        AidCommand::Need(f) => (intent(true, f, ctx)?, "Asked."),
        AidCommand::Commit {
            group,
            id,
            quantity,
            cancel,
        } => {
            let group = group_hex(ctx, &group)?;
            if cancel {
                (Op::AidCancel { group, target: id }, "Cancelled.")
            } else {
                (
                    Op::Commit {
                        group,
                        intent: id,
                        quantity,
                    },
                    "Committed. When it is done: `dualpower fulfil GROUP COMMITMENT`.",
                )
            }
        }
        AidCommand::Fulfil {
            group,
            commitment,
            note,
            confirm,
        } => {
            let group = group_hex(ctx, &group)?;
            if confirm {
                (
                    Op::AidConfirm { group, commitment },
                    "Confirmed: it counts for the provider's reputation.",
                )
            } else {
                (
                    Op::Fulfil {
                        group,
                        commitment,
                        note,
                    },
                    "Fulfilled. The receiver confirms it with `dualpower fulfil GROUP COMMITMENT --confirm`.",
                )
            }
        }
    };
    let v = op(ctx, o)?;
    let id = v["event"].as_str().unwrap_or_default().to_owned();
    ctx.emit(v, || format!("{done} ({})", &id[..12.min(id.len())]));
    Ok(0)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

fn resources_text(v: &Value) -> String {
    let mut out = Vec::new();
    for r in v["resources"].as_array().into_iter().flatten() {
        let keepers: Vec<String> = r["custodians"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str())
            .map(|k| label(v, k))
            .collect();
        out.push(format!(
            "{}  {} [{}]{}  looked after by {}",
            short(s(&r["id"])),
            s(&r["name"]),
            s(&r["category"]),
            if s(&r["place"]).is_empty() {
                String::new()
            } else {
                format!(" at {}", s(&r["place"]))
            },
            keepers.join(", ")
        ));
        for n in r["notes"].as_array().into_iter().flatten().take(2) {
            out.push(format!(
                "    note by {}: {}",
                label(v, s(&n["by"])),
                s(&n["note"])
            ));
        }
        for b in r["bookings"].as_array().into_iter().flatten() {
            out.push(format!(
                "    booked {} – {} by {}{}",
                dualpower_node::clock::utc_text(b["from"].as_u64().unwrap_or(0)),
                dualpower_node::clock::utc_text(b["until"].as_u64().unwrap_or(0)),
                label(v, s(&b["by"])),
                match b["lost_to"].as_str() {
                    Some(w) => format!("  (lost to booking {}, made at the same time)", short(w)),
                    None => String::new(),
                }
            ));
        }
    }
    if out.is_empty() {
        "No shared resources yet: `dualpower resource add GROUP NAME`.".into()
    } else {
        out.join("\n")
    }
}

fn board_text(v: &Value) -> String {
    let mut out = Vec::new();
    for i in v["intents"].as_array().into_iter().flatten() {
        out.push(format!(
            "{}  {} [{}] {} — {} of {} {}{}  by {}",
            short(s(&i["id"])),
            s(&i["kind"]),
            s(&i["category"]),
            s(&i["text"]),
            i["left"],
            i["quantity"],
            s(&i["unit"]),
            if s(&i["place"]).is_empty() {
                String::new()
            } else {
                format!(" at {}", s(&i["place"]))
            },
            label(v, s(&i["author"])),
        ));
        let m: Vec<&str> = i["matches"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .map(short)
            .collect();
        if !m.is_empty() {
            out.push(format!("    offers that could meet it: {}", m.join(", ")));
        }
    }
    for c in v["commitments"].as_array().into_iter().flatten() {
        out.push(format!(
            "commitment {}  {} gives {} × \"{}\" to {}: {}",
            short(s(&c["id"])),
            label(v, s(&c["provider"])),
            c["quantity"],
            s(&c["what"]),
            label(v, s(&c["receiver"])),
            if c["confirmed"] == true {
                "confirmed"
            } else if c["fulfilled"].is_string() {
                "fulfilled, waiting for the receiver to confirm"
            } else {
                "open"
            }
        ));
    }
    if out.is_empty() {
        "The board is empty: `dualpower offer GROUP \"…\"` or `dualpower need GROUP \"…\"`.".into()
    } else {
        out.join("\n")
    }
}
