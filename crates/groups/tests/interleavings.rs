//! Interleavings of membership changes, key rotations, posts and partial syncs between
//! simulated members.
//!
//! Every member is a simulated node: its own identity, its own set of events (what it has
//! received so far, in arrival order), its own log and its own [`Keyring`]. A node "runs its
//! agent" exactly like a real node would: derive the [`GroupState`] from its local set, learn the
//! secrets addressed to it, call [`plan`] and write what it returns. Sending a post first heals
//! the group with [`ensure_writable`], then encrypts under the writing epoch.
//!
//! Random scripts interleave invitations (invite, join, admission), removals by the creator
//! (followed by the remover's heal), rotations, posts, agent runs and partial deliveries of
//! causally closed prefixes between any two nodes. At the end everything is delivered to
//! everyone, the agents run until nothing new is written, every current member posts once more,
//! and then the properties below are checked (see [`check`] for their exact statements).
//!
//! 1. **Convergence**: every node derives the same [`GroupState`] from the same set, whatever
//!    the order it received the events in.
//! 2. **Removal**: a removed member cannot decrypt a post whose author had seen the removal,
//!    except through the inherent concurrency window (a member who had *not* seen the removal
//!    sealed the post's epoch to the removed member directly).
//! 3. **Delivery**: every node the author's state listed as a member with a prekey when the post
//!    was written (and the author itself) decrypts the post, if the final state accepts it.
//!
//! Not asserted, only counted: that members at the end read *every* accepted post through
//! history bundles (`history: true`). Posts under an epoch started on a concurrent branch that is
//! later superseded are never handed to members admitted on the other branch, so this is not
//! guaranteed by the current agent.
//!
//! Two known bugs make properties 2 and 3 fail on rare interleavings (about one case in a few
//! hundred); the `regression_*` tests at the end replay the shrunk scripts and fail every time
//! until the bugs are fixed.
//!
//! `PROPTEST_CASES` overrides the number of cases (64 by default).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use dualpower_core::event::{FLAG_ENCRYPTED, Position};
use dualpower_core::payload::join_proof_message;
use dualpower_core::{
    Draft, EventId, Genesis, GroupId, Identity, NetworkId, Payload, PublicKey, VerifiedEvent,
    causal,
};
use dualpower_crypto::EpochSecret;
use dualpower_groups::agent::{ADMIT_GRACE_MS, FirstSeen, ensure_writable, note_joins, rotate};
use dualpower_groups::{Action, KeyScheme, Keyring, plan};
use dualpower_state::GroupState;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Invites that should not expire during a test.
const NEVER: u64 = u64::MAX / 2;
/// Fake time that passes between two operations of a script (ms).
const STEP_MS: u64 = 7_000;
/// Most rounds of "sync everything, run every agent" before the group must be quiet.
const SETTLE_ROUNDS: usize = 10;

/// One step of a script. Indices are taken modulo the nodes they can apply to when the step
/// runs, so every step does something whenever it can.
#[derive(Debug, Clone)]
enum Op {
    /// A member (by its own view) invites the next node that never joined; the newcomer joins
    /// at once and publishes its prekey; with `admit_now` the inviter receives that and admits.
    Invite { inviter: usize, admit_now: bool },
    /// The creator removes a member (by its own view), then heals the group.
    Remove { target: usize },
    /// A member (by its own view) starts a new epoch.
    Rotate { who: usize },
    /// A member (by its own view) posts.
    Send { who: usize },
    /// A causally closed prefix of `from`'s set (all of it when `portion >= 128`) reaches `to`.
    Deliver { from: usize, to: usize, portion: u8 },
    /// A node runs its agent.
    RunAgent { who: usize },
}

