//! Typed event bodies.
//!
//! A body is canonical CBOR: a map whose key 0 is the payload kind and whose other keys are the
//! kind's fields, in ascending order. New kinds (membership, governance, tasks, reputation,
//! logistics) are added as new variants with new kind numbers; a node that does not know a kind
//! still stores, verifies and replicates the event and decodes it as [`Payload::Unknown`], so old
//! nodes never split the network. Known kinds are decoded strictly: unknown fields are an error.

use crate::aid::AidAct;
use crate::cbor::{Reader, Writer};
use crate::decision::{
    Ballot, MAX_TOPIC_BYTES, MAX_VOTE_REASON_BYTES, Method, Proposal, ProposalText, Ratio, Scope,
    Target,
};
use crate::event::{EventId, GroupId};
use crate::keys::PublicKey;
use crate::ledger::{CreditRules, LedgerAct};
use crate::work::{Work, WorkRules};

pub(crate) mod check;
pub(crate) use check::role_name;
pub use check::{
    DisplayNameError, MAX_DISPLAY_NAME_CHARS, MAX_ROLE_BYTES, PayloadError, display_name,
};

/// Longest group name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 200;
/// Longest post or comment text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 32 * 1024;
/// Longest reaction, in bytes of UTF-8 (an emoji or a short word).
pub const MAX_REACTION_BYTES: usize = 64;
const MAX_PAYLOAD_DEPTH: usize = 8;

/// Kind numbers. Never reuse a number.
mod kind {
    pub const GROUP_GENESIS: u64 = 1;
    pub const POST: u64 = 2;
    pub const COMMENT: u64 = 3;
    pub const REACTION: u64 = 4;
    pub const INVITE: u64 = 5;
    pub const JOIN: u64 = 6;
    pub const ADMIT: u64 = 7;
    pub const REMOVE: u64 = 8;
    pub const LEAVE: u64 = 9;
    pub const ROLE: u64 = 10;
    pub const AMEND: u64 = 11;
    pub const PREKEY: u64 = 12;
    pub const KEY_SHARE: u64 = 13;
    pub const DIRECT: u64 = 14;
    pub const PROPOSE: u64 = 15;
    pub const REVISE: u64 = 16;
    pub const OPEN_VOTING: u64 = 17;
    pub const WITHDRAW: u64 = 18;
    pub const VOTE: u64 = 19;
    pub const DELEGATE: u64 = 20;
    pub const CLOSE: u64 = 21;
    pub const ATTEST: u64 = 22;
    pub const MERGE: u64 = 23;
    pub const PROFILE: u64 = 24;
    pub const WORK: u64 = 25;
    pub const LEDGER: u64 = 26;
    pub const AID: u64 = 27;
    pub const REACH: u64 = 28;
}

/// Most addresses in one [`Payload::Reach`].
pub const MAX_REACH_ADDRS: usize = 4;
/// Longest address in a [`Payload::Reach`], in bytes (an I2P address is about 600).
pub const MAX_REACH_ADDR_BYTES: usize = 800;

/// Most seals in one key-share event (a rotation for a larger group spans several events).
pub const MAX_SEALS: usize = 500;
/// Most epochs a key share supersedes.
pub const MAX_PREV_EPOCHS: usize = 16;
/// Largest history bundle carried by a key share, in bytes.
pub const MAX_HISTORY_BYTES: usize = 8 * 1024;
/// Most roles a constitution names.
pub const MAX_ROLES: usize = 16;
/// Longest removal reason, in bytes.
pub const MAX_REASON_BYTES: usize = 500;

/// The content of an event body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Creates a group. Must be seq 0 of log 0 of its author, in the group its fields derive.
    GroupGenesis(Genesis),
    /// A top-level post.
    Post {
        /// The text.
        text: String,
    },
    /// A reply to a post or comment.
    Comment {
        /// The event replied to.
        parent: EventId,
        /// The text.
        text: String,
    },
    /// A reaction to an event (an emoji or short word).
    Reaction {
        /// The event reacted to.
        target: EventId,
        /// The reaction.
        reaction: String,
    },
    /// The author's display name in the group (their latest one counts). Written sealed under
    /// the group's epoch key like a post, so only members read it; the author is the signer, so
    /// nobody can name anyone but themselves.
    Profile {
        /// The name, as [`display_name`] accepts it.
        name: String,
    },
    /// Where the author's node can be reached (anonymous mode: its I2P address), so members'
    /// nodes can dial it without any directory; its latest one counts. Sealed under the
    /// group's epoch key like a post, so only members learn it.
    Reach {
        /// Multiaddresses, as text (1 to [`MAX_REACH_ADDRS`], each at most
        /// [`MAX_REACH_ADDR_BYTES`] bytes).
        addrs: Vec<String>,
    },
    /// Creates an invite: whoever holds the private half of `key` (handed out as an invite code)
    /// may ask to join until `expires`, at most `uses` different people.
    Invite {
        /// The invite's own ed25519 verification key (its secret half is in the invite code).
        key: PublicKey,
        /// Expiry, ms since the Unix epoch, compared with the admitting event's timestamp.
        expires: u64,
        /// How many different people may be admitted with it (1 = single use).
        uses: u64,
    },
    /// A request to join, written by the newcomer into its own log.
    Join {
        /// The invite event.
        invite: EventId,
        /// Signature by the invite key over [`join_proof_message`].
        proof: [u8; 64],
    },
    /// A member admits (or, under a k-vouches constitution, vouches for) a newcomer.
    Admit {
        /// The newcomer.
        member: PublicKey,
        /// The newcomer's join event.
        join: EventId,
    },
    /// Removes a member. Events of `member` at or above seq `seen` in its log 0 are rejected
    /// (the cut: what the remover had seen of it).
    Remove {
        /// Who is removed.
        member: PublicKey,
        /// Number of the removed member's events the remover had seen.
        seen: u64,
        /// Why (shown to members); may be empty.
        reason: String,
    },
    /// The author leaves the group; its later events are rejected.
    Leave,
    /// Grants or revokes a role named by the constitution.
    Role {
        /// Whose role.
        member: PublicKey,
        /// The role.
        role: String,
        /// Grant (true) or revoke (false).
        grant: bool,
    },
    /// Replaces the constitution; judged by the current one.
    Amend(Constitution),
    /// Publishes the author's current X25519 prekey for this group (older ones are superseded).
    Prekey {
        /// X25519 public key.
        key: [u8; 32],
        /// Proof that the author holds the key's private half: an XEdDSA-style signature by the
        /// prekey over [`prekey_proof_message`] (checked with
        /// [`crate::sig::verify_x25519_possession`]). Without it anyone could republish someone
        /// else's prekey and take its attribution.
        proof: [u8; 64],
    },
    /// Hands out an epoch secret, sealed to members' prekeys.
    KeyShare(KeyShare),
    /// A direct message (only ever inside an encrypted direct-message body).
    Direct {
        /// The recipient.
        to: PublicKey,
        /// The text.
        text: String,
    },
    /// Puts a proposal to the group (see [`crate::decision`]).
    Propose(Proposal),
    /// The author revises its proposal's text (only before voting opens).
    Revise {
        /// The proposal.
        proposal: EventId,
        /// The new text.
        text: ProposalText,
    },
    /// The author ends discussion and opens voting on the text it names.
    OpenVoting {
        /// The proposal.
        proposal: EventId,
        /// The proposal or revision event whose text is voted on.
        text: EventId,
    },
    /// The author withdraws its proposal.
    Withdraw {
        /// The proposal.
        proposal: EventId,
    },
    /// A vote; a later vote by the same member on the same proposal replaces it.
    Vote {
        /// The proposal.
        proposal: EventId,
        /// The ballot.
        ballot: Ballot,
        /// Why (required for a block; may be empty otherwise).
        reason: String,
    },
    /// Delegates (or stops delegating) the author's weight at a scope.
    Delegate {
        /// Where it applies.
        scope: Scope,
        /// To whom.
        target: Target,
    },
    /// Closes a proposal: what counts is exactly this event's causal past.
    Close {
        /// The proposal.
        proposal: EventId,
    },
    /// Co-signs a closed proposal's tally: the author's node recomputed the certificate and
    /// got this digest.
    Attest {
        /// The proposal.
        proposal: EventId,
        /// The certificate digest.
        digest: [u8; 32],
    },
    /// Says nothing but its deps: brings more events into the author's causal past than one
    /// event may cite (written before a close, so the close counts every vote its node holds).
    Merge,
    /// Tasks, rotating roles, mediation and vouches (see [`crate::work`]).
    Work(Work),
    /// Payments, invoices and credit limits of the group's ledger (see [`crate::ledger`]).
    Ledger(LedgerAct),
    /// Offers, needs, commitments and their fulfilment (see [`crate::aid`]).
    Aid(AidAct),
    /// A kind this node does not know (written by a newer version). Kept and replicated, ignored
    /// by derived state.
    Unknown {
        /// The kind number.
        kind: u64,
    },
}

