//! `group_events_since` is what a cache of derived state reads to catch up: the events of one
//! group that arrived after a given arrival number, and nothing else.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{chain, identity, ingest_all_stored, open};
use dualpower_core::{EventId, GroupId};

#[test]
fn events_since_an_arrival_number_are_exactly_the_new_ones_of_that_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (g, other) = (GroupId([1; 32]), GroupId([2; 32]));
    let first = chain(&identity(1), g, 5, "first");
    ingest_all_stored(&store, &first);
    ingest_all_stored(&store, &chain(&identity(2), other, 3, "elsewhere"));
    let (all, mark) = store.group_events_since(g, 0).unwrap();
    let ids = |v: &[dualpower_core::VerifiedEvent]| -> BTreeSet<EventId> {
        v.iter().map(|e| e.id()).collect()
    };
    assert_eq!(ids(&all), ids(&first));
    assert_eq!(
        ids(&all),
        ids(&store.group_events(g).unwrap()),
        "from 0 it is the whole group"
    );
    // Nothing new: nothing read, the mark stays.
    assert_eq!(
        store.group_events_since(g, mark).unwrap(),
        (Vec::new(), mark)
    );
    // New events of this group and of another: only this group's, in arrival order.
    let more = chain(&identity(3), g, 4, "more");
    ingest_all_stored(&store, &chain(&identity(4), other, 2, "elsewhere too"));
    ingest_all_stored(&store, &more);
    let (new, later) = store.group_events_since(g, mark).unwrap();
    assert!(later > mark);
    let order: Vec<EventId> = new.iter().map(|e| e.id()).collect();
    assert_eq!(order, more.iter().map(|e| e.id()).collect::<Vec<_>>());
}
