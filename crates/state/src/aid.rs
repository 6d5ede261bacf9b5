//! The aid domain: offers and needs, commitments, fulfilments and their confirmation (issue 15).
//!
//! It exists so a mutual-aid network's board is a pure function of its signed events like
//! everything else, and so a fulfilled commitment becomes a receipt for reputation that the
//! receiver co-signed. Rules, each tested in `tests/aid.rs`:
//!
//! - A commitment names an intent in its past that is not cancelled, by someone other than the
//!   intent's author, before the intent expires (by the committer's own clock: a backdated
//!   commitment binds only the committer), for at most what is left of it.
//! - The provider (the committer for a need, the intent's author for an offer) fulfils; the
//!   receiver (the other one) confirms a fulfilment in its past, once: that confirmation is the
//!   receipt (receiver → provider), in the domain of the intent's category.
//! - An intent is cancelled by its author; a commitment by either party, before it is fulfilled.
//!   A cancellation frees what the commitment held.
//! - An intent marked `linked` is shown to the groups the ledger is linked to: a bridge of the
//!   link to a group (see the credit domain) copies that group's shared intents here as
//!   mirrors; a later mirror of the same origin replaces the earlier one. Mirrors are for
//!   reading: a member answers one by paying across or by talking to its author.

use std::collections::{BTreeMap, HashMap};

use dualpower_core::aid::{AidAct, Intent};
use dualpower_core::{EventId, Payload, PublicKey};

use crate::authority::{Act, Cx};
use crate::domain::{Domain, Effect};
use crate::refusal::Refusal;
use crate::work::Receipt;

/// Whether the aid domain judges `p`.
pub fn owns(p: &Payload) -> bool {
    matches!(p, Payload::Aid(_))
}

fn no(act: &'static str, why: impl Into<String>) -> Refusal {
    Refusal::Aid {
        act,
        why: why.into(),
    }
}

/// An offer or need as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Who posted it.
    pub author: PublicKey,
    /// What it says.
    pub intent: Intent,
    /// Claimed time (ms).
    pub at: u64,
    /// Cancelled by its author.
    pub cancelled: bool,
    /// Quantity held by commitments that are not cancelled.
    pub committed: u64,
}

impl Posted {
    /// What is left to commit to.
    pub fn left(&self) -> u64 {
        self.intent.quantity.saturating_sub(self.committed)
    }
}

/// A commitment as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    /// The intent.
    pub intent: EventId,
    /// Who committed.
    pub author: PublicKey,
    /// Who provides.
    pub provider: PublicKey,
    /// Who receives.
    pub receiver: PublicKey,
    /// How much.
    pub quantity: u64,
    /// Claimed time (ms).
    pub at: u64,
    /// Cancelled (by whom).
    pub cancelled: Option<PublicKey>,
    /// The fulfilment event and its note.
    pub fulfilled: Option<(EventId, String)>,
    /// The receiver's confirmation.
    pub confirmed: Option<EventId>,
}

/// A thing the group holds in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its name.
    pub name: String,
    /// What kind of thing.
    pub category: dualpower_core::aid::Category,
    /// Where it is.
    pub place: String,
    /// Who looks after it.
    pub custodians: std::collections::BTreeSet<PublicKey>,
    /// Condition notes: (event, author, note, claimed time).
    pub notes: Vec<(EventId, PublicKey, String, u64)>,
}

/// A booking as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// The resource.
    pub resource: EventId,
    /// Who booked.
    pub author: PublicKey,
    /// From (ms).
    pub from: u64,
    /// Until (ms).
    pub until: u64,
    /// What for.
    pub note: String,
    /// Cancelled (by whom).
    pub cancelled: Option<PublicKey>,
    /// It crossed an overlapping booking made at the same time and lost to it (that booking's
    /// id): the booker is told, and the span is the winner's.
    pub lost_to: Option<EventId>,
}

/// A linked group's shared offer or need, shown here by a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrored {
    /// The linked group.
    pub group: dualpower_core::GroupId,
    /// Its author there.
    pub author: PublicKey,
    /// What it says.
    pub intent: Intent,
    /// How much is still open there, as the bridge last saw (0: closed).
    pub open: u64,
    /// The bridge that showed it.
    pub bridge: PublicKey,
    /// When the bridge last showed it (its claimed time, ms).
    pub at: u64,
}

/// Mutual aid as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AidState {
    /// Shared resources by event.
    pub resources: BTreeMap<EventId, Resource>,
    /// Bookings by event.
    pub bookings: BTreeMap<EventId, Booking>,
    /// Offers and needs by event.
    pub intents: BTreeMap<EventId, Posted>,
    /// Commitments by event.
    pub commitments: BTreeMap<EventId, Commitment>,
    /// Receipts of confirmed fulfilments (receiver → provider).
    pub receipts: Vec<Receipt>,
    /// Linked groups' shared intents, by the linked group and their event there (so a bridge
    /// of one link cannot overwrite another link's mirror).
    pub mirrored: BTreeMap<(dualpower_core::GroupId, EventId), Mirrored>,
}

