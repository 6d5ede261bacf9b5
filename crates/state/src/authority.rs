//! The record of authority: every accepted control event (admissions, removals, role changes,
//! constitutions, invites, joins, decision markers) with the set of control events in its
//! causal past.
//!
//! It exists so that every domain can ask "at this event's causal point, was X a member, did X
//! hold role R, which constitution was in force" without reading another domain's internals.
//! Only the pass writes it (with the acts that membership judges and that decisions enact);
//! domains read it through [`Authority`]'s queries and the [`Cx`] of the event they judge.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use dualpower_core::payload::{Admission, Constitution, Rule};
use dualpower_core::{EventId, GroupId, NetworkId, PublicKey};

use crate::graph::Graph;
use crate::refusal::Refusal;

/// Bits over control events: "which control events are in this event's past".
///
/// An event's past holds nearly every control event before it: all but the few still
/// concurrent with it. So the set is kept as a run of full words (`base`: every control event
/// below `64 * base` is in it) and explicit words after that. Copying, merging and comparing
/// cost the length of that tail, not the number of control events in the group. The form is
/// normal: the first explicit word is never full, and the last is never empty.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub(crate) struct Bits {
    /// Words, from the start, whose every bit is set.
    base: usize,
    /// Word `base + j` is `words[j]`.
    words: Vec<u64>,
}

impl Bits {
    /// Word `w` of the set.
    fn word(&self, w: usize) -> u64 {
        if w < self.base {
            u64::MAX
        } else {
            self.words.get(w - self.base).copied().unwrap_or(0)
        }
    }

