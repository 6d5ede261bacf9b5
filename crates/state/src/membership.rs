//! Group membership, roles, constitution and key epochs, derived from the signed events.
//!
//! This is the authority layer every other part of a group consults: who is a member, who may
//! invite, remove or amend, which prekey belongs to whom and which members know which epoch
//! secret. Like every derived state it is a pure function of the set of events.
//!
//! Rules (DESIGN.md, "Authority under concurrency"):
//!
//! * **Judged at the causal point.** Whether an event's author was a member, or held the right
//!   to do what it did, is decided by the state computed from exactly the event's causal past
//!   (backlinks and deps), never by arrival order. For that every event carries the set of
//!   membership-changing events in its past (a bitset over control events, shared between
//!   events where it does not change).
//! * **Removal wins.** An admission counts at a point only if every removal of the same member
//!   in that point's past is in the admission's own past (re-admission after a removal works;
//!   an admission concurrent with a removal does not). The same holds for roles: a revoke
//!   concurrent with a grant wins.
//! * **Removal carries a cut.** A removal names how many of the member's events the remover had
//!   seen; the member's later events are rejected whatever deps they claim, unless they follow a
//!   re-admission. Concurrent removals each apply, so the lowest cut wins.
//! * **Concurrent amendments:** the one latest in the causal order (ties by id) is in force.
//! * **Epochs:** a key share that starts an epoch is valid if its author was a member; its
//!   knowers are the author and the owners of every prekey it was sealed to. Sealing to a key
//!   that is not a current member's is rejected with a reason *and* taints the epoch (the secret
//!   has left the group), so no honest writer uses it again. See [`GroupState::writing_epoch`].
//!
//! Rejected events stay stored and replicated; they are listed with a reason the UI can show.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::rc::Rc;

use dualpower_core::decision::{Scope, Target};
use dualpower_core::payload::{
    Admission, Constitution, Rule, join_proof_message, prekey_proof_message,
};

use crate::decisions::{Book, Cx, ProposalState};
use dualpower_core::{
    EventId, GroupId, KeyShare, NetworkId, Payload, PublicKey, VerifiedEvent, causal, sig,
};

