#![allow(clippy::unwrap_used)]
//! One test per validity rule of an event, each with a hand-crafted hostile input and the exact
//! error it must produce. Headers are built by hand with the CBOR writer (mirroring
//! `Header::encode`) so that they can break rules `Draft::sign` refuses to break.

use dualpower_core::cbor::{CborError, Writer};
use dualpower_core::event::{
    DOMAIN_TAG, FLAG_ENCRYPTED, KNOWN_FLAGS, MAX_BODY_BYTES, MAX_DEPS, MAX_ENVELOPE_BYTES,
    MAX_HEADER_BYTES, MAX_SEQ, VERSION, signing_input,
};
use dualpower_core::payload::{MAX_REACTION_BYTES, MAX_TEXT_BYTES};
use dualpower_core::{
    Draft, Event, EventError, EventId, GroupId, Identity, KeyError, NetworkId, Payload,
    PayloadError, VerifiedEvent, verify_batch,
};

/// The fields of a header as raw values, any of which may break a rule.
#[derive(Clone, Debug)]
struct RawHeader {
    version: u64,
    author: [u8; 32],
    group: [u8; 32],
    log: u64,
    seq: u64,
    backlink: Option<[u8; 32]>,
    deps: Vec<[u8; 32]>,
    timestamp: u64,
    body_len: u64,
    body_hash: Option<[u8; 32]>,
    flags: u64,
}

fn alice() -> Identity {
    Identity::from_seed(&[0xa1; 32])
}

fn net() -> NetworkId {
    NetworkId::named("adversarial")
}

/// A valid header by `alice()` at seq 0 with no body. Its `log` field is 5 so that its encoding
/// is one byte at a known offset.
fn base() -> RawHeader {
    RawHeader {
        version: 1,
        author: alice().public().0,
        group: [0x33; 32],
        log: 5,
        seq: 0,
        backlink: None,
        deps: Vec::new(),
        timestamp: 1_700_000_000_000,
        body_len: 0,
        body_hash: None,
        flags: 0,
    }
}

/// Byte offsets in the encoding of `base()`: array head, version, author (2 + 32), group (2 + 32).
const LOG_OFFSET: usize = 1 + 1 + 34 + 34;
const DEPS_OFFSET: usize = LOG_OFFSET + 1 /* log */ + 1 /* seq */ + 1 /* null backlink */;

impl RawHeader {
    /// Mirrors `Header::encode`: array(11) [version, author, group, log, seq, backlink|null,
    /// [deps], timestamp, body_len, body_hash|null, flags].
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.array(11)
            .uint(self.version)
            .bytes(&self.author)
            .bytes(&self.group)
            .uint(self.log)
            .uint(self.seq)
            .opt_bytes32(self.backlink.as_ref())
            .array(self.deps.len());
        for d in &self.deps {
            w.bytes(d);
        }
        w.uint(self.timestamp)
            .uint(self.body_len)
            .opt_bytes32(self.body_hash.as_ref())
            .uint(self.flags);
        w.into_bytes()
    }

    fn with_body(mut self, body: &[u8]) -> Self {
        self.body_len = body.len() as u64;
        self.body_hash = Some(*blake3::hash(body).as_bytes());
        self
    }
}

/// envelope = array(2) [bytes header, bytes signature], signed by `id` for `net`.
fn wrap_signed(id: &Identity, net: &NetworkId, header: &[u8]) -> Vec<u8> {
    wrap(header, &id.sign(&signing_input(net, header)))
}

fn wrap(header: &[u8], sig: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.array(2).bytes(header).bytes(sig);
    w.into_bytes()
}

fn envelope(h: &RawHeader) -> Vec<u8> {
    wrap_signed(&alice(), &net(), &h.encode())
}

fn decode(envelope: Vec<u8>, body: Option<Vec<u8>>) -> Result<Event, EventError> {
    Event::decode(envelope, body)
}

fn decode_verify(envelope: Vec<u8>, body: Option<Vec<u8>>) -> Result<VerifiedEvent, EventError> {
    Event::decode(envelope, body).and_then(|e| e.verify(&net()))
}

