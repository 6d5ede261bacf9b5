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

/// Carries out `op` as `m` at `now`; panics with the op and the error if it is refused.
pub fn apply(m: &Member, op: dualpower_node::ops::Op, now: u64) -> serde_json::Value {
    let what = format!("{op:?}");
    match dualpower_node::ops::apply(&m.store, &m.id, op, now) {
        Ok(o) => o.value,
        Err(e) => panic!("{what} failed: {e}"),
    }
}

/// `m` posts `text` in `group`.
pub fn post(m: &Member, group: GroupId, text: &str, now: u64) {
    let payload = hex::encode(dualpower_core::Payload::Post { text: text.into() }.encode());
    apply(
        m,
        dualpower_node::ops::Op::Write {
            group: group.to_hex(),
            payload,
        },
        now,
    );
}

/// The texts of the posts `m` reads in `group`.
pub fn texts(m: &Member, group: GroupId, now: u64) -> Vec<String> {
    let (feed, _) = dualpower_node::ops::feed(&m.store, &m.id, group, now).unwrap();
    feed.posts.into_iter().map(|p| p.text).collect()
}

/// A single-use invite code of `group` by `m`, valid `expires_secs`.
pub fn invite(m: &Member, group: GroupId, expires_secs: u64, now: u64) -> String {
    apply(
        m,
        dualpower_node::ops::Op::Invite {
            group: group.to_hex(),
            expires_secs,
            uses: 1,
            addrs: vec![],
        },
        now,
    )["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `newcomer` joins with `inviter`'s invite, and `inviter`'s node admits it and hands over the
/// key; everyone in `all` exchanges events after each step.
pub fn admit(inviter: &Member, newcomer: &Member, all: &[&Member], group: GroupId, now: u64) {
    let code = invite(inviter, group, 30 * 86_400, now);
    exchange(all, group);
    apply(newcomer, dualpower_node::ops::Op::Join { code }, now + 1);
    exchange(all, group);
    dualpower_node::ops::run_agent(&inviter.store, &inviter.id, group, now + 2).unwrap();
    dualpower_node::ops::run_agent(&inviter.store, &inviter.id, group, now + 3).unwrap();
    exchange(all, group);
}

pub fn try_apply(
    m: &Member,
    op: dualpower_node::ops::Op,
    now: u64,
) -> Result<serde_json::Value, dualpower_node::ops::OpError> {
    dualpower_node::ops::apply(&m.store, &m.id, op, now).map(|o| o.value)
}

pub fn count(m: &Member, group: GroupId) -> usize {
    m.store.group_events(group).unwrap().len()
}

/// The member's view of the group (decisions are sealed: only its keys open them).
pub fn state(m: &Member, group: GroupId) -> dualpower_state::GroupState {
    let st = dualpower_node::ops::view(&m.store, &m.id, group, 0)
        .unwrap()
        .state;
    std::sync::Arc::unwrap_or_clone(st)
}

/// `op` fails with an error containing `needle`, and the group has exactly as many events as
/// before. Returns the error text.
pub fn refused(
    m: &Member,
    group: GroupId,
    op: dualpower_node::ops::Op,
    now: u64,
    needle: &str,
) -> String {
    let before = count(m, group);
    let what = format!("{op:?}");
    let err = match try_apply(m, op, now) {
        Ok(v) => panic!("{what} was accepted: {v}"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(needle),
        "{what}: error `{err}` does not say `{needle}`"
    );
    let after = count(m, group);
    assert_eq!(
        after,
        before,
        "{what} was refused (`{err}`) but wrote {} event(s)",
        after - before
    );
    err
}

pub fn create(
    a: &Member,
    constitution: dualpower_node::ops::ConstitutionArgs,
    now: u64,
) -> GroupId {
    let g = apply(
        a,
        dualpower_node::ops::Op::Create {
            name: "co-op".into(),
            constitution,
        },
        now,
    );
    GroupId::from_hex(g["group"].as_str().unwrap()).unwrap()
}
