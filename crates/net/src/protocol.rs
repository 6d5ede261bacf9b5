//! The catch-up sync protocol (`/dualpower/sync/1`) and the gossip message format.
//!
//! Sync is request-response over one libp2p stream per request:
//!
//! 0. `Summary { token, digest }`: one hash of the requester's (author, log, length, head) list.
//!    If the responder's is the same, the sets are identical (logs are hash chains) and the answer
//!    is `InSync`: one round trip of about a hundred bytes.
//! 1. Otherwise the answer is `Buckets`: the responder's digest and one 8-byte digest per bucket
//!    of its logs (logs are spread over buckets by a hash of (author, log); the responder picks the
//!    bucket count, about eight logs per bucket). The requester compares with its own buckets and
//!    sends `Fetch` for only the buckets that differ, naming what it holds there; the answer is
//!    the events it lacks. A small difference costs a small exchange even in a group with
//!    thousands of logs. (`Heights` + `Events` with explicit wants is the plain form of the same.)
//!    Because every log is stored as a contiguous prefix, "which events do you have" is answered
//!    exactly by the length of each (author, log).
//! 2. `Events { token, wants, max }`: "send me log L from seq S on", answered in bounded batches
//!    with a `more` flag; the requester simply asks again from where it got to, so an
//!    interrupted sync resumes where it stopped.
//! 3. Forks. A log whose author signed two events at one seq holds both versions on every node
//!    that saw them, so lengths no longer say everything. A forked log's row in the digests
//!    carries a digest of every id from its fork seq on instead of its head, and a responder
//!    sends a forked log from its fork seq whatever `from` asked (so both versions and both
//!    branches travel). If two peers each hold a different version without knowing of the other,
//!    lengths match while heads differ: after the length-based rounds the requester sends
//!    `Tips { token, count, buckets }` for the buckets that still differ, gets each log's
//!    (length, head, fork seq), and asks again, from a window below the shorter length, for
//!    every log whose head it does not hold.
//!
//! Before any of this, the two peers prove themselves to each other (the **handshake**), and
//! nothing that identifies a member or a group is sent to a peer that has not first proved it
//! knows the group:
//!
//! - `Hello { nonce, tags }`: the requester's fresh nonce and, per group it can prove, a tag
//!   keyed by the group's capability key over the nonce and both Noise-authenticated peer ids
//!   ([`group_tag`], padded with random tags to a multiple of [`HELLO_PAD`]). Tags are fresh
//!   on every handshake: a stranger cannot link them across connections or peers.
//! - The responder recognises its groups among the tags and answers `Hello { nonce, proofs }`:
//!   its own fresh nonce and, per recognised group it can prove, a [`Proof`]: a tag showing it
//!   knows the group, bound to both nonces, and a membership signature (identity key, or the key
//!   of an invite for a pending joiner) over [`membership_message`].
//! - The requester checks the responder's proofs against its derived state and only then sends
//!   `Prove { proofs }`, its own proofs bound to both nonces; the responder answers `Proven` with
//!   the tags it accepted. Each side keeps its nonce for one handshake only, so no proof can be
//!   replayed, and each proof names both peer ids, so none can be relayed to another peer.
//!
//! - `Proven` also says, per group, why the responder turned a verified proof away
//!   ([`JoinRefusal`]: an invite it does not know, an expired one, one used up by others, or an
//!   identity the group removed), so a joiner holding a bad code learns it at once instead of
//!   waiting for nothing. A typed code only: the joiner's node words it, as that peer's claim.
//!
//! After the handshake, sync requests name a group by a **session token** ([`group_tag`] with
//! [`Label::Session`]), also unique to the handshake. The benchmarks' open mode names groups by a
//! token derived from the id instead ([`GroupAccess`]).
//!
//! `Nudge { token }` asks the other side to sync a group from us now: sent after we wrote
//! something a peer that proved the group cannot hear by gossip (it is not on the topic we
//! publish to: a joiner awaiting admission, a member that does not hold a new epoch yet), and
//! to a peer we stop serving (its sync then finds itself turned away and proves again).
//!
//! Frames are a 4-byte big-endian length and a strict canonical CBOR body. Every length and
//! count is checked against a hard bound before anything is allocated; peer-supplied numbers use
//! checked arithmetic. A malformed frame is an `io::Error`, which libp2p turns into a failed
//! request that the node counts against the peer.

use std::io;

use dualpower_core::cbor::{CborError, Reader, Writer};
use dualpower_core::event::{MAX_BODY_BYTES, MAX_ENVELOPE_BYTES};
use dualpower_core::{GroupId, PublicKey};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// Protocol name of sync.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/dualpower/sync/1");
/// Largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// Most logs listed in one heights answer.
pub const MAX_LOGS_PER_ANSWER: usize = 50_000;
/// Most logs listed in one tips answer (each about 90 bytes, so it fits a frame).
pub const MAX_TIPS_PER_ANSWER: usize = 20_000;
/// Most (author, log, from) wants in one request.
pub const MAX_WANTS: usize = 4096;
/// Most buckets in a `Buckets` answer.
pub const MAX_BUCKETS: usize = 4096;
/// Most events in one answer.
pub const MAX_EVENTS_PER_ANSWER: usize = 4000;
/// Bytes of events a responder puts in one answer (about; it stops after crossing it).
pub const ANSWER_BUDGET_BYTES: usize = 2 * 1024 * 1024;
/// The same over I2P (anonymous mode). A tunnel carries tens to about a hundred KiB/s, so a
/// 2 MiB answer could outlast the request timeout and be retried forever: a newcomer with a
/// group's history to fetch would never progress. Small answers keep each round short.
pub const ANONYMOUS_ANSWER_BUDGET_BYTES: usize = 128 * 1024;
/// Most tags in a `Hello` request, and most proofs in a handshake message.
pub const MAX_HELLO_TAGS: usize = 256;
/// A `Hello` carries a multiple of this many tags (random ones fill up), so it does not tell how
/// many groups the requester holds.
pub const HELLO_PAD: usize = 8;

/// A fresh random handshake nonce.
pub type Nonce = [u8; 32];

/// What a handshake tag is for: each use is keyed and labelled separately, so no tag of one kind
/// can stand for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// The requester's `Hello` tag (bound to its nonce only: the responder's is not known yet).
    Hello,
    /// The responder's proof that it knows the group.
    Answer,
    /// The requester's proof that it knows the group, in `Prove`.
    Prove,
    /// The token sync requests of this handshake name the group by.
    Session,
}

