//! The work domain: tasks and their peer-confirmed completion, rotating roles drawn by
//! verifiable sortition, mediation, vouches, and the receipts that are reputation's only input.
//!
//! It exists so that a decision becomes work that can be checked: every step is an event judged
//! at its causal point like every other, and what counts towards reputation is only what other
//! members co-signed. Rules, each enforced here and tested in `tests/work.rs`:
//!
//! - **Tasks** exist from the event that created them (a direct [`Work::Tasks`] under the rule
//!   `work.tasks`, or the close of a proposal whose action it is). A claim needs a free slot and
//!   the task in its past; claims that cross for the last slot are decided by the causal order.
//! - **Completion** counts once `work.confirmations` other members confirmed a `Done` in their
//!   past. Nobody confirms their own work or confirms twice. A dispute opens a mediation case;
//!   the completion then counts only after an agreed outcome that lets it stand.
//! - **Sortition** (roles and mediators): volunteers commit to a secret, a member closes the list
//!   (blind: commitments hide the secrets), volunteers reveal, and a draw picks by a seed that is
//!   the hash of the revealed secrets only — never an event id, a timestamp or anything the last
//!   to act chooses freely. A volunteer who does not reveal drops out, visibly; the draw waits
//!   for every reveal or for the reveal window to pass in the group's time.
//! - **Group time** at an event is the median, over the members with an event in its past, of
//!   their latest claimed timestamp there: one member's clock (early or late) moves it only as
//!   far as the middle member's.
//! - **Terms**: a drawn holder holds the role, with its rights, from the draw until the term's
//!   length has passed in group time, with nobody having to act.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dualpower_core::work::{
    Pool, Rotation, Settlement, TaskRef, TaskSpec, Work, commitment, pool_bytes,
};
use dualpower_core::{EventId, GroupId, Payload, PublicKey};

use crate::authority::{Act, Authority, Bits, Cx};
use crate::domain::{Domain, Effect};
use crate::refusal::Refusal;

/// Milliseconds in a day and an hour (timestamps are ms).
const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;

/// Whether the work domain judges `p`.
pub fn owns(p: &Payload) -> bool {
    matches!(p, Payload::Work(_))
}

fn no(act: &'static str, why: impl Into<String>) -> Refusal {
    Refusal::Work {
        act,
        why: why.into(),
    }
}

/// One member's slot on a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The event that gave it (claim or handover).
    pub since: EventId,
    /// The `Done` event and its note, once marked done.
    pub done: Option<(EventId, String)>,
    /// Who confirmed, with the confirming event.
    pub confirmed: BTreeMap<PublicKey, EventId>,
    /// Disputes of this completion (case ids).
    pub disputes: Vec<EventId>,
}

/// A task as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// What it is.
    pub spec: TaskSpec,
    /// Who created it (the closer, for a task by decision).
    pub creator: PublicKey,
    /// The proposal whose close created it, if any.
    pub proposal: Option<EventId>,
    /// Claimed time of the creating event (ms).
    pub created_at: u64,
    /// Current slots by holder.
    pub slots: BTreeMap<PublicKey, Slot>,
    /// Completions that count: worker → the confirmers that made it count.
    pub completed: BTreeMap<PublicKey, Vec<PublicKey>>,
}

impl Task {
    /// Open slots.
    pub fn free(&self) -> u64 {
        self.spec.slots.saturating_sub(self.slots.len() as u64)
    }

    /// Whether it is past due at `now` (ms) and not every slot has counted as done.
    pub fn overdue(&self, now: u64) -> bool {
        self.spec.due > 0 && now > self.spec.due && (self.completed.len() as u64) < self.spec.slots
    }
}

/// A sortition as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Draw {
    /// Volunteers (in key order) with their commitments.
    pub volunteers: BTreeMap<PublicKey, [u8; 32]>,
    /// Whether a member closed the list.
    pub closed: bool,
    /// Group time (ms) at the earliest close: the reveal window runs from there.
    pub closed_at: u64,
    /// Who closed the list (their nodes draw once the reveals are in).
    pub closers: BTreeSet<PublicKey>,
    /// Volunteers on the closed list (as the counting draw saw it, once drawn).
    pub listed: BTreeSet<PublicKey>,
    /// Every volunteer who revealed a valid secret.
    pub reveals: BTreeSet<PublicKey>,
    /// The reveals the counting draw counted.
    pub revealed: BTreeSet<PublicKey>,
    /// The drawn member (`None` with `drawn` set: nobody revealed, the seat stays empty).
    pub winner: Option<PublicKey>,
    /// The draw event that counts.
    pub drawn: Option<EventId>,
    /// The seed the draw used (hex in views), so anyone can recompute it.
    pub seed: Option<[u8; 32]>,
    /// Group time (ms) when the drawn term starts: the draw, or the end of the term before if
    /// that is later.
    pub at: u64,
}

impl Draw {
    /// Listed volunteers who did not reveal in time (dropped out): known once drawn.
    pub fn withheld(&self) -> Vec<PublicKey> {
        if self.drawn.is_none() {
            return Vec::new();
        }
        self.listed.difference(&self.revealed).copied().collect()
    }

