//! The wire types of putting decisions into action: tasks, rotating roles drawn by sortition,
//! mediation, vouches, and the group's rules for them.
//!
//! They exist as one payload kind ([`crate::Payload::Work`]) carrying a [`Work`] so that the
//! judge of this area (`dualpower-state`'s `work` domain) owns exactly one kind, and so that a
//! proposal can carry [`Work::Tasks`] as the action its close enacts. Each variant is a CBOR
//! array `[tag, fields…]`, decoded strictly like every payload.

use crate::cbor::{Reader, Writer};
use crate::event::{EventId, GroupId};
use crate::keys::PublicKey;
use crate::payload::{PayloadError, Rule, role_name};

/// Most tasks one event (or one proposal) creates.
pub const MAX_TASKS: usize = 20;
/// Longest task title, in bytes.
pub const MAX_TITLE_BYTES: usize = 200;
/// Longest note (a completion note, a dispute's reason, a mediation outcome), in bytes.
pub const MAX_NOTE_BYTES: usize = 2000;
/// Most skills a task names.
pub const MAX_SKILLS: usize = 8;
/// Most people one task takes.
pub const MAX_SLOTS: u64 = 100;
/// Most parties to one mediation.
pub const MAX_PARTIES: usize = 8;
/// Most reputation seeds, extra domains or rotations the rules list.
pub const MAX_LIST: usize = 64;
/// The domains every group has; a group adds its own in [`WorkRules::domains`].
pub const BUILTIN_DOMAINS: [&str; 5] = ["logistics", "care", "tech", "outreach", "mediation"];

/// One task to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// What is to be done.
    pub title: String,
    /// How many people it takes (1–[`MAX_SLOTS`]).
    pub slots: u64,
    /// Skills it needs (names like domains).
    pub skills: Vec<String>,
    /// When it is due (seconds since the epoch; 0 = no due date).
    pub due: u64,
    /// The reputation domain its completion counts in.
    pub domain: String,
}

/// A task: the event that created it and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskRef {
    /// The creating event (a direct [`Work::Tasks`], or the close that enacted a proposal).
    pub event: EventId,
    /// Index among the tasks that event created.
    pub index: u64,
}

/// What a sortition draws for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pool {
    /// Term `term` (0, 1, …) of a rotating role.
    Term {
        /// The role.
        role: String,
        /// The term.
        term: u64,
    },
    /// The mediator of a mediation case (the request or dispute event).
    Case(EventId),
}

/// How a mediation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// The parties agree on the outcome (for a disputed completion: it stands).
    Agreed,
    /// The parties agree that the disputed completion does not count.
    Overturned,
    /// No agreement; recorded as such.
    NoAgreement,
}

/// An act of the work domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    /// Creates tasks (directly where the rules allow it, or as a proposal's action).
    Tasks(Vec<TaskSpec>),
    /// The author takes a slot.
    Claim(TaskRef),
    /// The author gives its slot up.
    Release(TaskRef),
    /// The author passes its slot to `to` (who must not hold one already).
    Handover {
        /// The task.
        task: TaskRef,
        /// The new holder.
        to: PublicKey,
    },
    /// The author says its part is done.
    Done {
        /// The task.
        task: TaskRef,
        /// What was done.
        note: String,
    },
    /// The author confirms `worker`'s completion (never its own).
    Confirm {
        /// The task.
        task: TaskRef,
        /// Whose completion.
        worker: PublicKey,
    },
    /// The author disputes `worker`'s completion; opens a mediation case.
    Dispute {
        /// The task.
        task: TaskRef,
        /// Whose completion.
        worker: PublicKey,
        /// Why.
        reason: String,
    },
    /// Volunteers for a pool, committing to a secret revealed after the list closes.
    Volunteer {
        /// The pool.
        pool: Pool,
        /// `commitment(group, pool, author, secret)`.
        commit: [u8; 32],
    },
    /// Closes a pool's list of volunteers: those in this event's past are the candidates.
    CloseList(Pool),
    /// Reveals the secret committed to when volunteering.
    Reveal {
        /// The pool.
        pool: Pool,
        /// The secret.
        secret: [u8; 32],
    },
    /// Draws from the revealed candidates.
    Draw(Pool),
    /// Asks for mediation between `parties` (the author among them or not).
    Mediate {
        /// The parties.
        parties: Vec<PublicKey>,
        /// What it is about.
        about: String,
    },
    /// The drawn mediator records how a case ended.
    Outcome {
        /// The case.
        case: EventId,
        /// How it ended.
        settlement: Settlement,
        /// The outcome in words.
        text: String,
    },
    /// A party co-signs an outcome.
    Agree {
        /// The outcome event.
        outcome: EventId,
    },
    /// The author vouches for `member`'s work in `domain`.
    Vouch {
        /// Who.
        member: PublicKey,
        /// Where.
        domain: String,
    },
}

