//! The pure core of Dual Power: identities, the signed event format and its strict canonical
//! encoding, signature verification, and typed payloads.
//!
//! Nothing here does IO, spawns threads, reads a clock or keeps global state: every function is a
//! function of its arguments, so every node reaches the same verdict on the same bytes. Storage,
//! networking and derived state build on top of this crate.
//!
//! Start with [`event`]: [`event::Draft::sign`] makes an event, [`event::Event::decode`] and
//! [`event::Event::verify`] (or [`event::verify_batch`]) check one that arrived.

pub mod aid;
pub mod causal;
pub mod cbor;
pub mod decision;
pub mod event;
pub mod keys;
pub mod ledger;
pub mod payload;
pub mod sig;
pub mod work;

pub use event::{
    Draft, Event, EventError, EventId, GroupId, Header, NetworkId, VerifiedEvent, verify_batch,
};
pub use keys::{Identity, KeyError, PublicKey};
pub use payload::{
    Admission, Constitution, DisplayNameError, Genesis, KeyShare, Payload, PayloadError, Rule, Seal,
};
