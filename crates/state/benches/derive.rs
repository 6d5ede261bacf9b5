//! Derivation benchmark (issue 10): a busy group's state derived from scratch at growing sizes,
//! and one vote and a 1 000-event batch applied incrementally to an already derived group.
//!
//! It lives in the state crate (not `dualpower-bench`) so it builds without the network stack.
//! `cargo bench -p dualpower-state --bench derive [-- SIZES...] [--scratch-only|--inc-only]
//! [--members=N] [--digest] [--no-check] [--work] [--credit]` (default 10000 100000). `--work`
//! makes about a third of the events work (tasks, claims, dones, confirmations, vouches: issue
//! 14); `--credit` makes about a third payments between members (issue 15). Members default to one per
//! 300 events (50 to 3 000); `--digest` prints a BLAKE3 of the derived state (to compare two
//! builds) and the refusals by kind; `--no-check` skips checking the incremental state against
//! a full derivation. Events are signed once per size, not timed. Wall time comes from
//! `Instant`, CPU time from `/proc/self/schedstat` (nanoseconds on CPU), so a busy neighbour
//! shows in wall time but not in events per CPU-second.

use std::time::Instant;

use dualpower_core::decision::{Ballot, Electorate, Method, Proposal, ProposalText, Scope, Target};
use dualpower_core::payload::join_proof_message;
use dualpower_core::work::{TaskRef, TaskSpec, Work};
use dualpower_core::{
    Constitution, Draft, EventId, Genesis, GroupId, Identity, NetworkId, Payload, VerifiedEvent,
};
use dualpower_state::{Derivation, GroupState};

/// CPU time of this (single-threaded) process so far, in seconds.
fn cpu_now() -> f64 {
    let ns = std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
    match ns {
        Some(ns) => ns as f64 / 1e9,
        None => 0.0,
    }
}

/// Runs `f` once; returns its value, wall seconds and CPU seconds.
fn measure<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (w, c) = (Instant::now(), cpu_now());
    let v = f();
    (v, w.elapsed().as_secs_f64(), cpu_now() - c)
}

/// A small deterministic generator (xorshift), so every run builds the same group.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

struct Log {
    id: Identity,
    head: Option<EventId>,
    seq: u64,
}

/// A task holder in the benchmark: (member, its `done` event once marked, who confirmed).
type Holder = (usize, Option<EventId>, Vec<usize>);

/// A busy group being written: members joining throughout, posts, proposals, votes,
/// delegations and closes, every event citing recent events.
struct Group {
    network: NetworkId,
    group: GroupId,
    logs: Vec<Log>,
    /// Members admitted (indices into `logs`).
    members: Vec<usize>,
    /// By log: the admission a new member's first event cites (so it writes as a member).
    admitted: Vec<Option<EventId>>,
    /// Recent events (a ring), cited as deps.
    recent: Vec<EventId>,
    /// Open proposals: (event, author, position written).
    open: Vec<(EventId, usize, usize)>,
    invite: Option<(EventId, u64)>,
    invite_key: Identity,
    events: Vec<VerifiedEvent>,
    rng: Rng,
    target_members: usize,
    total: usize,
    /// `--work`: a third of the events are work (tasks, claims, dones, confirmations, vouches).
    work: bool,
    /// `--credit`: about a third of the events are payments between random members.
    credit: bool,
    /// Tasks: (task, holders with their `done` event once marked, confirmers per holder).
    tasks: Vec<(TaskRef, Vec<Holder>)>,
}

impl Group {
    fn new(total: usize, members: Option<usize>) -> Group {
        let network = NetworkId::named("bench-derive");
        let target_members = members.unwrap_or((total / 300).clamp(50, 3000));
        let logs: Vec<Log> = (0..=target_members)
            .map(|i| {
                let mut s = [3u8; 32];
                s[..8].copy_from_slice(&(i as u64).to_le_bytes());
                Log {
                    id: Identity::from_seed(&s),
                    head: None,
                    seq: 0,
                }
            })
            .collect();
        let genesis = Genesis {
            name: "bench".into(),
            nonce: [1; 16],
            constitution: Constitution::default(),
        };
        let group = genesis.group_id(&logs[0].id.public());
        let mut g = Group {
            network,
            group,
            logs,
            members: vec![0],
            admitted: vec![None; target_members + 1],
            recent: Vec::new(),
            open: Vec::new(),
            invite: None,
            invite_key: Identity::from_seed(&[9; 32]),
            events: Vec::with_capacity(total + 1100),
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            target_members,
            total,
            work: false,
            credit: false,
            tasks: Vec::new(),
        };
        g.write(0, &Payload::GroupGenesis(genesis), &[]);
        g
    }