    /// Listed volunteers the draw still waits for (their reveal is not in yet).
    pub fn waiting(&self) -> Vec<PublicKey> {
        if self.drawn.is_some() {
            return Vec::new();
        }
        self.listed.difference(&self.reveals).copied().collect()
    }
}

/// A mediation case as of the whole set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The parties.
    pub parties: BTreeSet<PublicKey>,
    /// What it is about.
    pub about: String,
    /// The disputed completion (task, worker), for a dispute.
    pub dispute: Option<(TaskRef, PublicKey)>,
    /// The mediator's outcome: event, settlement, text.
    pub outcome: Option<(EventId, Settlement, String)>,
    /// Parties who agreed to the outcome.
    pub agreed: BTreeSet<PublicKey>,
}

impl Case {
    /// Whether every party co-signed an agreed outcome.
    pub fn settled(&self) -> Option<Settlement> {
        let (_, s, _) = self.outcome.as_ref()?;
        match s {
            Settlement::NoAgreement => Some(Settlement::NoAgreement),
            _ if self.agreed == self.parties => Some(*s),
            _ => None,
        }
    }
}

/// A receipt: a co-signed fact that `from` vouches for `to`'s work in `domain`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Receipt {
    /// The domain.
    pub domain: String,
    /// Who co-signed (whose trust flows).
    pub from: PublicKey,
    /// Who earned it.
    pub to: PublicKey,
    /// Group time when it counted (ms).
    pub at: u64,
    /// What it is for: `task`, `mediation` or `vouch`.
    pub what: &'static str,
    /// The event that made it count.
    pub event: EventId,
}

/// The work part of a group's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkState {
    /// Tasks.
    pub tasks: BTreeMap<TaskRef, Task>,
    /// Sortitions by pool.
    pub draws: BTreeMap<Pool, Draw>,
    /// Mediation cases by their request or dispute event.
    pub cases: BTreeMap<EventId, Case>,
    /// Every receipt, in causal order of the events that made them count.
    pub receipts: Vec<Receipt>,
    /// Group time as of the whole set (ms).
    pub now: u64,
    /// Rotating roles' drawn holders whose term runs at `now`: role → (holder, term, end).
    pub holders: BTreeMap<String, (PublicKey, u64, u64)>,
}

/// A member's reputation in one domain: its share of the domain's trust and the largest
/// contributions to it.
pub type Score = dualpower_reputation::Score<PublicKey>;

/// Reputation per domain, per member.
pub type Reputation = BTreeMap<String, BTreeMap<PublicKey, Score>>;

/// A whole share of trust in [`Score::share`] (fixed point).
pub const ONE: u64 = dualpower_reputation::ONE;

impl WorkState {
    /// Reputation per domain as of the whole set: EigenTrust-style from the seeds the rules
    /// name (the group's creator if they name none), over the receipts only, with diminishing
    /// returns per pair, decay by `rules.half_life_days` in group time, and a fixed number of
    /// iterations. Removed members' receipts still count for others (their confirmations were
    /// valid when written); what they earned is shown only if the caller asks for them.
    pub fn reputation(
        &self,
        rules: &dualpower_core::work::WorkRules,
        creator: Option<PublicKey>,
    ) -> BTreeMap<String, BTreeMap<PublicKey, Score>> {
        self.reputation_of(&[], rules, creator)
    }

    /// [`WorkState::reputation`] counting `more` receipts too (those of mutual aid).
    pub fn reputation_of(
        &self,
        more: &[Receipt],
        rules: &dualpower_core::work::WorkRules,
        creator: Option<PublicKey>,
    ) -> BTreeMap<String, BTreeMap<PublicKey, Score>> {
        let seeds: BTreeSet<PublicKey> = if rules.seeds.is_empty() {
            creator.into_iter().collect()
        } else {
            rules.seeds.iter().copied().collect()
        };
        let mut params = dualpower_reputation::Params::with_seeds(seeds);
        params.half_life = rules.half_life_days.saturating_mul(DAY_MS);
        let receipts: Vec<dualpower_reputation::Receipt<PublicKey>> = self
            .receipts
            .iter()
            .chain(more)
            .map(|r| dualpower_reputation::Receipt {
                domain: r.domain.clone(),
                from: r.from,
                to: r.to,
                // A receipt dated after the group's time counts as of the group's time.
                at: r.at.min(self.now),
                weight: dualpower_reputation::ONE,
            })
            .collect();
        // The parameters are the defaults with a half-life, which `compute` always accepts.
        dualpower_reputation::compute(&receipts, &params, self.now).unwrap_or_default()
    }

    /// The drawn holder of `role`'s latest term and when it ends (ms), as of the whole set.
    pub fn term_holder(&self, role: &str, term_days: u64) -> Option<(u64, PublicKey, u64)> {
        self.draws
            .iter()
            .filter_map(|(p, d)| match p {
                Pool::Term { role: r, term } if r == role && d.drawn.is_some() => Some((*term, d)),
                _ => None,
            })
            .max_by_key(|(t, _)| *t)
            .and_then(|(t, d)| {
                d.winner
                    .map(|w| (t, w, d.at.saturating_add(term_days.saturating_mul(DAY_MS))))
            })
    }