/// The constitution-bearing first event of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// Human-readable name (not unique; the id is what identifies the group).
    pub name: String,
    /// Random bytes that make the group id unique.
    pub nonce: [u8; 16],
    /// The group's rules. Absent in the encoding means [`Constitution::default`].
    pub constitution: Constitution,
}

/// Who may do something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Any member.
    Member,
    /// Members holding this role.
    Role(String),
    /// Only by a collective decision (decisions are a later layer: until then, nobody).
    Vote,
}

/// How a newcomer is admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// One admission by a member allowed to invite, for a join made with a valid invite.
    Invite,
    /// `k` distinct members vouch (each with an admit event).
    Vouches(u64),
    /// By a collective decision (decisions are a later layer: until then, nobody).
    Vote,
}

/// A group's rules, fixed in its genesis and changed only by an [`Payload::Amend`] that the
/// current constitution allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constitution {
    /// Who may create invites.
    pub invite: Rule,
    /// How newcomers are admitted.
    pub admission: Admission,
    /// Who may remove members.
    pub removal: Rule,
    /// Who may amend the constitution and grant or revoke roles.
    pub amend: Rule,
    /// The roles that exist. The creator holds the first one.
    pub roles: Vec<String>,
    /// Whether newcomers receive the keys of earlier epochs (the group's history).
    pub history: bool,
    /// Members' nodes forget epoch keys this many days after the epoch was superseded (0 = keep).
    pub forget_after_days: u64,
    /// The method for decisions where a rule says `vote` (amendments, admissions, removals).
    pub vote: Method,
    /// Quadratic voting: voice credits each member has per period.
    pub credits: u64,
    /// Quadratic voting: the period's length in days (0 = a fresh budget per proposal).
    pub credit_period_days: u64,
    /// Consent: the share of agree among agree, disagree and block that overrides blocks
    /// (`None`: one block always stops a proposal).
    pub block_override: Option<Ratio>,
    /// Tasks, rotating roles and reputation (field 12, left out at its default).
    pub work: WorkRules,
    /// The mutual-credit ledger (field 13, left out at its default).
    pub credit: CreditRules,
    /// Members reach each other only over I2P (anonymous mode): a node that is not in
    /// anonymous mode does not sync the group with anyone (field 14, left out when false).
    pub anonymous: bool,
}

/// Default voice credits per member per period.
pub const DEFAULT_CREDITS: u64 = 100;
/// Default quadratic-voting period, in days.
pub const DEFAULT_CREDIT_PERIOD_DAYS: u64 = 30;

impl Default for Constitution {
    fn default() -> Self {
        Constitution {
            invite: Rule::Member,
            admission: Admission::Invite,
            removal: Rule::Role("admin".into()),
            amend: Rule::Role("admin".into()),
            roles: vec!["admin".into(), "moderator".into()],
            history: true,
            forget_after_days: 0,
            vote: Method::default(),
            credits: DEFAULT_CREDITS,
            credit_period_days: DEFAULT_CREDIT_PERIOD_DAYS,
            block_override: None,
            work: WorkRules::default(),
            credit: CreditRules::default(),
            anonymous: false,
        }
    }
}

impl Rule {
    /// The text form: `member`, `role:NAME` or `vote`.
    pub fn to_text(&self) -> String {
        match self {
            Rule::Member => "member".into(),
            Rule::Role(r) => format!("role:{r}"),
            Rule::Vote => "vote".into(),
        }
    }
    /// Parses the text form.
    pub fn parse(s: &str) -> Result<Rule, PayloadError> {
        match s {
            "member" => Ok(Rule::Member),
            "vote" => Ok(Rule::Vote),
            _ => match s.strip_prefix("role:") {
                Some(r) => Ok(Rule::Role(role_name(r)?)),
                None => Err(PayloadError::Invalid(format!(
                    "rule `{s}` is not `member`, `role:NAME` or `vote`"
                ))),
            },
        }
    }
}

impl Admission {
    /// The text form: `invite`, `vouches:K` or `vote`.
    pub fn to_text(&self) -> String {
        match self {
            Admission::Invite => "invite".into(),
            Admission::Vouches(k) => format!("vouches:{k}"),
            Admission::Vote => "vote".into(),
        }
    }
    /// Parses the text form.
    pub fn parse(s: &str) -> Result<Admission, PayloadError> {
        match s {
            "invite" => Ok(Admission::Invite),
            "vote" => Ok(Admission::Vote),
            _ => match s
                .strip_prefix("vouches:")
                .and_then(|k| k.parse::<u64>().ok())
            {
                Some(k) if (1..=1000).contains(&k) => Ok(Admission::Vouches(k)),
                _ => Err(PayloadError::Invalid(format!(
                    "admission `{s}` is not `invite`, `vouches:K` (1 ≤ K ≤ 1000) or `vote`"
                ))),
            },
        }
    }
}

