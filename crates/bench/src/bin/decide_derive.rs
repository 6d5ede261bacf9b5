//! End-to-end decision benchmark: a group's state derived from signed events, votes included.
//!
//! The `tally` bench times the counting functions on ready inputs; this one times what a node
//! actually does when a decision closes: `GroupState::derive` over every signed event of the
//! group (genesis, an invite per 50 newcomers, one join and one admission per member, one
//! proposal, a vote or a
//! delegation from every member, the close), which judges every vote at its causal point,
//! resolves delegation at the close and builds the certificate. Events are signed once up
//! front (not timed); each derivation runs on a shuffled copy.
//!
//! `cargo run --release -p dualpower-bench --bin decide_derive [-- MEMBERS...]` (default 1000
//! and 5000).

use dualpower_bench::measure;
use dualpower_core::decision::{Ballot, Electorate, Method, Proposal, ProposalText, Scope, Target};
use dualpower_core::payload::join_proof_message;
use dualpower_core::{
    Constitution, Draft, EventId, Genesis, GroupId, Identity, NetworkId, Payload, VerifiedEvent,
};
use dualpower_state::GroupState;

struct Log {
    id: Identity,
    head: Option<EventId>,
    seq: u64,
}

impl Log {
    fn write(
        &mut self,
        network: &NetworkId,
        group: GroupId,
        payload: &Payload,
        deps: &[EventId],
    ) -> VerifiedEvent {
        let mut deps: Vec<EventId> = deps
            .iter()
            .copied()
            .filter(|d| Some(*d) != self.head)
            .collect();
        deps.sort_unstable();
        deps.dedup();
        let ev = Draft {
            group,
            log: 0,
            seq: self.seq,
            backlink: self.head,
            deps,
            timestamp: 1_000 + self.seq,
            body: payload.encode(),
            flags: 0,
        }
        .sign(&self.id, network)
        .unwrap_or_else(|e| panic!("signing: {e}"));
        self.head = Some(ev.id());
        self.seq += 1;
        ev
    }
}

fn seed(i: usize) -> [u8; 32] {
    let mut s = [7u8; 32];
    s[..8].copy_from_slice(&(i as u64).to_le_bytes());
    s
}

/// Builds a group of `n` members with one majority proposal: 80 % vote (yes/no/abstain),
/// 15 % delegate to an earlier member, 5 % stay away; the creator closes it.
fn build(n: usize) -> (NetworkId, GroupId, Vec<VerifiedEvent>) {
    let network = NetworkId::named("bench-decide");
    let mut logs: Vec<Log> = (0..n)
        .map(|i| Log {
            id: Identity::from_seed(&seed(i)),
            head: None,
            seq: 0,
        })
        .collect();
    let genesis = Genesis {
        name: "bench".into(),
        nonce: [1; 16],
        constitution: Constitution::default(),
    };
    let group = genesis.group_id(&logs[0].id.public());
    let mut events = vec![logs[0].write(&network, group, &Payload::GroupGenesis(genesis), &[])];
    // Invites as organisers hand them out: one code per 50 newcomers.
    let invite_key = Identity::from_seed(&[9; 32]);
    let mut invite = None;
    for i in 1..n {
        if (i - 1) % 50 == 0 {
            let ev = logs[0].write(
                &network,
                group,
                &Payload::Invite {
                    key: invite_key.public(),
                    expires: u64::MAX / 2,
                    uses: 50,
                },
                &[],
            );
            invite = Some(ev.id());
            events.push(ev);
        }
        let Some(invite) = invite else { continue };
        let who = logs[i].id.public();
        let proof = invite_key.sign(&join_proof_message(&network, &group, &who));
        let join = logs[i].write(&network, group, &Payload::Join { invite, proof }, &[invite]);
        let admit = logs[0].write(
            &network,
            group,
            &Payload::Admit {
                member: who,
                join: join.id(),
            },
            &[join.id()],
        );
        events.extend([join, admit]);
    }
    let proposal = logs[0].write(
        &network,
        group,
        &Payload::Propose(Proposal {
            text: ProposalText {
                title: "Adopt the budget?".into(),
                body: String::new(),
                options: vec![],
            },
            method: Method::parse("majority:threshold=2/3,quorum=1/2")
                .unwrap_or_else(|e| panic!("{e}")),
            electorate: Electorate::Members,
            topic: String::new(),
            voting: true,
            deadline: 0,
            action: vec![],
        }),
        &[],
    );
    let p = proposal.id();
    events.push(proposal);
    let mut tips = Vec::new();
    for i in 0..n {
        let roll = (i * 7919) % 100;
        let payload = if roll < 80 {
            Payload::Vote {
                proposal: p,
                ballot: Ballot::Choice((roll % 3) as u32),
                reason: String::new(),
            }
        } else if roll < 95 && i > 0 {
            Payload::Delegate {
                scope: Scope::Group,
                target: Target::To(logs[i / 2].id.public()),
            }
        } else {
            continue;
        };
        let ev = logs[i].write(&network, group, &payload, &[p]);
        tips.push(ev.id());
        events.push(ev);
    }
    // The close cites every vote (in chunks through its own log, as deps are capped).
    for chunk in tips.chunks(15) {
        let ev = logs[0].write(&network, group, &Payload::Post { text: "…".into() }, chunk);
        events.push(ev);
    }
    events.push(logs[0].write(&network, group, &Payload::Close { proposal: p }, &[]));
    (network, group, events)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 5000]
    } else {
        sizes
    };
    println!("# decision derivation from signed events, 1 core");
    for n in sizes {
        let (network, group, mut events) = build(n);
        // A fixed shuffle: derivation must not depend on arrival order.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in (1..events.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            events.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let runs = 3;
        let mut wall = 0.0;
        let mut cpu = 0.0;
        let mut last = None;
        for _ in 0..runs {
            let m = measure(|| GroupState::derive(&network, group, &events));
            wall += m.wall;
            cpu += m.cpu;
            last = Some(m.value);
        }
        let st = last.unwrap_or_else(|| panic!("no run"));
        let p = st.proposals.values().next();
        let cert = p.and_then(|p| p.certificate.as_ref());
        println!(
            "{n:>7} members, {:>7} events: derive {:>8.1} ms wall, {:>8.1} ms CPU, {:>9.0} events per CPU-s (mean of {runs})",
            events.len(),
            wall * 1000.0 / runs as f64,
            cpu * 1000.0 / runs as f64,
            events.len() as f64 * runs as f64 / cpu.max(1e-9),
        );
        if let Some(c) = cert {
            println!(
                "          members {}, voters {}, delegated {}, lost {}, figures {:?}, passed {:?}",
                st.members.len(),
                c.voters,
                c.delegated,
                c.lost.len(),
                c.outcome.figures,
                c.outcome.passed
            );
        }
    }
}
