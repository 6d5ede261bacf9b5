//! One derivation per event set: a small process-wide cache of each group's events and derived
//! state, so the agent, the view, attestations and every operation share one `derive` instead
//! of reading every event and deriving from scratch several times per change.
//!
//! The key is what identifies the event set itself: the (author, log, length, head) of every
//! log of the group. Logs are hash-linked and the store only holds contiguous prefixes, so a
//! log's head names its whole prefix; equal keys mean equal event sets, whichever store they
//! came from, and any new event changes the key. A group with a proven fork (two events at one
//! position) is never cached: its heads do not name everything stored.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dualpower_core::{EventId, GroupId, NetworkId, PublicKey, VerifiedEvent};
use dualpower_state::GroupState;
use dualpower_store::{Store, StoreError};

/// Most groups kept; past that the cache starts afresh (a node follows few groups).
const MAX_ENTRIES: usize = 64;

type Key = Vec<(PublicKey, u64, u64, Option<EventId>)>;

struct Entry {
    key: Key,
    events: Arc<Vec<VerifiedEvent>>,
    state: Arc<GroupState>,
}

static CACHE: Mutex<Option<HashMap<(NetworkId, GroupId), Entry>>> = Mutex::new(None);

thread_local! {
    /// Derivations run on this thread (for tests and measurements of the cache).
    static DERIVED: Cell<u64> = const { Cell::new(0) };
}

/// How many times this thread has derived a group's state from scratch.
pub fn derivations() -> u64 {
    DERIVED.with(Cell::get)
}

/// The stored events of `group` and its derived state, derived only if the event set changed
/// since the last call for it.
pub fn derived(
    store: &Store,
    group: GroupId,
) -> Result<(Arc<Vec<VerifiedEvent>>, Arc<GroupState>), StoreError> {
    let network = *store.network();
    let logs = store.logs(Some(group))?;
    let cacheable = !logs.iter().any(|l| l.forked);
    let key: Key = logs
        .into_iter()
        .map(|l| (l.author, l.log, l.len, l.head))
        .collect();
    if cacheable
        && let Some(hit) = lock()
            .as_ref()
            .and_then(|m| m.get(&(network, group)))
            .filter(|e| e.key == key)
            .map(|e| (e.events.clone(), e.state.clone()))
    {
        return Ok(hit);
    }
    let events = store.group_events(group)?;
    let state = Arc::new(GroupState::derive(&network, group, &events));
    DERIVED.with(|d| d.set(d.get() + 1));
    let events = Arc::new(events);
    // The events read may be newer than `key` (a write in between): then the entry is simply
    // missed next time, never wrong, because the key is re-read and compared on every call.
    if cacheable && key_matches(store, group, &key)? {
        let mut guard = lock();
        let map = guard.get_or_insert_with(HashMap::new);
        if map.len() >= MAX_ENTRIES && !map.contains_key(&(network, group)) {
            map.clear();
        }
        map.insert(
            (network, group),
            Entry {
                key,
                events: events.clone(),
                state: state.clone(),
            },
        );
    }
    Ok((events, state))
}

/// Whether the logs of `group` still have `key` (nothing was stored while we read).
fn key_matches(store: &Store, group: GroupId, key: &Key) -> Result<bool, StoreError> {
    let now = store.logs(Some(group))?;
    Ok(!now.iter().any(|l| l.forked)
        && now.len() == key.len()
        && now
            .iter()
            .zip(key)
            .all(|(l, k)| (l.author, l.log, l.len, l.head) == *k))
}

/// The cache, even if a thread panicked while holding it (entries are replaced whole).
fn lock() -> std::sync::MutexGuard<'static, Option<HashMap<(NetworkId, GroupId), Entry>>> {
    CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
