//! The decision commands: `propose`, `open`, `revise`, `withdraw`, `vote`, `delegate`,
//! `undelegate`, `proposals`, `close`, `tally`.
//!
//! Writes go through [`crate::op`] (the running node, or the store); reads derive the group
//! from the store. Every command takes `--json`; the text output is for people.

use anyhow::{Result, bail};
use clap::Subcommand;
use dualpower_node::ops::{ConstitutionArgs, Op};
use dualpower_node::query::Query;
use serde_json::{Value, json};

use crate::{Ctx, group_hex, label, op};

/// Decision commands (flattened into the top level).
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub(crate) enum DecideCommand {
    /// Put a proposal to a group.
    Propose {
        /// Group id, id prefix or name.
        group: String,
        /// Title.
        title: String,
        /// Longer text.
        #[arg(long, default_value = "")]
        body: String,
        /// An option (repeat): a label, or `label=cost` for budgeting. None for majority/consent.
        #[arg(long = "option", short = 'o')]
        options: Vec<String>,
        /// majority[:threshold=2/3,quorum=1/2] | consent | plurality | approval |
        /// score[:min=0,max=5] | star[:min=0,max=5] | dot:dots=N | quadratic | schulze | irv |
        /// budget:total=N.
        #[arg(long)]
        method: Option<String>,
        /// Who votes: `members` or `role:NAME`.
        #[arg(long)]
        electorate: Option<String>,
        /// Topic, for topic-scoped delegation.
        #[arg(long, default_value = "")]
        topic: String,
        /// Start with discussion; open voting later with `dualpower open`.
        #[arg(long)]
        discuss: bool,
        /// Time until the deadline, e.g. `72h`, `30m`, `2d`, `90s`: the author's node closes
        /// then, and after it any voter may (default: none; only the author closes).
        #[arg(long, value_parser = duration_secs)]
        deadline: Option<u64>,
        /// Propose a change of the group's rules, given by the rule flags below (enacted if
        /// it passes).
        #[arg(long)]
        constitution: bool,
        /// Propose removing this member (did:key, or a unique piece of it as shown), when the rules put removal to a vote.
        #[arg(long = "remove-member")]
        remove_member: Option<String>,
        /// Propose admitting this newcomer, who has asked to join, when admission is by vote.
        #[arg(long = "admit-member")]
        admit_member: Option<String>,
        /// Propose granting a role, `MEMBER=ROLE` (did:key, or a unique piece of it as shown), when the rules put role
        /// changes to a vote (`--amend vote`).
        #[arg(long = "grant-role", value_name = "MEMBER=ROLE")]
        grant_role: Option<String>,
        /// Propose revoking a role, `MEMBER=ROLE`, when the rules put role changes to a vote.
        #[arg(
            long = "revoke-role",
            value_name = "MEMBER=ROLE",
            conflicts_with = "grant_role"
        )]
        revoke_role: Option<String>,
        /// A task its close creates if it passes (repeat):
        /// `TITLE[;slots=N][;domain=D][;due=DAYS][;skills=a,b]`.
        #[arg(long = "task", value_name = "TASK")]
        tasks: Vec<String>,
        /// `MEMBER=AMOUNT`: the credit limit it sets if it passes (when limits are by vote).
        #[arg(long, value_name = "MEMBER=AMOUNT")]
        set_limit: Option<String>,
        /// The rule changes, with --constitution.
        #[command(flatten)]
        rules: ConstitutionArgs,
    },
    /// Open voting on your proposal (ends discussion; the text is frozen).
    Open {
        /// Group id, id prefix or name.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
    },
    /// Revise your proposal while it is in discussion.
    Revise {
        /// Group id, id prefix or name.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New body.
        #[arg(long)]
        body: Option<String>,
        /// New options (repeat; replaces all).
        #[arg(long = "option", short = 'o')]
        options: Vec<String>,
    },
    /// Withdraw your proposal.
    Withdraw {
        /// Group id, id prefix or name.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
    },
    /// Vote on a proposal; voting again replaces your vote.
    ///
    /// BALLOT by method: majority `yes|no|abstain`; consent `agree|abstain|disagree|block`
    /// (a block needs --reason); plurality `LABEL`; approval and budget `A,B`; irv `B,A,C`
    /// (most preferred first); score, star, dot, quadratic and schulze `A=3,B=-1` or one number per
    /// option `3,-1,0`. `abstain` works for every method.
    Vote {
        /// Group id, id prefix or name.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
        /// The ballot.
        #[arg(allow_hyphen_values = true)]
        ballot: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Give your vote weight to another member (transitively; your own vote overrides).
    Delegate {
        /// Group id, id prefix or name.
        group: String,
        /// The delegate (did:key, or a unique piece of it as shown); leave out with --nobody.
        to: Option<String>,
        /// Only for proposals with this topic.
        #[arg(long)]
        topic: Option<String>,
        /// Only for this proposal.
        #[arg(long)]
        proposal: Option<String>,
        /// Delegate to nobody at this scope (overrides a broader delegation).
        #[arg(long)]
        nobody: bool,
    },
    /// Stop delegating at a scope (the broader scope applies again).
    Undelegate {
        /// Group id, id prefix or name.
        group: String,
        /// Only for this topic.
        #[arg(long)]
        topic: Option<String>,
        /// Only for this proposal.
        #[arg(long)]
        proposal: Option<String>,
    },
    /// List a group's proposals, or show one.
    Proposals {
        /// Group id, id prefix or name.
        group: String,
        /// Show this proposal in full.
        proposal: Option<String>,
    },
    /// Close a proposal: what counts is what your node has seen.
    Close {
        /// Group id, id prefix or name.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
    },
    /// Show a proposal's tally certificate; --verify recomputes it from the log.
    Tally {
        /// Group id, id prefix or name.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
        /// Re-verify every event's signature and recompute from scratch.
        #[arg(long)]
        verify: bool,
        /// With --verify: the certificate digest another member printed (or its first 8 or
        /// more hex digits, as read aloud); exit 1 if it differs.
        #[arg(long, requires = "verify")]
        expect: Option<String>,
    },
}