    /// Writes the next event of `who`, citing `extra` and two recent events.
    fn write(&mut self, who: usize, payload: &Payload, extra: &[EventId]) -> EventId {
        let mut deps: Vec<EventId> = extra.to_vec();
        deps.extend(self.admitted[who].take());
        for _ in 0..2 {
            if !self.recent.is_empty() {
                let r = self.rng.below(self.recent.len());
                deps.push(self.recent[r]);
            }
        }
        let log = &mut self.logs[who];
        deps.retain(|d| Some(*d) != log.head);
        deps.sort_unstable();
        deps.dedup();
        let ev = Draft {
            group: self.group,
            log: 0,
            seq: log.seq,
            backlink: log.head,
            deps,
            timestamp: 1_000 + self.events.len() as u64,
            body: payload.encode(),
            flags: 0,
        }
        .sign(&log.id, &self.network)
        .unwrap_or_else(|e| panic!("signing: {e}"));
        let id = ev.id();
        log.head = Some(id);
        log.seq += 1;
        self.events.push(ev);
        if self.recent.len() < 16 {
            self.recent.push(id);
        } else {
            let r = self.rng.below(16);
            self.recent[r] = id;
        }
        id
    }

    fn member(&mut self) -> usize {
        self.members[self.rng.below(self.members.len())]
    }

    /// One step of group life (one to three events).
    fn step(&mut self) {
        let n = self.events.len();
        // Newcomers arrive evenly over the history: invite (50 uses), join, admission.
        let due = self.members.len() < self.target_members
            && n * self.target_members >= self.members.len() * self.total;
        if due {
            let (invite, left) = match self.invite {
                Some((i, left)) if left > 0 => (i, left),
                _ => {
                    let key = self.invite_key.public();
                    let pay = Payload::Invite {
                        key,
                        expires: u64::MAX / 2,
                        uses: 50,
                    };
                    (self.write(0, &pay, &[]), 50)
                }
            };
            self.invite = Some((invite, left - 1));
            let who = self.members.len();
            let key = self.logs[who].id.public();
            let proof = self
                .invite_key
                .sign(&join_proof_message(&self.network, &self.group, &key));
            let join = self.write(who, &Payload::Join { invite, proof }, &[invite]);
            let admit = Payload::Admit { member: key, join };
            let by = self.member();
            let admission = self.write(by, &admit, &[join]);
            self.admitted[who] = Some(admission);
            self.members.push(who);
            return;
        }
        let roll = self.rng.below(100);
        if self.work && (31..64).contains(&roll) && self.work_step(roll) {
            return;
        }
        if self.credit && (31..64).contains(&roll) {
            let (who, to) = (self.member(), self.member());
            if who != to {
                let pay = Payload::Ledger(dualpower_core::ledger::LedgerAct::Pay {
                    to: self.logs[to].id.public(),
                    amount: 1 + self.rng.below(300) as u64,
                    memo: String::new(),
                    invoice: None,
                });
                self.write(who, &pay, &[]);
                return;
            }
        }
        // Close proposals that have been open for about 3 000 events, by their author.
        if let Some(k) = self.open.iter().position(|(_, _, at)| n > at + 3000) {
            let (p, author, _) = self.open.remove(k);
            self.write(author, &Payload::Close { proposal: p }, &[]);
        } else if roll < 2 || self.open.is_empty() {
            let who = self.member();
            let title = format!("Proposal {n}");
            let pay = Payload::Propose(Proposal {
                text: ProposalText {
                    title,
                    body: String::new(),
                    options: vec![],
                },
                method: Method::parse("majority").unwrap_or_else(|e| panic!("{e}")),
                electorate: Electorate::Members,
                topic: String::new(),
                voting: true,
                deadline: 0,
                action: vec![],
            });
            let p = self.write(who, &pay, &[]);
            self.open.push((p, who, n));
        } else if roll < 30 {
            let (p, _, _) = self.open[self.rng.below(self.open.len())];
            let who = self.member();
            let ballot = Ballot::Choice(self.rng.below(3) as u32);
            let pay = Payload::Vote {
                proposal: p,
                ballot,
                reason: String::new(),
            };
            self.write(who, &pay, &[p]);
        } else if roll < 31 {
            // One member in ten delegates (and changes its delegation now and then).
            let who = self.members[self.rng.below(self.members.len().div_ceil(10))];
            let to = self.member();
            let target = if to == who {
                Target::Nobody
            } else {
                Target::To(self.logs[to].id.public())
            };
            let pay = Payload::Delegate {
                scope: Scope::Group,
                target,
            };
            self.write(who, &pay, &[]);
        } else {
            let who = self.member();
            let text = format!("post {n}: the boiler on the third floor is out again");
            self.write(who, &Payload::Post { text }, &[]);
        }
    }

