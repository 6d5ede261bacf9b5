#![allow(clippy::unwrap_used)]
//! Deterministic test vectors for the event format: header encoding, signing input, signature,
//! envelope, id and body hash, plus the canonical encoding of every payload kind, and proofs of
//! possession of X25519 prekeys (XEdDSA-style Ed25519 signatures, for both sign bits).
//!
//! The vectors live in `tests/vectors/events.json` so that other implementations can check
//! themselves against the exact bytes. This test re-derives every vector from its recorded inputs
//! and fails on any difference. To regenerate the file after an intentional format change, run
//! `DUALPOWER_BLESS=1 cargo test -p dualpower-core --test vectors` and review the diff.

use std::collections::BTreeSet;

use dualpower_core::event::{DOMAIN_TAG, FLAG_ENCRYPTED, signing_input};
use dualpower_core::payload::{MAX_NAME_BYTES, prekey_proof_message};
use dualpower_core::sig::{verify_x25519_possession, x25519_to_ed25519};
use dualpower_core::{
    Draft, Event, EventId, Genesis, GroupId, Header, Identity, NetworkId, Payload, PublicKey,
};
use serde::{Deserialize, Serialize};

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/events.json");
const TEST_NETWORK: &str = "test-vectors";

/// A payload in a form that is easy to read and write in JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
enum PayloadSpec {
    GroupGenesis { name: String, nonce: String },
    Post { text: String },
    Comment { parent: String, text: String },
    Reaction { target: String, reaction: String },
    Prekey { key: String, proof: String },
    Unknown { kind: u64 },
}

/// Everything needed to re-create an event.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct EventInputs {
    /// 32-byte Ed25519 seed of the author, hex.
    seed: String,
    /// `"main"` for `NetworkId::main()`, or `"named:<name>"` for `NetworkId::named(<name>)`.
    network_derivation: String,
    /// The resulting network id, hex.
    network: String,
    group: String,
    log: u64,
    seq: u64,
    backlink: Option<String>,
    /// As given to the draft (any order, may repeat); the header holds them sorted, deduplicated.
    deps: Vec<String>,
    timestamp: u64,
    flags: u64,
    /// The body is the encoding of this payload, or `raw_body`, or nothing if both are null.
    payload: Option<PayloadSpec>,
    raw_body: Option<String>,
}

/// Everything derived from the inputs.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct EventOutputs {
    author: String,
    header_bytes: String,
    signing_input: String,
    signature: String,
    envelope: String,
    id: String,
    body: Option<String>,
    body_hash: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct EventVector {
    name: String,
    inputs: EventInputs,
    outputs: EventOutputs,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct PayloadVector {
    name: String,
    payload: PayloadSpec,
    encoding: String,
}

/// A proof of possession of an X25519 prekey, as a prekey event carries it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct PrekeyProofVector {
    name: String,
    /// The X25519 secret (as generated, before clamping).
    secret: String,
    network: String,
    group: String,
    /// The publishing author (Ed25519 public key).
    author: String,
    /// `prekey_proof_message(network, group, author, key)`.
    message: String,
    /// The X25519 public key (Montgomery u).
    key: String,
    /// The sign bit of the Edwards point of the clamped secret before normalisation: 1 means the
    /// signer negated its scalar.
    negated: bool,
    /// The Edwards form of `key` with sign bit 0: the Ed25519 key the proof verifies under.
    edwards: String,
    /// The Ed25519 signature (R, s) over `message`.
    proof: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    comment: String,
    domain_tag: String,
    events: Vec<EventVector>,
    payloads: Vec<PayloadVector>,
    prekey_proofs: Vec<PrekeyProofVector>,
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).unwrap_or_else(|e| panic!("bad 32-byte hex {s:?}: {e}"));
    out
}

fn hex16(s: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s, &mut out).unwrap_or_else(|e| panic!("bad 16-byte hex {s:?}: {e}"));
    out
}

