// Shared by the multi-process tests (`network.rs`, `private_group.rs`), pasted into each with
// `include!`: the `Net` test network of data directories and the `Node` guard around a running
// `dualpower serve` process.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

const PASS: &str = "network test passphrase";
/// How long anything may take before the test fails (start, catch-up, convergence, stop).
const DEADLINE: Duration = Duration::from_secs(30);
/// How long a live event may take to reach a connected peer through gossip.
const LIVE: Duration = Duration::from_secs(5);
/// How long admission may take: the inviter's node must first sync the join (nodes re-sync
/// every 10 s and retry a refused proof after 5 s), then admit and seal the key.
const ADMIT: Duration = Duration::from_secs(60);

/// One test's world: a temporary directory and a network name no other test uses.
struct Net {
    tmp: TempDir,
    network: String,
    started: AtomicUsize,
}

/// Three members a, b, c of one group that a created with `create` (`group create` arguments
/// after the name), each running `serve`, all admitted and reading a first post live.
#[allow(dead_code)] // not every test that includes this file uses it
struct Three {
    homes: [PathBuf; 3],
    nodes: [Node; 3],
    ids: [String; 3],
    group: String,
}

#[allow(dead_code)]
impl Three {
    fn start(net: &Net, name: &str, create: &[&str]) -> Three {
        let a_home = net.member("a");
        let mut args = vec!["group", "create", name];
        args.extend_from_slice(create);
        let group = net.ok_json(&a_home, &args)["group"]
            .as_str()
            .unwrap()
            .to_owned();
        let a = Node::start(net, "a", &[]);
        let b_home = net.member("b");
        let c_home = net.member("c");
        let b = Node::start(net, "b", &[&a.addr]);
        let c = Node::start(net, "c", &[&a.addr]);
        let a_id = net.did(&a_home);
        let b_id = net.invite_and_join(&a_home, &b_home, &group);
        let c_id = net.invite_and_join(&a_home, &c_home, &group);
        let homes = [a_home, b_home, c_home];
        let ids = [a_id, b_id, c_id];
        for h in &homes {
            for id in &ids {
                net.wait_member(h, &group, id);
            }
        }
        net.post(&homes[0], &group, "welcome");
        for h in &homes {
            net.wait_post(h, &group, "welcome", DEADLINE);
        }
        Three {
            homes,
            nodes: [a, b, c],
            ids,
            group,
        }
    }

    /// Stops every node.
    fn stop(self) {
        for n in self.nodes {
            n.stop();
        }
    }
}

impl Net {
    fn new(test: &str) -> Net {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        // NODE_TEST_KEEP=1 keeps the homes and node logs after the test, to read them.
        let mut tmp = tempfile::tempdir().unwrap();
        if std::env::var_os("NODE_TEST_KEEP").is_some() {
            tmp.disable_cleanup(true);
            eprintln!("{test}: keeping {}", tmp.path().display());
        }
        Net {
            tmp,
            network: format!("net-test-{test}-{}-{nanos}", std::process::id()),
            started: AtomicUsize::new(0),
        }
    }

