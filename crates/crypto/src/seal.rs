//! HPKE (RFC 9180) sealing to a member's X25519 prekey.
//!
//! This exists to hand secrets to one member at a time: a group's epoch secret to each member
//! ([`seal_secret`]), and direct messages ([`hpke_seal`]). The suite is fixed: base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, single-shot (one message per
//! encapsulation). The ephemeral key of every seal comes from the operating system's random number
//! generator.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, HpkeError, Kem, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use crate::{CryptoError, EpochSecret, PrekeySecret};

type Suite = X25519HkdfSha256;
type PublicKey = <Suite as Kem>::PublicKey;
type PrivateKey = <Suite as Kem>::PrivateKey;
type EncappedKey = <Suite as Kem>::EncappedKey;

/// Length of the ChaCha20-Poly1305 tag HPKE appends.
const TAG_LEN: usize = 16;

/// An epoch secret sealed to one member's prekey with HPKE: the encapsulated (ephemeral public)
/// key and the ciphertext of the 32-byte secret with its 16-byte tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecret {
    /// The HPKE encapsulated key (an ephemeral X25519 public key).
    pub enc: [u8; 32],
    /// The sealed secret: 32 bytes of ciphertext and a 16-byte tag.
    pub ct: [u8; 48],
}

/// Seals an epoch secret to `recipient` (an X25519 public key, see [`PrekeySecret::public`]).
///
/// HPKE base mode, single shot, with `info` as the HPKE info (bind it to the group and epoch) and
/// empty aad. Fails with [`CryptoError::InvalidPublicKey`] if `recipient` is a low-order point.
pub fn seal_secret(
    recipient: &[u8; 32],
    secret: &EpochSecret,
    info: &[u8],
) -> Result<SealedSecret, CryptoError> {
    let (enc, ct) = hpke_seal(recipient, info, &[], &secret.0)?;
    let ct = <[u8; 48]>::try_from(ct.as_slice()).map_err(|_| CryptoError::SealFailed {
        reason: "unexpected ciphertext length",
    })?;
    Ok(SealedSecret { enc, ct })
}

/// Opens a [`SealedSecret`] with the recipient's prekey and the `info` it was sealed with.
///
/// A wrong prekey, a wrong `info` or any modification fails with [`CryptoError::OpenFailed`].
pub fn open_secret(
    prekey: &PrekeySecret,
    sealed: &SealedSecret,
    info: &[u8],
) -> Result<EpochSecret, CryptoError> {
    let pt = Zeroizing::new(hpke_open(prekey, &sealed.enc, info, &[], &sealed.ct)?);
    let secret = <[u8; 32]>::try_from(pt.as_slice()).map_err(|_| CryptoError::Malformed {
        what: "sealed secret plaintext",
        len: pt.len(),
    })?;
    Ok(EpochSecret(secret))
}

/// Seals an arbitrary `plaintext` to `recipient` (an X25519 public key) with HPKE base mode,
/// single shot. `info` goes into the key schedule, `aad` is authenticated with the ciphertext;
/// both must be given again to open.
///
/// Returns the encapsulated key (32 bytes) and the ciphertext (plaintext length + 16).
pub fn hpke_seal(
    recipient: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; 32], Vec<u8>), CryptoError> {
    let pk = PublicKey::from_bytes(recipient).map_err(|_| CryptoError::Malformed {
        what: "recipient public key",
        len: recipient.len(),
    })?;
    // `single_shot_seal` draws the ephemeral key from the operating system (getrandom's SysRng).
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Suite>(
        &OpModeS::Base,
        &pk,
        info,
        plaintext,
        aad,
    )
    .map_err(|e| match e {
        HpkeError::EncapError => CryptoError::InvalidPublicKey,
        HpkeError::SealError => CryptoError::SealFailed {
            reason: "plaintext too long",
        },
        _ => CryptoError::SealFailed {
            reason: "HPKE setup failed",
        },
    })?;
    Ok((enc.to_bytes().into(), ct))
}

