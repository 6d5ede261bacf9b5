//! Model-based adversarial property test of the whole derivation pass (issue 10).
//!
//! `GroupState::derive` is the one place where authority meets concurrency, so it is tested the
//! way DESIGN.md ("Derived state (invariants)", "Authority under concurrency") asks: a generator
//! writes random groups and random honest histories, keeps a model of who holds which right at
//! every point of the honest history, and lets one or two adversaries (ordinary members or
//! admins) attack it: they choose their deps freely (backdating), remove their remover after
//! being removed, claim to have seen less than they cite, fork their log, grind event ids and
//! put timestamps far in the past or future. Each rule is its own `proptest!` test, so a
//! failure names the rule it breaks.
//!
//! The honest history is a chain (every honest event cites the previous one and every public
//! adversary event not yet cited), so the model state at any causal point is the model state
//! after a prefix of that chain. Adversaries' attack events are withheld: no honest event cites
//! them, so they never change what honest members see, only what the derived state must reject.
//! An event is "accepted" when its id is absent from `GroupState::rejected`; no test depends on
//! a particular `Refusal` variant.
//!
//! CI runs a few dozen cases per property (override with `PROPTEST_CASES`). The long run:
//!
//! ```text
//! PROPTEST_CASES=10000 cargo test -p dualpower-state --release --test adversary
//! ```
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};

use common::{Rng, shuffled, topological};

use dualpower_core::decision::{Ballot, Electorate, Method, Proposal, ProposalText};
use dualpower_core::payload::join_proof_message;
use dualpower_core::{
    Admission, Constitution, Draft, EventId, Genesis, GroupId, Identity, NetworkId, Payload,
    PublicKey, Rule, VerifiedEvent,
};
use dualpower_state::GroupState;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// Honest timestamps start here (the chain position is added, so they increase).
const T: u64 = 1_000;
/// Invite expiry: never, for honest admissions.
const NEVER: u64 = u64::MAX / 2;
/// The role that carries invite, removal and amendment rights.
const ADMIN: &str = "admin";
/// Timestamps adversaries pick from: far past, honest-looking, far future, past the invite.
const WEIRD: [u64; 6] = [0, 1, T / 2, T, 9_000_000_000_000_000, NEVER + 1];
/// Most newcomers admitted by the script (keeps each case cheap).
const MAX_NEWCOMERS: u8 = 10;
/// Most sock puppets an adversary tries to smuggle in.
const MAX_PUPPETS: u8 = 4;
/// How many variants of an event an adversary signs when grinding its id.
const GRIND: u64 = 6;

/// Cases per property: small for CI, `PROPTEST_CASES` for the long run. (`with_cases` would
/// otherwise override the environment variable.)
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

fn net() -> NetworkId {
    NetworkId::named("adversary-tests")
}

/// The constitution under test: invites, removals, roles and amendments need the `admin` role;
/// admission is by one admin's admit (`invite`) or by two members' vouches (`vouches:2`).
fn constitution(vouches: bool) -> Constitution {
    Constitution {
        invite: Rule::Role(ADMIN.into()),
        admission: if vouches {
            Admission::Vouches(2)
        } else {
            Admission::Invite
        },
        removal: Rule::Role(ADMIN.into()),
        amend: Rule::Role(ADMIN.into()),
        ..Constitution::default()
    }
}

fn proposal(i: usize) -> Proposal {
    Proposal {
        text: ProposalText {
            title: format!("Motion {i}"),
            body: String::new(),
            options: Vec::new(),
        },
        method: Method::parse("majority").unwrap(),
        electorate: Electorate::Members,
        topic: String::new(),
        voting: true,
        deadline: 0,
        action: Vec::new(),
    }
}

/// Model state after a prefix of the honest chain.
#[derive(Clone, Default, Debug)]
struct Snap {
    members: BTreeSet<usize>,
    admins: BTreeSet<usize>,
    vouches: bool,
}

/// Which right an event needs (in the model).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Need {
    /// Remove, role, amend: a member holding `admin`.
    Admin,
    /// Admit: `admin` under `invite`, any member under `vouches:2`.
    Admit,
}

/// What the tests need to know about each event.
#[derive(Clone, Debug)]
struct Meta {
    author: usize,
    seq: u64,
    /// Number of honest chain events in the event's causal past (so its causal point in the
    /// model is `snaps[past_len]`).
    past_len: usize,
    /// Its position in the honest chain, for honest events.
    chain_pos: Option<usize>,
    need: Option<Need>,
    is_join: bool,
}

struct Author {
    id: Identity,
    key: PublicKey,
    next: u64,
    head: Option<EventId>,
    honest: bool,
}

/// One adversary and what it has done.
#[derive(Clone, Debug)]
struct Adv {
    who: usize,
    /// Holds `admin` (granted at setup, after every honest admin: the honest ones are senior).
    admin: bool,
    /// Has started withholding its events (it never publishes again).
    dark: bool,
    /// Removed by an honest senior: (remover, chain position of the removal, removal event).
    removed: Option<(usize, usize, usize)>,
    /// Chain position of its admin grant.
    grant: Option<usize>,
    /// Lowest seq at which it signed two events.
    fork: Option<u64>,
    /// Events of its log that honest members have cited (the `seen` of an honest removal).
    public_next: u64,
}

/// A removal by an admin adversary that claims to have seen less of `target` than it cites.
#[derive(Clone, Debug)]
struct LowSeen {
    event: usize,
    target: usize,
    /// Target's events in the removal's causal past.
    in_past: u64,
}

/// A mutual removal: senior `a` removed adversary `b` (event `a_removes`), then `b` wrote a
/// backdated removal of `a` (event `b_removes`) with its id ground to sort first.
#[derive(Clone, Debug)]
struct Mutual {
    a: usize,
    b: usize,
    a_removes: usize,
    b_removes: usize,
}

