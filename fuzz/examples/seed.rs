//! Turns real bundles (written by `fuzz/seed.sh` with the `dualpower` CLI) into seed inputs for
//! every fuzz target, in each target's input format, so fuzzing starts from real events, real
//! payloads, real encrypted bodies and real sync messages instead of from nothing.
//!
//! Usage: `seed BUNDLE_DIR CORPUS_DIR`. Writes `CORPUS_DIR/<target>/<name>`.

use std::collections::BTreeMap;
use std::path::Path;

use dualpower_core::cbor::Writer;
use dualpower_core::event::FLAG_ENCRYPTED;
use dualpower_core::payload::prekey_proof_message;
use dualpower_core::{Event, EventId, NetworkId, Payload, PublicKey};
use dualpower_crypto::{ContentKey, encrypt};
use dualpower_net::protocol::{
    GroupAccess, IdKnowledge, LogHeight, Request, Response, Tip, Want, bucket_count,
    bucket_digests, encode_gossip, heights_digest,
};
use dualpower_store::BundleReader;

/// The gossip key and topic of the `gossip_decode` target.
const GOSSIP_KEY: [u8; 32] = [0x5a; 32];
const GOSSIP_TOPIC: &[u8] = b"dualpower/g/00112233445566778899aabbccddeeff";

struct Out<'a> {
    dir: &'a Path,
    count: BTreeMap<&'static str, usize>,
}

impl Out<'_> {
    fn put(&mut self, target: &'static str, name: &str, bytes: &[u8]) {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(name), bytes).expect("seed written");
        *self.count.entry(target).or_default() += 1;
    }
}

fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut v = (bytes.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(bytes);
    v
}

