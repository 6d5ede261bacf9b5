//! The crash test: a child process ingests into a store and is killed with SIGKILL at a random
//! moment, over and over on the same directory. After every kill the store must open, hold every
//! event the child was told was stored, and re-verify completely.
//!
//! The child is this very test binary, re-executed with `--exact child_ingest` and the
//! environment variables [`CHILD_ENV`] (the data directory) and [`WORKLOAD_ENV`] (a bundle of the
//! events to ingest, written once by the parent); without them `child_ingest` does nothing. Each
//! child resumes where the last one was killed, then keeps appending its own events, so every
//! kill lands while the store is writing. Set `DUALPOWER_KILL_SEED` to replay a particular
//! sequence of kill delays.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Rng, assert_consistent, build_dag, identity, open};
use dualpower_core::{EventId, Payload, VerifiedEvent};
use dualpower_store::{BundleReader, BundleWriter, Ingested};

const CHILD_ENV: &str = "DUALPOWER_KILL_CHILD";
const WORKLOAD_ENV: &str = "DUALPOWER_KILL_WORKLOAD";
const SEED_ENV: &str = "DUALPOWER_KILL_SEED";
const RUNS: usize = 24;
const EVENTS: usize = 30_000;
/// Appends the child makes after the workload (it is normally killed long before).
const TAIL_APPENDS: u64 = 3_000;
const LOCAL: u64 = 4242;
const READY: &str = "CHILD-READY";
const DONE: &str = "CHILD-DONE";

/// The deterministic arrival schedule of `events` (given in creation order): mostly causal but
/// shuffled within windows, so some events wait in quarantine and are released later; cut into
/// batches of 1 to 50 events.
fn schedule(events: Vec<VerifiedEvent>) -> Vec<Vec<VerifiedEvent>> {
    let mut rng = Rng::new(99);
    let mut order = events;
    for w in order.chunks_mut(12) {
        if rng.below(3) == 0 {
            rng.shuffle(w);
        }
    }
    let mut batches = Vec::new();
    let mut rest = &order[..];
    while !rest.is_empty() {
        let n = (rng.range(1, 51) as usize).min(rest.len());
        let (b, tail) = rest.split_at(n);
        batches.push(b.to_vec());
        rest = tail;
    }
    batches
}

/// Loads the workload the parent wrote (it verified these events when it signed them).
fn load_workload(path: &Path) -> Vec<VerifiedEvent> {
    let file = std::fs::File::open(path).unwrap();
    let mut r = BundleReader::new(BufReader::new(file)).unwrap();
    let mut out = Vec::new();
    while let Some(frame) = r.next_frame() {
        let (envelope, body) = frame.unwrap();
        out.push(VerifiedEvent::from_trusted_store(envelope, body).unwrap());
    }
    out
}

/// The child: resumes the workload a little before where the previous child was killed
/// (re-ingesting is idempotent, so the overlap is just duplicates), appends an event of its own
/// after every third batch that stored something new, then keeps appending. It reports each
/// stored id only after the call that stored it returned.
#[test]
fn child_ingest() {
    let (Some(dir), Some(workload)) = (std::env::var_os(CHILD_ENV), std::env::var_os(WORKLOAD_ENV))
    else {
        return;
    };
    let events = load_workload(Path::new(&workload));
    let group = events[0].header().group;
    let batches = schedule(events);
    let local = identity(LOCAL);
    let out = std::io::stdout();
    let say = |line: &str| {
        let mut o = out.lock();
        writeln!(o, "\n{line}").unwrap();
        o.flush().unwrap();
    };
    say(READY);
    let store = open(Path::new(&dir));
    let start = resume_point(&store, &batches).saturating_sub(OVERLAP);
    for (i, batch) in batches.into_iter().enumerate().skip(start) {
        let ids: Vec<EventId> = batch.iter().map(|e| e.id()).collect();
        let outcomes = store.ingest(batch).unwrap();
        let mut stored = Vec::new();
        for (id, o) in ids.iter().zip(outcomes) {
            match o {
                Ok(Ingested::Stored { id: got, released }) => {
                    assert_eq!(got, *id);
                    stored.push(got);
                    stored.extend(released);
                }
                Ok(Ingested::Duplicate { .. } | Ingested::Quarantined { .. }) => {}
                other => panic!("child: unexpected outcome for {id}: {other:?}"),
            }
        }
        if i % 3 == 2 && !stored.is_empty() {
            let body = Payload::Post {
                text: format!("local note after batch {i}"),
            }
            .encode();
            let ev = store
                .append(&local, group, 0, body, 0, 1_700_000_000_000 + i as u64)
                .unwrap();
            stored.push(ev.id());
        }
        if !stored.is_empty() {
            let mut text = String::new();
            for id in stored {
                text.push_str(&format!("stored {}\n", id.to_hex()));
            }
            let mut o = out.lock();
            o.write_all(text.as_bytes()).unwrap();
            o.flush().unwrap();
        }
    }
    for i in 0..TAIL_APPENDS {
        let body = Payload::Post {
            text: format!("local tail note {i}"),
        }
        .encode();
        let ev = store.append(&local, group, 0, body, 0, i).unwrap();
        say(&format!("stored {}", ev.id().to_hex()));
    }
    store.close().unwrap();
    say(DONE);
}

