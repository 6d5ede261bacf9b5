//! Signature verification with one rule on every path: ZIP-215.
//!
//! Ed25519 implementations disagree on edge cases (non-canonical point encodings, small-order
//! components), and single and batch verification in the same library can disagree too. For a
//! replicated log that would be fatal: one node would accept an event another rejects, and their
//! states would diverge. ZIP-215 fixes the rule (cofactored equation, non-canonical A and R
//! accepted, S must be canonical) and `ed25519-zebra` implements it identically for single and
//! batch verification. Batch failures fall back to single checks, so a batch never changes a
//! verdict, only its cost.
//!
//! Proofs of possession of X25519 prekeys ([`verify_x25519_possession`]) are Ed25519 signatures
//! too (XEdDSA-style), so they go through the same ZIP-215 check.

use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_zebra::{Signature, VerificationKey, VerificationKeyBytes, batch};

/// Checks one signature under ZIP-215 rules.
pub fn verify_single(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(vk) = VerificationKey::try_from(*public) else {
        return false;
    };
    vk.verify(&Signature::from_bytes(sig), msg).is_ok()
}

/// The Ed25519 public key (compressed Edwards point, sign bit 0) that proves possession of the
/// X25519 public key `u`, or `None` if `u` is not a usable X25519 key: not the canonical encoding
/// of a curve point (u ≥ p, the ignored top bit set, or on the twist), or a point outside the
/// prime-order subgroup (low-order, or with a low-order component).
///
/// Sign bit 0 is the XEdDSA convention: the signer negates its scalar when needed so that its
/// Edwards point is this one (see `dualpower_crypto::PrekeySecret::sign_possession`).
pub fn x25519_to_ed25519(u: &[u8; 32]) -> Option<[u8; 32]> {
    let point = MontgomeryPoint(*u).to_edwards(0)?;
    // One key, one encoding: otherwise u and u + p (or u with the top bit set, or u of the point
    // plus a low-order component, which clamped X25519 scalars erase) would be different prekey
    // bytes for the same Diffie-Hellman key. Honest X25519 public keys always pass.
    if point.to_montgomery().to_bytes() != *u || !point.is_torsion_free() {
        return None;
    }
    Some(point.compress().to_bytes())
}

/// Checks an XEdDSA-style proof of possession: `sig` is an Ed25519 signature over `msg`, under
/// ZIP-215 rules, by the Edwards form of the X25519 public key `key` (see [`x25519_to_ed25519`];
/// a key that is not a canonical, non-low-order point never verifies).
///
/// Only the holder of the X25519 private key can make one (the Edwards scalar is the X25519
/// scalar, up to sign).
pub fn verify_x25519_possession(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    x25519_to_ed25519(key).is_some_and(|ed| verify_single(&ed, msg, sig))
}

/// Checks many signatures at once; returns one verdict per item, identical to
/// [`verify_single`] on each item.
///
/// The batch equation is checked first (about twice as fast per signature); only if it fails are
/// the items checked one by one to find the bad ones.
pub fn verify_batch<'a, I>(items: I) -> Vec<bool>
where
    I: IntoIterator<Item = (&'a [u8; 32], &'a [u8], &'a [u8; 64])>,
{
    let items: Vec<batch::Item> = items
        .into_iter()
        .map(|(pk, msg, sig)| {
            batch::Item::from((
                VerificationKeyBytes::from(*pk),
                Signature::from_bytes(sig),
                msg,
            ))
        })
        .collect();
    if items.is_empty() {
        return Vec::new();
    }
    let mut verifier = batch::Verifier::new();
    for item in &items {
        verifier.queue(item.clone());
    }
    if verifier.verify(rand::rng()).is_ok() {
        return vec![true; items.len()];
    }
    items
        .into_iter()
        .map(|item| item.verify_single().is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;

    use super::*;

    /// An X25519 public key with a known scalar: u of (s·B).
    fn u_of(s: u64) -> [u8; 32] {
        (ED25519_BASEPOINT_POINT * Scalar::from(s))
            .to_montgomery()
            .to_bytes()
    }

    #[test]
    fn honest_keys_convert_with_sign_bit_zero() {
        for s in 1..50 {
            let ed = x25519_to_ed25519(&u_of(s)).expect("a prime-order point");
            assert_eq!(ed[31] >> 7, 0);
            let p = ED25519_BASEPOINT_POINT * Scalar::from(s);
            let c = p.compress().to_bytes();
            // The same point up to sign.
            assert!(ed == c || ed == (-p).compress().to_bytes());
        }
    }

    #[test]
    fn low_order_and_mixed_points_are_rejected() {
        for t in EIGHT_TORSION {
            let u = t.to_montgomery().to_bytes();
            assert_eq!(x25519_to_ed25519(&u), None, "torsion point {u:?}");
            assert!(!verify_x25519_possession(&u, b"m", &[0; 64]));
            let mixed = (ED25519_BASEPOINT_POINT * Scalar::from(7u64) + t)
                .to_montgomery()
                .to_bytes();
            if mixed != u_of(7) {
                assert_eq!(x25519_to_ed25519(&mixed), None);
            }
        }
    }

    #[test]
    fn u_off_the_curve_is_rejected() {
        // About half of all u are on the twist, not the curve: find a few by trying.
        let off: Vec<[u8; 32]> = (2u8..=255)
            .map(|i| {
                let mut u = [0; 32];
                u[0] = i;
                u
            })
            .filter(|u| MontgomeryPoint(*u).to_edwards(0).is_none())
            .take(5)
            .collect();
        assert_eq!(off.len(), 5);
        for u in off {
            assert_eq!(x25519_to_ed25519(&u), None);
            assert!(!verify_x25519_possession(&u, b"m", &[0; 64]));
        }
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        let u = u_of(5);
        assert!(x25519_to_ed25519(&u).is_some());
        // The top bit, which X25519 ignores.
        let mut high = u;
        high[31] |= 0x80;
        assert_eq!(x25519_to_ed25519(&high), None);
        // u + p for a small u that is on the curve (u + p < 2^255 needs u < 19): it decodes to
        // the same point as u, but is not its encoding.
        let small = (2u8..19)
            .map(|i| {
                let mut u = [0; 32];
                u[0] = i;
                u
            })
            .find(|u| MontgomeryPoint(*u).to_edwards(0).is_some())
            .expect("some u < 19 is on the curve");
        {
            // p = 2^255 - 19, so u + p = u - 19 + 2^255 (little-endian).
            let mut plus_p = [0xff; 32];
            plus_p[31] = 0x7f;
            plus_p[0] = 0xed;
            let mut carry = 0u16;
            for (i, b) in plus_p.iter_mut().enumerate() {
                let v = u16::from(*b) + u16::from(small[i]) + carry;
                *b = v as u8;
                carry = v >> 8;
            }
            assert_eq!(
                MontgomeryPoint(plus_p).to_edwards(0),
                MontgomeryPoint(small).to_edwards(0)
            );
            assert_eq!(x25519_to_ed25519(&plus_p), None);
        }
    }
}