fn header_err(source: CborError) -> EventError {
    EventError::Encoding {
        part: "header",
        source,
    }
}

fn envelope_err(source: CborError) -> EventError {
    EventError::Encoding {
        part: "envelope",
        source,
    }
}

/// Replaces `bytes[at..at + old.len()]`, which must equal `old`, with `new`.
fn splice(bytes: &[u8], at: usize, old: &[u8], new: &[u8]) -> Vec<u8> {
    assert_eq!(&bytes[at..at + old.len()], old, "splice target moved");
    let mut v = bytes[..at].to_vec();
    v.extend_from_slice(new);
    v.extend_from_slice(&bytes[at + old.len()..]);
    v
}

fn body_event(body: &[u8]) -> VerifiedEvent {
    Draft {
        group: GroupId([0x33; 32]),
        body: body.to_vec(),
        ..Draft::default()
    }
    .sign(&alice(), &net())
    .unwrap()
}

// --- The hand-built headers are faithful: the control cases. ---

#[test]
fn hand_built_header_matches_the_library_encoding_and_verifies() {
    let h = base().with_body(b"hello");
    let env = envelope(&h);
    let ev = decode_verify(env.clone(), Some(b"hello".to_vec())).unwrap();
    assert_eq!(ev.header().encode(), h.encode());
    let signed = Draft {
        group: GroupId(h.group),
        log: h.log,
        timestamp: h.timestamp,
        body: b"hello".to_vec(),
        ..Draft::default()
    }
    .sign(&alice(), &net())
    .unwrap();
    assert_eq!(signed.envelope(), &env[..]);
    assert_eq!(h.encode()[LOG_OFFSET], 5);
    assert_eq!(h.encode()[DEPS_OFFSET], 0x80);
}

// --- Sizes ---

/// The limits are part of the format: every node must use the same values.
#[test]
fn limits_are_the_specified_values() {
    assert_eq!(MAX_ENVELOPE_BYTES, 1200);
    assert_eq!(MAX_HEADER_BYTES, 1100);
    assert_eq!(MAX_BODY_BYTES, 64 * 1024);
    assert_eq!(MAX_DEPS, 16);
    assert_eq!(MAX_SEQ, i64::MAX as u64);
    assert_eq!(KNOWN_FLAGS, FLAG_ENCRYPTED);
    assert_eq!(FLAG_ENCRYPTED, 1);
    assert_eq!(VERSION, 1);
    assert_eq!(DOMAIN_TAG, b"dualpower/event/v1\0");
    assert_eq!(MAX_TEXT_BYTES, 32 * 1024);
    assert_eq!(MAX_REACTION_BYTES, 64);
}

/// A count or length larger than the bytes left fails at its head, before anything is read or
/// reserved for it.
#[test]
fn hostile_counts_fail_at_the_head() {
    // array(2) with one byte left.
    assert_eq!(
        decode(vec![0x82, 0x40], None).map(|e| e.id()),
        Err(envelope_err(CborError::Truncated {
            offset: 1,
            needed: 1
        }))
    );
    // array(2) [bytes(2^32 - 1) ...] with nothing behind the head.
    assert_eq!(
        decode(vec![0x82, 0x5a, 0xff, 0xff, 0xff, 0xff, 0x00], None).map(|e| e.id()),
        Err(envelope_err(CborError::TooLong {
            what: "header",
            len: u32::MAX as u64,
            max: MAX_HEADER_BYTES as u64
        }))
    );
}

#[test]
fn envelope_too_large() {
    let mut env = envelope(&base());
    env.resize(MAX_ENVELOPE_BYTES + 1, 0);
    assert_eq!(
        decode(env, None).map(|e| e.id()),
        Err(EventError::EnvelopeTooLarge {
            size: MAX_ENVELOPE_BYTES + 1,
            max: MAX_ENVELOPE_BYTES
        })
    );
    // One byte less is within the size limit and fails only for the padding.
    let mut env = envelope(&base());
    let pad = MAX_ENVELOPE_BYTES - env.len();
    env.resize(MAX_ENVELOPE_BYTES, 0);
    assert_eq!(
        decode(env, None).map(|e| e.id()),
        Err(envelope_err(CborError::TrailingBytes { count: pad }))
    );
}

