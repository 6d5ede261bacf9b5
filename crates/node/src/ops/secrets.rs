//! Local secrets: prekey private halves, epoch secrets and the invite keys of joins in progress,
//! kept in the store's `secrets` table, each encrypted with XChaCha20-Poly1305 under a key
//! derived from the identity seed, so a copied database without the passphrase reveals none of
//! them. Shared by every operation that needs our keys.
//!
//! Deleting a secret deletes its row (see `save_changes`; the store zeroes freed space): a
//! forgotten epoch secret or a retired prekey must not be in what a later passphrase compromise
//! can decrypt.

use std::collections::BTreeSet;

use dualpower_core::{EventId, GroupId, Identity};
use dualpower_crypto::{ContentKey, decrypt, encrypt};
use dualpower_groups::Keyring;
use dualpower_store::Store;

use super::write::OpError;

fn local_key(id: &Identity) -> ContentKey {
    ContentKey::from_bytes(blake3::derive_key(
        "dualpower local secrets v1",
        &id.seed()[..],
    ))
}

fn secret_aad(scope: &[u8; 32], name: &[u8]) -> Vec<u8> {
    [b"dualpower/secret/v1\0".as_slice(), scope, name].concat()
}

pub(crate) fn put_secret(
    store: &Store,
    id: &Identity,
    scope: &[u8; 32],
    name: &[u8],
    value: &[u8],
) -> Result<(), OpError> {
    let ct = encrypt(&local_key(id), &secret_aad(scope, name), value);
    Ok(store.put_secret(scope, name, &ct)?)
}

/// Every secret of `scope` this identity can open, as (name, plaintext).
fn load_secrets(
    store: &Store,
    id: &Identity,
    scope: &[u8; 32],
) -> Result<Vec<dualpower_store::SecretRow>, OpError> {
    let key = local_key(id);
    Ok(store
        .secrets(scope)?
        .into_iter()
        .filter_map(|(name, ct)| {
            let plain = decrypt(&key, &secret_aad(scope, &name), &ct).ok()?;
            Some((name, plain))
        })
        .collect())
}

/// Every secret row of `scope` this identity opens, as (name, plaintext): exactly what a later
/// compromise of the passphrase (hence of the identity seed) yields from the store.
pub fn stored_secrets(
    store: &Store,
    id: &Identity,
    scope: &[u8; 32],
) -> Result<Vec<dualpower_store::SecretRow>, OpError> {
    load_secrets(store, id, scope)
}

/// Loads our keyring for `group`.
pub fn load_keyring(store: &Store, id: &Identity, group: &GroupId) -> Result<Keyring, OpError> {
    let entries = load_secrets(store, id, &group.0)?;
    let keyring = Keyring::from_entries(entries.iter().filter_map(|(n, v)| {
        let v: [u8; 32] = v.as_slice().try_into().ok()?;
        Some((n.as_slice(), v))
    }));
    super::derived::register_keys(store, *group, &keyring);
    Ok(keyring)
}

/// Saves the entries of `after` that `before` lacks.
pub(crate) fn save_new(
    store: &Store,
    id: &Identity,
    group: &GroupId,
    before: &Keyring,
    after: &Keyring,
) -> Result<(), OpError> {
    super::derived::register_keys(store, *group, after);
    let old: BTreeSet<Vec<u8>> = before.entries().into_iter().map(|(n, _)| n).collect();
    for (name, value) in after.entries() {
        if !old.contains(&name) {
            put_secret(store, id, &group.0, &name, &value)?;
        }
    }
    Ok(())
}

/// Saves `after` over `before`: the entries `before` lacks are written, and the entries that
/// `after` dropped (forgotten epochs, retired prekeys) are deleted from the store. New entries
/// go first, so a forgotten mark is stored before the secret it replaces is deleted.
pub(crate) fn save_changes(
    store: &Store,
    id: &Identity,
    group: &GroupId,
    before: &Keyring,
    after: &Keyring,
) -> Result<(), OpError> {
    save_new(store, id, group, before, after)?;
    let kept: BTreeSet<Vec<u8>> = after.entries().into_iter().map(|(n, _)| n).collect();
    let mut deleted = false;
    for (name, _) in before.entries() {
        if !kept.contains(&name) {
            deleted |= store.delete_secret(&group.0, &name)?;
        }
    }
    if deleted {
        // The write-ahead log still holds the frames that wrote them. Best effort: a busy
        // checkpoint leaves them until the next one, and the store checkpoints when it closes.
        let _ = store.checkpoint();
    }
    Ok(())
}

/// What a local clock mark records: when this node first saw an epoch superseded.
pub(crate) const MARK_SUPERSEDED: u8 = b'e';
/// What a local clock mark records: when this node first saw a prekey as its newest.
pub(crate) const MARK_NEWEST_PREKEY: u8 = b'p';

/// Name of the local clock mark of `kind` for `key` (`t` + kind + key; two bytes before the
/// key, so [`Keyring::from_entries`] never takes it for a key).
fn mark_name(kind: u8, key: &[u8; 32]) -> Vec<u8> {
    [[b't', kind].as_slice(), key].concat()
}

