//! The event: the one unit of data every Dual Power node stores, signs, hashes and replicates.
//!
//! On the wire and on disk an event is two byte strings:
//!
//! * the **envelope** (the "signed header"): canonical CBOR `[header_bytes, signature]`, where
//!   `header_bytes` is itself canonical CBOR of the [`Header`] fields;
//! * an optional **body**: opaque bytes bound to the header by `body_len` and `body_hash`
//!   (BLAKE3), so a body can be deleted while the header still verifies and links.
//!
//! The signature covers `DOMAIN_TAG || network_id || header_bytes`. The header names the group
//! and the log, so an event cannot be replayed into another group, log or network. The event id is
//! BLAKE3 of the envelope bytes. We never re-serialise to verify: the exact received bytes are
//! hashed and signed.
//!
//! Every size is bounded and checked before anything is allocated (see the `MAX_*` constants).

use std::fmt;

use thiserror::Error;

use crate::cbor::{CborError, Reader, Writer};
use crate::keys::{Identity, KeyError, PublicKey};
use crate::sig;

/// The only header version this code understands.
pub const VERSION: u64 = 1;
/// Domain-separation tag in front of every signed header.
pub const DOMAIN_TAG: &[u8] = b"dualpower/event/v1\0";
/// Largest envelope (signed header) accepted, in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 1200;
/// Largest encoded header accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 1100;
/// Largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most causal dependencies one event may name.
pub const MAX_DEPS: usize = 16;
/// Largest sequence number and log number (they must fit SQLite's signed 64-bit integers).
pub const MAX_SEQ: u64 = i64::MAX as u64;
/// Header flag: the body is encrypted (group content; set by the groups layer).
pub const FLAG_ENCRYPTED: u64 = 1;
/// All flags this version knows. Unknown flags are rejected rather than ignored.
pub const KNOWN_FLAGS: u64 = FLAG_ENCRYPTED;
/// Deepest CBOR nesting in a header or envelope.
const MAX_HEADER_DEPTH: usize = 2;
const HEADER_FIELDS: usize = 11;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// Lower-case hex of the 32 bytes.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// Parses 64 hex digits.
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).ok()?;
                Some(Self(out))
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.to_hex()[..12])
            }
        }
    };
}

id_type!(
    /// BLAKE3 of an event's envelope bytes.
    EventId
);
id_type!(
    /// A group's identifier: derived from its genesis (creator key + random nonce), never from
    /// its name.
    GroupId
);
id_type!(
    /// Which network an event belongs to; part of the signing domain, so events signed for a test
    /// network are invalid on the main one.
    NetworkId
);

impl NetworkId {
    /// The network everyone uses unless they deliberately run a separate one.
    pub fn main() -> Self {
        NetworkId(*blake3::hash(b"dualpower main network v1").as_bytes())
    }
    /// A separate network derived from a name (for tests and private deployments).
    pub fn named(name: &str) -> Self {
        NetworkId(blake3::derive_key(
            "dualpower network id v1",
            name.as_bytes(),
        ))
    }
}

/// Where an event sits: what encrypted bodies bind in their associated data, so a ciphertext
/// cannot be moved to another group, author, log or seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The author.
    pub author: PublicKey,
    /// The group.
    pub group: GroupId,
    /// The log.
    pub log: u64,
    /// The seq.
    pub seq: u64,
}

impl Position {
    /// The position of an event.
    pub fn of(h: &Header) -> Position {
        Position {
            author: h.author,
            group: h.group,
            log: h.log,
            seq: h.seq,
        }
    }

    /// `tag || network || group || author || log || seq`: the binding bytes for `tag`.
    pub fn binding(&self, tag: &[u8], network: &NetworkId) -> Vec<u8> {
        let mut v = Vec::with_capacity(tag.len() + 112);
        v.extend_from_slice(tag);
        v.extend_from_slice(&network.0);
        v.extend_from_slice(&self.group.0);
        v.extend_from_slice(&self.author.0);
        v.extend_from_slice(&self.log.to_be_bytes());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v
    }
}

