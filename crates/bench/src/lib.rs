//! Shared pieces of the benchmark binaries: a deterministic event generator, a CPU-time clock,
//! and the two-node network catch-up ([`catch_up`]) that `netsync` and `i2psync` measure.
//!
//! The machines we measure on are shared and noisy, so every benchmark reports CPU seconds
//! (user + system, from `/proc/self/stat`) next to wall time; events per CPU-second is the figure
//! that survives a busy neighbour.

pub mod catch_up;
pub mod sim;

use std::time::Instant;

use dualpower_core::{Draft, EventId, GroupId, Identity, NetworkId, Payload, VerifiedEvent};

/// The network all benchmarks sign for.
pub fn network() -> NetworkId {
    NetworkId::named("bench")
}

/// `count` signed events from `authors` authors in one group, round robin. Each event links to
/// its author's previous event and depends on the newest event of the previous author, like a
/// busy group chat. Each body is a post of exactly `body_bytes` bytes.
pub fn generate(count: usize, authors: usize, body_bytes: usize) -> Vec<VerifiedEvent> {
    generate_with(count, authors, body_bytes, true)
}

/// Like [`generate`]; with `cross_deps` false, events depend only on their own log (so any log
/// suffix can be missing without making other logs' events wait for it).
pub fn generate_with(
    count: usize,
    authors: usize,
    body_bytes: usize,
    cross_deps: bool,
) -> Vec<VerifiedEvent> {
    let ids: Vec<Identity> = (0..authors)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Identity::from_seed(&seed)
        })
        .collect();
    let group = GroupId([7u8; 32]);
    let net = network();
    let mut heads: Vec<Option<EventId>> = vec![None; authors];
    let mut seqs = vec![0u64; authors];
    let mut last: Option<EventId> = None;
    let mut out = Vec::with_capacity(count);
    // Find the text length that makes the encoded post exactly `body_bytes` long.
    let mut text_len = body_bytes.saturating_sub(8);
    while (Payload::Post {
        text: "x".repeat(text_len),
    })
    .encode()
    .len()
        > body_bytes
    {
        text_len -= 1;
    }
    for n in 0..count {
        let a = n % authors;
        let text = format!("{n:0>width$}", width = text_len);
        let draft = Draft {
            group,
            log: 0,
            seq: seqs[a],
            backlink: heads[a],
            deps: last
                .filter(|l| cross_deps && Some(*l) != heads[a])
                .into_iter()
                .collect(),
            timestamp: 1_700_000_000_000 + n as u64,
            body: Payload::Post { text }.encode(),
            flags: 0,
        };
        let ev = draft.sign(&ids[a], &net).expect("bench drafts are valid");
        heads[a] = Some(ev.id());
        seqs[a] += 1;
        last = Some(ev.id());
        out.push(ev);
    }
    out
}

/// CPU time (user + system) this process has used, in seconds.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU time of the calling thread, in seconds (a single-threaded measurement that a busy
/// neighbour does not inflate).
pub fn thread_cpu() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// A small deterministic generator (xorshift64), so every run measures the same work.
pub struct Xorshift(pub u64);

impl Xorshift {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Wall and CPU time of a closure.
pub struct Measured<T> {
    /// What the closure returned.
    pub value: T,
    /// Wall-clock seconds.
    pub wall: f64,
    /// CPU seconds (all threads of the process).
    pub cpu: f64,
}

/// Runs `f` and measures it.
pub fn measure<T>(f: impl FnOnce() -> T) -> Measured<T> {
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    let value = f();
    Measured {
        value,
        wall: t0.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - c0,
    }
}