    /// The term members may volunteer for next (after the latest drawn one).
    pub fn next_term(&self, role: &str) -> u64 {
        self.draws
            .iter()
            .filter_map(|(p, d)| match p {
                Pool::Term { role: r, term } if r == role && d.drawn.is_some() => Some(term + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// The work domain's record while the pass runs.
#[derive(Default)]
pub(crate) struct WorkBook {
    st: WorkState,
    /// Control bits of marker events (tasks, dones, volunteers, closes, reveals, draws, cases,
    /// outcomes), by event id, set by [`Domain::marked`].
    bits: HashMap<EventId, usize>,
    /// Per pool, the close-list events (ids) and the volunteer events (author → id).
    closes: HashMap<Pool, Vec<EventId>>,
    volunteer_events: HashMap<Pool, BTreeMap<PublicKey, EventId>>,
    reveal_events: HashMap<Pool, BTreeMap<PublicKey, ([u8; 32], EventId)>>,
    /// Draw events per pool (several may cross).
    draw_events: HashMap<Pool, Vec<(EventId, Option<PublicKey>, u64)>>,
    /// Outcome event → case.
    outcomes: HashMap<EventId, EventId>,
    /// Group time at each close-list event.
    close_time: HashMap<EventId, u64>,
    /// Confirmations a task's completions needed at its latest confirmation.
    need: HashMap<TaskRef, usize>,
    /// Latest claimed time of each author's accepted events.
    latest: HashMap<PublicKey, u64>,
    touched: bool,
}

impl WorkBook {
    fn in_past(&self, cx: &Cx<'_>, id: &EventId) -> bool {
        self.bits.get(id).is_some_and(|b| cx.past.has(*b))
    }

    /// Takes whether anything changed since the last call.
    pub(crate) fn take_touched(&mut self) -> bool {
        std::mem::take(&mut self.touched)
    }

    /// Notes an accepted event's author and claimed time, for group time as of the set.
    pub(crate) fn saw(&mut self, author: PublicKey, timestamp: u64) {
        let t = self.latest.entry(author).or_default();
        *t = (*t).max(timestamp);
    }

    /// The state so far; `now` is the group time over the members at `all`.
    pub(crate) fn view(&self, auth: &Authority, all: &Bits) -> WorkState {
        let mut st = self.st.clone();
        self.clock(auth, all, &mut st);
        st
    }

    /// Brings `st` (a view taken earlier) up to date: copies the domain's record only if
    /// something changed since the last call, and always sets the group time and the holders
    /// (every event moves the time). Keeps a refresh after an unrelated event cheap.
    pub(crate) fn refresh(&mut self, auth: &Authority, all: &Bits, st: &mut WorkState) {
        if self.take_touched() {
            *st = self.st.clone();
        }
        self.clock(auth, all, st);
    }

    fn clock(&self, auth: &Authority, all: &Bits, st: &mut WorkState) {
        let mut times: Vec<u64> = auth
            .members_at(all)
            .iter()
            .filter_map(|m| self.latest.get(m).copied())
            .collect();
        times.sort_unstable();
        st.now = times
            .get(times.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0);
        st.holders.clear();
        for rot in &auth.constitution_at(all).work.rotations {
            if let Some(h) = auth.term_holder(&rot.role, all, st.now) {
                st.holders.insert(rot.role.clone(), h);
            }
        }
    }

    /// Tasks created by the close `id` of `proposal` (the pass calls this for an enacted
    /// [`Act::Tasks`]).
    pub(crate) fn enacted(
        &mut self,
        id: EventId,
        author: PublicKey,
        at: u64,
        proposal: EventId,
        specs: &[TaskSpec],
        bit: usize,
    ) {
        self.create(id, author, at, Some(proposal), specs);
        self.bits.insert(id, bit);
    }

    fn create(
        &mut self,
        id: EventId,
        author: PublicKey,
        at: u64,
        proposal: Option<EventId>,
        specs: &[TaskSpec],
    ) {
        for (i, spec) in specs.iter().enumerate() {
            self.st.tasks.insert(
                TaskRef {
                    event: id,
                    index: i as u64,
                },
                Task {
                    spec: spec.clone(),
                    creator: author,
                    proposal,
                    created_at: at,
                    slots: BTreeMap::new(),
                    completed: BTreeMap::new(),
                },
            );
        }
        self.touched = true;
    }

    /// The task `t`, if its creating event is in the past of `cx`.
    fn task<'a>(
        &'a self,
        cx: &Cx<'_>,
        t: &TaskRef,
        act: &'static str,
    ) -> Result<&'a Task, Refusal> {
        match self.st.tasks.get(t) {
            Some(task) if self.in_past(cx, &t.event) => Ok(task),
            _ => Err(no(act, "no such task in the author's past")),
        }
    }

    fn task_mut(&mut self, t: &TaskRef) -> &mut Task {
        self.touched = true;
        self.st.tasks.get_mut(t).expect("checked by `task` first")
    }

    fn judge_work(&mut self, cx: &Cx<'_>, w: Work) -> Result<Effect, Refusal> {
        let name = w.name();
        match w {
            Work::Tasks(specs) => {
                cx.check("create tasks", &cx.constitution().work.tasks)?;
                let rules = &cx.constitution().work;
                if let Some(t) = specs.iter().find(|t| !rules.has_domain(&t.domain)) {
                    return Err(no(name, format!("the group has no domain `{}`", t.domain)));
                }
                self.create(cx.id, cx.author, cx.timestamp, None, &specs);
                Ok(Effect::act(Act::Marker))
            }
            Work::Claim(t) => {
                let task = self.task(cx, &t, name)?;
                if task.slots.contains_key(&cx.author) {
                    return Err(no(name, "the author holds a slot on this task already"));
                }
                if task.free() == 0 {
                    return Err(no(
                        name,
                        format!(
                            "the task is full ({} of {} slots taken)",
                            task.slots.len(),
                            task.spec.slots
                        ),
                    ));
                }
                self.task_mut(&t).slots.insert(cx.author, Slot::new(cx.id));
                Ok(Effect::None)
            }
            Work::Release(t) => {
                let task = self.task(cx, &t, name)?;
                holding(task, &cx.author, name)?;
                self.task_mut(&t).slots.remove(&cx.author);
                Ok(Effect::None)
            }
            Work::Handover { task: t, to } => {
                let task = self.task(cx, &t, name)?;
                holding(task, &cx.author, name)?;
                if to == cx.author {
                    return Err(no(name, "a handover goes to someone else"));
                }
                if !cx.is_member(&to) {
                    return Err(Refusal::TargetNotMember(to));
                }
                if task.slots.contains_key(&to) {
                    return Err(no(name, "the recipient holds a slot on this task already"));
                }
                let task = self.task_mut(&t);
                task.slots.remove(&cx.author);
                task.slots.insert(to, Slot::new(cx.id));
                Ok(Effect::None)
            }
            Work::Done { task: t, note } => {
                let task = self.task(cx, &t, name)?;
                holding(task, &cx.author, name)?;
                self.task_mut(&t)
                    .slots
                    .get_mut(&cx.author)
                    .expect("checked")
                    .done = Some((cx.id, note));
                Ok(Effect::act(Act::Marker))
            }
            Work::Confirm { task, worker } => self.confirm(cx, task, worker),
            Work::Dispute {
                task,
                worker,
                reason,
            } => self.dispute(cx, task, worker, reason),
            Work::Mediate { parties, about } => {
                if let Some(p) = parties.iter().find(|p| !cx.is_member(p)) {
                    return Err(Refusal::TargetNotMember(*p));
                }
                self.touched = true;
                self.st.cases.insert(
                    cx.id,
                    Case {
                        parties: parties.into_iter().collect(),
                        about,
                        dispute: None,
                        outcome: None,
                        agreed: BTreeSet::new(),
                    },
                );
                Ok(Effect::act(Act::Marker))
            }
            Work::Volunteer { pool, commit } => self.volunteer(cx, pool, commit),
            Work::CloseList(pool) => self.close_list(cx, pool),
            Work::Reveal { pool, secret } => self.reveal(cx, pool, secret),
            Work::Draw(pool) => self.draw(cx, pool),
            Work::Outcome {
                case,
                settlement,
                text,
            } => self.outcome(cx, case, settlement, text),
            Work::Agree { outcome } => self.agree(cx, outcome),
            Work::Vouch { member, domain } => {
                if member == cx.author {
                    return Err(no(name, "nobody vouches for themselves"));
                }
                if !cx.is_member(&member) {
                    return Err(Refusal::TargetNotMember(member));
                }
                if !cx.constitution().work.has_domain(&domain) {
                    return Err(no(name, format!("the group has no domain `{domain}`")));
                }
                self.receipt(domain, cx.author, member, cx.timestamp, "vouch", cx.id);
                Ok(Effect::None)
            }
        }
    }

    fn confirm(&mut self, cx: &Cx<'_>, t: TaskRef, worker: PublicKey) -> Result<Effect, Refusal> {
        let name = "confirm";
        let k = cx.constitution().work.confirmations as usize;
        let task = self.task(cx, &t, name)?;
        if worker == cx.author {
            return Err(no(name, "nobody confirms their own work"));
        }
        let slot = task
            .slots
            .get(&worker)
            .ok_or_else(|| no(name, "that member holds no slot on this task"))?;
        let Some((done, _)) = &slot.done else {
            return Err(no(name, "that member has not marked its part done"));
        };
        if !self.in_past(cx, done) {
            return Err(no(name, "the completion is not in the author's past"));
        }
        if slot.confirmed.contains_key(&cx.author) {
            return Err(no(name, "the author confirmed this completion already"));
        }
        let domain = task.spec.domain.clone();
        let disputes = slot.disputes.clone();
        self.need.insert(t, k);
        let slot = self.task_mut(&t).slots.get_mut(&worker).expect("checked");
        slot.confirmed.insert(cx.author, cx.id);
        let confirmers: Vec<(PublicKey, EventId)> =
            slot.confirmed.iter().map(|(a, b)| (*a, *b)).collect();
        if confirmers.len() >= k && self.disputes_allow(&disputes) {
            self.complete(&t, worker, &domain, &confirmers, cx.timestamp);
        }
        Ok(Effect::None)
    }

    fn dispute(
        &mut self,
        cx: &Cx<'_>,
        t: TaskRef,
        worker: PublicKey,
        reason: String,
    ) -> Result<Effect, Refusal> {
        let name = "dispute";
        let task = self.task(cx, &t, name)?;
        if worker == cx.author {
            return Err(no(name, "nobody disputes their own work"));
        }
        let slot = task
            .slots
            .get(&worker)
            .ok_or_else(|| no(name, "that member holds no slot on this task"))?;
        if !slot.done.as_ref().is_some_and(|(d, _)| self.in_past(cx, d)) {
            return Err(no(
                name,
                "that member's completion is not in the author's past",
            ));
        }
        if slot.disputes.iter().any(|c| {
            self.st
                .cases
                .get(c)
                .is_some_and(|c| c.parties.contains(&cx.author))
        }) {
            return Err(no(name, "the author disputed this completion already"));
        }
        self.task_mut(&t)
            .slots
            .get_mut(&worker)
            .expect("checked")
            .disputes
            .push(cx.id);
        let task = self.st.tasks.get_mut(&t).expect("checked");
        if task.completed.remove(&worker).is_some() {
            // The completion no longer counts, so neither do its receipts (an agreed
            // outcome gives them again; an overturned one leaves none).
            let confirms: BTreeSet<EventId> =
                task.slots[&worker].confirmed.values().copied().collect();
            self.st
                .receipts
                .retain(|r| !(r.what == "task" && r.to == worker && confirms.contains(&r.event)));
        }
        self.st.cases.insert(
            cx.id,
            Case {
                parties: [cx.author, worker].into_iter().collect(),
                about: reason,
                dispute: Some((t, worker)),
                outcome: None,
                agreed: BTreeSet::new(),
            },
        );
        Ok(Effect::act(Act::Marker))
    }

    fn outcome(
        &mut self,
        cx: &Cx<'_>,
        case: EventId,
        settlement: Settlement,
        text: String,
    ) -> Result<Effect, Refusal> {
        let name = "outcome";
        let c = self.case(cx, &case, name)?;
        let mediator = self.drawn_at(cx, &Pool::Case(case)).ok_or_else(|| {
            no(
                name,
                "no mediator is drawn for this case in the author's past",
            )
        })?;
        if mediator != cx.author {
            return Err(no(name, "only the drawn mediator records the outcome"));
        }
        if c.outcome.is_some() {
            return Err(no(name, "the case has an outcome already"));
        }
        if settlement == Settlement::Overturned && c.dispute.is_none() {
            return Err(no(name, "only a disputed completion can be overturned"));
        }
        self.touched = true;
        let c = self.st.cases.get_mut(&case).expect("checked");
        c.outcome = Some((cx.id, settlement, text));
        self.outcomes.insert(cx.id, case);
        Ok(Effect::act(Act::Marker))
    }

    fn agree(&mut self, cx: &Cx<'_>, outcome: EventId) -> Result<Effect, Refusal> {
        let name = "agree";
        let case_id = *self
            .outcomes
            .get(&outcome)
            .filter(|_| self.in_past(cx, &outcome))
            .ok_or_else(|| no(name, "no such outcome in the author's past"))?;
        let c = &self.st.cases[&case_id];
        if !c.parties.contains(&cx.author) {
            return Err(no(name, "only a party co-signs an outcome"));
        }
        if c.agreed.contains(&cx.author) {
            return Err(no(name, "the author agreed already"));
        }
        if matches!(c.outcome, Some((_, Settlement::NoAgreement, _))) {
            return Err(no(name, "the outcome records that there was no agreement"));
        }
        self.touched = true;
        let c = self.st.cases.get_mut(&case_id).expect("checked");
        c.agreed.insert(cx.author);
        if let Some(s) = c.settled() {
            self.settle(case_id, s, cx.id, cx.timestamp);
        }
        Ok(Effect::None)
    }

    fn case<'a>(
        &'a self,
        cx: &Cx<'_>,
        id: &EventId,
        act: &'static str,
    ) -> Result<&'a Case, Refusal> {
        match self.st.cases.get(id) {
            Some(c) if self.in_past(cx, id) => Ok(c),
            _ => Err(no(act, "no such mediation case in the author's past")),
        }
    }

    /// Whether the disputes of a completion let it count (each ended agreed, not overturned).
    fn disputes_allow(&self, disputes: &[EventId]) -> bool {
        disputes.iter().all(|c| {
            self.st
                .cases
                .get(c)
                .is_some_and(|c| c.settled() == Some(Settlement::Agreed))
        })
    }

    fn complete(
        &mut self,
        t: &TaskRef,
        worker: PublicKey,
        domain: &str,
        confirmers: &[(PublicKey, EventId)],
        at: u64,
    ) {
        let task = self.st.tasks.get_mut(t).expect("exists");
        if task.completed.contains_key(&worker) {
            // A confirmation after the completion counted adds its own receipt.
            let (from, ev) = *confirmers.last().expect("non-empty");
            if let Some(list) = task.completed.get_mut(&worker)
                && !list.contains(&from)
            {
                list.push(from);
                self.receipt(domain.to_owned(), from, worker, at, "task", ev);
            }
            return;
        }
        task.completed
            .insert(worker, confirmers.iter().map(|(k, _)| *k).collect());
        for (from, ev) in confirmers {
            self.receipt(domain.to_owned(), *from, worker, at, "task", *ev);
        }
    }

    fn receipt(
        &mut self,
        domain: String,
        from: PublicKey,
        to: PublicKey,
        at: u64,
        what: &'static str,
        event: EventId,
    ) {
        self.touched = true;
        self.st.receipts.push(Receipt {
            domain,
            from,
            to,
            at,
            what,
            event,
        });
    }

    /// A case was settled by the agreement `event`: receipts for the mediator, and the
    /// disputed completion counts or is void.
    fn settle(&mut self, case: EventId, s: Settlement, event: EventId, at: u64) {
        let c = self.st.cases[&case].clone();
        if let Some(m) = self.st.draws.get(&Pool::Case(case)).and_then(|d| d.winner) {
            for p in &c.parties {
                self.receipt("mediation".into(), *p, m, at, "mediation", event);
            }
        }
        if let (Some((t, worker)), Settlement::Agreed) = (c.dispute, s) {
            let Some(task) = self.st.tasks.get(&t) else {
                return;
            };
            let Some(slot) = task.slots.get(&worker) else {
                return;
            };
            let k = slot.confirmed.len();
            let confirmers: Vec<_> = slot.confirmed.iter().map(|(a, b)| (*a, *b)).collect();
            let domain = task.spec.domain.clone();
            let need = self.need.get(&t).copied().unwrap_or(usize::MAX);
            if k >= need && self.disputes_allow(&slot.disputes.clone()) {
                self.complete(&t, worker, &domain, &confirmers, at);
            }
        }
    }
}

/// `author`'s slot on `task`, which it has not marked done (what release, handover and done
/// need).
fn holding(task: &Task, author: &PublicKey, act: &'static str) -> Result<(), Refusal> {
    match task.slots.get(author) {
        None => Err(no(act, "the author holds no slot on this task")),
        Some(s) if s.done.is_some() => Err(no(act, "the author marked its part done already")),
        Some(_) => Ok(()),
    }
}

impl Slot {
    fn new(since: EventId) -> Slot {
        Slot {
            since,
            done: None,
            confirmed: BTreeMap::new(),
            disputes: Vec::new(),
        }
    }
}

/// Group time at `cx`: the median, over members with an event in its past (and the event's
/// own author), of their latest claimed timestamp there. Walks the past, so it is asked only
/// where a rule needs the time (closing lists, draws, term ends).
pub(crate) fn group_time(cx: &Cx<'_>) -> u64 {
    let past = cx.graph.ancestors(&cx.id);
    let mut latest: BTreeMap<PublicKey, u64> = BTreeMap::new();
    for m in cx.graph.metas(&past) {
        if cx.void(m) || !cx.auth.is_member(&m.author, cx.past) {
            continue;
        }
        let t = latest.entry(m.author).or_default();
        *t = (*t).max(m.timestamp);
    }
    let own = latest.entry(cx.author).or_default();
    *own = (*own).max(cx.timestamp);
    let mut times: Vec<u64> = latest.into_values().collect();
    times.sort_unstable();
    times[(times.len() - 1) / 2]
}

/// Why a member may not volunteer for `term` of `rot`'s role, given whether it held each
/// earlier term (`held`): recent holders sit out `rest` terms, and nobody serves more than
/// `limit` terms in a row. One rule for the judge and for the node's check before writing.
pub fn excluded(rot: &Rotation, term: u64, held: impl Fn(u64) -> bool) -> Option<String> {
    let role = &rot.role;
    if (1..=rot.rest).any(|back| term.checked_sub(back).is_some_and(&held)) {
        return Some(format!(
            "a holder of `{role}` sits out {} term(s) after serving",
            rot.rest
        ));
    }
    if rot.limit > 0 && (1..=rot.limit).all(|back| term.checked_sub(back).is_some_and(&held)) {
        return Some(format!(
            "`{role}` is held at most {} term(s) in a row",
            rot.limit
        ));
    }
    None
}

/// The seed of a draw: a hash of the group, the pool and the revealed secrets in key order.
/// Nothing the drawer or the last volunteer picks freely (event ids, timestamps, deps) enters.
pub fn draw_seed(
    group: &GroupId,
    pool: &Pool,
    revealed: &BTreeMap<PublicKey, [u8; 32]>,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("dualpower sortition seed v1");
    h.update(&group.0);
    h.update(&pool_bytes(pool));
    for (k, s) in revealed {
        h.update(&k.0);
        h.update(s);
    }
    *h.finalize().as_bytes()
}

/// Who a seed draws among `candidates`: the one whose `hash(seed, key)` is smallest.
pub fn draw_pick(
    seed: &[u8; 32],
    candidates: impl IntoIterator<Item = PublicKey>,
) -> Option<PublicKey> {
    candidates.into_iter().min_by_key(|k| {
        let mut h = blake3::Hasher::new_keyed(seed);
        h.update(&k.0);
        *h.finalize().as_bytes()
    })
}

impl WorkBook {
    /// The volunteers listed for `pool` at `cx`: those in the past of any close of it there.
    fn listed_at(&self, cx: &Cx<'_>, pool: &Pool) -> Option<BTreeSet<PublicKey>> {
        let closes: Vec<&EventId> = self
            .closes
            .get(pool)?
            .iter()
            .filter(|c| self.in_past(cx, c))
            .collect();
        if closes.is_empty() {
            return None;
        }
        let vols = self.volunteer_events.get(pool)?;
        Some(
            vols.iter()
                .filter(|(_, v)| {
                    let vb = self.bits[*v];
                    closes.iter().any(|c| {
                        self.bits
                            .get(*c)
                            .is_some_and(|cb| cx.auth.ctrls[*cb].past.has(vb))
                    })
                })
                .map(|(k, _)| *k)
                .collect(),
        )
    }

