//! Member identities: an Ed25519 key pair per person, shown to people as a `did:key`.
//!
//! The public half ([`PublicKey`]) is what every event names as its author. The secret half
//! ([`Identity`]) never leaves the keystore unencrypted and is wiped from memory on drop.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey};
use thiserror::Error;
use zeroize::Zeroizing;

/// Multicodec prefix of an Ed25519 public key (`ed25519-pub`, varint 0xed).
const MULTICODEC_ED25519_PUB: [u8; 2] = [0xed, 0x01];
const DID_KEY_PREFIX: &str = "did:key:z";

/// A member's public signing key (the author field of every event).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// Why a key or `did:key` string was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The text does not start with `did:key:z`.
    #[error("not a did:key (expected it to start with `did:key:z`): {0}")]
    NotDidKey(String),
    /// The base58 part does not decode.
    #[error("did:key has invalid base58: {0}")]
    Base58(String),
    /// The decoded key is not an Ed25519 public key of 32 bytes.
    #[error("did:key is not an Ed25519 public key (multicodec 0xed01 + 32 bytes)")]
    NotEd25519,
    /// The key is a non-canonical encoding or a point of small order: anybody could sign for it.
    #[error("public key is weak (small order or non-canonical encoding); nobody can own it")]
    Weak,
}

impl PublicKey {
    /// The key as `did:key:z6Mk…`.
    pub fn to_did(&self) -> String {
        let mut raw = Vec::with_capacity(34);
        raw.extend_from_slice(&MULTICODEC_ED25519_PUB);
        raw.extend_from_slice(&self.0);
        format!("{DID_KEY_PREFIX}{}", bs58::encode(raw).into_string())
    }

    /// Parses a `did:key` holding an Ed25519 key.
    pub fn from_did(s: &str) -> Result<Self, KeyError> {
        let b58 = s
            .strip_prefix(DID_KEY_PREFIX)
            .ok_or_else(|| KeyError::NotDidKey(s.chars().take(64).collect()))?;
        if b58.len() > 64 {
            return Err(KeyError::NotEd25519);
        }
        let raw = bs58::decode(b58)
            .into_vec()
            .map_err(|e| KeyError::Base58(e.to_string()))?;
        if raw.len() != 34 || raw[..2] != MULTICODEC_ED25519_PUB {
            return Err(KeyError::NotEd25519);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&raw[2..]);
        let key = PublicKey(key);
        key.check_strong()?;
        // A did:key must name a point somebody can sign for (events need not be checked for
        // this: a key off the curve never verifies).
        if curve25519_dalek::edwards::CompressedEdwardsY(key.0)
            .decompress()
            .is_none()
        {
            return Err(KeyError::Weak);
        }
        Ok(key)
    }

    /// Rejects keys that no one can own: non-canonical encodings and points of small order.
    ///
    /// Signatures under such keys can be produced by anyone, so an author with one is refused
    /// before any signature is checked. The check is the same on every code path.
    pub fn check_strong(&self) -> Result<(), KeyError> {
        // Decided on the bytes alone (no point decompression, which would cost more than the
        // rest of decoding): a non-canonical encoding has y >= p, or x = 0 with the sign bit set;
        // a small-order point has one of eight canonical encodings.
        if !is_canonical_encoding(&self.0) || small_order_encodings().contains(&self.0) {
            return Err(KeyError::Weak);
        }
        Ok(())
    }

    /// Lower-case hex of the 32 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// p = 2^255 - 19, little-endian.
const FIELD_P: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// True if `b` is the canonical encoding of its y coordinate and sign: y < p, and no "negative
/// zero" (x = 0 happens only for y = 1 and y = p - 1).
fn is_canonical_encoding(b: &[u8; 32]) -> bool {
    let mut y = *b;
    y[31] &= 0x7f;
    let sign = b[31] >> 7;
    // Compare y with p as little-endian integers.
    let below_p = y
        .iter()
        .rev()
        .zip(FIELD_P.iter().rev())
        .find(|(a, p)| a != p)
        .is_some_and(|(a, p)| a < p);
    if !below_p {
        return false;
    }
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut minus_one = FIELD_P;
    minus_one[0] -= 1;
    !(sign == 1 && (y == one || y == minus_one))
}

/// The canonical encodings of the eight points of small order.
fn small_order_encodings() -> &'static [[u8; 32]; 8] {
    static TABLE: std::sync::OnceLock<[[u8; 32]; 8]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| curve25519_dalek::constants::EIGHT_TORSION.map(|p| p.compress().0))
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_did())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_did(s)
    }
}

/// A member's secret signing key. Zeroized on drop; `Debug` never prints it.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
}

impl Identity {
    /// A fresh identity from the operating system's random number generator.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::fill(&mut seed[..]);
        Self::from_seed(&seed)
    }

    /// The identity with this 32-byte secret seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte secret seed, for the encrypted keystore only.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `msg` (RFC 8032 Ed25519; deterministic).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_key_round_trips_and_matches_the_w3c_example_shape() {
        let id = Identity::from_seed(&[7u8; 32]);
        let did = id.public().to_did();
        assert!(did.starts_with("did:key:z6Mk"), "{did}");
        assert_eq!(PublicKey::from_did(&did), Ok(id.public()));
    }

    #[test]
    fn byte_level_weak_key_check_agrees_with_curve_arithmetic() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let mut samples: Vec<[u8; 32]> = (0u8..=255)
            .map(|i| {
                let mut b = [i; 32];
                b[0] = i.wrapping_mul(7);
                b
            })
            .collect();
        samples.extend(small_order_encodings().iter().copied());
        samples.push(Identity::from_seed(&[3; 32]).public().0);
        for y in 0u8..19 {
            for sign in [0u8, 0x80] {
                let mut b = FIELD_P;
                b[0] = b[0].wrapping_add(y);
                b[31] |= sign;
                samples.push(b);
                let mut c = [0u8; 32];
                c[0] = y;
                c[31] = sign;
                samples.push(c);
            }
        }
        for b in samples {
            let Some(point) = CompressedEdwardsY(b).decompress() else {
                continue;
            };
            let by_math = point.compress().0 != b || point.is_small_order();
            assert_eq!(
                PublicKey(b).check_strong().is_err(),
                by_math,
                "{}",
                hex::encode(b)
            );
        }
    }

    #[test]
    fn rejects_malformed_and_weak_did_keys() {
        assert!(matches!(
            PublicKey::from_did("did:web:example"),
            Err(KeyError::NotDidKey(_))
        ));
        assert!(matches!(
            PublicKey::from_did("did:key:z0OIl"),
            Err(KeyError::Base58(_))
        ));
        // The identity point (0, 1) has small order.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        let mut raw = MULTICODEC_ED25519_PUB.to_vec();
        raw.extend_from_slice(&identity_point);
        let did = format!("did:key:z{}", bs58::encode(raw).into_string());
        assert_eq!(PublicKey::from_did(&did), Err(KeyError::Weak));
    }
}
