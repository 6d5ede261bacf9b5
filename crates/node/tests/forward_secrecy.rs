//! Forward secrecy with `forget_after_days`, tried as an attacker who later learns a member's
//! passphrase would: everything that member's store still decrypts (every row of its encrypted
//! secrets table, opened with the identity seed) must open neither the seals of a forgotten
//! epoch nor the posts written under it; reading the feed, or a history bundle from a member
//! who has not forgotten yet, must not bring it back; and a member who forgot must not hand it
//! to a newcomer. Time passes through the `now` every operation takes (each store stands for
//! one node, with its own clock).
#![allow(clippy::unwrap_used)]

mod common;
use common::{Member, admit, apply, exchange, member, post, texts};

use dualpower_core::event::Position;
use dualpower_core::{EventId, GroupId, Payload, VerifiedEvent};
use dualpower_crypto::{EpochSecret, PrekeySecret, SealedSecret, open_secret};
use dualpower_groups::body::seal_info;
use dualpower_groups::{Encrypted, KeyScheme, Keyring};
use dualpower_node::ops::{self, ConstitutionArgs, Op};

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

/// The writing epoch `m` sees now.
fn writing_epoch(m: &Member, group: GroupId, now: u64) -> EventId {
    let v = ops::view(&m.store, &m.id, group, now).unwrap();
    v.state.writing_epoch().unwrap()
}

/// A group forgetting after one day (history for newcomers on): A posts "old" under the first
/// epoch, B is admitted, A rekeys at 10 s (or B at `b_rekeys_at`, by B's clock) and A posts
/// "new". Returns the first epoch.
fn setup(b_rekeys_at: Option<u64>) -> (Member, Member, GroupId, EventId) {
    let (a, b) = (member(), member());
    let g = apply(
        &a,
        Op::Create {
            name: "strike committee".into(),
            constitution: ConstitutionArgs {
                history: Some(true),
                forget_after_days: Some(1),
                ..Default::default()
            },
        },
        1_000,
    );
    let group = GroupId::from_hex(g["group"].as_str().unwrap()).unwrap();
    post(&a, group, "old", 2_000);
    let old = writing_epoch(&a, group, 2_500);
    admit(&a, &b, &[&a, &b], group, 5_000);
    let (rekeyer, at) = match b_rekeys_at {
        Some(t) => (&b, t),
        None => (&a, 10_000),
    };
    apply(
        rekeyer,
        Op::Rekey {
            group: group.to_hex(),
        },
        at,
    );
    exchange(&[&a, &b], group);
    post(&a, group, "new", 11_000);
    exchange(&[&a, &b], group);
    assert_ne!(writing_epoch(&a, group, 12_000), old);
    (a, b, group, old)
}

/// Every seal of `epoch` in the log, with the position that binds it.
fn seals_of(events: &[VerifiedEvent], epoch: EventId) -> Vec<(Position, SealedSecret)> {
    let mut out = Vec::new();
    for e in events {
        let Some(Ok(Payload::KeyShare(k))) = e.body().map(Payload::decode) else {
            continue;
        };
        if k.epoch.unwrap_or(e.id()) != epoch {
            continue;
        }
        for s in k.seals {
            let sealed = SealedSecret {
                enc: s.enc,
                ct: s.ct,
            };
            out.push((Position::of(e.header()), sealed));
        }
    }
    out
}

/// The posts written under `epoch`.
fn posts_under(events: &[VerifiedEvent], epoch: EventId) -> Vec<VerifiedEvent> {
    events
        .iter()
        .filter(|e| {
            e.body()
                .and_then(|b| Encrypted::decode(b).ok())
                .is_some_and(|b| matches!(b, Encrypted::Group { epoch: x, .. } if x == epoch))
        })
        .cloned()
        .collect()
}