    /// The member drawn for `pool` by a draw in `cx`'s past (several crossing draws: the one
    /// that counted the most reveals, then the smaller key; never an id).
    fn drawn_at(&self, cx: &Cx<'_>, pool: &Pool) -> Option<PublicKey> {
        self.draw_events
            .get(pool)?
            .iter()
            .filter(|(id, _, _)| self.in_past(cx, id))
            .filter_map(|(_, w, n)| w.map(|w| (*n, w)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, w)| w)
    }

    fn check_pool(&self, cx: &Cx<'_>, pool: &Pool, act: &'static str) -> Result<(), Refusal> {
        match pool {
            Pool::Term { role, term } => {
                let rules = &cx.constitution().work;
                if rules.rotation(role).is_none() {
                    return Err(no(act, format!("role `{role}` does not rotate")));
                }
                let next = cx.auth.next_term(role, cx.past);
                if *term != next {
                    return Err(no(
                        act,
                        format!("the next term of `{role}` is {next}, not {term}"),
                    ));
                }
                Ok(())
            }
            Pool::Case(c) => {
                self.case(cx, c, act)?;
                if self.drawn_at(cx, pool).is_some() {
                    return Err(no(act, "this case has its mediator already"));
                }
                Ok(())
            }
        }
    }

    fn volunteer(&mut self, cx: &Cx<'_>, pool: Pool, commit: [u8; 32]) -> Result<Effect, Refusal> {
        let act = "volunteer";
        self.check_pool(cx, &pool, act)?;
        if self.listed_at(cx, &pool).is_some() {
            return Err(no(act, "the list of volunteers is closed"));
        }
        if self
            .volunteer_events
            .get(&pool)
            .is_some_and(|v| v.contains_key(&cx.author))
        {
            return Err(no(act, "the author volunteered for this already"));
        }
        match &pool {
            Pool::Term { role, term } => {
                let rot = cx
                    .constitution()
                    .work
                    .rotation(role)
                    .expect("checked")
                    .clone();
                let held = |t: u64| cx.auth.term_winner(role, t, cx.past) == Some(cx.author);
                if let Some(why) = excluded(&rot, *term, held) {
                    return Err(no(act, why));
                }
            }
            Pool::Case(c) => {
                if self.st.cases[c].parties.contains(&cx.author) {
                    return Err(no(act, "a party cannot mediate its own case"));
                }
            }
        }
        self.touched = true;
        self.volunteer_events
            .entry(pool.clone())
            .or_default()
            .insert(cx.author, cx.id);
        self.st
            .draws
            .entry(pool)
            .or_default()
            .volunteers
            .insert(cx.author, commit);
        Ok(Effect::act(Act::Marker))
    }