/// Batches re-ingested before the resume point (to exercise duplicates after a crash).
const OVERLAP: usize = 40;

/// The first batch not ingested yet. Each ingest call is atomic and the child ingests batches in
/// order, so the ingested batches always form a prefix, and a batch was ingested iff its last
/// event is stored or quarantined (nothing of a later batch can be stored before it arrives).
fn resume_point(store: &dualpower_store::Store, batches: &[Vec<VerifiedEvent>]) -> usize {
    let quarantined: HashSet<EventId> = store
        .quarantine()
        .unwrap()
        .into_iter()
        .map(|q| q.0)
        .collect();
    let ingested = |b: &Vec<VerifiedEvent>| {
        let id = b.last().unwrap().id();
        quarantined.contains(&id) || store.event(id).unwrap().is_some()
    };
    batches.partition_point(ingested)
}

/// Ids on well-formed `stored <hex>` lines (a line cut by the kill is ignored).
fn parse_stored(line: &str) -> Option<EventId> {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "stored" {
            return words
                .next()
                .filter(|h| h.len() == 64)
                .and_then(EventId::from_hex);
        }
    }
    None
}

struct Run {
    reported: Vec<EventId>,
    finished: bool,
}

fn run_child(dir: &Path, workload: &Path, delay: Duration) -> Run {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_ingest", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env(WORKLOAD_ENV, workload)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            lines.push(line);
        }
        lines
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // The delay counts from when the child is ready to work (building the workload is not what we
    // want to interrupt).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if l.contains(READY) => break,
            Ok(_) => {}
            Err(_) => break, // exited early or hung; the checks below report it
        }
    }
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL; harmless if it already exited
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    let finished = lines.iter().any(|l| l.contains(DONE));
    assert!(
        lines.iter().any(|l| l.contains(READY)),
        "child never became ready ({status}):\n{stderr}"
    );
    if finished {
        assert!(status.success(), "child failed ({status}):\n{stderr}");
    } else {
        // Killed: it must not have died of anything else.
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "child died on its own ({status}):\n{stderr}"
        );
    }
    Run {
        reported: lines.iter().filter_map(|l| parse_stored(l)).collect(),
        finished,
    }
}

#[test]
fn sigkill_never_loses_or_corrupts_committed_events() {
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("kill test seed: {SEED_ENV}={seed}");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let dag = build_dag(0x6b696c6c, 6, EVENTS);
    let workload = scratch.path().join("workload.bundle");
    let mut w = BundleWriter::new(
        std::io::BufWriter::new(std::fs::File::create(&workload).unwrap()),
        &common::network(),
    )
    .unwrap();
    for ev in &dag.events {
        w.push(ev.envelope(), ev.body()).unwrap();
    }
    w.finish().unwrap();

    let mut all_reported: HashSet<EventId> = HashSet::new();
    let mut last_events = 0u64;
    let mut killed = 0;
    let started = Instant::now();
    for run in 0..RUNS {
        let delay = Duration::from_millis(rng.range(20, 301));
        let r = run_child(dir.path(), &workload, delay);
        killed += usize::from(!r.finished);
        for id in &r.reported {
            assert!(
                all_reported.insert(*id),
                "run {run}: {id} reported stored twice"
            );
        }

        let store = open(dir.path());
        for id in &all_reported {
            assert!(
                store.event(*id).unwrap().is_some(),
                "run {run} (delay {delay:?}): {id} was reported stored but is missing"
            );
        }
        let report = store.verify_all(|_, _| {}).unwrap();
        assert!(report.ok(), "run {run}: {:?}", report.problems);
        assert_consistent(&store);
        let counts = store.counts().unwrap();
        assert_eq!(report.events, counts.events);
        assert_eq!(counts.forks, 0);
        assert!(
            counts.events >= last_events,
            "run {run}: events went from {last_events} to {}",
            counts.events
        );
        last_events = counts.events;
        store.close().unwrap();
        println!(
            "run {run:2}: delay {:3} ms, {:4} reported, {} events stored ({} of them unreported: \
             committed by a batch the kill cut short), {} quarantined{}",
            delay.as_millis(),
            r.reported.len(),
            counts.events,
            counts.events - all_reported.len() as u64,
            counts.quarantined,
            if r.finished { " (finished)" } else { "" }
        );
    }

    // Finish the job and check the result is the whole workload plus the child's own log.
    let store = open(dir.path());
    store.ingest(dag.events.clone()).unwrap();
    for ev in &dag.events {
        assert_eq!(store.event(ev.id()).unwrap().as_ref(), Some(ev));
    }
    let counts = store.counts().unwrap();
    assert_eq!(counts.quarantined, 0);
    let local = identity(LOCAL).public();
    let logs = store.logs(Some(dag.group)).unwrap();
    let own = logs.iter().find(|l| l.author == local).map_or(0, |l| l.len);
    assert_eq!(counts.events, EVENTS as u64 + own);
    assert!(store.verify_all(|_, _| {}).unwrap().ok());
    println!(
        "kill test: {RUNS} runs ({killed} killed) in {:.1?}; {} events stored at the end \
         ({} reported by children, {own} appended by them)",
        started.elapsed(),
        counts.events,
        all_reported.len()
    );
    assert!(
        killed > 0,
        "no run was killed mid-work; the workload is too small"
    );
}