impl PayloadSpec {
    fn to_payload(&self) -> Payload {
        match self {
            PayloadSpec::GroupGenesis { name, nonce } => Payload::GroupGenesis(Genesis {
                name: name.clone(),
                nonce: hex16(nonce),
                constitution: Default::default(),
            }),
            PayloadSpec::Post { text } => Payload::Post { text: text.clone() },
            PayloadSpec::Comment { parent, text } => Payload::Comment {
                parent: EventId(hex32(parent)),
                text: text.clone(),
            },
            PayloadSpec::Reaction { target, reaction } => Payload::Reaction {
                target: EventId(hex32(target)),
                reaction: reaction.clone(),
            },
            PayloadSpec::Prekey { key, proof } => Payload::Prekey {
                key: hex32(key),
                proof: hex::decode(proof).unwrap().try_into().unwrap(),
            },
            PayloadSpec::Unknown { kind } => Payload::Unknown { kind: *kind },
        }
    }
}

fn network_of(inputs: &EventInputs) -> NetworkId {
    let net = if inputs.network_derivation == "main" {
        NetworkId::main()
    } else if let Some(name) = inputs.network_derivation.strip_prefix("named:") {
        NetworkId::named(name)
    } else {
        panic!("unknown network derivation {:?}", inputs.network_derivation)
    };
    assert_eq!(
        net.to_hex(),
        inputs.network,
        "network id does not match its derivation {:?}",
        inputs.network_derivation
    );
    net
}

fn body_of(inputs: &EventInputs) -> Vec<u8> {
    match (&inputs.payload, &inputs.raw_body) {
        (Some(p), None) => p.to_payload().encode(),
        (None, Some(raw)) => hex::decode(raw).unwrap(),
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => panic!("a vector has either a payload or a raw body, not both"),
    }
}

fn draft_of(inputs: &EventInputs) -> Draft {
    Draft {
        group: GroupId(hex32(&inputs.group)),
        log: inputs.log,
        seq: inputs.seq,
        backlink: inputs.backlink.as_deref().map(|b| EventId(hex32(b))),
        deps: inputs.deps.iter().map(|d| EventId(hex32(d))).collect(),
        timestamp: inputs.timestamp,
        body: body_of(inputs),
        flags: inputs.flags,
    }
}

/// The sign bit of the Edwards point of the clamped X25519 secret, computed with
/// curve25519-dalek directly.
fn edwards_sign_bit(secret: &[u8; 32]) -> bool {
    let k = curve25519_dalek::Scalar::from_bytes_mod_order(
        curve25519_dalek::scalar::clamp_integer(*secret),
    );
    curve25519_dalek::EdwardsPoint::mul_base(&k)
        .compress()
        .to_bytes()[31]
        >> 7
        == 1
}

/// A possession proof vector for the prekey with this secret, made with the library under test.
fn prekey_proof_vector(
    name: &str,
    secret: [u8; 32],
    network: &NetworkId,
    group: &GroupId,
    author: &PublicKey,
) -> PrekeyProofVector {
    let prekey = dualpower_crypto::PrekeySecret::from_bytes(secret);
    let key = prekey.public();
    let message = prekey_proof_message(network, group, author, &key);
    PrekeyProofVector {
        name: name.to_owned(),
        secret: hex::encode(secret),
        network: network.to_hex(),
        group: hex::encode(group.0),
        author: author.to_hex(),
        negated: edwards_sign_bit(&secret),
        edwards: hex::encode(x25519_to_ed25519(&key).expect("an honest prekey converts")),
        proof: hex::encode(prekey.sign_possession(&message)),
        message: hex::encode(message),
        key: hex::encode(key),
    }
}

/// Derives the outputs with the library under test.
fn derive(inputs: &EventInputs) -> EventOutputs {
    let identity = Identity::from_seed(&hex32(&inputs.seed));
    let net = network_of(inputs);
    let ev = draft_of(inputs)
        .sign(&identity, &net)
        .unwrap_or_else(|e| panic!("vector draft must sign: {e}"));
    let header_bytes = ev.event().header_bytes().to_vec();
    EventOutputs {
        author: identity.public().to_hex(),
        signing_input: hex::encode(signing_input(&net, &header_bytes)),
        header_bytes: hex::encode(&header_bytes),
        signature: hex::encode(ev.event().signature()),
        envelope: hex::encode(ev.envelope()),
        id: ev.id().to_hex(),
        body: ev.body().map(hex::encode),
        body_hash: ev.header().body_hash.map(hex::encode),
    }
}

