//! Published examples with known outcomes, run through the public API.
//!
//! These exist to pin our rules to the literature: if a change to a method makes one of these
//! disagree with the textbook answer, the change is wrong (or the method's version must change
//! and the divergence be documented).

use dualpower_decide::{
    Ballot, Cast, Input, Method, Outcome, Ratio, quadratic_cost, tally, validate,
};

/// Tallies `(count, ballot)` groups, each ballot of weight 1, keys = option index.
fn run(
    method: &str,
    options: usize,
    costs: &[u64],
    electorate: u64,
    groups: &[(u64, Ballot)],
) -> Outcome {
    let method = Method::parse(method).expect("method parses");
    let keys: Vec<[u8; 32]> = (0..options).map(|i| [i as u8; 32]).collect();
    let mut casts = Vec::new();
    for (count, ballot) in groups {
        for _ in 0..*count {
            casts.push(Cast { weight: 1, ballot });
        }
    }
    let electorate = if electorate == 0 {
        groups.iter().map(|(c, _)| c).sum()
    } else {
        electorate
    };
    tally(&Input {
        method: &method,
        options,
        costs,
        tiebreak: &keys,
        electorate,
        block_override: None,
        casts: &casts,
    })
}

/// A full ranking as Schulze grades: first choice gets the highest positive grade.
fn grades(order: &str, letters: &str) -> Ballot {
    let n = letters.len() as i64;
    let mut g = vec![0i64; letters.len()];
    for (pos, ch) in order.chars().enumerate() {
        let o = letters.find(ch).expect("known candidate");
        g[o] = n - pos as i64;
    }
    Ballot::Scores(g)
}

fn rank(order: &str, letters: &str) -> Ballot {
    Ballot::Rank(
        order
            .chars()
            .map(|ch| letters.find(ch).expect("known candidate") as u32)
            .collect(),
    )
}

/// Wikipedia, "Schulze method", the 45-voter example: E wins, E > A > C > B > D.
#[test]
fn schulze_wikipedia_example() {
    let l = "ABCDE";
    let groups: Vec<(u64, Ballot)> = [
        (5, "ACBED"),
        (5, "ADECB"),
        (8, "BEDAC"),
        (3, "CABED"),
        (7, "CAEBD"),
        (2, "CBADE"),
        (7, "DCEBA"),
        (8, "EBADC"),
    ]
    .iter()
    .map(|(n, o)| (*n, grades(o, l)))
    .collect();
    let out = run("schulze", 5, &[], 0, &groups);
    // The pairwise preferences as published.
    let d = [
        [0, 20, 26, 30, 22],
        [25, 0, 16, 33, 18],
        [19, 29, 0, 17, 24],
        [15, 12, 28, 0, 14],
        [23, 27, 21, 31, 0],
    ];
    for (a, row) in d.iter().enumerate() {
        assert_eq!(&out.matrix[a][..5], row, "row {a}");
        // Everyone grades every option above the status quo.
        assert_eq!(out.matrix[a][5], 45);
        assert_eq!(out.matrix[5][a], 0);
    }
    assert_eq!(out.winners, vec![4]);
    assert_eq!(
        out.ranking,
        vec![vec![4], vec![0], vec![2], vec![1], vec![3]]
    );
    assert_eq!(out.figures, vec![4, 2, 3, 1, 5]);
    assert!(!out.tie);
}

/// An option nobody grades above the status quo cannot win, nor one most voters reject.
#[test]
fn schulze_status_quo_holds() {
    let out = run(
        "schulze",
        2,
        &[],
        0,
        &[
            (3, Ballot::Scores(vec![0, 0])),
            (2, Ballot::Scores(vec![0, -1])),
        ],
    );
    assert!(out.winners.is_empty());
    let out = run(
        "schulze",
        2,
        &[],
        0,
        &[
            (4, Ballot::Scores(vec![-1, -2])),
            (3, Ballot::Scores(vec![2, 1])),
        ],
    );
    assert!(out.winners.is_empty());
    assert_eq!(out.matrix[2][0], 4);
    assert_eq!(out.matrix[0][2], 3);
}

