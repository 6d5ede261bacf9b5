//! Reputation at scale: 100 000 members, 1 000 000 receipts over 200 000 confirmer → earner
//! pairs, one domain, 10 seeds, decay on. Prints the full computation and the cost of one
//! iteration (the difference between 30 iterations and none, divided by 30), wall and CPU,
//! median of 5 runs.
//!
//! `cargo run --release -p dualpower-bench --bin reputation [-- MEMBERS RECEIPTS PAIRS]`

use std::collections::BTreeSet;
use std::time::Instant;

use dualpower_bench::thread_cpu;

use dualpower_reputation::{ONE, Params, Receipt, compute};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let members = args.first().copied().unwrap_or(100_000);
    let receipts_n = args.get(1).copied().unwrap_or(1_000_000);
    let pairs_n = args.get(2).copied().unwrap_or(200_000);
    // A fixed pseudo-random graph: every run measures the same work.
    let mut rng = dualpower_bench::Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut next = || rng.next_u64();
    let pairs: Vec<(u32, u32)> = (0..pairs_n)
        .map(|_| {
            let a = (next() % members) as u32;
            let mut b = (next() % members) as u32;
            if a == b {
                b = (b + 1) % members as u32;
            }
            (a, b)
        })
        .collect();
    let receipts: Vec<Receipt<u32>> = (0..receipts_n)
        .map(|i| {
            let (from, to) = pairs[(next() % pairs_n) as usize];
            Receipt {
                domain: "logistics".into(),
                from,
                to,
                at: i,
                weight: ONE,
            }
        })
        .collect();
    let mut params = Params::with_seeds((0..10u32).collect::<BTreeSet<_>>());
    params.half_life = receipts_n / 4;
    let run = |iterations: u32| {
        let mut p = params.clone();
        p.iterations = iterations;
        let c0 = thread_cpu();
        let t0 = Instant::now();
        let s = compute(&receipts, &p, receipts_n).expect("valid parameters");
        let wall = t0.elapsed().as_secs_f64();
        let cpu = thread_cpu() - c0;
        let n = s.get("logistics").map_or(0, |m| m.len());
        (wall, cpu, n)
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut w30, mut c30, mut w0, mut c0) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut scored = 0;
    for _ in 0..5 {
        let (w, c, n) = run(30);
        w30.push(w);
        c30.push(c);
        scored = n;
        let (w, c, _) = run(0);
        w0.push(w);
        c0.push(c);
    }
    let (w30, c30, w0, c0) = (median(w30), median(c30), median(w0), median(c0));
    println!(
        "{members} members, {receipts_n} receipts, {pairs_n} pairs, {scored} scored, 30 iterations"
    );
    println!(
        "full computation: {:.0} ms wall, {:.0} ms CPU ({:.2} M receipts per CPU-second)",
        w30 * 1e3,
        c30 * 1e3,
        receipts_n as f64 / c30 / 1e6
    );
    println!(
        "  of which aggregation and graph: {:.0} ms wall, {:.0} ms CPU",
        w0 * 1e3,
        c0 * 1e3
    );
    println!(
        "  one iteration over {pairs_n} pairs: {:.1} ms wall, {:.1} ms CPU",
        (w30 - w0) / 30.0 * 1e3,
        (c30 - c0) / 30.0 * 1e3
    );
}