/// What a generated case contains, to show the generator is not vacuous.
#[derive(Clone, Copy, Default, Debug)]
struct Stats {
    honest_removals: usize,
    adversaries_removed: usize,
    forks: usize,
    public_forks: usize,
    backdated: usize,
    mutual: usize,
    low_seen: usize,
    unauthorized: usize,
    puppets: usize,
    to_vouches: usize,
    admissions: usize,
    votes: usize,
    closes: usize,
}

/// A generated group history with its model.
struct World {
    group: GroupId,
    authors: Vec<Author>,
    events: Vec<VerifiedEvent>,
    meta: Vec<Meta>,
    index: HashMap<EventId, usize>,
    /// Event indices of the honest chain.
    chain: Vec<usize>,
    /// `snaps[k]`: the model after the first `k` chain events.
    snaps: Vec<Snap>,
    model: Snap,
    /// Public adversary events no honest event cites yet.
    tips: BTreeSet<EventId>,
    invite: EventId,
    invite_key: Identity,
    /// The creator and the admins granted at setup (senior to every adversary).
    seniors: Vec<usize>,
    /// Admins granted by the script (the only ones ever revoked).
    script_admins: BTreeSet<usize>,
    /// Chain position of the admission that made each honest member a member.
    admitted_at: HashMap<usize, usize>,
    /// Chain positions of each honest author's events.
    positions: HashMap<usize, Vec<usize>>,
    advs: Vec<Adv>,
    /// (member, admission event) for admissions made under `invite`.
    invite_admitted: Vec<(usize, usize)>,
    /// Everyone any removal event (honest or not) names.
    removal_targets: BTreeSet<usize>,
    low_seen: Vec<LowSeen>,
    mutual: Vec<Mutual>,
    /// (proposal, proposer, still open in the model).
    proposals: Vec<(EventId, usize, bool)>,
    newcomers: u8,
    puppets: u8,
    stats: Stats,
    log: Vec<String>,
}

/// A case: members (5-20), honest admins besides the creator, adversaries (`true` = admin),
/// and the script of (action, three choices).
type Params = (usize, usize, Vec<bool>, Vec<(u8, u8, u8, u8)>);

fn params() -> impl Strategy<Value = Params> {
    (
        5usize..=20,
        1usize..=2,
        prop::collection::vec(any::<bool>(), 1..=2),
        prop::collection::vec((0u8..16, any::<u8>(), any::<u8>(), any::<u8>()), 4..32),
    )
}

/// A number in `lo..=hi` chosen by `z`.
fn between(lo: usize, hi: usize, z: u8) -> usize {
    lo + z as usize % (hi - lo + 1)
}

fn pick<T: Copy>(v: &[T], x: u8) -> Option<T> {
    if v.is_empty() {
        None
    } else {
        Some(v[x as usize % v.len()])
    }
}

impl World {
    fn add_author(&mut self, tag: u8, i: u8, honest: bool) -> usize {
        let mut seed = [0x3c; 32];
        seed[0] = tag;
        seed[1] = i;
        let id = Identity::from_seed(&seed);
        self.authors.push(Author {
            key: id.public(),
            id,
            next: 0,
            head: None,
            honest,
        });
        self.authors.len() - 1
    }

    fn sign(&self, a: usize, deps: &[EventId], ts: u64, payload: &Payload) -> VerifiedEvent {
        let au = &self.authors[a];
        let deps: Vec<EventId> = deps
            .iter()
            .copied()
            .filter(|d| Some(*d) != au.head)
            .collect();
        Draft {
            group: self.group,
            log: 0,
            seq: au.next,
            backlink: au.head,
            deps,
            timestamp: ts,
            body: payload.encode(),
            flags: 0,
        }
        .sign(&au.id, &net())
        .unwrap()
    }

    /// Records an event; `advance` moves the author's head to it (not for a fork's other branch).
    fn push(
        &mut self,
        a: usize,
        ev: VerifiedEvent,
        need: Option<Need>,
        chain_pos: Option<usize>,
        advance: bool,
    ) -> usize {
        let h = ev.header();
        let past_len = h
            .backlink
            .iter()
            .chain(&h.deps)
            .filter_map(|p| self.index.get(p))
            .map(|&i| match self.meta[i].chain_pos {
                Some(k) => k + 1,
                None => self.meta[i].past_len,
            })
            .max()
            .unwrap_or(0);
        let is_join = matches!(
            Payload::decode(ev.body().unwrap_or_default()),
            Ok(Payload::Join { .. })
        );
        let i = self.events.len();
        self.meta.push(Meta {
            author: a,
            seq: h.seq,
            past_len,
            chain_pos,
            need,
            is_join,
        });
        if advance {
            self.authors[a].next = h.seq + 1;
            self.authors[a].head = Some(ev.id());
        }
        self.index.insert(ev.id(), i);
        self.events.push(ev);
        i
    }

    /// The next honest chain event; `update` is what it changes in the model.
    fn honest(
        &mut self,
        a: usize,
        payload: Payload,
        need: Option<Need>,
        update: impl FnOnce(&mut Snap),
    ) -> usize {
        let mut deps: Vec<EventId> = self
            .chain
            .last()
            .map(|&i| self.events[i].id())
            .into_iter()
            .collect();
        deps.extend(std::mem::take(&mut self.tips));
        let ev = self.sign(a, &deps, T + self.chain.len() as u64, &payload);
        let pos = self.chain.len();
        let i = self.push(a, ev, need, Some(pos), true);
        self.chain.push(i);
        self.positions.entry(a).or_default().push(pos);
        update(&mut self.model);
        self.snaps.push(self.model.clone());
        i
    }