    fn close_list(&mut self, cx: &Cx<'_>, pool: Pool) -> Result<Effect, Refusal> {
        let act = "close-list";
        self.check_pool(cx, &pool, act)?;
        if self.listed_at(cx, &pool).is_some() {
            return Err(no(act, "the list is closed already"));
        }
        let any = self
            .volunteer_events
            .get(&pool)
            .is_some_and(|v| v.values().any(|e| self.in_past(cx, e)));
        if !any {
            return Err(no(act, "nobody has volunteered yet"));
        }
        let now = group_time(cx);
        if let Pool::Term { role, .. } = &pool
            && let Some(end) = cx.auth.term_end(role, cx.past)
        {
            // The successor's list closes at most one reveal window before the term ends.
            let window = cx.constitution().work.reveal_hours * HOUR_MS;
            if now.saturating_add(window) < end {
                return Err(no(
                    act,
                    format!(
                        "the current term ends at {end} (group time {now}); close the list at most a reveal window before"
                    ),
                ));
            }
        }
        self.touched = true;
        let listed: BTreeSet<PublicKey> = self
            .volunteer_events
            .get(&pool)
            .into_iter()
            .flatten()
            .filter(|(_, e)| self.in_past(cx, e))
            .map(|(k, _)| *k)
            .collect();
        let d = self.st.draws.entry(pool.clone()).or_default();
        d.closed_at = if d.closed { d.closed_at.min(now) } else { now };
        d.closed = true;
        d.closers.insert(cx.author);
        if d.drawn.is_none() {
            d.listed.extend(listed);
        }
        self.close_time.insert(cx.id, now);
        self.closes.entry(pool).or_default().push(cx.id);
        Ok(Effect::act(Act::Marker))
    }

