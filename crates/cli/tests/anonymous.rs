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
//! Not here yet (issue 16 continues): a member that stops and starts again caught up from the
//! group's log in some runs and not in others (within 4 minutes), so it is left out of CI
//! until it is reliable.
//!
//! Every wait has a deadline; every child process is killed when its guard drops. The I2P
//! clock is real (tunnels take seconds to build), so this test takes a minute or more.
#![allow(clippy::unwrap_used)]
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

/// How long anything over I2P may take (tunnels, the first lease set lookups, admission).
const I2P: Duration = Duration::from_secs(240);

/// Every socket `pid` holds, from `/proc`: (protocol, local address, remote address), the
/// addresses as `/proc/net` writes them, decoded to `ip:port`.
fn sockets(pid: u32) -> Vec<(String, String, String)> {
    let mut inodes = BTreeSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let t = target.to_string_lossy().into_owned();
            if let Some(i) = t.strip_prefix("socket:[").and_then(|x| x.strip_suffix(']')) {
                inodes.insert(i.to_owned());
            }
        }
    }
    let mut out = Vec::new();
    for proto in ["tcp", "tcp6", "udp", "udp6"] {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/{proto}")).unwrap();
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && inodes.contains(f[9]) {
                out.push((proto.to_owned(), decode(f[1]), decode(f[2])));
            }
        }
    }
    out
}

/// `0100007F:1F90` → `127.0.0.1:8080`; IPv6 as its 16 bytes in hex (4-byte words, host order).
fn decode(a: &str) -> String {
    let (ip, port) = a.split_once(':').unwrap();
    let port = u16::from_str_radix(port, 16).unwrap();
    if ip.len() == 8 {
        let n = u32::from_str_radix(ip, 16).unwrap();
        format!("{}:{port}", std::net::Ipv4Addr::from(n.swap_bytes()))
    } else {
        let mut bytes = [0u8; 16];
        for w in 0..4 {
            let n = u32::from_str_radix(&ip[w * 8..w * 8 + 8], 16).unwrap();
            bytes[w * 4..w * 4 + 4].copy_from_slice(&n.to_le_bytes());
        }
        format!("[{}]:{port}", std::net::Ipv6Addr::from(bytes))
    }
}

/// Whether `addr` (as [`decode`] writes it) is loopback, or the unspecified remote of a
/// listening socket.
fn loopback_or_none(addr: &str) -> bool {
    addr.starts_with("127.") || addr.starts_with("[::1]") || addr == "0.0.0.0:0" || addr == "[::]:0"
}

/// Asserts that `node` holds no socket off loopback: no TCP/QUIC listener of its own, no mDNS
/// socket (UDP 5353 on every interface); the router's sockets (its NTCP2 on the devnet, its SAM
/// control ports, TCP and UDP) are on 127.0.0.1.
fn only_loopback(node: &Node) {
    let socks = sockets(node.pid());
    assert!(!socks.is_empty(), "{}: no sockets read", node.name);
    for (_proto, local, remote) in &socks {
        assert!(
            local.starts_with("127.") || local.starts_with("[::1]"),
            "{}: a socket bound to {local}, not loopback: {socks:?}",
            node.name
        );
        assert!(
            loopback_or_none(remote),
            "{}: a connection to {remote}, off loopback: {socks:?}",
            node.name
        );
    }
}

#[test]
fn two_members_run_a_group_over_i2p_and_a_clear_net_node_cannot_reach_it() {
    let t = Instant::now();
    let net = Net::new("anon");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let devnet_dir = net.tmp.path().join("devnet");
    let devnet = rt
        .block_on(dualpower_i2p::Devnet::start(&devnet_dir, 4))
        .unwrap();
    let devnet_file = net.tmp.path().join("devnet.txt");
    devnet.info().write(&devnet_file).unwrap();
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