    /// An adversary event: signs `GRIND` variants (by timestamp and `make(v)`) and keeps the one
    /// whose id sorts first (or last). Public events cite the chain head and become tips;
    /// withheld ones cite chain event `back` (backdating).
    fn adversarial(
        &mut self,
        adv: usize,
        make: impl Fn(u64) -> Payload,
        back: usize,
        lowest: bool,
        need: Option<Need>,
    ) -> usize {
        let a = self.advs[adv].who;
        let public = !self.advs[adv].dark;
        let deps = self.adv_deps(adv, back);
        let variants: Vec<VerifiedEvent> = (0..GRIND)
            .map(|v| {
                let ts = if public {
                    T + self.chain.len() as u64 + v
                } else {
                    WEIRD[(back + v as usize) % WEIRD.len()].saturating_add(v)
                };
                self.sign(a, &deps, ts, &make(v))
            })
            .collect();
        let ev = if lowest {
            variants.into_iter().min_by_key(|e| e.id()).unwrap()
        } else {
            variants.into_iter().max_by_key(|e| e.id()).unwrap()
        };
        self.publish_or_hide(adv, ev, need)
    }

    /// What an adversary event cites besides its backlink: the chain head while it publishes,
    /// else the chain event `back` chooses (counted as backdated unless it is the head).
    fn adv_deps(&mut self, adv: usize, back: usize) -> Vec<EventId> {
        if !self.advs[adv].dark {
            return vec![self.events[*self.chain.last().unwrap()].id()];
        }
        let k = back % self.chain.len();
        if k + 1 < self.chain.len() {
            self.stats.backdated += 1;
        }
        vec![self.events[self.chain[k]].id()]
    }

    /// The causal point (chain events in the past) of a withheld event of `a` citing chain
    /// event `back` (as [`World::adv_deps`] picks it).
    fn past_len_for(&self, a: usize, back: usize) -> usize {
        let own = self.authors[a].head.map_or(0, |h| {
            let m = &self.meta[self.index[&h]];
            m.chain_pos.map_or(m.past_len, |k| k + 1)
        });
        own.max(back % self.chain.len() + 1)
    }

    fn publish_or_hide(&mut self, adv: usize, ev: VerifiedEvent, need: Option<Need>) -> usize {
        let a = self.advs[adv].who;
        let old = self.authors[a].head;
        let id = ev.id();
        let seq = ev.header().seq;
        let i = self.push(a, ev, need, None, true);
        if !self.advs[adv].dark {
            if let Some(old) = old {
                self.tips.remove(&old);
            }
            self.tips.insert(id);
            self.advs[adv].public_next = seq + 1;
        }
        i
    }

    fn honest_members(&self) -> Vec<usize> {
        self.model
            .members
            .iter()
            .copied()
            .filter(|m| self.authors[*m].honest)
            .collect()
    }

    fn honest_admins(&self) -> Vec<usize> {
        self.honest_members()
            .into_iter()
            .filter(|m| self.model.admins.contains(m))
            .collect()
    }

    fn honest_plain(&self) -> Vec<usize> {
        self.honest_members()
            .into_iter()
            .filter(|m| !self.model.admins.contains(m) && *m != 0)
            .collect()
    }

    fn open_proposals(&self) -> Vec<usize> {
        (0..self.proposals.len())
            .filter(|p| self.proposals[*p].2)
            .collect()
    }

    /// Events of honest author `x` among the first `past_len` chain events.
    fn count_in_past(&self, x: usize, past_len: usize) -> u64 {
        self.positions
            .get(&x)
            .map_or(0, |p| p.iter().filter(|k| **k < past_len).count() as u64)
    }

    /// A senior admin removes adversary `adv`, having seen all it published.
    fn remove_adversary(&mut self, adv: usize, y: u8) {
        if self.advs[adv].removed.is_some() {
            return;
        }
        let a = pick(&self.seniors, y).unwrap();
        let b = self.advs[adv].who;
        // The removal cites every public event (tips are drained into its deps).
        let seen = self.advs[adv].public_next;
        let member = self.authors[b].key;
        let pos = self.chain.len();
        let ev = self.honest(
            a,
            Payload::Remove {
                member,
                seen,
                reason: "adversary".into(),
            },
            Some(Need::Admin),
            |m| {
                m.members.remove(&b);
                m.admins.remove(&b);
            },
        );
        self.advs[adv].removed = Some((a, pos, ev));
        self.advs[adv].dark = true;
        self.removal_targets.insert(b);
        self.stats.adversaries_removed += 1;
        self.log.push(format!(
            "#{ev} senior {a} removes adversary {b} seen {seen}"
        ));
    }

