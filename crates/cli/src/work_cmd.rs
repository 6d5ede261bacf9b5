//! The work commands: `task …`, `role …`, `mediate …`, `vouch`, `rep`.
//!
//! Writes go through [`crate::op`] (the running node, or the store) and reads through
//! [`crate::view`], like the decision commands; every command takes `--json`, and the text
//! output names the next command a person needs.

use anyhow::Result;
use clap::Subcommand;
use dualpower_node::ops::{Op, TaskArgs};
use dualpower_node::query::Query;
use serde_json::Value;

use crate::{Ctx, group_hex, label, op, view};

/// Work commands (flattened into the top level).
#[derive(Subcommand, Debug)]
pub(crate) enum WorkCommand {
    /// Tasks: create, claim, release, hand over, mark done, confirm, dispute, list.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Rotating roles: volunteer for the next term, run its draw, list holders.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Mediation: request it, volunteer, draw a mediator, record and co-sign the outcome.
    #[command(subcommand)]
    Mediate(MediateCommand),
    /// Vouch for a member's work in a domain (a receipt: it counts for their reputation).
    Vouch {
        /// Group id, id prefix or name.
        group: String,
        /// The member.
        member: String,
        /// The domain (logistics, care, tech, outreach, mediation, or the group's own).
        #[arg(long, default_value = "logistics")]
        domain: String,
    },
    /// Reputation per domain, from co-signed receipts only; with MEMBER, theirs.
    Rep {
        /// Group id, id prefix or name.
        group: String,
        /// The member (did:key, or a unique piece of it as shown).
        member: Option<String>,
        /// Explain each score by its largest contributions.
        #[arg(long)]
        why: bool,
    },
}

