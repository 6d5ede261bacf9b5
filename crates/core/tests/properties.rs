#![allow(clippy::unwrap_used)]
//! Property tests: encode/decode round trips, tamper evidence of envelopes and bodies, canonical
//! uniqueness of accepted encodings, and that the decoders never panic on hostile bytes.

use std::collections::BTreeSet;

use dualpower_core::aid::{AidAct, Category, Intent, MAX_QUANTITY};
use dualpower_core::cbor::Reader;
use dualpower_core::event::{KNOWN_FLAGS, MAX_BODY_BYTES, MAX_DEPS, MAX_SEQ};
use dualpower_core::ledger::{LedgerAct, LinkTerms, MAX_AMOUNT, MAX_BRIDGES, MAX_LINK_TEXT_BYTES};
use dualpower_core::payload::{MAX_NAME_BYTES, MAX_REACTION_BYTES, MAX_TEXT_BYTES};
use dualpower_core::work::{
    MAX_SLOTS, MAX_TASKS, MAX_TITLE_BYTES, Pool, Settlement, TaskRef, TaskSpec, Work,
};
use dualpower_core::{
    Draft, Event, EventError, EventId, Genesis, GroupId, Header, Identity, NetworkId, Payload,
    PublicKey, verify_batch,
};
use proptest::prelude::*;
use proptest::sample::Index;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Integers biased towards the CBOR head-size boundaries, at most `max`.
fn boundary_u64(max: u64) -> impl Strategy<Value = u64> {
    let edges: Vec<u64> = [
        0,
        1,
        23,
        24,
        255,
        256,
        65_535,
        65_536,
        u32::MAX as u64,
        u32::MAX as u64 + 1,
        MAX_SEQ,
        u64::MAX,
    ]
    .into_iter()
    .filter(|v| *v <= max)
    .collect();
    prop_oneof![
        proptest::sample::select(edges),
        0..=max,
        0..=max.min(100_000),
    ]
}

fn event_id() -> impl Strategy<Value = EventId> {
    any::<[u8; 32]>().prop_map(EventId)
}

fn author() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(|seed| Identity::from_seed(&seed).public())
}

/// Headers obeying every structural rule.
fn valid_header() -> impl Strategy<Value = Header> {
    (
        author(),
        any::<[u8; 32]>(),
        boundary_u64(MAX_SEQ),
        boundary_u64(MAX_SEQ),
        event_id(),
        proptest::collection::btree_set(event_id(), 0..=MAX_DEPS),
        boundary_u64(u64::MAX),
        boundary_u64(MAX_BODY_BYTES as u64),
        any::<[u8; 32]>(),
        0..=KNOWN_FLAGS,
    )
        .prop_map(
            |(author, group, log, seq, backlink, deps, timestamp, body_len, hash, flags)| Header {
                author,
                group: GroupId(group),
                log,
                seq,
                backlink: (seq > 0).then_some(backlink),
                deps: deps.into_iter().collect(),
                timestamp,
                body_len,
                body_hash: (body_len > 0).then_some(hash),
                flags,
            },
        )
}

/// Headers with fields that may break the rules (but a strong author, and encodable).
fn any_header() -> impl Strategy<Value = Header> {
    (
        author(),
        boundary_u64(u64::MAX),
        boundary_u64(u64::MAX),
        proptest::option::of(event_id()),
        proptest::collection::vec(event_id(), 0..=MAX_DEPS + 2),
        any::<bool>(),
        boundary_u64(2 * MAX_BODY_BYTES as u64),
        proptest::option::of(any::<[u8; 32]>()),
        prop_oneof![0..=KNOWN_FLAGS, any::<u64>()],
    )
        .prop_map(
            |(author, log, seq, backlink, mut deps, sort, body_len, body_hash, flags)| {
                if sort {
                    deps.sort();
                }
                Header {
                    author,
                    group: GroupId([3; 32]),
                    log,
                    seq,
                    backlink,
                    deps,
                    timestamp: 0,
                    body_len,
                    body_hash,
                    flags,
                }
            },
        )
}

/// The rules, restated independently of the implementation.
fn obeys_rules(h: &Header) -> bool {
    h.log <= MAX_SEQ
        && h.seq <= MAX_SEQ
        && h.flags & !KNOWN_FLAGS == 0
        && (h.seq == 0) == h.backlink.is_none()
        && h.deps.len() <= MAX_DEPS
        && h.deps.windows(2).all(|w| w[0] < w[1])
        && h.body_len <= MAX_BODY_BYTES as u64
        && (h.body_len == 0) == h.body_hash.is_none()
}