/// This node's clock marks of `kind` in `group`: key → ms by its own clock. Forgetting and
/// prekey rotation count from these, never from a timestamp another member chose.
pub(crate) fn clock_marks(
    store: &Store,
    id: &Identity,
    group: &GroupId,
    kind: u8,
) -> Result<std::collections::BTreeMap<[u8; 32], u64>, OpError> {
    Ok(load_secrets(store, id, &group.0)?
        .into_iter()
        .filter_map(|(name, v)| {
            let rest = name.strip_prefix([b't', kind].as_slice())?;
            let key: [u8; 32] = rest.try_into().ok()?;
            Some((key, u64::from_le_bytes(v.as_slice().try_into().ok()?)))
        })
        .collect())
}

/// Records the clock mark of `kind` for `key` at `at`.
pub(crate) fn put_clock_mark(
    store: &Store,
    id: &Identity,
    group: &GroupId,
    kind: u8,
    key: &[u8; 32],
    at: u64,
) -> Result<(), OpError> {
    put_secret(
        store,
        id,
        &group.0,
        &mark_name(kind, key),
        &at.to_le_bytes(),
    )
}

/// Drops the clock mark of `kind` for `key`.
pub(crate) fn delete_clock_mark(
    store: &Store,
    group: &GroupId,
    kind: u8,
    key: &[u8; 32],
) -> Result<(), OpError> {
    store.delete_secret(&group.0, &mark_name(kind, key))?;
    Ok(())
}

/// The invite secrets we hold for groups we are joining: (invite event, key).
pub fn invite_keys(
    store: &Store,
    id: &Identity,
    group: &GroupId,
) -> Result<Vec<(EventId, Identity)>, OpError> {
    Ok(load_secrets(store, id, &group.0)?
        .into_iter()
        .filter_map(|(name, v)| {
            let (k, rest) = name.split_first()?;
            if *k != b'i' {
                return None;
            }
            let inv = EventId(rest.try_into().ok()?);
            let seed: [u8; 32] = v.as_slice().try_into().ok()?;
            Some((inv, Identity::from_seed(&seed)))
        })
        .collect())
}

/// Name of the record of when this node first saw join `join`.
fn seen_name(join: &EventId) -> Vec<u8> {
    [b"s".as_slice(), &join.0].concat()
}

/// When this node first saw each pending join of `group` (its own clock, kept across restarts:
/// the grace period before a non-inviter admits starts there, never at the joiner's timestamp).
pub fn first_seen(
    store: &Store,
    id: &Identity,
    group: &GroupId,
) -> Result<dualpower_groups::agent::FirstSeen, OpError> {
    Ok(load_secrets(store, id, &group.0)?
        .into_iter()
        .filter_map(|(name, v)| {
            let (k, rest) = name.split_first()?;
            if *k != b's' {
                return None;
            }
            let join = EventId(rest.try_into().ok()?);
            let at = u64::from_le_bytes(v.as_slice().try_into().ok()?);
            Some((join, at))
        })
        .collect())
}

/// Saves `after` over `before` (records added, records dropped).
pub(crate) fn save_first_seen(
    store: &Store,
    id: &Identity,
    group: &GroupId,
    before: &dualpower_groups::agent::FirstSeen,
    after: &dualpower_groups::agent::FirstSeen,
) -> Result<(), OpError> {
    for join in before.keys().filter(|j| !after.contains_key(*j)) {
        store.delete_secret(&group.0, &seen_name(join))?;
    }
    for (join, at) in after.iter().filter(|(j, _)| !before.contains_key(*j)) {
        put_secret(store, id, &group.0, &seen_name(join), &at.to_le_bytes())?;
    }
    Ok(())
}

/// The scope of petname rows: not a group id (those are BLAKE3 derivations under another
/// context), so no group's secrets and no petname ever share a scope.
fn petname_scope() -> [u8; 32] {
    blake3::derive_key("dualpower petnames scope v1", &[])
}

/// Every petname this member gave: key → name. Kept in the secrets table under the identity's
/// local key, so a copied database (or another OS user) without the passphrase does not learn who
/// this member calls what.
pub fn petnames(
    store: &Store,
    id: &Identity,
) -> Result<std::collections::BTreeMap<dualpower_core::PublicKey, String>, OpError> {
    Ok(load_secrets(store, id, &petname_scope())?
        .into_iter()
        .filter_map(|(name, v)| {
            let key: [u8; 32] = name.strip_prefix(b"n".as_slice())?.try_into().ok()?;
            Some((dualpower_core::PublicKey(key), String::from_utf8(v).ok()?))
        })
        .collect())
}

/// Sets (or with `None` clears) the petname of `key`; true if a petname was cleared.
pub(crate) fn set_petname(
    store: &Store,
    id: &Identity,
    key: &dualpower_core::PublicKey,
    name: Option<&str>,
) -> Result<bool, OpError> {
    let row = [b"n".as_slice(), &key.0].concat();
    match name {
        Some(n) => {
            put_secret(store, id, &petname_scope(), &row, n.as_bytes())?;
            Ok(false)
        }
        None => {
            let gone = store.delete_secret(&petname_scope(), &row)?;
            if gone {
                // Best effort, as for forgotten secrets: the log's copy goes at the next one.
                let _ = store.checkpoint();
            }
            Ok(gone)
        }
    }
}