/// `task …`
#[derive(Subcommand, Debug)]
pub(crate) enum TaskCommand {
    /// Create a task directly (where the rules allow; else `propose … --task`).
    Create {
        /// Group id, id prefix or name.
        group: String,
        /// What is to be done.
        title: String,
        /// How many people it takes.
        #[arg(long, default_value_t = 1)]
        slots: u64,
        /// Its domain.
        #[arg(long, default_value = "logistics")]
        domain: String,
        /// Due in this many days.
        #[arg(long)]
        due_days: Option<u64>,
        /// Skills it needs (comma-separated).
        #[arg(long, value_delimiter = ',')]
        skills: Vec<String>,
    },
    /// Take a slot.
    Claim {
        /// Group id, id prefix or name.
        group: String,
        /// Task id (as `task list` shows).
        task: String,
    },
    /// Give your slot up.
    Release {
        /// Group id, id prefix or name.
        group: String,
        /// Task id.
        task: String,
    },
    /// Pass your slot to another member.
    Handover {
        /// Group id, id prefix or name.
        group: String,
        /// Task id.
        task: String,
        /// Who takes it over.
        to: String,
    },
    /// Mark your part done.
    Done {
        /// Group id, id prefix or name.
        group: String,
        /// Task id.
        task: String,
        /// What was done.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Confirm a member's completion (not your own).
    Confirm {
        /// Group id, id prefix or name.
        group: String,
        /// Task id.
        task: String,
        /// Whose (default: the only one who marked it done).
        #[arg(long, default_value = "")]
        member: String,
    },
    /// Dispute a member's completion (opens mediation).
    Dispute {
        /// Group id, id prefix or name.
        group: String,
        /// Task id.
        task: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Whose (default: the only one who marked it done).
        #[arg(long, default_value = "")]
        member: String,
    },
    /// List tasks (overdue and unclaimed ones say so).
    List {
        /// Group id, id prefix or name.
        group: String,
    },
}

/// `role …`
#[derive(Subcommand, Debug)]
pub(crate) enum RoleCommand {
    /// Volunteer for the next term of a rotating role.
    Volunteer {
        /// Group id, id prefix or name.
        group: String,
        /// The role.
        role: String,
    },
    /// The draw's next step: close the list, reveal your secret, or draw.
    Draw {
        /// Group id, id prefix or name.
        group: String,
        /// The role.
        role: String,
    },
    /// Rotating roles, their holders, terms and draws.
    List {
        /// Group id, id prefix or name.
        group: String,
    },
}

/// `mediate …`
#[derive(Subcommand, Debug)]
pub(crate) enum MediateCommand {
    /// Ask for mediation between members.
    Request {
        /// Group id, id prefix or name.
        group: String,
        /// What it is about.
        about: String,
        /// A party (repeat; at least two, you may be one).
        #[arg(long = "party", required = true)]
        parties: Vec<String>,
    },
    /// Volunteer to mediate a case.
    Volunteer {
        /// Group id, id prefix or name.
        group: String,
        /// Case id.
        case: String,
    },
    /// The mediator draw's next step.
    Draw {
        /// Group id, id prefix or name.
        group: String,
        /// Case id.
        case: String,
    },
    /// Record the outcome (the drawn mediator), or co-sign it (a party: `--agree`).
    Outcome {
        /// Group id, id prefix or name.
        group: String,
        /// Case id.
        case: String,
        /// The outcome in words (mediator).
        #[arg(long, default_value = "")]
        text: String,
        /// agreed | overturned | no-agreement (mediator).
        #[arg(long, default_value = "agreed")]
        settlement: String,
        /// Co-sign the mediator's outcome (a party).
        #[arg(long)]
        agree: bool,
    },
    /// Mediation cases.
    List {
        /// Group id, id prefix or name.
        group: String,
    },
}

/// Runs a work command.
pub(crate) fn run(ctx: &Ctx, cmd: WorkCommand) -> Result<i32> {
    match cmd {
        WorkCommand::Task(t) => task(ctx, t),
        WorkCommand::Role(r) => role(ctx, r),
        WorkCommand::Mediate(m) => mediate(ctx, m),
        WorkCommand::Vouch {
            group,
            member,
            domain,
        } => {
            let group = group_hex(ctx, &group)?;
            let v = op(
                ctx,
                Op::Vouch {
                    group,
                    member,
                    domain,
                },
            )?;
            ctx.emit(v.clone(), || {
                format!(
                    "Vouched for {} in {}.",
                    v["vouched"].as_str().unwrap_or_default(),
                    v["domain"].as_str().unwrap_or_default()
                )
            });
            Ok(0)
        }
        WorkCommand::Rep { group, member, why } => {
            let group = group_hex(ctx, &group)?;
            let v = view(ctx, Query::Reputation { group, member })?;
            ctx.emit(v.clone(), || rep_text(&v, why));
            Ok(0)
        }
    }
}

/// The answer's `key` list, one line per item by `line`, or `none` if it is empty.
fn lines(v: &Value, key: &str, line: fn(&Value, &Value) -> String, none: &str) -> String {
    let all: Vec<String> = v[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| line(v, x))
        .collect();
    if all.is_empty() {
        none.to_owned()
    } else {
        all.join("\n")
    }
}

fn task_line(v: &Value, t: &Value) -> String {
    let holders: Vec<String> = t["holders"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let who = label(v, h["member"].as_str().unwrap_or_default());
            let state = if h["counted"] == true {
                " ✓".to_owned()
            } else if h["done"].is_string() {
                format!(
                    " done, {} confirmation(s)",
                    h["confirmed_by"].as_array().map_or(0, Vec::len)
                )
            } else {
                String::new()
            };
            format!("{who}{state}")
        })
        .collect();
    format!(
        "{}  {}  [{}] {}  {}/{} slots{}{}",
        short_task(t["id"].as_str().unwrap_or_default()),
        t["status"].as_str().unwrap_or_default(),
        t["domain"].as_str().unwrap_or_default(),
        t["title"].as_str().unwrap_or_default(),
        t["slots"].as_u64().unwrap_or(0) - t["free"].as_u64().unwrap_or(0),
        t["slots"].as_u64().unwrap_or(0),
        if holders.is_empty() {
            String::new()
        } else {
            format!(": {}", holders.join(", "))
        },
        if t["overdue"] == true {
            "  (overdue)"
        } else {
            ""
        },
    ) + &suggested(v, t)
}

/// "could take it: …" from the answer's suggestions (by reputation in the task's domain).
fn suggested(v: &Value, t: &Value) -> String {
    let s = labels_in(v, &t["suggested"]);
    if s.is_empty() {
        String::new()
    } else {
        format!("\n    could take it (by reputation): {}", s.join(", "))
    }
}

/// The labels (see [`label`]) of the keys listed in `list`.
fn labels_in(v: &Value, list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str())
        .map(|k| label(v, k))
        .collect()
}