#[test]
fn header_longer_than_its_limit_inside_the_envelope() {
    let header = vec![0u8; MAX_HEADER_BYTES + 1];
    let env = wrap(&header, &[0u8; 64]);
    assert!(env.len() <= MAX_ENVELOPE_BYTES);
    assert_eq!(
        decode(env, None).map(|e| e.id()),
        Err(envelope_err(CborError::TooLong {
            what: "header",
            len: MAX_HEADER_BYTES as u64 + 1,
            max: MAX_HEADER_BYTES as u64
        }))
    );
}

#[test]
fn body_too_large() {
    let env = envelope(&base());
    assert_eq!(
        decode(env, Some(vec![0; MAX_BODY_BYTES + 1])).map(|e| e.id()),
        Err(EventError::BodyTooLarge {
            size: MAX_BODY_BYTES as u64 + 1,
            max: MAX_BODY_BYTES
        })
    );
}

#[test]
fn declared_body_too_large() {
    let mut h = base();
    h.body_len = MAX_BODY_BYTES as u64 + 1;
    h.body_hash = Some([1; 32]);
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(EventError::BodyTooLarge {
            size: MAX_BODY_BYTES as u64 + 1,
            max: MAX_BODY_BYTES
        })
    );
}

#[test]
fn draft_with_too_large_body_fails_to_sign_but_the_limit_itself_is_fine() {
    let draft = |len| Draft {
        body: vec![7; len],
        ..Draft::default()
    };
    assert_eq!(
        draft(MAX_BODY_BYTES + 1)
            .sign(&alice(), &net())
            .map(|e| e.id()),
        Err(EventError::BodyTooLarge {
            size: MAX_BODY_BYTES as u64 + 1,
            max: MAX_BODY_BYTES
        })
    );
    let ev = draft(MAX_BODY_BYTES).sign(&alice(), &net()).unwrap();
    let (env, body) = ev.into_parts();
    decode_verify(env, body).unwrap();
}

// --- Canonical encoding ---

#[test]
fn non_minimal_integer_in_header() {
    let header = splice(&base().encode(), LOG_OFFSET, &[0x05], &[0x18, 0x05]);
    assert_eq!(
        decode(wrap_signed(&alice(), &net(), &header), None).map(|e| e.id()),
        Err(header_err(CborError::NonMinimalInteger {
            offset: LOG_OFFSET
        }))
    );
}

#[test]
fn non_minimal_length_in_envelope() {
    let env = envelope(&base());
    let len = env[2];
    assert_eq!(env[1], 0x58, "header length is a one-byte head");
    let env = splice(&env, 1, &[0x58, len], &[0x59, 0x00, len]);
    assert_eq!(
        decode(env, None).map(|e| e.id()),
        Err(envelope_err(CborError::NonMinimalInteger { offset: 1 }))
    );
}

#[test]
fn indefinite_length_deps() {
    let header = splice(&base().encode(), DEPS_OFFSET, &[0x80], &[0x9f, 0xff]);
    assert_eq!(
        decode(wrap_signed(&alice(), &net(), &header), None).map(|e| e.id()),
        Err(header_err(CborError::IndefiniteLength {
            offset: DEPS_OFFSET
        }))
    );
}

#[test]
fn indefinite_length_envelope() {
    let env = envelope(&base());
    let mut indefinite = splice(&env, 0, &[0x82], &[0x9f]);
    indefinite.push(0xff);
    assert_eq!(
        decode(indefinite, None).map(|e| e.id()),
        Err(envelope_err(CborError::IndefiniteLength { offset: 0 }))
    );
}

