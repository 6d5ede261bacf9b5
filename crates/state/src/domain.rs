//! The interface between the causal-order pass and the domains that judge events.
//!
//! A domain (membership, keys, decisions, and the ones still to come) owns the payload kinds of
//! its area, keeps its own state, and judges each of its events at the event's causal point
//! through a [`Cx`]. It never writes the authority record itself: what it accepts as a change of
//! authority it returns as [`Act`]s, which the pass records. A new domain is a module that
//! implements [`Domain`] and one line in [`crate::pass`]'s routing.

use dualpower_core::{EventId, Payload};

use crate::authority::{Act, Cx};
use crate::refusal::Refusal;

/// What an accepted event did.
pub(crate) enum Effect {
    /// Nothing the authority record needs to know.
    None,
    /// Control events to record, in order (each gets a bit in later events' pasts).
    Acts(Vec<Act>),
}

impl Effect {
    /// One control event.
    pub(crate) fn act(act: Act) -> Effect {
        Effect::Acts(vec![act])
    }
}

/// A judge of one area's events.
pub(crate) trait Domain {
    /// Judges `payload`, written by `cx.author` at `cx`'s causal point.
    fn judge(&mut self, cx: &Cx<'_>, payload: Payload) -> Result<Effect, Refusal>;

    /// The pass refused the event before it reached [`Domain::judge`] (its author was not a
    /// member, was cut, or forked); a domain that lists refusals of its own (void votes in a
    /// certificate, void key shares) records it here. Not called for `judge`'s own refusals.
    fn refused(&mut self, _cx: &Cx<'_>, _payload: &Payload, _why: &Refusal) {}

    /// The control event `id` that this domain returned got bit `bit`.
    fn marked(&mut self, _id: &EventId, _bit: usize) {}
}