/// What happened in one run, to make sure the properties were not checked vacuously.
#[derive(Debug, Default, Clone)]
struct Stats {
    /// Nodes admitted (members at the end or removed).
    joined: usize,
    /// Valid removals.
    removals: usize,
    /// Posts written.
    posts: usize,
    /// Posts void in the final state (written past the author's removal cut).
    void_posts: usize,
    /// (post, reader) pairs checked for property 3.
    delivery_checks: usize,
    /// (post, removed member) pairs checked for property 2.
    removal_checks: usize,
    /// Of those, decryptable only through a concurrent direct seal to the removed member.
    removal_window: usize,
    /// Epochs started.
    epochs: usize,
    /// (post, final member) pairs where a member at the end cannot read an accepted post
    /// (history it never received: not a failure, reported only).
    history_gaps: usize,
    /// (post, final member) pairs checked for history.
    history_checks: usize,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.joined += o.joined;
        self.removals += o.removals;
        self.posts += o.posts;
        self.void_posts += o.void_posts;
        self.delivery_checks += o.delivery_checks;
        self.removal_checks += o.removal_checks;
        self.removal_window += o.removal_window;
        self.epochs += o.epochs;
        self.history_gaps += o.history_gaps;
        self.history_checks += o.history_checks;
    }
}

/// One simulated member's node.
struct Node {
    identity: Identity,
    key: PublicKey,
    /// Its local set.
    events: BTreeMap<EventId, VerifiedEvent>,
    /// The same events in the order they arrived (what `derive` is given).
    arrival: Vec<EventId>,
    /// Its log head and next seq in the group.
    head: Option<EventId>,
    seq: u64,
    keyring: Keyring,
    /// When this node first saw each pending join (its agent's grace period starts there).
    seen: FirstSeen,
    /// The state derived from the first `.0` arrived events.
    cache: Option<(usize, GroupState)>,
}

impl Node {
    fn joined(&self) -> bool {
        self.seq > 0
    }

    fn receive(&mut self, ev: &VerifiedEvent) {
        if let Entry::Vacant(e) = self.events.entry(ev.id()) {
            e.insert(ev.clone());
            self.arrival.push(ev.id());
        }
    }

    /// The local set in arrival order.
    fn set(&self) -> Vec<VerifiedEvent> {
        self.arrival
            .iter()
            .map(|id| self.events[id].clone())
            .collect()
    }
}

/// A post as written: what its author knew at the time.
struct PostRec {
    id: EventId,
    author: usize,
    text: String,
    epoch: EventId,
    /// The author's local set just before writing it.
    known: BTreeSet<EventId>,
    /// Nodes the author's state listed as members with a prekey (and the author).
    readers: BTreeSet<usize>,
}

struct RemovalRec {
    event: EventId,
    target: usize,
}

struct World {
    network: NetworkId,
    group: GroupId,
    nodes: Vec<Node>,
    clock: u64,
    writes: usize,
    invites: u8,
    posts: Vec<PostRec>,
    removals: Vec<RemovalRec>,
    stats: Stats,
}

impl World {
    /// The creator (node 0) and `others` nodes that have not joined yet; the creator writes the
    /// genesis and runs its agent (prekey, first epoch).
    fn new(others: usize) -> World {
        let nodes: Vec<Node> = (0..=others)
            .map(|i| {
                let identity = Identity::from_seed(&[i as u8 + 1; 32]);
                Node {
                    key: identity.public(),
                    identity,
                    events: BTreeMap::new(),
                    arrival: Vec::new(),
                    head: None,
                    seq: 0,
                    keyring: Keyring::default(),
                    seen: FirstSeen::new(),
                    cache: None,
                }
            })
            .collect();
        let genesis = Genesis {
            name: "Interleavings".into(),
            nonce: [9; 16],
            constitution: Default::default(),
        };
        let mut w = World {
            network: NetworkId::named("interleavings"),
            group: genesis.group_id(&nodes[0].key),
            nodes,
            clock: 1_000_000,
            writes: 0,
            invites: 0,
            posts: Vec::new(),
            removals: Vec::new(),
            stats: Stats::default(),
        };
        w.write(0, Payload::GroupGenesis(genesis).encode(), 0);
        w.run_agent(0);
        w
    }

    fn index_of(&self, key: &PublicKey) -> usize {
        self.nodes
            .iter()
            .position(|n| n.key == *key)
            .expect("a simulated node")
    }

