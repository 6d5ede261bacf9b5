//! Key rotation benchmark: what starting a new group epoch costs for 10, 100 and 1 000 members.
//!
//! A rotation seals a fresh epoch secret with HPKE to every member's prekey, in key-share
//! events of at most `MAX_SEALS` seals each. We measure the rotating member's time (sealing and
//! encoding), the bytes it adds to the log (bodies plus signed envelopes), and a recipient's
//! time to open its seal. Everything is signed for real, so the bytes are the bytes on the wire.
//!
//! `cargo run --release -p dualpower-bench --bin rotation`

use dualpower_bench::{measure, network};
use dualpower_core::event::Position;
use dualpower_core::payload::MAX_SEALS;
use dualpower_core::{Draft, GroupId, Identity, KeyShare, Payload};
use dualpower_crypto::{EpochSecret, PrekeySecret, SealedSecret, open_secret};
use dualpower_groups::Keyring;
use dualpower_groups::body::seal_info;

fn main() {
    let net = network();
    let group = GroupId([7; 32]);
    let author = Identity::generate();
    println!("# key rotation (one member seals a new epoch to everyone), 1 core");
    println!(
        "members | events | bytes total | bytes/member | rotate ms | rotate CPU ms | open µs (one recipient)"
    );
    for n in [10usize, 100, 1000] {
        let prekeys: Vec<PrekeySecret> = (0..n).map(|_| PrekeySecret::generate()).collect();
        let publics: Vec<[u8; 32]> = prekeys.iter().map(PrekeySecret::public).collect();
        let secret = EpochSecret::generate();
        let m = measure(|| {
            let mut events = Vec::new();
            let mut epoch = None;
            for (i, chunk) in publics.chunks(MAX_SEALS).enumerate() {
                let pos = Position {
                    author: author.public(),
                    group,
                    log: 0,
                    seq: i as u64,
                };
                let body = match epoch {
                    None => Keyring::start_epoch(&net, &pos, &secret, chunk, Vec::new(), &[], &[]),
                    Some(e) => Keyring::extend_epoch(&net, &pos, e, &secret, chunk, &[], &[]),
                }
                .expect("sealing to valid prekeys");
                let ev = Draft {
                    group,
                    log: 0,
                    seq: i as u64,
                    backlink: events
                        .last()
                        .map(|e: &dualpower_core::VerifiedEvent| e.id()),
                    deps: Vec::new(),
                    timestamp: 1,
                    body,
                    flags: 0,
                }
                .sign(&author, &net)
                .expect("a rotation event is within bounds");
                epoch.get_or_insert(ev.id());
                events.push(ev);
            }
            events
        });
        let events = m.value;
        let bytes: usize = events
            .iter()
            .map(|e| e.envelope().len() + e.body().map_or(0, <[u8]>::len))
            .sum();
        // The last recipient finds its seal and opens it.
        let last = events.last().expect("at least one event");
        let Ok(Payload::KeyShare(KeyShare { seals, .. })) =
            Payload::decode(last.body().expect("body"))
        else {
            panic!("not a key share");
        };
        let pk = prekeys.last().expect("members");
        let info = seal_info(&net, &Position::of(last.header()));
        let rounds = 200;
        let o = measure(|| {
            for _ in 0..rounds {
                let seal = seals
                    .iter()
                    .find(|s| s.prekey == pk.public())
                    .expect("sealed to every member");
                let got = open_secret(
                    pk,
                    &SealedSecret {
                        enc: seal.enc,
                        ct: seal.ct,
                    },
                    &info,
                )
                .expect("opens");
                assert!(got == secret);
            }
        });
        println!(
            "{n:>7} | {:>6} | {bytes:>11} | {:>12.1} | {:>9.1} | {:>13.1} | {:>7.1}",
            events.len(),
            bytes as f64 / n as f64,
            m.wall * 1e3,
            m.cpu * 1e3,
            o.wall / rounds as f64 * 1e6,
        );
    }
}
