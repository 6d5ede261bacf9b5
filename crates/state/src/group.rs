//! The derived state of one group as of a whole set of events: members, roles, the
//! constitution, invites, key epochs, proposals, and every refusal with its reason.
//!
//! This is what the node, the CLI and the UI read. It is computed by [`crate::pass`] and only
//! ever as a pure function of the set of events: two nodes with the same events have equal
//! `GroupState`s.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dualpower_core::decision::{Scope, Target};
use dualpower_core::payload::{Constitution, Rule};
use dualpower_core::{EventId, GroupId, PublicKey};

use crate::decisions::ProposalState;
use crate::refusal::Refusal;

/// A member as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Roles held.
    pub roles: BTreeSet<String>,
    /// The member's newest valid prekey (X25519 public), if any.
    pub prekey: Option<[u8; 32]>,
    /// Who admitted (or vouched for) the member; empty for the creator.
    pub admitted_by: BTreeSet<PublicKey>,
}

/// A newcomer whose join is not (yet) admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingJoin {
    /// The join event.
    pub join: EventId,
    /// The invite it used.
    pub invite: EventId,
    /// Members who admitted (vouched for) it so far.
    pub vouches: BTreeSet<PublicKey>,
    /// The join's claimed timestamp (ms), for grace periods.
    pub since: u64,
}

/// An invite as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteInfo {
    /// Who created it.
    pub author: PublicKey,
    /// Its verification key.
    pub key: PublicKey,
    /// Expiry (ms).
    pub expires: u64,
    /// Uses allowed.
    pub uses: u64,
    /// Members admitted with it.
    pub used_by: BTreeSet<PublicKey>,
}

/// An epoch: a secret shared by its knowers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// Who created it.
    pub creator: PublicKey,
    /// Position in the causal order (later epochs have larger positions).
    pub position: usize,
    /// Epochs it supersedes.
    pub prev: Vec<EventId>,
    /// Every seal of its secret: (key-share event, recipient prekey).
    pub seals: Vec<(EventId, [u8; 32])>,
    /// Everyone who holds the secret (creator and owners of the prekeys it was sealed to).
    pub knowers: BTreeSet<PublicKey>,
    /// Sealed at least once to a prekey that is not a current member's.
    pub tainted: bool,
    /// A later epoch supersedes it.
    pub superseded: bool,
    /// The share that started it was refused. It is never written under, but what it names as
    /// superseded stays superseded: supersession only ever grows, so an epoch once handed out
    /// as history can never become the writing epoch again.
    pub refused: bool,
    /// Claimed time (ms) of the share that started it.
    pub created_at: u64,
    /// Claimed time (ms) of the earliest epoch that supersedes it (for forgetting).
    pub superseded_at: Option<u64>,
}

/// Removal of a member (or its leaving).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The removal (or leave) event.
    pub event: EventId,
    /// Who removed (the member itself for a leave).
    pub by: PublicKey,
    /// The member's events from this seq on are void.
    pub cut: u64,
    /// The reason given.
    pub reason: String,
}

/// The derived membership state of one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupState {
    /// The group.
    pub group: GroupId,
    /// The genesis event, once present.
    pub genesis: Option<EventId>,
    /// The group's name.
    pub name: Option<String>,
    /// Its creator.
    pub creator: Option<PublicKey>,
    /// The constitution in force.
    pub constitution: Constitution,
    /// Current members.
    pub members: BTreeMap<PublicKey, Member>,
    /// Former members: the removal in force for each.
    pub removed: BTreeMap<PublicKey, Removal>,
    /// Joins waiting for admission.
    pub pending: BTreeMap<PublicKey, PendingJoin>,
    /// Valid invites.
    pub invites: BTreeMap<EventId, InviteInfo>,
    /// Owner of every valid prekey.
    pub prekeys: BTreeMap<[u8; 32], PublicKey>,
    /// Valid epochs by id (the id of the key share that started it).
    pub epochs: BTreeMap<EventId, Epoch>,
    /// Events with no effect, with the reason, in causal order.
    pub rejected: Vec<(EventId, Refusal)>,
    /// Proposals and their tallies.
    pub proposals: BTreeMap<EventId, ProposalState>,
    /// Each member's standing delegations by scope.
    pub delegations: BTreeMap<PublicKey, BTreeMap<Scope, Target>>,
    /// Quadratic voting: voice credits spent per (member, period), per proposal.
    pub spent: crate::decisions::Spent,
    /// Authors who signed two different events at one seq of their log, with the lowest such
    /// seq: from there on they have no vote and no authority (their earlier events stay valid).
    pub forked: BTreeMap<PublicKey, u64>,
    /// Tasks, sortitions, mediation cases and receipts.
    pub work: crate::work::WorkState,
    /// The mutual-credit ledger.
    pub credit: crate::credit::CreditState,
    /// Offers, needs, commitments and their fulfilment.
    pub aid: crate::aid::AidState,
}

impl GroupState {
    /// The epoch a member should encrypt new content under: of the epochs no later epoch
    /// supersedes and that no non-member knows, the latest in causal order. `None` means the
    /// writer must start a new epoch first (after a removal, or before the first epoch).
    pub fn writing_epoch(&self) -> Option<EventId> {
        self.epochs
            .iter()
            .filter(|(_, e)| !e.tainted && !e.superseded && !e.refused)
            .max_by_key(|(_, e)| e.position)
            .map(|(id, _)| *id)
    }

    /// Current members with a prekey who do not know `epoch` (they need a seal of it).
    pub fn missing_knowers(&self, epoch: &EventId) -> Vec<(PublicKey, [u8; 32])> {
        let Some(e) = self.epochs.get(epoch) else {
            return Vec::new();
        };
        self.members
            .iter()
            .filter(|(k, _)| !e.knowers.contains(*k))
            .filter_map(|(k, m)| m.prekey.map(|p| (*k, p)))
            .collect()
    }

    /// Whether `who` is a current member.
    pub fn is_member(&self, who: &PublicKey) -> bool {
        self.members.contains_key(who)
    }

    /// Whether `who` may do what `rule` requires, as of the whole set.
    pub fn allows(&self, rule: &Rule, who: &PublicKey) -> bool {
        match rule {
            Rule::Member => self.is_member(who),
            Rule::Role(r) => {
                self.members.get(who).is_some_and(|m| m.roles.contains(r))
                    || (self.is_member(who)
                        && self.work.holders.get(r).is_some_and(|(h, _, _)| h == who))
            }
            Rule::Vote => false,
        }
    }

    /// Reputation per domain from every receipt (work and mutual aid), with the group's rules:
    /// see [`crate::work::WorkState::reputation`].
    pub fn reputation(&self) -> BTreeMap<String, BTreeMap<PublicKey, crate::work::Score>> {
        self.work
            .reputation_of(&self.aid.receipts, &self.constitution.work, self.creator)
    }

    /// The refusals as a map, for the feed.
    pub fn refusals(&self) -> HashMap<EventId, String> {
        self.rejected
            .iter()
            .map(|(id, r)| (*id, r.to_string()))
            .collect()
    }
}