    /// Derives `n`'s state from its local set (in arrival order) and learns from it.
    fn refresh(&mut self, n: usize) -> GroupState {
        let node = &self.nodes[n];
        let len = node.arrival.len();
        let st = match &node.cache {
            Some((l, st)) if *l == len => st.clone(),
            _ => GroupState::derive(&self.network, self.group, &node.set()),
        };
        let set = node.set();
        let node = &mut self.nodes[n];
        node.keyring.learn(&self.network, &st, &set);
        node.cache = Some((len, st.clone()));
        st
    }

    /// The heads of the other authors' logs in `n`'s set, sorted, at most 16.
    fn deps(&self, n: usize) -> Vec<EventId> {
        let me = self.nodes[n].key;
        let mut heads: BTreeMap<PublicKey, (u64, EventId)> = BTreeMap::new();
        for ev in self.nodes[n].events.values() {
            let h = ev.header();
            if h.author == me || h.log != 0 {
                continue;
            }
            let e = heads.entry(h.author).or_insert((h.seq, ev.id()));
            if h.seq >= e.0 {
                *e = (h.seq, ev.id());
            }
        }
        let mut deps: Vec<EventId> = heads.values().map(|(_, id)| *id).collect();
        deps.sort();
        deps.truncate(16);
        deps
    }

    /// Where `n`'s next event will be.
    fn pos(&self, n: usize) -> Position {
        Position {
            author: self.nodes[n].key,
            group: self.group,
            log: 0,
            seq: self.nodes[n].seq,
        }
    }

    /// Appends an event to `n`'s log.
    fn write(&mut self, n: usize, body: Vec<u8>, flags: u64) -> VerifiedEvent {
        self.clock += 1;
        let deps = self.deps(n);
        let node = &mut self.nodes[n];
        let ev = Draft {
            group: self.group,
            log: 0,
            seq: node.seq,
            backlink: node.head,
            deps,
            timestamp: self.clock,
            body,
            flags,
        }
        .sign(&node.identity, &self.network)
        .expect("a well-formed draft");
        node.seq += 1;
        node.head = Some(ev.id());
        node.receive(&ev);
        self.writes += 1;
        ev
    }

    /// Writes what `action` asks for, as `n`'s node would.
    fn execute(&mut self, n: usize, action: Action) {
        match action {
            Action::PublishPrekey => {
                let me = self.nodes[n].identity.public();
                let prekey = self.nodes[n]
                    .keyring
                    .new_prekey(&self.network, &self.group, &me);
                self.write(n, prekey.encode(), 0);
            }
            Action::Admit { member, join } => {
                self.write(n, Payload::Admit { member, join }.encode(), 0);
            }
            Action::StartEpoch { recipients, prev } => {
                assert!(recipients.len() <= 500, "one key share per epoch here");
                let secret = EpochSecret::generate();
                let pos = self.pos(n);
                let body =
                    Keyring::start_epoch(&self.network, &pos, &secret, &recipients, prev, &[], &[])
                        .expect("a key share body");
                let ev = self.write(n, body, 0);
                self.nodes[n].keyring.epochs.insert(ev.id(), secret);
                self.stats.epochs += 1;
            }
            Action::Extend {
                epoch,
                recipients,
                history,
            } => {
                let state = self.refresh(n);
                let keys = &self.nodes[n].keyring;
                let secret = keys
                    .epochs
                    .get(&epoch)
                    .cloned()
                    .expect("the agent extends only epochs it holds");
                let history = if history {
                    keys.history(&state, &epoch)
                } else {
                    Vec::new()
                };
                let pos = self.pos(n);
                let body = Keyring::extend_epoch(
                    &self.network,
                    &pos,
                    epoch,
                    &secret,
                    &recipients,
                    &history,
                    &[],
                )
                .expect("a key share body");
                self.write(n, body, 0);
            }
        }
    }

