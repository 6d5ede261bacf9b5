//! Private groups on top of the signed logs: end-to-end encryption of group content and direct
//! messages, the local keyring, invite codes, and the membership agent that decides what a
//! member's node should write next (prekeys, admissions, key rotations, welcomes).
//!
//! Membership itself (who is a member, who may do what) is derived state and lives in
//! `dualpower_state::membership`; this crate holds secrets and never decides authority. The key
//! schedule is behind [`KeyScheme`], so a tree-based DCGKA can replace the per-member HPKE
//! epochs later without touching storage, sync or the CLI.
//!
//! Everything here is pure (no IO, no clock): callers pass the time in.

pub mod agent;
pub mod body;
pub mod invite;
pub mod keyring;

pub use agent::{Action, plan};
pub use body::{Encrypted, GroupError};
pub use invite::{InviteCode, InviteError};
pub use keyring::{KeyScheme, Keyring};
