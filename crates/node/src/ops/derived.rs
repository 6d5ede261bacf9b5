//! One derivation per change, in proportion to the change: a small process-wide cache of each
//! group's events and derived state, so the agent, the view, attestations and every operation
//! share one state instead of reading every event and deriving from scratch several times per
//! change.
//!
//! Each entry remembers the store's arrival number of the last event it holds. A call reads only
//! the group's events that arrived since ([`Store::group_events_since`]); none means the entry
//! is current. New events are handed to the entry's [`Derivation`], which appends them to its
//! last pass when that gives the same result as deriving again and derives from scratch
//! otherwise (a removal, a fork, a batch that reorders history), so the state is always
//! exactly [`GroupState::derive`] of the stored events.
//!
//! Decisions travel encrypted under epoch governance keys, and the derived state needs their
//! plaintext. The operations that load this member's keyring register its governance keys here
//! ([`register_keys`]); each entry opens the decision events it can and keeps the ones it cannot
//! yet (their key arrives later, with a key share) to open when the key is registered, at which
//! point the state is derived again from scratch (an earlier event's verdict may change).

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dualpower_core::event::{FLAG_ENCRYPTED, Position};
use dualpower_core::{EventId, GroupId, NetworkId, Payload, VerifiedEvent};
use dualpower_crypto::{ContentKey, decrypt};
use dualpower_groups::body::{Encrypted, governance_aad};
use dualpower_state::work::Reputation;
use dualpower_state::{Derivation, GroupState, Opened};
use dualpower_store::{Store, StoreError};

/// Most groups kept; past that the cache starts afresh (a node follows few groups).
const MAX_ENTRIES: usize = 64;

struct Entry {
    /// Arrival number of the newest event held, and its id (if the store no longer holds it,
    /// the store at this path is not the one the entry was read from).
    last: i64,
    newest: Option<dualpower_core::EventId>,
    /// The events, ordered as [`Store::group_events`] orders them.
    events: Arc<Vec<VerifiedEvent>>,
    derivation: Derivation,
    state: Arc<GroupState>,
    /// Decision events whose governance key was not registered when they arrived.
    sealed: Vec<VerifiedEvent>,
    /// How many governance keys were registered when this entry last opened events.
    keys_seen: usize,
    /// Reputation computed from `state` (a later state computes it anew).
    reputation: Option<(Arc<GroupState>, Arc<Reputation>)>,
}

type Key = (PathBuf, NetworkId, GroupId);
type GovKeys = BTreeMap<EventId, [u8; 32]>;

static CACHE: Mutex<Option<HashMap<Key, Entry>>> = Mutex::new(None);
static KEYS: Mutex<Option<HashMap<Key, GovKeys>>> = Mutex::new(None);

/// Makes the governance keys of `keyring` available to the derivations of `group` in `store`
/// (keys are only ever added: a forgotten epoch keeps its governance key).
pub fn register_keys(store: &Store, group: GroupId, keyring: &dualpower_groups::Keyring) {
    let key: Key = (store.path().to_path_buf(), *store.network(), group);
    let mut guard = KEYS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = guard
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_default();
    for (e, k) in &keyring.gov {
        map.insert(*e, *k);
    }
    for e in keyring.epochs.keys() {
        if let Some(k) = keyring.gov_key(e) {
            map.insert(*e, k);
        }
    }
}

fn keys_of(key: &Key) -> GovKeys {
    KEYS.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .and_then(|m| m.get(key).cloned())
        .unwrap_or_default()
}

/// The decision payloads `keyring` opens among `events` (for a derivation outside the cache,
/// such as re-verifying a tally from the stored bytes).
pub fn open_with(
    network: &NetworkId,
    keyring: &dualpower_groups::Keyring,
    events: &[VerifiedEvent],
) -> Opened {
    let mut keys = keyring.gov.clone();
    for e in keyring.epochs.keys() {
        if let Some(k) = keyring.gov_key(e) {
            keys.insert(*e, k);
        }
    }
    open_all(network, &keys, events).0
}

/// What a governance key makes of an event.
enum Opening {
    /// Not an encrypted decision (content, a direct message, a clear event).
    NotDecision,
    /// A decision under an epoch whose key is not registered.
    NoKey,
    /// The decision payload (only decision kinds; anything else under a governance key is
    /// ignored, like a body that does not decrypt).
    Opened(Box<Payload>),
    /// Does not decrypt or decode: never counts.
    Bad,
}

fn open(network: &NetworkId, keys: &GovKeys, ev: &VerifiedEvent) -> Opening {
    if ev.header().flags & FLAG_ENCRYPTED == 0 {
        return Opening::NotDecision;
    }
    let Some(Ok(Encrypted::Governance { epoch, ct })) = ev.body().map(Encrypted::decode) else {
        return Opening::NotDecision;
    };
    let Some(k) = keys.get(&epoch) else {
        return Opening::NoKey;
    };
    let aad = governance_aad(network, &epoch, &Position::of(ev.header()));
    match decrypt(&ContentKey::from_bytes(*k), &aad, &ct).map(|p| Payload::decode(&p)) {
        Ok(Ok(p)) if dualpower_state::governed(&p) => Opening::Opened(Box::new(p)),
        _ => Opening::Bad,
    }
}