#[test]
fn trailing_bytes_after_envelope() {
    let mut env = envelope(&base());
    env.push(0x00);
    assert_eq!(
        decode(env, None).map(|e| e.id()),
        Err(envelope_err(CborError::TrailingBytes { count: 1 }))
    );
}

#[test]
fn trailing_bytes_inside_header() {
    let mut header = base().encode();
    header.extend_from_slice(&[0xf6, 0xf6]);
    assert_eq!(
        decode(wrap_signed(&alice(), &net(), &header), None).map(|e| e.id()),
        Err(header_err(CborError::TrailingBytes { count: 2 }))
    );
}

#[test]
fn wrong_envelope_shape() {
    let header = base().encode();
    let sig = alice().sign(&signing_input(&net(), &header));
    let mut w = Writer::default();
    w.array(3).bytes(&header).bytes(&sig).uint(0);
    assert_eq!(
        decode(w.into_bytes(), None).map(|e| e.id()),
        Err(envelope_err(CborError::TooLong {
            what: "envelope",
            len: 3,
            max: 2
        }))
    );
    assert_eq!(
        decode(wrap(&header, &sig[..63]), None).map(|e| e.id()),
        Err(envelope_err(CborError::WrongSize {
            what: "signature",
            expected: 64,
            found: 63
        }))
    );
}

#[test]
fn wrong_header_field_count() {
    let header = base().encode();
    // 10 fields: drop the trailing flags.
    let short = splice(&header[..header.len() - 1], 0, &[0x8b], &[0x8a]);
    assert_eq!(
        decode(wrap_signed(&alice(), &net(), &short), None).map(|e| e.id()),
        Err(header_err(CborError::WrongSize {
            what: "header field count",
            expected: 11,
            found: 10
        }))
    );
}

#[test]
fn author_of_wrong_size() {
    let header = base().encode();
    let short = splice(&header, 2, &[0x58, 0x20], &[0x58, 0x1f]);
    let short = splice(&short, 2 + 2 + 31, &header[2 + 2 + 31..2 + 2 + 32], &[]);
    assert_eq!(
        decode(wrap_signed(&alice(), &net(), &short), None).map(|e| e.id()),
        Err(header_err(CborError::WrongSize {
            what: "author",
            expected: 32,
            found: 31
        }))
    );
}

// --- Header rules ---

#[test]
fn unknown_version() {
    let mut h = base();
    h.version = 2;
    let env = envelope(&h);
    // Correctly signed, so only the version is wrong.
    assert_eq!(
        decode(env, None).map(|e| e.id()),
        Err(EventError::UnknownVersion(2))
    );
    h.version = 0;
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(EventError::UnknownVersion(0))
    );
}

#[test]
fn unknown_version_is_reported_before_the_field_count() {
    // A future version with a different layout is reported as a version, not as garbage.
    let mut w = Writer::default();
    w.array(3).uint(2).uint(0).uint(0);
    assert_eq!(
        decode(wrap_signed(&alice(), &net(), &w.into_bytes()), None).map(|e| e.id()),
        Err(EventError::UnknownVersion(2))
    );
}

#[test]
fn unknown_flags() {
    for flags in [2, 3, 1 << 63] {
        let mut h = base();
        h.flags = flags;
        assert_eq!(
            decode(envelope(&h), None).map(|e| e.id()),
            Err(EventError::UnknownFlags(flags))
        );
        let draft = Draft {
            flags,
            ..Draft::default()
        };
        assert_eq!(
            draft.sign(&alice(), &net()).map(|e| e.id()),
            Err(EventError::UnknownFlags(flags))
        );
    }
}

#[test]
fn backlink_on_seq_zero() {
    let mut h = base();
    h.backlink = Some([9; 32]);
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(EventError::BacklinkShape { seq: 0 })
    );
}

#[test]
fn backlink_missing_on_later_seq() {
    for seq in [1, 7, MAX_SEQ] {
        let mut h = base();
        h.seq = seq;
        assert_eq!(
            decode(envelope(&h), None).map(|e| e.id()),
            Err(EventError::BacklinkShape { seq })
        );
        let draft = Draft {
            seq,
            ..Draft::default()
        };
        assert_eq!(
            draft.sign(&alice(), &net()).map(|e| e.id()),
            Err(EventError::BacklinkShape { seq })
        );
    }
}