/// The aid domain's record while the pass runs.
#[derive(Default)]
pub(crate) struct AidBook {
    st: AidState,
    /// Per booking, the other bookings of its resource that were in its past when judged.
    booking_past: HashMap<EventId, Vec<EventId>>,
    /// Control bits of intents, commitments and fulfilments (markers).
    bits: HashMap<EventId, usize>,
    touched: bool,
}

impl AidBook {
    fn in_past(&self, cx: &Cx<'_>, id: &EventId) -> bool {
        self.bits.get(id).is_some_and(|b| cx.past.has(*b))
    }

    /// Takes whether anything changed since the last call.
    pub(crate) fn take_touched(&mut self) -> bool {
        std::mem::take(&mut self.touched)
    }

    /// The state so far, with crossing bookings resolved.
    pub(crate) fn view(&self) -> AidState {
        let mut st = self.st.clone();
        self.resolve(&mut st);
        st
    }

    /// Brings `st` up to date if anything changed.
    pub(crate) fn refresh(&mut self, st: &mut AidState) {
        if self.take_touched() {
            *st = self.view();
        }
    }

    /// Two bookings that overlap, neither in the other's past (made at the same time), cannot
    /// both stand: the one whose `hash(resource, booker)` is smaller wins. That order is fixed per
    /// resource and member, so nobody wins by grinding an id, a time or a note; the loser's
    /// booking shows whom it lost to. Pure function of the set.
    fn resolve(&self, st: &mut AidState) {
        let prio = |b: &Booking| {
            let mut h = blake3::Hasher::new_derive_key("dualpower booking priority v1");
            h.update(&b.resource.0);
            h.update(&b.author.0);
            *h.finalize().as_bytes()
        };
        let mut by_resource: BTreeMap<EventId, Vec<(EventId, Booking)>> = BTreeMap::new();
        for (id, b) in st.bookings.iter().filter(|(_, b)| b.cancelled.is_none()) {
            by_resource
                .entry(b.resource)
                .or_default()
                .push((*id, b.clone()));
        }
        for v in by_resource.values_mut() {
            // Swept in order of start: a booking is compared only with those that start before
            // it ends, so many bookings of one resource at different times cost n log n, not n².
            v.sort_by_key(|(id, b)| (b.from, *id));
            for (i, (a_id, a)) in v.iter().enumerate() {
                for (b_id, b) in v[i + 1..].iter().take_while(|(_, b)| b.from < a.until) {
                    let crossing = a.resource == b.resource
                        && a.from < b.until
                        && b.from < a.until
                        && !self
                            .booking_past
                            .get(a_id)
                            .is_some_and(|p| p.contains(b_id))
                        && !self
                            .booking_past
                            .get(b_id)
                            .is_some_and(|p| p.contains(a_id));
                    if !crossing {
                        continue;
                    }
                    let (winner, loser) = if (prio(a), a_id) < (prio(b), b_id) {
                        (a_id, b_id)
                    } else {
                        (b_id, a_id)
                    };
                    if let Some(l) = st.bookings.get_mut(loser)
                        && l.lost_to.is_none()
                    {
                        l.lost_to = Some(*winner);
                    }
                }
            }
        }
    }

    fn commit(&mut self, cx: &Cx<'_>, intent: EventId, quantity: u64) -> Result<Effect, Refusal> {
        let name = "commit";
        let p = match self.st.intents.get(&intent) {
            Some(p) if self.in_past(cx, &intent) => p,
            _ => return Err(no(name, "no such offer or need in the author's past")),
        };
        if p.cancelled {
            return Err(no(name, "it was cancelled"));
        }
        if p.author == cx.author {
            return Err(no(name, "nobody commits to its own offer or need"));
        }
        if p.intent.expires > 0 && cx.timestamp >= p.intent.expires {
            return Err(no(name, format!("it expired at {}", p.intent.expires)));
        }
        if quantity > p.left() {
            return Err(no(
                name,
                format!("only {} of {} is left", p.left(), p.intent.quantity),
            ));
        }
        let (provider, receiver) = if p.intent.need {
            (cx.author, p.author)
        } else {
            (p.author, cx.author)
        };
        if let Some(p) = self.st.intents.get_mut(&intent) {
            p.committed += quantity;
        }
        self.st.commitments.insert(
            cx.id,
            Commitment {
                intent,
                author: cx.author,
                provider,
                receiver,
                quantity,
                at: cx.timestamp,
                cancelled: None,
                fulfilled: None,
                confirmed: None,
            },
        );
        self.touched = true;
        Ok(Effect::act(Act::Marker))
    }