/// Wikipedia's Tennessee capital example: Memphis 42 %, Nashville 26 %, Chattanooga 15 %,
/// Knoxville 17 %. Plurality elects Memphis, instant-runoff Knoxville, Condorcet methods
/// Nashville.
#[test]
fn tennessee_capital() {
    let l = "MNCK";
    let voters = [(42, "MNCK"), (26, "NCKM"), (15, "CKNM"), (17, "KCNM")];

    let irv: Vec<(u64, Ballot)> = voters.iter().map(|(n, o)| (*n, rank(o, l))).collect();
    let out = run("irv", 4, &[], 0, &irv);
    assert_eq!(
        out.rounds,
        vec![
            vec![42, 26, 15, 17],
            vec![42, 26, -1, 32],
            vec![42, -1, -1, 58]
        ]
    );
    assert_eq!(out.winners, vec![3]);
    assert_eq!(out.figures, vec![42, 0, 0, 58]);
    assert_eq!(out.ranking, vec![vec![3], vec![0], vec![1], vec![2]]);
    assert_eq!(out.exhausted, 0);
    assert!(!out.tie);

    let first: Vec<(u64, Ballot)> = voters
        .iter()
        .map(|(n, o)| (*n, Ballot::Choice(l.find(&o[..1]).expect("city") as u32)))
        .collect();
    assert_eq!(run("plurality", 4, &[], 0, &first).winners, vec![0]);

    let schulze: Vec<(u64, Ballot)> = voters.iter().map(|(n, o)| (*n, grades(o, l))).collect();
    let out = run("schulze", 4, &[], 0, &schulze);
    assert_eq!(out.winners, vec![1]);
    assert_eq!(out.ranking, vec![vec![1], vec![2], vec![3], vec![0]]);
}

/// Partial rankings exhaust; exhaustion is reported and the majority is of continuing ballots.
#[test]
fn irv_partial_ballots_exhaust() {
    let l = "ABC";
    let out = run(
        "irv",
        3,
        &[],
        0,
        &[
            (5, rank("A", l)),
            (4, rank("B", l)),
            (3, rank("C", l)),
            (1, rank("CB", l)),
        ],
    );
    // Round 1: A 5, B 4, C 4 — B and C tie for last with no earlier round to look back to,
    // so the larger key (C) goes: its 3 single-choice ballots exhaust, one moves to B.
    // Round 2: A 5, B 5 of 10 — no majority; they tie, but B had fewer in round 1, so B goes
    // and its 5 ballots exhaust. Round 3: A alone.
    assert_eq!(out.rounds[0], vec![5, 4, 4]);
    assert_eq!(out.rounds[1], vec![5, 5, -1]);
    assert_eq!(out.rounds[2], vec![5, -1, -1]);
    assert_eq!(out.winners, vec![0]);
    assert_eq!(out.exhausted, 8);
    assert!(out.tie, "round 1 was decided by keys");
}

/// The backwards tie-break: a tie for last is broken by the previous round's counts first.
#[test]
fn irv_backwards_tie_break() {
    // Options in the order A, C, B, D, so C has a smaller key than B.
    let l = "ACBD";
    let out = run(
        "irv",
        4,
        &[],
        0,
        &[
            (6, rank("A", l)),
            (4, rank("B", l)),
            (3, rank("CB", l)),
            (1, rank("DCB", l)),
        ],
    );
    // Round 2: A 6, C 4, B 4. Keys alone would eliminate B (the larger key), but C had 3 to
    // B's 4 in round 1, so C goes and B wins with 8 of 14.
    assert_eq!(
        out.rounds,
        vec![vec![6, 3, 4, 1], vec![6, 4, 4, -1], vec![6, -1, 8, -1]]
    );
    assert_eq!(out.winners, vec![2]);
    assert!(!out.tie);
}

/// Majority thresholds compare by cross-multiplication.
#[test]
fn majority_thresholds_and_quorum() {
    let yes = Ballot::Choice(0);
    let no = Ballot::Choice(1);
    let abstain = Ballot::Choice(2);
    let m = "majority:threshold=2/3";
    assert_eq!(
        run(m, 3, &[], 0, &[(200, yes.clone()), (100, no.clone())]).passed,
        Some(true)
    );
    assert_eq!(
        run(m, 3, &[], 0, &[(199, yes.clone()), (100, no.clone())]).passed,
        Some(false)
    );
    let q = "majority:quorum=1/2";
    assert_eq!(
        run(q, 3, &[], 10, &[(3, yes.clone()), (1, no.clone())]).passed,
        Some(false)
    );
    assert_eq!(
        run(
            q,
            3,
            &[],
            10,
            &[(3, yes.clone()), (1, no.clone()), (1, abstain.clone())]
        )
        .passed,
        Some(true)
    );
    assert_eq!(
        run("majority", 3, &[], 0, &[(5, abstain)]).passed,
        Some(false)
    );
    assert_eq!(run("majority", 3, &[], 10, &[]).passed, Some(false));
    assert_eq!(
        run("majority", 3, &[], 0, &[(3, yes), (3, no)]).passed,
        Some(false)
    );
}