/// A rotating role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The role (one the constitution defines).
    pub role: String,
    /// Term length in days (1–3650).
    pub term_days: u64,
    /// Most consecutive terms one member serves (0 = no limit).
    pub limit: u64,
    /// Terms a holder sits out after serving (0 = none).
    pub rest: u64,
}

/// The group's rules for work and reputation (a part of the constitution).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkRules {
    /// Who may create tasks without a proposal.
    pub tasks: Rule,
    /// How many other members must confirm a completion (1–100).
    pub confirmations: u64,
    /// Reputation: receipts lose half their weight after this many days (0 = never).
    pub half_life_days: u64,
    /// Reputation seeds, ascending (empty = the group's creator).
    pub seeds: Vec<PublicKey>,
    /// Domains beyond [`BUILTIN_DOMAINS`], ascending.
    pub domains: Vec<String>,
    /// Rotating roles, by role ascending.
    pub rotations: Vec<Rotation>,
    /// Hours volunteers have to reveal after a list closes (1–720).
    pub reveal_hours: u64,
}

impl Default for WorkRules {
    fn default() -> Self {
        WorkRules {
            tasks: Rule::Member,
            confirmations: 2,
            half_life_days: 180,
            seeds: Vec::new(),
            domains: Vec::new(),
            rotations: Vec::new(),
            reveal_hours: 24,
        }
    }
}

/// The commitment a volunteer publishes: binds the secret to the group, the pool and the
/// volunteer, so a commitment cannot be copied by someone else or reused in another draw.
pub fn commitment(group: &GroupId, pool: &Pool, author: &PublicKey, secret: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("dualpower sortition commitment v1");
    h.update(&group.0);
    h.update(&pool_bytes(pool));
    h.update(&author.0);
    h.update(secret);
    *h.finalize().as_bytes()
}

/// The canonical bytes of a pool (its CBOR), for hashing.
pub fn pool_bytes(pool: &Pool) -> Vec<u8> {
    let mut w = Writer::with_capacity(64);
    pool.encode(&mut w);
    w.into_bytes()
}

fn bad(s: impl Into<String>) -> PayloadError {
    PayloadError::Invalid(s.into())
}

/// A domain or skill name: like a role name.
pub fn domain_name(s: &str) -> Result<String, PayloadError> {
    role_name(s).map_err(|_| {
        bad(format!(
            "`{s}` must be 1–32 characters of a-z, 0-9, - or _ (a domain or skill)"
        ))
    })
}

fn text(r: &mut Reader<'_>, what: &'static str, max: usize) -> Result<String, PayloadError> {
    Ok(r.text(what, max)?.to_owned())
}

fn id(r: &mut Reader<'_>, what: &'static str) -> Result<EventId, PayloadError> {
    Ok(EventId(r.bytes_n::<32>(what)?))
}

fn key(r: &mut Reader<'_>, what: &'static str) -> Result<PublicKey, PayloadError> {
    Ok(PublicKey(r.bytes_n::<32>(what)?))
}