#[test]
fn seq_and_log_out_of_range() {
    let mut h = base();
    h.seq = MAX_SEQ + 1;
    h.backlink = Some([9; 32]);
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(header_err(CborError::OutOfRange {
            what: "seq",
            value: MAX_SEQ + 1
        }))
    );
    let mut h = base();
    h.log = u64::MAX;
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(header_err(CborError::OutOfRange {
            what: "log",
            value: u64::MAX
        }))
    );
    // A draft past the bound is refused too (the signature it made is never released).
    let draft = Draft {
        seq: MAX_SEQ + 1,
        backlink: Some(EventId([9; 32])),
        ..Draft::default()
    };
    assert_eq!(
        draft.sign(&alice(), &net()).map(|e| e.id()),
        Err(header_err(CborError::OutOfRange {
            what: "seq",
            value: MAX_SEQ + 1
        }))
    );
}

#[test]
fn unsorted_deps() {
    let mut h = base();
    h.deps = vec![[2; 32], [1; 32]];
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(EventError::DepsNotCanonical)
    );
}

#[test]
fn duplicate_deps() {
    let mut h = base();
    h.deps = vec![[1; 32], [2; 32], [2; 32]];
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(EventError::DepsNotCanonical)
    );
}

fn distinct_deps(n: usize) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| {
            let mut d = [0u8; 32];
            d[0] = i as u8;
            d
        })
        .collect()
}

#[test]
fn too_many_deps() {
    let mut h = base();
    h.deps = distinct_deps(MAX_DEPS + 1);
    let env = envelope(&h);
    assert!(env.len() <= MAX_ENVELOPE_BYTES);
    assert_eq!(
        decode(env, None).map(|e| e.id()),
        Err(header_err(CborError::TooLong {
            what: "deps",
            len: MAX_DEPS as u64 + 1,
            max: MAX_DEPS as u64
        }))
    );
    // Exactly the limit is fine.
    h.deps = distinct_deps(MAX_DEPS);
    decode_verify(envelope(&h), None).unwrap();
}

#[test]
fn draft_with_too_many_deps_fails_to_sign() {
    let deps: Vec<EventId> = distinct_deps(MAX_DEPS + 1)
        .into_iter()
        .map(EventId)
        .collect();
    let draft = Draft {
        deps: deps.clone(),
        ..Draft::default()
    };
    assert_eq!(
        draft.sign(&alice(), &net()).map(|e| e.id()),
        Err(header_err(CborError::TooLong {
            what: "deps",
            len: MAX_DEPS as u64 + 1,
            max: MAX_DEPS as u64
        }))
    );
    // Duplicates are removed before counting: 17 entries, 16 distinct, signs.
    let mut sixteen = deps[..MAX_DEPS].to_vec();
    sixteen.push(deps[0]);
    let ev = Draft {
        deps: sixteen,
        ..Draft::default()
    }
    .sign(&alice(), &net())
    .unwrap();
    assert_eq!(ev.header().deps.len(), MAX_DEPS);
}

#[test]
fn body_hash_without_body_len_and_the_reverse() {
    let mut h = base();
    h.body_hash = Some([1; 32]);
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(EventError::BodyHashShape)
    );
    let mut h = base();
    h.body_len = 10;
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(EventError::BodyHashShape)
    );
}

// --- Body binding ---

#[test]
fn body_length_mismatch() {
    let ev = body_event(b"twelve bytes");
    let env = ev.envelope().to_vec();
    assert_eq!(
        decode(env.clone(), Some(b"twelve bytes!".to_vec())).map(|e| e.id()),
        Err(EventError::BodyLengthMismatch {
            declared: 12,
            actual: 13
        })
    );
    assert_eq!(
        decode(env, Some(b"twelve".to_vec())).map(|e| e.id()),
        Err(EventError::BodyLengthMismatch {
            declared: 12,
            actual: 6
        })
    );
    // A body offered for an event that has none.
    assert_eq!(
        decode(envelope(&base()), Some(vec![1])).map(|e| e.id()),
        Err(EventError::BodyLengthMismatch {
            declared: 0,
            actual: 1
        })
    );
}