    /// Runs `n`'s agent until it has nothing more to write (a real node re-runs it whenever
    /// the group changes, including by its own writes).
    fn run_agent(&mut self, n: usize) {
        for _ in 0..6 {
            let st = self.refresh(n);
            let me = self.nodes[n].key;
            let clock = self.clock;
            note_joins(&st, &mut self.nodes[n].seen, clock);
            let actions = plan(&st, &me, &self.nodes[n].keyring, &self.nodes[n].seen, clock);
            if actions.is_empty() {
                return;
            }
            for a in actions {
                self.execute(n, a);
            }
        }
        panic!("node {n}'s agent keeps writing");
    }

    /// Heals the group as `n` would before writing; returns the state it ends with.
    fn heal(&mut self, n: usize) -> GroupState {
        let me = self.nodes[n].key;
        let mut st = self.refresh(n);
        for _ in 0..3 {
            let actions = ensure_writable(&st, &me, &self.nodes[n].keyring);
            if actions.is_empty() {
                return st;
            }
            for a in actions {
                self.execute(n, a);
            }
            st = self.refresh(n);
        }
        let left = ensure_writable(&st, &me, &self.nodes[n].keyring);
        assert!(
            left.is_empty(),
            "ensure_writable does not settle for node {n}: {left:?}"
        );
        st
    }

    /// Nodes that are members by their own view.
    fn self_members(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        for n in self.joined() {
            let me = self.nodes[n].key;
            if self.refresh(n).is_member(&me) {
                out.push(n);
            }
        }
        out
    }

