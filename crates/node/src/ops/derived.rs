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

use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dualpower_core::{GroupId, NetworkId, VerifiedEvent};
use dualpower_state::{Derivation, GroupState};
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
}

type Key = (PathBuf, NetworkId, GroupId);

static CACHE: Mutex<Option<HashMap<Key, Entry>>> = Mutex::new(None);

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
    if let Some(entry) = map.get_mut(&key) {
        let (new, last) = store.group_events_since(group, entry.last)?;
        if let Some(e) = new.last() {
            entry.newest = Some(e.id());
        }
        if !new.is_empty() {
            let before = entry.derivation.full_derivations();
            entry.derivation.extend(&new);
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
    let derivation = Derivation::new(&network, group, &events);
    count(true);
    events.sort_by_key(place);
    let entry = Entry {
        last,
        newest,
        events: Arc::new(events),
        state: Arc::new(derivation.state().clone()),
        derivation,
    };
    let out = (entry.events.clone(), entry.state.clone());
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, entry);
    Ok(out)
}

/// The cache, even if a thread panicked while holding it (entries are replaced whole).
fn lock() -> std::sync::MutexGuard<'static, Option<HashMap<Key, Entry>>> {
    CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
