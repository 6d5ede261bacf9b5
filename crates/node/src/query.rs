//! Read-side queries that need the member's keys (feeds, direct messages, sealed removal reasons
//! and decisions): the one implementation behind both transports.
//!
//! With no node running, the CLI unlocks the keystore with the passphrase and calls [`answer`]
//! on the store itself. While `dualpower serve` runs, it holds the unlocked identity (like an
//! ssh-agent), so the CLI (and the web app) send the same [`Query`] to the node's local API
//! (`/v1/view`) and the node calls [`answer`] with its in-memory keys. Both paths return the
//! same JSON, which is what `--json` prints and what the text output is made from.
//!
//! Every answer that names members (feed, members, direct messages, proposals, one proposal)
//! carries a top-level `"labels"` map: did:key → [`crate::names::Label`] for every key it
//! mentions (and every key the group knows), so each surface shows the same names.

use dualpower_core::{GroupId, Identity};
use dualpower_store::ImportReport;
use dualpower_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use std::collections::BTreeMap;

use crate::decisions::{find_proposal, proposal_json, scope_text, target_text};
use crate::names::{labels, labels_json, mentioned_keys};
use crate::ops::OpError;

/// One read, as the CLI sends it to a running node.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "query", rename_all = "snake_case")]
pub enum Query {
    /// A group's decrypted feed.
    Feed {
        /// Group (hex).
        group: String,
    },
    /// One page of a group's decrypted feed, newest posts first (what the web app shows): the
    /// answer of [`Query::Feed`] with only that page's posts (still oldest first), no
    /// `rejected` list (its length as `rejected_count`), and `total`, `page`, `pages`,
    /// `per_page`. Its cost does not grow with the number of posts the page does not show.
    FeedPage {
        /// Group (hex).
        group: String,
        /// Page, 0 = the newest posts; past the last page means the last page.
        #[serde(default)]
        page: usize,
        /// Posts per page, 1 to [`MAX_PER_PAGE`] (others are clamped); default 30.
        #[serde(default = "default_per_page")]
        per_page: usize,
    },
    /// A group's members, pending joins, removals (with their sealed reasons) and rules.
    Members {
        /// Group (hex).
        group: String,
    },
    /// Every direct message to or from us.
    DirectMessages,
    /// A group's proposals and delegations.
    Proposals {
        /// Group (hex).
        group: String,
    },
    /// One proposal, its votes, weight holders and certificate.
    Proposal {
        /// Group (hex).
        group: String,
        /// Proposal id or unique prefix.
        proposal: String,
    },
    /// The labels of every key a group knows: `{"group", "labels"}`.
    Names {
        /// Group (hex).
        group: String,
    },
    /// A group's tasks, rotating roles (holders, draws), mediation cases and receipts.
    Work {
        /// Group (hex).
        group: String,
    },
    /// Reputation per domain from the group's receipts, each score with its largest
    /// contributions; one member's only if `member` is given.
    Reputation {
        /// Group (hex).
        group: String,
        /// The member (did:key, hex, or a piece of one).
        #[serde(default)]
        member: Option<String>,
    },
    /// The mutual-aid board: open offers and needs (filtered), with matching offers for each
    /// need, and the commitments in progress.
    Board {
        /// Group (hex).
        group: String,
        /// What to show.
        #[serde(default)]
        filter: crate::ops::aid::BoardFilter,
    },
    /// The group's mutual-credit ledger: balances, limits, payments, invoices (one member's only
    /// if `member` is given).
    Ledger {
        /// Group (hex).
        group: String,
        /// The member (did:key, hex, or a piece of one).
        #[serde(default)]
        member: Option<String>,
    },
    /// The ledger's links to other groups: terms, status, clearing balances, payments across.
    Links {
        /// Group (hex).
        group: String,
    },
    /// Compares two groups' logs for a member of both: every payment across credited on one
    /// side must have been paid on the other (see `ops::link::audit`).
    LinkAudit {
        /// One group (hex).
        group: String,
        /// The other (hex).
        with: String,
    },
    /// A proposal's certificate recomputed from every stored event re-verified from its bytes.
    VerifyTally {
        /// Group (hex).
        group: String,
        /// Proposal id or unique prefix.
        proposal: String,
    },
}

/// Most posts [`Query::FeedPage`] returns at once.
pub const MAX_PER_PAGE: usize = 200;