impl Label {
    fn bytes(self) -> &'static [u8] {
        match self {
            Label::Hello => b"dualpower/handshake/hello/v1\0",
            Label::Answer => b"dualpower/handshake/answer/v1\0",
            Label::Prove => b"dualpower/handshake/prove/v1\0",
            Label::Session => b"dualpower/handshake/session/v1\0",
        }
    }
}

/// The group's capability key: what a peer must know to be recognised as knowing the group.
/// Derived from the group id with domain separation, so every member (and everyone a member told
/// the id, including a removed member) knows it; the membership signature that follows is what
/// tells members apart from them.
pub fn capability_key(group: &GroupId) -> [u8; 32] {
    blake3::derive_key("dualpower group capability v1", &group.0)
}

/// A handshake tag: keyed BLAKE3 under the group's [`capability_key`] over the label, both nonces
/// (the responder's all zeros for [`Label::Hello`]) and both peer ids, requester first.
pub fn group_tag(
    cap: &[u8; 32],
    label: Label,
    requester_nonce: &Nonce,
    responder_nonce: &Nonce,
    requester: &[u8],
    responder: &[u8],
) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(cap);
    h.update(label.bytes());
    h.update(requester_nonce);
    h.update(responder_nonce);
    h.update(&(requester.len() as u64).to_be_bytes());
    h.update(requester);
    h.update(responder);
    *h.finalize().as_bytes()
}

/// Which side of a handshake signs a [`membership_message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The peer that sent `Hello`.
    Requester,
    /// The peer that answered it.
    Responder,
}

/// What a membership signature in a [`Proof`] signs: the side, network, group, both nonces and
/// both peer ids (requester first; the Noise handshake authenticates them), so it cannot be
/// replayed in another handshake, relayed to another peer, or reflected to its signer.
pub fn membership_message(
    network: &dualpower_core::NetworkId,
    group: &GroupId,
    side: Side,
    requester_nonce: &Nonce,
    responder_nonce: &Nonce,
    requester: &[u8],
    responder: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(260);
    m.extend_from_slice(b"dualpower/member-proof/v1\0");
    m.push(match side {
        Side::Requester => 0,
        Side::Responder => 1,
    });
    m.extend_from_slice(&network.0);
    m.extend_from_slice(&group.0);
    m.extend_from_slice(requester_nonce);
    m.extend_from_slice(responder_nonce);
    m.extend_from_slice(&(requester.len() as u64).to_be_bytes());
    m.extend_from_slice(requester);
    m.extend_from_slice(responder);
    m
}

/// One side's proof for one group in a handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// [`group_tag`] with [`Label::Answer`] (responder) or [`Label::Prove`] (requester): names
    /// the group to the other side only, and shows the prover knows it.
    pub tag: [u8; 32],
    /// The signing key: a member's identity key, or with `invite` an unexpired invite's key.
    pub key: PublicKey,
    /// The invite event, when `key` is an invite key (a pending joiner).
    pub invite: Option<[u8; 32]>,
    /// Signature by `key` over [`membership_message`].
    pub sig: [u8; 64],
}

/// Why a [`Proof`] is not good for a group in a handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The tag is not the group's tag for this handshake (another group, another handshake or
    /// another pair of peers).
    #[error("the proof's tag is not for this group and handshake")]
    WrongTag,
    /// The signature does not verify over this handshake's membership message.
    #[error("the membership signature does not verify")]
    BadSignature,
}

/// The facts of one handshake as one side sees them.
#[derive(Clone, Copy, Debug)]
pub struct Handshake<'a> {
    /// The network.
    pub network: &'a dualpower_core::NetworkId,
    /// The requester's nonce.
    pub requester_nonce: &'a Nonce,
    /// The responder's nonce.
    pub responder_nonce: &'a Nonce,
    /// The requester's peer id bytes.
    pub requester: &'a [u8],
    /// The responder's peer id bytes.
    pub responder: &'a [u8],
}

impl Handshake<'_> {
    /// The tag of `group` under `label` in this handshake.
    pub fn tag(&self, group: &GroupId, label: Label) -> [u8; 32] {
        let nonce = if label == Label::Hello {
            &[0; 32]
        } else {
            self.responder_nonce
        };
        group_tag(
            &capability_key(group),
            label,
            self.requester_nonce,
            nonce,
            self.requester,
            self.responder,
        )
    }

    /// The message `side` signs for `group` in this handshake.
    pub fn message(&self, group: &GroupId, side: Side) -> Vec<u8> {
        membership_message(
            self.network,
            group,
            side,
            self.requester_nonce,
            self.responder_nonce,
            self.requester,
            self.responder,
        )
    }

    /// Checks that `proof`, made by `side`, is a proof for `group` in this handshake: the tag is
    /// this handshake's and the signature by `proof.key` verifies. (Whether the key may read the
    /// group is the caller's question, for its derived state.)
    pub fn check(&self, group: &GroupId, side: Side, proof: &Proof) -> Result<(), ProofError> {
        let label = match side {
            Side::Requester => Label::Prove,
            Side::Responder => Label::Answer,
        };
        if self.tag(group, label) != proof.tag {
            return Err(ProofError::WrongTag);
        }
        if !dualpower_core::sig::verify_single(&proof.key.0, &self.message(group, side), &proof.sig)
        {
            return Err(ProofError::BadSignature);
        }
        Ok(())
    }
}

/// A group's sync token: what a peer must present to sync the group.
pub type Token = [u8; 32];

/// Who may sync or hear which group. Until authenticated membership exists, knowing the group
/// id is the capability: the token and the gossip topic are derived from it.
pub trait GroupAccess {
    /// The token a peer presents to sync `group`.
    fn token(&self, group: &GroupId) -> Token;
    /// The gossip topic of `group`.
    fn topic(&self, group: &GroupId) -> String;
}

/// Derives tokens and topics from the group id with domain-separated BLAKE3.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdKnowledge;

impl GroupAccess for IdKnowledge {
    fn token(&self, group: &GroupId) -> Token {
        blake3::derive_key("dualpower sync token v1", &group.0)
    }
    fn topic(&self, group: &GroupId) -> String {
        let t = blake3::derive_key("dualpower gossip topic v1", &group.0);
        format!("dualpower/g/{}", hex::encode(&t[..16]))
    }
}

/// One log's length as the responder holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogHeight {
    /// Author.
    pub author: PublicKey,
    /// Log number.
    pub log: u64,
    /// Number of events held (seq 0..len).
    pub len: u64,
}

/// "Send me this log from this seq."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    /// Author.
    pub author: PublicKey,
    /// Log number.
    pub log: u64,
    /// First seq wanted.
    pub from: u64,
}