/// Why an event has no effect on the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The body is missing (deleted or not fetched), so the event cannot be judged yet.
    BodyMissing,
    /// The body does not decode.
    Undecodable(String),
    /// A genesis that is not this group's.
    StrayGenesis,
    /// The author was not a member at the event's causal point.
    NotMember(PublicKey),
    /// The author was removed (or left) and this event is past the cut.
    AfterRemoval {
        /// The author.
        author: PublicKey,
        /// Events at or above this seq are rejected.
        cut: u64,
    },
    /// The author lacked the right the constitution requires.
    NoRight {
        /// What was attempted.
        action: &'static str,
        /// The rule in force, as text.
        rule: String,
    },
    /// The constitution requires a collective decision for this, which this version cannot take.
    NeedsDecision(&'static str),
    /// The join's invite is not in the set.
    InviteUnknown(EventId),
    /// The join's proof is not a signature by the invite's key.
    InviteForged,
    /// The invite had expired when the admission was written.
    InviteExpired {
        /// Expiry (ms).
        expires: u64,
        /// Admission timestamp (ms).
        at: u64,
    },
    /// The invite was used up.
    InviteUsedUp {
        /// How many uses it allowed.
        uses: u64,
    },
    /// The invite event itself was refused.
    InviteRefused(EventId),
    /// An admission whose join (or the join's invite) is not in its causal past, or not by the
    /// admitted member.
    JoinMismatch,
    /// The target is not a member (at the event's causal point).
    TargetNotMember(PublicKey),
    /// The constitution names no such role.
    UnknownRole(String),
    /// Another author already published this prekey (with a valid proof: both hold its private
    /// half, and the first in causal order keeps it).
    PrekeyTaken,
    /// The prekey's proof of possession does not verify for this author, group and network (a
    /// copy of someone else's prekey, or not a usable X25519 key).
    PrekeyUnproven,
    /// A prekey published by someone who has neither joined nor been admitted.
    PrekeyWithoutJoin,
    /// A key share sealed an epoch secret to a prekey that is not a member's at that point.
    SealedToNonMember([u8; 32]),
    /// A key share adds seals to an epoch that does not exist.
    UnknownEpoch(EventId),
    /// Group events belong in log 0 (the log a removal's cut refers to).
    OtherLog(u64),
    /// The proposal is unknown or not in the event's causal past.
    UnknownProposal(EventId),
    /// Only the proposal's author may do this.
    NotProposer,
    /// Voting is already open (the text is frozen).
    VotingOpen,
    /// The proposal was withdrawn or closed.
    ProposalEnded,
    /// The vote has the proposal's close in its past.
    AfterClose,
    /// Voting has not opened at this point.
    VotingNotOpen,
    /// The author is not in the proposal's electorate at this point.
    NotInElectorate(String),
    /// The ballot does not fit the method or the options.
    BadBallot(String),
    /// A quadratic vote costing more voice credits than the member has left in the period.
    Overspent {
        /// What the vote costs.
        cost: u64,
        /// Credits left (not counting this proposal's earlier vote).
        left: u64,
    },
    /// A delegation to oneself.
    DelegateToSelf,
    /// The proposal was already closed by this event.
    AlreadyClosed(EventId),
    /// Only the author may close before the deadline.
    TooEarlyToClose {
        /// The deadline (ms; 0 = none, only the author closes).
        deadline: u64,
    },
    /// The proposal's action cannot be enacted.
    BadAction(String),
    /// An attestation of a proposal whose close is not in its causal past.
    NotClosed,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BodyMissing => f.write_str("body not available"),
            Refusal::Undecodable(e) => write!(f, "invalid payload: {e}"),
            Refusal::StrayGenesis => f.write_str("a second genesis inside the group"),
            Refusal::NotMember(a) => write!(f, "{a} was not a member at this point"),
            Refusal::AfterRemoval { author, cut } => {
                write!(f, "{author} was removed; its events from seq {cut} on are void")
            }
            Refusal::NoRight { action, rule } => {
                write!(f, "not allowed to {action}: the constitution requires `{rule}`")
            }
            Refusal::NeedsDecision(a) => write!(
                f,
                "the constitution requires a collective decision to {a}: put it to a proposal"
            ),
            Refusal::InviteUnknown(i) => write!(f, "invite {i} is not known here"),
            Refusal::InviteForged => f.write_str("the join's proof is not signed by the invite key"),
            Refusal::InviteExpired { expires, at } => {
                write!(f, "the invite expired at {expires} ms, admission written at {at} ms")
            }
            Refusal::InviteUsedUp { uses } => write!(f, "the invite was already used {uses} time(s)"),
            Refusal::InviteRefused(i) => write!(f, "invite {i} was itself refused"),
            Refusal::JoinMismatch => f.write_str(
                "the admitted join or its invite is not in the admission's causal past, or not by the admitted member",
            ),
            Refusal::TargetNotMember(t) => write!(f, "{t} is not a member"),
            Refusal::UnknownRole(r) => write!(f, "the constitution has no role `{r}`"),
            Refusal::PrekeyTaken => f.write_str("that prekey was already published by someone else"),
            Refusal::PrekeyUnproven => {
                f.write_str("the prekey's proof of possession does not verify")
            }
            Refusal::PrekeyWithoutJoin => f.write_str("a prekey from someone who has not joined"),
            Refusal::SealedToNonMember(k) => write!(
                f,
                "an epoch key was sealed to prekey {}, which belongs to no member",
                hex_prefix(k)
            ),
            Refusal::UnknownEpoch(e) => write!(f, "epoch {e} does not exist"),
            Refusal::OtherLog(l) => write!(f, "group events belong in log 0, not log {l}"),
            Refusal::UnknownProposal(p) => {
                write!(f, "proposal {p} is unknown or not in this event's causal past")
            }
            Refusal::NotProposer => f.write_str("only the proposal's author may do this"),
            Refusal::VotingOpen => f.write_str("voting is already open; the text is frozen"),
            Refusal::ProposalEnded => f.write_str("the proposal was withdrawn or closed"),
            Refusal::AfterClose => f.write_str("the vote was cast after the proposal closed"),
            Refusal::VotingNotOpen => f.write_str("voting has not opened yet"),
            Refusal::NotInElectorate(e) => {
                write!(f, "the voter is not in the electorate (`{e}`) at this point")
            }
            Refusal::BadBallot(e) => write!(f, "invalid ballot: {e}"),
            Refusal::Overspent { cost, left } => write!(
                f,
                "the vote costs {cost} voice credits but only {left} are left in this period"
            ),
            Refusal::DelegateToSelf => f.write_str("a member cannot delegate to itself"),
            Refusal::AlreadyClosed(c) => write!(f, "the proposal was already closed by {c}"),
            Refusal::TooEarlyToClose { deadline: 0 } => {
                f.write_str("only the author may close a proposal without a deadline")
            }
            Refusal::TooEarlyToClose { deadline } => write!(
                f,
                "before the deadline ({deadline} ms) only the author may close, after it any voter"
            ),
            Refusal::BadAction(e) => write!(f, "the proposal's action cannot be enacted: {e}"),
            Refusal::NotClosed => f.write_str("the proposal's close is not in this event's past"),
        }
    }
}