/// Reads an array of `max` items, each with `item`, requiring strictly ascending order.
fn ascending<T: Ord>(
    r: &mut Reader<'_>,
    what: &'static str,
    max: usize,
    mut item: impl FnMut(&mut Reader<'_>) -> Result<T, PayloadError>,
) -> Result<Vec<T>, PayloadError> {
    let n = r.array(what, max)?;
    let mut v: Vec<T> = Vec::with_capacity(n);
    for _ in 0..n {
        let x = item(r)?;
        if v.last().is_some_and(|p| *p >= x) {
            return Err(bad(format!("{what} must be listed once each, in order")));
        }
        v.push(x);
    }
    r.leave();
    Ok(v)
}

impl TaskSpec {
    fn encode(&self, w: &mut Writer) {
        w.array(5)
            .text(&self.title)
            .uint(self.slots)
            .array(self.skills.len());
        for s in &self.skills {
            w.text(s);
        }
        w.uint(self.due).text(&self.domain);
    }

    fn decode(r: &mut Reader<'_>) -> Result<TaskSpec, PayloadError> {
        if r.array("task", 5)? != 5 {
            return Err(bad("a task is [title, slots, skills, due, domain]"));
        }
        let title = text(r, "title", MAX_TITLE_BYTES)?;
        let slots = r.uint()?;
        let skills = ascending(r, "skills", MAX_SKILLS, |r| {
            domain_name(r.text("skill", 32)?)
        })?;
        let due = r.uint()?;
        let domain = domain_name(r.text("domain", 32)?)?;
        r.leave();
        let t = TaskSpec {
            title,
            slots,
            skills,
            due,
            domain,
        };
        t.check()?;
        Ok(t)
    }

    /// Checks what every node checks of a task.
    pub fn check(&self) -> Result<(), PayloadError> {
        if self.title.trim().is_empty() {
            return Err(PayloadError::Empty("title"));
        }
        if !(1..=MAX_SLOTS).contains(&self.slots) {
            return Err(bad(format!(
                "a task takes 1 to {MAX_SLOTS} people, not {}",
                self.slots
            )));
        }
        Ok(())
    }
}

impl TaskRef {
    fn encode(&self, w: &mut Writer) {
        w.bytes(&self.event.0).uint(self.index);
    }
    fn decode(r: &mut Reader<'_>) -> Result<TaskRef, PayloadError> {
        let event = id(r, "task")?;
        let index = r.uint()?;
        if index >= MAX_TASKS as u64 {
            return Err(bad(format!("task index {index} is beyond {MAX_TASKS}")));
        }
        Ok(TaskRef { event, index })
    }
}

impl Pool {
    fn encode(&self, w: &mut Writer) {
        match self {
            Pool::Term { role, term } => {
                w.array(3).uint(0).text(role).uint(*term);
            }
            Pool::Case(e) => {
                w.array(2).uint(1).bytes(&e.0);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Pool, PayloadError> {
        let n = r.array("pool", 3)?;
        let p = match (r.uint()?, n) {
            (0, 3) => Pool::Term {
                role: role_name(r.text("role", 32)?)?,
                term: r.uint()?,
            },
            (1, 2) => Pool::Case(id(r, "case")?),
            _ => return Err(bad("a pool is [0, role, term] or [1, case]")),
        };
        r.leave();
        Ok(p)
    }
}

impl Settlement {
    fn tag(self) -> u64 {
        match self {
            Settlement::Agreed => 0,
            Settlement::Overturned => 1,
            Settlement::NoAgreement => 2,
        }
    }
    /// The word the CLI and the web app use.
    pub fn word(self) -> &'static str {
        match self {
            Settlement::Agreed => "agreed",
            Settlement::Overturned => "overturned",
            Settlement::NoAgreement => "no-agreement",
        }
    }
    /// Parses [`Settlement::word`].
    pub fn parse(s: &str) -> Result<Settlement, PayloadError> {
        match s {
            "agreed" => Ok(Settlement::Agreed),
            "overturned" => Ok(Settlement::Overturned),
            "no-agreement" => Ok(Settlement::NoAgreement),
            _ => Err(bad(format!(
                "`{s}` is not `agreed`, `overturned` or `no-agreement`"
            ))),
        }
    }
}

impl Work {
    /// Writes the array form.
    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            Work::Tasks(ts) => {
                w.array(2).uint(0).array(ts.len());
                for t in ts {
                    t.encode(w);
                }
            }
            Work::Claim(t) | Work::Release(t) => {
                w.array(3)
                    .uint(if matches!(self, Work::Claim(_)) { 1 } else { 2 });
                t.encode(w);
            }
            Work::Handover { task, to } => {
                w.array(4).uint(3);
                task.encode(w);
                w.bytes(&to.0);
            }
            Work::Done { task, note } => {
                w.array(4).uint(4);
                task.encode(w);
                w.text(note);
            }
            Work::Confirm { task, worker } => {
                w.array(4).uint(5);
                task.encode(w);
                w.bytes(&worker.0);
            }
            Work::Dispute {
                task,
                worker,
                reason,
            } => {
                w.array(5).uint(6);
                task.encode(w);
                w.bytes(&worker.0).text(reason);
            }
            Work::Volunteer { pool, commit } => {
                w.array(3).uint(7);
                pool.encode(w);
                w.bytes(commit);
            }
            Work::CloseList(pool) | Work::Draw(pool) => {
                w.array(2).uint(if matches!(self, Work::CloseList(_)) {
                    8
                } else {
                    10
                });
                pool.encode(w);
            }
            Work::Reveal { pool, secret } => {
                w.array(3).uint(9);
                pool.encode(w);
                w.bytes(secret);
            }
            Work::Mediate { parties, about } => {
                w.array(3).uint(11).array(parties.len());
                for p in parties {
                    w.bytes(&p.0);
                }
                w.text(about);
            }
            Work::Outcome {
                case,
                settlement,
                text,
            } => {
                w.array(4)
                    .uint(12)
                    .bytes(&case.0)
                    .uint(settlement.tag())
                    .text(text);
            }
            Work::Agree { outcome } => {
                w.array(2).uint(13).bytes(&outcome.0);
            }
            Work::Vouch { member, domain } => {
                w.array(3).uint(14).bytes(&member.0).text(domain);
            }
        }
    }

    /// Strictly reads the array form.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Work, PayloadError> {
        let n = r.array("work", 5)?;
        if n == 0 {
            return Err(bad("empty work payload"));
        }
        let tag = r.uint()?;
        let w = match (tag, n) {
            (0, 2) => {
                let len = r.array("tasks", MAX_TASKS)?;
                if len == 0 {
                    return Err(PayloadError::Empty("tasks"));
                }
                let mut ts = Vec::with_capacity(len);
                for _ in 0..len {
                    ts.push(TaskSpec::decode(r)?);
                }
                r.leave();
                Work::Tasks(ts)
            }
            (1, 3) => Work::Claim(TaskRef::decode(r)?),
            (2, 3) => Work::Release(TaskRef::decode(r)?),
            (3, 4) => Work::Handover {
                task: TaskRef::decode(r)?,
                to: key(r, "to")?,
            },
            (4, 4) => Work::Done {
                task: TaskRef::decode(r)?,
                note: text(r, "note", MAX_NOTE_BYTES)?,
            },
            (5, 4) => Work::Confirm {
                task: TaskRef::decode(r)?,
                worker: key(r, "worker")?,
            },
            (6, 5) => {
                let task = TaskRef::decode(r)?;
                let worker = key(r, "worker")?;
                let reason = text(r, "reason", MAX_NOTE_BYTES)?;
                if reason.trim().is_empty() {
                    return Err(PayloadError::Empty("reason"));
                }
                Work::Dispute {
                    task,
                    worker,
                    reason,
                }
            }
            (7, 3) => Work::Volunteer {
                pool: Pool::decode(r)?,
                commit: r.bytes_n::<32>("commit")?,
            },
            (8, 2) => Work::CloseList(Pool::decode(r)?),
            (9, 3) => Work::Reveal {
                pool: Pool::decode(r)?,
                secret: r.bytes_n::<32>("secret")?,
            },
            (10, 2) => Work::Draw(Pool::decode(r)?),
            (11, 3) => {
                let parties = ascending(r, "parties", MAX_PARTIES, |r| key(r, "party"))?;
                if parties.len() < 2 {
                    return Err(bad("a mediation is between at least two parties"));
                }
                Work::Mediate {
                    parties,
                    about: text(r, "about", MAX_NOTE_BYTES)?,
                }
            }
            (12, 4) => {
                let case = id(r, "case")?;
                let settlement = match r.uint()? {
                    0 => Settlement::Agreed,
                    1 => Settlement::Overturned,
                    2 => Settlement::NoAgreement,
                    s => return Err(bad(format!("settlement {s} is not 0, 1 or 2"))),
                };
                Work::Outcome {
                    case,
                    settlement,
                    text: text(r, "outcome", MAX_NOTE_BYTES)?,
                }
            }
            (13, 2) => Work::Agree {
                outcome: id(r, "outcome")?,
            },
            (14, 3) => Work::Vouch {
                member: key(r, "member")?,
                domain: domain_name(r.text("domain", 32)?)?,
            },
            (t, n) => return Err(bad(format!("work tag {t} with {n} items is not known"))),
        };
        r.leave();
        Ok(w)
    }

    /// A short name, for logs and refusals.
    pub fn name(&self) -> &'static str {
        match self {
            Work::Tasks(_) => "tasks",
            Work::Claim(_) => "claim",
            Work::Release(_) => "release",
            Work::Handover { .. } => "handover",
            Work::Done { .. } => "done",
            Work::Confirm { .. } => "confirm",
            Work::Dispute { .. } => "dispute",
            Work::Volunteer { .. } => "volunteer",
            Work::CloseList(_) => "close-list",
            Work::Reveal { .. } => "reveal",
            Work::Draw(_) => "draw",
            Work::Mediate { .. } => "mediate",
            Work::Outcome { .. } => "outcome",
            Work::Agree { .. } => "agree",
            Work::Vouch { .. } => "vouch",
        }
    }
}

