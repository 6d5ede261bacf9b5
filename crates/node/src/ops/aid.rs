//! Mutual-aid operations: post an offer or a need, commit to one, fulfil, confirm, cancel; and
//! the board with matching suggestions (the read side).
//!
//! Each checks first, against the derived state, what every node will check, so nothing is
//! written for a mistake; then writes sealed like a decision. The judge is `dualpower-state`'s
//! `aid` domain.

use std::collections::HashMap;

use dualpower_core::aid::{AidAct, Category, Intent, MAX_QUANTITY};
use dualpower_core::{EventId, Payload};
use dualpower_state::GroupState;
use dualpower_state::aid::Posted;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::keys::{view, write_decision};
use super::write::{Cx, OpError, by_prefix, group_arg, invalid, require_member};
use super::{Op, Outcome};

const DAY_MS: u64 = 86_400_000;

/// An offer or need as a person describes it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IntentArgs {
    /// food, housing, energy, transport, tools, skills, care or other.
    pub category: String,
    /// In words.
    pub text: String,
    /// How much (default 1).
    #[serde(default)]
    pub quantity: Option<u64>,
    /// Of what (`kg`, `rides`).
    #[serde(default)]
    pub unit: String,
    /// A place name or area (never coordinates).
    #[serde(default)]
    pub place: String,
    /// Available (and open for commitments) for this many days from now (default 14).
    #[serde(default)]
    pub days: Option<u64>,
    /// Shown to the groups the ledger is linked to.
    #[serde(default)]
    pub linked: bool,
}

fn find(st: &GroupState, key: &str) -> Result<EventId, OpError> {
    by_prefix(
        key,
        "offer, need, commitment or booking",
        "dualpower board",
        st.aid
            .intents
            .keys()
            .chain(st.aid.commitments.keys())
            .chain(st.aid.bookings.keys())
            .map(|i| (*i, *i)),
    )
}

fn find_resource(st: &GroupState, key: &str) -> Result<EventId, OpError> {
    by_prefix(
        key,
        "resource",
        "dualpower resource list",
        st.aid.resources.keys().map(|i| (*i, *i)),
    )
}