    fn joined(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| self.nodes[n].joined())
            .collect()
    }

    /// Delivers a causally closed prefix of `from`'s set to `to` (newest first, so the receiver
    /// has to sort).
    fn deliver(&mut self, from: usize, to: usize, portion: u8) {
        let evs = self.nodes[from].set();
        let order = causal::order_events(&evs);
        let k = if portion >= 128 {
            evs.len()
        } else {
            (evs.len() * (portion as usize + 1)).div_ceil(128)
        };
        for &i in order[..k].iter().rev() {
            self.nodes[to].receive(&evs[i]);
        }
    }

    /// Every joined node receives everything; node `i` gets the missing events in a rotated
    /// order so different nodes see different arrival orders.
    fn full_sync(&mut self) {
        let mut all: BTreeMap<EventId, VerifiedEvent> = BTreeMap::new();
        for n in self.joined() {
            all.extend(self.nodes[n].events.iter().map(|(k, v)| (*k, v.clone())));
        }
        let all: Vec<VerifiedEvent> = all.into_values().collect();
        for n in self.joined() {
            let shift = (n * 7) % all.len().max(1);
            for ev in all[shift..].iter().chain(&all[..shift]) {
                self.nodes[n].receive(ev);
            }
        }
    }

    /// Syncs everything and runs every agent until nothing new is written. Time jumps past the
    /// admission grace period each round, so joins whose inviter is gone are admitted too.
    fn settle(&mut self) {
        for _ in 0..SETTLE_ROUNDS {
            self.clock += ADMIT_GRACE_MS + 1;
            self.full_sync();
            let before = self.writes;
            for n in self.joined() {
                self.run_agent(n);
            }
            if self.writes == before {
                return;
            }
        }
        panic!("the agents did not quiesce in {SETTLE_ROUNDS} rounds");
    }

    fn invite(&mut self, inviter: usize, admit_now: bool) {
        let Some(newcomer) = self.nodes.iter().position(|n| !n.joined()) else {
            return;
        };
        let cands = self.self_members();
        if cands.is_empty() {
            return;
        }
        let i = cands[inviter % cands.len()];
        self.invites += 1;
        let code = Identity::from_seed(&[0x80 ^ self.invites; 32]);
        let inv = self.write(
            i,
            Payload::Invite {
                key: code.public(),
                expires: NEVER,
                uses: 1,
            }
            .encode(),
            0,
        );
        // The newcomer gets the code and syncs the group from the inviter's node.
        self.deliver(i, newcomer, 255);
        let proof = code.sign(&join_proof_message(
            &self.network,
            &self.group,
            &self.nodes[newcomer].key,
        ));
        self.write(
            newcomer,
            Payload::Join {
                invite: inv.id(),
                proof,
            }
            .encode(),
            0,
        );
        self.run_agent(newcomer);
        if admit_now {
            self.deliver(newcomer, i, 255);
            self.run_agent(i);
        }
    }

    fn remove(&mut self, target: usize) {
        let creator = self.nodes[0].key;
        let st = self.refresh(0);
        let cands: Vec<usize> = st
            .members
            .keys()
            .filter(|k| **k != creator)
            .map(|k| self.index_of(k))
            .collect();
        if cands.is_empty() {
            return;
        }
        let t = cands[target % cands.len()];
        let member = self.nodes[t].key;
        let seen = self.nodes[0]
            .events
            .values()
            .filter(|e| e.header().author == member && e.header().log == 0)
            .count() as u64;
        let ev = self.write(
            0,
            Payload::Remove {
                member,
                seen,
                reason: "interleavings".into(),
            }
            .encode(),
            0,
        );
        self.removals.push(RemovalRec {
            event: ev.id(),
            target: t,
        });
        self.heal(0);
    }

    fn rotate_by(&mut self, who: usize) {
        let cands = self.self_members();
        if cands.is_empty() {
            return;
        }
        let n = cands[who % cands.len()];
        let st = self.refresh(n);
        self.execute(n, rotate(&st));
    }

    /// `n` posts (if it is a member by its own view): heal, then encrypt under the writing epoch.
    fn send(&mut self, n: usize) {
        let me = self.nodes[n].key;
        if !self.refresh(n).is_member(&me) {
            return;
        }
        let st = self.heal(n);
        let text = format!("post {} by node {n}", self.posts.len());
        let pos = self.pos(n);
        let body = self.nodes[n]
            .keyring
            .encrypt(
                &self.network,
                &st,
                &pos,
                &Payload::Post { text: text.clone() }.encode(),
            )
            .unwrap_or_else(|e| panic!("node {n} cannot encrypt after healing: {e}"));
        let epoch = st
            .writing_epoch()
            .expect("encrypt succeeded, so there is an epoch");
        let known: BTreeSet<EventId> = self.nodes[n].events.keys().copied().collect();
        let mut readers: BTreeSet<usize> = st
            .members
            .iter()
            .filter(|(_, m)| m.prekey.is_some())
            .map(|(k, _)| self.index_of(k))
            .collect();
        readers.insert(n);
        let ev = self.write(n, body, FLAG_ENCRYPTED);
        self.posts.push(PostRec {
            id: ev.id(),
            author: n,
            text,
            epoch,
            known,
            readers,
        });
    }

    fn apply(&mut self, op: &Op) {
        self.clock += STEP_MS;
        match *op {
            Op::Invite { inviter, admit_now } => self.invite(inviter, admit_now),
            Op::Remove { target } => self.remove(target),
            Op::Rotate { who } => self.rotate_by(who),
            Op::Send { who } => {
                let cands = self.self_members();
                if !cands.is_empty() {
                    self.send(cands[who % cands.len()]);
                }
            }
            Op::Deliver { from, to, portion } => {
                let j = self.joined();
                if j.len() >= 2 {
                    let fi = from % j.len();
                    let t = j[(fi + 1 + to % (j.len() - 1)) % j.len()];
                    let f = j[fi];
                    self.deliver(f, t, portion);
                }
            }
            Op::RunAgent { who } => {
                let j = self.joined();
                self.run_agent(j[who % j.len()]);
            }
        }
    }
}

/// Every event in the past of `id` (backlinks and deps, transitively), `id` excluded.
fn past(all: &BTreeMap<EventId, VerifiedEvent>, id: EventId) -> BTreeSet<EventId> {
    let mut out = BTreeSet::new();
    let mut todo = vec![id];
    while let Some(x) = todo.pop() {
        let Some(ev) = all.get(&x) else { continue };
        let h = ev.header();
        for p in h.backlink.iter().chain(&h.deps) {
            if out.insert(*p) {
                todo.push(*p);
            }
        }
    }
    out
}