/// `HEX:N` shortened to its first 12 digits (enough to type back).
fn short_task(id: &str) -> String {
    match id.split_once(':') {
        Some((h, n)) => format!("{}:{n}", &h[..h.len().min(12)]),
        None => id.to_owned(),
    }
}

fn task(ctx: &Ctx, cmd: TaskCommand) -> Result<i32> {
    let (o, done): (Op, &str) = match cmd {
        TaskCommand::List { group } => {
            let group = group_hex(ctx, &group)?;
            let v = view(ctx, Query::Work { group })?;
            ctx.emit(v.clone(), || {
                lines(
                    &v,
                    "tasks",
                    task_line,
                    "No tasks yet: `dualpower task create GROUP \"TITLE\"`, or a proposal with --task.",
                )
            });
            return Ok(0);
        }
        TaskCommand::Create {
            group,
            title,
            slots,
            domain,
            due_days,
            skills,
        } => (
            Op::TaskCreate {
                group: group_hex(ctx, &group)?,
                task: TaskArgs {
                    title,
                    slots: Some(slots),
                    domain: Some(domain),
                    due_days,
                    skills,
                },
            },
            "Created. Members take it with `dualpower task claim GROUP TASK`.",
        ),
        TaskCommand::Claim { group, task } => (
            Op::TaskClaim {
                group: group_hex(ctx, &group)?,
                task,
            },
            "Claimed. When your part is done: `dualpower task done GROUP TASK --note …`.",
        ),
        TaskCommand::Release { group, task } => (
            Op::TaskRelease {
                group: group_hex(ctx, &group)?,
                task,
            },
            "Released: the slot is free again.",
        ),
        TaskCommand::Handover { group, task, to } => (
            Op::TaskHandover {
                group: group_hex(ctx, &group)?,
                task,
                to,
            },
            "Handed over.",
        ),
        TaskCommand::Done { group, task, note } => (
            Op::TaskDone {
                group: group_hex(ctx, &group)?,
                task,
                note,
            },
            "Marked done. It counts once other members confirm it (`dualpower task confirm`).",
        ),
        TaskCommand::Confirm {
            group,
            task,
            member,
        } => (
            Op::TaskConfirm {
                group: group_hex(ctx, &group)?,
                task,
                member,
            },
            "Confirmed.",
        ),
        TaskCommand::Dispute {
            group,
            task,
            reason,
            member,
        } => (
            Op::TaskDispute {
                group: group_hex(ctx, &group)?,
                task,
                member,
                reason,
            },
            "Disputed: a mediation case is open (`dualpower mediate list GROUP`); the completion \
             counts only after an agreed outcome.",
        ),
    };
    let v = op(ctx, o)?;
    let text = if v["title"].is_string() {
        format!("{}\n{}", task_line(&v, &v), done)
    } else {
        done.to_owned()
    };
    ctx.emit(v, || text);
    Ok(0)
}

