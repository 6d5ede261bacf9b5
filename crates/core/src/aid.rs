//! The wire types of mutual aid (issue 15), in the Valueflows vocabulary: **intents** (offers and
//! needs), **commitments** to fulfil (part of) one, the **fulfilment** (an economic event by the
//! provider) and its **confirmation** by the receiver, which becomes a receipt for reputation.
//! Events are never edited: a cancellation is an event too.
//!
//! One payload kind ([`crate::Payload::Aid`]) carries an [`AidAct`]. Quantities are whole numbers
//! in the intent's own unit (`3` kg, `2` rides, `1` evening).

use crate::cbor::{Reader, Writer};
use crate::event::EventId;
use crate::payload::PayloadError;

/// Longest description or note, in bytes.
pub const MAX_AID_TEXT_BYTES: usize = 2000;
/// Longest unit or place, in bytes.
pub const MAX_PLACE_BYTES: usize = 100;
/// The largest quantity an intent or commitment may name.
pub const MAX_QUANTITY: u64 = 1_000_000;

/// What an intent is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Food.
    Food,
    /// Housing.
    Housing,
    /// Energy.
    Energy,
    /// Transport.
    Transport,
    /// Tools.
    Tools,
    /// Skills.
    Skills,
    /// Care.
    Care,
    /// Anything else.
    Other,
}

impl Category {
    /// Every category, in order.
    pub const ALL: [Category; 8] = [
        Category::Food,
        Category::Housing,
        Category::Energy,
        Category::Transport,
        Category::Tools,
        Category::Skills,
        Category::Care,
        Category::Other,
    ];

    /// The word for it.
    pub fn word(self) -> &'static str {
        match self {
            Category::Food => "food",
            Category::Housing => "housing",
            Category::Energy => "energy",
            Category::Transport => "transport",
            Category::Tools => "tools",
            Category::Skills => "skills",
            Category::Care => "care",
            Category::Other => "other",
        }
    }

    /// Parses [`Category::word`].
    pub fn parse(s: &str) -> Result<Category, PayloadError> {
        Category::ALL
            .into_iter()
            .find(|c| c.word() == s.trim())
            .ok_or_else(|| {
                PayloadError::Invalid(format!(
                    "`{s}` is not a category: food, housing, energy, transport, tools, skills, care or other"
                ))
            })
    }

    /// The reputation domain a fulfilled commitment counts in.
    pub fn domain(self) -> &'static str {
        match self {
            Category::Care => "care",
            Category::Skills => "tech",
            _ => "logistics",
        }
    }

    fn tag(self) -> u64 {
        Category::ALL.iter().position(|c| *c == self).unwrap_or(7) as u64
    }
}

/// An offer or a need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    /// A need (true) or an offer.
    pub need: bool,
    /// What it is about.
    pub category: Category,
    /// In words.
    pub text: String,
    /// How much (1 to [`MAX_QUANTITY`]).
    pub quantity: u64,
    /// Of what (`kg`, `rides`; may be empty).
    pub unit: String,
    /// A place name or area, never coordinates by default (may be empty).
    pub place: String,
    /// Available from (ms; 0 = now).
    pub from: u64,
    /// Available until (ms; 0 = open-ended).
    pub until: u64,
    /// When it expires (ms; after this nobody may commit to it).
    pub expires: u64,
    /// Shown to the groups this group's ledger is linked to (a bridge copies it there as a
    /// [`AidAct::Mirror`]).
    pub linked: bool,
}