/// Non-blank text of at most `max_bytes` bytes.
fn text(max_chars: usize, max_bytes: usize) -> impl Strategy<Value = String> {
    let re = format!("\\PC{{1,{max_chars}}}");
    prop_oneof![
        proptest::string::string_regex(&re).unwrap(),
        proptest::string::string_regex("[a-z ]{0,8}[a-z][a-z ]{0,8}").unwrap(),
    ]
    .prop_filter("non-blank, within the byte limit", move |s| {
        !s.trim().is_empty() && s.len() <= max_bytes
    })
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (text(50, MAX_NAME_BYTES), any::<[u8; 16]>()).prop_map(|(name, nonce)| {
            Payload::GroupGenesis(Genesis {
                name,
                nonce,
                constitution: Default::default(),
            })
        }),
        text(400, MAX_TEXT_BYTES).prop_map(|text| Payload::Post { text }),
        (event_id(), text(100, MAX_TEXT_BYTES))
            .prop_map(|(parent, text)| Payload::Comment { parent, text }),
        (event_id(), text(16, MAX_REACTION_BYTES))
            .prop_map(|(target, reaction)| Payload::Reaction { target, reaction }),
        // Kinds 1..=28 are known; an `Unknown` with such a number would not round-trip.
        prop_oneof![Just(0u64), 29..=u64::MAX].prop_map(|kind| Payload::Unknown { kind }),
        proptest::collection::vec("/garlic64/[A-Za-z0-9~-]{1,40}", 1..=4)
            .prop_map(|addrs| Payload::Reach { addrs }),
        work().prop_map(Payload::Work),
        ledger().prop_map(Payload::Ledger),
        aid().prop_map(Payload::Aid),
    ]
}

fn amount() -> impl Strategy<Value = u64> {
    1..=MAX_AMOUNT
}

fn memo() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z ]{0,20}").unwrap()
}

/// Every kind of ledger act (including links, settlement and demurrage), within the limits
/// the decoder enforces.
fn ledger() -> impl Strategy<Value = LedgerAct> {
    let group = any::<[u8; 32]>().prop_map(GroupId);
    prop_oneof![
        (author(), amount(), memo(), proptest::option::of(event_id())).prop_map(
            |(to, amount, memo, invoice)| LedgerAct::Pay {
                to,
                amount,
                memo,
                invoice
            }
        ),
        (author(), amount(), memo()).prop_map(|(payer, amount, memo)| LedgerAct::Invoice {
            payer,
            amount,
            memo
        }),
        (author(), 0..=MAX_AMOUNT).prop_map(|(member, limit)| LedgerAct::Limit { member, limit }),
        (
            group.clone(),
            text(20, MAX_LINK_TEXT_BYTES),
            0..=MAX_AMOUNT,
            proptest::collection::btree_set(author(), 0..=MAX_BRIDGES)
        )
            .prop_map(|(group, name, limit, bridges)| LedgerAct::Link {
                group,
                terms: LinkTerms {
                    name,
                    limit,
                    bridges: bridges.into_iter().collect(),
                },
            }),
        (group.clone(), event_id())
            .prop_map(|(group, decision)| LedgerAct::Linked { group, decision }),
        (group.clone(), author(), amount(), memo()).prop_map(|(group, to, amount, memo)| {
            LedgerAct::PayOut {
                group,
                to,
                amount,
                memo,
            }
        }),
        (group, event_id(), author(), author(), amount(), memo()).prop_map(
            |(group, origin, from, to, amount, memo)| LedgerAct::PayIn {
                group,
                origin,
                from,
                to,
                amount,
                memo,
            }
        ),
        (
            event_id(),
            prop_oneof![event_id().prop_map(Ok), memo().prop_map(Err)]
        )
            .prop_map(|(origin, result)| LedgerAct::Settle { origin, result }),
        any::<u64>().prop_map(|period| LedgerAct::Demurrage { period }),
        (author(), amount(), memo()).prop_map(|(to, amount, memo)| LedgerAct::Grant {
            to,
            amount,
            memo
        }),
    ]
}