fn default_per_page() -> usize {
    30
}

/// The group named by `hex`, which the store must hold something of: an id nobody resolved
/// (the web app sends what it is given) would otherwise read as an empty group.
fn group_in(store: &Store, hex: &str) -> Result<GroupId, OpError> {
    let g = GroupId::from_hex(hex)
        .ok_or_else(|| OpError::Invalid(format!("`{hex}` is not a 64-digit group id")))?;
    if store.logs(Some(g))?.is_empty() {
        return Err(OpError::Invalid(format!(
            "this node holds nothing of group {hex}: `dualpower groups` lists the groups it holds \
             (join one with `dualpower group join CODE`, or import its bundle)"
        )));
    }
    Ok(g)
}

/// The answer `answer` makes of `group`'s state as our keys open it, with the labels of the keys
/// it names.
fn with_state(
    store: &Store,
    id: &Identity,
    group: &str,
    now: u64,
    answer: impl FnOnce(GroupId, &std::sync::Arc<dualpower_state::GroupState>) -> Result<Value, OpError>,
) -> Result<Value, OpError> {
    let g = group_in(store, group)?;
    let st = crate::ops::view(store, id, g, now)?.state;
    let v = answer(g, &st)?;
    labelled(store, id, g, now, v)
}

/// A member or former member (or anyone with a ledger account) named by `m`, if given.
fn account_arg(
    st: &dualpower_state::GroupState,
    m: Option<&str>,
) -> Result<Option<dualpower_core::PublicKey>, OpError> {
    m.map(|m| {
        crate::ops::member_among(
            m,
            st.members
                .keys()
                .chain(st.removed.keys())
                .chain(st.credit.balances.keys())
                .copied(),
        )
    })
    .transpose()
}

/// Answers `query` as `id` on `store` at time `now` (ms).
pub fn answer(store: &Store, id: &Identity, query: Query, now: u64) -> Result<Value, OpError> {
    match query {
        Query::Feed { group } => feed(store, id, group_in(store, &group)?, now, None),
        Query::FeedPage {
            group,
            page,
            per_page,
        } => feed(
            store,
            id,
            group_in(store, &group)?,
            now,
            Some((page, per_page.clamp(1, MAX_PER_PAGE))),
        ),
        Query::Members { group } => members(store, id, group_in(store, &group)?, now),
        Query::DirectMessages => direct_messages(store, id, now),
        Query::Proposals { group } => {
            let g = group_in(store, &group)?;
            // The shared state, not a copy of it (a group's state with a thousand proposals
            // takes milliseconds to copy).
            let v = crate::ops::view(store, id, g, now)?;
            let all = crate::ops::opened::proposals(store, id, g, &v);
            let st = v.state;
            let delegations: Vec<Value> = st
                .delegations
                .iter()
                .flat_map(|(k, m)| {
                    m.iter().map(move |(s, t)| {
                        json!({ "member": k.to_did(), "scope": scope_text(s), "target": target_text(t) })
                    })
                })
                .collect();
            labelled(
                store,
                id,
                g,
                now,
                json!({ "group": g.to_hex(), "proposals": all.as_ref(), "delegations": delegations }),
            )
        }
        Query::Proposal { group, proposal } => {
            let g = group_in(store, &group)?;
            let st = crate::ops::view(store, id, g, now)?.state;
            labelled(
                store,
                id,
                g,
                now,
                proposal_json(find_proposal(&st, &proposal)?),
            )
        }
        Query::Work { group } => with_state(store, id, &group, now, |g, st| {
            let rep = crate::ops::derived::reputation(store, g, st);
            Ok(crate::work::work_json(st, &rep))
        }),
        Query::Reputation { group, member } => with_state(store, id, &group, now, |g, st| {
            let member = account_arg(st, member.as_deref())?;
            let rep = crate::ops::derived::reputation(store, g, st);
            Ok(crate::work::reputation_json(st, &rep, member.as_ref()))
        }),
        Query::Board { group, filter } => with_state(store, id, &group, now, |_, st| {
            Ok(crate::ops::aid::board_json(st, &filter, None))
        }),
        Query::Ledger { group, member } => with_state(store, id, &group, now, |_, st| {
            let member = account_arg(st, member.as_deref())?;
            Ok(crate::ops::ledger::ledger_json(st, member.as_ref(), None))
        })
        .map(named_accounts),
        Query::Links { group } => with_state(store, id, &group, now, |_, st| {
            Ok(crate::ops::link::links_json(st, None))
        })
        .map(named_accounts),
        Query::LinkAudit { group, with } => {
            let a = crate::ops::view(store, id, group_in(store, &group)?, now)?.state;
            let b = crate::ops::view(store, id, group_in(store, &with)?, now)?.state;
            let mut findings = crate::ops::link::audit(&a, &b);
            findings.extend(crate::ops::link::audit(&b, &a));
            Ok(json!({
                "group": a.group.to_hex(),
                "with": b.group.to_hex(),
                "checked": a.credit.outgoing.len() + a.credit.incoming.len()
                    + b.credit.outgoing.len() + b.credit.incoming.len(),
                "findings": findings,
            }))
        }
        Query::Names { group } => {
            let g = group_in(store, &group)?;
            labelled(store, id, g, now, json!({ "group": g.to_hex() }))
        }
        Query::VerifyTally { group, proposal } => {
            let (v, _) = crate::ops::decisions::verify_tally(
                store,
                id,
                group_in(store, &group)?,
                &proposal,
                now,
            )?;
            Ok(v)
        }
    }
}

