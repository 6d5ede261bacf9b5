//! Signature verification with one rule on every path: ZIP-215.
//!
//! Ed25519 implementations disagree on edge cases (non-canonical point encodings, small-order
//! components), and single and batch verification in the same library can disagree too. For a
//! replicated log that would be fatal: one node would accept an event another rejects, and their
//! states would diverge. ZIP-215 fixes the rule (cofactored equation, non-canonical A and R
//! accepted, S must be canonical) and `ed25519-zebra` implements it identically for single and
//! batch verification. Batch failures fall back to single checks, so a batch never changes a
//! verdict, only its cost.

use ed25519_zebra::{Signature, VerificationKey, VerificationKeyBytes, batch};

/// Checks one signature under ZIP-215 rules.
pub fn verify_single(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(vk) = VerificationKey::try_from(*public) else {
        return false;
    };
    vk.verify(&Signature::from_bytes(sig), msg).is_ok()
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