    /// One work event for `roll` in 31..64, if one fits the group's state (else a post follows).
    fn work_step(&mut self, roll: usize) -> bool {
        let who = self.member();
        if roll < 34 || self.tasks.is_empty() {
            let spec = TaskSpec {
                title: format!("task {}", self.events.len()),
                slots: 3,
                skills: vec![],
                due: 0,
                domain: ["logistics", "care", "tech"][self.rng.below(3)].into(),
            };
            let ev = self.write(who, &Payload::Work(Work::Tasks(vec![spec])), &[]);
            self.tasks.push((
                TaskRef {
                    event: ev,
                    index: 0,
                },
                Vec::new(),
            ));
            return true;
        }
        let k = self.rng.below(self.tasks.len());
        let (task, holders) = self.tasks[k].clone();
        if roll < 44 {
            if holders.len() >= 3 || holders.iter().any(|h| h.0 == who) {
                return false;
            }
            self.write(who, &Payload::Work(Work::Claim(task)), &[task.event]);
            self.tasks[k].1.push((who, None, Vec::new()));
        } else if roll < 51 {
            let Some(i) = holders.iter().position(|h| h.1.is_none()) else {
                return false;
            };
            let note = "done".to_owned();
            let ev = self.write(holders[i].0, &Payload::Work(Work::Done { task, note }), &[]);
            self.tasks[k].1[i].1 = Some(ev);
        } else if roll < 61 {
            let Some(i) = holders
                .iter()
                .position(|h| h.1.is_some() && h.0 != who && !h.2.contains(&who))
            else {
                return false;
            };
            let worker = self.logs[holders[i].0].id.public();
            let done = holders[i].1.unwrap_or(task.event);
            self.write(who, &Payload::Work(Work::Confirm { task, worker }), &[done]);
            self.tasks[k].1[i].2.push(who);
        } else {
            let to = self.member();
            if to == who {
                return false;
            }
            let member = self.logs[to].id.public();
            let domain = "care".to_owned();
            self.write(who, &Payload::Work(Work::Vouch { member, domain }), &[]);
        }
        // Finished tasks leave the list, so claims go to open ones.
        if self.tasks[k].1.len() == 3 && self.tasks[k].1.iter().all(|h| h.2.len() >= 2) {
            self.tasks.swap_remove(k);
        }
        true
    }

    /// Grows the group to `total` events (or up to two more: a newcomer takes three).
    fn grow(&mut self, total: usize) {
        while self.events.len() < total {
            self.step();
        }
    }

    /// Makes the next events cite the newest event of the causal order (what a member's client
    /// cites after syncing: its latest tips), so what follows comes after everything so far.
    fn cite_newest(&mut self) {
        let order = dualpower_core::causal::order_events(&self.events);
        if let Some(&last) = order.last() {
            self.recent = vec![self.events[last].id()];
        }
    }

