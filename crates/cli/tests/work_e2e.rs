//! From a decision to confirmed work, across three real `dualpower serve` processes on
//! loopback: a proposal that lists tasks passes and is closed → the tasks appear on every node
//! → members claim (a claim of the full task is refused) → mark done → other members confirm
//! (confirming one's own work, or twice, is refused) → the completions count → receipts →
//! reputation moves, and every node computes the same reputation with the same reasons. Then a
//! rotating role is drawn by commit-reveal sortition: two members volunteer, a third closes the
//! list, the volunteers' nodes reveal by themselves, the closer's node draws, and every node
//! names the same holder with the same seed. Every wait has a deadline; every child process is
//! killed when its guard drops.
#![allow(clippy::unwrap_used)]
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

/// The same JSON on every node (`pick` takes the part to compare), once replication settles.
fn same_everywhere(
    net: &Net,
    homes: &[PathBuf],
    args: &[&str],
    pick: impl Fn(&Value) -> Value,
    ok: impl Fn(&Value) -> Result<(), String>,
) -> Value {
    wait_for(format!("{args:?} to agree on every node"), ADMIT, || {
        let mut first: Option<Value> = None;
        for h in homes {
            let v = net.try_json(h, args)?;
            ok(&v)?;
            let p = pick(&v);
            match &first {
                None => first = Some(p),
                Some(f) if *f == p => {}
                Some(f) => return Err(format!("{} differs: {p} vs {f}", h.display())),
            }
        }
        Ok(first.unwrap())
    })
}