    fn step(&mut self, (op, x, y, z): (u8, u8, u8, u8)) {
        match op {
            0 => {
                if let Some(a) = pick(&self.honest_members(), x) {
                    let i = self.honest(
                        a,
                        Payload::Post {
                            text: format!("post {}", self.events.len()),
                        },
                        None,
                        |_| {},
                    );
                    self.log.push(format!("#{i} {a} posts"));
                }
            }
            1 => self.admission(x, y),
            2 => {
                let (Some(a), Some(t)) = (
                    pick(&self.honest_admins(), x),
                    pick(&self.honest_plain(), y),
                ) else {
                    return;
                };
                let member = self.authors[t].key;
                let i = self.honest(
                    a,
                    Payload::Role {
                        member,
                        role: ADMIN.into(),
                        grant: true,
                    },
                    Some(Need::Admin),
                    |m| {
                        m.admins.insert(t);
                    },
                );
                self.script_admins.insert(t);
                self.log.push(format!("#{i} {a} grants admin to {t}"));
            }
            3 => {
                let revocable: Vec<usize> = self
                    .script_admins
                    .iter()
                    .copied()
                    .filter(|m| self.model.admins.contains(m) && self.model.members.contains(m))
                    .collect();
                let (Some(a), Some(t)) = (pick(&self.honest_admins(), x), pick(&revocable, y))
                else {
                    return;
                };
                let member = self.authors[t].key;
                let i = self.honest(
                    a,
                    Payload::Role {
                        member,
                        role: ADMIN.into(),
                        grant: false,
                    },
                    Some(Need::Admin),
                    |m| {
                        m.admins.remove(&t);
                    },
                );
                self.log.push(format!("#{i} {a} revokes admin of {t}"));
            }
            4 | 5 => {
                let (Some(a), Some(t)) = (
                    pick(&self.honest_admins(), x),
                    pick(&self.honest_plain(), y),
                ) else {
                    return;
                };
                // Honest: the remover has seen every event of the target (the chain).
                let seen = self.authors[t].next;
                let member = self.authors[t].key;
                let i = self.honest(
                    a,
                    Payload::Remove {
                        member,
                        seen,
                        reason: "honest".into(),
                    },
                    Some(Need::Admin),
                    |m| {
                        m.members.remove(&t);
                    },
                );
                self.removal_targets.insert(t);
                self.stats.honest_removals += 1;
                self.log.push(format!("#{i} {a} removes {t} seen {seen}"));
            }
            6 => {
                let Some(a) = pick(&self.honest_admins(), x) else {
                    return;
                };
                let to = !self.model.vouches;
                let i = self.honest(
                    a,
                    Payload::Amend(constitution(to)),
                    Some(Need::Admin),
                    |m| {
                        m.vouches = to;
                    },
                );
                if to {
                    self.stats.to_vouches += 1;
                }
                let rule = if to { "vouches:2" } else { "invite" };
                self.log
                    .push(format!("#{i} {a} amends admission to {rule}"));
            }
            7 => {
                if let Some(a) = pick(&self.honest_members(), x) {
                    let i = self.honest(
                        a,
                        Payload::Propose(proposal(self.proposals.len())),
                        None,
                        |_| {},
                    );
                    self.proposals.push((self.events[i].id(), a, true));
                    self.log.push(format!("#{i} {a} proposes"));
                }
            }
            8 => {
                let (Some(a), Some(p)) = (
                    pick(&self.honest_members(), x),
                    pick(&self.open_proposals(), y),
                ) else {
                    return;
                };
                let proposal = self.proposals[p].0;
                let i = self.honest(
                    a,
                    Payload::Vote {
                        proposal,
                        ballot: Ballot::Choice(u32::from(z % 3)),
                        reason: String::new(),
                    },
                    None,
                    |_| {},
                );
                self.stats.votes += 1;
                self.log.push(format!("#{i} {a} votes on proposal {p}"));
            }
            9 => {
                let closable: Vec<usize> = self
                    .open_proposals()
                    .into_iter()
                    .filter(|p| self.model.members.contains(&self.proposals[*p].1))
                    .collect();
                if let Some(p) = pick(&closable, x) {
                    let (proposal, a, _) = self.proposals[p];
                    let i = self.honest(a, Payload::Close { proposal }, None, |_| {});
                    self.proposals[p].2 = false;
                    self.stats.closes += 1;
                    self.log.push(format!("#{i} {a} closes proposal {p}"));
                }
            }
            10 => self.adv_benign(x, y, z),
            11 => self.adv_fork(x, y, z),
            12 => self.adv_attack(x, y, z),
            13 => {
                let adv = x as usize % self.advs.len();
                self.remove_adversary(adv, y);
                self.counter_removal(adv, z);
            }
            14 => self.remove_adversary(x as usize % self.advs.len(), y),
            _ => self.puppet(x, z),
        }
    }

    fn admission(&mut self, x: u8, y: u8) {
        if self.newcomers >= MAX_NEWCOMERS {
            return;
        }
        let vouches = self.model.vouches;
        let admitters: Vec<usize> = if vouches {
            let m = self.honest_members();
            match (pick(&m, x), pick(&m, y)) {
                (Some(a), Some(b)) if a != b => vec![a, b],
                (Some(a), _) if m.len() > 1 => vec![
                    a,
                    m[(m.iter().position(|v| *v == a).unwrap() + 1) % m.len()],
                ],
                _ => return,
            }
        } else {
            match pick(&self.honest_admins(), x) {
                Some(a) => vec![a],
                None => return,
            }
        };
        self.newcomers += 1;
        let p = self.add_author(2, self.newcomers, true);
        let member = self.authors[p].key;
        let proof = self
            .invite_key
            .sign(&join_proof_message(&net(), &self.group, &member));
        let invite = self.invite;
        let j = self.honest(p, Payload::Join { invite, proof }, None, |_| {});
        let join = self.events[j].id();
        let last = admitters.len() - 1;
        for (k, a) in admitters.into_iter().enumerate() {
            let i = self.honest(a, Payload::Admit { member, join }, Some(Need::Admit), |m| {
                if k == last {
                    m.members.insert(p);
                }
            });
            if !vouches {
                self.invite_admitted.push((p, i));
            }
            self.admitted_at.insert(p, self.chain.len() - 1);
            self.log.push(format!("#{i} {a} admits newcomer {p}"));
        }
        self.stats.admissions += 1;
    }

    /// A vote or a post: public while the adversary publishes, else withheld and backdated.
    fn adv_benign(&mut self, x: u8, y: u8, z: u8) {
        let adv = x as usize % self.advs.len();
        let who = self.advs[adv].who;
        let target = pick(&self.open_proposals(), y).map(|p| self.proposals[p].0);
        let i = match target {
            Some(proposal) => {
                self.stats.votes += 1;
                self.adversarial(
                    adv,
                    |v| Payload::Vote {
                        proposal,
                        ballot: Ballot::Choice(u32::from(z % 3)),
                        reason: format!("v{v}"),
                    },
                    z as usize,
                    y & 1 == 0,
                    None,
                )
            }
            None => self.adversarial(
                adv,
                |v| Payload::Post {
                    text: format!("noise {v}"),
                },
                z as usize,
                y & 1 == 0,
                None,
            ),
        };
        let how = if self.advs[adv].dark {
            "withheld"
        } else {
            "public"
        };
        self.log
            .push(format!("#{i} adversary {who} writes a {how} vote/post"));
    }

