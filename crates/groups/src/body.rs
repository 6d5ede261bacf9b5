//! Encrypted event bodies: the wire form of group content and direct messages.
//!
//! An event with the `FLAG_ENCRYPTED` header flag has a body that is canonical CBOR:
//!
//! * group content: `[0, epoch_id, ciphertext]`; the plaintext is a [`Payload`] (post, comment,
//!   reaction), encrypted with XChaCha20-Poly1305 under the epoch's content key, with associated
//!   data binding network, group, epoch, author, log and seq ([`content_aad`]);
//! * direct message: `[1, [[enc, sealed_key], ...], ciphertext]`; a fresh message key is sealed
//!   with HPKE to the recipient's prekey and to the sender's own (so both can read it), and the
//!   plaintext is a [`Payload::Direct`]. Recipients are not named: each reader tries its own
//!   prekeys;
//! * governance: `[2, epoch_id, ciphertext]`; the plaintext is a decision payload (proposal,
//!   revision, vote with its reason, delegation, close, attestation), encrypted under the
//!   epoch's *governance* key, a key derived from the epoch secret apart from the content key.
//!   Members keep governance keys when they forget an epoch's content, and hand them to every
//!   newcomer (the key-share chain), because every member must be able to recount every
//!   decision that changed who is a member.
//!
//! Decoding is strict and bounded like every other decoder in the project.

use dualpower_core::cbor::{CborError, Reader, Writer};
use dualpower_core::event::Position;
use dualpower_core::{EventId, NetworkId};
use thiserror::Error;

/// Most sealed copies of a direct message's key.
pub const MAX_DM_SEALS: usize = 4;
const CONTENT_AAD_TAG: &[u8] = b"dualpower/content/v1\0";
const DM_AAD_TAG: &[u8] = b"dualpower/dm/v1\0";
const SEAL_INFO_TAG: &[u8] = b"dualpower/seal/v1\0";
const DM_INFO_TAG: &[u8] = b"dualpower/dm-key/v1\0";
const HISTORY_AAD_TAG: &[u8] = b"dualpower/history/v1\0";
const GOVERNANCE_AAD_TAG: &[u8] = b"dualpower/governance/v1\0";
const GOV_CHAIN_AAD_TAG: &[u8] = b"dualpower/gov-chain/v1\0";

/// What can go wrong reading or writing group secrets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GroupError {
    /// The body is not a valid encrypted body.
    #[error("encrypted body is malformed: {0}")]
    Malformed(#[from] CborError),
    /// The body has the wrong shape.
    #[error("encrypted body is malformed: {0}")]
    Shape(&'static str),
    /// The body's type tag is unknown.
    #[error("unknown encrypted body type {0}")]
    UnknownType(u64),
    /// No key for this epoch or message.
    #[error("no key for this content")]
    NoKey,
    /// A cryptographic operation failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// The group has no epoch this member may write under (start one with a key rotation).
    #[error("the group has no usable key epoch; run `dualpower group rekey`")]
    NoEpoch,
    /// The recipient has not published a prekey.
    #[error("{0} has not published a prekey yet; they need to run their node once")]
    NoPrekey(String),
}

impl From<dualpower_crypto::CryptoError> for GroupError {
    fn from(e: dualpower_crypto::CryptoError) -> Self {
        GroupError::Crypto(e.to_string())
    }
}

/// A decoded encrypted body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encrypted {
    /// Group content under an epoch.
    Group {
        /// The epoch.
        epoch: EventId,
        /// nonce || ciphertext.
        ct: Vec<u8>,
    },
    /// A decision payload under an epoch's governance key.
    Governance {
        /// The epoch.
        epoch: EventId,
        /// nonce || ciphertext.
        ct: Vec<u8>,
    },
    /// A direct message.
    Direct {
        /// The message key sealed to each reader: (HPKE enc, sealed 32-byte key).
        seals: Vec<([u8; 32], [u8; 48])>,
        /// nonce || ciphertext.
        ct: Vec<u8>,
    },
}