fn refused(net: &Net, home: &Path, args: &[&str], says: &str) {
    let out = net.run(home, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should be refused");
    assert!(err.contains(says), "{args:?}: expected `{says}` in: {err}");
}

fn share(rep: &Value, domain: &str, did: &str) -> u64 {
    rep["domains"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["domain"] == domain)
        .flat_map(|d| d["scores"].as_array().unwrap().iter())
        .find(|s| s["member"] == did)
        .map_or(0, |s| s["share"].as_u64().unwrap())
}

#[test]
fn a_decision_becomes_confirmed_work_and_the_same_reputation_everywhere() {
    let t = Instant::now();
    let net = Net::new("work");
    let three = Three::start(
        &net,
        "Tenants of 5th St",
        &[
            "--roles",
            "admin,facilitator",
            "--rotate",
            "facilitator:30",
            "--confirmations",
            "2",
        ],
    );
    let g = three.group.clone();
    let homes = three.homes.clone();
    let [a_home, b_home, c_home] = three.homes.clone();
    let [a_id, b_id, c_id] = three.ids.clone();
    eprintln!("group of three ready after {:?}", t.elapsed());

    // A proposal lists two tasks; all vote yes; A closes it.
    let p = net.ok_json(
        &a_home,
        &[
            "propose",
            &g,
            "Winter repairs",
            "--task",
            "Fix the boiler;slots=2;domain=logistics;due=7",
            "--task",
            "Call the landlord;domain=outreach",
        ],
    );
    let pid = p["id"].as_str().unwrap().to_owned();
    assert!(
        p["enacts"].as_str().unwrap().contains("create 2 tasks"),
        "{p}"
    );
    for h in [&b_home, &c_home] {
        wait_for("the proposal to reach every node", DEADLINE, || {
            net.try_json(h, &["tally", &g, &pid]).map(|_| ())
        });
    }
    for h in &homes {
        net.ok_json(h, &["vote", &g, &pid, "yes"]);
    }
    wait_for("A to see every vote", DEADLINE, || {
        let v = net.try_json(&a_home, &["tally", &g, &pid])?;
        match v["certificate"]["voters"].as_u64() {
            Some(3) => Ok(()),
            n => Err(format!("{n:?} voters")),
        }
    });
    let closed = net.ok_json(&a_home, &["close", &g, &pid]);
    assert_eq!(closed["certificate"]["outcome"]["passed"], true, "{closed}");

    // The tasks appear on every node, created by the close.
    let tasks = same_everywhere(
        &net,
        &homes,
        &["task", "list", &g],
        |v| v["tasks"].clone(),
        |v| match v["tasks"].as_array().map(Vec::len) {
            Some(2) => Ok(()),
            n => Err(format!("{n:?} tasks")),
        },
    );
    let boiler = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == "Fix the boiler")
        .unwrap();
    assert_eq!(boiler["proposal"], pid.as_str());
    assert_eq!(boiler["status"], "unclaimed");
    let task = boiler["id"].as_str().unwrap().to_owned();
    let short = &task[..12];

    // B and C take the two slots; A's claim of the full task is refused, and writes nothing.
    net.ok_json(&b_home, &["task", "claim", &g, short]);
    wait_for("C to see B's claim", DEADLINE, || {
        let v = net.try_json(&c_home, &["task", "list", &g])?;
        let free = v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == task.as_str())
            .unwrap()["free"]
            .as_u64();
        if free == Some(1) {
            Ok(())
        } else {
            Err(format!("free {free:?}"))
        }
    });
    net.ok_json(&c_home, &["task", "claim", &g, short]);
    wait_for("A to see the task full", DEADLINE, || {
        let v = net.try_json(&a_home, &["task", "list", &g])?;
        let free = v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == task.as_str())
            .unwrap()["free"]
            .as_u64();
        if free == Some(0) {
            Ok(())
        } else {
            Err(format!("free {free:?}"))
        }
    });
    let before = net.events(&a_home);
    refused(&net, &a_home, &["task", "claim", &g, short], "full");
    assert_eq!(
        net.events(&a_home),
        before,
        "a refused claim writes nothing"
    );

    net.ok_json(&b_home, &["task", "done", &g, short, "--note", "new valve"]);
    net.ok_json(
        &c_home,
        &["task", "done", &g, short, "--note", "bled the radiators"],
    );
    refused(
        &net,
        &b_home,
        &["task", "confirm", &g, short, "--member", &b_id],
        "own work",
    );
    for (who, worker) in [
        (&a_home, &b_id),
        (&a_home, &c_id),
        (&c_home, &b_id),
        (&b_home, &c_id),
    ] {
        wait_for("the completion to reach the confirmer", DEADLINE, || {
            net.try_json(who, &["task", "confirm", &g, short, "--member", worker])
                .map(|_| ())
        });
    }
    refused(
        &net,
        &a_home,
        &["task", "confirm", &g, short, "--member", &b_id],
        "already",
    );

    // Both completions count on every node, and reputation is the same everywhere.
    same_everywhere(
        &net,
        &homes,
        &["task", "list", &g],
        |v| v["tasks"].clone(),
        |v| {
            let t = v["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == task.as_str())
                .unwrap();
            match t["completed"].as_array().map(Vec::len) {
                Some(2) => Ok(()),
                n => Err(format!("{n:?} completions counted")),
            }
        },
    );
    let rep = same_everywhere(
        &net,
        &homes,
        &["rep", &g],
        |v| v["domains"].clone(),
        |v| {
            if share(v, "logistics", &b_id) > 0 {
                Ok(())
            } else {
                Err("no reputation yet".into())
            }
        },
    );
    let rep = json_with_domains(rep);
    assert!(share(&rep, "logistics", &b_id) > 0);
    assert!(share(&rep, "logistics", &c_id) > 0);
    assert_eq!(
        share(&rep, "outreach", &b_id),
        0,
        "the other task was not done"
    );
    // `rep MEMBER --why` explains B's score by who confirmed it.
    let why = net.ok_json(&b_home, &["rep", &g, &b_id, "--why"]);
    let reasons: Vec<String> = why["domains"][0]["scores"][0]["why"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["from"].as_str().map(str::to_owned))
        .collect();
    assert!(reasons.contains(&a_id) && reasons.contains(&c_id), "{why}");
    let text = String::from_utf8_lossy(&net.run(&b_home, &["rep", &g, &b_id, "--why"]).stdout)
        .into_owned();
    assert!(
        text.contains("logistics:") && text.contains("from "),
        "{text}"
    );
    eprintln!(
        "work confirmed and reputation agreed after {:?}",
        t.elapsed()
    );

    // A rotating role: B and C volunteer, A closes the list, B's and C's nodes reveal on their
    // own, A draws; every node names the same holder, with the seed anyone can recompute.
    net.ok_json(&b_home, &["role", "volunteer", &g, "facilitator"]);
    net.ok_json(&c_home, &["role", "volunteer", &g, "facilitator"]);
    wait_for("A to see both volunteers", DEADLINE, || {
        let v = net.try_json(&a_home, &["role", "list", &g])?;
        match v["roles"][0]["next"]["volunteers"].as_array().map(Vec::len) {
            Some(2) => Ok(()),
            n => Err(format!("{n:?} volunteers")),
        }
    });
    // A is no volunteer: its first step closes the list. B's and C's nodes reveal by
    // themselves, and A's node (it closed the list) draws once both reveals are in.
    net.ok_json(&a_home, &["role", "draw", &g, "facilitator"]);
    let roles = same_everywhere(
        &net,
        &homes,
        &["role", "list", &g],
        |v| v["roles"].clone(),
        |v| match v["roles"][0]["holder"].as_str() {
            Some(_) => Ok(()),
            None => Err("no holder yet".into()),
        },
    );
    let holder = roles[0]["holder"].as_str().unwrap();
    assert!(holder == b_id || holder == c_id, "{roles}");
    let drawn = &roles[0]["past"][0];
    assert_eq!(drawn["revealed"].as_array().unwrap().len(), 2, "{drawn}");
    assert!(drawn["withheld"].as_array().unwrap().is_empty(), "{drawn}");
    assert_eq!(drawn["seed"].as_str().unwrap().len(), 64);
    // The holder may not volunteer for the next term (it sits one out).
    let holder_home = if holder == b_id { &b_home } else { &c_home };
    refused(
        &net,
        holder_home,
        &["role", "volunteer", &g, "facilitator"],
        "sits out",
    );
    eprintln!("role drawn on every node after {:?}", t.elapsed());
    three.stop();
}

fn json_with_domains(domains: Value) -> Value {
    serde_json::json!({ "domains": domains })
}
