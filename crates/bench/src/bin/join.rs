//! The newcomer's experience in time (issue 12's target: a join is admitted within 2 s of
//! reaching an online member's node on a LAN, and a post right after `rekey` arrives in about
//! 0.14 s, not 6 s).
//!
//! Two real `dualpower_node::run` nodes in one process over TCP on 127.0.0.1, with members-only
//! groups (no `open_groups`: the membership proofs, the invite check and the inviter's node's
//! admission agent all run as they do for people) and no mDNS. Node A created a private group
//! and posted in it. Each round, a fresh newcomer node B (new identity, new store, no bootstrap
//! peers) is given a fresh one-use invite code carrying A's address, and applies `Op::Join`
//! through its node handle, as `dualpower group join` does through `/v1/op`. Measured:
//!
//! - join → admitted: until B's node reports itself a member of the group (the `member` field
//!   of its status, which is what `group join` waits for);
//! - join → reads: until B's node opens the group's feed and finds A's first post (B holds
//!   the group key, not only the admission);
//! - then A rekeys and at once posts (as `dualpower group rekey` then `dualpower post`): post →
//!   readable, until B's feed shows that post, and rekey → readable from the rekey.
//!
//! Checks run when B stores an event and at least every [`POLL`], so a figure is late by at
//! most one poll. CPU seconds are the whole process's (both nodes and the checks).
//!
//! `cargo run --release -p dualpower-bench --bin join [-- ROUNDS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use dualpower_bench::{cpu_seconds, network};
use dualpower_core::{Identity, Payload};
use dualpower_node::ops::{ConstitutionArgs, Op};
use dualpower_node::query::Query;
use dualpower_node::{Handle, NodeConfig, NodeError, NodeEvent};
use dualpower_store::{Store, StoreConfig};
use libp2p::Multiaddr;
use tokio::sync::{mpsc, watch};

/// Longest wait for one measured step before the round is reported as timed out.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Longest time between two checks when no event arrives (bounds the measuring error).
const POLL: Duration = Duration::from_millis(10);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One running node and what it takes to stop it.
struct Running {
    handle: Handle,
    events: mpsc::Receiver<NodeEvent>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), NodeError>>,
    /// Its address (with `/p2p/PEER`).
    addr: Multiaddr,
    // Dropped after the node stops: the store's directory.
    _dir: tempfile::TempDir,
}

impl Running {
    /// Starts a node listening on 127.0.0.1, as `dualpower serve` does on a LAN (minus mDNS).
    async fn start(identity: Identity) -> Running {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(
            Store::open(
                dir.path(),
                StoreConfig {
                    network: network(),
                    ..StoreConfig::default()
                },
            )
            .expect("store"),
        );
        let (handle, commands) = Handle::new();
        let (tx, mut events) = mpsc::channel(4096);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(dualpower_node::run(
            store,
            identity,
            NodeConfig {
                open_groups: false,
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
                bootstrap: vec![],
                net: dualpower_net::NetConfig {
                    mdns: false,
                    ..Default::default()
                },
            },
            commands,
            tx,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        let addr = loop {
            match events.recv().await {
                Some(NodeEvent::Listening(addr)) => break addr,
                Some(_) => {}
                None => panic!("node stopped before listening: {:?}", task.await),
            }
        };
        Running {
            handle,
            events,
            stop,
            task,
            addr,
            _dir: dir,
        }
    }

    /// Applies `op` through the node, as `/v1/op` does.
    async fn op(&self, op: Op) -> serde_json::Value {
        self.handle
            .op(op, now_ms())
            .await
            .unwrap_or_else(|r| panic!("op refused: {}", r.message))
    }

    /// Waits until `check` holds, checking after each batch of stored events and at least every
    /// [`POLL`]. The time it held, or `None` after [`TIMEOUT`].
    async fn wait_for(&mut self, mut check: impl AsyncFnMut(&Handle) -> bool) -> Option<Instant> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if check(&self.handle).await {
                return Some(Instant::now());
            }
            if Instant::now() >= deadline {
                return None;
            }
            if let Ok(Some(_)) = tokio::time::timeout(POLL, self.events.recv()).await {
                // One check for everything stored by now, not one per event.
                while self.events.try_recv().is_ok() {}
            }
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        if let Ok(Err(e)) = self.task.await {
            eprintln!("node ended with an error: {e}");
        }
    }
}

/// Whether `node` reports itself a member of `group` (what `group join` waits for).
async fn is_member(node: &Handle, group: &str) -> bool {
    node.status()
        .await
        .is_some_and(|s| s.groups.iter().any(|g| g.group == group && g.member))
}

/// Whether `node` opens `group`'s feed and finds a post with this text.
async fn reads(node: &Handle, group: &str, text: &str) -> bool {
    let query = Query::Feed {
        group: group.to_owned(),
    };
    node.view(query, now_ms()).await.is_ok_and(|v| {
        v["posts"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["text"] == text))
    })
}

fn post(group: &str, text: &str) -> Op {
    Op::Write {
        group: group.to_owned(),
        payload: hex::encode(
            Payload::Post {
                text: text.to_owned(),
            }
            .encode(),
        ),
    }
}