    fn confirm(&mut self, cx: &Cx<'_>, commitment: EventId) -> Result<Effect, Refusal> {
        let name = "confirm";
        let c = self.commitment(cx, &commitment, name)?;
        if c.receiver != cx.author {
            return Err(no(name, "only the receiver confirms a fulfilment"));
        }
        let Some((done, _)) = &c.fulfilled else {
            return Err(no(name, "it is not fulfilled yet"));
        };
        if !self.in_past(cx, done) {
            return Err(no(name, "the fulfilment is not in the author's past"));
        }
        if c.confirmed.is_some() {
            return Err(no(name, "it is confirmed already"));
        }
        let domain = self.st.intents[&c.intent].intent.category.domain();
        let provider = c.provider;
        if let Some(c) = self.st.commitments.get_mut(&commitment) {
            c.confirmed = Some(cx.id);
        }
        self.st.receipts.push(Receipt {
            domain: domain.to_owned(),
            from: cx.author,
            to: provider,
            at: cx.timestamp,
            what: "aid",
            event: cx.id,
        });
        self.touched = true;
        Ok(Effect::None)
    }

    fn custodian(
        &mut self,
        cx: &Cx<'_>,
        resource: EventId,
        member: PublicKey,
        add: bool,
    ) -> Result<Effect, Refusal> {
        let name = "custodian";
        let r = self.resource(cx, &resource, name)?;
        if !r.custodians.contains(&cx.author) {
            return Err(no(name, "only a custodian changes who looks after it"));
        }
        if add && !cx.is_member(&member) {
            return Err(Refusal::TargetNotMember(member));
        }
        if !add && r.custodians.len() == 1 && r.custodians.contains(&member) {
            return Err(no(name, "a resource keeps at least one custodian"));
        }
        if let Some(r) = self.st.resources.get_mut(&resource) {
            if add {
                r.custodians.insert(member);
            } else {
                r.custodians.remove(&member);
            }
        }
        self.touched = true;
        Ok(Effect::None)
    }

    fn book(
        &mut self,
        cx: &Cx<'_>,
        resource: EventId,
        from: u64,
        until: u64,
        note: String,
    ) -> Result<Effect, Refusal> {
        let name = "book";
        self.resource(cx, &resource, name)?;
        let seen: Vec<EventId> = self
            .st
            .bookings
            .iter()
            .filter(|(id, b)| b.resource == resource && self.in_past(cx, id))
            .map(|(id, _)| *id)
            .collect();
        if let Some((id, b)) = seen
            .iter()
            .map(|id| (id, &self.st.bookings[id]))
            .find(|(_, b)| b.cancelled.is_none() && b.from < until && from < b.until)
        {
            return Err(no(
                name,
                format!(
                    "it is booked from {} to {} by {} (booking {id})",
                    b.from, b.until, b.author
                ),
            ));
        }
        self.booking_past.insert(cx.id, seen);
        self.st.bookings.insert(
            cx.id,
            Booking {
                resource,
                author: cx.author,
                from,
                until,
                note,
                cancelled: None,
                lost_to: None,
            },
        );
        self.touched = true;
        Ok(Effect::act(Act::Marker))
    }

    fn cancel(&mut self, cx: &Cx<'_>, target: EventId) -> Result<Effect, Refusal> {
        let name = "cancel";
        if let Some(b) = self.st.bookings.get(&target) {
            if !self.in_past(cx, &target) {
                return Err(no(name, "no such booking in the author's past"));
            }
            let custodian = self
                .st
                .resources
                .get(&b.resource)
                .is_some_and(|r| r.custodians.contains(&cx.author));
            if b.author != cx.author && !custodian {
                return Err(no(name, "only its booker or a custodian cancels a booking"));
            }
            if b.cancelled.is_some() {
                return Err(no(name, "it is cancelled already"));
            }
            if let Some(b) = self.st.bookings.get_mut(&target) {
                b.cancelled = Some(cx.author);
            }
            self.touched = true;
            return Ok(Effect::None);
        }
        if let Some(p) = self.st.intents.get(&target) {
            if !self.in_past(cx, &target) {
                return Err(no(name, "no such offer or need in the author's past"));
            }
            if p.author != cx.author {
                return Err(no(name, "only its author cancels an offer or need"));
            }
            if p.cancelled {
                return Err(no(name, "it is cancelled already"));
            }
            if let Some(p) = self.st.intents.get_mut(&target) {
                p.cancelled = true;
            }
            self.touched = true;
            return Ok(Effect::None);
        }
        let c = self.commitment(cx, &target, name)?;
        if c.provider != cx.author && c.receiver != cx.author {
            return Err(no(name, "only a party cancels a commitment"));
        }
        if c.fulfilled.is_some() {
            return Err(no(
                name,
                "it is fulfilled: correct it with a new event instead",
            ));
        }
        if c.cancelled.is_some() {
            return Err(no(name, "it is cancelled already"));
        }
        let (intent, q) = (c.intent, c.quantity);
        if let Some(c) = self.st.commitments.get_mut(&target) {
            c.cancelled = Some(cx.author);
        }
        if let Some(p) = self.st.intents.get_mut(&intent) {
            p.committed = p.committed.saturating_sub(q);
        }
        self.touched = true;
        Ok(Effect::None)
    }