impl Rotation {
    /// The text form `ROLE:DAYS[:limit=N][:rest=N]` (what `group amend --rotate` takes).
    pub fn to_text(&self) -> String {
        format!(
            "{}:{}:limit={}:rest={}",
            self.role, self.term_days, self.limit, self.rest
        )
    }

    /// Parses [`Rotation::to_text`] (limit and rest default to 0 and 1).
    pub fn parse(s: &str) -> Result<Rotation, PayloadError> {
        let mut parts = s.split(':');
        let role = role_name(parts.next().unwrap_or(""))?;
        let term_days = parts
            .next()
            .and_then(|d| d.trim_end_matches('d').parse::<u64>().ok())
            .ok_or_else(|| bad(format!("`{s}`: say ROLE:DAYS, e.g. facilitator:30")))?;
        let mut r = Rotation {
            role,
            term_days,
            limit: 0,
            rest: 1,
        };
        for p in parts {
            match p.split_once('=') {
                Some(("limit", v)) => r.limit = v.parse().map_err(|_| bad("limit=N"))?,
                Some(("rest", v)) => r.rest = v.parse().map_err(|_| bad("rest=N"))?,
                _ => return Err(bad(format!("`{p}` is not limit=N or rest=N"))),
            }
        }
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), PayloadError> {
        if !(1..=3650).contains(&self.term_days) {
            return Err(bad("a term is 1 to 3650 days"));
        }
        if self.limit > 100 || self.rest > 100 {
            return Err(bad("limit and rest are at most 100 terms"));
        }
        Ok(())
    }
}