    fn reveal(&mut self, cx: &Cx<'_>, pool: Pool, secret: [u8; 32]) -> Result<Effect, Refusal> {
        let act = "reveal";
        let listed = self
            .listed_at(cx, &pool)
            .ok_or_else(|| no(act, "reveals come after the list closes"))?;
        if !listed.contains(&cx.author) {
            return Err(no(act, "the author is not on the closed list"));
        }
        if self
            .reveal_events
            .get(&pool)
            .is_some_and(|r| r.contains_key(&cx.author))
        {
            return Err(no(act, "the author revealed already"));
        }
        let commit = self.st.draws[&pool].volunteers[&cx.author];
        if commitment(&cx.group, &pool, &cx.author, &secret) != commit {
            return Err(no(act, "the secret does not match the author's commitment"));
        }
        self.touched = true;
        self.reveal_events
            .entry(pool.clone())
            .or_default()
            .insert(cx.author, (secret, cx.id));
        if let Some(d) = self.st.draws.get_mut(&pool) {
            d.reveals.insert(cx.author);
        }
        Ok(Effect::act(Act::Marker))
    }

    fn draw(&mut self, cx: &Cx<'_>, pool: Pool) -> Result<Effect, Refusal> {
        let act = "draw";
        let listed = self
            .listed_at(cx, &pool)
            .ok_or_else(|| no(act, "the list of volunteers is not closed"))?;
        if let Pool::Term { role, term } = &pool
            && cx.auth.next_term(role, cx.past) != *term
        {
            return Err(no(act, "this term is drawn already"));
        }
        let revealed: BTreeMap<PublicKey, [u8; 32]> = self
            .reveal_events
            .get(&pool)
            .into_iter()
            .flatten()
            .filter(|(k, (_, e))| listed.contains(k) && self.in_past(cx, e))
            .map(|(k, (s, _))| (*k, *s))
            .collect();
        if let Pool::Case(_) = &pool
            && self.drawn_at(cx, &pool).is_some()
        {
            return Err(no(act, "this case has its mediator already"));
        }
        if revealed.len() < listed.len() {
            let closed = self
                .closes
                .get(&pool)
                .into_iter()
                .flatten()
                .filter(|c| self.in_past(cx, c))
                .filter_map(|c| self.close_time.get(c))
                .min()
                .copied()
                .unwrap_or(0);
            let due = closed.saturating_add(cx.constitution().work.reveal_hours * HOUR_MS);
            let early = |now: u64| {
                no(
                    act,
                    format!(
                        "{} of {} volunteers revealed; the rest have until group time {due} (now {now})",
                        revealed.len(),
                        listed.len()
                    ),
                )
            };
            // The drawer's own clock must be past the window too: checked first, so a flood
            // of early draws costs no walk of the history.
            if cx.timestamp < due {
                return Err(early(cx.timestamp));
            }
            let now = group_time(cx);
            if now < due {
                return Err(early(now));
            }
        }
        let now = group_time(cx);
        let seed = draw_seed(&cx.group, &pool, &revealed);
        let winner = draw_pick(&seed, revealed.keys().copied());
        // A successor drawn before the current term ends starts when it ends.
        let start = match &pool {
            Pool::Term { role, .. } => cx.auth.term_end(role, cx.past).unwrap_or(0).max(now),
            Pool::Case(_) => now,
        };
        self.touched = true;
        let n = revealed.len() as u64;
        self.draw_events
            .entry(pool.clone())
            .or_default()
            .push((cx.id, winner, n));
        let d = self.st.draws.entry(pool.clone()).or_default();
        // The draw that counts as of the whole set: most reveals, then the smaller winner key.
        let better = match (&d.drawn, d.winner) {
            (None, _) => true,
            (Some(_), w) => {
                (n, std::cmp::Reverse(winner)) > (d.revealed.len() as u64, std::cmp::Reverse(w))
            }
        };
        if better {
            d.listed = listed;
            d.revealed = revealed.keys().copied().collect();
            d.winner = winner;
            d.drawn = Some(cx.id);
            d.seed = Some(seed);
            d.at = start;
        }
        let mut acts = vec![Act::Marker];
        if let Pool::Term { role, term } = pool {
            let days = cx
                .constitution()
                .work
                .rotation(&role)
                .map_or(0, |r| r.term_days);
            acts.push(Act::Term {
                role,
                term,
                member: winner,
                start,
                end: start.saturating_add(days.saturating_mul(DAY_MS)),
                reveals: n,
            });
        }
        Ok(Effect::Acts(acts))
    }
}

impl Domain for WorkBook {
    fn judge(&mut self, cx: &Cx<'_>, payload: Payload) -> Result<Effect, Refusal> {
        match payload {
            Payload::Work(w) => self.judge_work(cx, w),
            _ => Ok(Effect::None),
        }
    }

    fn marked(&mut self, id: &EventId, bit: usize) {
        // The first bit of an event is its marker (a draw also records a term after it).
        self.bits.entry(*id).or_insert(bit);
    }
}