    fn resource<'a>(
        &'a self,
        cx: &Cx<'_>,
        id: &EventId,
        act: &'static str,
    ) -> Result<&'a Resource, Refusal> {
        match self.st.resources.get(id) {
            Some(r) if self.in_past(cx, id) => Ok(r),
            _ => Err(no(act, "no such resource in the author's past")),
        }
    }

    fn commitment<'a>(
        &'a self,
        cx: &Cx<'_>,
        id: &EventId,
        act: &'static str,
    ) -> Result<&'a Commitment, Refusal> {
        match self.st.commitments.get(id) {
            Some(c) if self.in_past(cx, id) => Ok(c),
            _ => Err(no(act, "no such commitment in the author's past")),
        }
    }

    fn judge_act(&mut self, cx: &Cx<'_>, act: AidAct) -> Result<Effect, Refusal> {
        let name = act.name();
        match act {
            AidAct::Intent(intent) => {
                self.st.intents.insert(
                    cx.id,
                    Posted {
                        author: cx.author,
                        intent,
                        at: cx.timestamp,
                        cancelled: false,
                        committed: 0,
                    },
                );
                self.touched = true;
                Ok(Effect::act(Act::Marker))
            }
            AidAct::Commit { intent, quantity } => self.commit(cx, intent, quantity),
            AidAct::Fulfil { commitment, note } => {
                let c = self.commitment(cx, &commitment, name)?;
                if c.provider != cx.author {
                    return Err(no(name, "only the provider fulfils a commitment"));
                }
                if c.cancelled.is_some() {
                    return Err(no(name, "the commitment was cancelled"));
                }
                if c.fulfilled.is_some() {
                    return Err(no(name, "it is fulfilled already"));
                }
                if let Some(c) = self.st.commitments.get_mut(&commitment) {
                    c.fulfilled = Some((cx.id, note));
                }
                self.touched = true;
                Ok(Effect::act(Act::Marker))
            }
            AidAct::Confirm { commitment } => self.confirm(cx, commitment),
            AidAct::Resource {
                name: n,
                category,
                place,
            } => {
                self.st.resources.insert(
                    cx.id,
                    Resource {
                        name: n,
                        category,
                        place,
                        custodians: [cx.author].into_iter().collect(),
                        notes: Vec::new(),
                    },
                );
                self.touched = true;
                Ok(Effect::act(Act::Marker))
            }
            AidAct::Condition { resource, note } => {
                self.resource(cx, &resource, name)?;
                if let Some(r) = self.st.resources.get_mut(&resource) {
                    r.notes.push((cx.id, cx.author, note, cx.timestamp));
                }
                self.touched = true;
                Ok(Effect::None)
            }
            AidAct::Custodian {
                resource,
                member,
                add,
            } => self.custodian(cx, resource, member, add),
            AidAct::Book {
                resource,
                from,
                until,
                note,
            } => self.book(cx, resource, from, until, note),
            AidAct::Cancel { target } => self.cancel(cx, target),
            AidAct::Mirror {
                group,
                origin,
                author,
                intent,
                open,
            } => {
                if group == cx.group {
                    return Err(no(name, "a group's own intents are not mirrored into it"));
                }
                let (_, terms) = cx.auth.link_at(&group, cx.past).ok_or_else(|| {
                    no(name, format!("the ledger is not linked to group {group}"))
                })?;
                if !terms.bridges.contains(&cx.author) {
                    return Err(no(
                        name,
                        "only a bridge of the link shows its group's intents",
                    ));
                }
                if !intent.linked {
                    return Err(no(name, "that intent was not shared with linked groups"));
                }
                self.st.mirrored.insert(
                    (group, origin),
                    Mirrored {
                        group,
                        author,
                        intent,
                        open,
                        bridge: cx.author,
                        at: cx.timestamp,
                    },
                );
                self.touched = true;
                Ok(Effect::None)
            }
        }
    }
}

impl Domain for AidBook {
    fn judge(&mut self, cx: &Cx<'_>, payload: Payload) -> Result<Effect, Refusal> {
        match payload {
            Payload::Aid(a) => self.judge_act(cx, a),
            _ => Ok(Effect::None),
        }
    }

    fn marked(&mut self, id: &EventId, bit: usize) {
        self.bits.entry(*id).or_insert(bit);
    }
}