/// What a passphrase compromise of `m` yields about `epoch`: (some stored secret, taken as a
/// prekey private half, opens one of its seals; some stored secret, taken as an epoch secret,
/// decrypts one of its posts).
fn exposed(m: &Member, group: GroupId, epoch: EventId) -> (bool, bool) {
    let network = *m.store.network();
    let events = m.store.group_events(group).unwrap();
    let seals = seals_of(&events, epoch);
    let posts = posts_under(&events, epoch);
    assert!(!seals.is_empty() && !posts.is_empty());
    let values: Vec<[u8; 32]> = ops::secrets::stored_secrets(&m.store, &m.id, &group.0)
        .unwrap()
        .into_iter()
        .filter_map(|(_, v)| v.as_slice().try_into().ok())
        .collect();
    let opens = values.iter().any(|v| {
        let pk = PrekeySecret::from_bytes(*v);
        seals
            .iter()
            .any(|(pos, s)| open_secret(&pk, s, &seal_info(&network, pos)).is_ok())
    });
    let decrypts = values.iter().any(|v| {
        let mut k = Keyring::default();
        k.epochs.insert(epoch, EpochSecret(*v));
        posts.iter().any(|p| k.decrypt(&network, p).is_ok())
    });
    (opens, decrypts)
}

#[test]
fn after_forgetting_the_store_opens_neither_the_old_seals_nor_the_old_posts() {
    let (a, _b, group, old) = setup(None);
    // Within the day, the store holds both (this is what the test can see).
    assert_eq!(exposed(&a, group, old), (true, true));
    assert_eq!(texts(&a, group, 12_000), ["old", "new"]);

    // Two days later A's node runs as it does on every refresh, and A reads the feed.
    let later = 12_000 + 2 * DAY;
    ops::run_agent(&a.store, &a.id, group, later).unwrap();
    assert_eq!(texts(&a, group, later), ["new"]);
    assert_eq!(exposed(&a, group, old), (false, false));
    // Reading again (the seals are still in the log) re-learns nothing.
    assert_eq!(texts(&a, group, later + HOUR), ["new"]);
    assert_eq!(exposed(&a, group, old), (false, false));

    // A published a new prekey in place of the one the old epoch was sealed to, and holds it.
    let v = ops::view(&a.store, &a.id, group, later + HOUR).unwrap();
    let newest = v.state.members[&a.id.public()].prekey.unwrap();
    assert!(v.keyring.prekeys.contains_key(&newest));
    let old_seals = &v.state.epochs[&old].seals;
    assert!(old_seals.iter().all(|(_, p)| *p != newest));
}

#[test]
fn a_history_bundle_from_a_member_who_still_holds_it_does_not_bring_it_back() {
    let (a, b, group, old) = setup(None);
    let c = member();
    texts(&a, group, 12_000);
    let later = 12_000 + 2 * DAY;
    ops::run_agent(&a.store, &a.id, group, later).unwrap();
    assert_eq!(texts(&a, group, later), ["new"]);
    // B's node has not reached the end of the period yet (its clock, its first sighting): it
    // admits C and hands over the old epoch in a history bundle sealed under the current one,
    // which A holds.
    admit(&b, &c, &[&a, &b, &c], group, 20_000);
    assert_eq!(texts(&c, group, 20_000), ["old", "new"]);
    // A reads the feed with that bundle in its log: the old epoch stays forgotten.
    assert_eq!(texts(&a, group, later + HOUR), ["new"]);
    assert_eq!(exposed(&a, group, old), (false, false));

    // The keyring itself: A's (it holds the epoch that carries the bundle) learns nothing from
    // it, though the same keyring without its forgotten record would.
    let network = *a.store.network();
    let v = ops::view(&a.store, &a.id, group, later + HOUR).unwrap();
    let mut k = ops::load_keyring(&a.store, &a.id, &group).unwrap();
    assert!(k.forgotten.contains(&old));
    assert_eq!(k.learn(&network, &v.state, &v.events), 0);
    assert!(!k.epochs.contains_key(&old));
    k.forgotten.clear();
    assert!(k.learn(&network, &v.state, &v.events) > 0);
    assert!(k.epochs.contains_key(&old));
    // B's keyring (its prekey opens the old epoch's seal): once B forgets it, the seal does not
    // bring it back either; merely dropping the secret would.
    let mut k = ops::load_keyring(&b.store, &b.id, &group).unwrap();
    let mut dropped = k.clone();
    assert!(k.forget(old));
    assert_eq!(k.learn(&network, &v.state, &v.events), 0);
    assert!(!k.epochs.contains_key(&old));
    dropped.epochs.remove(&old);
    assert!(dropped.learn(&network, &v.state, &v.events) > 0);
    assert!(dropped.epochs.contains_key(&old));
}

