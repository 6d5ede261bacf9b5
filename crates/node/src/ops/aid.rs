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
}

fn find(st: &GroupState, key: &str) -> Result<EventId, OpError> {
    by_prefix(
        key,
        "offer, need or commitment",
        "dualpower board",
        st.aid
            .intents
            .keys()
            .chain(st.aid.commitments.keys())
            .map(|i| (*i, *i)),
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
        | Op::AidCancel { group, .. } => group_arg(group)?,
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
            if let Some(p) = st.aid.intents.get(&id) {
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
fn open(p: &Posted, now: u64) -> bool {
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

/// The board: open offers and needs (filtered), each need with the offers that could meet it,
/// best first, and every commitment in progress.
pub fn board_json(st: &GroupState, f: &BoardFilter, event: Option<&EventId>) -> Value {
    let now = st.work.now;
    let a = &st.aid;
    let open_ones: Vec<(&EventId, &Posted)> =
        a.intents.iter().filter(|(_, p)| open(p, now)).collect();
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
    json!({
        "group": st.group.to_hex(),
        "name": st.name,
        "now": now,
        "event": event.map(|e| e.to_hex()),
        "intents": open_ones.iter().filter(|(_, p)| f.keeps(p)).map(|(id, p)| intent_json(id, p)).collect::<Vec<_>>(),
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
