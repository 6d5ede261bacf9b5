//! Two linked groups trade across their ledgers, with three real `dualpower serve` processes on
//! loopback: A is a member of a food co-op and of a transport collective and is the bridge; B is
//! only in the co-op, C only in the collective. Each group decides by its own vote to link; A's
//! node opens the link on both sides by itself. B pays C across: the co-op's clearing account
//! and the collective's move, each ledger still sums to zero, and B's node shows it delivered.
//! A payment to someone who is not in the collective bounces and B is paid back. C's offer,
//! shared with linked groups, shows on the co-op's board. An overspend across is refused and
//! writes nothing. A's `link audit` finds both logs in agreement. Every wait has a deadline.
#![allow(clippy::unwrap_used)]
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

/// `home` proposes with `args`, every one of `voters` votes yes, `home` closes once its node
/// holds every vote; the proposal passed.
fn decide(net: &Net, home: &Path, voters: &[&Path], group: &str, args: &[&str]) -> Value {
    let p = net.ok_json(home, args);
    let pid = p["id"].as_str().unwrap().to_owned();
    for h in voters {
        wait_for("the proposal to arrive", DEADLINE, || {
            net.try_json(h, &["tally", group, &pid]).map(|_| ())
        });
        net.ok_json(h, &["vote", group, &pid, "yes"]);
    }
    wait_for("every vote at the closer", DEADLINE, || {
        let v = net.try_json(home, &["tally", group, &pid])?;
        match v["certificate"]["voters"].as_u64() {
            Some(n) if n as usize == voters.len() => Ok(()),
            n => Err(format!("{n:?} voters")),
        }
    });
    let closed = net.ok_json(home, &["close", group, &pid]);
    assert_eq!(closed["certificate"]["outcome"]["passed"], true, "{closed}");
    p
}

/// The balance of `account` in a `balance --all` answer.
fn balance_of(v: &Value, account: &str) -> Option<String> {
    v["accounts"]
        .as_array()?
        .iter()
        .find(|a| a["member"] == account)
        .map(|a| a["balance"].as_str().unwrap().to_owned())
}

/// The link of a `link list` answer.
fn link(v: &Value) -> Value {
    v["links"][0].clone()
}