/// Carries out a mutual-aid operation (the caller routes only those here).
pub(crate) fn apply(cx: Cx<'_>, op: Op) -> Result<Outcome, OpError> {
    let me = cx.me();
    let group = match &op {
        Op::AidIntent { group, .. }
        | Op::Commit { group, .. }
        | Op::Fulfil { group, .. }
        | Op::AidConfirm { group, .. }
        | Op::AidCancel { group, .. }
        | Op::ResourceAdd { group, .. }
        | Op::ResourceNote { group, .. }
        | Op::ResourceCustodian { group, .. }
        | Op::Book { group, .. } => group_arg(group)?,
        other => return Err(invalid(format!("not a mutual-aid operation: {other:?}"))),
    };
    let st = view(cx.store, cx.id, group, cx.now)?.state;
    require_member(&st, &me)?;
    let act = match op {
        Op::AidIntent { need, intent, .. } => {
            let category = Category::parse(&intent.category).map_err(|e| invalid(e.to_string()))?;
            let quantity = intent.quantity.unwrap_or(1);
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                return Err(invalid(format!("a quantity is 1 to {MAX_QUANTITY}")));
            }
            if intent.text.trim().is_empty() {
                return Err(invalid("say what is offered or needed"));
            }
            let days = intent.days.unwrap_or(14).clamp(1, 3650);
            let until = cx.now.saturating_add(days.saturating_mul(DAY_MS));
            AidAct::Intent(Intent {
                need,
                category,
                text: intent.text.trim().to_owned(),
                quantity,
                unit: intent.unit.trim().to_owned(),
                place: intent.place.trim().to_owned(),
                from: 0,
                until,
                expires: until,
                linked: intent.linked,
            })
        }
        Op::Commit {
            intent, quantity, ..
        } => {
            let id = find(&st, &intent)?;
            let p = st
                .aid
                .intents
                .get(&id)
                .ok_or_else(|| invalid("that is a commitment: commit to an offer or a need"))?;
            if p.cancelled {
                return Err(invalid("it was cancelled"));
            }
            if p.author == me {
                return Err(invalid("you cannot commit to your own offer or need"));
            }
            if p.intent.expires > 0 && cx.now >= p.intent.expires {
                return Err(invalid("it has expired"));
            }
            let q = quantity.unwrap_or_else(|| p.left());
            if q == 0 || q > p.left() {
                return Err(invalid(format!(
                    "only {} of {} is left",
                    p.left(),
                    p.intent.quantity
                )));
            }
            AidAct::Commit {
                intent: id,
                quantity: q,
            }
        }
        Op::Fulfil {
            commitment, note, ..
        } => {
            let id = find(&st, &commitment)?;
            let c = st
                .aid
                .commitments
                .get(&id)
                .ok_or_else(|| invalid("fulfil a commitment, not an offer or need"))?;
            if c.provider != me {
                return Err(invalid("only the provider fulfils it"));
            }
            if c.cancelled.is_some() || c.fulfilled.is_some() {
                return Err(invalid("it is cancelled or fulfilled already"));
            }
            AidAct::Fulfil {
                commitment: id,
                note: note.trim().to_owned(),
            }
        }
        Op::AidConfirm { commitment, .. } => {
            let id = find(&st, &commitment)?;
            let c = st
                .aid
                .commitments
                .get(&id)
                .ok_or_else(|| invalid("confirm a commitment, not an offer or need"))?;
            if c.receiver != me {
                return Err(invalid("only the receiver confirms it"));
            }
            if c.fulfilled.is_none() {
                return Err(invalid("it is not fulfilled yet"));
            }
            if c.confirmed.is_some() {
                return Err(invalid("you confirmed it already"));
            }
            AidAct::Confirm { commitment: id }
        }
        Op::AidCancel { target, .. } => {
            let id = find(&st, &target)?;
            if let Some(b) = st.aid.bookings.get(&id) {
                let custodian = st
                    .aid
                    .resources
                    .get(&b.resource)
                    .is_some_and(|r| r.custodians.contains(&me));
                if b.author != me && !custodian {
                    return Err(invalid("only its booker or a custodian cancels a booking"));
                }
                if b.cancelled.is_some() {
                    return Err(invalid("it is cancelled already"));
                }
            } else if let Some(p) = st.aid.intents.get(&id) {
                if p.author != me {
                    return Err(invalid("only its author cancels an offer or need"));
                }
                if p.cancelled {
                    return Err(invalid("it is cancelled already"));
                }
            } else if let Some(c) = st.aid.commitments.get(&id) {
                if c.provider != me && c.receiver != me {
                    return Err(invalid("only a party cancels a commitment"));
                }
                if c.fulfilled.is_some() || c.cancelled.is_some() {
                    return Err(invalid("it is fulfilled or cancelled already"));
                }
            }
            AidAct::Cancel { target: id }
        }
        Op::ResourceAdd {
            name,
            category,
            place,
            ..
        } => {
            if name.trim().is_empty() {
                return Err(invalid("give the resource a name"));
            }
            AidAct::Resource {
                name: name.trim().to_owned(),
                category: Category::parse(&category).map_err(|e| invalid(e.to_string()))?,
                place: place.trim().to_owned(),
            }
        }
        Op::ResourceNote { resource, note, .. } => AidAct::Condition {
            resource: find_resource(&st, &resource)?,
            note: note.trim().to_owned(),
        },
        Op::ResourceCustodian {
            resource,
            member,
            add,
            ..
        } => {
            let id = find_resource(&st, &resource)?;
            let r = &st.aid.resources[&id];
            if !r.custodians.contains(&me) {
                return Err(OpError::Denied(
                    "only a custodian changes who looks after it".into(),
                ));
            }
            let member = super::write::member_among(&member, super::write::known_keys(&st))?;
            if add && !st.is_member(&member) {
                return Err(invalid(format!("{} is not a member", member.to_did())));
            }
            if !add && r.custodians.len() == 1 && r.custodians.contains(&member) {
                return Err(invalid("a resource keeps at least one custodian"));
            }
            AidAct::Custodian {
                resource: id,
                member,
                add,
            }
        }
        Op::Book {
            resource,
            from,
            hours,
            note,
            ..
        } => {
            let id = find_resource(&st, &resource)?;
            let from = crate::clock::parse_utc(&from).ok_or_else(|| {
                invalid(format!(
                    "`{from}` is not a time like 2026-12-06 10:00 (UTC)"
                ))
            })?;
            if !(1..=2160).contains(&hours) {
                return Err(invalid("a booking is 1 to 2160 hours (90 days)"));
            }
            let until = from.saturating_add(hours * 3_600_000);
            if let Some((bid, b)) = st.aid.bookings.iter().find(|(_, b)| {
                b.resource == id
                    && b.cancelled.is_none()
                    && b.lost_to.is_none()
                    && b.from < until
                    && from < b.until
            }) {
                return Err(invalid(format!(
                    "it is booked from {} to {} by {} (booking {})",
                    crate::clock::utc_text(b.from),
                    crate::clock::utc_text(b.until),
                    b.author.to_did(),
                    &bid.to_hex()[..12]
                )));
            }
            AidAct::Book {
                resource: id,
                from,
                until,
                note: note.trim().to_owned(),
            }
        }
        _ => unreachable!("checked above"),
    };
    let (ev, st) = write_decision(cx, group, Payload::Aid(act), vec![])?;
    Ok(Outcome {
        value: board_json(&st, &BoardFilter::default(), Some(&ev.id())),
        events: vec![ev],
    })
}

