//! Proof of possession of an X25519 prekey: an XEdDSA-style Ed25519 signature made with the
//! prekey's own secret.
//!
//! A prekey is attributed to whoever can prove they hold its private half; without that proof a
//! member could republish someone else's prekey and steal or block its attribution (issue 10,
//! "prekey front-running"). X25519 keys cannot sign, so we follow Signal's XEdDSA: the clamped
//! X25519 scalar `k` also defines the Edwards point `A = k·B`, whose Montgomery form is the
//! X25519 public key. The Montgomery u-coordinate does not fix the sign of the Edwards x, so the
//! signer normalises: if `A`'s sign bit is 1 it signs with `a = −k` and `−A` instead, and the
//! verifier always converts u to the Edwards point with sign bit 0. The signature itself is a
//! plain Ed25519 signature `(R, s)` under that point, checked by the project's one ZIP-215
//! verifier (`dualpower_core::sig::verify_x25519_possession`).
//!
//! The nonce is deterministic, as in Ed25519, from a secret prefix derived from the X25519
//! secret with its own BLAKE3 context; it is never used for anything else, so the signing key's
//! nonces cannot collide with any other use of the same secret bytes.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::{Scalar, clamp_integer};
use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign};
use ed25519_dalek::{Sha512, VerifyingKey};
use zeroize::Zeroize;

use crate::PrekeySecret;

/// BLAKE3 context for the nonce prefix of possession signatures. Never reuse it elsewhere.
const NONCE_CONTEXT: &str = "dualpower prekey possession nonce v1";

impl PrekeySecret {
    /// Signs `msg` with this prekey, proving possession of its private half (XEdDSA-style: a
    /// standard Ed25519 signature under the Edwards form, with sign bit 0, of [`Self::public`]).
    ///
    /// For a prekey event `msg` is `dualpower_core::payload::prekey_proof_message`, which binds
    /// network, group, publishing author and key, so a copy of the proof is useless to anyone
    /// else. Deterministic: the same key and message always give the same signature.
    pub fn sign_possession(&self, msg: &[u8]) -> [u8; 64] {
        let mut clamped = clamp_integer(*self.secret_bytes());
        // `from_bytes_mod_order` reduces mod ℓ; B has order ℓ, so k·B is unchanged.
        let k = Scalar::from_bytes_mod_order(clamped);
        let point = EdwardsPoint::mul_base(&k);
        // Normalise to the Edwards point with sign bit 0 (the one the verifier recovers from u).
        let negate = point.compress().to_bytes()[31] >> 7 == 1;
        let scalar = if negate { -k } else { k };
        let mut prefix = blake3::derive_key(NONCE_CONTEXT, &clamped);
        clamped.zeroize();
        let esk = ExpandedSecretKey {
            scalar,
            hash_prefix: prefix,
        };
        prefix.zeroize();
        let public = VerifyingKey::from(&esk);
        // `esk` zeroizes itself on drop (ed25519-dalek's `zeroize` feature).
        raw_sign::<Sha512>(&esk, msg, &public).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::montgomery::MontgomeryPoint;
    use dualpower_core::sig::verify_x25519_possession;
    use proptest::prelude::*;

    use super::*;

    /// The sign bit of the Edwards point k·B for this prekey (before normalisation).
    fn sign_bit(p: &PrekeySecret) -> u8 {
        let k = Scalar::from_bytes_mod_order(clamp_integer(p.to_bytes()));
        EdwardsPoint::mul_base(&k).compress().to_bytes()[31] >> 7
    }

    /// The first prekey (from seeds 0, 1, 2, ...) whose Edwards point has sign bit `bit`.
    fn prekey_with_sign_bit(bit: u8) -> PrekeySecret {
        (0u8..=255)
            .map(|i| PrekeySecret::from_bytes([i; 32]))
            .find(|p| sign_bit(p) == bit)
            .expect("about half of all keys have either sign bit")
    }

    #[test]
    fn edwards_form_maps_to_the_x25519_public_key() {
        // The scalar the signer uses gives the same Montgomery u as x25519-dalek's public key, so
        // the verifier's u -> Edwards conversion lands on the signer's point (up to sign).
        for bit in [0, 1] {
            let p = prekey_with_sign_bit(bit);
            let k = Scalar::from_bytes_mod_order(clamp_integer(p.to_bytes()));
            assert_eq!(
                EdwardsPoint::mul_base(&k).to_montgomery(),
                MontgomeryPoint(p.public())
            );
        }
    }

    #[test]
    fn round_trip_for_both_sign_bits() {
        for bit in [0, 1] {
            let p = prekey_with_sign_bit(bit);
            assert_eq!(sign_bit(&p), bit);
            let sig = p.sign_possession(b"hello");
            assert!(
                verify_x25519_possession(&p.public(), b"hello", &sig),
                "bit {bit}"
            );
            // Deterministic.
            assert_eq!(sig, p.sign_possession(b"hello"));
            assert_ne!(sig, p.sign_possession(b"hellp"));
        }
    }

    #[test]
    fn wrong_message_or_key_fails() {
        for bit in [0, 1] {
            let p = prekey_with_sign_bit(bit);
            let other = prekey_with_sign_bit(1 - bit);
            let sig = p.sign_possession(b"message");
            assert!(!verify_x25519_possession(&p.public(), b"messagf", &sig));
            assert!(!verify_x25519_possession(&other.public(), b"message", &sig));
            // Another key's signature does not prove possession of this one.
            let forged = other.sign_possession(b"message");
            assert!(!verify_x25519_possession(&p.public(), b"message", &forged));
        }
    }

    #[test]
    fn tampered_signature_fails() {
        let p = PrekeySecret::from_bytes([3; 32]);
        let sig = p.sign_possession(b"m");
        for i in [0, 31, 32, 63] {
            let mut bad = sig;
            bad[i] ^= 1;
            assert!(
                !verify_x25519_possession(&p.public(), b"m", &bad),
                "byte {i}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_key_signs_and_verifies(
            seed in any::<[u8; 32]>(),
            other in any::<[u8; 32]>(),
            msg in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let p = PrekeySecret::from_bytes(seed);
            let sig = p.sign_possession(&msg);
            prop_assert!(verify_x25519_possession(&p.public(), &msg, &sig));
            let q = PrekeySecret::from_bytes(other);
            prop_assume!(q.public() != p.public());
            prop_assert!(!verify_x25519_possession(&q.public(), &msg, &sig));
            let mut longer = msg.clone();
            longer.push(0);
            prop_assert!(!verify_x25519_possession(&p.public(), &longer, &sig));
        }
    }
}