    /// Restores the normal form.
    fn normalize(&mut self) {
        let full = self.words.iter().take_while(|w| **w == u64::MAX).count();
        if full > 0 {
            self.words.drain(..full);
            self.base += full;
        }
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    /// Whether control event `i` is in the run of full words (so surely in the set).
    pub(crate) fn below_base(&self, i: usize) -> bool {
        i / 64 < self.base
    }

    /// Whether control event `i` is in the set.
    pub(crate) fn has(&self, i: usize) -> bool {
        self.word(i / 64) >> (i % 64) & 1 == 1
    }

    pub(crate) fn set(&mut self, i: usize) {
        let w = i / 64;
        if w < self.base {
            return;
        }
        if self.words.len() <= w - self.base {
            self.words.resize(w - self.base + 1, 0);
        }
        self.words[w - self.base] |= 1 << (i % 64);
        self.normalize();
    }

    fn covers(&self, other: &Bits) -> bool {
        // In normal form, a shorter run of full words has a word `other` fills and `self` not.
        self.base >= other.base
            && other
                .words
                .iter()
                .enumerate()
                .all(|(j, w)| self.word(other.base + j) & w == *w)
    }

    /// Adds every member of `other`.
    fn merge(&mut self, other: &Bits) {
        let base = self.base.max(other.base);
        let end = (self.base + self.words.len()).max(other.base + other.words.len());
        let words = (base..end).map(|w| self.word(w) | other.word(w)).collect();
        self.base = base;
        self.words = words;
        self.normalize();
    }

    /// The union of the parents' sets, sharing the largest one where it already covers the rest.
    pub(crate) fn union(parts: &[Arc<Bits>]) -> Arc<Bits> {
        let Some(mut best) = parts
            .iter()
            .max_by_key(|b| (b.base, b.words.len()))
            .cloned()
        else {
            return Arc::new(Bits::default());
        };
        for p in parts {
            if !best.covers(p) {
                Arc::make_mut(&mut best).merge(p);
            }
        }
        best
    }

    /// Every control event `0..n`.
    pub(crate) fn all(n: usize) -> Bits {
        let mut b = Bits {
            base: n / 64,
            words: Vec::new(),
        };
        for i in (n / 64) * 64..n {
            b.set(i);
        }
        b
    }
}

/// What an accepted control event did, kept for queries at later points.
#[derive(Clone, Debug)]
pub(crate) enum Act {
    /// Admits `member` (a vouch under `vouches:k`). `complete` says whether, under the rules in
    /// force at the admission's own point, it made `member` a member: rules apply forward, so a
    /// later change of the admission rule never undoes it.
    Admit {
        member: PublicKey,
        by: PublicKey,
        invite: Option<EventId>,
        complete: bool,
    },
    /// Ends `member`'s membership (removal, leave, or removal by decision); its events from
    /// seq `cut` on are void unless it is re-admitted. `decided` marks a removal by vote.
    Remove {
        member: PublicKey,
        by: PublicKey,
        cut: u64,
        reason: String,
        decided: bool,
    },
    /// Grants or revokes a role.
    Role {
        member: PublicKey,
        role: String,
        grant: bool,
    },
    /// Puts a constitution in force.
    Constitution(Box<Constitution>),
    /// An invite: its expiry and uses.
    Invite { expires: u64, uses: u64 },
    /// A join request by `member` with `invite`.
    Join { member: PublicKey, invite: EventId },
    /// A decision marker (proposal, revision, opening, withdrawal, close): only needs "is it in
    /// the past" queries.
    Marker,
    /// Tasks created by the close of `proposal` (a proposal whose action creates tasks).
    Tasks {
        /// The proposal.
        proposal: EventId,
        /// The tasks.
        specs: Vec<dualpower_core::work::TaskSpec>,
    },
    /// A credit limit set by a passed proposal.
    Limit { member: PublicKey, limit: u64 },
    /// The group's ledger linked to (or, with no bridges, unlinked from) `group`'s, by a passed
    /// proposal or a holder of the `credit.limits` rule.
    Link {
        group: dualpower_core::GroupId,
        terms: dualpower_core::ledger::LinkTerms,
    },
    /// The commons account pays `to` (up to `amount`: what it holds), by a passed proposal or
    /// a holder of the `credit.limits` rule.
    Grant {
        to: PublicKey,
        amount: u64,
        memo: String,
    },
    /// A sortition drew `member` (none: nobody revealed) for `term` of the rotating `role`,
    /// holding it from group time `start` until `end` (ms); `reveals` is how many secrets the
    /// draw counted.
    Term {
        role: String,
        term: u64,
        member: Option<PublicKey>,
        start: u64,
        end: u64,
        reveals: u64,
    },
}

/// One accepted control event.
pub(crate) struct Ctrl {
    pub(crate) id: EventId,
    pub(crate) act: Act,
    /// Control events strictly before this one.
    pub(crate) past: Arc<Bits>,
}

/// The control events judged so far and the queries every rule needs over them.
#[derive(Default)]
pub(crate) struct Authority {
    pub(crate) ctrls: Vec<Ctrl>,
    pub(crate) admits: HashMap<PublicKey, Vec<usize>>,
    pub(crate) removes: HashMap<PublicKey, Vec<usize>>,
    roles: HashMap<(PublicKey, String), Vec<usize>>,
    constitutions: Vec<usize>,
    by_id: HashMap<EventId, usize>,
    pub(crate) joins: HashMap<PublicKey, Vec<usize>>,
    invite_admits: HashMap<EventId, Vec<usize>>,
    /// Term acts by role.
    terms: HashMap<String, Vec<usize>>,
    /// Link acts by linked group.
    links: HashMap<dualpower_core::GroupId, Vec<usize>>,
    pub(crate) genesis_constitution: Constitution,
    /// Everyone ever admitted or removed, in key order, with their admissions and removals (the
    /// same as `admits` and `removes`): every certificate lists its electorate in this order.
    roster: BTreeMap<PublicKey, Roster>,
    /// Control indices of every admission and removal, in order.
    member_acts: Vec<usize>,
    /// Members at any point that holds every one of `member_acts`; reset when one is added.
    members_now: OnceCell<Vec<PublicKey>>,
}

/// One member's admissions and removals, in causal order.
#[derive(Default)]
struct Roster {
    admits: Vec<usize>,
    removes: Vec<usize>,
}

impl Authority {
    /// Who was a member at `at`, in key order: [`Authority::is_member`] of everyone ever
    /// admitted, read from the roster so a certificate's electorate costs no lookups by key.
    ///
    /// Where `at` holds every admission and removal so far (as the points of most closes do),
    /// the answer is the same for all of them and is computed once.
    pub(crate) fn members_at<'a>(&'a self, at: &'a Bits) -> Cow<'a, [PublicKey]> {
        let holds_all = self
            .member_acts
            .iter()
            .rev()
            .take_while(|i| !at.below_base(**i))
            .all(|i| at.has(*i));
        if holds_all {
            let all = self.members_now.get_or_init(|| {
                self.scan_members(&Bits::all(self.ctrls.len()))
                    .copied()
                    .collect()
            });
            Cow::Borrowed(all.as_slice())
        } else {
            Cow::Owned(self.scan_members(at).copied().collect())
        }
    }