/// What the board shows.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BoardFilter {
    /// Only this category.
    #[serde(default)]
    pub category: Option<String>,
    /// Only offers (`offers`) or needs (`needs`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Only where the place contains this (case-insensitive).
    #[serde(default)]
    pub place: Option<String>,
}

impl BoardFilter {
    fn keeps(&self, p: &Posted) -> bool {
        self.category
            .as_deref()
            .is_none_or(|c| p.intent.category.word() == c)
            && self.kind.as_deref().is_none_or(|k| match k {
                "needs" | "need" => p.intent.need,
                "offers" | "offer" => !p.intent.need,
                _ => true,
            })
            && self.place.as_deref().is_none_or(|x| {
                p.intent
                    .place
                    .to_lowercase()
                    .contains(&x.trim().to_lowercase())
            })
    }
}

/// Whether an open intent is still on the board at group time `now`.
pub(crate) fn is_open(p: &Posted, now: u64) -> bool {
    !p.cancelled && p.left() > 0 && (p.intent.expires == 0 || now < p.intent.expires)
}

/// How well offer `o` meets need `n` (0 = not at all): same category, windows that overlap,
/// the same place (or one unnamed); then the more of the need it covers, the better.
pub fn match_score(n: &Posted, o: &Posted) -> u64 {
    let (a, b) = (&n.intent, &o.intent);
    if a.category != b.category || n.author == o.author {
        return 0;
    }
    let end = |x: &Intent| if x.until == 0 { u64::MAX } else { x.until };
    if a.from.max(b.from) > end(a).min(end(b)) {
        return 0;
    }
    let place = |x: &str| x.trim().to_lowercase();
    if !a.place.is_empty() && !b.place.is_empty() && place(&a.place) != place(&b.place) {
        return 0;
    }
    let covered = o.left().min(n.left());
    1 + covered * 1000 / n.left().max(1)
}

/// Linked groups' shared offers and needs still open (as their bridges last showed them),
/// filtered like the board.
fn linked_json(st: &GroupState, f: &BoardFilter, now: u64) -> Vec<Value> {
    st.aid
        .mirrored
        .iter()
        .filter(|(_, m)| m.open > 0 && (m.intent.expires == 0 || now < m.intent.expires))
        .filter(|(_, m)| {
            let p = Posted {
                author: m.author,
                intent: m.intent.clone(),
                at: m.at,
                cancelled: false,
                committed: m.intent.quantity - m.open,
            };
            f.keeps(&p)
        })
        .map(|((_, origin), m)| {
            json!({
                "origin": origin.to_hex(),
                "group": m.group.to_hex(),
                "group_name": st.credit.links.get(&m.group).map(|l| l.terms.name.clone()),
                "kind": if m.intent.need { "need" } else { "offer" },
                "author": m.author.to_did(),
                "category": m.intent.category.word(),
                "text": m.intent.text,
                "left": m.open,
                "unit": m.intent.unit,
                "place": m.intent.place,
                "expires": m.intent.expires,
                "bridge": m.bridge.to_did(),
            })
        })
        .collect()
}

