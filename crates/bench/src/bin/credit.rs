//! Mutual-credit ledger replay at scale: 1 000 000 payments across 10 000 accounts (issue 15's
//! target: ≤ 2 s on one core), every payment checked against its payer's limit with the
//! payee-side "seen" bookkeeping the state crate uses. Prints wall and thread CPU time, median
//! of 5 runs, and how many payments were refused (over the limit). A second line replays the
//! same payments with a year of monthly demurrage (12 charges of 1% of every positive balance
//! into a commons account, [`Ledger::levy`]).
//!
//! `cargo run --release -p dualpower-bench --bin credit [-- PAYMENTS ACCOUNTS]`

use std::time::Instant;

use dualpower_bench::thread_cpu;

use dualpower_credit::Ledger;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(1_000_000);
    let accounts = args.get(1).copied().unwrap_or(10_000);
    let mut rng = dualpower_bench::Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut next = || rng.next_u64();
    let payments: Vec<(u32, u32, u64)> = (0..n)
        .map(|_| {
            let a = (next() % accounts) as u32;
            let b = (next() % accounts) as u32;
            (a, b, 1 + next() % 100)
        })
        .collect();
    for ticks in [0u64, 12] {
        let mut runs = Vec::new();
        let mut refused = 0;
        let mut charged = 0u128;
        let every = n.checked_div(ticks).unwrap_or(u64::MAX).max(1);
        for _ in 0..5 {
            let (w, c) = (Instant::now(), thread_cpu());
            let mut l: Ledger<u32, u64> = Ledger::default();
            refused = 0;
            charged = 0;
            for (i, (a, b, amount)) in payments.iter().enumerate() {
                // A payer has seen everything paid to it up to a payment 1 000 back (a node a
                // little behind), so the "seen" bookkeeping does real work.
                let horizon = (i as u64).saturating_sub(1000);
                if l.pay(i as u64, a, b, *amount, 500, |p| *p < horizon)
                    .is_err()
                {
                    refused += 1;
                }
                if (i as u64 + 1).is_multiple_of(every) {
                    let paid = l.levy(i as u64, &u32::MAX, 100, |p| *p < horizon, |_| false);
                    charged += paid.iter().map(|(_, x)| u128::from(*x)).sum::<u128>();
                }
            }
            assert_eq!(l.sum(), 0);
            runs.push((w.elapsed().as_secs_f64(), thread_cpu() - c));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (wall, cpu) = runs[2];
        println!(
            "# ledger replay: {n} payments, {accounts} accounts, {ticks} demurrage charges (median of 5)\n\
             wall {:.1} ms, CPU {:.1} ms, {:.2} M payments per CPU-second, {refused} refused (over the limit), {charged} hundredths charged",
            wall * 1e3,
            cpu * 1e3,
            n as f64 / cpu / 1e6
        );
    }
}