/// Parses `90s`, `30m`, `72h` or `2d` (at most a year) into seconds.
fn duration_secs(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}` is not a duration like 90s, 30m, 72h or 2d")),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90s, 30m, 72h or 2d"))?;
    match n.checked_mul(mult) {
        Some(v) if v > 0 && v <= 366 * 86_400 => Ok(v),
        _ => Err(format!("`{s}`: a deadline is 1 second to a year away")),
    }
}

/// Runs a decision command.
pub(crate) fn run(ctx: &Ctx, cmd: DecideCommand) -> Result<i32> {
    match cmd {
        DecideCommand::Propose {
            group,
            title,
            body,
            options,
            method,
            electorate,
            topic,
            discuss,
            deadline,
            constitution,
            remove_member,
            admit_member,
            grant_role,
            revoke_role,
            tasks,
            set_limit,
            rules,
        } => {
            if !constitution && !rules.is_empty() {
                bail!(
                    "rule flags change the rules only in a proposal to amend them: add \
                     --constitution (e.g. `dualpower propose GROUP \"{title}\" --constitution \
                     --history false`)"
                );
            }
            let group = group_hex(ctx, &group)?;
            let v = op(
                ctx,
                Op::Propose {
                    group,
                    title,
                    body,
                    options,
                    method,
                    electorate,
                    topic,
                    discuss,
                    deadline_secs: deadline.unwrap_or(0),
                    amend: constitution.then(|| Box::new(rules)),
                    remove: remove_member,
                    admit: admit_member,
                    grant_role,
                    revoke_role,
                    tasks: tasks
                        .iter()
                        .map(|t| dualpower_node::ops::TaskArgs::parse(t))
                        .collect::<Result<_, _>>()?,
                    set_limit,
                },
            )?;
            ctx.emit(v.clone(), || {
                format!(
                    "Proposed {} ({}).{}\n{}",
                    v["id"].as_str().unwrap_or_default(),
                    v["status"].as_str().unwrap_or_default(),
                    v["enacts"]
                        .as_str()
                        .map(|a| format!("\nIf it passes, closing it will {a}."))
                        .unwrap_or_default(),
                    if v["status"] == "discussion" {
                        "Open voting with `dualpower open GROUP PROPOSAL` when discussion is done."
                    } else {
                        "Members vote with `dualpower vote GROUP PROPOSAL BALLOT`."
                    }
                )
            });
            Ok(0)
        }
        DecideCommand::Open { group, proposal } => {
            let group = group_hex(ctx, &group)?;
            let v = op(ctx, Op::OpenVoting { group, proposal })?;
            ctx.emit(v, || "Voting is open.".into());
            Ok(0)
        }
        DecideCommand::Revise {
            group,
            proposal,
            title,
            body,
            options,
        } => {
            let group = group_hex(ctx, &group)?;
            let v = op(
                ctx,
                Op::Revise {
                    group,
                    proposal,
                    title,
                    body,
                    options: (!options.is_empty()).then_some(options),
                },
            )?;
            ctx.emit(v.clone(), || {
                format!(
                    "Revised: the proposal now reads \"{}\".",
                    v["title"].as_str().unwrap_or_default()
                )
            });
            Ok(0)
        }
        DecideCommand::Withdraw { group, proposal } => {
            let group = group_hex(ctx, &group)?;
            let v = op(ctx, Op::Withdraw { group, proposal })?;
            ctx.emit(v, || "Withdrawn.".into());
            Ok(0)
        }
        DecideCommand::Vote {
            group,
            proposal,
            ballot,
            reason,
        } => {
            let group = group_hex(ctx, &group)?;
            let v = op(
                ctx,
                Op::Vote {
                    group,
                    proposal,
                    ballot,
                    reason,
                },
            )?;
            ctx.emit(v, || "Vote recorded (vote again to change it).".into());
            Ok(0)
        }
        DecideCommand::Delegate {
            group,
            to,
            topic,
            proposal,
            nobody,
        } => {
            if to.is_none() && !nobody {
                bail!("name a delegate, or pass --nobody (to stop delegating, use `undelegate`)");
            }
            let group = group_hex(ctx, &group)?;
            let v = op(
                ctx,
                Op::Delegate {
                    group,
                    to,
                    topic,
                    proposal,
                    nobody,
                },
            )?;
            ctx.emit(v.clone(), || {
                format!(
                    "Delegated at scope {} to {}.",
                    v["scope"].as_str().unwrap_or_default(),
                    v["target"].as_str().unwrap_or_default()
                )
            });
            Ok(0)
        }
        DecideCommand::Undelegate {
            group,
            topic,
            proposal,
        } => {
            let group = group_hex(ctx, &group)?;
            let v = op(
                ctx,
                Op::Delegate {
                    group,
                    to: None,
                    topic,
                    proposal,
                    nobody: false,
                },
            )?;
            ctx.emit(v, || "Delegation cleared at that scope.".into());
            Ok(0)
        }
        DecideCommand::Proposals { group, proposal } => list(ctx, &group, proposal.as_deref()),
        DecideCommand::Close { group, proposal } => {
            let group = group_hex(ctx, &group)?;
            let v = op(ctx, Op::Close { group, proposal })?;
            ctx.emit(v.clone(), || certificate_text(&v));
            Ok(0)
        }
        DecideCommand::Tally {
            group,
            proposal,
            verify,
            expect,
        } => tally(ctx, &group, &proposal, verify, expect.as_deref()),
    }
}