#[test]
fn body_hash_mismatch() {
    let ev = body_event(b"twelve bytes");
    assert_eq!(
        decode(ev.envelope().to_vec(), Some(b"twelve BYTES".to_vec())).map(|e| e.id()),
        Err(EventError::BodyHashMismatch)
    );
    // The right body still passes, and the header verifies without any body.
    decode_verify(ev.envelope().to_vec(), Some(b"twelve bytes".to_vec())).unwrap();
    decode_verify(ev.envelope().to_vec(), None).unwrap();
}

// --- Authors and signatures ---

#[test]
fn weak_author_small_order() {
    let mut h = base();
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    h.author = identity_point;
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(EventError::WeakAuthor(KeyError::Weak))
    );
}

/// An author that is not a curve point at all. Nobody can sign for it, so it may be refused
/// either as weak when decoding (a check that decompresses the key) or with a bad signature when
/// verifying (a byte-level weak-key check that does not); either way it never verifies, and
/// single and batch verification agree.
#[test]
fn author_not_on_the_curve_never_verifies() {
    let off_curve = (2u8..=255)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| {
            curve25519_dalek::edwards::CompressedEdwardsY(*b)
                .decompress()
                .is_none()
        })
        .unwrap();
    let mut h = base();
    h.author = off_curve;
    let env = envelope(&h);
    match decode(env.clone(), None) {
        Err(e) => assert_eq!(e, EventError::WeakAuthor(KeyError::Weak)),
        Ok(ev) => {
            assert_eq!(
                ev.clone().verify(&net()).map(|v| v.id()),
                Err(EventError::BadSignature)
            );
            let batch = verify_batch(vec![ev, decode(envelope(&base()), None).unwrap()], &net());
            let oks: Vec<bool> = batch.iter().map(|r| r.is_ok()).collect();
            assert_eq!(oks, [false, true]);
        }
    }
}

#[test]
fn weak_author_non_canonical_encoding_of_a_strong_key() {
    // y in p..p+18 encodes the same point as y - p; find one whose point is not small order.
    let mut found = None;
    for k in 2u8..19 {
        let mut b = [0xffu8; 32];
        b[0] = 0xed + k;
        b[31] = 0x7f;
        if let Some(p) = curve25519_dalek::edwards::CompressedEdwardsY(b).decompress()
            && !p.is_small_order()
        {
            found = Some(b);
            break;
        }
    }
    let Some(author) = found else {
        panic!("some y in p+2..p+18 should be on the curve");
    };
    let mut h = base();
    h.author = author;
    assert_eq!(
        decode(envelope(&h), None).map(|e| e.id()),
        Err(EventError::WeakAuthor(KeyError::Weak))
    );
}

#[test]
fn bad_signature_flipped_bit() {
    let env = envelope(&base());
    decode_verify(env.clone(), None).unwrap();
    for bit in [0, 7, 255, 256, 511] {
        let mut bad = env.clone();
        let at = env.len() - 64 + bit / 8;
        bad[at] ^= 1 << (bit % 8);
        assert_eq!(
            decode_verify(bad, None).map(|e| e.id()),
            Err(EventError::BadSignature),
            "signature bit {bit}"
        );
    }
}