/// One log's tip as the responder holds it, for [`Request::Tips`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tip {
    /// Author.
    pub author: PublicKey,
    /// Log number.
    pub log: u64,
    /// Highest seq held + 1.
    pub len: u64,
    /// Id of the event at the highest seq (the smallest, if a fork left several there).
    pub head: [u8; 32],
    /// The lowest seq with several versions, if the log is forked.
    pub fork_seq: Option<u64>,
}

/// Raw event bytes as carried on the wire: envelope and optional body.
pub type RawEvent = (Vec<u8>, Option<Vec<u8>>);

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// "Here is the digest of my heights": answered with `InSync` or with `Heights`.
    Summary {
        /// The group's token.
        token: Token,
        /// [`heights_digest`] of the requester's logs.
        digest: [u8; 32],
    },
    /// Log lengths of a group.
    Heights {
        /// The group's token.
        token: Token,
    },
    /// "Send me what you have beyond these heights in these buckets" (after a `Buckets` answer):
    /// answered with `Events`. Logs are named by an 8-byte prefix of the author key: within a
    /// bucket of a few logs that is unambiguous, and it keeps a tail catch-up cheap.
    Fetch {
        /// The group's token.
        token: Token,
        /// The bucket count of the `Buckets` answer.
        count: u32,
        /// The buckets wanted, ascending.
        buckets: Vec<u32>,
        /// What the requester holds in those buckets: (author prefix, log, len).
        have: Vec<([u8; 8], u64, u64)>,
        /// Most events wanted in this answer.
        max: u32,
    },
    /// Events from some logs.
    Events {
        /// The group's token.
        token: Token,
        /// What is wanted.
        wants: Vec<Want>,
        /// Most events wanted in this answer.
        max: u32,
    },
    /// "What are your heads in these buckets": answered with `Tips`. Sent when length-based
    /// fetching is done but buckets still differ (two versions of a log, see the module docs).
    Tips {
        /// The group's token.
        token: Token,
        /// The bucket count of the `Buckets` answer.
        count: u32,
        /// The buckets wanted, ascending.
        buckets: Vec<u32>,
    },
    /// The handshake's first step (see the module docs): answered with [`Response::Hello`].
    Hello {
        /// The requester's fresh nonce.
        nonce: Nonce,
        /// One [`Label::Hello`] tag per group the requester can prove, padded with random ones.
        tags: Vec<[u8; 32]>,
    },
    /// The handshake's last step: the requester's proofs, after it checked the responder's.
    /// Answered with [`Response::Proven`].
    Prove {
        /// The proofs.
        proofs: Vec<Proof>,
    },
    /// "I wrote something in this group that you cannot hear by gossip yet (you are not on the
    /// topic it went to: a joiner before admission, a member before it holds a new epoch):
    /// sync it from me now." Names the group by a session token of a completed handshake, so
    /// only a peer that proved the group can ask; it carries nothing else, and the receiver
    /// only starts a sync it could have started anyway. Answered with [`Response::InSync`].
    Nudge {
        /// The group's session token.
        token: Token,
    },
}

/// Why a member's node turned away a joiner's proof for a group, told to the joiner in
/// [`Response::Proven`] so that a bad invite does not look like a join under way. A code, never
/// free text: the joiner's node shows its own words for it, as what that peer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JoinRefusal {
    /// The responder knows no invite with that id and key: a forged code, or an invite made by
    /// a member whose events the responder has not seen yet.
    UnknownInvite,
    /// The invite has expired.
    Expired,
    /// The invite's uses are all taken, by others.
    UsedUp,
    /// The signing identity was removed from the group; no new join of it is acted on.
    Removed,
}

impl JoinRefusal {
    /// Every refusal, in code order.
    pub const ALL: [JoinRefusal; 4] = [
        JoinRefusal::UnknownInvite,
        JoinRefusal::Expired,
        JoinRefusal::UsedUp,
        JoinRefusal::Removed,
    ];

    /// The wire code.
    pub fn code(self) -> u64 {
        match self {
            JoinRefusal::UnknownInvite => 0,
            JoinRefusal::Expired => 1,
            JoinRefusal::UsedUp => 2,
            JoinRefusal::Removed => 3,
        }
    }

    /// The refusal with wire code `code`, if any.
    pub fn from_code(code: u64) -> Option<JoinRefusal> {
        JoinRefusal::ALL.into_iter().find(|r| r.code() == code)
    }

    /// A stable name (for the local API and `--json` output).
    pub fn name(self) -> &'static str {
        match self {
            JoinRefusal::UnknownInvite => "unknown_invite",
            JoinRefusal::Expired => "expired",
            JoinRefusal::UsedUp => "used",
            JoinRefusal::Removed => "removed",
        }
    }
}

/// A sync answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The digests match: both hold the same events of the group.
    InSync,
    /// The digests differ: the responder's digest and its per-bucket digests.
    Buckets {
        /// [`heights_digest`] of the responder's logs.
        digest: [u8; 32],
        /// Number of buckets (at most [`MAX_BUCKETS`]).
        count: u32,
        /// [`bucket_digests`] of the responder's logs, `count` of them.
        buckets: Vec<[u8; 8]>,
    },
    /// Log lengths (empty for a group the responder does not hold, or may not share).
    Heights {
        /// The logs.
        logs: Vec<LogHeight>,
        /// True if there were more logs than fit.
        truncated: bool,
    },
    /// The answer to [`Request::Hello`]: the responder's nonce and its proofs for the groups it
    /// recognised (none for a stranger).
    Hello {
        /// The responder's fresh nonce.
        nonce: Nonce,
        /// The proofs.
        proofs: Vec<Proof>,
    },
    /// The answer to [`Request::Prove`]: the tags of the proofs accepted; each accepted group may
    /// be synced with its session token on this connection.
    Proven {
        /// The accepted proofs' tags.
        tags: Vec<[u8; 32]>,
        /// Why proofs were turned away, by the proof's tag (only for proofs whose signature
        /// verified; at most one per group). Encoded only when not empty, so an answer without
        /// refusals is the same bytes as before they existed.
        refused: Vec<([u8; 32], JoinRefusal)>,
    },
    /// The answer to [`Request::Tips`]: the responder's non-empty logs in those buckets.
    Tips {
        /// The logs.
        logs: Vec<Tip>,
        /// True if there were more logs than fit.
        truncated: bool,
    },
    /// Events, in the order of the wants and by seq.
    Events {
        /// The events.
        events: Vec<RawEvent>,
        /// True if the responder stopped early (budget); ask again from where this ended.
        more: bool,
    },
}

