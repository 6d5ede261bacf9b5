//! The ledger's invariants under random payments, limits and partial knowledge: balances
//! always sum to zero; no payment takes its payer below its limit counting only what the payer
//! had seen; credit the payer had not seen never counts; nothing refused changes anything.

use std::collections::BTreeSet;

use dualpower_credit::{CreditError, Ledger, MAX_AMOUNT};
use proptest::prelude::*;

#[test]
fn refusals_say_why_and_change_nothing() {
    let mut l: Ledger<u32, u32> = Ledger::default();
    let all = |_: &u32| true;
    assert_eq!(l.pay(1, &0, &1, 0, 10, all), Err(CreditError::Zero));
    assert_eq!(
        l.pay(2, &0, &1, MAX_AMOUNT + 1, 10, all),
        Err(CreditError::TooLarge {
            amount: MAX_AMOUNT + 1
        })
    );
    assert_eq!(l.pay(3, &0, &0, 5, 10, all), Err(CreditError::ToSelf));
    assert_eq!(l.pay(4, &0, &1, 10, 10, all), Ok(()));
    let e = l.pay(5, &0, &1, 1, 10, all).unwrap_err();
    assert_eq!(
        e,
        CreditError::Overspend {
            balance: -10,
            amount: 1,
            after: -11,
            limit: 10
        }
    );
    assert!(e.to_string().contains("below its limit of -10"), "{e}");
    assert_eq!((l.balance(&0), l.balance(&1), l.sum()), (-10, 10, 0));
}

#[test]
fn credit_counts_only_once_the_spender_has_seen_it() {
    let mut l: Ledger<u32, u32> = Ledger::default();
    l.pay(1, &9, &0, 5, 0, |_| true).unwrap_err(); // 9 has nothing and no limit
    l.pay(1, &9, &0, 50, 100, |_| true).unwrap();
    // 0 received 50, but its payment does not have payment 1 in its past: it cannot spend it.
    assert!(matches!(
        l.pay(2, &0, &1, 10, 0, |_| false),
        Err(CreditError::Overspend { balance: 0, .. })
    ));
    // Once payment 1 is in its past, it can.
    l.pay(3, &0, &1, 10, 0, |p| *p == 1).unwrap();
    // And from then on (later payments of 0 have its earlier ones in their past).
    l.pay(4, &0, &1, 40, 0, |_| false).unwrap();
    assert_eq!((l.balance(&0), l.balance(&1), l.balance(&9)), (0, 50, -50));
    assert_eq!(l.sum(), 0);
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    /// `payer` pays `payee` `amount`.
    Pay(u8, u8, u64),
    /// `who` learns of every payment so far (a sync).
    Sync(u8),
    /// `who`'s limit becomes `limit`.
    Limit(u8, u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u8..8, 0u8..8, prop_oneof![1u64..50, Just(0), Just(MAX_AMOUNT + 1), 1u64..=MAX_AMOUNT])
            .prop_map(|(a, b, x)| Step::Pay(a, b, x)),
        2 => (0u8..8).prop_map(Step::Sync),
        1 => (0u8..8, 0u64..100).prop_map(|(a, l)| Step::Limit(a, l)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn balances_sum_to_zero_and_nobody_spends_past_its_limit(
        steps in proptest::collection::vec(step(), 1..200),
        default_limit in 0u64..60,
    ) {
        let mut l: Ledger<u8, u32> = Ledger::default();
        let mut limits = [default_limit; 8];
        // What each account has seen: payment ids (its own are always known).
        let mut seen: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); 8];
        let mut next = 0u32;
        for s in steps {
            match s {
                Step::Pay(a, b, amount) => {
                    let before: Vec<i128> = (0..8).map(|k| l.balance(&k)).collect();
                    let known = seen[a as usize].clone();
                    let limit = limits[a as usize];
                    let id = next;
                    next += 1;
                    match l.pay(id, &a, &b, amount, limit, |p| known.contains(p)) {
                        Ok(()) => {
                            seen[a as usize].insert(id);
                            prop_assert!((1..=MAX_AMOUNT).contains(&amount) && a != b);
                            // What the payer could spend: what it had seen come in minus all it
                            // paid; the payment leaves that at or above -limit.
                            let seen_now = l.seen_balance(&a, |p| known.contains(p));
                            prop_assert!(seen_now >= -i128::from(limit), "{seen_now} < -{limit}");
                            prop_assert!(l.balance(&a) >= seen_now);
                        }
                        Err(_) => {
                            let after: Vec<i128> = (0..8).map(|k| l.balance(&k)).collect();
                            prop_assert_eq!(before, after, "a refusal changed balances");
                        }
                    }
                }
                Step::Sync(a) => {
                    seen[a as usize].extend(0..next);
                }
                Step::Limit(a, x) => limits[a as usize] = x,
            }
            prop_assert_eq!(l.sum(), 0);
        }
    }
}