/// The signed fields of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Who signed it.
    pub author: PublicKey,
    /// Which group it belongs to.
    pub group: GroupId,
    /// Which of the author's logs in that group (0 is the main log).
    pub log: u64,
    /// Position in the (author, group, log) log, from 0.
    pub seq: u64,
    /// Id of the event at `seq - 1` in the same log; `None` iff `seq == 0`.
    pub backlink: Option<EventId>,
    /// Ids of other events this one causally follows (strictly ascending, at most [`MAX_DEPS`]).
    pub deps: Vec<EventId>,
    /// Milliseconds since the Unix epoch as claimed by the author: for display only.
    pub timestamp: u64,
    /// Length of the body in bytes (0 = no body).
    pub body_len: u64,
    /// BLAKE3 of the body; `None` iff `body_len == 0`.
    pub body_hash: Option<[u8; 32]>,
    /// Bit flags (see [`KNOWN_FLAGS`]).
    pub flags: u64,
}

/// Everything that makes a single event invalid in itself (without looking at other events).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    /// The envelope is larger than [`MAX_ENVELOPE_BYTES`].
    #[error("envelope is {size} bytes, more than the limit {max}")]
    EnvelopeTooLarge {
        /// Size received.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("body is {size} bytes, more than the limit {max}")]
    BodyTooLarge {
        /// Size received or declared.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// The envelope or header is not strict canonical CBOR of the right shape.
    #[error("{part} is not canonical: {source}")]
    Encoding {
        /// `envelope` or `header`.
        part: &'static str,
        /// What exactly was wrong.
        source: CborError,
    },
    /// A header version this node does not understand.
    #[error("unknown event version {0} (this node understands version {VERSION})")]
    UnknownVersion(u64),
    /// Flag bits this version does not define.
    #[error("unknown header flags {0:#x}")]
    UnknownFlags(u64),
    /// `seq > 0` without a backlink, or `seq == 0` with one.
    #[error("seq {seq} {}", if *.seq == 0 { "must not have a backlink" } else { "needs a backlink" })]
    BacklinkShape {
        /// The event's seq.
        seq: u64,
    },
    /// Deps are not strictly ascending (unsorted or duplicated).
    #[error("deps must be strictly ascending without duplicates")]
    DepsNotCanonical,
    /// `body_hash` present without a body length, or the reverse.
    #[error("body_hash must be present exactly when body_len > 0")]
    BodyHashShape,
    /// The body's length differs from the header's `body_len`.
    #[error("body is {actual} bytes but the header says {declared}")]
    BodyLengthMismatch {
        /// From the header.
        declared: u64,
        /// Received.
        actual: u64,
    },
    /// The body's BLAKE3 differs from the header's `body_hash`.
    #[error("body does not match the header's body_hash (tampered or wrong body)")]
    BodyHashMismatch,
    /// The author key is one nobody can own.
    #[error("author key rejected: {0}")]
    WeakAuthor(KeyError),
    /// The signature does not verify over this network, group, log and header.
    #[error("bad signature (forged, tampered, or signed for another network)")]
    BadSignature,
}

fn enc(part: &'static str) -> impl Fn(CborError) -> EventError {
    move |source| EventError::Encoding { part, source }
}

impl Header {
    /// Canonical CBOR of the header.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(200 + 33 * self.deps.len());
        w.array(HEADER_FIELDS)
            .uint(VERSION)
            .bytes(&self.author.0)
            .bytes(&self.group.0)
            .uint(self.log)
            .uint(self.seq)
            .opt_bytes32(self.backlink.as_ref().map(|b| &b.0))
            .array(self.deps.len());
        for d in &self.deps {
            w.bytes(&d.0);
        }
        w.uint(self.timestamp)
            .uint(self.body_len)
            .opt_bytes32(self.body_hash.as_ref())
            .uint(self.flags);
        w.into_bytes()
    }

    /// Strictly decodes and checks the structural rules of a header.
    pub fn decode(bytes: &[u8]) -> Result<Header, EventError> {
        if bytes.len() > MAX_HEADER_BYTES {
            return Err(EventError::Encoding {
                part: "header",
                source: CborError::TooLong {
                    what: "header",
                    len: bytes.len() as u64,
                    max: MAX_HEADER_BYTES as u64,
                },
            });
        }
        let e = enc("header");
        let mut r = Reader::new(bytes, MAX_HEADER_DEPTH);
        let fields = r.array("header", 32).map_err(&e)?;
        // The version comes first so that a future layout is reported as such, not as garbage.
        let version = r.uint().map_err(&e)?;
        if version != VERSION {
            return Err(EventError::UnknownVersion(version));
        }
        if fields != HEADER_FIELDS {
            return Err(e(CborError::WrongSize {
                what: "header field count",
                expected: HEADER_FIELDS,
                found: fields,
            }));
        }
        let author = PublicKey(r.bytes_n::<32>("author").map_err(&e)?);
        let group = GroupId(r.bytes_n::<32>("group").map_err(&e)?);
        let log = bounded(r.uint().map_err(&e)?, "log").map_err(&e)?;
        let seq = bounded(r.uint().map_err(&e)?, "seq").map_err(&e)?;
        let backlink = r.opt_bytes32("backlink").map_err(&e)?.map(EventId);
        let n = r.array("deps", MAX_DEPS).map_err(&e)?;
        let mut deps = Vec::with_capacity(n);
        for _ in 0..n {
            deps.push(EventId(r.bytes_n::<32>("dep").map_err(&e)?));
        }
        r.leave();
        let timestamp = r.uint().map_err(&e)?;
        let body_len = r.uint().map_err(&e)?;
        let body_hash = r.opt_bytes32("body_hash").map_err(&e)?;
        let flags = r.uint().map_err(&e)?;
        r.leave();
        r.finish().map_err(&e)?;
        let header = Header {
            author,
            group,
            log,
            seq,
            backlink,
            deps,
            timestamp,
            body_len,
            body_hash,
            flags,
        };
        header.check_rules()?;
        Ok(header)
    }

    /// The structural rules every header obeys, whatever else is in the store.
    fn check_rules(&self) -> Result<(), EventError> {
        bounded(self.log, "log")
            .and_then(|_| bounded(self.seq, "seq"))
            .map_err(enc("header"))?;
        if self.flags & !KNOWN_FLAGS != 0 {
            return Err(EventError::UnknownFlags(self.flags));
        }
        if (self.seq == 0) != self.backlink.is_none() {
            return Err(EventError::BacklinkShape { seq: self.seq });
        }
        if self.deps.len() > MAX_DEPS {
            return Err(EventError::Encoding {
                part: "header",
                source: CborError::TooLong {
                    what: "deps",
                    len: self.deps.len() as u64,
                    max: MAX_DEPS as u64,
                },
            });
        }
        if self.deps.windows(2).any(|w| w[0] >= w[1]) {
            return Err(EventError::DepsNotCanonical);
        }
        if self.body_len > MAX_BODY_BYTES as u64 {
            return Err(EventError::BodyTooLarge {
                size: self.body_len,
                max: MAX_BODY_BYTES,
            });
        }
        if (self.body_len == 0) != self.body_hash.is_none() {
            return Err(EventError::BodyHashShape);
        }
        self.author.check_strong().map_err(EventError::WeakAuthor)
    }
}