    /// Two events at the same seq (two votes if a proposal is open, else two posts).
    fn adv_fork(&mut self, x: u8, y: u8, z: u8) {
        let adv = x as usize % self.advs.len();
        let a = self.advs[adv].who;
        let target = pick(&self.open_proposals(), y).map(|p| self.proposals[p].0);
        let make = |b: u32| match target {
            Some(proposal) => Payload::Vote {
                proposal,
                ballot: Ballot::Choice(b),
                reason: String::new(),
            },
            None => Payload::Post {
                text: format!("branch {b}"),
            },
        };
        let deps = self.adv_deps(adv, z as usize);
        let ts = T + self.chain.len() as u64;
        let other = self.sign(a, &deps, ts, &make(1));
        let seq = other.header().seq;
        let other_id = other.id();
        let j = self.push(a, other, None, None, false);
        let ev = self.sign(a, &deps, ts, &make(0));
        let i = self.publish_or_hide(adv, ev, None);
        if !self.advs[adv].dark {
            // Honest members see both branches and cite them.
            self.tips.insert(other_id);
            self.stats.public_forks += 1;
        }
        let f = self.advs[adv].fork.map_or(seq, |f| f.min(seq));
        self.advs[adv].fork = Some(f);
        self.stats.forks += 1;
        self.log
            .push(format!("#{j} #{i} adversary {a} forks at seq {seq}"));
    }

    /// An admin adversary removes an honest plain member claiming to have seen less than it
    /// cites; an adversary without the role tries to remove, grant itself the role or amend.
    /// Either way the adversary withholds from now on.
    fn adv_attack(&mut self, x: u8, y: u8, z: u8) {
        let adv = x as usize % self.advs.len();
        let a = self.advs[adv].who;
        self.advs[adv].dark = true;
        if self.advs[adv].admin {
            // Preferably a target that has written since it joined, so the claim can hide
            // events that matter.
            let plain = self.honest_plain();
            let active: Vec<usize> = plain
                .iter()
                .copied()
                .filter(|t| self.positions[t].len() > 1)
                .collect();
            let Some(t) = pick(if active.is_empty() { &plain } else { &active }, y) else {
                return;
            };
            // Cite a chain event at which the adversary held the role (before its removal, if
            // it was removed: backdating), the target was a member and had written after
            // joining (if it has).
            let grant = self.advs[adv].grant.unwrap_or(0);
            let written = self.positions[&t].get(1).copied().unwrap_or(0);
            let lo = grant.max(self.admitted_at[&t]).max(written);
            let hi = self.advs[adv]
                .removed
                .map_or(self.chain.len() - 1, |(_, pos, _)| pos - 1);
            if lo > hi {
                return;
            }
            let back = between(lo, hi, z);
            let past_len = self.past_len_for(a, back);
            let in_past = self.count_in_past(t, past_len);
            let seen = u64::from(y / 16) % in_past;
            let member = self.authors[t].key;
            let i = self.adversarial(
                adv,
                |v| Payload::Remove {
                    member,
                    seen,
                    reason: format!("low {v}"),
                },
                back,
                x & 1 == 0,
                Some(Need::Admin),
            );
            assert_eq!(self.meta[i].past_len, past_len, "the model's causal point");
            self.low_seen.push(LowSeen {
                event: i,
                target: t,
                in_past,
            });
            self.removal_targets.insert(t);
            self.stats.low_seen += 1;
            self.log.push(format!(
                "#{i} admin adversary {a} removes {t} seen {seen} of {in_past} in its past"
            ));
            return;
        }
        match y % 3 {
            0 => {
                let targets: Vec<usize> = self
                    .model
                    .members
                    .iter()
                    .copied()
                    .filter(|m| *m != a)
                    .collect();
                let Some(t) = pick(&targets, z) else { return };
                let member = self.authors[t].key;
                let seen = self.authors[t].next;
                self.removal_targets.insert(t);
                let i = self.adversarial(
                    adv,
                    |v| Payload::Remove {
                        member,
                        seen,
                        reason: format!("coup {v}"),
                    },
                    z as usize,
                    x & 2 == 0,
                    Some(Need::Admin),
                );
                self.log
                    .push(format!("#{i} plain adversary {a} removes {t}"));
            }
            1 => {
                let member = self.authors[a].key;
                let i = self.adversarial(
                    adv,
                    |v| Payload::Role {
                        member,
                        role: if v % 2 == 0 {
                            ADMIN.into()
                        } else {
                            "moderator".into()
                        },
                        grant: true,
                    },
                    z as usize,
                    x & 2 == 0,
                    Some(Need::Admin),
                );
                self.log
                    .push(format!("#{i} plain adversary {a} grants itself a role"));
            }
            _ => {
                let to = !self.model.vouches;
                let i = self.adversarial(
                    adv,
                    |v| {
                        let mut c = constitution(to);
                        c.removal = Rule::Member;
                        c.forget_after_days = v;
                        Payload::Amend(c)
                    },
                    z as usize,
                    x & 2 == 0,
                    Some(Need::Admin),
                );
                self.log.push(format!("#{i} plain adversary {a} amends"));
            }
        }
        self.stats.unauthorized += 1;
    }

