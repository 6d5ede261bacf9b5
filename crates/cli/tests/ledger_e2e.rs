//! Mutual aid and credit across three real `dualpower serve` processes on loopback: a need is
//! posted, matched with an offer on the board, committed to, fulfilled and confirmed, and the
//! receipt shows in the provider's reputation on every node; A pays B; B invoices C and C
//! settles the invoice; an overspend is refused with the amount that can be paid and writes
//! nothing; a limit raise is refused without a vote; every node shows the same balances,
//! summing to zero; `ledger --csv` gives the treasurer's spreadsheet. Every wait has a deadline; every child process is killed when its guard drops.
#![allow(clippy::unwrap_used)]
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

fn balances(v: &Value) -> Vec<(String, String)> {
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["member"].as_str().unwrap().to_owned(),
                a["balance"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn payments_and_invoices_settle_and_every_node_agrees() {
    let t = Instant::now();
    let net = Net::new("ledger");
    let three = Three::start(&net, "Time bank", &[]);
    let g = three.group.clone();
    let homes = three.homes.clone();
    let [a_home, b_home, c_home] = three.homes.clone();
    let [a_id, b_id, c_id] = three.ids.clone();
    eprintln!("group of three ready after {:?}", t.elapsed());

    // A pays B 3 hours.
    let paid = net.ok_json(&a_home, &["pay", &g, &b_id, "3", "--memo", "fixed my bike"]);
    assert_eq!(paid["unit"], "hours");
    // B invoices C 1.5 hours; C sees it and pays it.
    let inv = net.ok_json(
        &b_home,
        &["invoice", &g, &c_id, "1.5", "--memo", "childcare"],
    );
    let inv_id = inv["event"].as_str().unwrap().to_owned();
    wait_for("C to see the invoice", DEADLINE, || {
        let v = net.try_json(&c_home, &["ledger", &g])?;
        v["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == inv_id.as_str())
            .then_some(())
            .ok_or("no invoice yet".to_owned())
    });
    net.ok_json(&c_home, &["pay", &g, "--invoice", &inv_id[..12]]);
    // Paying it twice is refused, and writes nothing.
    let before = net.events(&c_home);
    let again = net.run(&c_home, &["pay", &g, "--invoice", &inv_id[..12]]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("paid already"));
    // C may go to -20.00: paying A 25 is refused with what it can pay, and writes nothing.
    let over = net.run(&c_home, &["pay", &g, &a_id, "25"]);
    assert!(!over.status.success());
    let err = String::from_utf8_lossy(&over.stderr).into_owned();
    assert!(
        err.contains("below your limit of -20.00") && err.contains("at most 18.50"),
        "{err}"
    );
    assert_eq!(net.events(&c_home), before, "refusals write nothing");
    // Raising C's limit directly is refused (limits are by vote by default) …
    let raise = net.run(&a_home, &["limit", &g, "40", "--member", &c_id]);
    assert!(!raise.status.success());
    assert!(String::from_utf8_lossy(&raise.stderr).contains("--set-limit"));

    // Every node shows the same balances, summing to zero.
    let expected = |v: &Value| -> Result<(), String> {
        let b = balances(v);
        let get = |k: &str| b.iter().find(|(m, _)| m == k).map(|(_, x)| x.clone());
        match (get(&a_id), get(&b_id), get(&c_id)) {
            (Some(x), Some(y), Some(z)) if x == "-3.00" && y == "4.50" && z == "-1.50" => Ok(()),
            other => Err(format!("balances {other:?}")),
        }
    };
    for h in &homes {
        let v = wait_for("the ledger to settle", ADMIT, || {
            let v = net.try_json(h, &["balance", &g, "--all"])?;
            expected(&v).map(|()| v)
        });
        assert_eq!(v["sum"], "0.00");
    }
    // The treasurer's spreadsheet: a header and one line per payment.
    let csv = String::from_utf8(net.run(&a_home, &["ledger", &g, "--csv"]).stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "date,from,to,amount,unit,memo,invoice,id");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(csv.contains(",3.00,hours,fixed my bike,"), "{csv}");
    eprintln!("ledger agreed after {:?}", t.elapsed());

    // Mutual aid: B needs childcare; C offers it; the board matches them; C commits, fulfils;
    // B confirms; the receipt counts for C in `care` on every node.
    let need = net.ok_json(
        &b_home,
        &[
            "need",
            &g,
            "Someone to mind the kids on Saturday",
            "--category",
            "care",
            "--place",
            "Elm St",
        ],
    );
    let need_id = need["event"].as_str().unwrap().to_owned();
    net.ok_json(
        &c_home,
        &[
            "offer",
            &g,
            "Childcare on weekends",
            "--category",
            "care",
            "--place",
            "elm st",
        ],
    );
    wait_for(
        "the board to match the need with the offer",
        DEADLINE,
        || {
            let v = net.try_json(&b_home, &["board", &g, "--category", "care"])?;
            let n = v["intents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == need_id.as_str())
                .ok_or("no need")?
                .clone();
            match n["matches"].as_array().map(Vec::len) {
                Some(1) => Ok(()),
                m => Err(format!("matches {m:?}")),
            }
        },
    );
    wait_for("C to see the need", DEADLINE, || {
        net.try_json(&c_home, &["commit", &g, &need_id[..12]])
            .map(|_| ())
    });
    let commitment = wait_for("C's commitment on its board", DEADLINE, || {
        let v = net.try_json(&c_home, &["board", &g])?;
        v["commitments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["intent"] == need_id.as_str())
            .and_then(|c| c["id"].as_str().map(str::to_owned))
            .ok_or("no commitment".to_owned())
    });
    // The receiver cannot fulfil it; the provider does.
    let wrong = net.run(&b_home, &["fulfil", &g, &commitment[..12]]);
    assert!(!wrong.status.success());
    net.ok_json(
        &c_home,
        &[
            "fulfil",
            &g,
            &commitment[..12],
            "--note",
            "three hours, all fine",
        ],
    );
    wait_for("B to confirm the fulfilment", DEADLINE, || {
        net.try_json(&b_home, &["fulfil", &g, &commitment[..12], "--confirm"])
            .map(|_| ())
    });
    for h in &homes {
        wait_for("the receipt to count for C", DEADLINE, || {
            let v = net.try_json(h, &["board", &g])?;
            let confirmed = v["commitments"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == commitment.as_str() && c["confirmed"] == true);
            confirmed
                .then_some(())
                .ok_or("not confirmed yet".to_owned())
        });
    }
    eprintln!("need met and confirmed after {:?}", t.elapsed());

    // A shared cargo bike: A adds it, B books Saturday morning; C's overlapping booking is
    // refused (once C holds B's booking) with who has it, and writes nothing.
    let r = net.ok_json(
        &a_home,
        &[
            "resource",
            "add",
            &g,
            "Cargo bike",
            "--category",
            "transport",
        ],
    );
    let res = r["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Cargo bike")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for("B to see the bike", DEADLINE, || {
        net.try_json(
            &b_home,
            &[
                "book",
                &g,
                &res[..12],
                "--from",
                "2030-06-01 09:00",
                "--hours",
                "3",
            ],
        )
        .map(|_| ())
    });
    wait_for("C to see B's booking", DEADLINE, || {
        let v = net.try_json(&c_home, &["resource", "list", &g])?;
        let n = v["resources"][0]["bookings"].as_array().map_or(0, Vec::len);
        (n == 1).then_some(()).ok_or(format!("{n} bookings"))
    });
    let before = net.events(&c_home);
    let clash = net.run(
        &c_home,
        &[
            "book",
            &g,
            &res[..12],
            "--from",
            "2030-06-01 11:00",
            "--hours",
            "2",
        ],
    );
    assert!(!clash.status.success());
    let err = String::from_utf8_lossy(&clash.stderr).into_owned();
    assert!(err.contains("booked from 2030-06-01 09:00 UTC"), "{err}");
    assert_eq!(net.events(&c_home), before);
    three.stop();
}