fn roles_text(v: &Value) -> String {
    let roles = v["roles"].as_array().cloned().unwrap_or_default();
    if roles.is_empty() {
        return "No role rotates: amend the rules with --rotate ROLE:DAYS.".into();
    }
    roles
        .iter()
        .map(|r| {
            let holder = r["holder"]
                .as_str()
                .map(|h| {
                    format!(
                        "held by {} (term {})",
                        label(v, h),
                        r["term"].as_u64().unwrap_or(0)
                    )
                })
                .unwrap_or_else(|| "vacant".into());
            let next = &r["next"];
            let vols = next["volunteers"].as_array().map_or(0, Vec::len);
            let withheld: Vec<String> = labels_in(v, &next["withheld"]);
            format!(
                "{}: {holder}; every {} days; next term {}: {vols} volunteer(s){}{}",
                r["role"].as_str().unwrap_or_default(),
                r["term_days"],
                r["next_term"],
                if next["closed"] == true {
                    format!(
                        ", list closed, waiting for {} reveal(s)",
                        next["waiting"].as_array().map_or(0, Vec::len)
                    )
                } else {
                    String::new()
                },
                if withheld.is_empty() {
                    String::new()
                } else {
                    format!("; did not reveal: {}", withheld.join(", "))
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn role(ctx: &Ctx, cmd: RoleCommand) -> Result<i32> {
    let (o, done) = match cmd {
        RoleCommand::List { group } => {
            let group = group_hex(ctx, &group)?;
            let v = view(ctx, Query::Work { group })?;
            ctx.emit(v.clone(), || roles_text(&v));
            return Ok(0);
        }
        RoleCommand::Volunteer { group, role } => (
            Op::RoleVolunteer {
                group: group_hex(ctx, &group)?,
                role,
            },
            "Volunteered (your secret is committed; your node reveals it when the list closes).",
        ),
        RoleCommand::Draw { group, role } => (
            Op::RoleDraw {
                group: group_hex(ctx, &group)?,
                role,
            },
            "Done: run it again for the next step (close → reveals → draw).",
        ),
    };
    let v = op(ctx, o)?;
    ctx.emit(v.clone(), || format!("{done}\n{}", roles_text(&v)));
    Ok(0)
}

fn case_text(v: &Value, c: &Value) -> String {
    let parties: Vec<String> = labels_in(v, &c["parties"]);
    format!(
        "{}  between {}: {}\n  mediator: {}; outcome: {}; {}",
        &c["id"].as_str().unwrap_or_default()[..12.min(c["id"].as_str().unwrap_or_default().len())],
        parties.join(", "),
        c["about"].as_str().unwrap_or_default(),
        c["mediator"]
            .as_str()
            .map_or_else(|| "not drawn yet".into(), |m| label(v, m)),
        c["outcome"]["text"].as_str().map_or_else(
            || "none yet".into(),
            |t| format!(
                "\"{t}\" ({})",
                c["outcome"]["settlement"].as_str().unwrap_or_default()
            )
        ),
        c["settled"]
            .as_str()
            .map_or_else(|| "not settled".into(), |s| format!("settled: {s}")),
    )
}

fn mediate(ctx: &Ctx, cmd: MediateCommand) -> Result<i32> {
    let o = match cmd {
        MediateCommand::List { group } => {
            let group = group_hex(ctx, &group)?;
            let v = view(ctx, Query::Work { group })?;
            ctx.emit(v.clone(), || {
                lines(&v, "cases", case_text, "No mediation cases.")
            });
            return Ok(0);
        }
        MediateCommand::Request {
            group,
            about,
            parties,
        } => Op::MediateRequest {
            group: group_hex(ctx, &group)?,
            parties,
            about,
        },
        MediateCommand::Volunteer { group, case } => Op::MediateVolunteer {
            group: group_hex(ctx, &group)?,
            case,
        },
        MediateCommand::Draw { group, case } => Op::MediateDraw {
            group: group_hex(ctx, &group)?,
            case,
        },
        MediateCommand::Outcome {
            group,
            case,
            agree: true,
            ..
        } => Op::MediateAgree {
            group: group_hex(ctx, &group)?,
            case,
        },
        MediateCommand::Outcome {
            group,
            case,
            text,
            settlement,
            ..
        } => Op::MediateOutcome {
            group: group_hex(ctx, &group)?,
            case,
            settlement,
            text,
        },
    };
    let v = op(ctx, o)?;
    ctx.emit(v.clone(), || {
        if v["parties"].is_array() {
            case_text(&v, &v)
        } else {
            roles_text(&v)
        }
    });
    Ok(0)
}

fn rep_text(v: &Value, why: bool) -> String {
    let mut out = Vec::new();
    for d in v["domains"].as_array().into_iter().flatten() {
        let scores = d["scores"].as_array().cloned().unwrap_or_default();
        if scores.is_empty() {
            continue;
        }
        out.push(format!("{}:", d["domain"].as_str().unwrap_or_default()));
        for s in &scores {
            out.push(format!(
                "  {:>7}  {}",
                s["percent"].as_str().unwrap_or_default(),
                label(v, s["member"].as_str().unwrap_or_default())
            ));
            if why {
                for w in s["why"].as_array().into_iter().flatten() {
                    let from = w["from"].as_str().map_or_else(
                        || "seed restart (chosen by the group's rules)".into(),
                        |f| format!("from {}", label(v, f)),
                    );
                    out.push(format!(
                        "           {:>7}  {from}",
                        w["percent"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
    }
    if out.is_empty() {
        return "No reputation yet: it comes only from receipts (confirmed tasks, mediations, \
                vouches)."
            .into();
    }
    let delegates: Vec<String> = labels_in(v, &v["suggested_delegates"]);
    if v["member"].is_null() && !delegates.is_empty() {
        out.push(format!(
            "Might carry others' weight well (`dualpower delegate`): {}",
            delegates.join(", ")
        ));
    }
    out.join("\n")
}