    fn home(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn cmd(&self, home: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dualpower"));
        c.arg("--home")
            .arg(home)
            .env("DUALPOWER_PASSPHRASE", PASS)
            .env("DUALPOWER_NETWORK", &self.network)
            // Many nodes run at once: each web app on a free port.
            .env("DUALPOWER_WEB", "127.0.0.1:0")
            .env_remove("DUALPOWER_HOME")
            .env_remove("DUALPOWER_PROGRESS")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        // To see a node's logs in its stderr file while debugging a test:
        // NODE_TEST_LOG="warn,dualpower_node=debug" cargo test …
        if let Ok(f) = std::env::var("NODE_TEST_LOG") {
            c.env("RUST_LOG", f);
        }
        c
    }

    fn run(&self, home: &Path, args: &[&str]) -> Output {
        self.cmd(home).args(args).output().unwrap()
    }

    /// Runs `--json ARGS`; the parsed answer, or why not (for polling).
    fn try_json(&self, home: &Path, args: &[&str]) -> Result<Value, String> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(home, &all);
        if !out.status.success() {
            return Err(format!(
                "{args:?} on {} failed ({}): {}{}",
                home.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn ok_json(&self, home: &Path, args: &[&str]) -> Value {
        self.try_json(home, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `init` a new member's data directory.
    fn member(&self, name: &str) -> PathBuf {
        let home = self.home(name);
        self.ok_json(&home, &["init"]);
        home
    }

    fn create_group(&self, home: &Path, name: &str) -> String {
        self.ok_json(home, &["group", "create", name])["group"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The member's did:key.
    fn did(&self, home: &Path) -> String {
        self.ok_json(home, &["id"])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A single-use invite code for `group`, made at `home` (with its node's addresses in it
    /// if its node runs).
    fn invite(&self, home: &Path, group: &str) -> String {
        let v = self.ok_json(home, &["group", "invite", group]);
        let code = v["code"].as_str().unwrap().to_owned();
        assert!(code.starts_with("dpinvite1"), "{v}");
        code
    }

    /// Asks to join with `code` at `home`: through its node if it runs (which dials the
    /// inviter), else only written to its store. Returns at once (`--no-wait`): the callers
    /// wait for what they mean to see.
    fn join(&self, home: &Path, code: &str, group: &str) {
        let v = self.ok_json(home, &["group", "join", "--no-wait", code]);
        assert_eq!(v["group"], group, "{v}");
    }

    /// Invites the member at `newcomer` at `inviter` and joins at `newcomer`; returns the
    /// newcomer's did. Both nodes should run; see [`Net::wait_member`].
    fn invite_and_join(&self, inviter: &Path, newcomer: &Path, group: &str) -> String {
        let code = self.invite(inviter, group);
        self.join(newcomer, &code, group);
        self.did(newcomer)
    }

    /// Waits until `home` lists `did` among the members of `group` (its node admits joins
    /// made with its invites once it synced them).
    fn wait_member(&self, home: &Path, group: &str, did: &str) {
        wait_for(
            format!("{did} to be a member on {}", home.display()),
            ADMIT,
            || {
                let m = self.try_json(home, &["group", "members", group])?;
                let members = m["members"].as_array().ok_or("no members")?;
                if members.iter().any(|x| x["id"] == did) {
                    Ok(())
                } else {
                    Err(format!("members: {m}"))
                }
            },
        );
    }

    /// Waits until every home's feed has the same state hash and every node holds the same
    /// number of events; returns that number. For counting events from a point on without
    /// depending on how many membership and key events joining took.
    fn wait_settled(&self, homes: &[impl AsRef<Path>], group: &str) -> usize {
        wait_for(format!("{} nodes to settle", homes.len()), DEADLINE, || {
            let mut seen = Vec::new();
            for h in homes {
                let h = h.as_ref();
                let hash = self.state_hash(h, group)?;
                let n = self.try_json(h, &["status"])?["events"]
                    .as_u64()
                    .unwrap_or(0) as usize;
                seen.push((hash, n));
            }
            if seen.iter().all(|s| *s == seen[0]) {
                Ok(seen[0].1)
            } else {
                Err(format!("(state hash, events) per node: {seen:?}"))
            }
        })
    }

    /// Events `home` holds (all groups).
    fn events(&self, home: &Path) -> usize {
        self.ok_json(home, &["status"])["events"].as_u64().unwrap() as usize
    }

    fn post(&self, home: &Path, group: &str, text: &str) -> String {
        let v = self.ok_json(home, &["post", group, text]);
        assert_eq!(v["kind"], "post");
        v["id"].as_str().unwrap().to_owned()
    }

    /// The feed's state hash and the texts of its posts, or why it cannot be read yet.
    fn feed(&self, home: &Path, group: &str) -> Result<(String, Vec<String>), String> {
        let f = self.try_json(home, &["feed", group])?;
        let texts = f["posts"]
            .as_array()
            .ok_or("feed without posts")?
            .iter()
            .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        Ok((f["state_hash"].as_str().unwrap().to_owned(), texts))
    }

    fn state_hash(&self, home: &Path, group: &str) -> Result<String, String> {
        self.feed(home, group).map(|(h, _)| h)
    }

    /// The ids of every event `log` shows, after checking each is valid (encrypted content
    /// included: `log` checks signatures and links, not what the content says).
    fn event_ids(&self, home: &Path, group: &str) -> BTreeSet<String> {
        let log = self.ok_json(home, &["log", group]);
        assert!(log["forks"].as_array().unwrap().is_empty(), "forks: {log}");
        assert!(
            log["quarantine"].as_array().unwrap().is_empty(),
            "quarantine: {log}"
        );
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["valid"], true, "{e}");
                // `log` does not decrypt: encrypted content is valid but shown as sealed.
                if e["kind"] == "encrypted" {
                    assert!(e["status"].as_str().unwrap().starts_with("valid (sealed"), "{e}");
                } else {
                    assert_eq!(e["status"], "valid", "{e}");
                }
                e["id"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    fn verify_ok(&self, home: &Path) {
        let v = self.ok_json(home, &["verify"]);
        assert_eq!(v["ok"], true, "verify on {}: {v}", home.display());
        assert_eq!(v["quarantined"], 0, "{v}");
    }

    /// Waits until the feed of `group` on `home` shows a post with `text`.
    fn wait_post(&self, home: &Path, group: &str, text: &str, within: Duration) -> Duration {
        let start = Instant::now();
        wait_for(
            format!("post {text:?} on {}", home.display()),
            within,
            || {
                let (_, texts) = self.feed(home, group)?;
                if texts.iter().any(|t| t == text) {
                    Ok(())
                } else {
                    Err(format!("feed has {texts:?}"))
                }
            },
        );
        start.elapsed()
    }

    /// Waits until every home's feed has the same state hash and `events` events; returns the
    /// hash.
    fn wait_converged(&self, homes: &[impl AsRef<Path>], group: &str, events: usize) -> String {
        wait_for(
            format!("{} nodes to converge on {events} events", homes.len()),
            DEADLINE,
            || {
                let mut seen = Vec::new();
                for h in homes {
                    let h = h.as_ref();
                    let hash = self.state_hash(h, group)?;
                    let n = self.try_json(h, &["status"])?["events"]
                        .as_u64()
                        .unwrap_or(0) as usize;
                    seen.push((hash, n));
                }
                if seen.iter().all(|s| *s == seen[0]) && seen[0].1 == events {
                    Ok(seen[0].0.clone())
                } else {
                    Err(format!("(state hash, events) per node: {seen:?}"))
                }
            },
        )
    }
}

/// Polls `f` every 100 ms until it succeeds; fails the test with its last complaint after
/// `within`.
fn wait_for<T>(
    what: impl Display,
    within: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match f() {
            Ok(v) => return v,
            Err(why) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {within:?} waiting for {what}; last: {why}"
                );
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// A running `dualpower serve`. Dropping it kills the process (SIGKILL) if it still runs.
struct Node {
    name: String,
    home: PathBuf,
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    stderr_path: PathBuf,
    /// `/ip4/127.0.0.1/tcp/PORT/p2p/PEER`.
    addr: String,
    peer: String,
}

impl Node {
    /// Starts a node on `home`, listening on loopback only, without mDNS, dialing `bootstrap`.
    /// Returns once it listens and its local API answers.
    fn start(net: &Net, name: &str, bootstrap: &[&str]) -> Node {
        Node::start_with(net, name, "/ip4/127.0.0.1/tcp/0", &[], bootstrap)
    }

    /// Like [`Node::start`], listening on `listen` (loopback TCP, or a circuit through a relay
    /// on loopback) with extra `serve` flags.
    fn start_with(net: &Net, name: &str, listen: &str, extra: &[&str], bootstrap: &[&str]) -> Node {
        assert!(
            listen.starts_with("/ip4/127.0.0.1/tcp/"),
            "not loopback: {listen}"
        );
        let mut args = vec!["serve", "--no-mdns", "--listen", listen];
        args.extend_from_slice(extra);
        for b in bootstrap {
            assert!(b.starts_with("/ip4/127.0.0.1/tcp/"), "not loopback: {b}");
            args.extend(["--bootstrap", *b]);
        }
        let node = Node::launch(net, name, &args, DEADLINE);
        assert!(
            node.addr.starts_with("/ip4/127.0.0.1/tcp/") && node.addr.contains("/p2p/"),
            "{}",
            node.addr
        );
        node
    }

    #[allow(dead_code)] // only the anonymous-mode tests
    /// A node in anonymous mode (`serve --anonymous`), its embedded I2P router joining the
    /// local test network that `devnet` (a file) describes. Returns once it listens on its I2P
    /// address and its local API answers (its router has built its first tunnels by then).
    fn start_anonymous(net: &Net, name: &str, devnet: &Path) -> Node {
        let devnet = devnet.to_str().unwrap();
        let args = ["serve", "--anonymous", "--i2p-devnet", devnet];
        let node = Node::launch(net, name, &args, Duration::from_secs(180));
        assert!(
            node.addr.starts_with("/garlic64/") && node.addr.contains("/p2p/"),
            "{}",
            node.addr
        );
        node
    }

    /// Runs `serve` with `args` on `name`'s home; waits (up to `within`) until it prints where
    /// it listens and its local API answers.
    fn launch(net: &Net, name: &str, args: &[&str], within: Duration) -> Node {
        let home = net.home(name);
        let n = net.started.fetch_add(1, Ordering::SeqCst);
        let stderr_path = net.tmp.path().join(format!("{name}-serve-{n}.log"));
        let mut cmd = net.cmd(&home);
        cmd.args(args);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        // Keep draining stdout so the node never blocks on a full pipe.
        let reader = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
        let mut node = Node {
            name: name.to_owned(),
            home,
            child: Some(child),
            stdout,
            reader: Some(reader),
            stderr_path,
            addr: String::new(),
            peer: String::new(),
        };
        let addr = wait_for(format!("{name} to listen"), within, || {
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{name} exited early ({status}): {}", node.diagnostics());
            }
            let lines = node.stdout.lock().unwrap();
            let addr = lines
                .iter()
                .find_map(|l| l.strip_prefix("listening on "))
                .map(str::to_owned);
            let api = lines.iter().any(|l| l.starts_with("local API on "));
            match addr {
                Some(a) if api => Ok(a),
                _ => Err(format!("stdout so far: {lines:?}")),
            }
        });
        node.peer = addr.rsplit('/').next().unwrap().to_owned();
        node.addr = addr;
        // `api.json` is written before the API line is printed; check the node answers.
        let status = net.ok_json(&node.home, &["status"]);
        assert_eq!(status["node"]["peer_id"], node.peer.as_str(), "{status}");
        node
    }

    /// The process id of the running `serve`.
    #[allow(dead_code)] // only the anonymous-mode tests
    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn diagnostics(&self) -> String {
        format!(
            "{}: stdout {:?}; stderr: {}",
            self.name,
            self.stdout.lock().unwrap(),
            std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
        )
    }

    /// Peer ids this node is connected to, per its API.
    fn peers(&self, net: &Net) -> Result<BTreeSet<String>, String> {
        let s = net.try_json(&self.home, &["status"])?;
        Ok(s["node"]["peers"]
            .as_array()
            .ok_or_else(|| format!("no node in status: {s}"))?
            .iter()
            .map(|p| p["peer"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    fn wait_connected(&self, net: &Net, other: &Node) {
        wait_for(
            format!("{} to connect to {}", self.name, other.name),
            DEADLINE,
            || {
                let peers = self.peers(net)?;
                if peers.contains(&other.peer) {
                    Ok(())
                } else {
                    Err(format!("peers {peers:?}"))
                }
            },
        );
    }

    /// SIGTERM, then waits for a clean exit: code 0, the shutdown message, `api.json` removed.
    fn stop(mut self) -> ExitStatus {
        // The child stays in `self` until it exited, so any panic here still kills it (Drop).
        let pid = self.child.as_ref().unwrap().id();
        let term = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.as_mut().unwrap().try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop on SIGTERM: {}",
                self.name,
                self.diagnostics()
            );
            thread::sleep(Duration::from_millis(50));
        };
        self.child = None;
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        assert_eq!(status.code(), Some(0), "{}", self.diagnostics());
        let stderr = std::fs::read_to_string(&self.stderr_path).unwrap();
        assert!(
            stderr.contains("stopped; everything acknowledged is on disk"),
            "{}",
            self.diagnostics()
        );
        assert!(
            !self.home.join("api.json").exists(),
            "{} left api.json behind",
            self.name
        );
        status
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// A and B on one network name, no node running: A creates `group` and posts twice around
/// inviting B; B joins offline, and the two exchange bundles through files until B is an
/// admitted member. Returns (A, B, group, B's did).
#[allow(dead_code)] // not every test file onboards offline
fn onboard_offline(net: &Net) -> (PathBuf, PathBuf, String, String) {
    let a = net.member("a");
    let b = net.member("b");
    let group = net.create_group(&a, "strike committee");
    net.post(&a, &group, "written before the invite");
    let code = net.invite(&a, &group);
    net.join(&b, &code, &group);
    let did_b = net.did(&b);

    // The pending join exports on its own: just B's events (the join and B's prekey).
    let b_bundle = net.tmp.path().join("b.bundle");
    let v = net.ok_json(&b, &["export", &group, b_bundle.to_str().unwrap()]);
    assert_eq!(v["events"], 2, "{v}");
    let v = net.ok_json(&a, &["import", b_bundle.to_str().unwrap()]);
    assert_eq!(v["stored"], 2, "{v}");
    assert!(v["rejected"].as_array().unwrap().is_empty(), "{v}");

    net.post(&a, &group, "written before the admit");
    let m = net.ok_json(&a, &["group", "members", &group]);
    assert!(
        m["pending"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == did_b.as_str()),
        "{m}"
    );
    net.ok_json(&a, &["group", "admit", &group, &did_b]);

    let a_bundle = net.tmp.path().join("a.bundle");
    net.ok_json(&a, &["export", &group, a_bundle.to_str().unwrap()]);
    let v = net.ok_json(&b, &["import", a_bundle.to_str().unwrap()]);
    assert!(v["rejected"].as_array().unwrap().is_empty(), "{v}");
    (a, b, group, did_b)
}
