#![allow(clippy::unwrap_used)]
//! ZIP-215 edge cases: every signature `R || 0` on message `"Zcash"` under every small-order key
//! `A`, with `A` and `R` drawn from the 14 encodings (canonical and non-canonical) of the 8
//! small-order Edwards points. ZIP-215 accepts all 196 (the cofactored equation
//! `[8][s]B = [8]R + [8][k]A` holds trivially), and single and batch verification must agree on
//! them and on any mix with ordinary signatures. The header layer refuses such authors anyway.
//!
//! The cases are committed in `tests/vectors/zip215.json`; regenerate with
//! `DUALPOWER_BLESS=1 cargo test -p dualpower-core --test zip215`.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use dualpower_core::cbor::Writer;
use dualpower_core::event::signing_input;
use dualpower_core::sig::{verify_batch, verify_single};
use dualpower_core::{Event, EventError, GroupId, Identity, KeyError, NetworkId, PublicKey};
use serde::{Deserialize, Serialize};

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/zip215.json");
const MSG: &[u8] = b"Zcash";

/// The same 14 encodings written out by hand (as published with ZIP-215), to cross-check the
/// generation below.
const KNOWN_ENCODINGS: [&str; 14] = [
    // canonical
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    // non-canonical
    "0100000000000000000000000000000000000000000000000000000000000080",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

/// The group order l, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Case {
    vk: String,
    sig: String,
    msg: String,
    valid: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct File {
    comment: String,
    cases: Vec<Case>,
}

/// `p + delta` (p = 2^255 - 19) little-endian, with the sign bit (bit 255) set as given.
fn p_plus(delta: i8, sign: bool) -> [u8; 32] {
    let mut b = [0xffu8; 32];
    b[0] = (0xed + i16::from(delta)) as u8;
    b[31] = if sign { 0xff } else { 0x7f };
    b
}

/// The 8 canonical encodings of the 8-torsion points, then the 6 non-canonical encodings of
/// small-order points.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut v: Vec<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|p| p.compress().to_bytes())
        .collect();
    let mut identity_negative_zero = [0u8; 32];
    identity_negative_zero[0] = 1;
    identity_negative_zero[31] = 0x80;
    v.extend([
        // The identity (0, 1) with the sign bit set (x = "-0").
        identity_negative_zero,
        // The order-2 point (0, -1), y = p - 1, with the sign bit set.
        p_plus(-1, true),
        // y = p ≡ 0: the two order-4 points with a non-canonical y.
        p_plus(0, false),
        p_plus(0, true),
        // y = p + 1 ≡ 1: the identity with a non-canonical y, either sign.
        p_plus(1, false),
        p_plus(1, true),
    ]);
    v
}

fn cases() -> Vec<Case> {
    let enc = small_order_encodings();
    let mut out = Vec::with_capacity(enc.len() * enc.len());
    for a in &enc {
        for r in &enc {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(r);
            out.push(Case {
                vk: hex::encode(a),
                sig: hex::encode(sig),
                msg: hex::encode(MSG),
                valid: true,
            });
        }
    }
    out
}

fn blessing() -> bool {
    std::env::var("DUALPOWER_BLESS").is_ok_and(|v| v == "1")
}