/// One block stops a consent decision; the constitution's override can carry it.
#[test]
fn consent_blocks() {
    let m = Method::parse("consent").expect("method");
    let block = Ballot::Choice(3);
    assert!(validate(&m, 4, &[], &block, "").is_err());
    let ballots = [
        Ballot::Choice(0),
        Ballot::Choice(0),
        Ballot::Choice(0),
        block,
    ];
    let casts: Vec<Cast<'_>> = ballots
        .iter()
        .map(|b| Cast {
            weight: 1,
            ballot: b,
        })
        .collect();
    let input = |block_override| Input {
        method: &m,
        options: 4,
        costs: &[],
        tiebreak: &[],
        electorate: 4,
        block_override,
        casts: &casts,
    };
    assert_eq!(tally(&input(None)).passed, Some(false));
    assert_eq!(
        tally(&input(Some(Ratio { num: 3, den: 4 }))).passed,
        Some(true)
    );
    assert_eq!(
        tally(&input(Some(Ratio { num: 4, den: 5 }))).passed,
        Some(false)
    );
}

/// Lalley–Weyl: 100 credits buy (6, 8) exactly; (6, 9) costs 117, which the caller refuses.
#[test]
fn quadratic_credits() {
    assert_eq!(quadratic_cost(&Ballot::Scores(vec![6, 8])), 100);
    assert_eq!(quadratic_cost(&Ballot::Scores(vec![6, 9])), 117);
    let out = run(
        "quadratic",
        2,
        &[],
        0,
        &[
            (1, Ballot::Scores(vec![6, 8])),
            (1, Ballot::Scores(vec![10, -0])),
        ],
    );
    assert_eq!(out.figures, vec![16, 8]);
    assert_eq!(out.winners, vec![0]);
}

/// Greedy participatory budgeting skips a project that does not fit and keeps going.
#[test]
fn budget_greedy_skip() {
    let costs = [600, 500, 300];
    let m = Method::parse("budget:total=1000").expect("method");
    assert!(validate(&m, 3, &costs, &Ballot::Set(vec![0, 1]), "").is_err());
    let out = run(
        "budget:total=1000",
        3,
        &costs,
        0,
        &[
            (2, Ballot::Set(vec![0, 2])),
            (3, Ballot::Set(vec![0])),
            (4, Ballot::Set(vec![1])),
            (1, Ballot::Set(vec![2])),
        ],
    );
    assert_eq!(out.figures, vec![5, 4, 3]);
    assert_eq!(out.winners, vec![0, 2]);
    assert_eq!(out.spent, 900);
}

/// Small known examples of the plurality-like methods, and a tie each decided by key.
#[test]
fn plurality_approval_score_dot() {
    let out = run(
        "plurality",
        3,
        &[],
        0,
        &[
            (4, Ballot::Choice(0)),
            (5, Ballot::Choice(1)),
            (2, Ballot::Choice(2)),
        ],
    );
    assert_eq!((out.winners, out.tie), (vec![1], false));
    let out = run(
        "plurality",
        2,
        &[],
        0,
        &[(3, Ballot::Choice(1)), (3, Ballot::Choice(0))],
    );
    assert_eq!((out.winners, out.tie), (vec![0], true));

    let out = run(
        "approval",
        3,
        &[],
        0,
        &[
            (3, Ballot::Set(vec![0, 1])),
            (2, Ballot::Set(vec![1, 2])),
            (1, Ballot::Set(vec![2])),
        ],
    );
    assert_eq!(out.figures, vec![3, 5, 3]);
    assert_eq!(out.winners, vec![1]);
    let out = run("approval", 2, &[], 0, &[(2, Ballot::Set(vec![0, 1]))]);
    assert_eq!((out.winners, out.tie), (vec![0], true));

    let out = run(
        "score",
        2,
        &[],
        0,
        &[
            (2, Ballot::Scores(vec![5, 1])),
            (3, Ballot::Scores(vec![1, 4])),
        ],
    );
    assert_eq!(out.figures, vec![13, 14]);
    assert_eq!(out.winners, vec![1]);
    let out = run("score", 2, &[], 0, &[(1, Ballot::Scores(vec![3, 3]))]);
    assert_eq!((out.winners, out.tie), (vec![0], true));

    let out = run(
        "dot:dots=8",
        3,
        &[],
        0,
        &[
            (2, Ballot::Scores(vec![8, 0, 0])),
            (3, Ballot::Scores(vec![0, 4, 4])),
        ],
    );
    assert_eq!(out.figures, vec![16, 12, 12]);
    assert_eq!(out.winners, vec![0]);
    assert_eq!(out.ranking, vec![vec![0], vec![1, 2]]);
    let out = run("dot:dots=8", 2, &[], 0, &[(1, Ballot::Scores(vec![4, 4]))]);
    assert_eq!((out.winners, out.tie), (vec![0], true));
}
