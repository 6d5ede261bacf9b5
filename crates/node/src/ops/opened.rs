//! One decryption per event set on the read side: a small process-wide cache of each group's
//! opened content (the plaintext of every sealed event our keys open), its feed, its members'
//! display names and its proposals as JSON, so a page that shows names (every page does) does not decrypt every
//! event of the group again on every request.
//!
//! Without it, a read of a group with 10 000 posts decrypted all of them for the feed, and again
//! for the display names of every other answer (members, proposals, one proposal), on every
//! request: about a hundred milliseconds a page on a laptop core.
//!
//! An entry belongs to one member in one group of one store, and holds:
//!
//! - the derived state it was computed for ([`super::derived`] hands out a new `Arc` whenever a
//!   new event arrives, or a late key opens sealed decisions): a read whose view holds another
//!   state brings the entry up to date, decrypting only the events it has not tried yet;
//! - a fingerprint of the keyring's content and governance keys: any change (a key learnt, an
//!   epoch forgotten) empties the entry, so a plaintext a forgotten epoch opened is never served
//!   again (and is dropped at the next read).
//!
//! The results are exactly those of decrypting and deriving from scratch (the tests in this
//! module and `tests/read_cache.rs` compare them).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dualpower_core::event::FLAG_ENCRYPTED;
use dualpower_core::{EventId, GroupId, Identity, NetworkId, PublicKey, VerifiedEvent};
use dualpower_groups::{KeyScheme, Keyring};
use dualpower_state::{Feed, GroupState};
use dualpower_store::Store;

use super::View;
use dualpower_groups::body::Encrypted;

/// Most entries kept; past that the cache starts afresh (a node follows few groups).
const MAX_ENTRIES: usize = 64;

type Key = (PathBuf, NetworkId, GroupId, PublicKey);

struct Entry {
    /// The derivation these results belong to (compared by pointer: the entry holds it, so its
    /// allocation cannot be reused for another state while the entry lives).
    state: Arc<GroupState>,
    /// [`fingerprint`] of the keyring that opened `opened`.
    keys: [u8; 32],
    /// Every event tried (opened or not), so an update only decrypts new ones.
    tried: HashSet<EventId>,
    /// The group's events without direct messages.
    content: Arc<Vec<VerifiedEvent>>,
    /// Plaintext of the sealed events our keys open.
    opened: Arc<HashMap<EventId, Vec<u8>>>,
    /// The display names, once asked for (for `state`).
    names: Option<Arc<BTreeMap<PublicKey, String>>>,
    /// The feed (revisions shown), once asked for (for `state`).
    feed: Option<Arc<Feed>>,
    /// Every proposal as JSON ([`crate::decisions::proposal_json`]), once asked for (for
    /// `state`).
    proposals: Option<Arc<Vec<serde_json::Value>>>,
}

static CACHE: Mutex<Option<HashMap<Key, Entry>>> = Mutex::new(None);