fn intent() -> impl Strategy<Value = Intent> {
    (
        any::<bool>(),
        0..Category::ALL.len(),
        text(40, 200),
        1..=MAX_QUANTITY,
        memo(),
        memo(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(need, c, text, quantity, unit, place, from, linked)| Intent {
                need,
                category: Category::ALL[c],
                text,
                quantity,
                unit,
                place,
                from,
                until: 0,
                expires: from,
                linked,
            },
        )
}

/// Intents, commitments and mirrors of linked groups' intents.
fn aid() -> impl Strategy<Value = AidAct> {
    prop_oneof![
        intent().prop_map(AidAct::Intent),
        (event_id(), 1..=MAX_QUANTITY)
            .prop_map(|(intent, quantity)| AidAct::Commit { intent, quantity }),
        (
            any::<[u8; 32]>(),
            event_id(),
            author(),
            intent(),
            any::<u64>()
        )
            .prop_map(|(group, origin, author, intent, open)| AidAct::Mirror {
                group: GroupId(group),
                origin,
                author,
                open: open % (intent.quantity + 1),
                intent,
            }),
    ]
}

/// A domain, skill or role name.
fn name() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z][a-z0-9_-]{0,12}").unwrap()
}

fn task_ref() -> impl Strategy<Value = TaskRef> {
    (event_id(), 0..MAX_TASKS as u64).prop_map(|(event, index)| TaskRef { event, index })
}

fn pool() -> impl Strategy<Value = Pool> {
    prop_oneof![
        (name(), any::<u64>()).prop_map(|(role, term)| Pool::Term { role, term }),
        event_id().prop_map(Pool::Case),
    ]
}

/// Every kind of work act, within the limits the decoder enforces.
fn work() -> impl Strategy<Value = Work> {
    let spec = (
        text(40, MAX_TITLE_BYTES),
        1..=MAX_SLOTS,
        proptest::collection::btree_set(name(), 0..3),
        any::<u64>(),
        name(),
    )
        .prop_map(|(title, slots, skills, due, domain)| TaskSpec {
            title,
            slots,
            skills: skills.into_iter().collect(),
            due,
            domain,
        });
    let note = || proptest::string::string_regex("[a-z ]{0,30}").unwrap();
    prop_oneof![
        proptest::collection::vec(spec, 1..4).prop_map(Work::Tasks),
        task_ref().prop_map(Work::Claim),
        task_ref().prop_map(Work::Release),
        (task_ref(), author()).prop_map(|(task, to)| Work::Handover { task, to }),
        (task_ref(), note()).prop_map(|(task, note)| Work::Done { task, note }),
        (task_ref(), author()).prop_map(|(task, worker)| Work::Confirm { task, worker }),
        (task_ref(), author(), text(20, 200)).prop_map(|(task, worker, reason)| {
            Work::Dispute {
                task,
                worker,
                reason,
            }
        }),
        (pool(), any::<[u8; 32]>()).prop_map(|(pool, commit)| Work::Volunteer { pool, commit }),
        pool().prop_map(Work::CloseList),
        (pool(), any::<[u8; 32]>()).prop_map(|(pool, secret)| Work::Reveal { pool, secret }),
        pool().prop_map(Work::Draw),
        (proptest::collection::btree_set(author(), 2..5), note()).prop_map(|(p, about)| {
            Work::Mediate {
                parties: p.into_iter().collect(),
                about,
            }
        }),
        (
            event_id(),
            prop_oneof![
                Just(Settlement::Agreed),
                Just(Settlement::Overturned),
                Just(Settlement::NoAgreement)
            ],
            note()
        )
            .prop_map(|(case, settlement, text)| Work::Outcome {
                case,
                settlement,
                text
            }),
        event_id().prop_map(|outcome| Work::Agree { outcome }),
        (author(), name()).prop_map(|(member, domain)| Work::Vouch { member, domain }),
    ]
}

/// A signed event with a body (possibly empty), plus what it was signed for.
fn signed_event() -> impl Strategy<Value = (dualpower_core::VerifiedEvent, NetworkId)> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        0..1000u64,
        proptest::option::of(event_id()),
        proptest::collection::vec(event_id(), 0..4),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..300),
        0..=KNOWN_FLAGS,
        "[a-z]{1,8}",
    )
        .prop_map(
            |(seed, group, log, backlink, deps, timestamp, body, flags, net)| {
                let net = NetworkId::named(&net);
                let seq = if backlink.is_some() { log + 1 } else { 0 };
                let ev = Draft {
                    group: GroupId(group),
                    log,
                    seq,
                    backlink,
                    deps,
                    timestamp,
                    body,
                    flags,
                }
                .sign(&Identity::from_seed(&seed), &net)
                .unwrap();
                (ev, net)
            },
        )
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[bit / 8] ^= 1 << (bit % 8);
    v
}

