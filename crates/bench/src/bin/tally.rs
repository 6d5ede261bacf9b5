//! Decision tally benchmark: liquid delegation and the heavier voting methods at group scale.
//!
//! Exists to show that closing a vote stays cheap for very large groups: (a) delegation
//! resolution over 1 M members with 10 % delegating through chains up to the depth cap (some
//! longer, some looping, some ending at ineligible or idle members), (b) quadratic, Schulze and
//! IRV tallies of 100 000 ballots over 10 options, (c) a majority tally of 1 M ballots. Inputs
//! are built deterministically (xorshift), so every run counts the same ballots.
//!
//! `cargo run --release -p dualpower-bench --bin tally [-- MEMBERS [VOTERS]]`

use std::hint::black_box;

use dualpower_bench::measure;
use dualpower_decide::liquid::{Holder, Lost, resolve};
use dualpower_decide::{Ballot, Cast, Input, Method, Outcome, tally};

const OPTIONS: usize = 10;
const MAX_DEPTH: u32 = 8;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Members 0..n: 3 % ineligible, 30 % direct voters, 10 % delegating in explicit chains.
struct Delegations {
    voted: Vec<bool>,
    eligible: Vec<bool>,
    target: Vec<Option<u32>>,
    delegating: usize,
}

fn delegations(n: usize, rng: &mut Rng) -> Delegations {
    let mut eligible = vec![true; n];
    let mut voted = vec![false; n];
    let mut target: Vec<Option<u32>> = vec![None; n];
    // A random order of members decides who is what.
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let (ineligible, rest) = order.split_at(n * 3 / 100);
    let (voters, rest) = rest.split_at(n * 30 / 100);
    let (delegators, idle) = rest.split_at(n / 10);
    for &m in ineligible {
        eligible[m as usize] = false;
    }
    for &m in voters {
        voted[m as usize] = true;
    }
    // Carve the delegators into chains. Most chains end at a voter and have 1–8 hops, so
    // some reach depth 8 exactly; 2 % are 9–12 hops (too deep), 2 % close into a cycle,
    // 2 % end at an idle member (dead end), 1 % at an ineligible member.
    let mut i = 0;
    while i < delegators.len() {
        let kind = rng.below(100);
        let len = if kind < 2 {
            9 + rng.below(4) as usize
        } else {
            1 + rng.below(MAX_DEPTH as u64) as usize
        };
        let chain = &delegators[i..(i + len).min(delegators.len())];
        i += chain.len();
        for w in chain.windows(2) {
            target[w[0] as usize] = Some(w[1]);
        }
        let (Some(&first), Some(&last)) = (chain.first(), chain.last()) else {
            break;
        };
        let pick = |rng: &mut Rng, from: &[u32]| from[rng.below(from.len() as u64) as usize];
        target[last as usize] = Some(match kind {
            2..=3 => first,
            4..=5 => pick(rng, idle),
            6 => pick(rng, ineligible),
            _ => pick(rng, voters),
        });
    }
    Delegations {
        voted,
        eligible,
        target,
        delegating: delegators.len(),
    }
}

/// Runs `f` repeatedly (at least 3 times and 1 s of wall time, at most 500 times, since the
/// CPU clock ticks in 10 ms) and prints the mean per run.
fn timed<T>(label: &str, n: usize, unit: &str, mut f: impl FnMut() -> T) -> T {
    let (mut wall, mut cpu, mut runs) = (0.0, 0.0, 0u32);
    loop {
        let m = measure(&mut f);
        wall += m.wall;
        cpu += m.cpu;
        runs += 1;
        if (runs >= 3 && wall >= 1.0) || runs >= 500 {
            let (wall, cpu) = (wall / f64::from(runs), cpu / f64::from(runs));
            println!(
                "  {label:<28}: {:>7.2} ms wall, {:>7.2} ms CPU, {:>11.0} {unit}/s wall, {:>11.0} per CPU-s (mean of {runs})",
                wall * 1e3,
                cpu * 1e3,
                n as f64 / wall,
                n as f64 / cpu.max(1e-9),
            );
            return m.value;
        }
    }
}

