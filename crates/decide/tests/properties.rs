//! Properties every tally and certificate must have, over random inputs.
//!
//! These exist because determinism across peers is the point of this crate: the order ballots
//! arrive in must never change an outcome, and a certificate must commit to every figure.

use dualpower_decide::certificate::Certificate;
use dualpower_decide::{Ballot, Cast, Input, Method, Outcome, tally, validate};
use proptest::prelude::*;

const METHODS: [&str; 11] = [
    "majority:threshold=2/3,quorum=1/3",
    "consent",
    "plurality:quorum=1/2",
    "approval",
    "score:min=-2,max=3",
    "star",
    "dot:dots=5",
    "quadratic",
    "schulze",
    "irv",
    "budget:total=8",
];

const COSTS: [u64; 6] = [3, 5, 2, 4, 1, 6];

/// A valid ballot for `method` over `n` options, built from raw random material.
fn ballot(method: &str, n: usize, raw: &[i64], abstain: bool) -> Ballot {
    if abstain {
        return Ballot::Abstain;
    }
    let pick = |k: usize| raw[0].unsigned_abs() as usize % k;
    let subset = || -> Vec<u32> { (0..n as u32).filter(|&o| raw[o as usize] > 0).collect() };
    match method.split(':').next().unwrap_or("") {
        "majority" => Ballot::Choice(pick(3) as u32),
        "consent" => Ballot::Choice(pick(4) as u32),
        "plurality" => Ballot::Choice(pick(n) as u32),
        "approval" => Ballot::Set(subset()),
        "score" => Ballot::Scores(raw[..n].iter().map(|x| x.rem_euclid(6) - 2).collect()),
        "star" => Ballot::Scores(raw[..n].iter().map(|x| x.rem_euclid(6)).collect()),
        "dot" => {
            let mut left = 5;
            Ballot::Scores(
                raw[..n]
                    .iter()
                    .map(|x| {
                        let p = x.rem_euclid(4).min(left);
                        left -= p;
                        p
                    })
                    .collect(),
            )
        }
        "quadratic" => Ballot::Scores(raw[..n].iter().map(|x| x.rem_euclid(11) - 5).collect()),
        "schulze" => Ballot::Scores(raw[..n].iter().map(|x| x.rem_euclid(5) - 2).collect()),
        "irv" => {
            // A permutation prefix: order options by their raw value, keep a prefix.
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.sort_by_key(|&o| (raw[o as usize], o));
            order.truncate(raw[n].unsigned_abs() as usize % (n + 1));
            Ballot::Rank(order)
        }
        "budget" => {
            let mut left = 8;
            Ballot::Set(
                subset()
                    .into_iter()
                    .filter(|&o| {
                        let c = COSTS[o as usize];
                        let fits = c <= left;
                        if fits {
                            left -= c;
                        }
                        fits
                    })
                    .collect(),
            )
        }
        _ => Ballot::Abstain,
    }
}

#[derive(Clone, Debug)]
struct Case {
    method: Method,
    options: usize,
    keys: Vec<[u8; 32]>,
    electorate: u64,
    casts: Vec<(u64, Ballot)>,
}

fn case() -> impl Strategy<Value = Case> {
    (0..METHODS.len(), 2usize..=6).prop_flat_map(|(m, n)| {
        let name = METHODS[m];
        let options = match name.split(':').next() {
            Some("majority") => 3,
            Some("consent") => 4,
            _ => n,
        };
        (
            proptest::collection::vec(
                (
                    0u64..5,
                    proptest::collection::vec(-20i64..20, 7),
                    proptest::bool::weighted(0.1),
                ),
                0..40,
            ),
            proptest::collection::vec(any::<u8>(), options),
            0u64..200,
        )
            .prop_map(move |(raw, keys, electorate)| Case {
                method: Method::parse(name).expect("method"),
                options,
                keys: keys.iter().map(|k| [*k; 32]).collect(),
                electorate,
                casts: raw
                    .iter()
                    .map(|(w, r, a)| (*w, ballot(name, options, r, *a)))
                    .collect(),
            })
    })
}

fn run(c: &Case, casts: &[(u64, Ballot)]) -> Outcome {
    let casts: Vec<Cast<'_>> = casts
        .iter()
        .map(|(w, b)| Cast {
            weight: *w,
            ballot: b,
        })
        .collect();
    tally(&Input {
        method: &c.method,
        options: c.options,
        costs: &COSTS[..c.options.min(COSTS.len())],
        tiebreak: &c.keys,
        electorate: c.electorate,
        block_override: None,
        casts: &casts,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn generated_ballots_are_valid(c in case()) {
        for (_, b) in &c.casts {
            let costs = &COSTS[..c.options.min(COSTS.len())];
            prop_assert_eq!(validate(&c.method, c.options, costs, b, "reason"), Ok(()));
        }
    }

    #[test]
    fn order_of_casts_does_not_matter(
        (c, shuffled) in case().prop_flat_map(|c| {
            let casts = c.casts.clone();
            (Just(c), Just(casts).prop_shuffle())
        })
    ) {
        let a = run(&c, &c.casts);
        let b = run(&c, &shuffled);
        prop_assert_eq!(&a, &b);
        // Sanity of the shared rules.
        prop_assert!(a.abstained <= a.participation);
        prop_assert_eq!(a.figures.len(), c.options);
        if !a.quorum_met {
            prop_assert!(a.winners.is_empty());
        }
        prop_assert!(a.winners.iter().all(|&w| (w as usize) < c.options));
    }

    #[test]
    fn certificate_commits_to_every_figure(
        c in case(),
        which in any::<prop::sample::Index>(),
        delta in prop_oneof![-5i64..0, 1i64..6],
    ) {
        let outcome = run(&c, &c.casts);
        let cert = Certificate {
            proposal: [7; 32],
            method: c.method.to_text(),
            version: dualpower_decide::version(&c.method).into(),
            options: (0..c.options).map(|i| format!("option {i}")).collect(),
            inputs: [8; 32],
            closes: vec![[9; 32]],
            electorate: c.electorate,
            voters: c.casts.len() as u64,
            delegated: 0,
            lost: vec![],
            void: vec![],
            outcome,
        };
        prop_assert_eq!(cert.encode(), cert.clone().encode());
        prop_assert_eq!(cert.digest(), cert.clone().digest());
        let mut changed = cert.clone();
        let i = which.index(changed.outcome.figures.len());
        changed.outcome.figures[i] = changed.outcome.figures[i].wrapping_add(delta);
        prop_assert_ne!(changed.digest(), cert.digest());
    }
}