#[allow(clippy::too_many_arguments)]
fn inputs(
    seed: u8,
    net: &str,
    group: GroupId,
    log: u64,
    seq: u64,
    backlink: Option<EventId>,
    deps: &[EventId],
    timestamp: u64,
    flags: u64,
) -> EventInputs {
    let (network_derivation, network) = if net == "main" {
        ("main".to_owned(), NetworkId::main())
    } else {
        (format!("named:{net}"), NetworkId::named(net))
    };
    EventInputs {
        seed: hex::encode([seed; 32]),
        network_derivation,
        network: network.to_hex(),
        group: group.to_hex(),
        log,
        seq,
        backlink: backlink.map(|b| b.to_hex()),
        deps: deps.iter().map(|d| d.to_hex()).collect(),
        timestamp,
        flags,
        payload: None,
        raw_body: None,
    }
}

fn id_of(outputs: &EventOutputs) -> EventId {
    EventId(hex32(&outputs.id))
}

/// The vectors, defined in code. Later events link to earlier ones by their derived ids.
fn expected_file() -> VectorFile {
    let mut events: Vec<EventVector> = Vec::new();
    let mut push = |name: &str, inputs: EventInputs| -> EventOutputs {
        let outputs = derive(&inputs);
        events.push(EventVector {
            name: name.to_owned(),
            inputs,
            outputs: outputs.clone(),
        });
        outputs
    };

    let alice = Identity::from_seed(&[1; 32]).public();
    let nonce = [0x11u8; 16];
    let group = Genesis {
        name: "Test Vector Tenants Union".into(),
        nonce,
        constitution: Default::default(),
    }
    .group_id(&alice);

    let mut i = inputs(
        1,
        TEST_NETWORK,
        group,
        0,
        0,
        None,
        &[],
        1_700_000_000_000,
        0,
    );
    i.payload = Some(PayloadSpec::GroupGenesis {
        name: "Test Vector Tenants Union".into(),
        nonce: hex::encode(nonce),
    });
    let genesis = push("genesis", i);

    let mut i = inputs(
        1,
        TEST_NETWORK,
        group,
        0,
        1,
        Some(id_of(&genesis)),
        &[],
        1_700_000_001_000,
        0,
    );
    i.payload = Some(PayloadSpec::Post {
        text: "Rent strike meeting, Thursday 7pm.".into(),
    });
    let post = push("post-seq1-with-backlink", i.clone());

    // Same draft, other network: identical header bytes, different signature and id.
    let mut main = inputs(
        1,
        "main",
        group,
        0,
        1,
        Some(id_of(&genesis)),
        &[],
        1_700_000_001_000,
        0,
    );
    main.payload = i.payload.clone();
    push("post-seq1-main-network", main);

    // Bob's first event: three deps, given unsorted and with one repeated.
    let outside = EventId([0xab; 32]);
    let mut i = inputs(
        2,
        TEST_NETWORK,
        group,
        0,
        0,
        None,
        &[outside, id_of(&post), id_of(&genesis), outside],
        1_700_000_002_000,
        0,
    );
    i.payload = Some(PayloadSpec::Comment {
        parent: post.id.clone(),
        text: "I'll bring food ✊".into(),
    });
    let comment = push("comment-three-deps", i);

    let i = inputs(
        2,
        TEST_NETWORK,
        group,
        0,
        1,
        Some(id_of(&comment)),
        &[],
        1_700_000_003_000,
        0,
    );
    let _ = push("no-body", i);

    // Integers that need 1-, 2- and 8-byte heads.
    let mut i = inputs(
        1,
        TEST_NETWORK,
        group,
        24,
        256,
        Some(EventId([0x5a; 32])),
        &[id_of(&comment)],
        1 << 32,
        0,
    );
    i.payload = Some(PayloadSpec::Reaction {
        target: comment.id.clone(),
        reaction: "👍".into(),
    });
    push("reaction-wide-integers", i);

    // An opaque (encrypted) body of 300 bytes: a 2-byte body_len.
    let mut i = inputs(
        3,
        TEST_NETWORK,
        group,
        1,
        0,
        None,
        &[],
        1_700_000_004_000,
        FLAG_ENCRYPTED,
    );
    i.raw_body = Some(hex::encode(
        (0..300u32).map(|n| (n * 7 % 251) as u8).collect::<Vec<_>>(),
    ));
    push("encrypted-raw-body", i);

    let mut i = inputs(
        1,
        TEST_NETWORK,
        group,
        0,
        2,
        Some(id_of(&post)),
        &[],
        1_700_000_005_000,
        0,
    );
    i.payload = Some(PayloadSpec::Unknown { kind: 1000 });
    push("unknown-kind", i);

    // Prekey proofs: the first secrets [i; 32] whose Edwards point has sign bit 0 and 1, so both
    // branches of the signer's normalisation are pinned.
    let net = NetworkId::named(TEST_NETWORK);
    let prekey_proofs: Vec<PrekeyProofVector> = [false, true]
        .into_iter()
        .map(|negated| {
            let secret = (1u8..)
                .map(|i| [i; 32])
                .find(|s| edwards_sign_bit(s) == negated)
                .unwrap();
            let name = if negated {
                "prekey-proof-negated"
            } else {
                "prekey-proof"
            };
            prekey_proof_vector(name, secret, &net, &group, &alice)
        })
        .collect();

    let payload_specs = [
        (
            "group-genesis",
            PayloadSpec::GroupGenesis {
                name: "Tenants of 5th St".into(),
                nonce: hex::encode([9u8; 16]),
            },
        ),
        (
            "group-genesis-longest-name",
            PayloadSpec::GroupGenesis {
                name: "n".repeat(MAX_NAME_BYTES),
                nonce: hex::encode((0..16u8).collect::<Vec<_>>()),
            },
        ),
        ("post", PayloadSpec::Post { text: "hi".into() }),
        (
            "post-24-byte-text",
            PayloadSpec::Post {
                text: "exactly twenty-four byte".into(),
            },
        ),
        (
            "comment",
            PayloadSpec::Comment {
                parent: hex::encode([1u8; 32]),
                text: "I'll bring food".into(),
            },
        ),
        (
            "reaction",
            PayloadSpec::Reaction {
                target: hex::encode([2u8; 32]),
                reaction: "✊".into(),
            },
        ),
        (
            "prekey",
            PayloadSpec::Prekey {
                key: prekey_proofs[0].key.clone(),
                proof: prekey_proofs[0].proof.clone(),
            },
        ),
        ("unknown-kind-0", PayloadSpec::Unknown { kind: 0 }),
        ("unknown-kind-500", PayloadSpec::Unknown { kind: 500 }),
        ("unknown-kind-wide", PayloadSpec::Unknown { kind: u64::MAX }),
    ];
    let payloads = payload_specs
        .into_iter()
        .map(|(name, payload)| PayloadVector {
            name: name.to_owned(),
            encoding: hex::encode(payload.to_payload().encode()),
            payload,
        })
        .collect();

    VectorFile {
        comment: "Dual Power event test vectors. Regenerate with DUALPOWER_BLESS=1 \
                  cargo test -p dualpower-core --test vectors. All byte strings are lower-case hex."
            .into(),
        domain_tag: hex::encode(DOMAIN_TAG),
        events,
        payloads,
        prekey_proofs,
    }
}

