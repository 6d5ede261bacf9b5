//! The one error type of this crate.
//!
//! It exists so that callers can tell input that is malformed (wrong length: a bug or a hostile
//! peer, no point retrying) from input that fails authentication (wrong key, wrong context, or
//! tampering), without learning anything else about why decryption failed.

/// Why a cryptographic operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The input does not have a length this operation can accept.
    #[error("malformed {what}: {len} bytes")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// Authentication failed: the wrong key or context, or the data was tampered with. Nothing
    /// more is revealed on purpose.
    #[error("decryption failed: wrong key or context, or tampered data")]
    OpenFailed,
    /// The recipient's X25519 public key is a low-order point: nothing sealed to it would be secret.
    #[error("invalid recipient public key (low-order point)")]
    InvalidPublicKey,
    /// Sealing failed for another reason (for example, a plaintext beyond the AEAD's limit).
    #[error("sealing failed: {reason}")]
    SealFailed {
        /// What went wrong.
        reason: &'static str,
    },
}
