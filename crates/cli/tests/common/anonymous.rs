// What the anonymous-mode tests share (included with `include!`, after common/processes.rs):
// a local I2P test network, and the sockets a node process holds, read from /proc.

/// How long anything over I2P may take (tunnels, the first lease set lookups, admission).
const I2P: Duration = Duration::from_secs(240);

/// A local I2P test network of four routers on 127.0.0.1, run in this test's process on its
/// own runtime (returned with it: the routers live as long as it), and the file that
/// `serve --anonymous --i2p-devnet FILE` joins it with.
fn devnet(net: &Net) -> (tokio::runtime::Runtime, dualpower_i2p::Devnet, PathBuf) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let devnet = rt
        .block_on(dualpower_i2p::Devnet::start(&net.tmp.path().join("devnet"), 4))
        .unwrap();
    let file = net.tmp.path().join("devnet.txt");
    devnet.info().write(&file).unwrap();
    (rt, devnet, file)
}

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