fn bounded(v: u64, what: &'static str) -> Result<u64, CborError> {
    if v > MAX_SEQ {
        return Err(CborError::OutOfRange { what, value: v });
    }
    Ok(v)
}

/// The bytes an author signs: domain tag, network, then the exact header bytes.
pub fn signing_input(network: &NetworkId, header_bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(DOMAIN_TAG.len() + 32 + header_bytes.len());
    v.extend_from_slice(DOMAIN_TAG);
    v.extend_from_slice(&network.0);
    v.extend_from_slice(header_bytes);
    v
}

/// A structurally valid event whose signature has *not* been checked yet.
///
/// Obtain one with [`Event::decode`]; turn it into a [`VerifiedEvent`] with [`Event::verify`] or
/// [`verify_batch`]. Only verified events can be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    id: EventId,
    envelope: Vec<u8>,
    header_start: usize,
    header_end: usize,
    signature: [u8; 64],
    header: Header,
    body: Option<Vec<u8>>,
}

/// An event whose signature, structure and body (if present) have been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEvent(Event);

impl Event {
    /// Strictly decodes an envelope and checks the optional body against it.
    ///
    /// Sizes are checked before anything else; the envelope is not copied.
    pub fn decode(envelope: Vec<u8>, body: Option<Vec<u8>>) -> Result<Event, EventError> {
        if envelope.len() > MAX_ENVELOPE_BYTES {
            return Err(EventError::EnvelopeTooLarge {
                size: envelope.len(),
                max: MAX_ENVELOPE_BYTES,
            });
        }
        if let Some(b) = &body
            && b.len() > MAX_BODY_BYTES
        {
            return Err(EventError::BodyTooLarge {
                size: b.len() as u64,
                max: MAX_BODY_BYTES,
            });
        }
        let e = enc("envelope");
        let mut r = Reader::new(&envelope, 1);
        let n = r.array("envelope", 2).map_err(&e)?;
        if n != 2 {
            return Err(e(CborError::WrongSize {
                what: "envelope item count",
                expected: 2,
                found: n,
            }));
        }
        let header_bytes = r.bytes("header", MAX_HEADER_BYTES).map_err(&e)?;
        let header_end = r.position();
        let header_start = header_end - header_bytes.len();
        let signature = r.bytes_n::<64>("signature").map_err(&e)?;
        r.leave();
        r.finish().map_err(&e)?;
        let header = Header::decode(header_bytes)?;
        if let Some(b) = &body {
            check_body(&header, b)?;
        }
        // An empty body and no body are the same thing; keep one representation.
        let body = body.filter(|_| header.body_len > 0);
        Ok(Event {
            id: EventId(*blake3::hash(&envelope).as_bytes()),
            envelope,
            header_start,
            header_end,
            signature,
            header,
            body,
        })
    }

