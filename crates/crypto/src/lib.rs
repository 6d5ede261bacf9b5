//! Dual Power's encryption: how group content and direct messages are kept private.
//!
//! This crate exists so that every cryptographic choice of the project (primitives, parameters,
//! domain-separation strings) sits in one small place that can be reviewed on its own, behind an
//! API that cannot be misused by accident:
//!
//! - A group encrypts its content under a symmetric [`EpochSecret`]. Posts are sealed with
//!   XChaCha20-Poly1305 ([`encrypt`]/[`decrypt`]) under a [`ContentKey`] derived from that secret;
//!   other per-epoch keys come from [`derive`].
//! - The epoch secret reaches each member sealed with HPKE (RFC 9180, base mode,
//!   DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) to the member's X25519 prekey
//!   ([`seal_secret`]/[`open_secret`]). Direct messages use the same HPKE suite for arbitrary
//!   plaintexts ([`hpke_seal`]/[`hpke_open`]).
//! - A member proves it holds the private half of the prekey it publishes with an XEdDSA-style
//!   signature ([`PrekeySecret::sign_possession`]), so nobody can claim someone else's prekey.
//!
//! Secrets zeroize themselves on drop and never appear in `Debug` output. Every function that reads
//! bytes from the network reports malformed or forged input as a [`CryptoError`]; none panics on it.

mod content;
mod error;
mod keys;
mod possession;
mod seal;

pub use content::{CONTENT_OVERHEAD, ContentKey, decrypt, encrypt};
pub use error::CryptoError;
pub use keys::{EpochSecret, PrekeySecret, derive};
pub use seal::{SealedSecret, hpke_open, hpke_seal, open_secret, seal_secret};
