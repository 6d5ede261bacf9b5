//! A group whose rules require anonymous mode, on the clear net (issue 16): two real
//! `dualpower serve` processes on loopback. Apart from `anonymous.rs` so its nodes do not
//! compete for the CPU with the I2P routers there, whose tunnels are timed.
#![allow(clippy::unwrap_used)]
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

/// A group whose rules require anonymous mode (`--anonymous-only true`) is not synced over the
/// clear net: with two clear-net nodes, a newcomer is admitted to an ordinary group of the
/// same inviter, but never to the anonymous-only one (the inviter's node neither proves it
/// nor accepts a proof of it).
#[test]
fn a_clear_net_node_does_not_sync_an_anonymous_only_group() {
    let net = Net::new("anon-only");
    let a_home = net.member("a");
    let b_home = net.member("b");
    let open = net.create_group(&a_home, "Open group");
    let hidden = net.ok_json(
        &a_home,
        &[
            "group",
            "create",
            "Hidden group",
            "--anonymous-only",
            "true",
        ],
    )["group"]
        .as_str()
        .unwrap()
        .to_owned();
    let rules = net.ok_json(&a_home, &["group", "members", &hidden]);
    assert_eq!(rules["constitution"]["anonymous_only"], true, "{rules}");
    let a = Node::start(&net, "a", &[]);
    let b = Node::start(&net, "b", &[&a.addr]);
    let b_id = net.invite_and_join(&a_home, &b_home, &open);
    let hidden_code = net.invite(&a_home, &hidden);
    net.join(&b_home, &hidden_code, &hidden);
    net.wait_member(&a_home, &open, &b_id);
    // The ordinary group admitted B; give the anonymous-only one as long again, and more.
    std::thread::sleep(Duration::from_secs(10));
    let m = net.ok_json(&a_home, &["group", "members", &hidden]);
    assert!(
        !m.to_string().contains(&b_id),
        "the anonymous-only group synced over the clear net: {m}"
    );
    a.stop();
    b.stop();
}

/// Anonymous mode on the public network with no I2P routers known yet, and reseeding not
/// allowed: `serve` stops at once and says how to get routers (and what reseeding reveals),
/// instead of waiting for tunnels that can never be built. Nothing is contacted.
#[test]
fn anonymous_mode_with_no_routers_known_says_how_to_get_some() {
    let net = Net::new("anon-norouters");
    let home = net.member("a");
    let out = net
        .cmd(&home)
        .args(["serve", "--anonymous"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve ran with no I2P routers known");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--i2p-reseed") && err.contains("IP address"),
        "{err}"
    );
}