/// One round's figures, seconds.
struct Round {
    admitted: f64,
    reads: f64,
    join_cpu: f64,
    post_readable: f64,
    rekey_readable: f64,
    post_cpu: f64,
    round_cpu: f64,
}

/// Median, p90 (nearest rank) and max of `xs`.
fn summary(mut xs: Vec<f64>) -> [f64; 3] {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let rank = |q: f64| xs[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    [rank(0.5), rank(0.9), xs[n - 1]]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10)
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let (c_all, t_all) = (cpu_seconds(), Instant::now());
    let (done, timed_out) = rt.block_on(async {
        let a = Running::start(Identity::from_seed(&[1; 32])).await;
        let created = a
            .op(Op::Create {
                name: "Tenants of 12 Elm St".into(),
                constitution: ConstitutionArgs::default(),
            })
            .await;
        let group = created["group"].as_str().expect("group id").to_owned();
        let first = "Welcome! Meeting on Thursday.";
        a.op(post(&group, first)).await;
        let mut done = Vec::new();
        let mut timed_out = 0;
        for r in 0..rounds {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(r as u64 + 1000).to_le_bytes());
            // A fresh invite per newcomer, as a member gives one code to one person.
            let code = a
                .op(Op::Invite {
                    group: group.clone(),
                    expires_secs: 3600,
                    uses: 1,
                    addrs: vec![a.addr.to_string()],
                })
                .await["code"]
                .as_str()
                .expect("code")
                .to_owned();
            let c_round = cpu_seconds();
            let mut b = Running::start(Identity::from_seed(&seed)).await;
            let c0 = cpu_seconds();
            let t0 = Instant::now();
            b.op(Op::Join { code }).await;
            let admitted = b.wait_for(async |h| is_member(h, &group).await).await;
            let read = b.wait_for(async |h| reads(h, &group, first).await).await;
            let join_cpu = cpu_seconds() - c0;
            let (Some(admitted), Some(read)) = (admitted, read) else {
                eprintln!(
                    "round {r}: the newcomer was not admitted and reading within {TIMEOUT:?}"
                );
                timed_out += 1;
                b.stop().await;
                continue;
            };

            let text = format!("Right after the rekey, round {r}");
            let c1 = cpu_seconds();
            let t_rekey = Instant::now();
            a.op(Op::Rekey {
                group: group.clone(),
            })
            .await;
            let t_post = Instant::now();
            a.op(post(&group, &text)).await;
            let readable = b.wait_for(async |h| reads(h, &group, &text).await).await;
            let post_cpu = cpu_seconds() - c1;
            b.stop().await;
            let Some(readable) = readable else {
                eprintln!(
                    "round {r}: the post after the rekey was not readable within {TIMEOUT:?}"
                );
                timed_out += 1;
                continue;
            };
            let round = Round {
                admitted: (admitted - t0).as_secs_f64(),
                reads: (read - t0).as_secs_f64(),
                join_cpu,
                post_readable: (readable - t_post).as_secs_f64(),
                rekey_readable: (readable - t_rekey).as_secs_f64(),
                post_cpu,
                round_cpu: cpu_seconds() - c_round,
            };
            eprintln!(
                "round {r}: admitted {:.3} s, reads {:.3} s ({:.2} s CPU); post after rekey \
                 readable {:.3} s ({:.3} s from the rekey, {:.2} s CPU); round {:.2} s CPU",
                round.admitted,
                round.reads,
                round.join_cpu,
                round.post_readable,
                round.rekey_readable,
                round.post_cpu,
                round.round_cpu,
            );
            done.push(round);
        }
        a.stop().await;
        (done, timed_out)
    });
    let (wall_all, cpu_all) = (t_all.elapsed().as_secs_f64(), cpu_seconds() - c_all);
    println!(
        "# newcomer: join → admitted → reads, then a post right after a rekey; two nodes over TCP \
         127.0.0.1 in one process (members-only groups, no mDNS), {rounds} rounds, a fresh \
         newcomer each"
    );
    if done.is_empty() {
        println!("no round completed ({timed_out} timed out)");
        std::process::exit(1);
    }
    let row = |name: &str, f: fn(&Round) -> f64| {
        let [p50, p90, max] = summary(done.iter().map(f).collect());
        println!("{name:<32} median {p50:>7.3} s  p90 {p90:>7.3} s  max {max:>7.3} s");
    };
    row("join → admitted (wall)", |r| r.admitted);
    row("join → reads first post (wall)", |r| r.reads);
    row("join phase (CPU)", |r| r.join_cpu);
    row("post after rekey → readable", |r| r.post_readable);
    row("rekey → post readable (wall)", |r| r.rekey_readable);
    row("rekey + post phase (CPU)", |r| r.post_cpu);
    row("whole round (CPU)", |r| r.round_cpu);
    println!(
        "whole run (both nodes' start and stop, invites, {rounds} rounds): {wall_all:.2} s \
         wall, {cpu_all:.2} s CPU ({:.3} s CPU per round)",
        cpu_all / rounds as f64
    );
    println!(
        "rounds completed {}/{rounds}{}",
        done.len(),
        if timed_out > 0 {
            format!(" ({timed_out} timed out after {TIMEOUT:?})")
        } else {
            String::new()
        }
    );
    if timed_out > 0 {
        std::process::exit(1);
    }
}