    /// [`Authority::members_at`], the long way.
    fn scan_members<'a>(&'a self, at: &'a Bits) -> impl Iterator<Item = &'a PublicKey> {
        self.roster.iter().filter_map(move |(who, r)| {
            let live = r.admits.iter().filter(|a| at.has(**a)).any(|a| {
                matches!(self.ctrls[*a].act, Act::Admit { complete: true, .. })
                    && r.removes
                        .iter()
                        .filter(|x| at.has(**x))
                        .all(|x| self.ctrls[*a].past.has(*x))
            });
            live.then_some(who)
        })
    }

    /// The control index of an accepted control event.
    pub(crate) fn index_of(&self, id: &EventId) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The constitution in force at `at`: the latest (in causal order) constitution in `at`.
    pub(crate) fn constitution_at(&self, at: &Bits) -> &Constitution {
        match self.constitutions.iter().rev().find(|i| at.has(**i)) {
            Some(i) => match &self.ctrls[*i].act {
                Act::Constitution(c) => c,
                _ => &self.genesis_constitution,
            },
            None => &self.genesis_constitution,
        }
    }

    /// Admissions of `who` in `at` not undone by a removal in `at` outside their own past
    /// (removal wins over a concurrent admission).
    pub(crate) fn live_admissions<'a>(
        &'a self,
        who: &PublicKey,
        at: &'a Bits,
    ) -> impl Iterator<Item = usize> + 'a {
        let removes = self.removes.get(who);
        self.admits
            .get(who)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |a| at.has(*a))
            .filter(move |a| {
                removes
                    .into_iter()
                    .flatten()
                    .filter(|r| at.has(**r))
                    .all(|r| self.ctrls[*a].past.has(*r))
            })
    }

    /// Whether `who` was a member at `at`: a live admission that was complete when it was made.
    pub(crate) fn is_member(&self, who: &PublicKey, at: &Bits) -> bool {
        self.live_admissions(who, at)
            .any(|a| matches!(self.ctrls[a].act, Act::Admit { complete: true, .. }))
    }

    /// Who vouched for `who` in live admissions at `at`.
    pub(crate) fn vouchers(&self, who: &PublicKey, at: &Bits) -> Vec<PublicKey> {
        let mut v: Vec<PublicKey> = self
            .live_admissions(who, at)
            .filter_map(|a| match &self.ctrls[a].act {
                Act::Admit { by, .. } => Some(*by),
                _ => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether an admission of `member` by `by` at the point `past` would complete it, under
    /// the admission rule in force there.
    pub(crate) fn completes(&self, member: &PublicKey, by: &PublicKey, past: &Bits) -> bool {
        let needed = match self.constitution_at(past).admission {
            Admission::Vouches(k) => k,
            Admission::Invite | Admission::Vote => 1,
        };
        let mut vouchers = self.vouchers(member, past);
        if let Err(i) = vouchers.binary_search(by) {
            vouchers.insert(i, *by);
        }
        vouchers.len() as u64 >= needed
    }

    /// Whether `who` held `role` at `at` (a revoke concurrent with a grant wins).
    pub(crate) fn has_role(&self, who: &PublicKey, role: &str, at: &Bits) -> bool {
        let Some(events) = self.roles.get(&(*who, role.to_owned())) else {
            return false;
        };
        // A removal of the member ends its roles: a grant counts only if every removal of the
        // member at `at` is in the grant's own past (a re-admitted member starts without).
        let removals = self.removes.get(who);
        events.iter().any(|g| {
            at.has(*g)
                && matches!(self.ctrls[*g].act, Act::Role { grant: true, .. })
                && events.iter().all(|r| {
                    !at.has(*r)
                        || matches!(self.ctrls[*r].act, Act::Role { grant: true, .. })
                        || self.ctrls[*g].past.has(*r)
                })
                && removals
                    .into_iter()
                    .flatten()
                    .filter(|r| at.has(**r))
                    .all(|r| self.ctrls[*g].past.has(*r))
        })
    }

    /// The drawn terms of `role` at `at`: per term, the draw that counts (of crossing draws,
    /// the one that counted the most reveals, then the smaller winner key; never an id or a
    /// time) as (holder, start, end) in group time.
    fn terms_at(&self, role: &str, at: &Bits) -> BTreeMap<u64, (Option<PublicKey>, u64, u64)> {
        let mut best: BTreeMap<u64, (u64, Option<PublicKey>, u64, u64)> = BTreeMap::new();
        for i in self.terms.get(role).into_iter().flatten() {
            if !at.has(*i) {
                continue;
            }
            if let Act::Term {
                term,
                member,
                start,
                end,
                reveals,
                ..
            } = &self.ctrls[*i].act
            {
                let better = best.get(term).is_none_or(|(n, m, _, _)| {
                    (*reveals, std::cmp::Reverse(*member)) > (*n, std::cmp::Reverse(*m))
                });
                if better {
                    best.insert(*term, (*reveals, *member, *start, *end));
                }
            }
        }
        best.into_iter()
            .map(|(t, (_, m, s, e))| (t, (m, s, e)))
            .collect()
    }

    /// The link to `group` in force at `at`: the terms of the last link act there, with the
    /// index of the act that opened the current run of open terms (changing the terms keeps
    /// it; closing and reopening starts a new one). None: never linked, or closed.
    pub(crate) fn link_at(
        &self,
        group: &dualpower_core::GroupId,
        at: &Bits,
    ) -> Option<(usize, &dualpower_core::ledger::LinkTerms)> {
        let mut open: Option<(usize, &dualpower_core::ledger::LinkTerms)> = None;
        for &i in self.links.get(group)? {
            let Act::Link { terms, .. } = &self.ctrls[i].act else {
                continue;
            };
            if !at.has(i) {
                continue;
            }
            open = if terms.bridges.is_empty() {
                None
            } else {
                Some((open.map_or(i, |(o, _)| o), terms))
            };
        }
        open
    }

    /// The term of `role` members volunteer for next at `at`.
    pub(crate) fn next_term(&self, role: &str, at: &Bits) -> u64 {
        self.terms_at(role, at)
            .last_key_value()
            .map_or(0, |(t, _)| t + 1)
    }

    /// Who was drawn for `term` of `role`, as seen at `at`.
    pub(crate) fn term_winner(&self, role: &str, term: u64, at: &Bits) -> Option<PublicKey> {
        self.terms_at(role, at).get(&term).and_then(|(m, _, _)| *m)
    }

    /// When the latest drawn term of `role` seen at `at` ends (group time, ms).
    pub(crate) fn term_end(&self, role: &str, at: &Bits) -> Option<u64> {
        self.terms_at(role, at)
            .last_key_value()
            .map(|(_, (_, _, e))| *e)
    }

    /// The holder of `role` by draw at `at` when the group time is `now`: of the terms that
    /// have started and not ended, the latest; with its term and end.
    pub(crate) fn term_holder(
        &self,
        role: &str,
        at: &Bits,
        now: u64,
    ) -> Option<(PublicKey, u64, u64)> {
        self.terms_at(role, at)
            .into_iter()
            .rev()
            .find(|(_, (_, s, e))| *s <= now && now < *e)
            .and_then(|(t, (m, _, e))| m.map(|m| (m, t, e)))
    }

    /// Whether `who` holds `role` by draw at `at`: its own clock `own` must be before the
    /// term's end (checked first, so an expired holder costs no walk), and so must the group
    /// time `now()`.
    fn holds_drawn(
        &self,
        who: &PublicKey,
        role: &str,
        at: &Bits,
        own: u64,
        now: &dyn Fn() -> u64,
    ) -> bool {
        let terms = self.terms_at(role, at);
        if !terms.values().any(|(m, _, e)| *m == Some(*who) && own < *e) {
            return false;
        }
        let now = now();
        terms
            .into_iter()
            .rev()
            .find(|(_, (_, s, e))| *s <= now && now < *e)
            .is_some_and(|(_, (m, _, _))| m == Some(*who))
    }

    /// The earliest grant of `role` to `who` (control index), for seniority.
    pub(crate) fn first_grant(&self, who: &PublicKey, role: &str) -> Option<usize> {
        self.roles
            .get(&(*who, role.to_owned()))?
            .iter()
            .copied()
            .find(|g| matches!(self.ctrls[*g].act, Act::Role { grant: true, .. }))
    }

    /// Checks that `who` may do `action` under `rule` at `at`.
    ///
    /// A role drawn by sortition counts while its term runs, by the holder's own clock (`own`)
    /// and by the group time at the point (`now`, asked only when `who` is a drawn holder).
    pub(crate) fn check(
        &self,
        action: &'static str,
        rule: &Rule,
        who: &PublicKey,
        at: &Bits,
        own: u64,
        now: &dyn Fn() -> u64,
    ) -> Result<(), Refusal> {
        if matches!(rule, Rule::Vote) {
            return Err(Refusal::NeedsDecision(action));
        }
        if !self.is_member(who, at) {
            return Err(Refusal::NotMember(*who));
        }
        let drawn = |r: &str| self.holds_drawn(who, r, at, own, now);
        match rule {
            Rule::Role(r) if !self.has_role(who, r, at) && !drawn(r) => Err(Refusal::NoRight {
                action,
                rule: rule.to_text(),
            }),
            _ => Ok(()),
        }
    }

    /// The join event `join` by `member`, if it is in `at`: its invite.
    pub(crate) fn join_in(&self, join: &EventId, member: &PublicKey, at: &Bits) -> Option<EventId> {
        let i = self.index_of(join)?;
        match &self.ctrls[i].act {
            Act::Join { member: m, invite } if m == member && at.has(i) => Some(*invite),
            _ => None,
        }
    }

    /// Distinct members other than `except` admitted with `invite` by admissions in `at`.
    pub(crate) fn invite_uses(&self, invite: &EventId, except: &PublicKey, at: &Bits) -> u64 {
        let mut used: Vec<PublicKey> = self
            .invite_admits
            .get(invite)
            .into_iter()
            .flatten()
            .filter(|a| at.has(**a))
            .filter_map(|a| match &self.ctrls[*a].act {
                Act::Admit { member, .. } if member != except => Some(*member),
                _ => None,
            })
            .collect();
        used.sort();
        used.dedup();
        used.len() as u64
    }

    /// Records an accepted control event; returns its index.
    pub(crate) fn push(&mut self, id: EventId, act: Act, past: Arc<Bits>) -> usize {
        let i = self.ctrls.len();
        match &act {
            Act::Admit { member, invite, .. } => {
                self.roster.entry(*member).or_default().admits.push(i);
                self.member_acts.push(i);
                self.members_now = OnceCell::new();
                self.admits.entry(*member).or_default().push(i);
                if let Some(inv) = invite {
                    self.invite_admits.entry(*inv).or_default().push(i);
                }
            }
            Act::Remove { member, .. } => {
                self.roster.entry(*member).or_default().removes.push(i);
                self.member_acts.push(i);
                self.members_now = OnceCell::new();
                self.removes.entry(*member).or_default().push(i);
            }
            Act::Role { member, role, .. } => self
                .roles
                .entry((*member, role.clone()))
                .or_default()
                .push(i),
            Act::Constitution(_) => self.constitutions.push(i),
            Act::Join { member, .. } => self.joins.entry(*member).or_default().push(i),
            Act::Term { role, .. } => self.terms.entry(role.clone()).or_default().push(i),
            Act::Link { group, .. } => self.links.entry(*group).or_default().push(i),
            Act::Invite { .. }
            | Act::Marker
            | Act::Tasks { .. }
            | Act::Limit { .. }
            | Act::Grant { .. } => {}
        }
        self.by_id.entry(id).or_insert(i);
        self.ctrls.push(Ctrl { id, act, past });
        i
    }
}

/// What a domain knows of the event it judges: the event itself and the read-only view of its
/// causal point.
pub(crate) struct Cx<'a> {
    /// The authority record as of this point in the pass.
    pub auth: &'a Authority,
    /// Control events in the event's causal past.
    pub past: &'a Bits,
    /// The group's event graph (ancestors, authors, seqs).
    pub graph: &'a Graph,
    /// The network (for join proofs).
    pub network: &'a NetworkId,
    /// The group.
    pub group: GroupId,
    /// The event.
    pub id: EventId,
    /// Its author.
    pub author: PublicKey,
    /// Its seq in the author's log.
    pub seq: u64,
    /// Its claimed timestamp (advisory).
    pub timestamp: u64,
    /// Its position in the causal order.
    pub position: usize,
    /// The cuts that stand (member → lowest cut), as settled for this pass.
    pub cuts: &'a std::collections::BTreeMap<PublicKey, u64>,
}

impl Cx<'_> {
    /// Whether an event of `m` is void whatever its payload: at or past its author's fork, or
    /// at or past a cut that stands.
    pub(crate) fn void(&self, m: &crate::graph::Meta) -> bool {
        m.log != 0
            || self.graph.forks.get(&m.author).is_some_and(|f| m.seq >= *f)
            || self.cuts.get(&m.author).is_some_and(|c| m.seq >= *c)
    }

    /// Whether the event's author may do `action` under `rule` here.
    pub(crate) fn check(&self, action: &'static str, rule: &Rule) -> Result<(), Refusal> {
        self.auth.check(
            action,
            rule,
            &self.author,
            self.past,
            self.timestamp,
            &|| crate::work::group_time(self),
        )
    }

    /// Whether `who` was a member here.
    pub(crate) fn is_member(&self, who: &PublicKey) -> bool {
        self.auth.is_member(who, self.past)
    }

    /// The constitution in force here.
    pub(crate) fn constitution(&self) -> &Constitution {
        self.auth.constitution_at(self.past)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::Bits;

    fn of(set: &BTreeSet<usize>) -> Bits {
        let mut b = Bits::default();
        for i in set {
            b.set(*i);
        }
        b
    }

    proptest! {
        /// The compressed form answers, merges and compares like a plain set of indices.
        #[test]
        fn bits_behave_as_a_set(
            sets in prop::collection::vec(prop::collection::btree_set(0usize..400, 0..300), 1..4),
            full in prop::collection::vec(0usize..300, 1..4),
        ) {
            // Dense prefixes, like real pasts, plus scattered bits.
            let sets: Vec<BTreeSet<usize>> = sets
                .into_iter()
                .zip(full.iter().cycle())
                .map(|(mut s, f)| {
                    s.extend(0..*f);
                    s
                })
                .collect();
            let bits: Vec<Arc<Bits>> = sets.iter().map(|s| Arc::new(of(s))).collect();
            for (s, b) in sets.iter().zip(&bits) {
                for i in 0..450 {
                    prop_assert_eq!(b.has(i), s.contains(&i));
                }
                prop_assert_eq!(&**b, &of(s), "one normal form per set");
            }
            let union: BTreeSet<usize> = sets.iter().flatten().copied().collect();
            let u = Bits::union(&bits);
            prop_assert_eq!(&*u, &of(&union));
            for (s, b) in sets.iter().zip(&bits) {
                prop_assert_eq!(u.covers(b), true);
                prop_assert_eq!(b.covers(&u), s == &union);
            }
            let all = Bits::all(full[0]);
            prop_assert_eq!(all, of(&(0..full[0]).collect()));
        }
    }
}