/// The board: open offers and needs (filtered), each need with the offers that could meet it,
/// best first, and every commitment in progress.
pub fn board_json(st: &GroupState, f: &BoardFilter, event: Option<&EventId>) -> Value {
    let now = st.work.now;
    let a = &st.aid;
    let open_ones: Vec<(&EventId, &Posted)> =
        a.intents.iter().filter(|(_, p)| is_open(p, now)).collect();
    // Offers by category and place, so a need looks only at offers that could match it: those
    // at its place and those with no place (all of the category if the need names none).
    let place = |x: &str| x.trim().to_lowercase();
    let mut offers: HashMap<(Category, String), Vec<(&EventId, &Posted)>> = HashMap::new();
    for (id, o) in open_ones.iter().filter(|(_, o)| !o.intent.need) {
        offers
            .entry((o.intent.category, place(&o.intent.place)))
            .or_default()
            .push((id, o));
    }
    let candidates = |n: &Posted| -> Vec<(&EventId, &Posted)> {
        let c = n.intent.category;
        let here = place(&n.intent.place);
        if here.is_empty() {
            offers
                .iter()
                .filter(|((k, _), _)| *k == c)
                .flat_map(|(_, v)| v.iter().copied())
                .collect()
        } else {
            [here, String::new()]
                .iter()
                .filter_map(|p| offers.get(&(c, p.clone())))
                .flatten()
                .copied()
                .collect()
        }
    };
    let intent_json = |id: &EventId, p: &Posted| {
        let mut v = json!({
            "id": id.to_hex(),
            "kind": if p.intent.need { "need" } else { "offer" },
            "author": p.author.to_did(),
            "category": p.intent.category.word(),
            "text": p.intent.text,
            "quantity": p.intent.quantity,
            "left": p.left(),
            "unit": p.intent.unit,
            "place": p.intent.place,
            "until": p.intent.until,
            "expires": p.intent.expires,
            "at": p.at,
        });
        if p.intent.need {
            let mut m: Vec<(u64, &EventId)> = candidates(p)
                .into_iter()
                .map(|(oid, o)| (match_score(p, o), oid))
                .filter(|(s, _)| *s > 0)
                .collect();
            m.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(y.1)));
            v["matches"] = json!(
                m.iter()
                    .take(5)
                    .map(|(_, o)| o.to_hex())
                    .collect::<Vec<_>>()
            );
        }
        v
    };
    let resources: Vec<Value> = a
        .resources
        .iter()
        .map(|(id, r)| {
            json!({
                "id": id.to_hex(),
                "name": r.name,
                "category": r.category.word(),
                "place": r.place,
                "custodians": r.custodians.iter().map(|k| k.to_did()).collect::<Vec<_>>(),
                "notes": r.notes.iter().rev().take(5).map(|(_, k, n, at)| json!({
                    "by": k.to_did(), "note": n, "at": at,
                })).collect::<Vec<_>>(),
                "bookings": a.bookings.iter()
                    .filter(|(_, b)| b.resource == *id && b.cancelled.is_none() && b.until > now)
                    .map(|(bid, b)| json!({
                        "id": bid.to_hex(), "by": b.author.to_did(), "from": b.from,
                        "until": b.until, "note": b.note,
                        "lost_to": b.lost_to.map(|l| l.to_hex()),
                    })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "group": st.group.to_hex(),
        "name": st.name,
        "now": now,
        "event": event.map(|e| e.to_hex()),
        "resources": resources,
        "intents": open_ones.iter().filter(|(_, p)| f.keeps(p)).map(|(id, p)| intent_json(id, p)).collect::<Vec<_>>(),
        "linked": linked_json(st, f, now),
        "commitments": a.commitments.iter().filter(|(_, c)| c.cancelled.is_none()).map(|(id, c)| json!({
            "id": id.to_hex(),
            "intent": c.intent.to_hex(),
            "what": a.intents.get(&c.intent).map(|p| p.intent.text.clone()),
            "provider": c.provider.to_did(),
            "receiver": c.receiver.to_did(),
            "quantity": c.quantity,
            "fulfilled": c.fulfilled.as_ref().map(|(_, n)| n),
            "confirmed": c.confirmed.is_some(),
        })).collect::<Vec<_>>(),
    })
}