fn group_id(ctx: &Ctx, group: &str) -> Result<dualpower_core::GroupId> {
    let hex = group_hex(ctx, group)?;
    dualpower_core::GroupId::from_hex(&hex).ok_or_else(|| anyhow::anyhow!("bad group id"))
}

fn list(ctx: &Ctx, group: &str, one: Option<&str>) -> Result<i32> {
    let g = group_id(ctx, group)?;
    if let Some(key) = one {
        let v = crate::view(
            ctx,
            Query::Proposal {
                group: g.to_hex(),
                proposal: key.to_owned(),
            },
        )?;
        // Where this member's own weight goes, first: that is what a delegator wants to see.
        let me = dualpower_store::keystore::public(&ctx.home).ok();
        let mine = me.map(|k| {
            let did = k.to_did();
            let rows = |f: &str| v[f].as_array().cloned().unwrap_or_default();
            if rows("votes").iter().any(|x| x["voter"] == did.as_str()) {
                "You voted: your own vote counts.".to_owned()
            } else {
                match rows("holders").iter().find(|h| h["member"] == did.as_str()) {
                    Some(h) if h["held_by"].is_string() => format!(
                        "Your weight is held by {} ({} hop(s)); vote yourself to override.",
                        h["held_by"].as_str().unwrap_or_default(),
                        h["depth"]
                    ),
                    Some(h) => format!(
                        "Your delegation does not reach a voter ({}): your weight is lost unless you vote.",
                        h["lost"].as_str().map_or_else(|| h["lost"].to_string(), str::to_owned)
                    ),
                    None if v["status"] == "voting" => {
                        format!("You ({}) have not voted.", label(&v, &did))
                    }
                    None => String::new(),
                }
            }
        });
        ctx.emit(v.clone(), || {
            let mut t = certificate_text(&v);
            if let Some(m) = mine.filter(|m| !m.is_empty()) {
                t.push_str(&m);
                t.push('\n');
            }
            t
        });
        return Ok(0);
    }
    let listed = crate::view(ctx, Query::Proposals { group: g.to_hex() })?;
    let mut all = listed["proposals"].as_array().cloned().unwrap_or_default();
    // By when each was written (the author's clock), newest first; ids break ties.
    all.sort_by(|a, b| {
        let key = |v: &Value| (v["timestamp"].as_u64(), v["id"].as_str().map(str::to_owned));
        key(b).cmp(&key(a))
    });
    let delegations = listed["delegations"].clone();
    let now = crate::now_ms();
    let value = json!({
        "group": g.to_hex(), "proposals": all, "delegations": delegations,
        "labels": listed["labels"],
    });
    ctx.emit(value, || {
        if all.is_empty() {
            return "No proposals yet.".into();
        }
        let mut t = String::from("Newest first:\n");
        for p in &all {
            let id = p["id"].as_str().unwrap_or_default();
            let deadline = p["deadline"].as_u64().unwrap_or(0);
            let when = match (p["status"].as_str(), deadline) {
                (Some("voting"), d) if d > 0 => format!(" — {}", time_left(d, now)),
                _ => String::new(),
            };
            t.push_str(&format!(
                "{}  {}  [{}] {}  — {}, {} vote(s){}{when}\n",
                id.get(..12).unwrap_or(id),
                crate::when::ago(now, p["timestamp"].as_u64().unwrap_or(0)),
                p["status"].as_str().unwrap_or_default(),
                p["title"].as_str().unwrap_or_default(),
                p["method"].as_str().unwrap_or_default(),
                p["votes"].as_array().map_or(0, Vec::len),
                result_line(&p["certificate"], &p["options"])
                    .map(|r| format!(" — {r}"))
                    .unwrap_or_default(),
            ));
        }
        t
    });
    Ok(0)
}