/// `v` with the labels of every key the group knows and every key `v` mentions added as
/// `"labels"`.
/// Labels the accounts that are not members (a linked group's clearing account, the commons)
/// by the names the answer's `"named"` map gives them.
fn named_accounts(mut v: Value) -> Value {
    let named: Vec<(String, Value)> = v["named"]
        .as_object()
        .map(|m| m.iter().map(|(k, n)| (k.clone(), n.clone())).collect())
        .unwrap_or_default();
    for (did, name) in named {
        v["labels"][did.as_str()] = json!({ "label": name });
    }
    v
}

fn labelled(
    store: &Store,
    id: &Identity,
    g: GroupId,
    now: u64,
    mut v: Value,
) -> Result<Value, OpError> {
    let labels = crate::ops::group_labels(store, id, g, now, mentioned_keys(&v))?;
    v["labels"] = labels_json(&labels);
    Ok(v)
}

/// Every direct message to or from us, `{"messages", "labels"}`: a key's display name is the one
/// it chose in the first group (by id) where our keys read one.
fn direct_messages(store: &Store, id: &Identity, now: u64) -> Result<Value, OpError> {
    let list = crate::ops::direct_messages(store, id, now)?;
    let messages = serde_json::to_value(list).map_err(|e| OpError::Invalid(e.to_string()))?;
    let mut display = BTreeMap::new();
    for g in store.synced_groups()? {
        for (k, n) in crate::ops::display_names(store, id, g, now)? {
            display.entry(k).or_insert(n);
        }
    }
    let keys = mentioned_keys(&messages);
    let labels = labels(keys, &display, &crate::ops::petnames(store, id)?);
    Ok(json!({ "messages": messages, "labels": labels_json(&labels) }))
}

