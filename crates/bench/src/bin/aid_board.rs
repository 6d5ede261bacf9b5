//! The mutual-aid board at scale: 100 000 open offers and needs (8 categories, 200 places, two
//! members posting), derived from signed events, then the board query with matching offers for
//! every need, unfiltered and filtered by category and place. Prints wall and thread CPU time
//! per query, median of 5 (issue 15: "matching over 100 k open intents: report time per query").
//!
//! `cargo run --release -p dualpower-bench --bin aid_board [-- INTENTS]`

use std::time::Instant;

use dualpower_bench::thread_cpu;

use dualpower_core::aid::{AidAct, Category, Intent};
use dualpower_core::payload::join_proof_message;
use dualpower_core::{
    Constitution, Draft, EventId, Genesis, Identity, NetworkId, Payload, VerifiedEvent,
};
use dualpower_node::ops::aid::{BoardFilter, board_json};
use dualpower_state::GroupState;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let network = NetworkId::named("bench-aid");
    let (a, b, inv) = (
        Identity::from_seed(&[1; 32]),
        Identity::from_seed(&[2; 32]),
        Identity::from_seed(&[3; 32]),
    );
    let genesis = Genesis {
        name: "bench".into(),
        nonce: [1; 16],
        constitution: Constitution::default(),
    };
    let group = genesis.group_id(&a.public());
    let mut events: Vec<VerifiedEvent> = Vec::with_capacity(n + 4);
    let mut heads: [(Option<EventId>, u64); 2] = [(None, 0), (None, 0)];
    let mut write =
        |who: usize, p: Payload, deps: Vec<EventId>, events: &mut Vec<VerifiedEvent>| {
            let id = if who == 0 { &a } else { &b };
            let (head, seq) = heads[who];
            let ev = Draft {
                group,
                log: 0,
                seq,
                backlink: head,
                deps,
                timestamp: 1_000 + events.len() as u64,
                body: p.encode(),
                flags: 0,
            }
            .sign(id, &network)
            .expect("signs");
            heads[who] = (Some(ev.id()), seq + 1);
            let e = ev.id();
            events.push(ev);
            e
        };
    write(0, Payload::GroupGenesis(genesis), vec![], &mut events);
    let invite = write(
        0,
        Payload::Invite {
            key: inv.public(),
            expires: u64::MAX / 2,
            uses: 1,
        },
        vec![],
        &mut events,
    );
    let proof = inv.sign(&join_proof_message(&network, &group, &b.public()));
    let join = write(
        1,
        Payload::Join { invite, proof },
        vec![invite],
        &mut events,
    );
    let admit = write(
        0,
        Payload::Admit {
            member: b.public(),
            join,
        },
        vec![join],
        &mut events,
    );
    let mut rng = dualpower_bench::Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut next = || rng.next_u64();
    let mut first_b = Some(admit);
    for i in 0..n {
        let who = i % 2;
        let intent = Intent {
            need: next() % 2 == 0,
            category: Category::ALL[(next() % 8) as usize],
            text: format!("intent {i}"),
            quantity: 1 + next() % 10,
            unit: String::new(),
            place: format!("area {}", next() % 200),
            from: 0,
            until: 0,
            expires: 0,
            linked: false,
        };
        let deps = if who == 1 {
            first_b.take().into_iter().collect()
        } else {
            vec![]
        };
        write(who, Payload::Aid(AidAct::Intent(intent)), deps, &mut events);
    }
    let t = Instant::now();
    let st = GroupState::derive(&network, group, &events);
    println!(
        "# mutual-aid board: {} open intents, derived in {:.0} ms",
        st.aid.intents.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    for (what, f) in [
        (
            "whole board, matches for every need",
            BoardFilter::default(),
        ),
        (
            "care needs in one area",
            BoardFilter {
                category: Some("care".into()),
                kind: Some("needs".into()),
                place: Some("area 7".into()),
            },
        ),
    ] {
        let mut runs = Vec::new();
        let mut shown = 0;
        for _ in 0..5 {
            let (w, c) = (Instant::now(), thread_cpu());
            let v = board_json(&st, &f, None);
            shown = v["intents"].as_array().map_or(0, Vec::len);
            runs.push((w.elapsed().as_secs_f64(), thread_cpu() - c));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (w, c) = runs[2];
        println!(
            "{what}: {shown} shown, wall {:.1} ms, CPU {:.1} ms per query",
            w * 1e3,
            c * 1e3
        );
    }
}