    /// Adversary `adv`, removed by a senior, removes its remover citing only events from
    /// before that removal, its id ground to sort first.
    fn counter_removal(&mut self, adv: usize, z: u8) {
        let Some((a, pos, a_removes)) = self.advs[adv].removed else {
            return;
        };
        let b = self.advs[adv].who;
        // Cite a chain event from before the removal, at which `b` held its role if it had one.
        let back = between(self.advs[adv].grant.unwrap_or(0).min(pos - 1), pos - 1, z);
        let past_len = self.past_len_for(b, back);
        let seen = self.count_in_past(a, past_len);
        let member = self.authors[a].key;
        let i = self.adversarial(
            adv,
            |v| Payload::Remove {
                member,
                seen,
                reason: format!("counter {v}"),
            },
            back,
            true,
            Some(Need::Admin),
        );
        self.removal_targets.insert(a);
        self.mutual.push(Mutual {
            a,
            b,
            a_removes,
            b_removes: i,
        });
        self.stats.mutual += 1;
        self.log.push(format!(
            "#{i} removed adversary {b} removes its remover {a} (past: {} chain events, removal at {pos})",
            self.meta[i].past_len
        ));
    }

    /// A sock puppet joins with the group's invite (the adversary holds the code) and the
    /// adversary admits it in a withheld, backdated event.
    fn puppet(&mut self, x: u8, z: u8) {
        if self.puppets >= MAX_PUPPETS {
            return;
        }
        let adv = x as usize % self.advs.len();
        let a = self.advs[adv].who;
        self.puppets += 1;
        let s = self.add_author(3, self.puppets, false);
        let member = self.authors[s].key;
        let proof = self
            .invite_key
            .sign(&join_proof_message(&net(), &self.group, &member));
        let invite = self.invite;
        let ev = self.sign(s, &[invite], 7, &Payload::Join { invite, proof });
        let join = ev.id();
        self.push(s, ev, None, None, true);
        self.advs[adv].dark = true;
        let mut deps = self.adv_deps(adv, z as usize);
        deps.push(join);
        let ev = self.sign(
            a,
            &deps,
            WEIRD[z as usize % WEIRD.len()],
            &Payload::Admit { member, join },
        );
        let i = self.publish_or_hide(adv, ev, Some(Need::Admit));
        self.stats.puppets += 1;
        self.log
            .push(format!("#{i} adversary {a} admits its puppet {s}"));
    }
}

/// Builds the world a case describes: setup (genesis, invite, joins and admissions, admin
/// grants: honest admins first, then admin adversaries), then the script.
fn build((n, honest_admins, advs, script): &Params) -> World {
    let genesis = Genesis {
        name: "Housing co-op".into(),
        nonce: [3; 16],
        constitution: constitution(false),
    };
    let invite_key = Identity::from_seed(&[0x77; 32]);
    let mut w = World {
        group: GroupId([0; 32]),
        authors: Vec::new(),
        events: Vec::new(),
        meta: Vec::new(),
        index: HashMap::new(),
        chain: Vec::new(),
        snaps: vec![Snap::default()],
        model: Snap::default(),
        tips: BTreeSet::new(),
        invite: EventId([0; 32]),
        invite_key,
        seniors: vec![0],
        script_admins: BTreeSet::new(),
        admitted_at: HashMap::new(),
        positions: HashMap::new(),
        advs: Vec::new(),
        invite_admitted: Vec::new(),
        removal_targets: BTreeSet::new(),
        low_seen: Vec::new(),
        mutual: Vec::new(),
        proposals: Vec::new(),
        newcomers: 0,
        puppets: 0,
        stats: Stats::default(),
        log: Vec::new(),
    };
    for i in 0..*n {
        w.add_author(1, i as u8, true);
    }
    w.group = genesis.group_id(&w.authors[0].key);
    w.honest(0, Payload::GroupGenesis(genesis), None, |m| {
        m.members.insert(0);
        m.admins.insert(0);
    });
    let key = w.invite_key.public();
    let inv = w.honest(
        0,
        Payload::Invite {
            key,
            expires: NEVER,
            uses: 1_000,
        },
        Some(Need::Admin),
        |_| {},
    );
    w.invite = w.events[inv].id();
    // The adversaries are the last members.
    let first_adv = n - advs.len();
    for (k, admin) in advs.iter().enumerate() {
        w.authors[first_adv + k].honest = false;
        w.advs.push(Adv {
            who: first_adv + k,
            admin: *admin,
            dark: false,
            removed: None,
            grant: None,
            fork: None,
            public_next: 0,
        });
    }
    for m in 1..*n {
        let member = w.authors[m].key;
        let proof = w
            .invite_key
            .sign(&join_proof_message(&net(), &w.group, &member));
        let invite = w.invite;
        let j = w.honest(m, Payload::Join { invite, proof }, None, |_| {});
        let join = w.events[j].id();
        let i = w.honest(0, Payload::Admit { member, join }, Some(Need::Admit), |s| {
            s.members.insert(m);
        });
        w.invite_admitted.push((m, i));
        w.admitted_at.insert(m, w.chain.len() - 1);
    }
    // The join was cited by the admission: that is what an honest remover has seen.
    for adv in &mut w.advs {
        adv.public_next = 1;
    }
    let grants: Vec<usize> = (1..=*honest_admins)
        .filter(|m| *m < first_adv)
        .chain(w.advs.iter().filter(|a| a.admin).map(|a| a.who))
        .collect();
    for m in grants {
        let member = w.authors[m].key;
        if let Some(adv) = w.advs.iter_mut().find(|a| a.who == m) {
            adv.grant = Some(w.chain.len());
        }
        w.honest(
            0,
            Payload::Role {
                member,
                role: ADMIN.into(),
                grant: true,
            },
            Some(Need::Admin),
            |s| {
                s.admins.insert(m);
            },
        );
        if w.authors[m].honest {
            w.seniors.push(m);
        }
    }
    w.log.push(format!(
        "setup: 0 creates the group and admits 1..{} (joined with its invite); admin granted to {:?} then adversaries {:?}",
        n - 1,
        &w.seniors[1..],
        w.advs.iter().filter(|a| a.admin).map(|a| a.who).collect::<Vec<_>>()
    ));
    for step in script {
        w.step(*step);
    }
    w
}

