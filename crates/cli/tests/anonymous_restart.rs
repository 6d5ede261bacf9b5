//! Anonymous mode (issue 16): tunnel failure and restart, with real `dualpower serve
//! --anonymous` processes on a local I2P test network (four routers in this test's process on
//! 127.0.0.1; each node embeds its own router).
//!
//! Stopping a node takes its router down, and every tunnel and session with it. Each side is
//! restarted in turn, because they fail differently: the member that joined dials the
//! inviter's persistent destination, and the inviter learned the member's address only from
//! the group's log. After each restart the node builds new tunnels, finds the other member
//! from the group's log (its `Reach` event), and the sync resumes with nothing lost.
//!
//! Its own test binary, so its I2P tunnels do not compete with another test's for the CPU.
#![allow(clippy::unwrap_used)]
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");
include!("common/anonymous.rs");

#[test]
fn the_sync_resumes_after_either_member_restarts_over_i2p() {
    let t = Instant::now();
    let net = Net::new("anon-restart");
    let (rt, devnet, devnet_file) = devnet(&net);
    let a_home = net.member("a");
    let b_home = net.member("b");
    let group = net.create_group(&a_home, "Safe house");
    let a = Node::start_anonymous(&net, "a", &devnet_file);
    let b = Node::start_anonymous(&net, "b", &devnet_file);
    let code = net.invite(&a_home, &group);
    net.join(&b_home, &code, &group);
    net.post(&a_home, &group, "meeting moved to thursday");
    net.wait_post(&b_home, &group, "meeting moved to thursday", I2P);
    eprintln!("B synced over I2P after {:?}", t.elapsed());

    // The member who joined stops; the inviter posts; the member comes back and catches up.
    b.stop();
    net.post(&a_home, &group, "while you were away");
    let b = Node::start_anonymous(&net, "b", &devnet_file);
    net.wait_post(&b_home, &group, "while you were away", I2P);
    eprintln!("B caught up after its restart at {:?}", t.elapsed());

    // The inviter stops (the address in the invite goes dark); the member posts; the inviter
    // comes back at the same address and catches up.
    a.stop();
    net.post(&b_home, &group, "the keys are with maria");
    let a = Node::start_anonymous(&net, "a", &devnet_file);
    net.wait_post(&a_home, &group, "the keys are with maria", I2P);
    eprintln!("A caught up after its restart at {:?}", t.elapsed());

    // Nothing was lost on either side: both logs hold all three posts, and both converge.
    for h in [&a_home, &b_home] {
        net.wait_post(h, &group, "meeting moved to thursday", DEADLINE);
        net.wait_post(h, &group, "while you were away", DEADLINE);
        net.wait_post(h, &group, "the keys are with maria", DEADLINE);
    }
    wait_for(
        "both members to hold the same group state",
        DEADLINE,
        || {
            let (x, y) = (
                net.state_hash(&a_home, &group)?,
                net.state_hash(&b_home, &group)?,
            );
            (x == y).then_some(()).ok_or(format!("{x} != {y}"))
        },
    );
    only_loopback(&a);
    only_loopback(&b);
    a.stop();
    b.stop();
    rt.block_on(devnet.shutdown());
}
