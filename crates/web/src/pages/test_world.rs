//! The render tests' world: one member's real store with a group it created, so page tests
//! render real answers (`ops::apply` to act, `query::answer` to read) rather than made-up JSON.
#![allow(clippy::unwrap_used)]

use dualpower_core::{GroupId, Identity, NetworkId};
use dualpower_node::ops::{self, ConstitutionArgs, Op};
use dualpower_node::query::{self, Query};
use dualpower_store::{Store, StoreConfig};
use serde_json::Value;

/// When the group was created (ms).
pub const T0: u64 = 1_800_000_000_000;

/// A store, its member and the group the member created.
pub struct World {
    pub store: Store,
    pub id: Identity,
    pub group: GroupId,
    _dir: tempfile::TempDir,
}

/// A fresh world on a network named `network`.
pub fn world(network: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreConfig {
            network: NetworkId::named(network),
            ..Default::default()
        },
    )
    .unwrap();
    let id = Identity::generate();
    let v = ops::apply(
        &store,
        &id,
        Op::Create {
            name: "Elm Street".into(),
            constitution: ConstitutionArgs::default(),
        },
        T0,
    )
    .unwrap()
    .value;
    let group = GroupId::from_hex(v["group"].as_str().unwrap()).unwrap();
    World {
        store,
        id,
        group,
        _dir: dir,
    }
}

impl World {
    /// Carries out `op`; panics with the reason if it is refused.
    pub fn apply(&self, op: Op, now: u64) -> Value {
        match ops::apply(&self.store, &self.id, op, now) {
            Ok(o) => o.value,
            Err(e) => panic!("refused: {e}"),
        }
    }

    /// Answers `q`.
    pub fn ask(&self, q: Query, now: u64) -> Value {
        query::answer(&self.store, &self.id, q, now).unwrap()
    }

    /// The group's id (hex).
    pub fn g(&self) -> String {
        self.group.to_hex()
    }
}