    /// One vote on the oldest open proposal, citing the newest event.
    fn vote(&mut self) {
        self.cite_newest();
        let (p, _, _) = self.open[0];
        let who = self.member();
        let pay = Payload::Vote {
            proposal: p,
            ballot: Ballot::Choice(0),
            reason: String::new(),
        };
        self.write(who, &pay, &[p]);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000];
    }
    let flag = |f: &str| args.iter().any(|a| a == f);
    let members: Option<usize> = args
        .iter()
        .find_map(|a| a.strip_prefix("--members=")?.parse().ok());
    let (scratch, inc) = (!flag("--inc-only"), !flag("--scratch-only"));
    println!("# state derivation, 1 core (wall / CPU)");
    for n in sizes {
        let (mut g, _, gen_cpu) = measure(|| {
            let mut g = Group::new(n, members);
            g.work = flag("--work");
            g.credit = flag("--credit");
            g.grow(n);
            g
        });
        println!(
            "{n:>8} events ({} members, generated and signed in {gen_cpu:.1} s CPU)",
            g.members.len()
        );
        let (network, group) = (g.network, g.group);
        if scratch {
            let (st, wall, cpu) = measure(|| GroupState::derive(&network, group, &g.events));
            if flag("--digest") {
                let digest = blake3::hash(format!("{st:?}").as_bytes());
                println!("  digest {digest}");
            }
            println!(
                "  from scratch: {:>9.1} ms wall {:>9.1} ms CPU {:>10.0} events/CPU-s \
                 ({} members, {} proposals, {} refused)",
                wall * 1e3,
                cpu * 1e3,
                n as f64 / cpu.max(1e-9),
                st.members.len(),
                st.proposals.len(),
                st.rejected.len()
            );
            if g.credit {
                println!(
                    "  credit: {} payments accepted, {} accounts, sum {}",
                    st.credit.payments.len(),
                    st.credit.balances.len(),
                    st.credit.sum()
                );
            }
            if g.work {
                let counted: usize = st.work.tasks.values().map(|t| t.completed.len()).sum();
                let (rep, wall, cpu) =
                    measure(|| st.work.reputation(&st.constitution.work, st.creator));
                println!(
                    "  work: {} tasks, {counted} completions counted, {} receipts; reputation \
                     {:.1} ms wall {:.1} ms CPU ({} domains)",
                    st.work.tasks.len(),
                    st.work.receipts.len(),
                    wall * 1e3,
                    cpu * 1e3,
                    rep.len()
                );
            }
        }
        if !inc {
            continue;
        }
        let (mut d, wall, cpu) = measure(|| Derivation::new(&network, group, &g.events));
        println!(
            "  Derivation::new: {:>6.1} ms wall {:>9.1} ms CPU",
            wall * 1e3,
            cpu * 1e3
        );
        // Votes one at a time, each written after syncing and applied on its own.
        let votes = 100;
        let (mut wall, mut cpu) = (0.0, 0.0);
        let mut walls = Vec::new();
        for _ in 0..votes {
            let before = g.events.len();
            g.vote();
            let batch = g.events[before..].to_vec();
            let ((), w, c) = measure(|| d.extend(&batch));
            wall += w;
            cpu += c;
            walls.push(w);
        }
        walls.sort_by(f64::total_cmp);
        println!(
            "  +1 vote (mean of {votes}): {:>7.3} ms wall {:>7.3} ms CPU, median {:.3} ms wall, full derivations so far {}",
            wall * 1e3 / votes as f64,
            cpu * 1e3 / votes as f64,
            walls[votes / 2] * 1e3,
            d.full_derivations()
        );
        // Batches of 1 000 events written by members who had synced.
        let batches = 5;
        let (mut wall, mut cpu) = (0.0, 0.0);
        for _ in 0..batches {
            let before = g.events.len();
            g.cite_newest();
            g.grow(before + 1000);
            let batch = g.events[before..].to_vec();
            let ((), w, c) = measure(|| d.extend(&batch));
            wall += w;
            cpu += c;
        }
        println!(
            "  +1000 events (mean of {batches}): {:>7.2} ms wall {:>7.2} ms CPU, {:>9.0} events/CPU-s, full derivations so far {}",
            wall * 1e3 / batches as f64,
            cpu * 1e3 / batches as f64,
            1000.0 * batches as f64 / cpu.max(1e-9),
            d.full_derivations()
        );
        if !flag("--no-check") {
            let check = GroupState::derive(&network, group, &g.events);
            assert!(*d.state() == check, "incremental state differs");
            println!("  checked: equal to GroupState::derive of the same events");
        }
    }
}