const REQ_HEIGHTS: u64 = 0;
const REQ_EVENTS: u64 = 1;
const REQ_SUMMARY: u64 = 2;
const REQ_FETCH: u64 = 4;
// 5 was the old `Auth` request and 4 its answer: never reused, so an old peer's proof is
// refused as malformed rather than read as something else.
const REQ_TIPS: u64 = 6;
const REQ_HELLO: u64 = 7;
const REQ_PROVE: u64 = 8;
const REQ_NUDGE: u64 = 9;
const RES_TIPS: u64 = 5;
const RES_HELLO: u64 = 6;
const RES_PROVEN: u64 = 7;
const RES_HEIGHTS: u64 = 0;
const RES_EVENTS: u64 = 1;
const RES_IN_SYNC: u64 = 2;
const RES_BUCKETS: u64 = 3;

/// The bucket of a log among `count` buckets.
pub fn bucket_of(author: &PublicKey, log: u64, count: u32) -> u32 {
    let mut h = blake3::Hasher::new_derive_key("dualpower heights bucket v1");
    h.update(&author.0);
    h.update(&log.to_be_bytes());
    let b = h.finalize();
    let x = u32::from_le_bytes([
        b.as_bytes()[0],
        b.as_bytes()[1],
        b.as_bytes()[2],
        b.as_bytes()[3],
    ]);
    x % count.max(1)
}

/// How many buckets a side with `logs` logs uses: about eight logs per bucket, a power of two.
/// (Fewer buckets cost less when little differs; more cost less when much differs; eight logs
/// per bucket keeps a one-log difference below raw negentropy's cost on the same sets.)
pub fn bucket_count(logs: usize) -> u32 {
    ((logs / 8).max(1).next_power_of_two()).min(MAX_BUCKETS) as u32
}

/// One 8-byte digest per bucket over the (author, log, len, head) of its non-empty logs; an empty
/// bucket's digest is all zeros.
pub fn bucket_digests<'a>(
    logs: impl IntoIterator<Item = (&'a PublicKey, u64, u64, &'a [u8; 32])>,
    count: u32,
) -> Vec<[u8; 8]> {
    let count = count.clamp(1, MAX_BUCKETS as u32);
    let mut rows: Vec<(u32, &PublicKey, u64, u64, &[u8; 32])> = logs
        .into_iter()
        .filter(|r| r.2 > 0)
        .map(|(a, l, n, h)| (bucket_of(a, l, count), a, l, n, h))
        .collect();
    rows.sort_unstable();
    let mut out = vec![[0u8; 8]; count as usize];
    let mut i = 0;
    while i < rows.len() {
        let b = rows[i].0;
        let mut h = blake3::Hasher::new_derive_key("dualpower heights bucket digest v1");
        while i < rows.len() && rows[i].0 == b {
            let (_, a, l, n, head) = rows[i];
            h.update(&a.0);
            h.update(&l.to_be_bytes());
            h.update(&n.to_be_bytes());
            h.update(head);
            i += 1;
        }
        out[b as usize].copy_from_slice(&h.finalize().as_bytes()[..8]);
    }
    out
}

/// Digest of a group's logs as one side holds them: BLAKE3 over the sorted
/// (author, log, length, head) of every non-empty log. Equal digests mean equal event sets.
pub fn heights_digest<'a>(
    logs: impl IntoIterator<Item = (&'a PublicKey, u64, u64, &'a [u8; 32])>,
) -> [u8; 32] {
    let mut rows: Vec<(&PublicKey, u64, u64, &[u8; 32])> =
        logs.into_iter().filter(|r| r.2 > 0).collect();
    rows.sort_unstable();
    let mut h = blake3::Hasher::new_derive_key("dualpower heights digest v1");
    for (author, log, len, head) in rows {
        h.update(&author.0);
        h.update(&log.to_be_bytes());
        h.update(&len.to_be_bytes());
        h.update(head);
    }
    *h.finalize().as_bytes()
}

fn bad(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Request {
    /// The group token the request is about (none for the handshake).
    pub fn token(&self) -> Option<&Token> {
        match self {
            Request::Summary { token, .. }
            | Request::Heights { token }
            | Request::Fetch { token, .. }
            | Request::Events { token, .. }
            | Request::Tips { token, .. }
            | Request::Nudge { token } => Some(token),
            Request::Hello { .. } | Request::Prove { .. } => None,
        }
    }

    /// Canonical CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Request::Summary { token, digest } => {
                w.array(3).uint(REQ_SUMMARY).bytes(token).bytes(digest);
            }
            Request::Heights { token } => {
                w.array(2).uint(REQ_HEIGHTS).bytes(token);
            }
            Request::Fetch {
                token,
                count,
                buckets,
                have,
                max,
            } => {
                w.array(6)
                    .uint(REQ_FETCH)
                    .bytes(token)
                    .uint(u64::from(*count))
                    .array(buckets.len());
                for b in buckets {
                    w.uint(u64::from(*b));
                }
                w.array(have.len());
                for (prefix, log, len) in have {
                    w.array(3).bytes(prefix).uint(*log).uint(*len);
                }
                w.uint(u64::from(*max));
            }
            Request::Tips {
                token,
                count,
                buckets,
            } => {
                w.array(4)
                    .uint(REQ_TIPS)
                    .bytes(token)
                    .uint(u64::from(*count))
                    .array(buckets.len());
                for b in buckets {
                    w.uint(u64::from(*b));
                }
            }
            Request::Hello { nonce, tags } => {
                w.array(3).uint(REQ_HELLO).bytes(nonce).array(tags.len());
                for t in tags {
                    w.bytes(t);
                }
            }
            Request::Prove { proofs } => {
                w.array(2).uint(REQ_PROVE);
                write_proofs(&mut w, proofs);
            }
            Request::Nudge { token } => {
                w.array(2).uint(REQ_NUDGE).bytes(token);
            }
            Request::Events { token, wants, max } => {
                w.array(4).uint(REQ_EVENTS).bytes(token).array(wants.len());
                for want in wants {
                    w.array(3)
                        .bytes(&want.author.0)
                        .uint(want.log)
                        .uint(want.from);
                }
                w.uint(u64::from(*max));
            }
        }
        w.into_bytes()
    }

    /// Strict decoding with bounds.
    pub fn decode(bytes: &[u8]) -> Result<Request, CborError> {
        let mut r = Reader::new(bytes, 3);
        let n = r.array("request", 6)?;
        let tag = r.uint()?;
        let req = match (tag, n) {
            (REQ_SUMMARY, 3) => Request::Summary {
                token: r.bytes_n::<32>("token")?,
                digest: r.bytes_n::<32>("digest")?,
            },
            (REQ_HEIGHTS, 2) => Request::Heights {
                token: r.bytes_n::<32>("token")?,
            },
            (REQ_FETCH, 6) => {
                let token = r.bytes_n::<32>("token")?;
                let (count, buckets) = read_buckets(&mut r)?;
                let have = read_entries(&mut r, "have", MAX_WANTS, |r| {
                    r.bytes_n::<8>("author prefix")
                })?;
                let max = small(r.uint()?, "max", u64::from(u32::MAX))?;
                Request::Fetch {
                    token,
                    count,
                    buckets,
                    have,
                    max,
                }
            }
            (REQ_TIPS, 4) => {
                let token = r.bytes_n::<32>("token")?;
                let (count, buckets) = read_buckets(&mut r)?;
                Request::Tips {
                    token,
                    count,
                    buckets,
                }
            }
            (REQ_HELLO, 3) => Request::Hello {
                nonce: r.bytes_n::<32>("nonce")?,
                tags: read_tags(&mut r)?,
            },
            (REQ_PROVE, 2) => Request::Prove {
                proofs: read_proofs(&mut r)?,
            },
            (REQ_NUDGE, 2) => Request::Nudge {
                token: r.bytes_n::<32>("token")?,
            },
            (REQ_EVENTS, 4) => {
                let token = r.bytes_n::<32>("token")?;
                let wants = read_triples(&mut r, "wants", MAX_WANTS)?
                    .into_iter()
                    .map(|(author, log, from)| Want { author, log, from })
                    .collect();
                let max = small(r.uint()?, "max", u64::from(u32::MAX))?;
                Request::Events { token, wants, max }
            }
            _ => {
                return Err(CborError::OutOfRange {
                    what: "request kind",
                    value: tag,
                });
            }
        };
        r.leave();
        r.finish()?;
        Ok(req)
    }
}

