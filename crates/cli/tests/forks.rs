//! A fork between two real `dualpower serve` processes on loopback. A member's key (B's, which
//! the test unlocks: nodes store only events of keys that can be in the group) signs two events
//! at the same (log, seq); each node first receives a different version (imported as a bundle
//! while it is stopped). Once running, the nodes reconcile the fork by sync alone and
//! end with identical event sets holding both versions, and a later post by a member, which
//! cites one branch, reaches the node that had the other branch first and is stored there, not
//! stranded in quarantine. Every wait has a deadline; every child is killed when its guard drops.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

use dualpower_core::{Draft, EventId, GroupId, Identity, NetworkId, Payload, VerifiedEvent};
use dualpower_store::BundleWriter;
use serde_json::json;

/// Ids, fork proofs and quarantine as `log` shows them on `home`.
fn log_view(
    net: &Net,
    home: &Path,
    group: &str,
) -> Result<(BTreeSet<String>, usize, usize), String> {
    let log = net.try_json(home, &["log", group])?;
    let ids = log["events"]
        .as_array()
        .ok_or("no events")?
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let forks = log["forks"].as_array().ok_or("no forks")?.len();
    let quarantined = log["quarantine"].as_array().ok_or("no quarantine")?.len();
    Ok((ids, forks, quarantined))
}

/// Writes `events` as a bundle file for `net`'s network.
fn bundle(net: &Net, name: &str, events: &[&VerifiedEvent]) -> PathBuf {
    let path = net.home(name);
    let file = File::create(&path).unwrap();
    let mut w = BundleWriter::new(file, &NetworkId::named(&net.network)).unwrap();
    for ev in events {
        w.push(ev.envelope(), ev.body()).unwrap();
    }
    w.finish().unwrap();
    path
}

fn import(net: &Net, home: &Path, file: &Path) -> Value {
    net.ok_json(home, &["import", file.to_str().unwrap()])
}

#[test]
fn two_nodes_reconcile_a_fork_and_a_post_citing_one_branch_is_not_stranded() {
    let net = Net::new("fork");
    let a_home = net.member("a");
    let b_home = net.member("b");
    let g = net.create_group(&a_home, "Forked co-op");
    let group = GroupId::from_hex(&g).unwrap();

    // B becomes a member the ordinary way, so the two nodes sync the group.
    let a = Node::start(&net, "a", &[]);
    let b = Node::start(&net, "b", &[&a.addr]);
    let b_id = net.invite_and_join(&a_home, &b_home, &g);
    net.wait_member(&a_home, &g, &b_id);
    net.wait_settled(&[&a_home, &b_home], &g);
    b.stop();
    a.stop();

    // B's key, which the test holds, signs one seq twice after its head.
    let forker = dualpower_store::keystore::unlock(&b_home, PASS).unwrap();
    // B's log in the group so far: the fork goes on from its head.
    let log = net.ok_json(&b_home, &["log", &g]);
    let (head_seq, head) = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["author"] == b_id.as_str() && e["log"] == 0)
        .map(|e| {
            let id = EventId::from_hex(e["id"].as_str().unwrap()).unwrap();
            (e["seq"].as_u64().unwrap(), id)
        })
        .max()
        .unwrap();
    let network = NetworkId::named(&net.network);
    let sign = |seq: u64, backlink: Option<EventId>, text: &str| {
        Draft {
            group,
            log: 0,
            seq,
            backlink,
            deps: vec![],
            timestamp: 1_700_000_000_000 + seq,
            body: Payload::Post { text: text.into() }.encode(),
            flags: 0,
        }
        .sign(&forker, &network)
        .unwrap()
    };
    let base = sign(head_seq + 1, Some(head), "first");
    let fork_seq = head_seq + 2;
    let one = sign(fork_seq, Some(base.id()), "version one");
    let two = sign(fork_seq, Some(base.id()), "version two");
    // B's next post cites the heads of the other logs; the head of a forked log is the
    // smallest id at its highest seq. So B first gets that version, and A the other one: the
    // post will cite the branch A received second.
    let (cited, other) = if one.id() < two.id() {
        (&one, &two)
    } else {
        (&two, &one)
    };
    // A (not forked, so it can still write) gets the branch its later post will cite.
    let for_a = bundle(&net, "for-a.bundle", &[&base, cited]);
    let for_b = bundle(&net, "for-b.bundle", &[&base, other]);
    assert_eq!(import(&net, &a_home, &for_a)["stored"], 2);
    assert_eq!(import(&net, &b_home, &for_b)["stored"], 2);
    let (a_ids, a_forks, _) = log_view(&net, &a_home, &g).unwrap();
    assert!(a_ids.contains(&cited.id().to_hex()) && !a_ids.contains(&other.id().to_hex()));
    assert_eq!(a_forks, 0, "each node holds one version so far");

    // Running again, the nodes reconcile: same length, different heads.
    let t = Instant::now();
    let a = Node::start(&net, "a", &[]);
    let b = Node::start(&net, "b", &[&a.addr]);
    let ids = wait_for("both nodes to hold both versions", DEADLINE, || {
        let va = log_view(&net, &a_home, &g)?;
        let vb = log_view(&net, &b_home, &g)?;
        if va.0 == vb.0 && va.1 == 1 && vb.1 == 1 && va.2 == 0 && vb.2 == 0 {
            Ok(va.0)
        } else {
            Err(format!(
                "A: {} events, {} forks, {} waiting; B: {} events, {} forks, {} waiting",
                va.0.len(),
                va.1,
                va.2,
                vb.0.len(),
                vb.1,
                vb.2
            ))
        }
    });
    eprintln!("fork reconciled after {:?}", t.elapsed());
    assert!(ids.contains(&one.id().to_hex()) && ids.contains(&two.id().to_hex()));

    // B, a member, posts; its post cites the forked log's head, the branch A received second.
    let post = net.post(&a_home, &g, "after the fork");
    let log = net.ok_json(&a_home, &["log", &g]);
    let row = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == post.as_str())
        .unwrap()
        .clone();
    assert!(
        row["deps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == cited.id().to_hex().as_str()),
        "the post does not cite the branch: {row}"
    );
    wait_for("B to store A's post", DEADLINE, || {
        let (ids, _, waiting) = log_view(&net, &b_home, &g)?;
        if ids.contains(&post) && waiting == 0 {
            Ok(())
        } else {
            Err(format!(
                "B holds the post: {}, waiting: {waiting}",
                ids.contains(&post)
            ))
        }
    });
    let (a_ids, _, _) = log_view(&net, &a_home, &g).unwrap();
    let (b_ids, _, _) = log_view(&net, &b_home, &g).unwrap();
    assert_eq!(a_ids, b_ids);
    // Same events, same derived state: members, refusals (both versions, with the reason) and
    // the forker listed as frozen from the fork seq, on both nodes alike.
    let ma = net.ok_json(&a_home, &["group", "members", &g]);
    let mb = net.ok_json(&b_home, &["group", "members", &g]);
    assert_eq!(ma, mb, "the two nodes derive different states");
    assert_eq!(
        ma["forked"],
        json!([{ "id": forker.public().to_did(), "seq": fork_seq }]),
        "{ma}"
    );
    for v in [&one, &two] {
        assert!(
            ma["rejected"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == v.id().to_hex().as_str()),
            "a fork version is not refused: {ma}"
        );
    }
    assert_eq!(
        net.state_hash(&a_home, &g).unwrap(),
        net.state_hash(&b_home, &g).unwrap()
    );
    b.stop();
    a.stop();
    for home in [&a_home, &b_home] {
        net.verify_ok(home);
    }
}