fn with_mode(mode: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(bytes);
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, bundles, corpus] = &args[..] else {
        eprintln!("usage: seed BUNDLE_DIR CORPUS_DIR");
        std::process::exit(2);
    };
    let mut out = Out {
        dir: Path::new(corpus),
        count: BTreeMap::new(),
    };
    let network = NetworkId::main();
    let mut names: Vec<_> = std::fs::read_dir(bundles)
        .expect("bundle directory")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    // Every distinct event of every bundle, in bundle order.
    let mut events: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for path in &names {
        let bytes = std::fs::read(path).expect("bundle");
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("bundle");
        out.put("bundle_read", stem, &bytes);
        let mut r = BundleReader::new(&bytes[..]).expect("a real bundle");
        while let Some(f) = r.next_frame() {
            let (env, body) = f.expect("a real frame");
            if seen.insert(env.clone()) {
                events.push((env, body));
            }
        }
    }

    // Logs as a responder would list them: (author, log) -> (len, head).
    let mut logs: BTreeMap<(PublicKey, u64), (u64, [u8; 32])> = BTreeMap::new();
    let mut group = None;
    let mut epochs: Vec<EventId> = Vec::new();
    for (i, (env, body)) in events.iter().enumerate() {
        let ev = Event::decode(env.clone(), body.clone()).expect("a real event");
        let h = ev.header().clone();
        group = Some(h.group);
        let e = logs.entry((h.author, h.log)).or_insert((0, [0; 32]));
        if h.seq + 1 >= e.0 {
            *e = (h.seq + 1, ev.id().0);
        }
        let deps = h.deps.len();
        let mut input = (env.len() as u16).to_le_bytes().to_vec();
        input.extend_from_slice(env);
        input.extend_from_slice(body.as_deref().unwrap_or_default());
        out.put("event_decode", &format!("event-{i:03}-deps{deps}"), &input);
        let gossip = encode_gossip(env, body.as_deref());
        out.put(
            "gossip_decode",
            &format!("plain-{i:03}"),
            &with_mode(0, &gossip),
        );
        let sealed = encrypt(&ContentKey::from_bytes(GOSSIP_KEY), GOSSIP_TOPIC, &gossip);
        out.put(
            "gossip_decode",
            &format!("sealed-{i:03}"),
            &with_mode(1, &sealed),
        );
        out.put(
            "gossip_decode",
            &format!("wrap-{i:03}"),
            &with_mode(2, &gossip),
        );
        let Some(body) = body else { continue };
        if h.flags & FLAG_ENCRYPTED != 0 {
            out.put("encrypted_body", &format!("body-{i:03}"), body);
            out.put("keyring_open", &format!("body-{i:03}"), &with_mode(0, body));
            continue;
        }
        out.put("payload_decode", &format!("payload-{i:03}"), body);
        // A plaintext payload is also what a member finds inside encrypted content.
        out.put(
            "keyring_open",
            &format!("plain-{i:03}"),
            &with_mode(1, body),
        );
        match Payload::decode(body) {
            Ok(Payload::Prekey { key, proof }) => {
                let msg = prekey_proof_message(&network, &h.group, &h.author, &key);
                let mut input = key.to_vec();
                input.extend_from_slice(&proof);
                input.extend_from_slice(&msg);
                out.put("prekey_proof", &format!("prekey-{i:03}"), &input);
            }
            Ok(Payload::KeyShare(k)) => epochs.push(k.epoch.unwrap_or(ev.id())),
            _ => {}
        }
    }

    // History bundles as a key share carries them (before encryption): every epoch, one, none.
    let mut history = |name: &str, ids: &[EventId]| {
        let mut w = Writer::default();
        w.array(ids.len());
        for (n, id) in ids.iter().enumerate() {
            w.array(2).bytes(&id.0).bytes(&[n as u8; 32]);
        }
        out.put("keyring_open", name, &with_mode(2, &w.into_bytes()));
    };
    history("history-all", &epochs);
    history("history-one", &epochs[..epochs.len().min(1)]);
    history("history-none", &[]);

    // Sync messages about the real group, as the two sides would exchange them.
    let group = group.expect("the bundles hold a group");
    let token = IdKnowledge.token(&group);
    let rows: Vec<(&PublicKey, u64, u64, &[u8; 32])> =
        logs.iter().map(|((a, l), (n, h))| (a, *l, *n, h)).collect();
    let count = bucket_count(rows.len()).max(2);
    let requests = [
        (
            "summary",
            Request::Summary {
                token,
                digest: heights_digest(rows.iter().copied()),
            },
        ),
        ("heights", Request::Heights { token }),
        (
            "fetch",
            Request::Fetch {
                token,
                count,
                buckets: vec![0, 1],
                have: logs
                    .iter()
                    .map(|((a, l), (n, _))| {
                        let mut short = [0u8; 8];
                        short.copy_from_slice(&a.0[..8]);
                        (short, *l, *n)
                    })
                    .collect(),
                max: 4000,
            },
        ),
        (
            "events",
            Request::Events {
                token,
                wants: logs
                    .keys()
                    .map(|(a, l)| Want {
                        author: *a,
                        log: *l,
                        from: 1,
                    })
                    .collect(),
                max: 500,
            },
        ),
        (
            "tips",
            Request::Tips {
                token,
                count,
                buckets: vec![1],
            },
        ),
        (
            "hello",
            Request::Hello {
                nonce: [5; 32],
                tags: vec![[6; 32]; 8],
            },
        ),
        (
            "prove",
            Request::Prove {
                proofs: vec![proof(logs.keys().next().expect("a log").0)],
            },
        ),
    ];
    for (name, req) in &requests {
        let bytes = req.encode();
        out.put("sync_request", name, &bytes);
        out.put(
            "sync_codec",
            &format!("request-{name}"),
            &with_mode(0, &frame(&bytes)),
        );
    }
    let half = events.len() / 2;
    let responses = [
        ("in-sync", Response::InSync),
        (
            "buckets",
            Response::Buckets {
                digest: heights_digest(rows.iter().copied()),
                count,
                buckets: bucket_digests(rows.iter().copied(), count),
            },
        ),
        (
            "heights",
            Response::Heights {
                logs: logs
                    .iter()
                    .map(|((a, l), (n, _))| LogHeight {
                        author: *a,
                        log: *l,
                        len: *n,
                    })
                    .collect(),
                truncated: false,
            },
        ),
        (
            "hello",
            Response::Hello {
                nonce: [7; 32],
                proofs: vec![proof(logs.keys().next().expect("a log").0)],
            },
        ),
        (
            "proven",
            Response::Proven {
                tags: vec![[8; 32]],
                refused: Vec::new(),
            },
        ),
        (
            "tips",
            Response::Tips {
                logs: logs
                    .iter()
                    .map(|((a, l), (n, h))| Tip {
                        author: *a,
                        log: *l,
                        len: *n,
                        head: *h,
                        fork_seq: None,
                    })
                    .collect(),
                truncated: true,
            },
        ),
        (
            "events-first",
            Response::Events {
                events: events[..half].to_vec(),
                more: true,
            },
        ),
        (
            "events-rest",
            Response::Events {
                events: events[half..].to_vec(),
                more: false,
            },
        ),
    ];
    for (name, res) in &responses {
        let bytes = res.encode();
        out.put("sync_response", name, &bytes);
        out.put(
            "sync_codec",
            &format!("response-{name}"),
            &with_mode(1, &frame(&bytes)),
        );
    }
    for (target, n) in &out.count {
        println!("{target}: {n} seeds");
    }
}

/// A handshake proof of the right shape (its tag and signature are not checked by decoders).
fn proof(key: dualpower_core::PublicKey) -> dualpower_net::Proof {
    dualpower_net::Proof {
        tag: [4; 32],
        key,
        invite: Some([3; 32]),
        sig: [9; 64],
    }
}
