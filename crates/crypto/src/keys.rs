//! Key material: X25519 prekeys, group epoch secrets, and subkeys derived from epoch secrets.
//!
//! These types exist so that secrets are never handled as bare byte arrays elsewhere: they are
//! zeroized when dropped, compared in constant time, and redacted from `Debug` output.

use std::fmt;

use rand::TryRng;
use rand::rngs::SysRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// 32 bytes from the operating system's random number generator.
///
/// # Panics
///
/// If the operating system cannot provide randomness; no secure key can be made then.
fn os_random() -> [u8; 32] {
    let mut b = [0u8; 32];
    SysRng
        .try_fill_bytes(&mut b)
        .expect("the operating system's random number generator failed");
    b
}

/// Constant-time equality of two 32-byte secrets.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The private half of an X25519 prekey, to which secrets and direct messages are sealed.
///
/// Zeroized on drop. The public half is computed once, at construction.
#[derive(Clone)]
pub struct PrekeySecret {
    secret: StaticSecret,
    public: [u8; 32],
}

impl PrekeySecret {
    /// A fresh prekey from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide randomness.
    pub fn generate() -> PrekeySecret {
        let mut b = os_random();
        let key = PrekeySecret::from_bytes(b);
        b.zeroize();
        key
    }

    /// A prekey from its 32 secret bytes (as returned by [`PrekeySecret::to_bytes`]). Every
    /// 32-byte string is a valid X25519 private key (it is clamped when used).
    pub fn from_bytes(b: [u8; 32]) -> PrekeySecret {
        let secret = StaticSecret::from(b);
        let public = PublicKey::from(&secret).to_bytes();
        PrekeySecret { secret, public }
    }

    /// The 32 secret bytes, exactly as given to [`PrekeySecret::from_bytes`]. The caller is
    /// responsible for zeroizing the copy.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    /// The X25519 public key: what senders seal to.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The secret bytes, borrowed (for handing to HPKE without an extra copy).
    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        self.secret.as_bytes()
    }
}

impl PartialEq for PrekeySecret {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.secret.as_bytes(), other.secret.as_bytes())
    }
}

impl Eq for PrekeySecret {}

impl fmt::Debug for PrekeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrekeySecret")
            .field("public", &Hex(&self.public))
            .finish_non_exhaustive()
    }
}

/// A group's symmetric secret for one epoch; every key the group uses in that epoch is derived
/// from it (see [`crate::ContentKey::of_epoch`] and [`derive`]).
///
/// Zeroized on drop; equality is constant-time; `Debug` does not show it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct EpochSecret(pub [u8; 32]);

impl EpochSecret {
    /// A fresh epoch secret from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide randomness.
    pub fn generate() -> EpochSecret {
        EpochSecret(os_random())
    }
}

impl PartialEq for EpochSecret {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for EpochSecret {}

impl fmt::Debug for EpochSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochSecret(..)")
    }
}

/// Derives a 32-byte subkey of an epoch secret for one purpose (gossip topics, sync, ...):
/// `blake3::derive_key(context, secret)`.
///
/// `context` must be a hard-coded string unique to that purpose, such as
/// `"dualpower gossip topic v1"`; different contexts give independent keys.
pub fn derive(secret: &EpochSecret, context: &str) -> [u8; 32] {
    blake3::derive_key(context, &secret.0)
}

/// Lowercase hex, for `Debug` of public values.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prekey_bytes_round_trip() {
        let k = PrekeySecret::generate();
        let again = PrekeySecret::from_bytes(k.to_bytes());
        assert_eq!(k, again);
        assert_eq!(k.public(), again.public());
        assert_ne!(k, PrekeySecret::generate());
    }

    #[test]
    fn prekey_public_matches_rfc9180_a2() {
        // RFC 9180 A.2: skRm -> pkRm for DHKEM(X25519, HKDF-SHA256).
        let sk: [u8; 32] =
            hex::decode("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb")
                .unwrap()
                .try_into()
                .unwrap();
        let pk = hex::decode("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a")
            .unwrap();
        assert_eq!(PrekeySecret::from_bytes(sk).public().as_slice(), pk);
    }

    #[test]
    fn epoch_secrets_are_random_and_compare_by_value() {
        let a = EpochSecret::generate();
        let b = EpochSecret::generate();
        assert_ne!(a, b);
        assert_eq!(a, a.clone());
        assert_eq!(EpochSecret([1; 32]), EpochSecret([1; 32]));
        let mut c = EpochSecret([1; 32]);
        c.0[31] = 2;
        assert_ne!(EpochSecret([1; 32]), c);
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let e = EpochSecret([0xab; 32]);
        assert!(!format!("{e:?}").contains("ab"));
        let k = PrekeySecret::from_bytes([0xcd; 32]);
        assert!(!format!("{k:?}").contains("cdcd"));
    }

    #[test]
    fn derive_separates_contexts() {
        let s = EpochSecret([9; 32]);
        let a = derive(&s, "dualpower test a v1");
        assert_eq!(a, blake3::derive_key("dualpower test a v1", &[9; 32]));
        assert_ne!(a, derive(&s, "dualpower test b v1"));
        assert_ne!(a, derive(&EpochSecret([8; 32]), "dualpower test a v1"));
    }
}