impl Response {
    /// Canonical CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Response::InSync => {
                w.array(1).uint(RES_IN_SYNC);
            }
            Response::Hello { nonce, proofs } => {
                w.array(3).uint(RES_HELLO).bytes(nonce);
                write_proofs(&mut w, proofs);
            }
            Response::Proven { tags, refused } => {
                w.array(if refused.is_empty() { 2 } else { 3 })
                    .uint(RES_PROVEN)
                    .array(tags.len());
                for t in tags {
                    w.bytes(t);
                }
                if !refused.is_empty() {
                    w.array(refused.len());
                    for (t, why) in refused {
                        w.array(2).bytes(t).uint(why.code());
                    }
                }
            }
            Response::Buckets {
                digest,
                count,
                buckets,
            } => {
                w.array(4)
                    .uint(RES_BUCKETS)
                    .bytes(digest)
                    .uint(u64::from(*count))
                    .array(buckets.len());
                for b in buckets {
                    w.bytes(b);
                }
            }
            Response::Heights { logs, truncated } => {
                w.array(3).uint(RES_HEIGHTS).array(logs.len());
                for l in logs {
                    w.array(3).bytes(&l.author.0).uint(l.log).uint(l.len);
                }
                w.bool(*truncated);
            }
            Response::Tips { logs, truncated } => {
                w.array(3).uint(RES_TIPS).array(logs.len());
                for t in logs {
                    w.array(5)
                        .bytes(&t.author.0)
                        .uint(t.log)
                        .uint(t.len)
                        .bytes(&t.head);
                    match t.fork_seq {
                        Some(f) => w.uint(f),
                        None => w.null(),
                    };
                }
                w.bool(*truncated);
            }
            Response::Events { events, more } => {
                w.array(3).uint(RES_EVENTS).array(events.len());
                for (env, body) in events {
                    w.array(2).bytes(env);
                    match body {
                        Some(b) => w.bytes(b),
                        None => w.null(),
                    };
                }
                w.bool(*more);
            }
        }
        w.into_bytes()
    }

    /// Strict decoding with bounds.
    pub fn decode(bytes: &[u8]) -> Result<Response, CborError> {
        let mut r = Reader::new(bytes, 3);
        let n = r.array("response", 4)?;
        let tag = r.uint()?;
        let expected = match tag {
            RES_IN_SYNC => 1,
            RES_BUCKETS => 4,
            // With refusals, a third field.
            RES_PROVEN if n == 3 => 3,
            RES_PROVEN => 2,
            _ => 3,
        };
        if n != expected {
            return Err(CborError::WrongSize {
                what: "response",
                expected,
                found: n,
            });
        }
        let res = match tag {
            RES_IN_SYNC => Response::InSync,
            RES_HELLO => Response::Hello {
                nonce: r.bytes_n::<32>("nonce")?,
                proofs: read_proofs(&mut r)?,
            },
            RES_PROVEN => Response::Proven {
                tags: read_tags(&mut r)?,
                refused: if n == 3 {
                    read_refusals(&mut r)?
                } else {
                    Vec::new()
                },
            },
            RES_BUCKETS => {
                let digest = r.bytes_n::<32>("digest")?;
                let count = small(r.uint()?, "count", MAX_BUCKETS as u64)?;
                let n = r.array("buckets", MAX_BUCKETS)?;
                if n != count as usize {
                    return Err(CborError::WrongSize {
                        what: "buckets",
                        expected: count as usize,
                        found: n,
                    });
                }
                let mut buckets = Vec::with_capacity(n);
                for _ in 0..n {
                    buckets.push(r.bytes_n::<8>("bucket digest")?);
                }
                r.leave();
                Response::Buckets {
                    digest,
                    count,
                    buckets,
                }
            }
            RES_HEIGHTS => {
                let logs = read_triples(&mut r, "logs", MAX_LOGS_PER_ANSWER)?
                    .into_iter()
                    .map(|(author, log, len)| LogHeight { author, log, len })
                    .collect();
                Response::Heights {
                    logs,
                    truncated: r.bool()?,
                }
            }
            RES_TIPS => {
                let count = r.array("tips", MAX_TIPS_PER_ANSWER)?;
                let mut logs = Vec::with_capacity(count);
                for _ in 0..count {
                    let n = r.array("tip", 5)?;
                    if n != 5 {
                        return Err(CborError::WrongSize {
                            what: "tip",
                            expected: 5,
                            found: n,
                        });
                    }
                    let author = PublicKey(r.bytes_n::<32>("author")?);
                    let (log, len) = (r.uint()?, r.uint()?);
                    let head = r.bytes_n::<32>("head")?;
                    let fork_seq = if r.null()? { None } else { Some(r.uint()?) };
                    r.leave();
                    logs.push(Tip {
                        author,
                        log,
                        len,
                        head,
                        fork_seq,
                    });
                }
                r.leave();
                Response::Tips {
                    logs,
                    truncated: r.bool()?,
                }
            }
            RES_EVENTS => {
                let count = r.array("events", MAX_EVENTS_PER_ANSWER)?;
                let mut events = Vec::with_capacity(count);
                for _ in 0..count {
                    events.push(read_raw_event(&mut r)?);
                }
                r.leave();
                Response::Events {
                    events,
                    more: r.bool()?,
                }
            }
            _ => {
                return Err(CborError::OutOfRange {
                    what: "response kind",
                    value: tag,
                });
            }
        };
        r.leave();
        r.finish()?;
        Ok(res)
    }
}

