//! Why an event has no effect on its group: the one vocabulary of verdicts every domain uses,
//! so the UI can show each refusal with a reason a person can act on.

use std::fmt;

use dualpower_core::{EventId, PublicKey};

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
    /// A work act (task, sortition, mediation, vouch) its rules do not allow.
    Work {
        /// The act (`claim`, `confirm`, `volunteer`, …).
        act: &'static str,
        /// Why.
        why: String,
    },
    /// A mutual-aid act (offer, need, commitment, fulfilment, confirmation, cancellation) its
    /// rules do not allow.
    Aid {
        /// The act.
        act: &'static str,
        /// Why.
        why: String,
    },
    /// A ledger act (payment, invoice, limit) its rules do not allow.
    Credit {
        /// The act (`pay`, `invoice`, `limit`).
        act: &'static str,
        /// Why.
        why: String,
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
    /// A removal that claims to have seen fewer of the member's events than its own causal
    /// past holds (it would void events the remover had seen).
    CutBelowPast {
        /// The cut the removal names.
        seen: u64,
        /// How many of the member's events its causal past holds.
        past: u64,
    },
    /// The author signed two different events at one position of its log: from there on it
    /// has no vote and no authority in the group.
    Forked {
        /// The author.
        author: PublicKey,
        /// The seq of the fork.
        seq: u64,
    },
    /// A removal that cuts the author of a removal ranked before it (removals that cut each
    /// other are settled by seniority: a decision first, then the creator, then by the order
    /// of the grants that gave each remover its right).
    RemovalOverruled(EventId),
    /// A close by someone other than the author, after the deadline by the closer's own clock
    /// only: its causal past must hold an event of another member dated at or after it.
    NoDeadlineEvidence {
        /// The deadline (ms).
        deadline: u64,
    },
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
            Refusal::Work { act, why } | Refusal::Credit { act, why } | Refusal::Aid { act, why } => {
                write!(f, "{act} refused: {why}")
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
            Refusal::CutBelowPast { seen, past } => write!(
                f,
                "the removal says it saw {seen} of the member's events, but its own past holds {past}"
            ),
            Refusal::Forked { author, seq } => write!(
                f,
                "{author} forked its log at seq {seq} (two different events): from there on it has no vote or authority"
            ),
            Refusal::RemovalOverruled(r) => write!(
                f,
                "this removal and removal {r} cut each other; the senior remover's stands"
            ),
            Refusal::NoDeadlineEvidence { deadline } => write!(
                f,
                "no event of another member dated after the deadline ({deadline} ms) is in the close's past; wait for one, or let the author close"
            ),
        }
    }
}

fn hex_prefix(k: &[u8; 32]) -> String {
    k[..6].iter().map(|b| format!("{b:02x}")).collect()
}