#[test]
fn bad_signature_non_canonical_scalar() {
    // s + l is the same scalar mod l; ZIP-215 requires s < l.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let header = base().encode();
    let mut sig = alice().sign(&signing_input(&net(), &header));
    let mut carry = 0u16;
    for (s, l) in sig[32..].iter_mut().zip(L) {
        let v = *s as u16 + l as u16 + carry;
        *s = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    assert_eq!(
        decode_verify(wrap(&header, &sig), None).map(|e| e.id()),
        Err(EventError::BadSignature)
    );
}

#[test]
fn bad_signature_by_someone_else() {
    let header = base().encode();
    let mallory = Identity::from_seed(&[0x66; 32]);
    assert_eq!(
        decode_verify(wrap_signed(&mallory, &net(), &header), None).map(|e| e.id()),
        Err(EventError::BadSignature)
    );
}

#[test]
fn replay_into_another_network() {
    let a = NetworkId::named("a");
    let b = NetworkId::named("b");
    let ev = Draft {
        body: b"hi".to_vec(),
        ..Draft::default()
    }
    .sign(&alice(), &a)
    .unwrap();
    let (env, body) = ev.into_parts();
    assert_eq!(
        Event::decode(env.clone(), body.clone())
            .and_then(|e| e.verify(&b))
            .map(|e| e.id()),
        Err(EventError::BadSignature)
    );
    assert_eq!(
        Event::decode(env.clone(), body.clone())
            .and_then(|e| e.verify(&NetworkId::main()))
            .map(|e| e.id()),
        Err(EventError::BadSignature)
    );
    Event::decode(env, body).and_then(|e| e.verify(&a)).unwrap();
}

#[test]
fn batch_verdicts_equal_single_verdicts() {
    let good = |n: u8| {
        let mut h = base();
        h.timestamp = n as u64;
        envelope(&h)
    };
    let mut envs = vec![good(1), good(2)];
    // Wrong network.
    envs.push(wrap_signed(
        &alice(),
        &NetworkId::named("elsewhere"),
        &base().encode(),
    ));
    envs.push(good(3));
    // Flipped signature bit.
    let mut bad = good(4);
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    envs.push(bad);
    // Signed by someone else.
    envs.push(wrap_signed(
        &Identity::from_seed(&[0x66; 32]),
        &net(),
        &base().encode(),
    ));
    envs.push(good(5));
    let events: Vec<Event> = envs
        .iter()
        .map(|e| Event::decode(e.clone(), None).unwrap())
        .collect();
    let singles: Vec<_> = events
        .iter()
        .map(|e| e.clone().verify(&net()).map(|v| v.id()))
        .collect();
    let batch: Vec<_> = verify_batch(events, &net())
        .into_iter()
        .map(|r| r.map(|v| v.id()))
        .collect();
    assert_eq!(batch, singles);
    let oks: Vec<bool> = batch.iter().map(|r| r.is_ok()).collect();
    assert_eq!(oks, [true, true, false, true, false, false, true]);
}

// --- Payloads ---

fn payload_bytes(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::default();
    f(&mut w);
    w.into_bytes()
}

#[test]
fn payload_text_too_long() {
    let text = "x".repeat(MAX_TEXT_BYTES + 1);
    let body = payload_bytes(|w| {
        w.map(2).uint(0).uint(2).uint(1).text(&text);
    });
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::Encoding(CborError::TooLong {
            what: "text",
            len: MAX_TEXT_BYTES as u64 + 1,
            max: MAX_TEXT_BYTES as u64
        }))
    );
    let reaction = "y".repeat(MAX_REACTION_BYTES + 1);
    let body = payload_bytes(|w| {
        w.map(3)
            .uint(0)
            .uint(4)
            .uint(1)
            .bytes(&[1; 32])
            .uint(2)
            .text(&reaction);
    });
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::Encoding(CborError::TooLong {
            what: "reaction",
            len: MAX_REACTION_BYTES as u64 + 1,
            max: MAX_REACTION_BYTES as u64
        }))
    );
}

#[test]
fn payload_blank_text() {
    let body = payload_bytes(|w| {
        w.map(2).uint(0).uint(2).uint(1).text(" \n\t ");
    });
    assert_eq!(Payload::decode(&body), Err(PayloadError::Empty("text")));
    let body = payload_bytes(|w| {
        w.map(3)
            .uint(0)
            .uint(1)
            .uint(1)
            .text("")
            .uint(2)
            .bytes(&[0; 16]);
    });
    assert_eq!(Payload::decode(&body), Err(PayloadError::Empty("name")));
}