/// Writes handshake proofs: `[[tag, key, invite | null, sig], ...]`.
fn write_proofs(w: &mut Writer, proofs: &[Proof]) {
    w.array(proofs.len());
    for p in proofs {
        w.array(4)
            .bytes(&p.tag)
            .bytes(&p.key.0)
            .opt_bytes32(p.invite.as_ref())
            .bytes(&p.sig);
    }
}

/// Reads at most [`MAX_HELLO_TAGS`] handshake proofs.
fn read_proofs(r: &mut Reader<'_>) -> Result<Vec<Proof>, CborError> {
    let count = r.array("proofs", MAX_HELLO_TAGS)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let n = r.array("proof", 4)?;
        if n != 4 {
            return Err(CborError::WrongSize {
                what: "proof",
                expected: 4,
                found: n,
            });
        }
        out.push(Proof {
            tag: r.bytes_n::<32>("tag")?,
            key: PublicKey(r.bytes_n::<32>("key")?),
            invite: r.opt_bytes32("invite")?,
            sig: r.bytes_n::<64>("sig")?,
        });
        r.leave();
    }
    r.leave();
    Ok(out)
}

/// Reads a non-empty list of at most [`MAX_HELLO_TAGS`] `[tag, refusal code]` pairs (an empty
/// one is written by leaving the field out, so it is refused: one encoding per answer).
fn read_refusals(r: &mut Reader<'_>) -> Result<Vec<([u8; 32], JoinRefusal)>, CborError> {
    let count = r.array("refusals", MAX_HELLO_TAGS)?;
    if count == 0 {
        return Err(CborError::OutOfRange {
            what: "refusals",
            value: 0,
        });
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let n = r.array("refusal", 2)?;
        if n != 2 {
            return Err(CborError::WrongSize {
                what: "refusal",
                expected: 2,
                found: n,
            });
        }
        let tag = r.bytes_n::<32>("tag")?;
        let code = r.uint()?;
        let why = JoinRefusal::from_code(code).ok_or(CborError::OutOfRange {
            what: "refusal code",
            value: code,
        })?;
        out.push((tag, why));
        r.leave();
    }
    r.leave();
    Ok(out)
}

/// Reads at most [`MAX_HELLO_TAGS`] 32-byte tags.
fn read_tags(r: &mut Reader<'_>) -> Result<Vec<[u8; 32]>, CborError> {
    let count = r.array("tags", MAX_HELLO_TAGS)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(r.bytes_n::<32>("tag")?);
    }
    r.leave();
    Ok(out)
}

/// Reads an array of at most `max` `[author, uint, uint]` triples.
fn read_triples(
    r: &mut Reader<'_>,
    what: &'static str,
    max: usize,
) -> Result<Vec<(PublicKey, u64, u64)>, CborError> {
    read_entries(r, what, max, |r| Ok(PublicKey(r.bytes_n::<32>("author")?)))
}

/// Reads an array of at most `max` `[key, uint, uint]` triples, the key read by `key`.
fn read_entries<'a, K>(
    r: &mut Reader<'a>,
    what: &'static str,
    max: usize,
    key: impl Fn(&mut Reader<'a>) -> Result<K, CborError>,
) -> Result<Vec<(K, u64, u64)>, CborError> {
    let count = r.array(what, max)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let n = r.array("entry", 3)?;
        if n != 3 {
            return Err(CborError::WrongSize {
                what: "entry",
                expected: 3,
                found: n,
            });
        }
        out.push((key(r)?, r.uint()?, r.uint()?));
        r.leave();
    }
    r.leave();
    Ok(out)
}

/// Reads `[envelope, body | null]`.
fn read_raw_event(r: &mut Reader<'_>) -> Result<RawEvent, CborError> {
    let n = r.array("event", 2)?;
    if n != 2 {
        return Err(CborError::WrongSize {
            what: "event",
            expected: 2,
            found: n,
        });
    }
    let env = r.bytes("envelope", MAX_ENVELOPE_BYTES)?.to_vec();
    let body = if r.null()? {
        None
    } else {
        Some(r.bytes("body", MAX_BODY_BYTES)?.to_vec())
    };
    r.leave();
    Ok((env, body))
}

/// Reads a bucket count and a strictly ascending list of buckets below it.
fn read_buckets(r: &mut Reader<'_>) -> Result<(u32, Vec<u32>), CborError> {
    let count = small(r.uint()?, "count", MAX_BUCKETS as u64)?;
    let n = r.array("buckets", MAX_BUCKETS)?;
    let mut buckets = Vec::with_capacity(n);
    for _ in 0..n {
        let b = small(r.uint()?, "bucket", u64::from(count.saturating_sub(1)))?;
        if buckets.last().is_some_and(|&p| p >= b) {
            return Err(CborError::OutOfRange {
                what: "bucket order",
                value: u64::from(b),
            });
        }
        buckets.push(b);
    }
    r.leave();
    Ok((count, buckets))
}

fn small(v: u64, what: &'static str, max: u64) -> Result<u32, CborError> {
    if v > max {
        return Err(CborError::OutOfRange { what, value: v });
    }
    Ok(v as u32)
}

/// A gossip message: one event.
pub fn encode_gossip(envelope: &[u8], body: Option<&[u8]>) -> Vec<u8> {
    let mut w = Writer::with_capacity(envelope.len() + body.map_or(0, <[u8]>::len) + 16);
    w.array(2).bytes(envelope);
    match body {
        Some(b) => w.bytes(b),
        None => w.null(),
    };
    w.into_bytes()
}

/// Decodes a gossip message strictly.
pub fn decode_gossip(bytes: &[u8]) -> Result<RawEvent, CborError> {
    let mut r = Reader::new(bytes, 1);
    let event = read_raw_event(&mut r)?;
    r.finish()?;
    Ok(event)
}

