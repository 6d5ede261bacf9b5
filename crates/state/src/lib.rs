//! Derived state: what members see, computed as a pure function of the set of valid events.
//!
//! Nothing here looks at arrival order, the clock, or hash-map iteration order: events are put in
//! causal order (predecessors first, ties by id) and folded through `apply`. Two nodes holding the
//! same events therefore compute byte-identical state and the same [`feed::Feed::state_hash`].
//!
//! Layout: [`pass`] is the causal-order pass over a group's events; it screens each event and
//! hands it to the judge of its domain ([`domain::Domain`]): `membership` (genesis, invites,
//! joins, admissions, removals, roles, amendments), `keys` (prekeys, epochs), [`decisions`]
//! (proposals, votes, delegations, closes). Domains read the causal point only through
//! `authority::Cx` (who was a member, who held which role, the constitution in force), which
//! only the pass writes. The result is a [`GroupState`]. The feed ([`feed`]) and display names ([`names`]) are
//! derived separately from decrypted bodies. [`Derivation`] keeps a derived state and applies new
//! events to it at the cost of the batch, falling back to a full derivation whenever that would
//! not give exactly [`GroupState::derive`] of the union. A new domain (tasks, reputation,
//! ledger) is a new module implementing `Domain` and one line in the pass's routing.

pub mod aid;
mod authority;
pub mod credit;
pub mod decisions;
mod derivation;
mod domain;
pub mod feed;
mod graph;
pub mod group;
mod keys;
mod membership;
pub mod names;
mod pass;
pub mod refusal;
pub mod work;

pub use decisions::{CurrentVote, ProposalState, Status, WeightHolder};
pub use derivation::Derivation;
pub use feed::{CommentView, Feed, PostView, Rejection};
pub use group::{Epoch, GroupState, InviteInfo, Member, PendingJoin, Removal};
pub use names::display_names;
pub use pass::Opened;
pub use refusal::Refusal;

/// Whether `p` is written sealed under the governance key and judged from its opened body:
/// decisions, work, the ledger and mutual aid (everything else sealed is content, which changes
/// no state).
pub fn governed(p: &dualpower_core::Payload) -> bool {
    decisions::owns(p) || work::owns(p) || credit::owns(p) || aid::owns(p)
}
