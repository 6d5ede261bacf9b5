//! Derived state: what members see, computed as a pure function of the set of valid events.
//!
//! Nothing here looks at arrival order, the clock, or hash-map iteration order: events are put in
//! causal order (predecessors first, ties by id) and folded through `apply`. Two nodes holding the
//! same events therefore compute byte-identical state and the same [`feed::Feed::state_hash`].
//! One module per domain: the group feed (posts, comments, reactions) and membership (members,
//! roles, constitution, invites, key epochs). Governance, tasks, reputation and logistics will each get their own module with the same shape.

pub mod decisions;
pub mod feed;
pub mod membership;

pub use decisions::{CurrentVote, ProposalState, Status, WeightHolder};
pub use feed::{CommentView, Feed, PostView, Rejection};
pub use membership::{Epoch, GroupState, Member, PendingJoin, Refusal, Removal};
