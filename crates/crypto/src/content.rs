//! Symmetric encryption of group content: XChaCha20-Poly1305 with random nonces.
//!
//! This exists because group posts are many, small and encrypted under one long-lived epoch key:
//! XChaCha20-Poly1305's 192-bit nonces can be drawn at random for every message with no risk of
//! reuse and no counter state to keep in sync between devices.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, EpochSecret};

/// Nonce length of XChaCha20-Poly1305.
const NONCE_LEN: usize = 24;
/// Tag length of Poly1305.
const TAG_LEN: usize = 16;

/// Bytes that [`encrypt`] adds to a plaintext: a 24-byte nonce and a 16-byte tag.
pub const CONTENT_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// The domain-separation context of [`ContentKey::of_epoch`].
const CONTENT_KEY_CONTEXT: &str = "dualpower content key v1";

/// An XChaCha20-Poly1305 key for group content. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ContentKey([u8; 32]);

impl ContentKey {
    /// Derives the content key of an epoch:
    /// `blake3::derive_key("dualpower content key v1", secret)`.
    pub fn of_epoch(secret: &EpochSecret) -> ContentKey {
        ContentKey(crate::derive(secret, CONTENT_KEY_CONTEXT))
    }

    /// A content key from its raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> ContentKey {
        ContentKey(b)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

/// Encrypts `plaintext`, authenticating `aad` with it, under a fresh random 24-byte nonce.
/// Output: `nonce || ciphertext || tag`, [`CONTENT_OVERHEAD`] bytes longer than the plaintext.
///
/// # Panics
///
/// If `plaintext` is longer than XChaCha20-Poly1305 allows (about 256 GiB).
pub fn encrypt(key: &ContentKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + CONTENT_OVERHEAD);
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce[..]);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .cipher()
        .encrypt_inout_detached(&XNonce::from(nonce), aad, (&mut out[NONCE_LEN..]).into())
        .expect("plaintext within the XChaCha20-Poly1305 length limit");
    out.extend_from_slice(&tag);
    out
}

/// Decrypts the output of [`encrypt`] made under the same key and `aad`.
///
/// Input shorter than [`CONTENT_OVERHEAD`] is [`CryptoError::Malformed`]; a wrong key, a wrong
/// `aad` or any modification is [`CryptoError::OpenFailed`].
pub fn decrypt(key: &ContentKey, aad: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if data.len() < CONTENT_OVERHEAD {
        return Err(CryptoError::Malformed {
            what: "encrypted content",
            len: data.len(),
        });
    }
    let (nonce, rest) = data.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| CryptoError::Malformed {
        what: "content nonce",
        len: nonce.len(),
    })?;
    let tag = Tag::try_from(tag).map_err(|_| CryptoError::Malformed {
        what: "content tag",
        len: tag.len(),
    })?;
    let mut out = ciphertext.to_vec();
    match key
        .cipher()
        .decrypt_inout_detached(&nonce, aad, out.as_mut_slice().into(), &tag)
    {
        Ok(()) => Ok(out),
        Err(_) => {
            // Don't hand back (or leave in freed memory) unauthenticated plaintext.
            out.zeroize();
            Err(CryptoError::OpenFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key() -> ContentKey {
        ContentKey::of_epoch(&EpochSecret([3; 32]))
    }

    #[test]
    fn round_trip() {
        let k = key();
        for len in [0, 1, 15, 16, 17, 200, 4096] {
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let ct = encrypt(&k, b"header", &pt);
            assert_eq!(ct.len(), pt.len() + CONTENT_OVERHEAD);
            assert_eq!(decrypt(&k, b"header", &ct).unwrap(), pt);
        }
    }

    #[test]
    fn of_epoch_is_the_documented_derivation() {
        let s = EpochSecret([5; 32]);
        let expected =
            ContentKey::from_bytes(blake3::derive_key("dualpower content key v1", &[5; 32]));
        let ct = encrypt(&ContentKey::of_epoch(&s), b"", b"post");
        assert_eq!(decrypt(&expected, b"", &ct).unwrap(), b"post");
    }

    #[test]
    fn wrong_aad_fails() {
        let k = key();
        let ct = encrypt(&k, b"group A", b"hello");
        assert_eq!(decrypt(&k, b"group B", &ct), Err(CryptoError::OpenFailed));
        assert_eq!(decrypt(&k, b"", &ct), Err(CryptoError::OpenFailed));
    }

    #[test]
    fn wrong_key_fails() {
        let ct = encrypt(&key(), b"", b"hello");
        let other = ContentKey::of_epoch(&EpochSecret([4; 32]));
        assert_eq!(decrypt(&other, b"", &ct), Err(CryptoError::OpenFailed));
    }

    #[test]
    fn any_flipped_bit_fails() {
        let k = key();
        let ct = encrypt(&k, b"aad", b"some post text");
        for i in 0..ct.len() {
            for bit in 0..8 {
                let mut bad = ct.clone();
                bad[i] ^= 1 << bit;
                assert_eq!(decrypt(&k, b"aad", &bad), Err(CryptoError::OpenFailed));
            }
        }
    }

    #[test]
    fn truncated_input_is_malformed() {
        let k = key();
        let ct = encrypt(&k, b"", b"");
        assert_eq!(ct.len(), CONTENT_OVERHEAD);
        assert_eq!(decrypt(&k, b"", &ct).unwrap(), b"");
        for len in 0..CONTENT_OVERHEAD {
            assert_eq!(
                decrypt(&k, b"", &ct[..len]),
                Err(CryptoError::Malformed {
                    what: "encrypted content",
                    len
                })
            );
        }
        // Cut at the end of a longer message: long enough, but no longer authentic.
        let ct = encrypt(&k, b"", b"hello world");
        assert_eq!(
            decrypt(&k, b"", &ct[..ct.len() - 1]),
            Err(CryptoError::OpenFailed)
        );
    }

    #[test]
    fn same_plaintext_encrypts_differently() {
        let k = key();
        let a = encrypt(&k, b"", b"same");
        let b = encrypt(&k, b"", b"same");
        assert_ne!(a, b);
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_eq!(decrypt(&k, b"", &a), decrypt(&k, b"", &b));
    }

    proptest! {
        #[test]
        fn decrypt_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300),
                                aad in proptest::collection::vec(any::<u8>(), 0..64)) {
            let r = decrypt(&key(), &aad, &data);
            if data.len() < CONTENT_OVERHEAD {
                let is_malformed = matches!(r, Err(CryptoError::Malformed { .. }));
                prop_assert!(is_malformed);
            } else {
                prop_assert_eq!(r, Err(CryptoError::OpenFailed));
            }
        }
    }
}