#[test]
fn two_linked_groups_trade_across_their_ledgers() {
    let t = Instant::now();
    let net = Net::new("link");
    let a_home = net.member("a");
    let b_home = net.member("b");
    let c_home = net.member("c");
    let food = net.create_group(&a_home, "Food co-op");
    let transport = net.create_group(&a_home, "Transport collective");
    let a = Node::start(&net, "a", &[]);
    let b = Node::start(&net, "b", &[&a.addr]);
    let c = Node::start(&net, "c", &[&a.addr]);
    let a_id = net.did(&a_home);
    let b_id = net.invite_and_join(&a_home, &b_home, &food);
    let c_id = net.invite_and_join(&a_home, &c_home, &transport);
    for h in [&a_home, &b_home] {
        net.wait_member(h, &food, &b_id);
    }
    for h in [&a_home, &c_home] {
        net.wait_member(h, &transport, &c_id);
    }
    eprintln!("two groups ready after {:?}", t.elapsed());

    // Paying across before any link is refused, and writes nothing.
    let before = net.events(&b_home);
    let early = net.run(&b_home, &["link", "pay", &food, &transport, &c_id, "1"]);
    assert!(!early.status.success());
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("no link"),
        "{}",
        String::from_utf8_lossy(&early.stderr)
    );
    assert_eq!(net.events(&b_home), before);

    // Each group decides by its own vote, naming A as the bridge.
    let p = decide(
        &net,
        &a_home,
        &[&a_home, &b_home],
        &food,
        &[
            "link",
            "propose",
            &food,
            "--with",
            &transport,
            "--name",
            "Transport",
            "--limit",
            "50",
            "--bridge",
            &a_id,
        ],
    );
    assert!(
        p["enacts"]
            .as_str()
            .unwrap()
            .contains("link the ledger to Transport"),
        "{p}"
    );
    decide(
        &net,
        &a_home,
        &[&a_home, &c_home],
        &transport,
        &[
            "link",
            "propose",
            &transport,
            "--with",
            &food,
            "--name",
            "Food co-op",
            "--limit",
            "50",
            "--bridge",
            &a_id,
        ],
    );
    // A's node sees both decisions and opens the link on both sides; B and C see it open.
    for (h, g) in [(&b_home, &food), (&c_home, &transport)] {
        wait_for("the link to open", ADMIT, || {
            let v = net.try_json(h, &["link", "list", g])?;
            (link(&v)["status"] == "open")
                .then_some(())
                .ok_or(format!("{}", link(&v)))
        });
    }
    eprintln!("link open after {:?}", t.elapsed());

    // C shares an offer with linked groups; it shows on the co-op's board at B.
    net.ok_json(
        &c_home,
        &[
            "offer",
            &transport,
            "Rides to the market",
            "--category",
            "transport",
            "--quantity",
            "4",
            "--unit",
            "rides",
            "--linked",
        ],
    );
    let board = wait_for("C's offer on the co-op's board", ADMIT, || {
        let v = net.try_json(&b_home, &["board", &food])?;
        v["linked"]
            .as_array()
            .filter(|l| l.iter().any(|i| i["text"] == "Rides to the market"))
            .map(|_| v.clone())
            .ok_or(format!("{}", v["linked"]))
    });
    let shown = &board["linked"][0];
    assert_eq!(shown["author"], c_id.as_str(), "{shown}");
    assert_eq!(shown["group_name"], "Transport", "{shown}");
    assert_eq!(shown["left"], 4, "{shown}");

    // B pays C across for two rides; A's node carries it; each ledger sums to zero.
    net.ok_json(
        &b_home,
        &[
            "link",
            "pay",
            &food,
            "Transport",
            &c_id,
            "3",
            "--memo",
            "two rides",
        ],
    );
    let clearing_t = |v: &Value| link(v)["account"].as_str().unwrap().to_owned();
    let links_t = net.ok_json(&c_home, &["link", "list", &transport]);
    let links_f = net.ok_json(&b_home, &["link", "list", &food]);
    let (acct_in_t, acct_in_f) = (clearing_t(&links_t), clearing_t(&links_f));
    wait_for("C to be paid", ADMIT, || {
        let v = net.try_json(&c_home, &["balance", &transport, "--all"])?;
        match (balance_of(&v, &c_id), balance_of(&v, &acct_in_t)) {
            (Some(c), Some(k)) if c == "3.00" && k == "-3.00" && v["sum"] == "0.00" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    wait_for("B to see it delivered", ADMIT, || {
        let v = net.try_json(&b_home, &["link", "list", &food])?;
        let out = &link(&v)["outgoing"][0];
        (out["state"] == "delivered")
            .then_some(())
            .ok_or(format!("{out}"))
    });
    let f = net.ok_json(&b_home, &["balance", &food, "--all"]);
    assert_eq!(balance_of(&f, &b_id).as_deref(), Some("-3.00"), "{f}");
    assert_eq!(balance_of(&f, &acct_in_f).as_deref(), Some("3.00"), "{f}");
    assert_eq!(f["sum"], "0.00");
    eprintln!("paid across after {:?}", t.elapsed());

    // A payment to someone who is not in the collective bounces: B is paid back.
    net.ok_json(&b_home, &["link", "pay", &food, "Transport", &b_id, "2"]);
    wait_for("the bounce", ADMIT, || {
        let v = net.try_json(&b_home, &["link", "list", &food])?;
        let bounced = link(&v)["outgoing"].as_array().unwrap().iter().any(|o| {
            o["state"] == "bounced" && o["detail"].as_str().unwrap().contains("not a member")
        });
        bounced.then_some(()).ok_or(format!("{}", link(&v)))
    });
    let f = net.ok_json(&b_home, &["balance", &food, "--all"]);
    assert_eq!(balance_of(&f, &b_id).as_deref(), Some("-3.00"), "{f}");
    assert_eq!(f["sum"], "0.00");

    // B may go to -20.00: paying 30 across is refused at once and writes nothing.
    let before = net.events(&b_home);
    let over = net.run(&b_home, &["link", "pay", &food, "Transport", &c_id, "30"]);
    assert!(!over.status.success());
    let err = String::from_utf8_lossy(&over.stderr).into_owned();
    assert!(err.contains("below your limit of -20.00"), "{err}");
    assert_eq!(net.events(&b_home), before, "refusals write nothing");

    // A, in both groups, audits the bridge: both logs agree.
    let audit = net.ok_json(&a_home, &["link", "audit", &food, &transport]);
    assert_eq!(audit["findings"].as_array().unwrap().len(), 0, "{audit}");
    assert!(audit["checked"].as_u64().unwrap() >= 3, "{audit}");
    eprintln!("done after {:?}", t.elapsed());
    for n in [a, b, c] {
        n.stop();
    }
}