impl Constitution {
    fn encode(&self, w: &mut Writer) {
        // Fields 8–11 came with decisions; each is left out at its default, so constitutions
        // written before them keep their encoding.
        let d = Constitution::default();
        let vote = self.vote != d.vote;
        let credits = self.credits != d.credits;
        let period = self.credit_period_days != d.credit_period_days;
        let work = self.work != d.work;
        let credit = self.credit != d.credit;
        let extra = [
            vote,
            credits,
            period,
            self.block_override.is_some(),
            work,
            credit,
            self.anonymous,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        w.map(7 + extra)
            .uint(1)
            .text(&self.invite.to_text())
            .uint(2)
            .text(&self.admission.to_text())
            .uint(3)
            .text(&self.removal.to_text())
            .uint(4)
            .text(&self.amend.to_text())
            .uint(5)
            .array(self.roles.len());
        for r in &self.roles {
            w.text(r);
        }
        w.uint(6)
            .bool(self.history)
            .uint(7)
            .uint(self.forget_after_days);
        if vote {
            w.uint(8);
            self.vote.encode(w);
        }
        if credits {
            w.uint(9).uint(self.credits);
        }
        if period {
            w.uint(10).uint(self.credit_period_days);
        }
        if let Some(r) = &self.block_override {
            w.uint(11).text(&r.to_string());
        }
        if work {
            w.uint(12);
            self.work.encode(w);
        }
        if credit {
            w.uint(13);
            self.credit.encode(w);
        }
        if self.anonymous {
            w.uint(14).bool(true);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Constitution, PayloadError> {
        let n = r.map("constitution", 14)?;
        if n < 7 {
            return Err(PayloadError::Invalid(format!(
                "constitution has {n} fields, not 7 to 13"
            )));
        }
        let text = |r: &mut Reader<'_>, key: u64, what: &'static str| {
            let k = r.key(Some(key - 1).filter(|_| key > 1))?;
            if k != key {
                return Err(PayloadError::MissingField {
                    kind: kind::GROUP_GENESIS,
                    field: what,
                });
            }
            Ok::<String, PayloadError>(r.text(what, 64)?.to_owned())
        };
        let invite = Rule::parse(&text(r, 1, "invite")?)?;
        let admission = Admission::parse(&text(r, 2, "admission")?)?;
        let removal = Rule::parse(&text(r, 3, "removal")?)?;
        let amend = Rule::parse(&text(r, 4, "amend")?)?;
        if r.key(Some(4))? != 5 {
            return Err(PayloadError::MissingField {
                kind: kind::GROUP_GENESIS,
                field: "roles",
            });
        }
        let count = r.array("roles", MAX_ROLES)?;
        let mut roles = Vec::with_capacity(count);
        for _ in 0..count {
            let role = role_name(r.text("role", MAX_ROLE_BYTES)?)?;
            if roles.contains(&role) {
                return Err(PayloadError::Invalid(format!("role `{role}` named twice")));
            }
            roles.push(role);
        }
        r.leave();
        if r.key(Some(5))? != 6 {
            return Err(PayloadError::MissingField {
                kind: kind::GROUP_GENESIS,
                field: "history",
            });
        }
        let history = r.bool()?;
        if r.key(Some(6))? != 7 {
            return Err(PayloadError::MissingField {
                kind: kind::GROUP_GENESIS,
                field: "forget_after_days",
            });
        }
        let forget_after_days = r.uint()?;
        let d = Constitution::default();
        let (mut vote, mut credits, mut period, mut block_override) =
            (d.vote.clone(), d.credits, d.credit_period_days, None);
        let mut work = d.work.clone();
        let mut credit = d.credit.clone();
        let mut anonymous = false;
        let mut prev = 7;
        for _ in 7..n {
            let k = r.key(Some(prev))?;
            prev = k;
            let default = match k {
                8 => {
                    vote = Method::decode(r)?;
                    vote == d.vote
                }
                9 => {
                    credits = r.uint()?;
                    if credits == 0 || credits > 1_000_000 {
                        return Err(PayloadError::Invalid(
                            "voice credits must be 1 to 1000000".into(),
                        ));
                    }
                    credits == d.credits
                }
                10 => {
                    period = r.uint()?;
                    if period > 3650 {
                        return Err(PayloadError::Invalid(
                            "credit period is at most 3650 days".into(),
                        ));
                    }
                    period == d.credit_period_days
                }
                11 => {
                    let t = r.text("block override", 32)?;
                    let ratio = Ratio::parse(t)?;
                    if ratio.to_string() != t {
                        return Err(PayloadError::Invalid(format!(
                            "block override `{t}` is not canonical"
                        )));
                    }
                    block_override = Some(ratio);
                    false
                }
                12 => {
                    work = WorkRules::decode(r)?;
                    work == d.work
                }
                13 => {
                    credit = CreditRules::decode(r)?;
                    credit == d.credit
                }
                14 => {
                    anonymous = r.bool()?;
                    !anonymous
                }
                other => {
                    return Err(PayloadError::UnknownField {
                        kind: kind::GROUP_GENESIS,
                        field: other,
                    });
                }
            };
            if default {
                return Err(PayloadError::Invalid(format!(
                    "constitution field {k} holds its default; leave it out"
                )));
            }
        }
        r.leave();
        let c = Constitution {
            invite,
            admission,
            removal,
            amend,
            roles,
            history,
            forget_after_days,
            vote,
            credits,
            credit_period_days: period,
            block_override,
            work,
            credit,
            anonymous,
        };
        c.check()?;
        Ok(c)
    }

    /// Checks that every rule names a role that exists.
    pub fn check(&self) -> Result<(), PayloadError> {
        if let Some(r) = self
            .work
            .rotations
            .iter()
            .find(|r| !self.roles.contains(&r.role))
        {
            return Err(PayloadError::Invalid(format!(
                "role `{}` rotates, but the constitution does not define it",
                r.role
            )));
        }
        for rule in [
            &self.invite,
            &self.removal,
            &self.amend,
            &self.work.tasks,
            &self.credit.limits,
        ] {
            if let Rule::Role(r) = rule
                && !self.roles.contains(r)
            {
                return Err(PayloadError::Invalid(format!(
                    "rule names role `{r}`, which the constitution does not define"
                )));
            }
        }
        Ok(())
    }
}

/// One epoch secret sealed (HPKE) to one prekey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    /// The recipient's X25519 prekey (as published in its prekey event).
    pub prekey: [u8; 32],
    /// HPKE encapsulated key.
    pub enc: [u8; 32],
    /// HPKE ciphertext of the 32-byte secret.
    pub ct: [u8; 48],
}

/// An epoch secret handed out to members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyShare {
    /// `None`: this event starts a new epoch (its id is the epoch's id). `Some(e)`: more seals
    /// of the existing epoch `e` (for newcomers, or the rest of a large rotation).
    pub epoch: Option<EventId>,
    /// Epochs the new one supersedes (only for a new epoch; ascending).
    pub prev: Vec<EventId>,
    /// The secret sealed to each recipient's prekey.
    pub seals: Vec<Seal>,
    /// Earlier epochs' secrets, encrypted under this epoch (empty = none).
    pub history: Vec<u8>,
    /// Other epochs' governance keys, encrypted under this epoch's governance key (empty =
    /// none). Every member walks this chain back to the
    /// group's first epoch, so every member can read and recount every decision whatever the
    /// group's history and forgetting rules say about posts.
    pub gov: Vec<u8>,
    /// A check of this epoch's governance key (a one-way hash of it), set by the share that
    /// starts the epoch: a governance key of this epoch that another member hands down is taken
    /// only if it matches, so a member cannot blind newcomers with a wrong key.
    pub gov_check: Option<[u8; 32]>,
}

/// The message an invite key signs to let `joiner` join `group` (see [`Payload::Join`]).
pub fn join_proof_message(
    network: &crate::NetworkId,
    group: &GroupId,
    joiner: &PublicKey,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(120);
    m.extend_from_slice(b"dualpower/join/v1\0");
    m.extend_from_slice(&network.0);
    m.extend_from_slice(&group.0);
    m.extend_from_slice(&joiner.0);
    m
}

/// The message a prekey signs to prove that `author` holds it when publishing it in `group` (see
/// [`Payload::Prekey`]). It names the author, so a proof copied into another member's prekey
/// event does not verify.
pub fn prekey_proof_message(
    network: &crate::NetworkId,
    group: &GroupId,
    author: &PublicKey,
    key: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(150);
    m.extend_from_slice(b"dualpower/prekey/v1\0");
    m.extend_from_slice(&network.0);
    m.extend_from_slice(&group.0);
    m.extend_from_slice(&author.0);
    m.extend_from_slice(key);
    m
}

impl Genesis {
    /// The group id this genesis creates when `creator` signs it: nobody else can produce a valid
    /// genesis for the same id.
    pub fn group_id(&self, creator: &PublicKey) -> GroupId {
        let mut h = blake3::Hasher::new_derive_key("dualpower group id v1");
        h.update(&creator.0);
        h.update(&self.nonce);
        GroupId(*h.finalize().as_bytes())
    }
}

impl Payload {
    /// Canonical CBOR of the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        match self {
            Payload::GroupGenesis(g) => {
                // The default constitution is the absent field, so a value has one encoding.
                let default = g.constitution == Constitution::default();
                w.map(if default { 3 } else { 4 })
                    .uint(0)
                    .uint(kind::GROUP_GENESIS)
                    .uint(1)
                    .text(&g.name)
                    .uint(2)
                    .bytes(&g.nonce);
                if !default {
                    w.uint(3);
                    g.constitution.encode(&mut w);
                }
            }
            Payload::Invite { key, expires, uses } => {
                w.map(4)
                    .uint(0)
                    .uint(kind::INVITE)
                    .uint(1)
                    .bytes(&key.0)
                    .uint(2)
                    .uint(*expires)
                    .uint(3)
                    .uint(*uses);
            }
            Payload::Join { invite, proof } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::JOIN)
                    .uint(1)
                    .bytes(&invite.0)
                    .uint(2)
                    .bytes(proof);
            }
            Payload::Admit { member, join } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::ADMIT)
                    .uint(1)
                    .bytes(&member.0)
                    .uint(2)
                    .bytes(&join.0);
            }
            Payload::Remove {
                member,
                seen,
                reason,
            } => {
                w.map(4)
                    .uint(0)
                    .uint(kind::REMOVE)
                    .uint(1)
                    .bytes(&member.0)
                    .uint(2)
                    .uint(*seen)
                    .uint(3)
                    .text(reason);
            }
            Payload::Leave => {
                w.map(1).uint(0).uint(kind::LEAVE);
            }
            Payload::Direct { to, text } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::DIRECT)
                    .uint(1)
                    .bytes(&to.0)
                    .uint(2)
                    .text(text);
            }
            Payload::Role {
                member,
                role,
                grant,
            } => {
                w.map(4)
                    .uint(0)
                    .uint(kind::ROLE)
                    .uint(1)
                    .bytes(&member.0)
                    .uint(2)
                    .text(role)
                    .uint(3)
                    .bool(*grant);
            }
            Payload::Amend(c) => {
                w.map(2).uint(0).uint(kind::AMEND).uint(1);
                c.encode(&mut w);
            }
            Payload::Prekey { key, proof } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::PREKEY)
                    .uint(1)
                    .bytes(key)
                    .uint(2)
                    .bytes(proof);
            }
            Payload::KeyShare(k) => {
                let n = 5 + usize::from(!k.gov.is_empty()) + usize::from(k.gov_check.is_some());
                w.map(n).uint(0).uint(kind::KEY_SHARE).uint(1);
                match &k.epoch {
                    Some(e) => w.bytes(&e.0),
                    None => w.null(),
                };
                w.uint(2).array(k.prev.len());
                for p in &k.prev {
                    w.bytes(&p.0);
                }
                w.uint(3).array(k.seals.len());
                for s in &k.seals {
                    w.array(3).bytes(&s.prekey).bytes(&s.enc).bytes(&s.ct);
                }
                w.uint(4).bytes(&k.history);
                if !k.gov.is_empty() {
                    w.uint(5).bytes(&k.gov);
                }
                if let Some(c) = &k.gov_check {
                    w.uint(6).bytes(c);
                }
            }
            Payload::Post { text } => {
                w.map(2).uint(0).uint(kind::POST).uint(1).text(text);
            }
            Payload::Comment { parent, text } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::COMMENT)
                    .uint(1)
                    .bytes(&parent.0)
                    .uint(2)
                    .text(text);
            }
            Payload::Reaction { target, reaction } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::REACTION)
                    .uint(1)
                    .bytes(&target.0)
                    .uint(2)
                    .text(reaction);
            }
            Payload::Propose(p) => {
                w.map(8).uint(0).uint(kind::PROPOSE).uint(1);
                p.text.encode(&mut w);
                w.uint(2);
                p.method.encode(&mut w);
                w.uint(3)
                    .text(&p.electorate.to_text())
                    .uint(4)
                    .text(&p.topic)
                    .uint(5)
                    .bool(p.voting)
                    .uint(6)
                    .uint(p.deadline)
                    .uint(7)
                    .bytes(&p.action);
            }
            Payload::Revise { proposal, text } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::REVISE)
                    .uint(1)
                    .bytes(&proposal.0)
                    .uint(2);
                text.encode(&mut w);
            }
            Payload::OpenVoting { proposal, text } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::OPEN_VOTING)
                    .uint(1)
                    .bytes(&proposal.0)
                    .uint(2)
                    .bytes(&text.0);
            }
            Payload::Withdraw { proposal } => {
                w.map(2)
                    .uint(0)
                    .uint(kind::WITHDRAW)
                    .uint(1)
                    .bytes(&proposal.0);
            }
            Payload::Vote {
                proposal,
                ballot,
                reason,
            } => {
                w.map(4)
                    .uint(0)
                    .uint(kind::VOTE)
                    .uint(1)
                    .bytes(&proposal.0)
                    .uint(2);
                ballot.encode(&mut w);
                w.uint(3).text(reason);
            }
            Payload::Delegate { scope, target } => {
                w.map(3).uint(0).uint(kind::DELEGATE).uint(1);
                scope.encode(&mut w);
                w.uint(2);
                target.encode(&mut w);
            }
            Payload::Close { proposal } => {
                w.map(2)
                    .uint(0)
                    .uint(kind::CLOSE)
                    .uint(1)
                    .bytes(&proposal.0);
            }
            Payload::Attest { proposal, digest } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::ATTEST)
                    .uint(1)
                    .bytes(&proposal.0)
                    .uint(2)
                    .bytes(digest);
            }
            Payload::Profile { name } => {
                w.map(2).uint(0).uint(kind::PROFILE).uint(1).text(name);
            }
            Payload::Reach { addrs } => {
                w.map(2)
                    .uint(0)
                    .uint(kind::REACH)
                    .uint(1)
                    .array(addrs.len());
                for a in addrs {
                    w.text(a);
                }
            }
            Payload::Merge => {
                w.map(1).uint(0).uint(kind::MERGE);
            }
            Payload::Work(work) => {
                w.map(2).uint(0).uint(kind::WORK).uint(1);
                work.encode(&mut w);
            }
            Payload::Ledger(act) => {
                w.map(2).uint(0).uint(kind::LEDGER).uint(1);
                act.encode(&mut w);
            }
            Payload::Aid(act) => {
                w.map(2).uint(0).uint(kind::AID).uint(1);
                act.encode(&mut w);
            }
            Payload::Unknown { kind } => {
                w.map(1).uint(0).uint(*kind);
            }
        }
        w.into_bytes()
    }

    /// Strictly decodes a body.
    pub fn decode(body: &[u8]) -> Result<Payload, PayloadError> {
        let mut r = Reader::new(body, MAX_PAYLOAD_DEPTH);
        let pairs = r.map("payload", 64)?;
        if pairs == 0 {
            return Err(PayloadError::MissingField {
                kind: 0,
                field: "kind",
            });
        }
        let k0 = r.key(None)?;
        if k0 != 0 {
            return Err(PayloadError::MissingField {
                kind: 0,
                field: "kind",
            });
        }
        let kind = r.uint()?;
        let mut fields = Fields {
            r,
            kind,
            left: pairs - 1,
            prev: 0,
        };
        let payload = match kind {
            kind::GROUP_GENESIS => {
                let name = fields.text(1, "name", MAX_NAME_BYTES)?;
                let nonce = fields.expect(2, "nonce")?.bytes_n::<16>("nonce")?;
                let constitution = match fields.opt(3)? {
                    Some(r) => {
                        let c = Constitution::decode(r)?;
                        if c == Constitution::default() {
                            return Err(PayloadError::Invalid(
                                "the default constitution is encoded by leaving it out".into(),
                            ));
                        }
                        c
                    }
                    None => Constitution::default(),
                };
                Payload::GroupGenesis(Genesis {
                    name,
                    nonce,
                    constitution,
                })
            }
            kind::INVITE => {
                let key = PublicKey(fields.expect(1, "key")?.bytes_n::<32>("key")?);
                let expires = fields.expect(2, "expires")?.uint()?;
                let uses = fields.expect(3, "uses")?.uint()?;
                if uses == 0 {
                    return Err(PayloadError::Invalid(
                        "an invite must allow at least one use".into(),
                    ));
                }
                Payload::Invite { key, expires, uses }
            }
            kind::JOIN => Payload::Join {
                invite: EventId(fields.expect(1, "invite")?.bytes_n::<32>("invite")?),
                proof: fields.expect(2, "proof")?.bytes_n::<64>("proof")?,
            },
            kind::ADMIT => Payload::Admit {
                member: PublicKey(fields.expect(1, "member")?.bytes_n::<32>("member")?),
                join: EventId(fields.expect(2, "join")?.bytes_n::<32>("join")?),
            },
            kind::REMOVE => Payload::Remove {
                member: PublicKey(fields.expect(1, "member")?.bytes_n::<32>("member")?),
                seen: fields.expect(2, "seen")?.uint()?,
                reason: fields
                    .expect(3, "reason")?
                    .text("reason", MAX_REASON_BYTES)?
                    .to_owned(),
            },
            kind::LEAVE => Payload::Leave,
            kind::DIRECT => Payload::Direct {
                to: PublicKey(fields.expect(1, "to")?.bytes_n::<32>("to")?),
                text: fields.text(2, "text", MAX_TEXT_BYTES)?,
            },
            kind::ROLE => Payload::Role {
                member: PublicKey(fields.expect(1, "member")?.bytes_n::<32>("member")?),
                role: role_name(fields.expect(2, "role")?.text("role", MAX_ROLE_BYTES)?)?,
                grant: fields.expect(3, "grant")?.bool()?,
            },
            kind::AMEND => Payload::Amend(Constitution::decode(fields.expect(1, "constitution")?)?),
            kind::PREKEY => Payload::Prekey {
                key: fields.expect(1, "key")?.bytes_n::<32>("key")?,
                proof: fields.expect(2, "proof")?.bytes_n::<64>("proof")?,
            },
            kind::KEY_SHARE => {
                let r = fields.expect(1, "epoch")?;
                let epoch = r.opt_bytes32("epoch")?.map(EventId);
                let r = fields.expect(2, "prev")?;
                let n = r.array("prev", MAX_PREV_EPOCHS)?;
                let mut prev: Vec<EventId> = Vec::with_capacity(n);
                for _ in 0..n {
                    let e = EventId(r.bytes_n::<32>("prev")?);
                    if prev.last().is_some_and(|l| *l >= e) {
                        return Err(PayloadError::Invalid(
                            "superseded epochs must be strictly ascending".into(),
                        ));
                    }
                    prev.push(e);
                }
                r.leave();
                if epoch.is_some() && !prev.is_empty() {
                    return Err(PayloadError::Invalid(
                        "more seals of an existing epoch cannot supersede epochs".into(),
                    ));
                }
                let r = fields.expect(3, "seals")?;
                let n = r.array("seals", MAX_SEALS)?;
                let mut seals = Vec::with_capacity(n);
                for _ in 0..n {
                    if r.array("seal", 3)? != 3 {
                        return Err(PayloadError::Invalid("a seal has three fields".into()));
                    }
                    seals.push(Seal {
                        prekey: r.bytes_n::<32>("prekey")?,
                        enc: r.bytes_n::<32>("enc")?,
                        ct: r.bytes_n::<48>("ct")?,
                    });
                    r.leave();
                }
                r.leave();
                let history = fields
                    .expect(4, "history")?
                    .bytes("history", MAX_HISTORY_BYTES)?
                    .to_vec();
                // Absent when empty (one encoding per value).
                let gov = match fields.opt(5)? {
                    Some(r) => match r.bytes("gov", MAX_HISTORY_BYTES)? {
                        [] => return Err(PayloadError::Empty("gov")),
                        b => b.to_vec(),
                    },
                    None => Vec::new(),
                };
                let gov_check = match fields.opt(6)? {
                    Some(r) => Some(r.bytes_n::<32>("gov_check")?),
                    None => None,
                };
                if gov_check.is_some() && epoch.is_some() {
                    return Err(PayloadError::Invalid(
                        "only a share that starts an epoch checks its governance key".into(),
                    ));
                }
                Payload::KeyShare(KeyShare {
                    epoch,
                    prev,
                    seals,
                    history,
                    gov,
                    gov_check,
                })
            }
            kind::POST => Payload::Post {
                text: fields.text(1, "text", MAX_TEXT_BYTES)?,
            },
            kind::COMMENT => {
                let parent = EventId(fields.expect(1, "parent")?.bytes_n::<32>("parent")?);
                let text = fields.text(2, "text", MAX_TEXT_BYTES)?;
                Payload::Comment { parent, text }
            }
            kind::REACTION => {
                let target = EventId(fields.expect(1, "target")?.bytes_n::<32>("target")?);
                let reaction = fields.text(2, "reaction", MAX_REACTION_BYTES)?;
                Payload::Reaction { target, reaction }
            }
            kind::PROPOSE => {
                let text = ProposalText::decode(fields.expect(1, "text")?)?;
                let method = Method::decode(fields.expect(2, "method")?)?;
                let electorate = crate::decision::Electorate::parse(
                    fields.expect(3, "electorate")?.text("electorate", 64)?,
                )?;
                let topic = fields
                    .expect(4, "topic")?
                    .text("topic", MAX_TOPIC_BYTES)?
                    .to_owned();
                let voting = fields.expect(5, "voting")?.bool()?;
                let deadline = fields.expect(6, "deadline")?.uint()?;
                let action = fields.expect(7, "action")?.bytes("action", 4096)?.to_vec();
                let p = Proposal {
                    text,
                    method,
                    electorate,
                    topic,
                    voting,
                    deadline,
                    action,
                };
                p.check()?;
                Payload::Propose(p)
            }
            kind::REVISE => Payload::Revise {
                proposal: EventId(fields.expect(1, "proposal")?.bytes_n::<32>("proposal")?),
                text: ProposalText::decode(fields.expect(2, "text")?)?,
            },
            kind::OPEN_VOTING => Payload::OpenVoting {
                proposal: EventId(fields.expect(1, "proposal")?.bytes_n::<32>("proposal")?),
                text: EventId(fields.expect(2, "text")?.bytes_n::<32>("text")?),
            },
            kind::WITHDRAW => Payload::Withdraw {
                proposal: EventId(fields.expect(1, "proposal")?.bytes_n::<32>("proposal")?),
            },
            kind::VOTE => Payload::Vote {
                proposal: EventId(fields.expect(1, "proposal")?.bytes_n::<32>("proposal")?),
                ballot: Ballot::decode(fields.expect(2, "ballot")?)?,
                reason: fields
                    .expect(3, "reason")?
                    .text("reason", MAX_VOTE_REASON_BYTES)?
                    .to_owned(),
            },
            kind::DELEGATE => Payload::Delegate {
                scope: Scope::decode(fields.expect(1, "scope")?)?,
                target: Target::decode(fields.expect(2, "target")?)?,
            },
            kind::CLOSE => Payload::Close {
                proposal: EventId(fields.expect(1, "proposal")?.bytes_n::<32>("proposal")?),
            },
            kind::MERGE => Payload::Merge,
            kind::WORK => Payload::Work(Work::decode(fields.expect(1, "work")?)?),
            kind::LEDGER => Payload::Ledger(LedgerAct::decode(fields.expect(1, "ledger")?)?),
            kind::AID => Payload::Aid(AidAct::decode(fields.expect(1, "aid")?)?),
            kind::REACH => {
                let r = fields.expect(1, "addrs")?;
                let n = r.array("addrs", MAX_REACH_ADDRS)?;
                if n == 0 {
                    return Err(PayloadError::Empty("addrs"));
                }
                let mut addrs = Vec::with_capacity(n);
                for _ in 0..n {
                    addrs.push(r.text("addr", MAX_REACH_ADDR_BYTES)?.to_owned());
                }
                r.leave();
                Payload::Reach { addrs }
            }
            kind::PROFILE => {
                let name = fields
                    .expect(1, "name")?
                    .text("name", check::MAX_DISPLAY_NAME_BYTES)?;
                display_name(name)?;
                Payload::Profile {
                    name: name.to_owned(),
                }
            }
            kind::ATTEST => Payload::Attest {
                proposal: EventId(fields.expect(1, "proposal")?.bytes_n::<32>("proposal")?),
                digest: fields.expect(2, "digest")?.bytes_n::<32>("digest")?,
            },
            other => {
                // A newer kind: we cannot check its fields, only that the whole body is
                // canonical CBOR within our depth bound.
                while fields.left > 0 {
                    let k = fields.r.key(Some(fields.prev))?;
                    fields.prev = k;
                    fields.r.skip()?;
                    fields.left -= 1;
                }
                Payload::Unknown { kind: other }
            }
        };
        if fields.left > 0 {
            let field = fields.r.key(Some(fields.prev))?;
            return Err(PayloadError::UnknownField { kind, field });
        }
        fields.r.leave();
        fields.r.finish()?;
        Ok(payload)
    }

    /// A short name of the kind, for logs and the CLI.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Payload::GroupGenesis(_) => "group-genesis",
            Payload::Post { .. } => "post",
            Payload::Comment { .. } => "comment",
            Payload::Reaction { .. } => "reaction",
            Payload::Invite { .. } => "invite",
            Payload::Join { .. } => "join",
            Payload::Admit { .. } => "admit",
            Payload::Remove { .. } => "remove",
            Payload::Leave => "leave",
            Payload::Direct { .. } => "direct",
            Payload::Role { .. } => "role",
            Payload::Amend(_) => "amend",
            Payload::Prekey { .. } => "prekey",
            Payload::KeyShare(_) => "key-share",
            Payload::Propose(_) => "propose",
            Payload::Revise { .. } => "revise",
            Payload::OpenVoting { .. } => "open-voting",
            Payload::Withdraw { .. } => "withdraw",
            Payload::Vote { .. } => "vote",
            Payload::Delegate { .. } => "delegate",
            Payload::Close { .. } => "close",
            Payload::Attest { .. } => "attest",
            Payload::Merge => "merge",
            Payload::Work(w) => w.name(),
            Payload::Ledger(a) => a.name(),
            Payload::Aid(a) => a.name(),
            Payload::Profile { .. } => "profile",
            Payload::Reach { .. } => "reach",
            Payload::Unknown { .. } => "unknown",
        }
    }
}