impl WorkRules {
    /// Every domain the group has.
    pub fn all_domains(&self) -> Vec<String> {
        let mut v: Vec<String> = BUILTIN_DOMAINS.iter().map(|s| (*s).to_owned()).collect();
        v.extend(self.domains.iter().cloned());
        v
    }

    /// Whether `d` is one of the group's domains.
    pub fn has_domain(&self, d: &str) -> bool {
        BUILTIN_DOMAINS.contains(&d) || self.domains.iter().any(|x| x == d)
    }

    /// The rotation of `role`, if it rotates.
    pub fn rotation(&self, role: &str) -> Option<&Rotation> {
        self.rotations.iter().find(|r| r.role == role)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.array(7)
            .text(&self.tasks.to_text())
            .uint(self.confirmations)
            .uint(self.half_life_days)
            .array(self.seeds.len());
        for s in &self.seeds {
            w.bytes(&s.0);
        }
        w.array(self.domains.len());
        for d in &self.domains {
            w.text(d);
        }
        w.array(self.rotations.len());
        for r in &self.rotations {
            w.array(4)
                .text(&r.role)
                .uint(r.term_days)
                .uint(r.limit)
                .uint(r.rest);
        }
        w.uint(self.reveal_hours);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<WorkRules, PayloadError> {
        if r.array("work rules", 7)? != 7 {
            return Err(bad("work rules have 7 fields"));
        }
        let tasks = Rule::parse(r.text("tasks rule", 64)?)?;
        let confirmations = r.uint()?;
        let half_life_days = r.uint()?;
        let seeds = ascending(r, "seeds", MAX_LIST, |r| key(r, "seed"))?;
        let domains = ascending(r, "domains", MAX_LIST, |r| {
            domain_name(r.text("domain", 32)?)
        })?;
        let rotations = ascending(r, "rotations", MAX_LIST, |r| {
            if r.array("rotation", 4)? != 4 {
                return Err(bad("a rotation is [role, days, limit, rest]"));
            }
            let rot = Rotation {
                role: role_name(r.text("role", 32)?)?,
                term_days: r.uint()?,
                limit: r.uint()?,
                rest: r.uint()?,
            };
            r.leave();
            rot.check()?;
            Ok(RotKey(rot))
        })?
        .into_iter()
        .map(|k| k.0)
        .collect();
        let reveal_hours = r.uint()?;
        r.leave();
        let w = WorkRules {
            tasks,
            confirmations,
            half_life_days,
            seeds,
            domains,
            rotations,
            reveal_hours,
        };
        w.check()?;
        Ok(w)
    }

    /// Checks the bounds every node applies.
    pub fn check(&self) -> Result<(), PayloadError> {
        if !(1..=100).contains(&self.confirmations) {
            return Err(bad("confirmations must be 1 to 100"));
        }
        if self.half_life_days > 36500 {
            return Err(bad("half-life is at most 36500 days"));
        }
        if !(1..=720).contains(&self.reveal_hours) {
            return Err(bad("reveal window must be 1 to 720 hours"));
        }
        if let Some(d) = self
            .domains
            .iter()
            .find(|d| BUILTIN_DOMAINS.contains(&d.as_str()))
        {
            return Err(bad(format!("`{d}` is a built-in domain already")));
        }
        Ok(())
    }
}

/// Orders rotations by role (their canonical order).
struct RotKey(Rotation);
impl PartialEq for RotKey {
    fn eq(&self, o: &Self) -> bool {
        self.0.role == o.0.role
    }
}
impl Eq for RotKey {}
impl PartialOrd for RotKey {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for RotKey {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.role.cmp(&o.0.role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Constitution, Genesis, Payload};