/// Byte-level mutations of a valid encoding, to reach deep into the decoders.
#[derive(Debug, Clone)]
enum Mutation {
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut v: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if v.is_empty() {
            v.push(0);
        }
        match m {
            Mutation::Set(i, b) => {
                let i = i.index(v.len());
                v[i] = *b;
            }
            Mutation::Insert(i, b) => {
                let i = i.index(v.len() + 1);
                v.insert(i, *b);
            }
            Mutation::Remove(i) => {
                let i = i.index(v.len());
                v.remove(i);
            }
            Mutation::Truncate(i) => {
                let i = i.index(v.len());
                v.truncate(i);
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn header_round_trips(h in valid_header()) {
        let bytes = h.encode();
        prop_assert_eq!(Header::decode(&bytes), Ok(h));
    }

    /// Decoding accepts exactly the headers that obey the rules, and returns them unchanged.
    #[test]
    fn header_decode_accepts_exactly_the_rule_abiding(h in any_header()) {
        let decoded = Header::decode(&h.encode());
        if obeys_rules(&h) {
            prop_assert_eq!(decoded, Ok(h));
        } else {
            prop_assert!(decoded.is_err(), "accepted a header breaking the rules: {:?}", h);
        }
    }

    #[test]
    fn payload_round_trips(p in payload()) {
        let bytes = p.encode();
        prop_assert_eq!(Payload::decode(&bytes), Ok(p));
    }

    /// A draft with arbitrary (unsorted, repeated) deps signs to a header with them sorted and
    /// deduplicated, and the event decodes back to the same id from its parts.
    #[test]
    fn signed_drafts_normalise_deps_and_reparse(
        deps in proptest::collection::vec(proptest::sample::select(vec![
            EventId([1; 32]), EventId([2; 32]), EventId([0x80; 32]), EventId([0xff; 32]),
        ]), 0..12),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let net = NetworkId::named("props");
        let ev = Draft { deps: deps.clone(), body: body.clone(), ..Draft::default() }
            .sign(&Identity::from_seed(&[9; 32]), &net)
            .unwrap();
        let want: Vec<EventId> = deps.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        prop_assert_eq!(&ev.header().deps, &want);
        prop_assert_eq!(ev.body().is_some(), !body.is_empty());
        let id = ev.id();
        let (env, b) = ev.into_parts();
        let back = Event::decode(env, b).and_then(|e| e.verify(&net)).unwrap();
        prop_assert_eq!(back.id(), id);
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// No single bit flip anywhere in an envelope yields an event that decodes and verifies (so
    /// in particular none verifies under the original id or any other); a flip inside the
    /// signature decodes fine and fails exactly with `BadSignature`.
    #[test]
    fn envelope_bit_flips_never_verify(
        (ev, net) in signed_event(),
        bits in proptest::collection::vec(any::<Index>(), 24),
    ) {
        let env = ev.envelope().to_vec();
        let total_bits = env.len() * 8;
        let sig_start_bit = (env.len() - 64) * 8;
        for bit in bits.iter().map(|i| i.index(total_bits)) {
            let res = Event::decode(flip(&env, bit), None).and_then(|e| e.verify(&net));
            if bit >= sig_start_bit {
                prop_assert_eq!(res.map(|e| e.id()), Err(EventError::BadSignature), "bit {}", bit);
            } else {
                prop_assert!(res.is_err(), "flipped bit {} still verifies", bit);
            }
        }
    }

    /// Any single bit flip in the body is caught by the body hash.
    #[test]
    fn body_bit_flips_fail_the_hash(
        (ev, _net) in signed_event(),
        bits in proptest::collection::vec(any::<Index>(), 16),
    ) {
        let (env, body) = ev.into_parts();
        if let Some(body) = body {
            for bit in bits.iter().map(|i| i.index(body.len() * 8)) {
                prop_assert_eq!(
                    Event::decode(env.clone(), Some(flip(&body, bit))),
                    Err(EventError::BodyHashMismatch),
                    "bit {}", bit
                );
            }
            prop_assert!(Event::decode(env, Some(body)).is_ok());
        }
    }

    /// Signing is bound to the network: verifying under any other network fails.
    #[test]
    fn signatures_do_not_transfer_between_networks(
        (ev, net) in signed_event(),
        other in "[A-Z]{1,8}",
    ) {
        let other = NetworkId::named(&other);
        prop_assume!(other != net);
        let (env, body) = ev.into_parts();
        prop_assert_eq!(
            Event::decode(env, body).and_then(|e| e.verify(&other)).map(|e| e.id()),
            Err(EventError::BadSignature)
        );
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The decoders return (never panic) on arbitrary bytes.
    #[test]
    fn decoders_never_panic_on_random_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..1300),
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
    ) {
        let _ = Event::decode(bytes.clone(), body);
        let _ = Header::decode(&bytes);
        let _ = Payload::decode(&bytes);
        let mut r = Reader::new(&bytes, 8);
        while r.remaining() > 0 && r.skip().is_ok() {}
    }

    /// Mutated valid encodings: the decoders never panic, and whatever they accept is the unique
    /// canonical encoding of what they return (re-encoding gives the same bytes back).
    #[test]
    fn accepted_encodings_are_canonical(
        h in valid_header(),
        p in payload(),
        muts in proptest::collection::vec(mutation(), 1..4),
    ) {
        let hb = mutate(h.encode(), &muts);
        if let Ok(back) = Header::decode(&hb) {
            prop_assert_eq!(back.encode(), hb.clone());
        }
        let pb = mutate(p.encode(), &muts);
        match Payload::decode(&pb) {
            // Unknown kinds may carry fields this version skips, so they need not re-encode.
            Ok(Payload::Unknown { .. }) | Err(_) => {}
            Ok(back) => prop_assert_eq!(back.encode(), pb),
        }
        // An envelope around the mutated header (unsigned, so at best BadSignature).
        let mut w = dualpower_core::cbor::Writer::default();
        w.array(2).bytes(&hb).bytes(&[0u8; 64]);
        let env = mutate(w.into_bytes(), &muts[..1]);
        if let Ok(ev) = Event::decode(env.clone(), None) {
            prop_assert_eq!(ev.header().encode(), ev.header_bytes());
            prop_assert_eq!(ev.envelope(), &env[..]);
        }
    }
}

/// Exhaustive version of the envelope property on one event with deps, a backlink and a body:
/// every bit of the envelope, single and batch verification.
#[test]
fn every_envelope_bit_flip_is_rejected_single_and_batch() {
    let net = NetworkId::named("exhaustive");
    let ev = Draft {
        group: GroupId([5; 32]),
        log: 300,
        seq: 70_000,
        backlink: Some(EventId([6; 32])),
        deps: vec![EventId([7; 32]), EventId([8; 32])],
        timestamp: 1_700_000_000_000,
        body: b"tamper with me".to_vec(),
        flags: KNOWN_FLAGS,
    }
    .sign(&Identity::from_seed(&[4; 32]), &net)
    .unwrap();
    let env = ev.envelope().to_vec();
    let sig_start_bit = (env.len() - 64) * 8;
    let mut decodable = Vec::new();
    for bit in 0..env.len() * 8 {
        match Event::decode(flip(&env, bit), None) {
            Ok(e) => {
                assert_ne!(e.id(), ev.id());
                decodable.push((bit, e));
            }
            Err(err) => assert!(bit < sig_start_bit, "bit {bit} in the signature: {err}"),
        }
    }
    // All 512 signature flips, plus whichever header flips still parse.
    assert!(decodable.len() >= 512);
    for (bit, e) in &decodable {
        assert_eq!(
            e.clone().verify(&net).map(|v| v.id()),
            Err(EventError::BadSignature),
            "bit {bit}"
        );
    }
    let verdicts = verify_batch(decodable.into_iter().map(|(_, e)| e).collect(), &net);
    assert!(verdicts.iter().all(|v| *v == Err(EventError::BadSignature)));
    // And the untouched event still verifies in a batch.
    let ok = verify_batch(vec![Event::decode(env, None).unwrap()], &net);
    assert_eq!(
        ok.into_iter()
            .map(|r| r.map(|v| v.id()))
            .collect::<Vec<_>>(),
        vec![Ok(ev.id())]
    );
}