    /// Checks the signature (ZIP-215 rules).
    pub fn verify(self, network: &NetworkId) -> Result<VerifiedEvent, EventError> {
        let msg = signing_input(network, self.header_bytes());
        if sig::verify_single(&self.header.author.0, &msg, &self.signature) {
            Ok(VerifiedEvent(self))
        } else {
            Err(EventError::BadSignature)
        }
    }

    /// The id: BLAKE3 of the envelope.
    pub fn id(&self) -> EventId {
        self.id
    }
    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// The exact envelope bytes.
    pub fn envelope(&self) -> &[u8] {
        &self.envelope
    }
    /// The exact header bytes inside the envelope (what was signed, after the domain prefix).
    pub fn header_bytes(&self) -> &[u8] {
        &self.envelope[self.header_start..self.header_end]
    }
    /// The signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
    /// The body, if this copy carries one.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }
}

fn check_body(header: &Header, body: &[u8]) -> Result<(), EventError> {
    if body.len() as u64 != header.body_len {
        return Err(EventError::BodyLengthMismatch {
            declared: header.body_len,
            actual: body.len() as u64,
        });
    }
    if let Some(h) = &header.body_hash
        && blake3::hash(body).as_bytes() != h
    {
        return Err(EventError::BodyHashMismatch);
    }
    Ok(())
}