/// Reads the committed vectors; in bless mode first (re)writes them from the code-defined ones
/// (atomically, so tests running in parallel never see a half-written file).
fn load() -> VectorFile {
    if blessing() {
        let mut json = serde_json::to_string_pretty(&expected_file()).unwrap();
        json.push('\n');
        let path = std::path::Path::new(VECTORS_PATH);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let tmp = path.with_extension(format!("json.{:?}.tmp", std::thread::current().id()));
        std::fs::write(&tmp, json).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }
    let text = std::fs::read_to_string(VECTORS_PATH).unwrap_or_else(|e| {
        panic!("cannot read {VECTORS_PATH}: {e} (bless with DUALPOWER_BLESS=1)")
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {VECTORS_PATH}: {e}"))
}

fn blessing() -> bool {
    std::env::var("DUALPOWER_BLESS").is_ok_and(|v| v == "1")
}

/// The committed file is exactly what the code-defined vectors derive to (so coverage cannot
/// silently shrink), and every vector's outputs re-derive from its own recorded inputs.
#[test]
fn vectors_match_committed_json() {
    let expected = expected_file();
    let file = load();
    assert_eq!(file.domain_tag, hex::encode(DOMAIN_TAG));
    for v in &file.events {
        assert_eq!(
            derive(&v.inputs),
            v.outputs,
            "event vector {:?} does not re-derive from its inputs",
            v.name
        );
    }
    for v in &file.payloads {
        let p = v.payload.to_payload();
        assert_eq!(
            hex::encode(p.encode()),
            v.encoding,
            "payload vector {:?}",
            v.name
        );
        assert_eq!(
            Payload::decode(&hex::decode(&v.encoding).unwrap()),
            Ok(p),
            "payload vector {:?} does not decode back",
            v.name
        );
    }
    let names = |f: &VectorFile| f.events.iter().map(|v| v.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&file), names(&expected), "event vector set differs");
    assert_eq!(
        file, expected,
        "committed vectors differ from the code-defined ones"
    );
}

/// Checks every recorded output against the format's definition with independent tools
/// (plain BLAKE3, ed25519-dalek strict verification, hand-assembled envelope), then decodes and
/// verifies it with the library.
#[test]
fn recorded_outputs_satisfy_the_format_definition() {
    let file = load();
    assert!(file.events.len() >= 7, "vector file lost events");
    for v in &file.events {
        let name = &v.name;
        let o = &v.outputs;
        let net = network_of(&v.inputs);
        let header_bytes = hex::decode(&o.header_bytes).unwrap();
        let envelope = hex::decode(&o.envelope).unwrap();
        let sig: [u8; 64] = hex::decode(&o.signature).unwrap().try_into().unwrap();
        let author = hex32(&o.author);

        // Author is the seed's public key (RFC 8032, via ed25519-dalek directly).
        let sk = ed25519_dalek::SigningKey::from_bytes(&hex32(&v.inputs.seed));
        assert_eq!(sk.verifying_key().to_bytes(), author, "{name}: author");

        // signing input = DOMAIN_TAG || network || header_bytes
        let mut si = DOMAIN_TAG.to_vec();
        si.extend_from_slice(&hex32(&v.inputs.network));
        si.extend_from_slice(&header_bytes);
        assert_eq!(hex::encode(&si), o.signing_input, "{name}: signing input");

        // The signature verifies under strict RFC 8032 rules with an independent implementation.
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&author).unwrap();
        vk.verify_strict(&si, &ed25519_dalek::Signature::from_bytes(&sig))
            .unwrap_or_else(|e| panic!("{name}: signature does not verify: {e}"));

        // envelope = array(2) [bytes header_bytes, bytes(64) signature]
        let mut env = vec![0x82];
        match header_bytes.len() {
            n @ 0..=23 => env.push(0x40 | n as u8),
            n @ 24..=255 => env.extend_from_slice(&[0x58, n as u8]),
            n => {
                env.push(0x59);
                env.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        env.extend_from_slice(&header_bytes);
        env.extend_from_slice(&[0x58, 0x40]);
        env.extend_from_slice(&sig);
        assert_eq!(env, envelope, "{name}: envelope layout");

        // id = BLAKE3(envelope)
        assert_eq!(
            hex::encode(blake3::hash(&envelope).as_bytes()),
            o.id,
            "{name}: id"
        );

        // body and body hash
        let body = o.body.as_deref().map(|b| hex::decode(b).unwrap());
        let want_body = body_of(&v.inputs);
        assert_eq!(
            body.clone().unwrap_or_default(),
            want_body,
            "{name}: body bytes"
        );
        assert_eq!(
            body.is_some(),
            !want_body.is_empty(),
            "{name}: body presence"
        );
        assert_eq!(
            o.body_hash,
            body.as_ref()
                .map(|b| hex::encode(blake3::hash(b).as_bytes())),
            "{name}: body hash"
        );

        // The library decodes and verifies it, with and without the body.
        let ev = Event::decode(envelope.clone(), body.clone())
            .unwrap_or_else(|e| panic!("{name}: decode: {e}"));
        assert_eq!(ev.id().to_hex(), o.id, "{name}: decoded id");
        assert_eq!(ev.header_bytes(), &header_bytes[..], "{name}: header bytes");
        let verified = ev
            .verify(&net)
            .unwrap_or_else(|e| panic!("{name}: verify: {e}"));
        Event::decode(envelope.clone(), None)
            .and_then(|e| e.verify(&net))
            .unwrap_or_else(|e| panic!("{name}: verify without body: {e}"));

        // The header holds exactly the drafted fields, deps sorted and deduplicated.
        let h = verified.header();
        let deps: BTreeSet<[u8; 32]> = v.inputs.deps.iter().map(|d| hex32(d)).collect();
        let want = Header {
            author: PublicKey(author),
            group: GroupId(hex32(&v.inputs.group)),
            log: v.inputs.log,
            seq: v.inputs.seq,
            backlink: v.inputs.backlink.as_deref().map(|b| EventId(hex32(b))),
            deps: deps.into_iter().map(EventId).collect(),
            timestamp: v.inputs.timestamp,
            body_len: want_body.len() as u64,
            body_hash: body.as_ref().map(|b| *blake3::hash(b).as_bytes()),
            flags: v.inputs.flags,
        };
        assert_eq!(h, &want, "{name}: header fields");
        assert_eq!(h.encode(), header_bytes, "{name}: header re-encodes");
        assert_eq!(Header::decode(&header_bytes).as_ref(), Ok(&want));

        if let Some(p) = &v.inputs.payload {
            assert_eq!(
                Payload::decode(verified.body().unwrap()),
                Ok(p.to_payload()),
                "{name}: payload"
            );
        }
    }
}

/// Every recorded prekey proof checks out against its definition with independent tools (the
/// message assembled by hand, the X25519 public key and Edwards form from curve25519-dalek, the
/// signature under ed25519-dalek's strict verification), and with the library's verifier; it
/// proves possession only for its own author, group and network.
#[test]
fn recorded_prekey_proofs_satisfy_their_definition() {
    use curve25519_dalek::MontgomeryPoint;
    let file = load();
    let negated: BTreeSet<bool> = file.prekey_proofs.iter().map(|v| v.negated).collect();
    assert_eq!(negated, BTreeSet::from([false, true]), "both sign bits");
    for v in &file.prekey_proofs {
        let name = &v.name;
        let secret = hex32(&v.secret);
        let key = hex32(&v.key);
        let edwards = hex32(&v.edwards);
        let message = hex::decode(&v.message).unwrap();
        let proof: [u8; 64] = hex::decode(&v.proof).unwrap().try_into().unwrap();

        // message = "dualpower/prekey/v1\0" || network || group || author || key
        let mut m = b"dualpower/prekey/v1\0".to_vec();
        for part in [&v.network, &v.group, &v.author, &v.key] {
            m.extend_from_slice(&hex32(part));
        }
        assert_eq!(message, m, "{name}: message");

        // key = X25519(secret, 9); edwards = its Edwards form with sign 0.
        assert_eq!(
            MontgomeryPoint::mul_base_clamped(secret).to_bytes(),
            key,
            "{name}: key"
        );
        let point = MontgomeryPoint(key).to_edwards(0).unwrap();
        assert_eq!(point.compress().to_bytes(), edwards, "{name}: edwards");
        assert_eq!(edwards[31] >> 7, 0, "{name}: sign bit");
        assert_eq!(edwards_sign_bit(&secret), v.negated, "{name}: negated");

        let vk = ed25519_dalek::VerifyingKey::from_bytes(&edwards).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&proof);
        assert!(
            vk.verify_strict(&message, &sig).is_ok(),
            "{name}: strict Ed25519"
        );
        assert!(
            verify_x25519_possession(&key, &message, &proof),
            "{name}: verifier"
        );

        let other = Identity::from_seed(&[2; 32]).public();
        let (net, group) = (
            NetworkId::from_hex(&v.network).unwrap(),
            GroupId(hex32(&v.group)),
        );
        let author = PublicKey(hex32(&v.author));
        assert_eq!(prekey_proof_message(&net, &group, &author, &key), message);
        let for_other = prekey_proof_message(&net, &group, &other, &key);
        assert!(
            !verify_x25519_possession(&key, &for_other, &proof),
            "{name}: other author"
        );
        let elsewhere = prekey_proof_message(&NetworkId::main(), &group, &author, &key);
        assert!(
            !verify_x25519_possession(&key, &elsewhere, &proof),
            "{name}: other network"
        );
    }
}

/// The relations between vectors that the vector set is meant to show.
#[test]
fn vectors_link_and_separate_networks() {
    let file = load();
    let get = |n: &str| {
        file.events
            .iter()
            .find(|v| v.name == n)
            .unwrap_or_else(|| panic!("missing vector {n}"))
    };
    let genesis = get("genesis");
    let post = get("post-seq1-with-backlink");
    let main = get("post-seq1-main-network");
    let comment = get("comment-three-deps");
    let no_body = get("no-body");

    // Genesis: seq 0, no backlink, in the group its payload derives.
    assert_eq!(genesis.inputs.seq, 0);
    assert_eq!(genesis.inputs.backlink, None);
    let Some(PayloadSpec::GroupGenesis { name, nonce }) = &genesis.inputs.payload else {
        panic!("genesis vector must carry a GroupGenesis payload");
    };
    let g = Genesis {
        name: name.clone(),
        nonce: hex16(nonce),
        constitution: Default::default(),
    };
    assert_eq!(
        g.group_id(&PublicKey(hex32(&genesis.outputs.author)))
            .to_hex(),
        genesis.inputs.group
    );

    // The post links back to the genesis.
    assert_eq!(post.inputs.seq, 1);
    assert_eq!(post.inputs.backlink.as_ref(), Some(&genesis.outputs.id));

    // Same header on two networks: the same bytes are signed under different domains.
    assert_eq!(post.outputs.header_bytes, main.outputs.header_bytes);
    assert_ne!(post.outputs.signing_input, main.outputs.signing_input);
    assert_ne!(post.outputs.signature, main.outputs.signature);
    assert_ne!(post.outputs.id, main.outputs.id);
    let main_env = hex::decode(&main.outputs.envelope).unwrap();
    assert_eq!(
        Event::decode(main_env, None)
            .unwrap()
            .verify(&NetworkId::named(TEST_NETWORK))
            .map(|e| e.id()),
        Err(dualpower_core::EventError::BadSignature)
    );

    // Three distinct deps after sorting and deduplication.
    let env = hex::decode(&comment.outputs.envelope).unwrap();
    let deps = Event::decode(env, None).unwrap().header().deps.clone();
    assert_eq!(deps.len(), 3);
    assert!(deps.windows(2).all(|w| w[0] < w[1]));

    // No body: no body bytes, no hash, body_len 0.
    assert_eq!(no_body.outputs.body, None);
    assert_eq!(no_body.outputs.body_hash, None);
    let env = hex::decode(&no_body.outputs.envelope).unwrap();
    assert_eq!(Event::decode(env, None).unwrap().header().body_len, 0);

    // Every payload kind has an encoding vector.
    let kinds: BTreeSet<&str> = file
        .payloads
        .iter()
        .map(|p| p.payload.to_payload().kind_name())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "group-genesis",
            "post",
            "comment",
            "reaction",
            "prekey",
            "unknown"
        ])
    );
}