/// "closes in 2 h 5 min" / "deadline passed".
fn time_left(deadline: u64, now: u64) -> String {
    if deadline <= now {
        return "deadline passed: any voter may close".into();
    }
    let mins = (deadline - now) / 60_000;
    match (mins / 1440, (mins % 1440) / 60, mins % 60) {
        (0, 0, m) => format!("closes in {m} min"),
        (0, h, m) => format!("closes in {h} h {m} min"),
        (d, h, _) => format!("closes in {d} d {h} h"),
    }
}

/// One line: passed / winner / selection.
fn result_line(cert: &Value, options: &Value) -> Option<String> {
    let o = cert.get("outcome")?;
    let label = |i: &Value| {
        i.as_u64()
            .and_then(|i| options.get(i as usize))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    if let Some(p) = o["passed"].as_bool() {
        return Some(if p {
            "passes".into()
        } else {
            "does not pass".into()
        });
    }
    let winners: Vec<String> = o["winners"].as_array()?.iter().map(label).collect();
    let budget = cert["method"]
        .as_str()
        .is_some_and(|m| m.starts_with("budget"));
    Some(match (winners.is_empty(), budget) {
        (true, false) => "no winner".into(),
        (true, true) => "nothing funded".into(),
        (false, false) => format!("winner: {}", winners.join(", ")),
        (false, true) => format!("funded: {}", winners.join(", ")),
    })
}

fn certificate_text(v: &Value) -> String {
    let now = crate::now_ms();
    let mut t = format!(
        "{} [{}] {}\n",
        v["id"].as_str().unwrap_or_default(),
        v["status"].as_str().unwrap_or_default(),
        v["title"].as_str().unwrap_or_default(),
    );
    if let Some(author) = v["author"].as_str() {
        t.push_str(&format!(
            "proposed by {} {}{}\n",
            label(v, author),
            crate::when::ago(now, v["timestamp"].as_u64().unwrap_or(0)),
            if v["text"] != v["id"] {
                " (revised)"
            } else {
                ""
            }
        ));
    }
    if let Some(body) = v["body"].as_str().filter(|b| !b.trim().is_empty()) {
        for line in body.lines() {
            t.push_str(&format!("  {line}\n"));
        }
    }
    let labels = v["options"].as_array().cloned().unwrap_or_default();
    if !labels.is_empty() {
        t.push_str("options:\n");
        let costs = v["costs"].as_array().cloned().unwrap_or_default();
        for (i, l) in labels.iter().enumerate() {
            let cost = match costs.get(i).and_then(Value::as_u64) {
                Some(c) if c > 0 => format!(" (costs {c})"),
                _ => String::new(),
            };
            t.push_str(&format!(
                "  {}. {}{cost}\n",
                i + 1,
                l.as_str().unwrap_or_default()
            ));
        }
    }
    let deadline = v["deadline"].as_u64().unwrap_or(0);
    t.push_str(&format!(
        "method {}  electorate {}  deadline {}\n",
        v["method"].as_str().unwrap_or_default(),
        v["electorate"].as_str().unwrap_or_default(),
        match (deadline, v["status"].as_str()) {
            (0, _) => "none (only the author closes)".to_owned(),
            (d, Some("voting")) => time_left(d, now),
            (d, _) if d <= now => format!("passed {}", crate::when::ago(now, d)),
            _ => "not reached".to_owned(),
        }
    ));
    if let Some(a) = v["enacts"].as_str().filter(|_| v["status"] != "closed") {
        t.push_str(&format!("if it passes, closing it will {a}\n"));
    }
    let votes = v["votes"].as_array().map_or(0, Vec::len);
    if v["status"] != "discussion" {
        t.push_str(&format!("{votes} vote(s)\n"));
    }
    for vote in v["votes"].as_array().into_iter().flatten() {
        t.push_str(&format!(
            "  {} voted {}{}\n",
            label(v, vote["voter"].as_str().unwrap_or_default()),
            vote["ballot"].as_str().unwrap_or_default(),
            match vote["reason"].as_str() {
                Some(r) if !r.is_empty() => format!(" ({r})"),
                _ => String::new(),
            }
        ));
    }
    for h in v["holders"].as_array().into_iter().flatten() {
        match h["held_by"].as_str() {
            Some(by) => t.push_str(&format!(
                "  {}'s weight is held by {}\n",
                label(v, h["member"].as_str().unwrap_or_default()),
                label(v, by)
            )),
            None => t.push_str(&format!(
                "  {}'s weight is lost ({})\n",
                label(v, h["member"].as_str().unwrap_or_default()),
                h["lost"].as_str().unwrap_or_default()
            )),
        }
    }
    let cert = &v["certificate"];
    if cert.is_null() {
        return t;
    }
    let o = &cert["outcome"];
    let labels = &v["options"];
    t.push_str(&format!(
        "{} certificate {}\n",
        if v["status"] == "closed" {
            "final"
        } else {
            "provisional"
        },
        cert["digest"].as_str().unwrap_or_default()
    ));
    for (i, f) in o["figures"].as_array().into_iter().flatten().enumerate() {
        t.push_str(&format!(
            "  {:<24} {}\n",
            labels.get(i).and_then(Value::as_str).unwrap_or("?"),
            f
        ));
    }
    t.push_str(&format!(
        "  participation {} of {}  (abstained {}, delegated {}, lost {}, void {}){}\n",
        o["participation"],
        cert["electorate"],
        o["abstained"],
        cert["delegated"],
        cert["lost"].as_array().map_or(0, Vec::len),
        cert["void"].as_array().map_or(0, Vec::len),
        if o["quorum_met"] == false {
            "  — quorum not met"
        } else {
            ""
        }
    ));
    if let Some(r) = result_line(cert, labels) {
        t.push_str(&format!(
            "  result: {r}{}\n",
            if o["tie"] == true {
                " (tie broken by option hash)"
            } else {
                ""
            }
        ));
    }
    let att = &v["attestations"];
    let agree = att["agree"].as_array().map_or(0, Vec::len);
    let differ = att["differ"].as_array().map_or(0, Vec::len);
    if agree + differ > 0 {
        t.push_str(&format!(
            "  co-signed by {agree} member(s){}\n",
            if differ > 0 {
                format!("; {differ} member(s) computed a DIFFERENT certificate")
            } else {
                String::new()
            }
        ));
    }
    if let Some(e) = v["enactment"].as_str() {
        t.push_str(&format!("  {e}\n"));
    }
    if let Some(late) = v["late"].as_array().filter(|l| !l.is_empty()) {
        t.push_str(&format!(
            "  note: {} vote(s) were not in the close's causal past and do not count\n",
            late.len()
        ));
    }
    if v["closes"].as_array().is_some_and(|c| c.len() > 1) {
        t.push_str("  note: closed concurrently by more than one member; the first close counts\n");
    }
    t
}

/// Fewest hex digits of a digest `--expect` takes: 8 (32 bits) is what people read aloud, and
/// matching a chosen prefix by chance takes about 2³² tries of re-running a close.
const MIN_EXPECT: usize = 8;

/// The digest (or prefix of one) given to `--expect`, lowercased; refused if it is not at least
/// [`MIN_EXPECT`] hex digits.
fn expected_digest(e: &str) -> Result<String> {
    let e = e.trim().to_ascii_lowercase();
    if !e.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "--expect takes the certificate digest in hex (or its first {MIN_EXPECT} or more digits); `{e}` is not hex"
        );
    }
    if e.len() < MIN_EXPECT {
        bail!(
            "--expect `{e}` is too short to compare: give at least the first {MIN_EXPECT} hex digits of the digest (the whole digest is 64)"
        );
    }
    if e.len() > 64 {
        bail!("--expect `{e}` is longer than a digest (64 hex digits)");
    }
    Ok(e)
}