    fn genesis(constitution: Constitution) -> Payload {
        Payload::GroupGenesis(Genesis {
            name: "co-op".into(),
            nonce: [1; 16],
            constitution,
        })
    }

    #[test]
    fn work_rules_round_trip_and_stay_out_at_their_default() {
        let mut c = Constitution::default();
        let before = genesis(c.clone()).encode();
        assert!(
            !before.windows(4).any(|w| w == b"tech"),
            "defaults are left out"
        );
        c.roles.push("facilitator".into());
        c.work = WorkRules {
            tasks: Rule::Role("admin".into()),
            confirmations: 3,
            half_life_days: 30,
            seeds: vec![PublicKey([1; 32]), PublicKey([2; 32])],
            domains: vec!["food".into(), "legal".into()],
            rotations: vec![Rotation::parse("facilitator:14:limit=2:rest=1").unwrap()],
            reveal_hours: 12,
        };
        let p = genesis(c.clone());
        assert_eq!(Payload::decode(&p.encode()), Ok(p));
        // Back to the default: the encoding is the one from before work rules existed.
        c.roles.pop();
        c.work = WorkRules::default();
        assert_eq!(genesis(c).encode(), before);
    }

    #[test]
    fn bad_work_rules_are_refused() {
        let mut c = Constitution::default();
        c.work.rotations = vec![Rotation::parse("treasurer:30").unwrap()];
        let bytes = genesis(c).encode();
        let err = Payload::decode(&bytes).unwrap_err().to_string();
        assert!(err.contains("treasurer"), "{err}");
        for bad in [
            "x:0",
            "x:99999",
            "x:30:limit=1000",
            "x:30:oops=1",
            "X:30",
            "x",
        ] {
            assert!(Rotation::parse(bad).is_err(), "{bad}");
        }
        let mut w = WorkRules {
            confirmations: 0,
            ..WorkRules::default()
        };
        assert!(w.check().is_err());
        w.confirmations = 2;
        w.domains = vec!["care".into()];
        assert!(w.check().is_err(), "a built-in domain is not added twice");
    }

