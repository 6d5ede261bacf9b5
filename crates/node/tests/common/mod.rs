//! What the operation tests share: members as separate stores with their own keys, and copying
//! a group's events between them by hand (as a bundle would).
#![allow(dead_code, clippy::unwrap_used)]

use dualpower_core::{GroupId, Identity, NetworkId};
use dualpower_store::{Store, StoreConfig};
use tempfile::TempDir;

/// One member: a store in a temporary directory and an identity.
pub struct Member {
    pub store: Store,
    pub id: Identity,
    _dir: TempDir,
}

/// A new member with a fresh identity and an empty store.
pub fn member() -> Member {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreConfig {
            network: NetworkId::named("ops-test"),
            ..Default::default()
        },
    )
    .unwrap();
    Member {
        store,
        id: Identity::generate(),
        _dir: dir,
    }
}

impl Member {
    /// This member's did:key.
    pub fn did(&self) -> String {
        self.id.public().to_did()
    }

    /// This member's data directory (the store's files).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

/// Copies every event of `group` between every pair of members.
pub fn exchange(members: &[&Member], group: GroupId) {
    for from in members {
        let events = from.store.group_events(group).unwrap();
        for to in members {
            to.store.ingest(events.clone()).unwrap();
        }
    }
}