/// Key shares of `epoch` in `all` that seal it to one of `keys`' prekeys.
fn seals_to(
    all: &BTreeMap<EventId, VerifiedEvent>,
    epoch: EventId,
    keys: &Keyring,
) -> Vec<EventId> {
    all.values()
        .filter(|e| e.header().flags & FLAG_ENCRYPTED == 0)
        .filter_map(|e| match e.body().map(Payload::decode) {
            Some(Ok(Payload::KeyShare(k))) if k.epoch.unwrap_or(e.id()) == epoch => k
                .seals
                .iter()
                .any(|s| keys.prekeys.contains_key(&s.prekey))
                .then(|| e.id()),
            _ => None,
        })
        .collect()
}

/// The final checks (the world is fully synced and quiet).
fn check(w: &mut World) {
    let joined = w.joined();
    let all: BTreeMap<EventId, VerifiedEvent> = w.nodes[0]
        .events
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    let all_vec: Vec<VerifiedEvent> = all.values().cloned().collect();

    // 1. Convergence: every node, from its own arrival order, derives the same state, and so
    //    does a derivation from the set in reverse id order.
    let mut reversed = all_vec.clone();
    reversed.reverse();
    let reference = GroupState::derive(&w.network, w.group, &reversed);
    for &n in &joined {
        assert_eq!(
            w.nodes[n].events.len(),
            all.len(),
            "node {n} is not fully synced"
        );
        let st = GroupState::derive(&w.network, w.group, &w.nodes[n].set());
        assert!(
            st == reference,
            "node {n} derives a different state:\n{st:#?}\nvs\n{reference:#?}"
        );
    }
    let st = reference;

    // Every node learns from the full final set.
    for &n in &joined {
        w.nodes[n].keyring.learn(&w.network, &st, &all_vec);
    }
    let valid_removals: Vec<&RemovalRec> = w
        .removals
        .iter()
        .filter(|r| !st.rejected.iter().any(|(id, _)| *id == r.event))
        .collect();
    assert_eq!(
        valid_removals.len(),
        w.removals.len(),
        "a removal by the creator of a member of its view was rejected: {:?}",
        st.rejected
    );
    for r in &w.removals {
        assert!(
            !st.is_member(&w.nodes[r.target].key),
            "node {} was removed (and never re-invited) but is a member",
            r.target
        );
    }
    w.stats.removals = w.removals.len();
    w.stats.joined = st.members.len() + st.removed.len() - 1;
    w.stats.posts = w.posts.len();

    let rejected: BTreeSet<EventId> = st.rejected.iter().map(|(id, _)| *id).collect();
    for p in &w.posts {
        let ev = &all[&p.id];
        let expected = Payload::Post {
            text: p.text.clone(),
        };

        // 3. Delivery: every node the author's state listed as a member with a prekey when it
        //    wrote the post (and the author) decrypts it. `ensure_writable` made each of them a
        //    knower of the writing epoch in the author's view (a seal to its prekey, or it wrote
        //    a share of the epoch), and everything the author had reaches everyone in the end.
        //    Only for posts the final state accepts: a post written past its author's removal
        //    cut is void, and so may be the epoch it was written under (a key share by the same
        //    removed author), which `learn` then rightly ignores.
        let readers = if rejected.contains(&p.id) {
            w.stats.void_posts += 1;
            BTreeSet::new()
        } else {
            p.readers.clone()
        };
        for &r in &readers {
            let plain = w.nodes[r]
                .keyring
                .decrypt(&w.network, ev)
                .unwrap_or_else(|e| {
                    panic!(
                        "node {r} cannot decrypt post {:?} by node {} (epoch {:?}, {}) although \
                         the author's state listed it as a member with a prekey: {e}",
                        p.id,
                        p.author,
                        p.epoch,
                        if st.epochs.contains_key(&p.epoch) {
                            "a valid epoch in the final state"
                        } else {
                            "an epoch the final state does not have: its share is void"
                        },
                    )
                });
            assert_eq!(Payload::decode(&plain).unwrap(), expected);
            w.stats.delivery_checks += 1;
        }

        // 2. Removal: if the author had seen the removal of Z when it wrote the post, Z cannot
        //    decrypt it, even holding every event and every secret sealed to it. The one
        //    exception is inherent to concurrency: a member that had not seen the removal
        //    sealed the post's epoch to Z directly (a share outside the author's knowledge and
        //    without the removal in its past). Removal cannot revoke a seal nobody knew of;
        //    once the share is synced the epoch is tainted and nobody writes under it again.
        for r in &w.removals {
            if !p.known.contains(&r.event) {
                continue;
            }
            let z = r.target;
            assert_ne!(z, p.author, "a node that saw its own removal posted");
            w.stats.removal_checks += 1;
            let Ok(plain) = w.nodes[z].keyring.decrypt(&w.network, ev) else {
                continue;
            };
            assert_eq!(Payload::decode(&plain).unwrap(), expected);
            let concurrent: Vec<EventId> = seals_to(&all, p.epoch, &w.nodes[z].keyring)
                .into_iter()
                .filter(|s| !p.known.contains(s) && !past(&all, *s).contains(&r.event))
                .collect();
            assert!(
                !concurrent.is_empty(),
                "removed node {z} decrypts post {:?} by node {} under epoch {:?}, although the \
                 author had seen the removal {:?} and no member sealed that epoch to node {z} \
                 concurrently with the removal (direct seals to it: {:?})",
                p.id,
                p.author,
                p.epoch,
                r.event,
                seals_to(&all, p.epoch, &w.nodes[z].keyring),
            );
            w.stats.removal_window += 1;
        }

        // History (reported, not asserted): with `history: true` a member at the end can often
        // read accepted posts from before it joined, through the history bundle of the share
        // that welcomed it. It is not guaranteed: a newcomer welcomed by a fresh epoch (a
        // rotation) gets no history, and a welcomer only hands over the epochs it holds.
        if !rejected.contains(&p.id) {
            for k in st.members.keys() {
                let m = w.index_of(k);
                w.stats.history_checks += 1;
                if w.nodes[m].keyring.decrypt(&w.network, ev).is_err() {
                    w.stats.history_gaps += 1;
                }
            }
        }
    }
}