fn hex_prefix(k: &[u8; 32]) -> String {
    k[..6].iter().map(|b| format!("{b:02x}")).collect()
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Bits over control events: "which membership-changing events are in this event's past".
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub(crate) fn has(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
    fn set(&mut self, i: usize) {
        if self.0.len() <= i / 64 {
            self.0.resize(i / 64 + 1, 0);
        }
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn covers(&self, other: &Bits) -> bool {
        other
            .0
            .iter()
            .enumerate()
            .all(|(i, w)| self.0.get(i).copied().unwrap_or(0) & w == *w)
    }
    fn union(parts: &[Rc<Bits>]) -> Rc<Bits> {
        let Some(mut best) = parts.iter().max_by_key(|b| b.0.len()).cloned() else {
            return Rc::new(Bits::default());
        };
        for p in parts {
            if !best.covers(p) {
                let b = Rc::make_mut(&mut best);
                for (i, w) in p.0.iter().enumerate() {
                    b.0[i] |= w;
                }
            }
        }
        best
    }
}

/// What a control event did, kept for queries at later points.
#[derive(Clone)]
pub(crate) enum Act {
    /// Makes `member` a member (genesis for the creator counts as `k` vouches).
    Admit { member: PublicKey, by: PublicKey },
    /// Ends `member`'s membership (removal or leave).
    Remove { member: PublicKey },
    /// Grants or revokes a role.
    Role {
        member: PublicKey,
        role: String,
        grant: bool,
    },
    /// Puts a constitution in force.
    Constitution(Box<Constitution>),
    /// An invite or a join: only needs "is it in the past" queries.
    Marker,
}

/// Bookkeeping a valid control event needs once it has its index.
enum Extra {
    None,
    Invite,
    Join(EventId),
    Admit(EventId),
    Remove(PublicKey, u64),
    /// A decision marker: its bit goes to the decision book.
    Decision,
    /// A close that removes a member by decision, with the cut.
    DecidedRemoval(PublicKey, u64),
}

struct Ctrl {
    act: Act,
    /// Control events strictly before this one.
    past: Rc<Bits>,
    genesis: bool,
}

/// The queries the rules need, over the control events judged so far.
pub(crate) struct Judge {
    ctrls: Vec<Ctrl>,
    admits: HashMap<PublicKey, Vec<usize>>,
    removes: HashMap<PublicKey, Vec<usize>>,
    roles: HashMap<(PublicKey, String), Vec<usize>>,
    constitutions: Vec<usize>,
    genesis_constitution: Constitution,
}

impl Judge {
    /// Everyone ever admitted (members at some point are among them).
    pub(crate) fn admitted(&self) -> impl Iterator<Item = PublicKey> + '_ {
        self.admits.keys().copied()
    }

    pub(crate) fn constitution_at(&self, at: &Bits) -> &Constitution {
        match self.constitutions.iter().rev().find(|i| at.has(**i)) {
            Some(i) => match &self.ctrls[*i].act {
                Act::Constitution(c) => c,
                _ => &self.genesis_constitution,
            },
            None => &self.genesis_constitution,
        }
    }

    /// Admissions of `who` in `at` not undone by a removal in `at` outside their own past.
    fn live_admissions<'a>(
        &'a self,
        who: &PublicKey,
        at: &'a Bits,
    ) -> impl Iterator<Item = usize> + 'a {
        let removes = self.removes.get(who);
        self.admits
            .get(who)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |a| at.has(*a))
            .filter(move |a| {
                removes
                    .into_iter()
                    .flatten()
                    .filter(|r| at.has(**r))
                    .all(|r| self.ctrls[*a].past.has(*r))
            })
    }

    pub(crate) fn is_member(&self, who: &PublicKey, at: &Bits) -> bool {
        let needed = match self.constitution_at(at).admission {
            Admission::Vouches(k) => k,
            Admission::Invite | Admission::Vote => 1,
        };
        let mut vouchers = BTreeSet::new();
        for a in self.live_admissions(who, at) {
            if self.ctrls[a].genesis {
                return true;
            }
            if let Act::Admit { by, .. } = &self.ctrls[a].act {
                vouchers.insert(*by);
            }
            if vouchers.len() as u64 >= needed {
                return true;
            }
        }
        false
    }

    pub(crate) fn has_role(&self, who: &PublicKey, role: &str, at: &Bits) -> bool {
        let Some(events) = self.roles.get(&(*who, role.to_owned())) else {
            return false;
        };
        events.iter().any(|g| {
            at.has(*g)
                && matches!(self.ctrls[*g].act, Act::Role { grant: true, .. })
                && events.iter().all(|r| {
                    !at.has(*r)
                        || matches!(self.ctrls[*r].act, Act::Role { grant: true, .. })
                        || self.ctrls[*g].past.has(*r)
                })
        })
    }

    fn allowed(&self, rule: &Rule, who: &PublicKey, at: &Bits) -> bool {
        match rule {
            Rule::Member => self.is_member(who, at),
            Rule::Role(r) => self.is_member(who, at) && self.has_role(who, r, at),
            Rule::Vote => false,
        }
    }

    fn check(
        &self,
        action: &'static str,
        rule: &Rule,
        who: &PublicKey,
        at: &Bits,
    ) -> Result<(), Refusal> {
        if matches!(rule, Rule::Vote) {
            return Err(Refusal::NeedsDecision(action));
        }
        if !self.is_member(who, at) {
            return Err(Refusal::NotMember(*who));
        }
        if self.allowed(rule, who, at) {
            Ok(())
        } else {
            Err(Refusal::NoRight {
                action,
                rule: rule.to_text(),
            })
        }
    }

    fn push(&mut self, act: Act, past: Rc<Bits>, genesis: bool) -> usize {
        let i = self.ctrls.len();
        match &act {
            Act::Admit { member, .. } => self.admits.entry(*member).or_default().push(i),
            Act::Remove { member } => self.removes.entry(*member).or_default().push(i),
            Act::Role { member, role, .. } => self
                .roles
                .entry((*member, role.clone()))
                .or_default()
                .push(i),
            Act::Constitution(_) => self.constitutions.push(i),
            Act::Marker => {}
        }
        self.ctrls.push(Ctrl { act, past, genesis });
        i
    }
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
            Rule::Role(r) => self.members.get(who).is_some_and(|m| m.roles.contains(r)),
            Rule::Vote => false,
        }
    }

    /// The refusals as a map, for the feed.
    pub fn refusals(&self) -> HashMap<EventId, String> {
        self.rejected
            .iter()
            .map(|(id, r)| (*id, r.to_string()))
            .collect()
    }

    /// Derives the state of `group` from a set of verified events (any order, duplicates
    /// ignored). `network` is needed to check join proofs.
    pub fn derive(network: &NetworkId, group: GroupId, events: &[VerifiedEvent]) -> GroupState {
        // A cut voids the removed member's events whatever their place in the causal order,
        // including events ordered before the removal: the first pass finds the valid removals,
        // the second applies their cuts from the start.
        let first = GroupState::derive_pass(network, group, events, &HashMap::new());
        let mut known: HashMap<PublicKey, Vec<(u64, EventId)>> = HashMap::new();
        for (id, who, cut) in &first.1 {
            known.entry(*who).or_default().push((*cut, *id));
        }
        if known.is_empty() {
            return first.0;
        }
        GroupState::derive_pass(network, group, events, &known).0
    }

    fn derive_pass(
        network: &NetworkId,
        group: GroupId,
        events: &[VerifiedEvent],
        known: &HashMap<PublicKey, Vec<(u64, EventId)>>,
    ) -> (GroupState, Vec<(EventId, PublicKey, u64)>) {
        let mut valid_removals = Vec::new();
        // The control events in the past of each epoch's starting share.
        let mut epoch_past: HashMap<EventId, Rc<Bits>> = HashMap::new();
        let mut removal_idx: HashMap<EventId, usize> = HashMap::new();
        let order = causal::order_events(events);
        let mut st = GroupState {
            group,
            genesis: None,
            name: None,
            creator: None,
            constitution: Constitution::default(),
            members: BTreeMap::new(),
            removed: BTreeMap::new(),
            pending: BTreeMap::new(),
            invites: BTreeMap::new(),
            prekeys: BTreeMap::new(),
            epochs: BTreeMap::new(),
            rejected: Vec::new(),
            proposals: BTreeMap::new(),
            delegations: BTreeMap::new(),
            spent: BTreeMap::new(),
        };
        let mut book = Book::default();
        // Parents of every event of the group, for the causal past of a close.
        let seqs: HashMap<EventId, (PublicKey, u64)> = events
            .iter()
            .filter(|e| e.header().group == group && e.header().log == 0)
            .map(|e| (e.id(), (e.header().author, e.header().seq)))
            .collect();
        let links: HashMap<EventId, Vec<EventId>> = events
            .iter()
            .filter(|e| e.header().group == group)
            .map(|e| {
                let h = e.header();
                (e.id(), h.backlink.iter().chain(&h.deps).copied().collect())
            })
            .collect();
        let mut judge = Judge {
            ctrls: Vec::new(),
            admits: HashMap::new(),
            removes: HashMap::new(),
            roles: HashMap::new(),
            constitutions: Vec::new(),
            genesis_constitution: Constitution::default(),
        };
        // Per event: control events in its past, including itself if it is one.
        let mut incl: HashMap<EventId, Rc<Bits>> = HashMap::with_capacity(events.len());
        // Control index of invites and joins, and what they said.
        let mut invite_idx: HashMap<EventId, usize> = HashMap::new();
        let mut joins: HashMap<EventId, (usize, PublicKey, EventId)> = HashMap::new();
        // Removals by member: (event, cut, removal index) for the cut rule.
        let mut cuts: HashMap<PublicKey, Vec<(u64, usize)>> = HashMap::new();
        let invite_keys: HashMap<EventId, PublicKey> = events
            .iter()
            .filter(|e| e.header().group == group)
            .filter_map(|e| match e.body().map(Payload::decode) {
                Some(Ok(Payload::Invite { key, .. })) => Some((e.id(), key)),
                _ => None,
            })
            .collect();
        let mut prekey_of: BTreeMap<PublicKey, [u8; 32]> = BTreeMap::new();
        // Which invite each valid admission used (by control index).
        // Admissions (control index) made with each invite.
        let mut admit_invite: HashMap<EventId, Vec<usize>> = HashMap::new();
        let mut join_time: HashMap<EventId, u64> = HashMap::new();
        let mut seen = std::collections::HashSet::with_capacity(events.len());

        for (position, i) in order.into_iter().enumerate() {
            let ev = &events[i];
            let id = ev.id();
            if !seen.insert(id) {
                continue;
            }
            let h = ev.header();
            if h.group != group {
                continue;
            }
            let parents: Vec<Rc<Bits>> = h
                .backlink
                .iter()
                .chain(h.deps.iter())
                .filter_map(|p| incl.get(p).cloned())
                .collect();
            let past = Bits::union(&parents);
            let author = h.author;
            let payload = if h.flags & dualpower_core::event::FLAG_ENCRYPTED != 0 {
                None
            } else {
                match ev.body() {
                    None if h.body_len == 0 => None,
                    None => {
                        st.rejected.push((id, Refusal::BodyMissing));
                        incl.insert(id, past);
                        continue;
                    }
                    Some(b) => match Payload::decode(b) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            st.rejected.push((id, Refusal::Undecodable(e.to_string())));
                            incl.insert(id, past);
                            continue;
                        }
                    },
                }
            };
            // The cut rule and the membership of the author, for everything but genesis and
            // join requests (which are how one becomes a member).
            if let Some(Payload::KeyShare(KeyShare { epoch: None, .. })) = &payload {
                epoch_past.insert(id, past.clone());
            }
            // Members write to log 0 only, so a cut (a seq in log 0) covers all they write.
            if h.log != 0 {
                st.rejected.push((id, Refusal::OtherLog(h.log)));
                incl.insert(id, past);
                continue;
            }
            let exempt = matches!(
                payload,
                Some(Payload::GroupGenesis(_)) | Some(Payload::Join { .. })
            );
            if !exempt {
                // Re-admitted after removal `r`: an admission in this event's past that has `r`
                // in its own past.
                let readmitted = |r: usize| {
                    judge
                        .admits
                        .get(&author)
                        .into_iter()
                        .flatten()
                        .any(|a| past.has(*a) && judge.ctrls[*a].past.has(r))
                };
                let voided = known
                    .get(&author)
                    .into_iter()
                    .flatten()
                    .filter(|(cut, _)| h.seq >= *cut)
                    .find(|(_, rid)| removal_idx.get(rid).is_none_or(|r| !readmitted(*r)))
                    .map(|(cut, _)| *cut)
                    .or_else(|| {
                        cuts.get(&author)
                            .into_iter()
                            .flatten()
                            .find(|(cut, r)| h.seq >= *cut && !readmitted(*r))
                            .map(|(cut, _)| *cut)
                    });
                if let Some(cut) = voided {
                    if let Some(Payload::KeyShare(share)) = &payload {
                        void_share(&mut st, id, author, (position, h.timestamp), share);
                    }
                    let r = Refusal::AfterRemoval { author, cut };
                    if let Some(Payload::Vote { proposal, .. }) = &payload {
                        book.void_vote(proposal, id, &r);
                    }
                    st.rejected.push((id, r));
                    incl.insert(id, past);
                    continue;
                }
                let is_prekey = matches!(payload, Some(Payload::Prekey { .. }));
                let may_prekey =
                    is_prekey && joins.values().any(|(j, a, _)| *a == author && past.has(*j));
                if !may_prekey && !judge.is_member(&author, &past) {
                    if let Some(Payload::KeyShare(share)) = &payload {
                        void_share(&mut st, id, author, (position, h.timestamp), share);
                    }
                    let r = if is_prekey {
                        Refusal::PrekeyWithoutJoin
                    } else {
                        Refusal::NotMember(author)
                    };
                    if let Some(Payload::Vote { proposal, .. }) = &payload {
                        book.void_vote(proposal, id, &r);
                    }
                    st.rejected.push((id, r));
                    incl.insert(id, past);
                    continue;
                }
            }
            let mut ctrl: Option<(Act, bool, Extra)> = None;
            let verdict: Result<(), Refusal> = match payload {
                None => Ok(()),
                Some(Payload::GroupGenesis(g)) => {
                    if h.seq == 0
                        && h.log == 0
                        && g.group_id(&author) == group
                        && st.genesis.is_none()
                    {
                        st.genesis = Some(id);
                        st.name = Some(g.name);
                        st.creator = Some(author);
                        judge.genesis_constitution = g.constitution.clone();
                        if let Some(first) = g.constitution.roles.first() {
                            // The creator holds the first role; recorded as a grant at genesis.
                            let idx = judge.push(
                                Act::Role {
                                    member: author,
                                    role: first.clone(),
                                    grant: true,
                                },
                                past.clone(),
                                true,
                            );
                            let mut b = (*past).clone();
                            b.set(idx);
                            incl.insert(id, Rc::new(b));
                        }
                        ctrl = Some((
                            Act::Admit {
                                member: author,
                                by: author,
                            },
                            true,
                            Extra::None,
                        ));
                        Ok(())
                    } else {
                        Err(Refusal::StrayGenesis)
                    }
                }
                Some(Payload::Invite { key, expires, uses }) => {
                    let c = judge.constitution_at(&past).clone();
                    judge.check("invite", &c.invite, &author, &past).map(|()| {
                        st.invites.insert(
                            id,
                            InviteInfo {
                                author,
                                key,
                                expires,
                                uses,
                                used_by: BTreeSet::new(),
                            },
                        );
                        ctrl = Some((Act::Marker, false, Extra::Invite));
                    })
                }
                Some(Payload::Join { invite, proof }) => match invite_keys.get(&invite) {
                    None => Err(Refusal::InviteUnknown(invite)),
                    Some(key) => {
                        let msg = join_proof_message(network, &group, &author);
                        if sig::verify_single(&key.0, &msg, &proof) {
                            ctrl = Some((Act::Marker, false, Extra::Join(invite)));
                            Ok(())
                        } else {
                            Err(Refusal::InviteForged)
                        }
                    }
                },
                Some(Payload::Admit { member, join }) => {
                    let c = judge.constitution_at(&past).clone();
                    let rule = match c.admission {
                        Admission::Invite => c.invite.clone(),
                        Admission::Vouches(_) => Rule::Member,
                        Admission::Vote => Rule::Vote,
                    };
                    judge
                        .check("admit members", &rule, &author, &past)
                        .and_then(|()| {
                            let Some((jidx, joiner, invite)) = joins.get(&join).copied() else {
                                return Err(Refusal::JoinMismatch);
                            };
                            if joiner != member || !past.has(jidx) {
                                return Err(Refusal::JoinMismatch);
                            }
                            let Some(iidx) = invite_idx.get(&invite).copied() else {
                                return Err(Refusal::InviteRefused(invite));
                            };
                            if !past.has(iidx) {
                                return Err(Refusal::JoinMismatch);
                            }
                            let inv = st
                                .invites
                                .get(&invite)
                                .ok_or(Refusal::InviteRefused(invite))?;
                            if h.timestamp > inv.expires {
                                return Err(Refusal::InviteExpired {
                                    expires: inv.expires,
                                    at: h.timestamp,
                                });
                            }
                            // Uses counted at the causal point: distinct other members admitted
                            // with this invite by admissions in the past.
                            let used: BTreeSet<PublicKey> = admit_invite
                                .get(&invite)
                                .into_iter()
                                .flatten()
                                .filter(|a| past.has(**a))
                                .filter_map(|a| match &judge.ctrls[*a].act {
                                    Act::Admit { member: m, .. } if *m != member => Some(*m),
                                    _ => None,
                                })
                                .collect();
                            if used.len() as u64 >= inv.uses {
                                return Err(Refusal::InviteUsedUp { uses: inv.uses });
                            }
                            Ok(invite)
                        })
                        .map(|invite| {
                            if let Some(inv) = st.invites.get_mut(&invite) {
                                inv.used_by.insert(member);
                            }
                            ctrl = Some((
                                Act::Admit { member, by: author },
                                false,
                                Extra::Admit(invite),
                            ));
                        })
                }
                Some(Payload::Remove {
                    member,
                    seen,
                    reason,
                }) => {
                    let c = judge.constitution_at(&past).clone();
                    judge
                        .check("remove members", &c.removal, &author, &past)
                        .and_then(|()| {
                            if !judge.is_member(&member, &past) {
                                return Err(Refusal::TargetNotMember(member));
                            }
                            if st.removed.get(&member).is_none_or(|r| r.cut > seen) {
                                st.removed.insert(
                                    member,
                                    Removal {
                                        event: id,
                                        by: author,
                                        cut: seen,
                                        reason,
                                    },
                                );
                            }
                            ctrl =
                                Some((Act::Remove { member }, false, Extra::Remove(member, seen)));
                            Ok(())
                        })
                }
                Some(Payload::Leave) => {
                    st.removed.insert(
                        author,
                        Removal {
                            event: id,
                            by: author,
                            cut: h.seq + 1,
                            reason: "left".into(),
                        },
                    );
                    ctrl = Some((
                        Act::Remove { member: author },
                        false,
                        Extra::Remove(author, h.seq + 1),
                    ));
                    Ok(())
                }
                Some(Payload::Role {
                    member,
                    role,
                    grant,
                }) => {
                    let c = judge.constitution_at(&past).clone();
                    judge
                        .check("change roles", &c.amend, &author, &past)
                        .and_then(|()| {
                            if !c.roles.contains(&role) {
                                return Err(Refusal::UnknownRole(role.clone()));
                            }
                            if grant && !judge.is_member(&member, &past) {
                                return Err(Refusal::TargetNotMember(member));
                            }
                            ctrl = Some((
                                Act::Role {
                                    member,
                                    role,
                                    grant,
                                },
                                false,
                                Extra::None,
                            ));
                            Ok(())
                        })
                }
                Some(Payload::Amend(new)) => {
                    let c = judge.constitution_at(&past).clone();
                    judge
                        .check("amend the constitution", &c.amend, &author, &past)
                        .map(|()| {
                            ctrl = Some((Act::Constitution(Box::new(new)), false, Extra::None));
                        })
                }
                // A prekey belongs to whoever proves it holds the private half; the proof names
                // the author, so a republished copy is refused here and cannot displace the owner.
                Some(Payload::Prekey { key, proof }) => {
                    let msg = prekey_proof_message(network, &group, &author, &key);
                    if !sig::verify_x25519_possession(&key, &msg, &proof) {
                        Err(Refusal::PrekeyUnproven)
                    } else {
                        match st.prekeys.get(&key) {
                            Some(owner) if *owner != author => Err(Refusal::PrekeyTaken),
                            _ => {
                                st.prekeys.insert(key, author);
                                prekey_of.insert(author, key);
                                Ok(())
                            }
                        }
                    }
                }
                Some(Payload::KeyShare(share)) => apply_share(
                    &mut st,
                    &judge,
                    id,
                    author,
                    &past,
                    (position, h.timestamp),
                    share,
                ),
                Some(Payload::Propose(p)) => {
                    let cx = Cx::new(&judge, &past, id, author, h.timestamp, h.seq);
                    book.propose(&cx, p)
                        .map(|act| ctrl = Some((act, false, Extra::Decision)))
                }
                Some(Payload::Revise { proposal, text }) => {
                    let cx = Cx::new(&judge, &past, id, author, h.timestamp, h.seq);
                    book.revise(&cx, proposal, text)
                        .map(|act| ctrl = Some((act, false, Extra::Decision)))
                }
                Some(Payload::OpenVoting { proposal, text }) => {
                    let cx = Cx::new(&judge, &past, id, author, h.timestamp, h.seq);
                    book.open(&cx, proposal, text)
                        .map(|act| ctrl = Some((act, false, Extra::Decision)))
                }
                Some(Payload::Withdraw { proposal }) => {
                    let cx = Cx::new(&judge, &past, id, author, h.timestamp, h.seq);
                    book.withdraw(&cx, proposal)
                        .map(|act| ctrl = Some((act, false, Extra::Decision)))
                }
                Some(Payload::Vote {
                    proposal,
                    ballot,
                    reason,
                }) => {
                    let cx = Cx::new(&judge, &past, id, author, h.timestamp, h.seq);
                    book.vote(&cx, proposal, ballot, reason)
                }
                Some(Payload::Delegate { scope, target }) => {
                    let cx = Cx::new(&judge, &past, id, author, h.timestamp, h.seq);
                    book.delegate(&cx, scope, target)
                }
                Some(Payload::Attest { proposal, digest }) => {
                    let cx = Cx::new(&judge, &past, id, author, h.timestamp, h.seq);
                    book.attest(&cx, proposal, digest)
                }
                Some(Payload::Close { proposal }) => {
                    let cx = Cx::new(&judge, &past, id, author, h.timestamp, h.seq);
                    let ancestors = crate::decisions::ancestors(&id, &links);
                    // A join admitted by decision must be the member's and in the close's past.
                    let join_ok = |m: &PublicKey, j: &EventId| {
                        joins
                            .get(j)
                            .is_some_and(|(ji, a, _)| a == m && past.has(*ji))
                    };
                    book.close(&cx, proposal, &ancestors, &join_ok)
                        .map(|(act, reason)| {
                            let extra = match (&act, reason) {
                                // A removal by decision cuts the member's log after what the
                                // close had seen of it.
                                (Act::Remove { member }, Some(reason)) => {
                                    let member = *member;
                                    let cut = ancestors
                                        .iter()
                                        .filter_map(|e| seqs.get(e))
                                        .filter(|(a, _)| *a == member)
                                        .map(|(_, seq)| seq + 1)
                                        .max()
                                        .unwrap_or(0);
                                    if st.removed.get(&member).is_none_or(|r| r.cut > cut) {
                                        st.removed.insert(
                                            member,
                                            Removal {
                                                event: id,
                                                by: author,
                                                cut,
                                                reason,
                                            },
                                        );
                                    }
                                    Extra::DecidedRemoval(member, cut)
                                }
                                _ => Extra::Decision,
                            };
                            ctrl = Some((act, false, extra));
                        })
                }
                Some(
                    Payload::Merge
                    | Payload::Post { .. }
                    | Payload::Comment { .. }
                    | Payload::Reaction { .. }
                    | Payload::Direct { .. }
                    | Payload::Unknown { .. },
                ) => Ok(()),
            };
            if let Err(r) = verdict {
                st.rejected.push((id, r));
                incl.entry(id).or_insert(past);
                continue;
            }
            match ctrl {
                Some((act, genesis, extra)) => {
                    let base = incl.get(&id).cloned().unwrap_or_else(|| past.clone());
                    let idx = judge.push(act, past.clone(), genesis);
                    match extra {
                        Extra::None => {}
                        Extra::Invite => {
                            invite_idx.insert(id, idx);
                        }
                        Extra::Join(invite) => {
                            joins.insert(id, (idx, author, invite));
                            join_time.insert(id, h.timestamp);
                        }
                        Extra::Admit(invite) => {
                            admit_invite.entry(invite).or_default().push(idx);
                        }
                        Extra::Remove(who, cut) => {
                            cuts.entry(who).or_default().push((cut, idx));
                            removal_idx.insert(id, idx);
                            valid_removals.push((id, who, cut));
                        }
                        Extra::Decision => book.marked(&id, idx),
                        Extra::DecidedRemoval(who, cut) => {
                            book.marked(&id, idx);
                            cuts.entry(who).or_default().push((cut, idx));
                            removal_idx.insert(id, idx);
                            valid_removals.push((id, who, cut));
                        }
                    }
                    let mut b = (*base).clone();
                    b.set(idx);
                    incl.insert(id, Rc::new(b));
                }
                None => {
                    incl.insert(id, past);
                }
            }
        }

        // The final point: every valid control event.
        let mut all = Bits::default();
        for i in 0..judge.ctrls.len() {
            all.set(i);
        }
        st.constitution = judge.constitution_at(&all).clone();
        let every: std::collections::HashSet<EventId> = links.keys().copied().collect();
        let (proposals, delegations, spent) = book.finish(&judge, &all, &every);
        st.proposals = proposals;
        st.delegations = delegations;
        st.spent = spent;
        let mut candidates: BTreeSet<PublicKey> = judge.admits.keys().copied().collect();
        candidates.extend(joins.values().map(|(_, a, _)| *a));
        for who in candidates {
            if judge.is_member(&who, &all) {
                let roles = st
                    .constitution
                    .roles
                    .iter()
                    .filter(|r| judge.has_role(&who, r, &all))
                    .cloned()
                    .collect();
                let admitted_by = judge
                    .live_admissions(&who, &all)
                    .filter_map(|a| match &judge.ctrls[a].act {
                        Act::Admit { by, .. } if *by != who => Some(*by),
                        _ => None,
                    })
                    .collect();
                st.members.insert(
                    who,
                    Member {
                        roles,
                        prekey: prekey_of.get(&who).copied(),
                        admitted_by,
                    },
                );
                st.removed.remove(&who);
            } else if !st.removed.contains_key(&who)
                // The join members should act on: one whose invite still has uses, and of
                // those the newcomer's latest (a fresh code after a used one).
                && let Some((jid, (_, _, invite))) = joins
                    .iter()
                    .filter(|(_, (_, a, _))| *a == who)
                    .max_by_key(|(j, (idx, _, invite))| {
                        let usable = st.invites.get(invite).is_some_and(|i| {
                            (i.used_by.len() as u64) < i.uses || i.used_by.contains(&who)
                        });
                        (usable, *idx, **j)
                    })
            {
                let vouches = judge
                    .live_admissions(&who, &all)
                    .filter_map(|a| match &judge.ctrls[a].act {
                        Act::Admit { by, .. } => Some(*by),
                        _ => None,
                    })
                    .collect();
                st.pending.insert(
                    who,
                    PendingJoin {
                        join: *jid,
                        invite: *invite,
                        vouches,
                        since: join_time.get(jid).copied().unwrap_or(0),
                    },
                );
            }
        }
        // Taint: an epoch known to anyone who is not a current member may not be written to.
        // Nor may one started without knowledge of a removal in force: the removed member may
        // have learnt it by paths no derived state sees (a history bundle handed over by a
        // member whose view differed), so after a removal only epochs started after it count.
        let in_force: Vec<usize> = valid_removals
            .iter()
            .filter(|(_, who, _)| !st.members.contains_key(who))
            .filter_map(|(rid, _, _)| removal_idx.get(rid).copied())
            .collect();
        for (id, e) in st.epochs.iter_mut() {
            if e.knowers.iter().any(|k| !st.members.contains_key(k)) {
                e.tainted = true;
            }
            let started_after = |r: &usize| epoch_past.get(id).is_some_and(|p| p.has(*r));
            if !in_force.iter().all(started_after) {
                e.tainted = true;
            }
        }
        let superseded: BTreeSet<EventId> = st
            .epochs
            .values()
            .flat_map(|e| e.prev.iter().copied())
            .collect();
        let st_created: BTreeMap<EventId, (u64, Vec<EventId>)> = st
            .epochs
            .iter()
            .map(|(id, e)| (*id, (e.created_at, e.prev.clone())))
            .collect();
        for (id, e) in st.epochs.iter_mut() {
            e.superseded = superseded.contains(id);
            e.superseded_at = st_created
                .iter()
                .filter(|(_, (_, prev))| prev.contains(id))
                .map(|(_, (at, _))| *at)
                .min();
        }
        (st, valid_removals)
    }
}