impl Encrypted {
    /// Canonical CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        match self {
            Encrypted::Group { epoch, ct } => {
                w.array(3).uint(0).bytes(&epoch.0).bytes(ct);
            }
            Encrypted::Governance { epoch, ct } => {
                w.array(3).uint(2).bytes(&epoch.0).bytes(ct);
            }
            Encrypted::Direct { seals, ct } => {
                w.array(3).uint(1).array(seals.len());
                for (enc, key) in seals {
                    w.array(2).bytes(enc).bytes(key);
                }
                w.bytes(ct);
            }
        }
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn decode(body: &[u8]) -> Result<Encrypted, GroupError> {
        let mut r = Reader::new(body, 4);
        if r.array("encrypted body", 3)? != 3 {
            return Err(GroupError::Shape("an encrypted body is a 3-item array"));
        }
        let out = match r.uint()? {
            0 => Encrypted::Group {
                epoch: EventId(r.bytes_n::<32>("epoch")?),
                ct: r.bytes("ciphertext", body.len())?.to_vec(),
            },
            1 => {
                let n = r.array("seals", MAX_DM_SEALS)?;
                let mut seals = Vec::with_capacity(n);
                for _ in 0..n {
                    if r.array("seal", 2)? != 2 {
                        return Err(GroupError::Shape("a key seal is a 2-item array"));
                    }
                    seals.push((r.bytes_n::<32>("enc")?, r.bytes_n::<48>("key")?));
                    r.leave();
                }
                r.leave();
                Encrypted::Direct {
                    seals,
                    ct: r.bytes("ciphertext", body.len())?.to_vec(),
                }
            }
            2 => Encrypted::Governance {
                epoch: EventId(r.bytes_n::<32>("epoch")?),
                ct: r.bytes("ciphertext", body.len())?.to_vec(),
            },
            t => return Err(GroupError::UnknownType(t)),
        };
        r.leave();
        r.finish()?;
        Ok(out)
    }
}

/// Associated data of group content at `pos` under `epoch`.
pub fn content_aad(network: &NetworkId, epoch: &EventId, pos: &Position) -> Vec<u8> {
    let mut v = pos.binding(CONTENT_AAD_TAG, network);
    v.extend_from_slice(&epoch.0);
    v
}

/// Associated data of a governance payload at `pos` under `epoch`.
pub fn governance_aad(network: &NetworkId, epoch: &EventId, pos: &Position) -> Vec<u8> {
    let mut v = pos.binding(GOVERNANCE_AAD_TAG, network);
    v.extend_from_slice(&epoch.0);
    v
}

/// Associated data of the governance-key chain carried by the key share at `pos`.
pub fn gov_chain_aad(network: &NetworkId, pos: &Position) -> Vec<u8> {
    pos.binding(GOV_CHAIN_AAD_TAG, network)
}

/// Associated data of a direct message at `pos`.
pub fn dm_aad(network: &NetworkId, pos: &Position) -> Vec<u8> {
    pos.binding(DM_AAD_TAG, network)
}

/// HPKE info of the epoch seals carried by the key share at `pos`.
pub fn seal_info(network: &NetworkId, pos: &Position) -> Vec<u8> {
    pos.binding(SEAL_INFO_TAG, network)
}

/// HPKE info of a direct message's key seals at `pos`.
pub fn dm_info(network: &NetworkId, pos: &Position) -> Vec<u8> {
    pos.binding(DM_INFO_TAG, network)
}

/// Associated data of the history bundle carried by the key share at `pos`.
pub fn history_aad(network: &NetworkId, pos: &Position) -> Vec<u8> {
    pos.binding(HISTORY_AAD_TAG, network)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_reject_garbage() {
        let all = [
            Encrypted::Group {
                epoch: EventId([1; 32]),
                ct: vec![2; 70],
            },
            Encrypted::Governance {
                epoch: EventId([3; 32]),
                ct: vec![4; 70],
            },
            Encrypted::Direct {
                seals: vec![([3; 32], [4; 48]), ([5; 32], [6; 48])],
                ct: vec![7; 50],
            },
        ];
        for b in all {
            assert_eq!(Encrypted::decode(&b.encode()), Ok(b));
        }
        assert!(Encrypted::decode(&[]).is_err());
        assert!(Encrypted::decode(&[0x83, 0x02, 0x40, 0x40]).is_err());
        let mut long = Encrypted::Group {
            epoch: EventId([1; 32]),
            ct: vec![],
        }
        .encode();
        long.push(0);
        assert!(Encrypted::decode(&long).is_err());
    }
}