/// Runs a script with `others` nodes besides the creator and checks the properties.
fn simulate(others: usize, ops: &[Op]) -> Stats {
    let mut w = World::new(others);
    for op in ops {
        w.apply(op);
    }
    w.settle();
    // Every current member posts once more, then the group settles again.
    let members = w.self_members();
    for n in members {
        w.send(n);
    }
    w.settle();
    check(&mut w);
    w.stats
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..8usize, any::<bool>())
            .prop_map(|(inviter, admit_now)| Op::Invite { inviter, admit_now }),
        1 => (0..8usize).prop_map(|target| Op::Remove { target }),
        1 => (0..8usize).prop_map(|who| Op::Rotate { who }),
        4 => (0..8usize).prop_map(|who| Op::Send { who }),
        5 => (0..8usize, 0..8usize, any::<u8>())
            .prop_map(|(from, to, portion)| Op::Deliver { from, to, portion }),
        3 => (0..8usize).prop_map(|who| Op::RunAgent { who }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (4..=6usize, prop::collection::vec(op(), 40..80))
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        // Ids depend on fresh randomness (HPKE, nonces), so a persisted seed would not replay
        // the same ids; the shrunk script is printed on failure instead.
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn interleaved_membership_keys_and_posts(s in scenario()) {
        simulate(s.0, &s.1);
    }
}