/// Records what a refused key share disclosed: its epoch stays known (so the members it was
/// sealed to can read what valid authors wrote under it before they learnt of the refusal) but
/// is void: refused and tainted, never written under again, superseding nothing.
fn void_share(
    st: &mut GroupState,
    id: EventId,
    author: PublicKey,
    (position, at): (usize, u64),
    share: &KeyShare,
) {
    let epoch_id = share.epoch.unwrap_or(id);
    if share.epoch.is_some() && !st.epochs.contains_key(&epoch_id) {
        return;
    }
    let owners: Vec<PublicKey> = share
        .seals
        .iter()
        .filter_map(|s| st.prekeys.get(&s.prekey).copied())
        .collect();
    let epoch = st.epochs.entry(epoch_id).or_insert_with(|| Epoch {
        creator: author,
        position,
        prev: share.prev.clone(),
        seals: Vec::new(),
        knowers: BTreeSet::new(),
        tainted: true,
        superseded: false,
        refused: true,
        created_at: at,
        superseded_at: None,
    });
    epoch.tainted = true;
    epoch.knowers.insert(author);
    epoch.knowers.extend(owners);
    epoch
        .seals
        .extend(share.seals.iter().map(|s| (id, s.prekey)));
}

/// Judges a key share and records its epoch and knowers.
fn apply_share(
    st: &mut GroupState,
    judge: &Judge,
    id: EventId,
    author: PublicKey,
    past: &Bits,
    (position, at): (usize, u64),
    share: KeyShare,
) -> Result<(), Refusal> {
    let epoch_id = share.epoch.unwrap_or(id);
    if share.epoch.is_some() && !st.epochs.contains_key(&epoch_id) {
        return Err(Refusal::UnknownEpoch(epoch_id));
    }
    let epoch = st.epochs.entry(epoch_id).or_insert_with(|| Epoch {
        creator: author,
        position,
        prev: share.prev.clone(),
        seals: Vec::new(),
        knowers: BTreeSet::from([author]),
        tainted: false,
        superseded: false,
        refused: false,
        created_at: at,
        superseded_at: None,
    });
    epoch.knowers.insert(author);
    let mut refusal = None;
    for seal in &share.seals {
        epoch.seals.push((id, seal.prekey));
        match st.prekeys.get(&seal.prekey) {
            Some(owner) => {
                epoch.knowers.insert(*owner);
                if !judge.is_member(owner, past) {
                    epoch.tainted = true;
                    refusal.get_or_insert(Refusal::SealedToNonMember(seal.prekey));
                }
            }
            None => {
                epoch.tainted = true;
                refusal.get_or_insert(Refusal::SealedToNonMember(seal.prekey));
            }
        }
    }
    match refusal {
        Some(r) => {
            if share.epoch.is_none() {
                epoch.refused = true;
            }
            Err(r)
        }
        None => Ok(()),
    }
}