fn run(method: &Method, electorate: u64, casts: &[Cast<'_>]) -> Outcome {
    let keys: Vec<[u8; 32]> = (0..OPTIONS).map(|i| [i as u8; 32]).collect();
    tally(&Input {
        method,
        options: match method.fixed_options() {
            Some(f) => f.len(),
            None => OPTIONS,
        },
        costs: &[],
        tiebreak: &keys,
        electorate,
        block_override: None,
        casts,
    })
}

fn bench_tally(label: &str, method: &str, ballots: &[Ballot]) -> Outcome {
    let method = Method::parse(method).expect("bench method parses");
    let casts: Vec<Cast<'_>> = ballots
        .iter()
        .map(|b| Cast {
            weight: 1,
            ballot: b,
        })
        .collect();
    timed(label, casts.len(), "ballots", || {
        black_box(run(&method, casts.len() as u64, black_box(&casts)))
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let members: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let voters: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    println!("# decision tallies, 1 core");
    let d = delegations(members, &mut rng);
    println!(
        "liquid: {members} members, {} delegating (chains 1–{MAX_DEPTH} hops, some 9–12, cycles, dead ends, ineligible), max depth {MAX_DEPTH}",
        d.delegating
    );
    let res = timed("resolve delegation", members, "members", || {
        resolve(
            black_box(&d.voted),
            black_box(&d.eligible),
            black_box(&d.target),
            MAX_DEPTH,
        )
    });
    let count = |f: &dyn Fn(&Holder) -> bool| res.holder.iter().filter(|h| f(h)).count();
    println!(
        "  held {}, max depth reached {}, lost {} (cycle {}, too deep {}, dead end {}, ineligible {}), heaviest ballot {}",
        count(&|h| matches!(h, Holder::Held { .. })),
        res.holder
            .iter()
            .filter_map(|h| match h {
                Holder::Held { depth, .. } => Some(*depth),
                _ => None,
            })
            .max()
            .unwrap_or(0),
        res.lost,
        count(&|h| matches!(h, Holder::Lost(Lost::Cycle))),
        count(&|h| matches!(h, Holder::Lost(Lost::TooDeep))),
        count(&|h| matches!(h, Holder::Lost(Lost::DeadEnd { .. }))),
        count(&|h| matches!(h, Holder::Lost(Lost::Ineligible { .. }))),
        res.weight.iter().max().unwrap_or(&0),
    );

    println!("tallies: {voters} ballots × {OPTIONS} options (weight 1 each)");
    let quadratic: Vec<Ballot> = (0..voters)
        .map(|_| {
            Ballot::Scores(
                (0..OPTIONS)
                    .map(|o| rng.below(11) as i64 - 5 + i64::from(o == 3))
                    .collect(),
            )
        })
        .collect();
    let out = bench_tally("quadratic", "quadratic", &quadratic);
    println!("    winner {:?}, figures {:?}", out.winners, out.figures);

    let schulze: Vec<Ballot> = (0..voters)
        .map(|_| {
            Ballot::Scores(
                (0..OPTIONS)
                    .map(|o| rng.below(7) as i64 - 3 + i64::from(o == 6))
                    .collect(),
            )
        })
        .collect();
    let out = bench_tally("schulze", "schulze", &schulze);
    println!("    winner {:?}, ranking {:?}", out.winners, out.ranking);

    let irv: Vec<Ballot> = (0..voters)
        .map(|_| {
            let mut order: Vec<u32> = (0..OPTIONS as u32).collect();
            for i in (1..OPTIONS).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            order.truncate(1 + rng.below(OPTIONS as u64) as usize);
            Ballot::Rank(order)
        })
        .collect();
    let out = bench_tally("irv", "irv", &irv);
    println!(
        "    winner {:?} after {} rounds, {} exhausted",
        out.winners,
        out.rounds.len(),
        out.exhausted
    );

    println!("majority: {members} ballots");
    let majority: Vec<Ballot> = (0..members)
        .map(|_| {
            Ballot::Choice(match rng.below(10) {
                0..=4 => 0,
                5..=8 => 1,
                _ => 2,
            } as u32)
        })
        .collect();
    let out = bench_tally(
        "majority (2/3, quorum 1/2)",
        "majority:threshold=2/3,quorum=1/2",
        &majority,
    );
    println!("    figures {:?}, passed {:?}", out.figures, out.passed);
}