impl World {
    fn derive(&self, events: &[VerifiedEvent]) -> GroupState {
        GroupState::derive(&net(), self.group, events)
    }

    fn key_of(&self) -> HashMap<PublicKey, usize> {
        self.authors
            .iter()
            .enumerate()
            .map(|(i, a)| (a.key, i))
            .collect()
    }

    fn describe(&self) -> String {
        let advs: Vec<String> = self
            .advs
            .iter()
            .map(|a| format!("{} (admin: {})", a.who, a.admin))
            .collect();
        format!(
            "{} authors, seniors {:?}, adversaries [{}], {} events\n  {}",
            self.authors.len(),
            self.seniors,
            advs.join(", "),
            self.events.len(),
            self.log.join("\n  ")
        )
    }
}

fn rejected(s: &GroupState) -> HashSet<EventId> {
    s.rejected.iter().map(|(id, _)| *id).collect()
}

/// Which parts of two states differ (the states themselves are too large to print).
fn diff(a: &GroupState, b: &GroupState) -> String {
    let mut out = Vec::new();
    if a.members != b.members {
        out.push("members");
    }
    if a.removed != b.removed {
        out.push("removed");
    }
    if a.rejected != b.rejected {
        out.push("rejected");
    }
    if a.constitution != b.constitution {
        out.push("constitution");
    }
    if a.proposals != b.proposals {
        out.push("proposals");
    }
    if a.pending != b.pending {
        out.push("pending");
    }
    out.join(", ")
}