/// Opens what `keys` can of `events`; returns the openings and the decisions still sealed.
fn open_all(
    network: &NetworkId,
    keys: &GovKeys,
    events: &[VerifiedEvent],
) -> (Opened, Vec<VerifiedEvent>) {
    let mut opened = Opened::new();
    let mut sealed = Vec::new();
    for e in events {
        match open(network, keys, e) {
            Opening::Opened(p) => {
                opened.insert(e.id(), *p);
            }
            Opening::NoKey => sealed.push(e.clone()),
            Opening::NotDecision | Opening::Bad => {}
        }
    }
    (opened, sealed)
}

thread_local! {
    /// Derivations run on this thread, and how many of them were from scratch (for tests and
    /// measurements of the cache).
    static DERIVED: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// How many times this thread has brought a group's state up to date with new events
/// (incrementally or from scratch).
pub fn derivations() -> u64 {
    DERIVED.with(Cell::get).0
}

/// How many of [`derivations`] were from scratch.
pub fn full_derivations() -> u64 {
    DERIVED.with(Cell::get).1
}

fn count(full: bool) {
    DERIVED.with(|d| {
        let (n, f) = d.get();
        d.set((n + 1, f + u64::from(full)));
    });
}

/// The order [`Store::group_events`] returns: author, log, seq, id.
fn place(e: &VerifiedEvent) -> (dualpower_core::PublicKey, u64, u64, dualpower_core::EventId) {
    let h = e.header();
    (h.author, h.log, h.seq, e.id())
}

/// The stored events of `group` and its derived state, brought up to date with what arrived
/// since the last call for it.
pub fn derived(
    store: &Store,
    group: GroupId,
) -> Result<(Arc<Vec<VerifiedEvent>>, Arc<GroupState>), StoreError> {
    let network = *store.network();
    let key: Key = (store.path().to_path_buf(), network, group);
    let mut guard = lock();
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(entry) = map.get(&key)
        && let Some(id) = entry.newest
        && !store.contains(&id)?
    {
        map.remove(&key);
    }
    let keys = keys_of(&key);
    if let Some(entry) = map.get_mut(&key) {
        let (new, last) = store.group_events_since(group, entry.last)?;
        if let Some(e) = new.last() {
            entry.newest = Some(e.id());
        }
        if keys.len() != entry.keys_seen && !entry.sealed.is_empty() {
            let (late, still) = open_all(&network, &keys, &entry.sealed);
            entry.sealed = still;
            if !late.is_empty() {
                let before = entry.derivation.full_derivations();
                entry.derivation.extend_opened(&[], late);
                count(entry.derivation.full_derivations() != before);
                entry.state = Arc::new(entry.derivation.state().clone());
            }
        }
        entry.keys_seen = keys.len();
        if !new.is_empty() {
            let before = entry.derivation.full_derivations();
            let (opened, sealed) = open_all(&network, &keys, &new);
            entry.sealed.extend(sealed);
            entry.derivation.extend_opened(&new, opened);
            count(entry.derivation.full_derivations() != before);
            let events = Arc::make_mut(&mut entry.events);
            for e in new {
                let at = events.partition_point(|x| place(x) < place(&e));
                events.insert(at, e);
            }
            entry.state = Arc::new(entry.derivation.state().clone());
            entry.last = last;
        }
        return Ok((entry.events.clone(), entry.state.clone()));
    }
    let (mut events, last) = store.group_events_since(group, 0)?;
    let newest = events.last().map(VerifiedEvent::id);
    let (opened, sealed) = open_all(&network, &keys, &events);
    let derivation = Derivation::new_opened(&network, group, &events, opened);
    count(true);
    events.sort_by_key(place);
    let entry = Entry {
        last,
        newest,
        events: Arc::new(events),
        state: Arc::new(derivation.state().clone()),
        reputation: None,
        derivation,
        sealed,
        keys_seen: keys.len(),
    };
    let out = (entry.events.clone(), entry.state.clone());
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, entry);
    Ok(out)
}

/// The cache, even if a thread panicked while holding it (entries are replaced whole).
/// The reputation of `state` (one of `group`'s derived states): computed once per derived state
/// and shared by every read of it (the work, reputation, members and decisions pages all show
/// suggestions from it).
pub fn reputation(store: &Store, group: GroupId, state: &Arc<GroupState>) -> Arc<Reputation> {
    let key: Key = (store.path().to_path_buf(), *store.network(), group);
    if let Some((s, r)) = lock()
        .as_ref()
        .and_then(|m| m.get(&key))
        .and_then(|e| e.reputation.as_ref())
        && Arc::ptr_eq(s, state)
    {
        return r.clone();
    }
    // Computed outside the lock: other groups' reads need not wait for it.
    let r = Arc::new(state.reputation());
    if let Some(e) = lock().as_mut().and_then(|m| m.get_mut(&key))
        && Arc::ptr_eq(&e.state, state)
    {
        e.reputation = Some((state.clone(), r.clone()));
    }
    r
}

fn lock() -> std::sync::MutexGuard<'static, Option<HashMap<Key, Entry>>> {
    CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
