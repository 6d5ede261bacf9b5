//! Anonymous mode (issue 16) with real `dualpower serve --anonymous` processes on a local I2P
//! test network: four I2P routers run in this test's process on 127.0.0.1 (the devnet), and
//! each node embeds its own router that joins them.
//!
//! What it proves:
//! - two members run a group over I2P alone: B joins with an invite code that carries only A's
//!   I2P address, is admitted, and reads A's post; neither node has a TCP/QUIC listener, and
//!   every socket either process holds is on 127.0.0.1 (the router's, its SAM control ports and
//!   the local API's): no socket on another interface, so no mDNS;
//! - a clear-net node given the same kind of invite cannot reach the group (it has no way to
//!   dial an I2P address) and so never joins.
//!
//! Restarts (tunnel failure) are in `anonymous_restart.rs`.
//!
//! Every wait has a deadline; every child process is killed when its guard drops. The I2P
//! clock is real (tunnels take seconds to build), so this test takes a minute or more.
#![allow(clippy::unwrap_used)]
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

include!("common/anonymous.rs");

#[test]
fn two_members_run_a_group_over_i2p_and_a_clear_net_node_cannot_reach_it() {
    let t = Instant::now();
    let net = Net::new("anon");
    let (rt, devnet, devnet_file) = devnet(&net);
    eprintln!("devnet of 4 routers after {:?}", t.elapsed());

    let a_home = net.member("a");
    let b_home = net.member("b");
    let group = net.create_group(&a_home, "Safe house");
    let a = Node::start_anonymous(&net, "a", &devnet_file);
    let b = Node::start_anonymous(&net, "b", &devnet_file);
    eprintln!("both nodes on I2P after {:?}", t.elapsed());

    // Neither node listens on TCP/QUIC; every socket is on loopback.
    for n in [&a, &b] {
        let listen = net.ok_json(&n.home, &["status"])["node"]["listen"].clone();
        let addrs: Vec<&str> = listen
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert!(
            !addrs.is_empty() && addrs.iter().all(|x| x.starts_with("/garlic64/")),
            "{}: {addrs:?}",
            n.name
        );
        only_loopback(n);
    }

    // B joins with a code that carries only A's I2P address.
    let code = net.invite(&a_home, &group);
    net.join(&b_home, &code, &group);
    let b_id = net.did(&b_home);
    for h in [&a_home, &b_home] {
        wait_for(format!("B to be a member on {}", h.display()), I2P, || {
            let v = net.try_json(h, &["group", "members", &group])?;
            v["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["id"] == b_id.as_str())
                .then_some(())
                .ok_or_else(|| "not yet".to_owned())
        });
    }
    eprintln!("B admitted over I2P after {:?}", t.elapsed());
    net.post(&a_home, &group, "meeting moved to thursday");
    net.wait_post(&b_home, &group, "meeting moved to thursday", I2P);
    eprintln!("first post over I2P after {:?}", t.elapsed());
    for n in [&a, &b] {
        only_loopback(n);
    }

    // A clear-net node cannot reach the group: the code names only A's I2P address.
    let c_home = net.member("c");
    let c = Node::start(&net, "c", &[]);
    let code = net.invite(&a_home, &group);
    net.join(&c_home, &code, &group);
    std::thread::sleep(Duration::from_secs(15));
    let c_id = net.did(&c_home);
    let pending = net.ok_json(&a_home, &["group", "members", &group]);
    assert!(
        !pending.to_string().contains(&c_id),
        "A heard of C's join over clear net: {pending}"
    );
    assert!(
        c.peers(&net).unwrap().is_empty(),
        "the clear-net node connected to someone"
    );
    c.stop();

    a.stop();
    b.stop();
    rt.block_on(devnet.shutdown());
}