/// Verifies many events at once with batch signature verification. The verdict for each event is
/// the same as [`Event::verify`] would give.
pub fn verify_batch(
    events: Vec<Event>,
    network: &NetworkId,
) -> Vec<Result<VerifiedEvent, EventError>> {
    let inputs: Vec<Vec<u8>> = events
        .iter()
        .map(|e| signing_input(network, e.header_bytes()))
        .collect();
    let verdicts = sig::verify_batch(
        events
            .iter()
            .zip(&inputs)
            .map(|(e, m)| (&e.header.author.0, m.as_slice(), &e.signature)),
    );
    events
        .into_iter()
        .zip(verdicts)
        .map(|(e, ok)| {
            if ok {
                Ok(VerifiedEvent(e))
            } else {
                Err(EventError::BadSignature)
            }
        })
        .collect()
}

impl VerifiedEvent {
    /// Re-creates a verified event from bytes this node verified before (its own store).
    ///
    /// Still decodes strictly and checks the body; skips only the signature. Use
    /// [`Event::decode`] + [`Event::verify`] for anything that came from elsewhere.
    pub fn from_trusted_store(
        envelope: Vec<u8>,
        body: Option<Vec<u8>>,
    ) -> Result<VerifiedEvent, EventError> {
        Event::decode(envelope, body).map(VerifiedEvent)
    }

    /// The event, for reading.
    pub fn event(&self) -> &Event {
        &self.0
    }
    /// The id.
    pub fn id(&self) -> EventId {
        self.0.id
    }
    /// The header.
    pub fn header(&self) -> &Header {
        &self.0.header
    }
    /// The envelope bytes.
    pub fn envelope(&self) -> &[u8] {
        &self.0.envelope
    }
    /// The body, if present.
    pub fn body(&self) -> Option<&[u8]> {
        self.0.body.as_deref()
    }
    /// This event without its body (as after a deletion).
    pub fn without_body(mut self) -> VerifiedEvent {
        self.0.body = None;
        self
    }
    /// Splits into envelope and body bytes.
    pub fn into_parts(self) -> (Vec<u8>, Option<Vec<u8>>) {
        (self.0.envelope, self.0.body)
    }
}

/// What an author fills in to create an event; [`Draft::sign`] computes body length and hash,
/// encodes, signs and ids it.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    /// Group.
    pub group: GroupId,
    /// Log number within the group.
    pub log: u64,
    /// Sequence number.
    pub seq: u64,
    /// Id of the event at `seq - 1`.
    pub backlink: Option<EventId>,
    /// Causal dependencies (any order; sorted and de-duplicated when signing).
    pub deps: Vec<EventId>,
    /// Advisory timestamp, ms since the Unix epoch.
    pub timestamp: u64,
    /// Body bytes (empty for none).
    pub body: Vec<u8>,
    /// Flags.
    pub flags: u64,
}

impl Draft {
    /// Signs the draft. Fails if it breaks a structural rule (the same rules a receiver checks).
    pub fn sign(
        self,
        identity: &Identity,
        network: &NetworkId,
    ) -> Result<VerifiedEvent, EventError> {
        let mut deps = self.deps;
        deps.sort_unstable();
        deps.dedup();
        let body_len = self.body.len() as u64;
        let header = Header {
            author: identity.public(),
            group: self.group,
            log: self.log,
            seq: self.seq,
            backlink: self.backlink,
            deps,
            timestamp: self.timestamp,
            body_len,
            body_hash: (body_len > 0).then(|| *blake3::hash(&self.body).as_bytes()),
            flags: self.flags,
        };
        header.check_rules()?;
        let header_bytes = header.encode();
        let signature = identity.sign(&signing_input(network, &header_bytes));
        let mut w = Writer::with_capacity(header_bytes.len() + 72);
        w.array(2).bytes(&header_bytes).bytes(&signature);
        let body = (body_len > 0).then_some(self.body);
        Event::decode(w.into_bytes(), body).map(VerifiedEvent)
    }
}