fn load() -> File {
    if blessing() {
        let file = File {
            comment: "ZIP-215 small-order cases: every (A, R) from the 14 small-order encodings, \
                      sig = R || 32 zero bytes, msg = \"Zcash\". All are valid under ZIP-215. \
                      Regenerate with DUALPOWER_BLESS=1 cargo test -p dualpower-core --test zip215."
                .into(),
            cases: cases(),
        };
        let mut json = serde_json::to_string_pretty(&file).unwrap();
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
    serde_json::from_str(&text).unwrap()
}

struct Item {
    vk: [u8; 32],
    msg: Vec<u8>,
    sig: [u8; 64],
    valid: bool,
}

fn items(file: &File) -> Vec<Item> {
    file.cases
        .iter()
        .map(|c| Item {
            vk: hex::decode(&c.vk).unwrap().try_into().unwrap(),
            msg: hex::decode(&c.msg).unwrap(),
            sig: hex::decode(&c.sig).unwrap().try_into().unwrap(),
            valid: c.valid,
        })
        .collect()
}

fn batch(items: &[Item]) -> Vec<bool> {
    verify_batch(items.iter().map(|i| (&i.vk, i.msg.as_slice(), &i.sig)))
}

#[test]
fn the_fourteen_encodings_are_what_zip215_lists() {
    let enc = small_order_encodings();
    let known: Vec<[u8; 32]> = KNOWN_ENCODINGS
        .iter()
        .map(|h| hex::decode(h).unwrap().try_into().unwrap())
        .collect();
    let mut a = enc.clone();
    let mut b = known;
    a.sort();
    b.sort();
    assert_eq!(a, b);
    a.dedup();
    assert_eq!(a.len(), 14, "encodings must be distinct");

    for (i, e) in enc.iter().enumerate() {
        let p = CompressedEdwardsY(*e)
            .decompress()
            .unwrap_or_else(|| panic!("encoding {i} must decode (ZIP-215 accepts it)"));
        assert!(p.is_small_order(), "encoding {i} must be small order");
        // The first 8 are canonical, the last 6 are not.
        assert_eq!(p.compress().to_bytes() == *e, i < 8, "canonicality of {i}");
    }
}

#[test]
fn committed_json_matches_generation() {
    let file = load();
    assert_eq!(file.cases.len(), 196);
    assert_eq!(file.cases, cases());
}

#[test]
fn single_verification_accepts_every_case() {
    let file = load();
    for (n, item) in items(&file).iter().enumerate() {
        assert_eq!(
            verify_single(&item.vk, &item.msg, &item.sig),
            item.valid,
            "case {n}: vk {} sig {}",
            hex::encode(item.vk),
            hex::encode(item.sig)
        );
    }
}

#[test]
fn batch_verification_accepts_all_cases_together() {
    let file = load();
    let items = items(&file);
    let want: Vec<bool> = items.iter().map(|i| i.valid).collect();
    assert_eq!(batch(&items), want);
}

/// Adds `l` to the scalar half of a signature: the same scalar mod l, but non-canonical, which
/// ZIP-215 rejects.
fn s_plus_l(sig: &[u8; 64]) -> [u8; 64] {
    let mut out = *sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let v = sig[32 + i] as u16 + L[i] as u16 + carry;
        out[32 + i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    out
}

fn mixed_items(file: &File) -> Vec<Item> {
    let mut all = items(file);
    let mut extra = Vec::new();
    for k in 0..8u8 {
        let id = Identity::from_seed(&[k + 1; 32]);
        let msg = format!("ordinary message {k}").into_bytes();
        let sig = id.sign(&msg);
        let vk = id.public().0;
        match k % 4 {
            0 => extra.push(Item {
                vk,
                msg,
                sig,
                valid: true,
            }),
            1 => {
                // Non-canonical s (s + l): would pass an implementation that reduces s.
                extra.push(Item {
                    vk,
                    msg: msg.clone(),
                    sig: s_plus_l(&sig),
                    valid: false,
                });
                extra.push(Item {
                    vk,
                    msg,
                    sig,
                    valid: true,
                });
            }
            2 => {
                // One flipped message bit.
                let mut bad = msg.clone();
                bad[3] ^= 0x10;
                extra.push(Item {
                    vk,
                    msg: bad,
                    sig,
                    valid: false,
                });
            }
            _ => {
                // Signed by someone else.
                let other = Identity::from_seed(&[0xee; 32]).public().0;
                extra.push(Item {
                    vk: other,
                    msg,
                    sig,
                    valid: false,
                });
            }
        }
    }
    // A key that is not a curve point at all, and an R that is not a curve point.
    let off_curve = (2u8..=255)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| CompressedEdwardsY(*b).decompress().is_none())
        .unwrap();
    let id = Identity::from_seed(&[0x42; 32]);
    let sig = id.sign(b"x");
    extra.push(Item {
        vk: off_curve,
        msg: b"x".to_vec(),
        sig,
        valid: false,
    });
    let mut bad_r = sig;
    bad_r[..32].copy_from_slice(&off_curve);
    extra.push(Item {
        vk: id.public().0,
        msg: b"x".to_vec(),
        sig: bad_r,
        valid: false,
    });
    // Interleave the extras among the small-order cases.
    for (n, e) in extra.into_iter().enumerate() {
        let at = (n * 17 + 5).min(all.len());
        all.insert(at, e);
    }
    all
}

#[test]
fn mixed_batch_verdicts_equal_single_verdicts() {
    // Sanity of the constant used to build non-canonical scalars.
    assert_eq!(Scalar::from_bytes_mod_order(L), Scalar::ZERO);

    let file = load();
    let items = mixed_items(&file);
    let singles: Vec<bool> = items
        .iter()
        .map(|i| verify_single(&i.vk, &i.msg, &i.sig))
        .collect();
    let want: Vec<bool> = items.iter().map(|i| i.valid).collect();
    assert_eq!(singles, want, "single verdicts");
    assert_eq!(batch(&items), want, "batch verdicts");
    assert!(want.iter().filter(|v| !**v).count() >= 6);

    // Also with only the ordinary items (no small-order ones) and with a single bad item.
    let ordinary: Vec<Item> = items.into_iter().filter(|i| !is_small(i)).collect();
    let want: Vec<bool> = ordinary.iter().map(|i| i.valid).collect();
    assert_eq!(batch(&ordinary), want);
    let bad: Vec<Item> = ordinary.into_iter().filter(|i| !i.valid).take(1).collect();
    assert_eq!(batch(&bad), vec![false]);
    assert_eq!(batch(&[]), Vec::<bool>::new());
}

fn is_small(i: &Item) -> bool {
    i.msg == MSG && i.sig[32..] == [0u8; 32]
}

#[test]
fn small_order_authors_are_weak() {
    for (n, a) in small_order_encodings().into_iter().enumerate() {
        assert_eq!(
            PublicKey(a).check_strong(),
            Err(KeyError::Weak),
            "encoding {n}: {}",
            hex::encode(a)
        );
    }
}

/// The raw signature layer accepts a trivial forgery under a small-order key, but an event with
/// such an author never gets past decoding.
#[test]
fn events_by_small_order_authors_are_refused_before_signature_checks() {
    let net = NetworkId::named("zip215");
    let r = small_order_encodings()[0];
    for (n, a) in small_order_encodings().into_iter().enumerate() {
        let mut w = Writer::default();
        w.array(11)
            .uint(1)
            .bytes(&a)
            .bytes(&GroupId([7; 32]).0)
            .uint(0)
            .uint(0)
            .null()
            .array(0)
            .uint(0)
            .uint(0)
            .null()
            .uint(0);
        let header = w.into_bytes();
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        // Anyone can "sign" for this author...
        assert!(verify_single(&a, &signing_input(&net, &header), &sig));
        let mut w = Writer::default();
        w.array(2).bytes(&header).bytes(&sig);
        // ...so the header layer refuses the author outright.
        assert_eq!(
            Event::decode(w.into_bytes(), None),
            Err(EventError::WeakAuthor(KeyError::Weak)),
            "encoding {n}"
        );
    }
}