struct Fields<'a> {
    r: Reader<'a>,
    kind: u64,
    left: usize,
    prev: u64,
}

impl<'a> Fields<'a> {
    fn expect(&mut self, key: u64, field: &'static str) -> Result<&mut Reader<'a>, PayloadError> {
        let missing = PayloadError::MissingField {
            kind: self.kind,
            field,
        };
        if self.left == 0 {
            return Err(missing);
        }
        let save = self.r.clone();
        let k = self.r.key(Some(self.prev))?;
        if k > key {
            self.r = save;
            return Err(missing);
        }
        if k < key {
            return Err(PayloadError::UnknownField {
                kind: self.kind,
                field: k,
            });
        }
        self.prev = k;
        self.left -= 1;
        Ok(&mut self.r)
    }

    /// The field `key` if it is the next one present.
    fn opt(&mut self, key: u64) -> Result<Option<&mut Reader<'a>>, PayloadError> {
        if self.left == 0 {
            return Ok(None);
        }
        let save = self.r.clone();
        let k = self.r.key(Some(self.prev))?;
        self.r = save;
        if k != key {
            return Ok(None);
        }
        self.expect(key, "optional").map(Some)
    }

    fn text(&mut self, key: u64, field: &'static str, max: usize) -> Result<String, PayloadError> {
        let t = self.expect(key, field)?.text(field, max)?;
        if t.trim().is_empty() {
            return Err(PayloadError::Empty(field));
        }
        Ok(t.to_owned())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn anonymous_only_round_trips_and_false_is_left_out() {
        use crate::cbor::Writer;
        let c = Constitution {
            anonymous: true,
            ..Constitution::default()
        };
        let mut w = Writer::default();
        c.encode(&mut w);
        let bytes = w.into_bytes();
        let mut r = crate::cbor::Reader::new(&bytes, 8);
        assert_eq!(Constitution::decode(&mut r), Ok(c));
        // The default constitution keeps its encoding (no field 14).
        let mut w = Writer::default();
        Constitution::default().encode(&mut w);
        let plain = w.into_bytes();
        assert_eq!(plain.len() + 2, bytes.len(), "only `14: true` is added");
        // A written `false` is a second encoding of the default: refused.
        let mut forged = bytes.clone();
        let last = forged.len() - 1;
        forged[last] = 0xf4;
        let mut r = crate::cbor::Reader::new(&forged, 8);
        assert!(Constitution::decode(&mut r).is_err());
    }

    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let all = [
            Payload::GroupGenesis(Genesis {
                name: "Tenants of 5th St".into(),
                nonce: [9; 16],
                constitution: Constitution::default(),
            }),
            Payload::GroupGenesis(Genesis {
                name: "Strike committee".into(),
                nonce: [8; 16],
                constitution: Constitution {
                    invite: Rule::Role("organiser".into()),
                    admission: Admission::Vouches(2),
                    removal: Rule::Vote,
                    amend: Rule::Member,
                    roles: vec!["organiser".into()],
                    history: false,
                    forget_after_days: 30,
                    ..Constitution::default()
                },
            }),
            Payload::Invite {
                key: PublicKey([3; 32]),
                expires: 1_800_000_000_000,
                uses: 1,
            },
            Payload::Join {
                invite: EventId([4; 32]),
                proof: [5; 64],
            },
            Payload::Admit {
                member: PublicKey([6; 32]),
                join: EventId([7; 32]),
            },
            Payload::Remove {
                member: PublicKey([6; 32]),
                seen: 12,
                reason: String::new(),
            },
            Payload::Leave,
            Payload::Direct {
                to: PublicKey([6; 32]),
                text: "see you at the picket".into(),
            },
            Payload::Role {
                member: PublicKey([6; 32]),
                role: "moderator".into(),
                grant: true,
            },
            Payload::Amend(Constitution::default()),
            Payload::Prekey {
                key: [9; 32],
                proof: [8; 64],
            },
            Payload::KeyShare(KeyShare {
                epoch: None,
                prev: vec![EventId([1; 32]), EventId([2; 32])],
                seals: vec![Seal {
                    prekey: [1; 32],
                    enc: [2; 32],
                    ct: [3; 48],
                }],
                history: vec![1, 2, 3],
                gov: vec![4, 5],
                gov_check: Some([6; 32]),
            }),
            Payload::KeyShare(KeyShare {
                epoch: Some(EventId([1; 32])),
                prev: vec![],
                seals: vec![],
                history: vec![],
                gov: vec![],
                gov_check: None,
            }),
            Payload::Post {
                text: "rent strike meeting tonight".into(),
            },
            Payload::Comment {
                parent: EventId([1; 32]),
                text: "I'll bring food".into(),
            },
            Payload::Reaction {
                target: EventId([2; 32]),
                reaction: "✊".into(),
            },
            Payload::Unknown { kind: 99 },
            Payload::Propose(Proposal {
                text: ProposalText {
                    title: "Rent strike in March?".into(),
                    body: "".into(),
                    options: vec![],
                },
                method: Method::parse("majority:threshold=2/3,quorum=1/2").expect("method"),
                electorate: crate::decision::Electorate::Role("admin".into()),
                topic: "housing".into(),
                voting: true,
                deadline: 1_700_000_000_000,
                action: Payload::Amend(Constitution {
                    credits: 49,
                    block_override: Some(Ratio { num: 3, den: 4 }),
                    vote: Method::parse("consent").expect("method"),
                    ..Constitution::default()
                })
                .encode(),
            }),
            Payload::Propose(Proposal {
                text: ProposalText {
                    title: "Garden budget".into(),
                    body: "Pick projects".into(),
                    options: vec![
                        crate::decision::Choice {
                            label: "beds".into(),
                            cost: 300,
                        },
                        crate::decision::Choice {
                            label: "shed".into(),
                            cost: 900,
                        },
                    ],
                },
                method: Method::parse("budget:total=1000").expect("method"),
                electorate: crate::decision::Electorate::Members,
                topic: String::new(),
                voting: false,
                deadline: 0,
                action: vec![],
            }),
            Payload::Revise {
                proposal: EventId([3; 32]),
                text: ProposalText {
                    title: "t".into(),
                    body: "b".into(),
                    options: vec![],
                },
            },
            Payload::OpenVoting {
                proposal: EventId([3; 32]),
                text: EventId([4; 32]),
            },
            Payload::Withdraw {
                proposal: EventId([3; 32]),
            },
            Payload::Vote {
                proposal: EventId([3; 32]),
                ballot: Ballot::Scores(vec![-3, 0, 5]),
                reason: "".into(),
            },
            Payload::Vote {
                proposal: EventId([3; 32]),
                ballot: Ballot::Rank(vec![2, 0]),
                reason: "closest to our needs".into(),
            },
            Payload::Vote {
                proposal: EventId([3; 32]),
                ballot: Ballot::Set(vec![0, 2]),
                reason: "".into(),
            },
            Payload::Vote {
                proposal: EventId([3; 32]),
                ballot: Ballot::Choice(3),
                reason: "unsafe".into(),
            },
            Payload::Vote {
                proposal: EventId([3; 32]),
                ballot: Ballot::Abstain,
                reason: "".into(),
            },
            Payload::Delegate {
                scope: Scope::Group,
                target: Target::To(PublicKey([5; 32])),
            },
            Payload::Delegate {
                scope: Scope::Topic("housing".into()),
                target: Target::Nobody,
            },
            Payload::Delegate {
                scope: Scope::Proposal(EventId([3; 32])),
                target: Target::Inherit,
            },
            Payload::Close {
                proposal: EventId([3; 32]),
            },
            Payload::Attest {
                proposal: EventId([3; 32]),
                digest: [6; 32],
            },
            Payload::Merge,
            Payload::Profile {
                name: "Sam Okafor".into(),
            },
        ];
        for p in all {
            assert_eq!(Payload::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn constitution_rules_are_checked() {
        assert!(Rule::parse("role:Admin").is_err());
        assert!(Admission::parse("vouches:0").is_err());
        let bad = Constitution {
            removal: Rule::Role("nobody".into()),
            ..Constitution::default()
        };
        let mut w = Writer::default();
        w.map(2).uint(0).uint(kind::AMEND).uint(1);
        bad.encode(&mut w);
        assert!(matches!(
            Payload::decode(&w.into_bytes()),
            Err(PayloadError::Invalid(_))
        ));
        // An explicit default constitution in a genesis is a second encoding: refused.
        let mut w = Writer::default();
        w.map(4)
            .uint(0)
            .uint(kind::GROUP_GENESIS)
            .uint(1)
            .text("g")
            .uint(2)
            .bytes(&[0; 16])
            .uint(3);
        Constitution::default().encode(&mut w);
        assert!(matches!(
            Payload::decode(&w.into_bytes()),
            Err(PayloadError::Invalid(_))
        ));
    }

    #[test]
    fn a_profile_with_a_bad_name_does_not_decode() {
        let profile = |name: &str| {
            Payload::decode(
                &Payload::Profile {
                    name: name.to_owned(),
                }
                .encode(),
            )
        };
        assert!(profile("Sam").is_ok());
        for (name, why) in [
            ("", DisplayNameError::Empty),
            ("Sam ", DisplayNameError::Untrimmed),
            ("Sam\u{202E}", DisplayNameError::Invisible(0x202E)),
            ("Sam (…3f9a2c)", DisplayNameError::Ellipsis),
        ] {
            assert_eq!(
                profile(name),
                Err(PayloadError::DisplayName(why)),
                "{name:?}"
            );
        }
        // Over the byte bound the decoder refuses before counting characters.
        assert!(matches!(
            profile(&"x".repeat(MAX_DISPLAY_NAME_CHARS * 4 + 1)),
            Err(PayloadError::Encoding(_))
        ));
        assert!(matches!(
            profile(&"x".repeat(MAX_DISPLAY_NAME_CHARS + 1)),
            Err(PayloadError::DisplayName(DisplayNameError::TooLong { .. }))
        ));
    }

    #[test]
    fn unknown_kinds_with_fields_are_kept_known_kinds_reject_extra_fields() {
        let mut w = Writer::default();
        w.map(3).uint(0).uint(500).uint(1).text("x").uint(7);
        w.array(2).uint(1).bytes(b"ab");
        assert_eq!(
            Payload::decode(&w.into_bytes()),
            Ok(Payload::Unknown { kind: 500 })
        );
        let mut w = Writer::default();
        w.map(3)
            .uint(0)
            .uint(kind::POST)
            .uint(1)
            .text("hi")
            .uint(2)
            .uint(0);
        assert_eq!(
            Payload::decode(&w.into_bytes()),
            Err(PayloadError::UnknownField {
                kind: kind::POST,
                field: 2
            })
        );
        let mut w = Writer::default();
        w.map(1).uint(0).uint(kind::POST);
        assert_eq!(
            Payload::decode(&w.into_bytes()),
            Err(PayloadError::MissingField {
                kind: kind::POST,
                field: "text"
            })
        );
    }

    #[test]
    fn prekeys_need_exactly_a_32_byte_key_and_a_64_byte_proof() {
        // The form without a proof (before proofs of possession) is refused, not guessed at.
        let mut w = Writer::default();
        w.map(2).uint(0).uint(kind::PREKEY).uint(1).bytes(&[9; 32]);
        assert_eq!(
            Payload::decode(&w.into_bytes()),
            Err(PayloadError::MissingField {
                kind: kind::PREKEY,
                field: "proof"
            })
        );
        let mut w = Writer::default();
        w.map(3)
            .uint(0)
            .uint(kind::PREKEY)
            .uint(1)
            .bytes(&[9; 32])
            .uint(2)
            .bytes(&[8; 63]);
        assert!(Payload::decode(&w.into_bytes()).is_err());
        let mut w = Writer::default();
        w.map(4)
            .uint(0)
            .uint(kind::PREKEY)
            .uint(1)
            .bytes(&[9; 32])
            .uint(2)
            .bytes(&[8; 64])
            .uint(3)
            .uint(0);
        assert_eq!(
            Payload::decode(&w.into_bytes()),
            Err(PayloadError::UnknownField {
                kind: kind::PREKEY,
                field: 3
            })
        );
    }

    #[test]
    fn prekey_proof_message_binds_every_input() {
        let net = crate::NetworkId::named("a");
        let (g, a, k) = (GroupId([1; 32]), PublicKey([2; 32]), [3u8; 32]);
        let m = prekey_proof_message(&net, &g, &a, &k);
        assert_ne!(
            m,
            prekey_proof_message(&crate::NetworkId::named("b"), &g, &a, &k)
        );
        assert_ne!(m, prekey_proof_message(&net, &GroupId([4; 32]), &a, &k));
        assert_ne!(m, prekey_proof_message(&net, &g, &PublicKey([4; 32]), &k));
        assert_ne!(m, prekey_proof_message(&net, &g, &a, &[4; 32]));
        // Never the message of another proof.
        assert!(!m.starts_with(b"dualpower/join/"));
    }
}