fn tally(
    ctx: &Ctx,
    group: &str,
    proposal: &str,
    verify: bool,
    expect: Option<&str>,
) -> Result<i32> {
    // Checked before anything is opened: a typo must not cost a full re-verification.
    let expect = expect.map(expected_digest).transpose()?;
    let g = group_id(ctx, group)?;
    if !verify {
        let v = crate::view(
            ctx,
            Query::Proposal {
                group: g.to_hex(),
                proposal: proposal.to_owned(),
            },
        )?;
        let out = json!({
            "proposal": v["id"], "status": v["status"], "final": v["status"] == "closed",
            "certificate": v["certificate"], "digest": v["certificate"]["digest"],
            "labels": v["labels"],
        });
        ctx.emit(out, || certificate_text(&v));
        return Ok(0);
    }
    let v = crate::view(
        ctx,
        Query::VerifyTally {
            group: g.to_hex(),
            proposal: proposal.to_owned(),
        },
    )?;
    let n = v["events_verified"].as_u64().unwrap_or(0);
    let digest = v["digest"].as_str().unwrap_or_default().to_owned();
    let matches = expect.as_deref().map(|e| digest.starts_with(e));
    let mut out = v.clone();
    out["matches"] = json!(matches);
    ctx.emit(out, || {
        let mut t = format!(
            "recomputed from {n} re-verified events: certificate {digest} ({})",
            if v["final"] == true {
                "final"
            } else {
                "provisional: not closed yet"
            }
        );
        let agree = v["attestations"]["agree"].as_array().map_or(0, Vec::len);
        let differ = v["attestations"]["differ"].as_array().map_or(0, Vec::len);
        t.push_str(&format!(
            "\nco-signed with this digest by {agree} member(s); {differ} signed a different one"
        ));
        match matches {
            Some(true) => t.push_str(&format!(
                "\nmatches the expected digest{}",
                match expect.as_deref() {
                    Some(e) if e.len() < digest.len() =>
                        format!(" (its first {} hex digits)", e.len()),
                    _ => String::new(),
                }
            )),
            Some(false) => t.push_str("\nDOES NOT match the expected digest"),
            None => {}
        }
        t
    });
    Ok(if matches == Some(false) { 1 } else { 0 })
}

/// `group amend`: refused by the operation when the change takes away one of the author's own
/// powers unless `yes`; in a terminal the person is asked first instead.
pub(crate) fn amend(ctx: &Ctx, group: &str, rules: ConstitutionArgs, yes: bool) -> Result<i32> {
    use std::io::{BufRead, IsTerminal, Write};
    let group = group_hex(ctx, group)?;
    let send = |confirmed: bool| {
        op(
            ctx,
            Op::Amend {
                group: group.clone(),
                constitution: rules.clone(),
                confirmed,
            },
        )
    };
    let v = match send(yes) {
        Err(e)
            if !yes
                && e.to_string().contains("--yes")
                && std::io::stdin().is_terminal()
                && std::io::stderr().is_terminal() =>
        {
            eprint!("{e}\nDo it anyway? [y/N] ");
            std::io::stderr().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                bail!("nothing was changed");
            }
            send(true)?
        }
        other => other?,
    };
    ctx.emit(v, || "rules amended".to_owned());
    Ok(0)
}