/// Delivery orders of the same set: a shuffle, a random causally valid (topological) order,
/// and a topological order with random duplicates mixed in.
fn orders(events: &[VerifiedEvent], seed: u64) -> Vec<(&'static str, Vec<VerifiedEvent>)> {
    let mut rng = Rng(seed | 1);
    let shuffled = shuffled(events, &mut rng);
    let topo = topological(events, &mut rng);
    assert_eq!(topo.len(), events.len(), "the generated set has a cycle");
    let mut dup = topo.clone();
    for _ in 0..1 + events.len() / 8 {
        let e = events[rng.next(events.len())].clone();
        let at = rng.next(dup.len() + 1);
        dup.insert(at, e);
    }
    vec![
        ("shuffled", shuffled),
        ("topological", topo),
        ("with duplicates", dup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// 1. Every delivery order (and duplicates) gives the same state.
    #[test]
    fn p1_any_delivery_order_gives_the_same_state(p in params(), seed in any::<u64>()) {
        let w = build(&p);
        let reference = w.derive(&w.events);
        for (name, order) in orders(&w.events, seed) {
            let other = w.derive(&order);
            prop_assert!(
                other == reference,
                "{} order gives a different state ({}):\n{}",
                name,
                diff(&reference, &other),
                w.describe()
            );
        }
    }

    /// 2. A removed member's events at or past its cut never count (joins only ask).
    #[test]
    fn p2_events_past_the_cut_never_count(p in params()) {
        let w = build(&p);
        let s = w.derive(&w.events);
        let bad = rejected(&s);
        let who = w.key_of();
        for (key, removal) in &s.removed {
            let Some(&m) = who.get(key) else { continue };
            for (i, meta) in w.meta.iter().enumerate() {
                if meta.author == m && meta.seq >= removal.cut && !meta.is_join {
                    prop_assert!(
                        bad.contains(&w.events[i].id()),
                        "#{} (seq {}) of {} accepted past its cut {}:\n{}",
                        i, meta.seq, m, removal.cut, w.describe()
                    );
                }
            }
        }
    }

    /// 3. Every accepted admission, removal, role change and amendment was written by an
    /// author holding the right at its causal point; a removed adversary stays removed.
    #[test]
    fn p3_nobody_without_the_right_changes_membership_or_rules(p in params()) {
        let w = build(&p);
        let s = w.derive(&w.events);
        let bad = rejected(&s);
        for (i, meta) in w.meta.iter().enumerate() {
            let Some(need) = meta.need else { continue };
            if bad.contains(&w.events[i].id()) {
                continue;
            }
            let at = &w.snaps[meta.past_len];
            let member = at.members.contains(&meta.author);
            let admin = member && at.admins.contains(&meta.author);
            let allowed = match need {
                Need::Admin => admin,
                Need::Admit => if at.vouches { member } else { admin },
            };
            prop_assert!(
                allowed,
                "#{} by {} accepted without the right ({:?}) at its causal point ({} chain events: {:?}):\n{}",
                i, meta.author, need, meta.past_len, at, w.describe()
            );
        }
        for adv in &w.advs {
            if adv.removed.is_some() {
                let key = w.authors[adv.who].key;
                prop_assert!(
                    !s.members.contains_key(&key),
                    "removed adversary {} is a member again:\n{}", adv.who, w.describe()
                );
                // (Whether a forked author still counts as a member to be removed is the fork
                // rule's business; that it is no member is asserted above.)
                prop_assert!(
                    adv.fork.is_some() || s.removed.contains_key(&key),
                    "adversary {}'s removal is not in force:\n{}", adv.who, w.describe()
                );
            }
        }
    }

    /// 4. Members admitted under `invite` stay members after the group moves to `vouches:2`.
    #[test]
    fn p4_rules_apply_forward(p in params()) {
        let w = build(&p);
        let s = w.derive(&w.events);
        if s.constitution.admission != Admission::Vouches(2) {
            return Ok(());
        }
        let bad = rejected(&s);
        let forked: BTreeSet<usize> = w.advs.iter().filter(|a| a.fork.is_some()).map(|a| a.who).collect();
        for (m, admission) in &w.invite_admitted {
            if bad.contains(&w.events[*admission].id())
                || w.removal_targets.contains(m)
                || forked.contains(m)
            {
                continue;
            }
            prop_assert!(
                s.members.contains_key(&w.authors[*m].key),
                "{} (admitted under invite by #{}) is no member under vouches:2:\n{}",
                m, admission, w.describe()
            );
        }
    }

    /// 5. A removal claiming to have seen less of the member than its own past holds must not
    /// void the events it cites: adding it to the set leaves them accepted, or it is rejected.
    #[test]
    fn p5_a_low_seen_does_not_void_what_the_remover_saw(p in params()) {
        let w = build(&p);
        if w.low_seen.is_empty() {
            return Ok(());
        }
        let s = w.derive(&w.events);
        let bad = rejected(&s);
        for low in w.low_seen.iter().take(2) {
            let removal = w.events[low.event].id();
            if bad.contains(&removal) {
                continue;
            }
            let without: Vec<VerifiedEvent> =
                w.events.iter().filter(|e| e.id() != removal).cloned().collect();
            let before = rejected(&w.derive(&without));
            for (i, meta) in w.meta.iter().enumerate() {
                let id = w.events[i].id();
                if meta.author == low.target && meta.seq < low.in_past && !before.contains(&id) {
                    prop_assert!(
                        !bad.contains(&id),
                        "removal #{} of {} (seen {} in past) voids #{} (seq {}) it cites:\n{}",
                        low.event, low.target, low.in_past, i, meta.seq, w.describe()
                    );
                }
            }
        }
    }

    /// 6. A forked author has no vote or authority from its fork on.
    #[test]
    fn p6_a_forked_author_is_frozen(p in params()) {
        let w = build(&p);
        let s = w.derive(&w.events);
        let bad = rejected(&s);
        for adv in &w.advs {
            let Some(f) = adv.fork else { continue };
            for (i, meta) in w.meta.iter().enumerate() {
                if meta.author == adv.who && meta.seq >= f {
                    prop_assert!(
                        bad.contains(&w.events[i].id()),
                        "#{} (seq {}) of {} accepted past its fork at seq {}:\n{}",
                        i, meta.seq, adv.who, f, w.describe()
                    );
                }
            }
            let key = w.authors[adv.who].key;
            for (pid, prop) in &s.proposals {
                if let Some(v) = prop.votes.get(&key) {
                    let seq = w.index.get(&v.event).map(|i| w.meta[*i].seq);
                    prop_assert!(
                        seq.is_some_and(|q| q < f),
                        "proposal {} counts {}'s vote at seq {:?}, past its fork at {}:\n{}",
                        pid, adv.who, seq, f, w.describe()
                    );
                }
            }
        }
    }

    /// 7. A senior removes an admin; the removed one's backdated, id-ground removal of its
    /// remover changes nothing, whatever the delivery order.
    #[test]
    fn p7_mutual_removal_the_senior_stays(p in params(), seed in any::<u64>()) {
        let w = build(&p);
        if w.mutual.is_empty() {
            return Ok(());
        }
        let mut reversed = w.events.clone();
        reversed.reverse();
        let (_, shuffled) = orders(&w.events, seed).swap_remove(0);
        for (name, order) in [("generated", &w.events), ("reversed", &reversed), ("shuffled", &shuffled)] {
            let s = w.derive(order);
            for m in &w.mutual {
                let (a, b) = (w.authors[m.a].key, w.authors[m.b].key);
                prop_assert!(
                    s.members.contains_key(&a) && !s.removed.contains_key(&a),
                    "{} order: senior {} is no member (counter-removal #{}; its removal of {} is #{}):\n{}",
                    name, m.a, m.b_removes, m.b, m.a_removes, w.describe()
                );
                let forked = w.advs.iter().any(|v| v.who == m.b && v.fork.is_some());
                prop_assert!(
                    !s.members.contains_key(&b) && (forked || s.removed.contains_key(&b)),
                    "{} order: {} is not removed (removal #{}):\n{}",
                    name, m.b, m.a_removes, w.describe()
                );
            }
        }
    }
}

/// The generator is not vacuous: over a deterministic sample, a fair share of cases has each
/// kind of attack the properties are about.
#[test]
fn the_generator_produces_every_attack() {
    let mut runner = TestRunner::deterministic();
    let strategy = params();
    let samples = 200;
    let mut with = Stats::default();
    for _ in 0..samples {
        let w = build(&strategy.new_tree(&mut runner).unwrap().current());
        let s = w.stats;
        let count = |n: usize| usize::from(n > 0);
        with.honest_removals += count(s.honest_removals);
        with.adversaries_removed += count(s.adversaries_removed);
        with.forks += count(s.forks);
        with.public_forks += count(s.public_forks);
        with.backdated += count(s.backdated);
        with.mutual += count(s.mutual);
        with.low_seen += count(s.low_seen);
        with.unauthorized += count(s.unauthorized);
        with.puppets += count(s.puppets);
        with.to_vouches += count(s.to_vouches);
        with.admissions += count(s.admissions);
        with.votes += count(s.votes);
        with.closes += count(s.closes);
    }
    let share = |n: usize| n * 100 / samples;
    for (what, n) in [
        ("honest removals", with.honest_removals),
        ("removed adversaries", with.adversaries_removed),
        ("forks", with.forks),
        ("public forks", with.public_forks),
        ("backdated events", with.backdated),
        ("mutual removals", with.mutual),
        ("low seen removals", with.low_seen),
        ("unauthorized attempts", with.unauthorized),
        ("sock puppets", with.puppets),
        ("amendments to vouches:2", with.to_vouches),
        ("admissions", with.admissions),
        ("votes", with.votes),
        ("closes", with.closes),
    ] {
        assert!(
            share(n) >= 15,
            "only {}% of cases have {what}: {with:?}",
            share(n)
        );
    }
}