/// Opens the output of [`hpke_seal`] with the recipient's prekey and the same `info` and `aad`.
///
/// A ciphertext shorter than the 16-byte tag is [`CryptoError::Malformed`]; a wrong prekey,
/// `info` or `aad`, or any modification of `enc` or `ciphertext`, is [`CryptoError::OpenFailed`].
pub fn hpke_open(
    prekey: &PrekeySecret,
    enc: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if ciphertext.len() < TAG_LEN {
        return Err(CryptoError::Malformed {
            what: "HPKE ciphertext",
            len: ciphertext.len(),
        });
    }
    let sk = PrivateKey::from_bytes(prekey.secret_bytes()).map_err(|_| CryptoError::OpenFailed)?;
    let enc = EncappedKey::from_bytes(enc).map_err(|_| CryptoError::Malformed {
        what: "HPKE encapsulated key",
        len: enc.len(),
    })?;
    // Every failure past this point (a low-order `enc`, a wrong key, tampering) is reported
    // the same way.
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Suite>(
        &OpModeR::Base,
        &sk,
        &enc,
        info,
        ciphertext,
        aad,
    )
    .map_err(|_| CryptoError::OpenFailed)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn seal_open_round_trip() {
        let prekey = PrekeySecret::generate();
        let secret = EpochSecret::generate();
        let sealed = seal_secret(&prekey.public(), &secret, b"group g epoch 1").unwrap();
        let opened = open_secret(&prekey, &sealed, b"group g epoch 1").unwrap();
        assert_eq!(opened, secret);
        // A restored prekey opens it too.
        let restored = PrekeySecret::from_bytes(prekey.to_bytes());
        assert_eq!(
            open_secret(&restored, &sealed, b"group g epoch 1").unwrap(),
            secret
        );
    }

    #[test]
    fn sealing_is_randomized() {
        let prekey = PrekeySecret::generate();
        let secret = EpochSecret::generate();
        let a = seal_secret(&prekey.public(), &secret, b"i").unwrap();
        let b = seal_secret(&prekey.public(), &secret, b"i").unwrap();
        assert_ne!(a.enc, b.enc);
        assert_ne!(a.ct, b.ct);
    }

    #[test]
    fn wrong_prekey_fails() {
        let prekey = PrekeySecret::generate();
        let sealed = seal_secret(&prekey.public(), &EpochSecret::generate(), b"i").unwrap();
        let other = PrekeySecret::generate();
        assert_eq!(
            open_secret(&other, &sealed, b"i"),
            Err(CryptoError::OpenFailed)
        );
    }

    #[test]
    fn tampered_enc_or_ct_fails() {
        let prekey = PrekeySecret::generate();
        let sealed = seal_secret(&prekey.public(), &EpochSecret::generate(), b"i").unwrap();
        for i in 0..32 {
            let mut bad = sealed.clone();
            bad.enc[i] ^= 0x01;
            assert_eq!(
                open_secret(&prekey, &bad, b"i"),
                Err(CryptoError::OpenFailed),
                "enc byte {i}"
            );
        }
        for i in 0..48 {
            let mut bad = sealed.clone();
            bad.ct[i] ^= 0x80;
            assert_eq!(
                open_secret(&prekey, &bad, b"i"),
                Err(CryptoError::OpenFailed),
                "ct byte {i}"
            );
        }
        // A low-order encapsulated key (all zeros) is rejected, not a panic.
        let mut bad = sealed.clone();
        bad.enc = [0; 32];
        assert_eq!(
            open_secret(&prekey, &bad, b"i"),
            Err(CryptoError::OpenFailed)
        );
    }

    #[test]
    fn different_info_fails() {
        let prekey = PrekeySecret::generate();
        let sealed = seal_secret(&prekey.public(), &EpochSecret::generate(), b"epoch 1").unwrap();
        assert_eq!(
            open_secret(&prekey, &sealed, b"epoch 2"),
            Err(CryptoError::OpenFailed)
        );
        assert_eq!(
            open_secret(&prekey, &sealed, b""),
            Err(CryptoError::OpenFailed)
        );
    }

    #[test]
    fn low_order_recipient_is_refused() {
        let r = seal_secret(&[0; 32], &EpochSecret::generate(), b"i");
        assert_eq!(r, Err(CryptoError::InvalidPublicKey));
    }

    #[test]
    fn hpke_round_trip_with_aad() {
        let prekey = PrekeySecret::generate();
        let msg = b"a direct message, longer than one block of anything".repeat(5);
        let (enc, ct) = hpke_seal(&prekey.public(), b"dm v1", b"from a to b", &msg).unwrap();
        assert_eq!(ct.len(), msg.len() + TAG_LEN);
        let pt = hpke_open(&prekey, &enc, b"dm v1", b"from a to b", &ct).unwrap();
        assert_eq!(pt, msg);
        assert_eq!(
            hpke_open(&prekey, &enc, b"dm v1", b"from c to b", &ct),
            Err(CryptoError::OpenFailed)
        );
        assert_eq!(
            hpke_open(&prekey, &enc, b"dm v2", b"from a to b", &ct),
            Err(CryptoError::OpenFailed)
        );
        // Empty plaintext is fine; a ciphertext shorter than the tag is malformed.
        let (enc, ct) = hpke_seal(&prekey.public(), b"", b"", b"").unwrap();
        assert_eq!(hpke_open(&prekey, &enc, b"", b"", &ct).unwrap(), b"");
        assert_eq!(
            hpke_open(&prekey, &enc, b"", b"", &ct[..15]),
            Err(CryptoError::Malformed {
                what: "HPKE ciphertext",
                len: 15
            })
        );
    }

    /// RFC 9180 A.2.1.1, sequence number 0: proves the suite is
    /// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305 in base mode.
    #[test]
    fn opens_rfc9180_a2_test_vector() {
        let sk: [u8; 32] =
            unhex("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb")
                .try_into()
                .unwrap();
        let enc: [u8; 32] =
            unhex("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a")
                .try_into()
                .unwrap();
        let info = unhex("4f6465206f6e2061204772656369616e2055726e");
        let aad = unhex("436f756e742d30");
        let ct = unhex(
            "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
        );
        let pt = hpke_open(&PrekeySecret::from_bytes(sk), &enc, &info, &aad, &ct).unwrap();
        assert_eq!(pt, b"Beauty is truth, truth beauty");
    }

    proptest! {
        #[test]
        fn hpke_open_never_panics(enc in any::<[u8; 32]>(),
                                  ct in proptest::collection::vec(any::<u8>(), 0..200),
                                  info in proptest::collection::vec(any::<u8>(), 0..32),
                                  aad in proptest::collection::vec(any::<u8>(), 0..32)) {
            let prekey = PrekeySecret::from_bytes([7; 32]);
            let r = hpke_open(&prekey, &enc, &info, &aad, &ct);
            if ct.len() < TAG_LEN {
                let is_malformed = matches!(r, Err(CryptoError::Malformed { .. }));
                prop_assert!(is_malformed);
            } else {
                prop_assert_eq!(r, Err(CryptoError::OpenFailed));
            }
        }

        #[test]
        fn open_secret_never_panics(enc in any::<[u8; 32]>(),
                                    ct in proptest::collection::vec(any::<u8>(), 48..=48)) {
            let prekey = PrekeySecret::from_bytes([7; 32]);
            let sealed = SealedSecret { enc, ct: ct.try_into().unwrap() };
            prop_assert_eq!(open_secret(&prekey, &sealed, b"i"), Err(CryptoError::OpenFailed));
        }
    }
}