/// The same simulation on a fixed set of scripts, asserting that the properties above were
/// actually exercised: removals happened, removed members were checked against posts written
/// after their removal, and members were checked against posts they must read.
#[test]
fn fixed_scripts_exercise_every_property() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = scenario();
    let mut total = Stats::default();
    let mut runs_with_removal_checks = 0;
    for _ in 0..12 {
        let (others, ops) = strategy.new_tree(&mut runner).unwrap().current();
        let s = simulate(others, &ops);
        if s.removal_checks > 0 {
            runs_with_removal_checks += 1;
        }
        total.add(&s);
    }
    eprintln!("{total:#?}");
    assert!(total.joined >= 12 * 3, "too few admissions: {total:?}");
    assert!(total.removals >= 6, "too few removals: {total:?}");
    assert!(total.epochs >= 24, "too few epochs: {total:?}");
    assert!(
        total.delivery_checks >= 200,
        "too few delivery checks: {total:?}"
    );
    assert!(
        total.removal_checks >= 20,
        "too few removal checks: {total:?}"
    );
    assert!(
        runs_with_removal_checks >= 3,
        "removal checked in too few runs: {total:?}"
    );
}

/// Runs a fixed script a few times: ids (and so causal-order tie-breaks) depend on fresh
/// randomness, so a failure may need more than one attempt to show.
fn replay(others: usize, ops: &[Op]) {
    for _ in 0..8 {
        simulate(others, ops);
    }
}

/// Known bug, shrunk from a property 3 failure (reproduces on every attempt so far). Node 0
/// (creator, admin) removes node 3 with cut 2. Concurrently node 3, not knowing it, rotates: its
/// seq 2 starts epoch E sealed to nodes 0, 1, 2 and 3. Node 1, not knowing of the removal either,
/// receives node 3's share, learns E and posts under it; that post is valid (node 1 is a member)
/// and the final state accepts it. But node 3's share is past its cut, so the final state has no
/// epoch E and `Keyring::learn` skips the share: nodes 0 and 2, which node 1's state listed as
/// members with prekeys and which hold a seal of E, can never read the post (node 1 can, because
/// it learnt E before it saw the removal). Whether a member can read depends on the order it
/// learnt things in.
#[test]
fn regression_post_under_epoch_of_concurrently_removed_author() {
    use Op::*;
    replay(
        5,
        &[
            Invite {
                inviter: 0,
                admit_now: false,
            },
            Invite {
                inviter: 0,
                admit_now: true,
            },
            Deliver {
                from: 4,
                to: 1,
                portion: 112,
            },
            Invite {
                inviter: 0,
                admit_now: true,
            },
            Invite {
                inviter: 0,
                admit_now: true,
            },
            Deliver {
                from: 5,
                to: 6,
                portion: 94,
            },
            Rotate { who: 1 },
            Invite {
                inviter: 1,
                admit_now: false,
            },
            Deliver {
                from: 5,
                to: 1,
                portion: 107,
            },
            Send { who: 1 },
            Remove { target: 2 },
        ],
    );
}

/// Known bug, shrunk from a property 2 failure (reproduces on every attempt so far). Epoch E0
/// knows nodes 0, 1, 2. Node 0 removes node 2 and starts E1 (prev E0, sealed to 0 and 1);
/// concurrently node 1 starts E2 (prev E0, sealed to 0 and 1). Both are unsuperseded tips; in
/// node 0's view E2 is the writing epoch (later in the causal order). Node 0 admits newcomer
/// node 3 and extends E2 to it with history, which carries E1 (`Keyring::history` hands over
/// every epoch held). Node 0 then removes node 3: E2 is tainted (node 3 is a knower), but E1 is
/// not (derived knowers ignore history bundles), so E1 is the writing epoch again,
/// `ensure_writable` asks for nothing, and node 3 reads every post written after its removal.
#[test]
fn regression_removed_member_reads_revived_tip_from_history() {
    use Op::*;
    replay(
        4,
        &[
            Invite {
                inviter: 0,
                admit_now: true,
            },
            Deliver {
                from: 0,
                to: 0,
                portion: 96,
            },
            Invite {
                inviter: 2,
                admit_now: true,
            },
            Rotate { who: 1 },
            Remove { target: 1 },
            Deliver {
                from: 4,
                to: 1,
                portion: 112,
            },
            Invite {
                inviter: 0,
                admit_now: true,
            },
            Remove { target: 1 },
        ],
    );
}
