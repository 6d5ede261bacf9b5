//! The test harness shared by the state integration tests: a group history written event by
//! event by named authors with deterministic keys, derived with [`GroupState::derive`].
#![allow(dead_code)]

pub mod ledger;

use std::collections::BTreeMap;

use dualpower_core::payload::{join_proof_message, prekey_proof_message};
use dualpower_core::{
    Constitution, Draft, EventId, Genesis, GroupId, Identity, NetworkId, Payload, PublicKey,
    VerifiedEvent,
};
use dualpower_crypto::PrekeySecret;
use dualpower_state::{GroupState, Refusal};

/// A timestamp far before any invite's expiry.
pub const T: u64 = 1_000;
/// Expiry of invites that should not expire in a test.
pub const NEVER: u64 = u64::MAX / 2;

/// One author's identity and the head and next seq of each of its logs.
#[derive(Clone)]
pub struct Author {
    pub identity: Identity,
    /// log -> (head, next seq).
    pub logs: BTreeMap<u64, (EventId, u64)>,
}

/// A group history under construction: authors by name, and every event written so far.
#[derive(Clone)]
pub struct Scenario {
    pub network: NetworkId,
    pub group: GroupId,
    pub authors: BTreeMap<&'static str, Author>,
    pub events: Vec<VerifiedEvent>,
    /// When set, decision payloads are written as encrypted events (an opaque body) and their
    /// plaintext kept in `opened`, as a member's keys would open them.
    pub seal: bool,
    pub opened: dualpower_state::Opened,
}

pub fn identity_of(name: &str) -> Identity {
    // Deterministic keys, so ids (and so tie-breaking) are the same on every run.
    let mut seed = [0x5a; 32];
    seed[..name.len()].copy_from_slice(name.as_bytes());
    Identity::from_seed(&seed)
}

/// A deterministic X25519 prekey: the same `seed` gives the same key on every run.
pub fn prekey_secret(seed: u8) -> PrekeySecret {
    PrekeySecret::from_bytes([seed; 32])
}

/// The public half of [`prekey_secret`]`(seed)`.
pub fn prekey_public(seed: u8) -> [u8; 32] {
    prekey_secret(seed).public()
}

impl Scenario {
    /// The state derived with every event, and without `bad`: what a refusal must leave
    /// unchanged is compared between the two.
    pub fn with_and_without(&self, bad: &VerifiedEvent) -> (GroupState, GroupState) {
        let rest: Vec<VerifiedEvent> = self
            .events
            .iter()
            .filter(|e| e.id() != bad.id())
            .cloned()
            .collect();
        (
            self.derive(),
            GroupState::derive(&self.network, self.group, &rest),
        )
    }

    /// A group created by `creator` under `constitution`; returns the genesis too.
    pub fn new(creator: &'static str, constitution: Constitution) -> (Scenario, VerifiedEvent) {
        let genesis = Genesis {
            name: "Tenants' union".into(),
            nonce: [7; 16],
            constitution,
        };
        let group = genesis.group_id(&identity_of(creator).public());
        let mut s = Scenario {
            network: NetworkId::named("membership-tests"),
            group,
            authors: BTreeMap::new(),
            events: Vec::new(),
            seal: false,
            opened: dualpower_state::Opened::new(),
        };
        let g = s.write(creator, Payload::GroupGenesis(genesis), &[], T);
        (s, g)
    }

    pub fn author(&mut self, name: &'static str) -> &mut Author {
        self.authors.entry(name).or_insert_with(|| Author {
            identity: identity_of(name),
            logs: BTreeMap::new(),
        })
    }

    pub fn key(&self, name: &str) -> PublicKey {
        identity_of(name).public()
    }

    /// Number of events `name` has written to its log 0 (the `seen` of a removal).
    pub fn count(&self, name: &str) -> u64 {
        self.authors
            .get(name)
            .and_then(|a| a.logs.get(&0))
            .map_or(0, |(_, next)| *next)
    }

    /// Writes the next event of `author`'s log 0, backlinked to its head.
    pub fn write(
        &mut self,
        author: &'static str,
        payload: Payload,
        deps: &[EventId],
        timestamp: u64,
    ) -> VerifiedEvent {
        self.write_in(author, 0, payload, deps, timestamp)
    }

    /// Writes the next event of one of `author`'s logs; deps are sorted and de-duplicated, and
    /// the backlink is dropped from them.
    pub fn write_in(
        &mut self,
        author: &'static str,
        log: u64,
        payload: Payload,
        deps: &[EventId],
        timestamp: u64,
    ) -> VerifiedEvent {
        // Profiles are always sealed, as a member's node writes them.
        let sealed = (self.seal && dualpower_state::decisions::owns(&payload))
            || matches!(payload, Payload::Profile { .. });
        self.write_as(author, log, payload, deps, timestamp, sealed)
    }