/// The feed as JSON: every post, or with `paged` = (page, per page) that page of the newest
/// first (see [`Query::FeedPage`]).
fn feed(
    store: &Store,
    id: &Identity,
    g: GroupId,
    now: u64,
    paged: Option<(usize, usize)>,
) -> Result<Value, OpError> {
    let (feed, _, display) = crate::ops::content::feed_shared(store, id, g, now)?;
    let display = std::sync::Arc::unwrap_or_clone(display);
    let reactions = |r: &std::collections::BTreeMap<String, std::collections::BTreeSet<_>>| {
        r.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!(
                        v.iter()
                            .map(|p: &dualpower_core::PublicKey| p.to_did())
                            .collect::<Vec<_>>()
                    ),
                )
            })
            .collect::<serde_json::Map<_, _>>()
    };
    let total = feed.posts.len();
    // Posts are oldest first; page 0 is the newest `per` of them.
    let (shown, page) = match paged {
        None => (&feed.posts[..], None),
        Some((page, per)) => {
            let pages = total.div_ceil(per).max(1);
            let page = page.min(pages - 1);
            let end = total - (page * per).min(total);
            let start = end.saturating_sub(per);
            (&feed.posts[start..end], Some((page, per, pages)))
        }
    };
    let mut v = json!({
        "group": g.to_hex(),
        "name": feed.name,
        "state_hash": hex::encode(feed.state_hash()),
        "posts": shown.iter().map(|p| json!({
            "id": p.id.to_hex(), "author": p.author.to_did(), "timestamp": p.timestamp,
            "text": p.text, "reactions": reactions(&p.reactions),
            "comments": p.comments.iter().map(|c| json!({
                "id": c.id.to_hex(), "parent": c.parent.to_hex(), "author": c.author.to_did(),
                "timestamp": c.timestamp, "text": c.text, "reactions": reactions(&c.reactions),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    match page {
        None => {
            v["rejected"] = feed
                .rejected
                .iter()
                .map(|(id, r)| json!({"id": id.to_hex(), "reason": r.to_string()}))
                .collect();
        }
        Some((page, per, pages)) => {
            v["rejected_count"] = json!(feed.rejected.len());
            v["total"] = json!(total);
            v["page"] = json!(page);
            v["pages"] = json!(pages);
            v["per_page"] = json!(per);
        }
    }
    let labels = crate::ops::names::labelled(store, id, g, now, display, mentioned_keys(&v))?;
    v["labels"] = labels_json(&labels);
    Ok(v)
}

fn members(store: &Store, id: &Identity, g: GroupId, now: u64) -> Result<Value, OpError> {
    // Admissions and removals by vote are sealed decisions: open them with our keys.
    let st = crate::ops::view(store, id, g, now)?.state;
    // Reasons are sealed comments on the removals (only members read them).
    let reasons = crate::ops::removal_reasons(store, id, g, now)?;
    let reason = |k: &dualpower_core::PublicKey, r: &dualpower_state::Removal| {
        reasons.get(k).cloned().unwrap_or_else(|| r.reason.clone())
    };
    let c = &st.constitution;
    labelled(
        store,
        id,
        g,
        now,
        json!({
            "group": g.to_hex(),
            "name": st.name,
            "members": st.members.iter().map(|(k, m)| json!({
                "id": k.to_did(), "roles": m.roles, "prekey": m.prekey.is_some(),
            })).collect::<Vec<_>>(),
            "pending": st.pending.iter().map(|(k, p)| json!({
                "id": k.to_did(), "join": p.join.to_hex(), "vouches": p.vouches.len(),
            })).collect::<Vec<_>>(),
            "removed": st.removed.iter().map(|(k, r)| json!({
                "id": k.to_did(), "by": r.by.to_did(), "cut": r.cut, "reason": reason(k, r),
            })).collect::<Vec<_>>(),
            "constitution": {
                "invite": c.invite.to_text(), "admission": c.admission.to_text(),
                "removal": c.removal.to_text(), "amend": c.amend.to_text(), "roles": c.roles,
                "history": c.history, "forget_after_days": c.forget_after_days,
                "anonymous_only": c.anonymous,
                "work": crate::work::rules_json(&c.work),
                "credit": {
                    "unit": c.credit.unit,
                    "default_limit": dualpower_core::ledger::amount_text(i128::from(c.credit.default_limit)),
                    "limits": c.credit.limits.to_text(),
                    // Percent per 30 days, as `--demurrage` takes it (basis points / 100).
                    "demurrage": dualpower_core::ledger::amount_text(i128::from(c.credit.demurrage)),
                },
            },
            "epoch": st.writing_epoch().map(|e| e.to_hex()),
            // Who might carry others' weight well: the most trusted for their work (all
            // domains). A suggestion only: reputation never weighs a vote.
            "suggested_delegates": crate::work::suggest(
                &st,
                &crate::ops::derived::reputation(store, g, &st),
                None,
                &|k| *k == id.public(),
            ),
            "forked": st.forked.iter().map(|(k, seq)| json!({ "id": k.to_did(), "seq": seq })).collect::<Vec<_>>(),
            "rejected": st.rejected.iter().map(|(id, r)| json!({ "id": id.to_hex(), "reason": r.to_string() })).collect::<Vec<_>>(),
        }),
    )
}

/// What an import did, as JSON: the same for an import on the store and one through the node.
pub fn import_json(report: &ImportReport) -> Value {
    json!({
        "read": report.read, "stored": report.stored, "duplicates": report.duplicates,
        "quarantined": report.quarantined, "forks": report.forks, "damaged": report.damaged,
        "rejected": report.rejected.iter().map(|r| json!({"index": r.index, "id": r.id.map(|i| i.to_hex()), "reason": r.reason})).collect::<Vec<_>>(),
    })
}