/// The forgetting age is counted on the forgetting node's own clock: here B's rekey is dated a
/// year ahead (a wrong clock, or a member who wants old keys kept), yet A forgets two days after
/// it first saw the old epoch superseded, and hands it to nobody.
#[test]
fn a_member_who_forgot_hands_no_forgotten_epoch_to_a_newcomer() {
    let (a, b, group, old) = setup(Some(10_000 + 365 * DAY));
    let c = member();
    assert_eq!(texts(&a, group, 12_000), ["old", "new"]);
    let later = 12_000 + 2 * DAY;
    ops::run_agent(&a.store, &a.id, group, later).unwrap();
    // A admits C after forgetting, with history; C's clock has no reason to forget anything.
    admit(&a, &c, &[&a, &b, &c], group, later);
    let v = ops::view(&c.store, &c.id, group, later).unwrap();
    assert!(!v.keyring.epochs.contains_key(&old));
    assert_eq!(texts(&c, group, later), ["new"]);
    assert_eq!(texts(&a, group, later), ["new"]);
    assert_eq!(exposed(&a, group, old), (false, false));
}

#[test]
fn prekeys_rotate_every_half_period_and_replaced_halves_are_deleted_after_a_grace() {
    let a = member();
    let g = apply(
        &a,
        Op::Create {
            name: "co-op".into(),
            constitution: ConstitutionArgs {
                forget_after_days: Some(1),
                ..Default::default()
            },
        },
        1_000,
    );
    let group = GroupId::from_hex(g["group"].as_str().unwrap()).unwrap();
    post(&a, group, "hello", 2_000);
    let newest = |now| {
        let v = ops::view(&a.store, &a.id, group, now).unwrap();
        v.state.members[&a.id.public()].prekey.unwrap()
    };
    let stored = |key: &[u8; 32]| {
        ops::secrets::stored_secrets(&a.store, &a.id, &group.0)
            .unwrap()
            .into_iter()
            .any(|(n, _)| n == [b"p".as_slice(), key].concat())
    };
    let first = newest(3_000);
    // Before half the period nothing changes.
    ops::run_agent(&a.store, &a.id, group, 3_000 + 11 * HOUR).unwrap();
    assert_eq!(newest(3_000 + 11 * HOUR), first);
    // After it, a new prekey; the replaced half is kept for now (shares in flight).
    let t1 = 3_000 + 13 * HOUR;
    ops::run_agent(&a.store, &a.id, group, t1).unwrap();
    let second = newest(t1);
    assert_ne!(second, first);
    assert!(stored(&first) && stored(&second));
    // Half a period after the replacement the old half is gone from the store; the epoch it
    // opened is still held (it was opened and stored), so nothing becomes unreadable.
    let t2 = t1 + 13 * HOUR;
    assert_eq!(texts(&a, group, t2), ["hello"]);
    assert!(!stored(&first) && stored(&second));
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn deleted_secrets_do_not_stay_in_the_database_files() {
    let (a, _b, group, old) = setup(None);
    texts(&a, group, 12_000);
    // The stored (encrypted) rows of the old epoch's secret and of A's prekey at that time.
    let gone: Vec<Vec<u8>> = a
        .store
        .secrets(&group.0)
        .unwrap()
        .into_iter()
        .filter(|(n, _)| n == &[b"e".as_slice(), &old.0].concat() || n.first() == Some(&b'p'))
        .map(|(_, ct)| ct)
        .collect();
    assert_eq!(gone.len(), 2);
    // A row that stays (the current epoch's secret): the search below can find a stored row.
    let current = writing_epoch(&a, group, 12_000);
    let (_, kept) = a
        .store
        .secrets(&group.0)
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == &[b"e".as_slice(), &current.0].concat())
        .unwrap();
    let later = 12_000 + 2 * DAY;
    ops::run_agent(&a.store, &a.id, group, later).unwrap();
    texts(&a, group, later);
    let dir = a.dir().to_path_buf();
    let check = || {
        let mut found_kept = false;
        for f in std::fs::read_dir(&dir).unwrap() {
            let path = f.unwrap().path();
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(path).unwrap();
            for ct in &gone {
                assert!(!contains(&bytes, ct));
            }
            found_kept |= contains(&bytes, &kept);
        }
        assert!(found_kept);
    };
    // While the store is open (a running node: the write-ahead log is in use) and after.
    check();
    drop(a.store);
    check();
}