    /// Writes the next event of one of `author`'s logs, sealed (an opaque body, the plaintext
    /// kept in `opened`) or in the clear.
    pub fn write_as(
        &mut self,
        author: &'static str,
        log: u64,
        payload: Payload,
        deps: &[EventId],
        timestamp: u64,
        sealed: bool,
    ) -> VerifiedEvent {
        let (group, network) = (self.group, self.network);
        let a = self.author(author);
        let (backlink, seq) = match a.logs.get(&log) {
            Some((head, next)) => (Some(*head), *next),
            None => (None, 0),
        };
        let mut deps: Vec<EventId> = deps
            .iter()
            .copied()
            .filter(|d| Some(*d) != backlink)
            .collect();
        deps.sort_unstable();
        deps.dedup();
        let (body, flags) = if sealed {
            let opaque = blake3::hash(&payload.encode()).as_bytes().to_vec();
            (opaque, dualpower_core::event::FLAG_ENCRYPTED)
        } else {
            (payload.encode(), 0)
        };
        let ev = Draft {
            group,
            log,
            seq,
            backlink,
            deps,
            timestamp,
            body,
            flags,
        }
        .sign(&a.identity, &network)
        .unwrap();
        if sealed {
            self.opened.insert(ev.id(), payload);
        }
        let a = self.author(author);
        a.logs.insert(log, (ev.id(), seq + 1));
        self.events.push(ev.clone());
        ev
    }

    /// `author` creates an invite; returns it and the invite key (what the invite code holds).
    pub fn invite(
        &mut self,
        author: &'static str,
        uses: u64,
        expires: u64,
        deps: &[EventId],
    ) -> (VerifiedEvent, Identity) {
        let key = Identity::from_seed(&[self.events.len() as u8 ^ 0xa5; 32]);
        let ev = self.write(
            author,
            Payload::Invite {
                key: key.public(),
                expires,
                uses,
            },
            deps,
            T,
        );
        (ev, key)
    }

    /// `joiner` joins with `invite`, proving it with `signer` (the invite key, unless forging).
    pub fn join(
        &mut self,
        joiner: &'static str,
        invite: &VerifiedEvent,
        signer: &Identity,
    ) -> VerifiedEvent {
        let proof = signer.sign(&join_proof_message(
            &self.network,
            &self.group,
            &self.key(joiner),
        ));
        self.write(
            joiner,
            Payload::Join {
                invite: invite.id(),
                proof,
            },
            &[invite.id()],
            T,
        )
    }

    /// `by` admits the author of `join`, with the join in its causal past.
    pub fn admit(
        &mut self,
        by: &'static str,
        join: &VerifiedEvent,
        deps: &[EventId],
        timestamp: u64,
    ) -> VerifiedEvent {
        let member = join.header().author;
        let mut deps = deps.to_vec();
        deps.push(join.id());
        self.write(
            by,
            Payload::Admit {
                member,
                join: join.id(),
            },
            &deps,
            timestamp,
        )
    }

    /// The payload by which `author` publishes `prekey`, with a valid proof of possession.
    pub fn prekey_payload(&self, author: &str, prekey: &PrekeySecret) -> Payload {
        let key = prekey.public();
        let msg = prekey_proof_message(&self.network, &self.group, &self.key(author), &key);
        Payload::Prekey {
            key,
            proof: prekey.sign_possession(&msg),
        }
    }

    /// `author` publishes the prekey [`prekey_secret`]`(seed)` with a valid proof.
    pub fn prekey(&mut self, author: &'static str, seed: u8, deps: &[EventId]) -> VerifiedEvent {
        let payload = self.prekey_payload(author, &prekey_secret(seed));
        self.write(author, payload, deps, T)
    }

    pub fn post(&mut self, author: &'static str, text: &str, deps: &[EventId]) -> VerifiedEvent {
        self.write(author, Payload::Post { text: text.into() }, deps, T)
    }

    /// `author` sets their display name (sealed, as a member's node writes it).
    pub fn profile(&mut self, author: &'static str, name: &str, deps: &[EventId]) -> VerifiedEvent {
        self.write(author, Payload::Profile { name: name.into() }, deps, T)
    }

