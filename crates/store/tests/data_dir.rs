//! The data directory is the owner's alone: created 0700 with files 0600 whatever the umask,
//! an old directory with loose modes is tightened when the store opens, and what the store
//! deletes (local secrets) does not stay readable in the database file.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use dualpower_core::Identity;
use dualpower_store::keystore::{self, KdfParams};

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every file SQLite and the store keep in `home` while a store is open.
fn files_while_open(home: &Path) -> Vec<std::path::PathBuf> {
    [
        "store.sqlite",
        "store.sqlite-wal",
        "store.sqlite-shm",
        "store.lock",
        "keystore.json",
    ]
    .iter()
    .map(|n| home.join(n))
    .filter(|p| p.exists())
    .collect()
}

#[test]
fn a_new_data_directory_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("fresh");
    keystore::create(&home, &Identity::generate(), "pw", KdfParams::MIN).unwrap();
    let store = common::open(&home);
    // Make SQLite create its write-ahead log and shared-memory index.
    store.put_secret(&[1; 32], b"n", b"v").unwrap();
    assert_eq!(mode(&home), 0o700);
    let files = files_while_open(&home);
    for name in [
        "store.sqlite",
        "store.sqlite-wal",
        "store.sqlite-shm",
        "store.lock",
        "keystore.json",
    ] {
        assert!(files.contains(&home.join(name)), "{name} is missing");
    }
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    store.close().unwrap();
}

#[test]
fn an_old_loose_data_directory_is_tightened_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("old");
    keystore::create(&home, &Identity::generate(), "pw", KdfParams::MIN).unwrap();
    let store = common::open(&home);
    store.put_secret(&[1; 32], b"n", b"v").unwrap();
    // What older versions left: a world-readable directory and files.
    fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
    let files = files_while_open(&home);
    for f in &files {
        fs::set_permissions(f, fs::Permissions::from_mode(0o644)).unwrap();
    }
    store.close().unwrap();
    let changed = dualpower_store::home::tighten(&home).unwrap();
    assert!(
        changed
            .iter()
            .any(|t| t.path == home && t.was == 0o755 && t.now == 0o700)
    );
    assert!(
        changed
            .iter()
            .any(|t| t.path == home.join("keystore.json") && t.was == 0o644)
    );
    // And the store does it by itself for callers that do not.
    fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(home.join("store.sqlite"), fs::Permissions::from_mode(0o644)).unwrap();
    let store = common::open(&home);
    assert_eq!(mode(&home), 0o700);
    for f in files_while_open(&home) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    store.close().unwrap();
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The database file and its write-ahead log, if any.
fn disk(home: &Path) -> Vec<u8> {
    let mut bytes = fs::read(home.join("store.sqlite")).unwrap();
    if let Ok(wal) = fs::read(home.join("store.sqlite-wal")) {
        bytes.extend(wal);
    }
    bytes
}

#[test]
fn a_deleted_secret_leaves_no_bytes_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    // Something recognisable, as long as an encrypted epoch secret.
    let secret: Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
    let store = common::open(home);
    store.put_secret(&[7; 32], b"other", b"kept").unwrap();
    store.put_secret(&[7; 32], b"epoch", &secret).unwrap();
    store.close().unwrap();
    // Checkpointed into the database file: the test can see it there.
    assert!(
        contains(&disk(home), &secret),
        "the secret was never written"
    );
    let store = common::open(home);
    assert!(store.delete_secret(&[7; 32], b"epoch").unwrap());
    store.close().unwrap();
    assert!(
        !contains(&disk(home), &secret),
        "the deleted secret's bytes are still in the database file"
    );
    let store = common::open(home);
    assert_eq!(store.secrets(&[7; 32]).unwrap().len(), 1);
    store.close().unwrap();
}