/// An act of mutual aid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AidAct {
    /// Posts an offer or a need.
    Intent(Intent),
    /// The author pledges to fulfil (part of) a need or to take (part of) an offer.
    Commit {
        /// The intent.
        intent: EventId,
        /// How much of it.
        quantity: u64,
    },
    /// The provider says the commitment is fulfilled (an economic event).
    Fulfil {
        /// The commitment.
        commitment: EventId,
        /// What was done.
        note: String,
    },
    /// The receiver confirms the fulfilment: a receipt for the provider's reputation.
    Confirm {
        /// The commitment.
        commitment: EventId,
    },
    /// Cancels an intent (its author), a commitment (either party, before fulfilment) or a
    /// booking (its author or a custodian).
    Cancel {
        /// The intent, commitment or booking.
        target: EventId,
    },
    /// Adds a thing the group holds in common (a tool, a room, a vehicle, land); the author is
    /// its first custodian.
    Resource {
        /// Its name.
        name: String,
        /// What kind of thing.
        category: Category,
        /// Where it is (a place name).
        place: String,
    },
    /// A note on a resource's condition (any member).
    Condition {
        /// The resource.
        resource: EventId,
        /// The note.
        note: String,
    },
    /// A custodian adds or removes a custodian.
    Custodian {
        /// The resource.
        resource: EventId,
        /// The member.
        member: crate::keys::PublicKey,
        /// Add (true) or remove.
        add: bool,
    },
    /// Books a resource for a time span.
    Book {
        /// The resource.
        resource: EventId,
        /// From (ms).
        from: u64,
        /// Until (ms, after `from`, at most [`MAX_BOOKING_MS`] later).
        until: u64,
        /// What for.
        note: String,
    },
    /// A bridge of the ledger link to `group` shows that group's shared intent `origin` here;
    /// a later mirror of the same origin replaces it (`open` 0: withdrawn).
    Mirror {
        /// The linked group.
        group: crate::event::GroupId,
        /// The intent's event in that group's log.
        origin: EventId,
        /// Its author, there.
        author: crate::keys::PublicKey,
        /// The intent.
        intent: Intent,
        /// How much of it is still open (0: closed, expired or cancelled there).
        open: u64,
    },
}

/// The longest booking: 90 days.
pub const MAX_BOOKING_MS: u64 = 90 * 86_400_000;

fn bad(s: impl Into<String>) -> PayloadError {
    PayloadError::Invalid(s.into())
}

fn id(r: &mut Reader<'_>, what: &'static str) -> Result<EventId, PayloadError> {
    Ok(EventId(r.bytes_n::<32>(what)?))
}

fn quantity(r: &mut Reader<'_>) -> Result<u64, PayloadError> {
    let q = r.uint()?;
    if !(1..=MAX_QUANTITY).contains(&q) {
        return Err(bad(format!("a quantity is 1 to {MAX_QUANTITY}, not {q}")));
    }
    Ok(q)
}

impl Intent {
    /// Its nine fields (ten when shared with linked groups), after whatever tag precedes them.
    fn encode_fields(&self, w: &mut Writer) {
        w.bool(self.need)
            .uint(self.category.tag())
            .text(&self.text)
            .uint(self.quantity)
            .text(&self.unit)
            .text(&self.place)
            .uint(self.from)
            .uint(self.until)
            .uint(self.expires);
        if self.linked {
            w.bool(true);
        }
    }

    fn decode_fields(r: &mut Reader<'_>, linked: bool) -> Result<Intent, PayloadError> {
        let need = r.bool()?;
        let category = *Category::ALL
            .get(r.uint()? as usize)
            .ok_or_else(|| bad("unknown category"))?;
        let text = r.text("text", MAX_AID_TEXT_BYTES)?.to_owned();
        if text.trim().is_empty() {
            return Err(PayloadError::Empty("text"));
        }
        let quantity = quantity(r)?;
        let unit = r.text("unit", MAX_PLACE_BYTES)?.to_owned();
        let place = r.text("place", MAX_PLACE_BYTES)?.to_owned();
        let (from, until, expires) = (r.uint()?, r.uint()?, r.uint()?);
        if until != 0 && until < from {
            return Err(bad("an intent's window ends before it starts"));
        }
        // Only `true` is written: a `false` would give one intent two encodings.
        if linked && !r.bool()? {
            return Err(bad("an intent's shared flag is written only when set"));
        }
        Ok(Intent {
            need,
            category,
            text,
            quantity,
            unit,
            place,
            from,
            until,
            expires,
            linked,
        })
    }
}

