//! Encryption benchmark: XChaCha20-Poly1305 on group posts and HPKE sealing of epoch secrets.
//!
//! Exists to show what end-to-end encryption costs next to signature verification (see
//! `verify`): (a) encrypt and decrypt of 200-byte posts with ~140 bytes of associated data (the
//! size of an event envelope), (b) HPKE `seal_secret`/`open_secret` of an epoch secret, the
//! per-member cost of a key rotation.
//!
//! `cargo run --release -p dualpower-bench --bin crypto [-- POSTS [SEALS]]`

use std::hint::black_box;

use dualpower_bench::measure;
use dualpower_crypto::{
    CONTENT_OVERHEAD, ContentKey, EpochSecret, PrekeySecret, SealedSecret, decrypt, encrypt,
    open_secret, seal_secret,
};

const POST_BYTES: usize = 200;
const AAD_BYTES: usize = 140;

fn main() {
    let mut args = std::env::args().skip(1);
    let posts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let seals: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);

    let epoch = EpochSecret::generate();
    let key = ContentKey::of_epoch(&epoch);
    let plaintexts: Vec<Vec<u8>> = (0..posts)
        .map(|n| format!("{n:0>POST_BYTES$}").into_bytes())
        .collect();
    let aads: Vec<Vec<u8>> = (0..posts)
        .map(|n| {
            let mut a = vec![0xa5u8; AAD_BYTES];
            a[..8].copy_from_slice(&(n as u64).to_le_bytes());
            a
        })
        .collect();

    println!("# encryption, 1 core");
    println!(
        "posts: {posts} × {POST_BYTES} B plaintext, {AAD_BYTES} B aad, XChaCha20-Poly1305 (+{CONTENT_OVERHEAD} B)"
    );
    let e = measure(|| {
        plaintexts
            .iter()
            .zip(&aads)
            .map(|(p, a)| encrypt(&key, a, p))
            .collect::<Vec<_>>()
    });
    let sealed_posts = e.value;
    let d = measure(|| {
        sealed_posts
            .iter()
            .zip(&aads)
            .map(|(c, a)| decrypt(&key, a, c).expect("own ciphertext decrypts"))
            .collect::<Vec<_>>()
    });
    assert!(d.value == plaintexts, "decryption returned other bytes");
    let rate = |n: usize, secs: f64| n as f64 / secs;
    let line = |label: &str, n: usize, wall: f64, cpu: f64| {
        println!(
            "  {label:<18}: {:>10.0} /s wall, {:>10.0} per CPU-s, {:6.2} µs each ({:.2} s wall, {:.2} s CPU)",
            rate(n, wall),
            rate(n, cpu),
            wall * 1e6 / n as f64,
            wall,
            cpu
        );
    };
    line("encrypt", posts, e.wall, e.cpu);
    line("decrypt", posts, d.wall, d.cpu);
    line("encrypt + decrypt", posts, e.wall + d.wall, e.cpu + d.cpu);
    println!(
        "  plaintext throughput: encrypt {:.0} MB/s, decrypt {:.0} MB/s",
        rate(posts * POST_BYTES, e.wall) / 1e6,
        rate(posts * POST_BYTES, d.wall) / 1e6
    );

    println!("# HPKE epoch-secret sealing (X25519, HKDF-SHA256, ChaCha20-Poly1305), 1 core");
    let prekeys: Vec<PrekeySecret> = (0..seals.min(100))
        .map(|_| PrekeySecret::generate())
        .collect();
    let publics: Vec<[u8; 32]> = prekeys.iter().map(PrekeySecret::public).collect();
    let info = b"dualpower bench group epoch 1";
    let s = measure(|| {
        (0..seals)
            .map(|i| {
                seal_secret(&publics[i % publics.len()], &epoch, info).expect("valid recipient key")
            })
            .collect::<Vec<SealedSecret>>()
    });
    let sealed = s.value;
    let o = measure(|| {
        sealed
            .iter()
            .enumerate()
            .filter(|(i, x)| {
                black_box(open_secret(&prekeys[i % prekeys.len()], x, info))
                    .is_ok_and(|opened| opened == epoch)
            })
            .count()
    });
    assert_eq!(o.value, seals, "every sealed secret opens");
    println!("seals: {seals} to {} prekeys", prekeys.len());
    line("seal_secret", seals, s.wall, s.cpu);
    line("open_secret", seals, o.wall, o.cpu);
}