    /// The plaintext of every sealed event, as a member's keys open it (payload bytes).
    pub fn opened_bytes(&self) -> std::collections::HashMap<EventId, Vec<u8>> {
        self.opened
            .iter()
            .map(|(id, p)| (*id, p.encode()))
            .collect()
    }

    pub fn remove(
        &mut self,
        by: &'static str,
        member: &'static str,
        seen: u64,
        deps: &[EventId],
    ) -> VerifiedEvent {
        let member = self.key(member);
        self.write(
            by,
            Payload::Remove {
                member,
                seen,
                reason: "test".into(),
            },
            deps,
            T,
        )
    }

    pub fn role(
        &mut self,
        by: &'static str,
        member: &'static str,
        role: &str,
        grant: bool,
        deps: &[EventId],
    ) -> VerifiedEvent {
        let member = self.key(member);
        self.write(
            by,
            Payload::Role {
                member,
                role: role.into(),
                grant,
            },
            deps,
            T,
        )
    }

    pub fn derive(&self) -> GroupState {
        GroupState::derive(&self.network, self.group, &self.events)
    }
}

/// The refusal recorded for `id`, if any (and at most one).
pub fn refusal(state: &GroupState, id: &VerifiedEvent) -> Option<Refusal> {
    let all: Vec<&Refusal> = state
        .rejected
        .iter()
        .filter(|(e, _)| *e == id.id())
        .map(|(_, r)| r)
        .collect();
    assert!(all.len() <= 1, "{} refused twice: {all:?}", id.id());
    all.first().map(|r| (*r).clone())
}

#[track_caller]
pub fn assert_refused(state: &GroupState, ev: &VerifiedEvent, expected: Refusal) {
    assert_eq!(
        refusal(state, ev),
        Some(expected),
        "refusal of {}; all: {:?}",
        ev.id(),
        state.rejected
    );
}

#[track_caller]
pub fn assert_valid(state: &GroupState, ev: &VerifiedEvent) {
    assert_eq!(refusal(state, ev), None, "{} should be valid", ev.id());
}

pub fn members(state: &GroupState) -> Vec<PublicKey> {
    state.members.keys().copied().collect()
}

pub fn keys(s: &Scenario, names: &[&str]) -> Vec<PublicKey> {
    let mut v: Vec<PublicKey> = names.iter().map(|n| s.key(n)).collect();
    v.sort();
    v
}

/// A group of `names` (the first creates it) under `constitution`, every member admitted by
/// the creator with one invite. Returns the scenario and the last admission.
pub fn group_of(names: &[&'static str], constitution: Constitution) -> (Scenario, EventId) {
    let (mut s, genesis) = Scenario::new(names[0], constitution);
    let mut tip = genesis.id();
    if names.len() > 1 {
        let (invite, key) = s.invite(names[0], names.len() as u64, NEVER, &[]);
        for n in &names[1..] {
            let join = s.join(n, &invite, &key);
            tip = s.admit(names[0], &join, &[], T).id();
        }
    }
    (s, tip)
}

/// xorshift: delivery orders and splits reproducible from a case's seed.
pub struct Rng(pub u64);

impl Rng {
    /// A number below `bound` (0 when `bound` is 0).
    pub fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound.max(1) as u64) as usize
    }
}

/// `events` in a random order (not necessarily causal).
pub fn shuffled(events: &[VerifiedEvent], rng: &mut Rng) -> Vec<VerifiedEvent> {
    let mut v = events.to_vec();
    for i in (1..v.len()).rev() {
        v.swap(i, rng.next(i + 1));
    }
    v
}

/// A random causally valid delivery order (Kahn's algorithm picking a random ready event).
/// Events citing one outside the set are placed as if it were there.
pub fn topological(events: &[VerifiedEvent], rng: &mut Rng) -> Vec<VerifiedEvent> {
    let index: std::collections::HashMap<EventId, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id(), i))
        .collect();
    let mut waiting = vec![0usize; events.len()];
    let mut dependents = vec![Vec::new(); events.len()];
    for (i, e) in events.iter().enumerate() {
        let h = e.header();
        let preds: std::collections::BTreeSet<usize> = h
            .backlink
            .iter()
            .chain(&h.deps)
            .filter_map(|p| index.get(p).copied())
            .collect();
        waiting[i] = preds.len();
        for p in preds {
            dependents[p].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..events.len()).filter(|i| waiting[*i] == 0).collect();
    let mut out = Vec::with_capacity(events.len());
    while !ready.is_empty() {
        let i = ready.swap_remove(rng.next(ready.len()));
        out.push(events[i].clone());
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(d);
            }
        }
    }
    out
}