impl AidAct {
    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            AidAct::Intent(i) => {
                w.array(if i.linked { 11 } else { 10 }).uint(0);
                i.encode_fields(w);
            }
            AidAct::Mirror {
                group,
                origin,
                author,
                intent,
                open,
            } => {
                w.array(6)
                    .uint(9)
                    .bytes(&group.0)
                    .bytes(&origin.0)
                    .bytes(&author.0)
                    .uint(*open)
                    .array(if intent.linked { 10 } else { 9 });
                intent.encode_fields(w);
            }
            AidAct::Commit { intent, quantity } => {
                w.array(3).uint(1).bytes(&intent.0).uint(*quantity);
            }
            AidAct::Fulfil { commitment, note } => {
                w.array(3).uint(2).bytes(&commitment.0).text(note);
            }
            AidAct::Confirm { commitment } => {
                w.array(2).uint(3).bytes(&commitment.0);
            }
            AidAct::Cancel { target } => {
                w.array(2).uint(4).bytes(&target.0);
            }
            AidAct::Resource {
                name,
                category,
                place,
            } => {
                w.array(4)
                    .uint(5)
                    .text(name)
                    .uint(category.tag())
                    .text(place);
            }
            AidAct::Condition { resource, note } => {
                w.array(3).uint(6).bytes(&resource.0).text(note);
            }
            AidAct::Custodian {
                resource,
                member,
                add,
            } => {
                w.array(4)
                    .uint(7)
                    .bytes(&resource.0)
                    .bytes(&member.0)
                    .bool(*add);
            }
            AidAct::Book {
                resource,
                from,
                until,
                note,
            } => {
                w.array(5)
                    .uint(8)
                    .bytes(&resource.0)
                    .uint(*from)
                    .uint(*until)
                    .text(note);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<AidAct, PayloadError> {
        let n = r.array("aid act", 11)?;
        if n == 0 {
            return Err(bad("empty aid act"));
        }
        let act = match (r.uint()?, n) {
            (0, 10 | 11) => AidAct::Intent(Intent::decode_fields(r, n == 11)?),
            (9, 6) => {
                let group = crate::event::GroupId(r.bytes_n::<32>("group")?);
                let origin = id(r, "origin")?;
                let author = crate::keys::PublicKey(r.bytes_n::<32>("author")?);
                let open = r.uint()?;
                let k = r.array("intent", 10)?;
                if !(9..=10).contains(&k) {
                    return Err(bad("a mirrored intent has 9 or 10 items"));
                }
                let intent = Intent::decode_fields(r, k == 10)?;
                r.leave();
                if open > intent.quantity {
                    return Err(bad("more is open than the intent's quantity"));
                }
                AidAct::Mirror {
                    group,
                    origin,
                    author,
                    intent,
                    open,
                }
            }
            (1, 3) => AidAct::Commit {
                intent: id(r, "intent")?,
                quantity: quantity(r)?,
            },
            (2, 3) => AidAct::Fulfil {
                commitment: id(r, "commitment")?,
                note: r.text("note", MAX_AID_TEXT_BYTES)?.to_owned(),
            },
            (3, 2) => AidAct::Confirm {
                commitment: id(r, "commitment")?,
            },
            (4, 2) => AidAct::Cancel {
                target: id(r, "target")?,
            },
            (5, 4) => {
                let name = r.text("name", MAX_PLACE_BYTES)?.to_owned();
                if name.trim().is_empty() {
                    return Err(PayloadError::Empty("name"));
                }
                let category = *Category::ALL
                    .get(r.uint()? as usize)
                    .ok_or_else(|| bad("unknown category"))?;
                AidAct::Resource {
                    name,
                    category,
                    place: r.text("place", MAX_PLACE_BYTES)?.to_owned(),
                }
            }
            (6, 3) => AidAct::Condition {
                resource: id(r, "resource")?,
                note: r.text("note", MAX_AID_TEXT_BYTES)?.to_owned(),
            },
            (7, 4) => AidAct::Custodian {
                resource: id(r, "resource")?,
                member: crate::keys::PublicKey(r.bytes_n::<32>("member")?),
                add: r.bool()?,
            },
            (8, 5) => {
                let resource = id(r, "resource")?;
                let (from, until) = (r.uint()?, r.uint()?);
                if until <= from || until - from > MAX_BOOKING_MS {
                    return Err(bad("a booking ends after it starts, at most 90 days later"));
                }
                AidAct::Book {
                    resource,
                    from,
                    until,
                    note: r.text("note", MAX_AID_TEXT_BYTES)?.to_owned(),
                }
            }
            (t, n) => return Err(bad(format!("aid tag {t} with {n} items is not known"))),
        };
        r.leave();
        Ok(act)
    }

    /// A short name, for logs and refusals.
    pub fn name(&self) -> &'static str {
        match self {
            AidAct::Intent(i) if i.need => "need",
            AidAct::Intent(_) => "offer",
            AidAct::Commit { .. } => "commit",
            AidAct::Fulfil { .. } => "fulfil",
            AidAct::Confirm { .. } => "confirm",
            AidAct::Cancel { .. } => "cancel",
            AidAct::Resource { .. } => "resource",
            AidAct::Condition { .. } => "condition",
            AidAct::Custodian { .. } => "custodian",
            AidAct::Book { .. } => "book",
            AidAct::Mirror { .. } => "mirror",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Payload;

    fn intent() -> Intent {
        Intent {
            need: true,
            category: Category::Food,
            text: "Bread for the Friday kitchen".into(),
            quantity: 10,
            unit: "loaves".into(),
            place: "Elm Street".into(),
            from: 0,
            until: 0,
            expires: 5_000,
            linked: false,
        }
    }

    #[test]
    fn aid_acts_round_trip_and_bad_ones_are_refused() {
        for a in [
            AidAct::Intent(intent()),
            AidAct::Commit {
                intent: EventId([1; 32]),
                quantity: 3,
            },
            AidAct::Fulfil {
                commitment: EventId([2; 32]),
                note: "delivered".into(),
            },
            AidAct::Confirm {
                commitment: EventId([2; 32]),
            },
            AidAct::Cancel {
                target: EventId([3; 32]),
            },
            AidAct::Intent(Intent {
                linked: true,
                ..intent()
            }),
            AidAct::Mirror {
                group: crate::event::GroupId([4; 32]),
                origin: EventId([5; 32]),
                author: crate::keys::PublicKey([6; 32]),
                intent: Intent {
                    linked: true,
                    ..intent()
                },
                open: 4,
            },
        ] {
            let p = Payload::Aid(a);
            assert_eq!(Payload::decode(&p.encode()), Ok(p));
        }
        let mut zero = intent();
        zero.quantity = 0;
        assert!(Payload::decode(&Payload::Aid(AidAct::Intent(zero)).encode()).is_err());
        let mut blank = intent();
        blank.text = " ".into();
        assert!(Payload::decode(&Payload::Aid(AidAct::Intent(blank)).encode()).is_err());
        let mut window = intent();
        window.from = 10;
        window.until = 5;
        assert!(Payload::decode(&Payload::Aid(AidAct::Intent(window)).encode()).is_err());
        let over = AidAct::Mirror {
            group: crate::event::GroupId([4; 32]),
            origin: EventId([5; 32]),
            author: crate::keys::PublicKey([6; 32]),
            intent: intent(),
            open: 11,
        };
        assert!(Payload::decode(&Payload::Aid(over).encode()).is_err());
        // A written `false` shared flag is a second encoding of the same intent.
        let mut bytes = Payload::Aid(AidAct::Intent(intent())).encode();
        let plain = bytes.clone();
        let at = bytes.iter().position(|b| *b == 0x8a).expect("array of 10");
        bytes[at] = 0x8b;
        bytes.push(0xf4);
        assert!(Payload::decode(&bytes).is_err(), "{plain:?}");
        assert_eq!(Category::parse("care"), Ok(Category::Care));
        assert!(Category::parse("gps").is_err());
    }
}