    #[test]
    fn a_task_list_is_bounded_and_checked() {
        let spec = TaskSpec {
            title: "t".into(),
            slots: 1,
            skills: vec![],
            due: 0,
            domain: "care".into(),
        };
        let many = Payload::Work(Work::Tasks(vec![spec.clone(); MAX_TASKS + 1])).encode();
        assert!(Payload::decode(&many).is_err());
        let mut zero = spec.clone();
        zero.slots = 0;
        assert!(Payload::decode(&Payload::Work(Work::Tasks(vec![zero])).encode()).is_err());
        let mut blank = spec;
        blank.title = "  ".into();
        assert!(Payload::decode(&Payload::Work(Work::Tasks(vec![blank])).encode()).is_err());
        // Skills must be sorted and unique (one encoding per task).
        let unsorted = TaskSpec {
            title: "t".into(),
            slots: 1,
            skills: vec!["b".into(), "a".into()],
            due: 0,
            domain: "care".into(),
        };
        assert!(Payload::decode(&Payload::Work(Work::Tasks(vec![unsorted])).encode()).is_err());
    }

    #[test]
    fn commitments_bind_group_pool_author_and_secret() {
        let g = GroupId([1; 32]);
        let p = Pool::Term {
            role: "facilitator".into(),
            term: 0,
        };
        let a = PublicKey([2; 32]);
        let c = commitment(&g, &p, &a, &[3; 32]);
        assert_ne!(c, commitment(&GroupId([9; 32]), &p, &a, &[3; 32]));
        let later = Pool::Term {
            role: "facilitator".into(),
            term: 1,
        };
        assert_ne!(c, commitment(&g, &later, &a, &[3; 32]));
        assert_ne!(c, commitment(&g, &p, &PublicKey([4; 32]), &[3; 32]));
        assert_ne!(c, commitment(&g, &p, &a, &[5; 32]));
    }
}