#[test]
fn payload_without_kind() {
    assert_eq!(
        Payload::decode(&payload_bytes(|w| {
            w.map(0);
        })),
        Err(PayloadError::MissingField {
            kind: 0,
            field: "kind"
        })
    );
    assert_eq!(
        Payload::decode(&payload_bytes(|w| {
            w.map(1).uint(1).text("no kind");
        })),
        Err(PayloadError::MissingField {
            kind: 0,
            field: "kind"
        })
    );
}

#[test]
fn payload_duplicate_or_unordered_keys() {
    // Post with key 1 twice: a3 00 02 01 61 61 [01] 61 62
    let body = payload_bytes(|w| {
        w.map(3).uint(0).uint(2).uint(1).text("a").uint(1).text("b");
    });
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::Encoding(CborError::KeyOrder {
            offset: 6,
            key: 1
        }))
    );
    // Unknown kind with keys out of order: a3 00 18 64 02 00 [01] 00
    let body = payload_bytes(|w| {
        w.map(3).uint(0).uint(100).uint(2).uint(0).uint(1).uint(0);
    });
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::Encoding(CborError::KeyOrder {
            offset: 6,
            key: 1
        }))
    );
}

#[test]
fn payload_unknown_and_missing_fields_of_known_kinds() {
    // Comment without parent (key 1), only text (key 2).
    let body = payload_bytes(|w| {
        w.map(2).uint(0).uint(3).uint(2).text("orphan");
    });
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::MissingField {
            kind: 3,
            field: "parent"
        })
    );
    // Reaction with an extra field 3.
    let body = payload_bytes(|w| {
        w.map(4)
            .uint(0)
            .uint(4)
            .uint(1)
            .bytes(&[1; 32])
            .uint(2)
            .text("+1")
            .uint(3)
            .bool(true);
    });
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::UnknownField { kind: 4, field: 3 })
    );
}

#[test]
fn payload_wrong_sizes_types_and_bytes() {
    let body = payload_bytes(|w| {
        w.map(3)
            .uint(0)
            .uint(1)
            .uint(1)
            .text("g")
            .uint(2)
            .bytes(&[0; 15]);
    });
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::Encoding(CborError::WrongSize {
            what: "nonce",
            expected: 16,
            found: 15
        }))
    );
    // Text that is not UTF-8: a2 00 02 01 [62] ff fe
    let body = [0xa2, 0x00, 0x02, 0x01, 0x62, 0xff, 0xfe];
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::Encoding(CborError::InvalidUtf8 { offset: 4 }))
    );
    // Trailing bytes after the map.
    let mut body = Payload::Post { text: "hi".into() }.encode();
    body.push(0);
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::Encoding(CborError::TrailingBytes {
            count: 1
        }))
    );
    // A float (unsupported) inside an unknown kind's field: a2 00 18 64 01 [f9] 00 00
    let body = [0xa2, 0x00, 0x18, 0x64, 0x01, 0xf9, 0x00, 0x00];
    assert_eq!(
        Payload::decode(&body),
        Err(PayloadError::Encoding(CborError::Unsupported {
            offset: 5,
            initial: 0xf9
        }))
    );
}

#[test]
fn payload_unknown_kind_nesting_is_bounded() {
    // Unknown kind whose field 1 is 8 nested arrays: 9 levels with the map.
    let deep = |levels: usize| {
        let mut w = Writer::default();
        w.map(2).uint(0).uint(100).uint(1);
        for _ in 0..levels {
            w.array(1);
        }
        w.uint(0);
        w.into_bytes()
    };
    assert_eq!(
        Payload::decode(&deep(7)),
        Ok(Payload::Unknown { kind: 100 })
    );
    assert_eq!(
        Payload::decode(&deep(8)),
        Err(PayloadError::Encoding(CborError::TooDeep { max: 8 }))
    );
}