thread_local! {
    /// Events this thread decrypted for the read side (for tests and measurements).
    static DECRYPTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many events this thread has decrypted to open content for reads (the feed and display
/// names): a read that finds its entry current decrypts none.
pub fn decrypted() -> u64 {
    DECRYPTED.with(std::cell::Cell::get)
}

/// A digest of the keys that open content and decisions: equal digests open the same events.
fn fingerprint(keyring: &Keyring) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("dualpower read cache keys v1");
    for (id, s) in &keyring.epochs {
        h.update(b"e");
        h.update(&id.0);
        h.update(&s.0);
    }
    for (id, k) in &keyring.gov {
        h.update(b"g");
        h.update(&id.0);
        h.update(k);
    }
    for id in &keyring.forgotten {
        h.update(b"f");
        h.update(&id.0);
    }
    *h.finalize().as_bytes()
}

fn lock() -> std::sync::MutexGuard<'static, Option<HashMap<Key, Entry>>> {
    CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `f` on the entry of `id` in `v`'s group, brought up to date with `v`.
fn with_entry<T>(
    store: &Store,
    id: &Identity,
    group: GroupId,
    v: &View,
    f: impl FnOnce(&mut Entry) -> T,
) -> T {
    let network = *store.network();
    let key: Key = (store.path().to_path_buf(), network, group, id.public());
    let keys = fingerprint(&v.keyring);
    let mut guard = lock();
    let map = guard.get_or_insert_with(HashMap::new);
    if map.get(&key).is_some_and(|e| e.keys != keys) {
        // Another keyring: nothing opened under the old one may be served.
        map.remove(&key);
    }
    if !map.contains_key(&key) && map.len() >= MAX_ENTRIES {
        map.clear();
    }
    let entry = map.entry(key).or_insert_with(|| Entry {
        state: v.state.clone(),
        keys,
        tried: HashSet::new(),
        content: Arc::new(Vec::new()),
        opened: Arc::new(HashMap::new()),
        names: None,
        feed: None,
        proposals: None,
    });
    if entry.tried.is_empty() || !Arc::ptr_eq(&entry.state, &v.state) {
        update(&network, entry, v);
    }
    f(entry)
}

/// Brings `entry` to `v`'s events: plaintexts kept for events still there, new events tried
/// once; derived results dropped.
fn update(network: &NetworkId, entry: &mut Entry, v: &View) {
    let mut old =
        Arc::try_unwrap(std::mem::take(&mut entry.opened)).unwrap_or_else(|a| (*a).clone());
    let mut opened = HashMap::with_capacity(old.len());
    let mut tried = HashSet::with_capacity(v.events.len());
    let mut content = Vec::with_capacity(v.events.len());
    let mut n = 0;
    for ev in v.events.iter() {
        let id = ev.id();
        tried.insert(id);
        if entry.tried.contains(&id) {
            // Tried under these keys already: its plaintext (if any) is in `old`.
            if let Some(p) = old.remove(&id) {
                opened.insert(id, p);
                content.push(ev.clone());
            } else if !is_direct(ev) {
                content.push(ev.clone());
            }
            continue;
        }
        if is_direct(ev) {
            continue;
        }
        content.push(ev.clone());
        if ev.header().flags & FLAG_ENCRYPTED != 0 {
            n += 1;
            if let Ok(p) = v.keyring.decrypt(network, ev) {
                opened.insert(id, p);
            }
        }
    }
    DECRYPTED.with(|d| d.set(d.get() + n));
    entry.tried = tried;
    entry.content = Arc::new(content);
    entry.opened = Arc::new(opened);
    entry.state = v.state.clone();
    entry.names = None;
    entry.feed = None;
    entry.proposals = None;
}

/// Every member's display name in `group` as `id`'s keys in `v` read them.
pub(crate) fn names(
    store: &Store,
    id: &Identity,
    group: GroupId,
    v: &View,
) -> Arc<BTreeMap<PublicKey, String>> {
    with_entry(store, id, group, v, |e| {
        e.names
            .get_or_insert_with(|| {
                Arc::new(dualpower_state::display_names(
                    group,
                    &e.content,
                    &e.opened,
                    &e.state.refusals(),
                ))
            })
            .clone()
    })
}

/// The decrypted feed of `group` (revisions of proposals shown) and every member's display
/// name, as `id`'s keys in `v` read them.
pub(crate) fn feed_and_names(
    store: &Store,
    id: &Identity,
    group: GroupId,
    v: &View,
) -> (Arc<Feed>, Arc<BTreeMap<PublicKey, String>>) {
    with_entry(store, id, group, v, |e| {
        let refused = e.state.refusals();
        let feed = match &e.feed {
            Some(f) => f.clone(),
            None => {
                let mut feed = Feed::derive_opened(group, &e.content, &e.opened, &refused);
                super::decisions::show_revisions(&mut feed, &e.state);
                let feed = Arc::new(feed);
                e.feed = Some(feed.clone());
                feed
            }
        };
        let names = e
            .names
            .get_or_insert_with(|| {
                Arc::new(dualpower_state::display_names(
                    group, &e.content, &e.opened, &refused,
                ))
            })
            .clone();
        (feed, names)
    })
}

/// Every proposal of the group as JSON, in the state's order (what `Query::Proposals` lists:
/// building it takes tens of milliseconds for a thousand proposals).
pub(crate) fn proposals(
    store: &Store,
    id: &Identity,
    group: GroupId,
    v: &View,
) -> Arc<Vec<serde_json::Value>> {
    with_entry(store, id, group, v, |e| {
        e.proposals
            .get_or_insert_with(|| {
                Arc::new(
                    e.state
                        .proposals
                        .values()
                        .map(crate::decisions::proposal_json)
                        .collect(),
                )
            })
            .clone()
    })
}

/// Runs `f` on the group's events without direct messages and the plaintext of those `id`'s
/// keys in `v` open.
pub(crate) fn with_opened<T>(
    store: &Store,
    id: &Identity,
    group: GroupId,
    v: &View,
    f: impl FnOnce(&[VerifiedEvent], &HashMap<EventId, Vec<u8>>) -> T,
) -> T {
    with_entry(store, id, group, v, |e| f(&e.content, &e.opened))
}

/// Whether `ev` is a direct message (not part of the group's content).
pub(crate) fn is_direct(ev: &VerifiedEvent) -> bool {
    ev.header().flags & FLAG_ENCRYPTED != 0
        && ev
            .body()
            .is_some_and(|b| matches!(Encrypted::decode(b), Ok(Encrypted::Direct { .. })))
}