/// Largest gossip message (one event with the largest body).
pub const MAX_GOSSIP_BYTES: usize = MAX_ENVELOPE_BYTES + MAX_BODY_BYTES + 32;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(bad(format!(
            "frame of {len} bytes exceeds {MAX_FRAME_BYTES}"
        )));
    }
    // Grow with what actually arrives: a 4-byte prefix must not buy 4 MiB of our memory.
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    io.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(bad(format!(
            "frame claims {len} bytes but ends after {}",
            buf.len()
        )));
    }
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(bad("frame too large to send"));
    }
    io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

/// A request as the sync codec reads it. Malformed frames are handed up instead of failing the
/// stream, because libp2p-request-response drops `read_request` errors without telling the
/// behaviour, and the node could then never penalise the sender. What we send is always `Valid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A well-formed request.
    Valid(Request),
    /// Why the peer's frame is not a request.
    Malformed(String),
}

impl From<Request> for Inbound {
    fn from(r: Request) -> Self {
        Inbound::Valid(r)
    }
}

/// The libp2p codec of the sync protocol.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Inbound;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Inbound>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_frame(io).await {
            Ok(frame) => Ok(match Request::decode(&frame) {
                Ok(req) => Inbound::Valid(req),
                Err(e) => Inbound::Malformed(e.to_string()),
            }),
            // Over-long and cut-short frames are the peer's doing; other errors are the link's.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                Ok(Inbound::Malformed(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        Response::decode(&read_frame(io).await?).map_err(bad)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Inbound,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            Inbound::Valid(req) => write_frame(io, &req.encode()).await,
            Inbound::Malformed(_) => Err(bad("a malformed request is never sent")),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let reqs = [
            Request::Summary {
                token: [1; 32],
                digest: [7; 32],
            },
            Request::Heights { token: [1; 32] },
            Request::Fetch {
                token: [1; 32],
                count: 64,
                buckets: vec![1, 2],
                have: vec![([9; 8], 0, 12), ([8; 8], 3, 0)],
                max: 4000,
            },
            Request::Events {
                token: [2; 32],
                wants: vec![Want {
                    author: PublicKey([3; 32]),
                    log: 0,
                    from: 70_000,
                }],
                max: 500,
            },
            Request::Tips {
                token: [4; 32],
                count: 8,
                buckets: vec![0, 7],
            },
        ];
        for r in reqs {
            assert_eq!(Request::decode(&r.encode()), Ok(r));
        }
        let res = [
            Response::InSync,
            Response::Buckets {
                digest: [3; 32],
                count: 2,
                buckets: vec![[1; 8], [2; 8]],
            },
            Response::Heights {
                logs: vec![LogHeight {
                    author: PublicKey([4; 32]),
                    log: 1,
                    len: 9,
                }],
                truncated: false,
            },
            Response::Events {
                events: vec![(vec![1, 2, 3], None), (vec![4], Some(vec![5, 6]))],
                more: true,
            },
            Response::Tips {
                logs: vec![
                    Tip {
                        author: PublicKey([5; 32]),
                        log: 0,
                        len: 3,
                        head: [6; 32],
                        fork_seq: Some(1),
                    },
                    Tip {
                        author: PublicKey([7; 32]),
                        log: 2,
                        len: 1,
                        head: [8; 32],
                        fork_seq: None,
                    },
                ],
                truncated: false,
            },
        ];
        for r in res {
            assert_eq!(Response::decode(&r.encode()), Ok(r));
        }
        let g = encode_gossip(&[9; 10], Some(&[8; 3]));
        assert_eq!(decode_gossip(&g), Ok((vec![9; 10], Some(vec![8; 3]))));
    }

    #[test]
    fn hostile_counts_and_kinds_are_rejected_before_allocation() {
        // A want list claiming 2^32 entries.
        let mut w = Writer::default();
        w.array(4).uint(REQ_EVENTS).bytes(&[0; 32]);
        let mut bytes = w.into_bytes();
        bytes.extend_from_slice(&[0x9a, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            Request::decode(&bytes),
            Err(CborError::TooLong { what: "wants", .. })
        ));
        let mut w = Writer::default();
        w.array(2).uint(77).bytes(&[0; 32]);
        assert!(matches!(
            Request::decode(&w.into_bytes()),
            Err(CborError::OutOfRange { .. })
        ));
        // A tips answer claiming 2^32 logs.
        let mut w = Writer::default();
        w.array(3).uint(RES_TIPS);
        let mut bytes = w.into_bytes();
        bytes.extend_from_slice(&[0x9a, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            Response::decode(&bytes),
            Err(CborError::TooLong { what: "tips", .. })
        ));
        // A tips request naming a bucket beyond its count.
        let mut w = Writer::default();
        w.array(4)
            .uint(REQ_TIPS)
            .bytes(&[0; 32])
            .uint(4)
            .array(1)
            .uint(4);
        assert!(matches!(
            Request::decode(&w.into_bytes()),
            Err(CborError::OutOfRange { .. })
        ));
        assert!(Response::decode(&[0xff; 64]).is_err());
        assert!(decode_gossip(&[]).is_err());
    }
    fn proof_of(
        hs: &Handshake<'_>,
        group: &GroupId,
        side: Side,
        id: &dualpower_core::Identity,
    ) -> Proof {
        let label = match side {
            Side::Requester => Label::Prove,
            Side::Responder => Label::Answer,
        };
        Proof {
            tag: hs.tag(group, label),
            key: id.public(),
            invite: None,
            sig: id.sign(&hs.message(group, side)),
        }
    }

    #[test]
    fn handshake_messages_round_trip_and_malformed_ones_are_refused() {
        let proof = Proof {
            tag: [1; 32],
            key: PublicKey([2; 32]),
            invite: Some([3; 32]),
            sig: [4; 64],
        };
        let reqs = [
            Request::Hello {
                nonce: [5; 32],
                tags: vec![[6; 32], [7; 32]],
            },
            Request::Prove {
                proofs: vec![proof.clone()],
            },
            Request::Nudge { token: [11; 32] },
        ];
        for r in reqs {
            let bytes = r.encode();
            assert_eq!(Request::decode(&bytes), Ok(r));
            // Every cut-short prefix and one trailing byte are refused.
            for cut in 0..bytes.len() {
                assert!(Request::decode(&bytes[..cut]).is_err(), "prefix {cut}");
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(Request::decode(&long).is_err());
        }
        let res = [
            Response::Hello {
                nonce: [8; 32],
                proofs: vec![
                    proof.clone(),
                    Proof {
                        invite: None,
                        ..proof
                    },
                ],
            },
            Response::Proven {
                tags: vec![[9; 32]],
                refused: Vec::new(),
            },
            Response::Proven {
                tags: Vec::new(),
                refused: Vec::new(),
            },
            Response::Proven {
                tags: vec![[9; 32]],
                refused: JoinRefusal::ALL.iter().map(|r| ([10; 32], *r)).collect(),
            },
        ];
        for r in res {
            let bytes = r.encode();
            assert_eq!(Response::decode(&bytes), Ok(r));
            for cut in 0..bytes.len() {
                assert!(Response::decode(&bytes[..cut]).is_err(), "prefix {cut}");
            }
        }
        // A short nonce, a short tag, a proof with three fields, too many tags.
        let mut w = Writer::default();
        w.array(3).uint(REQ_HELLO).bytes(&[0; 31]).array(0);
        assert!(Request::decode(&w.into_bytes()).is_err());
        let mut w = Writer::default();
        w.array(3)
            .uint(REQ_HELLO)
            .bytes(&[0; 32])
            .array(1)
            .bytes(&[0; 16]);
        assert!(Request::decode(&w.into_bytes()).is_err());
        let mut w = Writer::default();
        w.array(2)
            .uint(REQ_PROVE)
            .array(1)
            .array(3)
            .bytes(&[0; 32])
            .bytes(&[0; 32])
            .null();
        assert!(Request::decode(&w.into_bytes()).is_err());
        let mut w = Writer::default();
        w.array(3)
            .uint(REQ_HELLO)
            .bytes(&[0; 32])
            .array(MAX_HELLO_TAGS + 1);
        for _ in 0..=MAX_HELLO_TAGS {
            w.bytes(&[0; 32]);
        }
        assert!(matches!(
            Request::decode(&w.into_bytes()),
            Err(CborError::TooLong { what: "tags", .. })
        ));
        // Refusals: an unknown code, an empty list (the field is left out instead), a pair with
        // three fields, a short tag, too many; a nudge without its token or with a short one.
        let proven = |f: &dyn Fn(&mut Writer)| {
            let mut w = Writer::default();
            w.array(3).uint(RES_PROVEN).array(0);
            f(&mut w);
            Response::decode(&w.into_bytes())
        };
        assert!(matches!(
            proven(&|w| {
                w.array(1).array(2).bytes(&[0; 32]).uint(4);
            }),
            Err(CborError::OutOfRange {
                what: "refusal code",
                ..
            })
        ));
        assert!(
            proven(&|w| {
                w.array(0);
            })
            .is_err()
        );
        assert!(
            proven(&|w| {
                w.array(1).array(3).bytes(&[0; 32]).uint(0).uint(0);
            })
            .is_err()
        );
        assert!(
            proven(&|w| {
                w.array(1).array(2).bytes(&[0; 31]).uint(0);
            })
            .is_err()
        );
        assert!(matches!(
            proven(&|w| {
                w.array(MAX_HELLO_TAGS + 1);
                for _ in 0..=MAX_HELLO_TAGS {
                    w.array(2).bytes(&[0; 32]).uint(0);
                }
            }),
            Err(CborError::TooLong {
                what: "refusals",
                ..
            })
        ));
        let mut w = Writer::default();
        w.array(1).uint(REQ_NUDGE);
        assert!(Request::decode(&w.into_bytes()).is_err());
        let mut w = Writer::default();
        w.array(2).uint(REQ_NUDGE).bytes(&[0; 16]);
        assert!(Request::decode(&w.into_bytes()).is_err());
        // The old `Auth` request (kind 5) and answer (kind 4) are no longer understood.
        let mut w = Writer::default();
        w.array(5)
            .uint(5)
            .bytes(&[0; 32])
            .bytes(&[0; 32])
            .null()
            .bytes(&[0; 64]);
        assert!(Request::decode(&w.into_bytes()).is_err());
        let mut w = Writer::default();
        w.array(2).uint(4).bool(true);
        assert!(Response::decode(&w.into_bytes()).is_err());
    }

    #[test]
    fn proofs_bind_group_nonces_peers_and_side() {
        let network = dualpower_core::NetworkId::named("handshake test");
        let group = GroupId([11; 32]);
        let other_group = GroupId([12; 32]);
        let member = dualpower_core::Identity::from_seed(&[13; 32]);
        let (a, b, c) = (
            b"peer a".as_slice(),
            b"peer b".as_slice(),
            b"peer c".as_slice(),
        );
        let (n1, n2, n3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let hs = Handshake {
            network: &network,
            requester_nonce: &n1,
            responder_nonce: &n2,
            requester: a,
            responder: b,
        };
        let answer = proof_of(&hs, &group, Side::Responder, &member);
        let prove = proof_of(&hs, &group, Side::Requester, &member);
        assert_eq!(hs.check(&group, Side::Responder, &answer), Ok(()));
        assert_eq!(hs.check(&group, Side::Requester, &prove), Ok(()));
        // Reflected to its signer's side, or offered for another group: refused.
        assert!(hs.check(&group, Side::Requester, &answer).is_err());
        assert!(hs.check(&other_group, Side::Responder, &answer).is_err());
        // Replayed in a later handshake (the other side's fresh nonce differs): refused.
        let replay = Handshake {
            responder_nonce: &n3,
            ..hs
        };
        assert_eq!(
            replay.check(&group, Side::Requester, &prove),
            Err(ProofError::WrongTag)
        );
        let replay = Handshake {
            requester_nonce: &n3,
            ..hs
        };
        assert!(replay.check(&group, Side::Responder, &answer).is_err());
        // Relayed to another peer (another responder id) or by another peer: refused.
        let relayed = Handshake { responder: c, ..hs };
        assert_eq!(
            relayed.check(&group, Side::Requester, &prove),
            Err(ProofError::WrongTag)
        );
        let relayed = Handshake { requester: c, ..hs };
        assert!(relayed.check(&group, Side::Responder, &answer).is_err());
        // A right tag with a signature made for another peer pair: refused by the signature.
        let forged = Proof {
            tag: relayed.tag(&group, Label::Answer),
            ..answer.clone()
        };
        assert_eq!(
            relayed.check(&group, Side::Responder, &forged),
            Err(ProofError::BadSignature)
        );
        // Hello tags differ per nonce and per peer pair (nothing to link), and from the others.
        let hello = hs.tag(&group, Label::Hello);
        assert_ne!(hello, replay.tag(&group, Label::Hello));
        assert_ne!(hello, relayed.tag(&group, Label::Hello));
        assert_ne!(hello, hs.tag(&group, Label::Session));
        assert_ne!(hello, IdKnowledge.token(&group));
    }
}
