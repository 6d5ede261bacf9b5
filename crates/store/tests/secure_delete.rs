//! A deleted secret leaves no copy in the database files: the store sets SQLite's
//! `secure_delete`, so freed space is zeroed instead of keeping the old bytes (forgotten epoch
//! secrets and retired prekeys are deleted for forward secrecy, and must really be gone).
#![allow(clippy::unwrap_used)]

use dualpower_store::{Store, StoreConfig};

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every byte of every file in `dir`, one vector per file.
fn files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn a_deleted_secret_is_not_left_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let scope = [7u8; 32];
    // Two recognisable values; one is deleted, the other stays (so the search can find a row).
    let gone: Vec<u8> = (0..64u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let kept: Vec<u8> = (0..64u8)
        .map(|i| i.wrapping_mul(53).wrapping_add(5))
        .collect();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    store.put_secret(&scope, b"gone", &gone).unwrap();
    store.put_secret(&scope, b"kept", &kept).unwrap();
    drop(store);
    assert!(files(dir.path()).iter().any(|f| contains(f, &gone)));

    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert!(store.delete_secret(&scope, b"gone").unwrap());
    drop(store);
    let all = files(dir.path());
    assert!(all.iter().any(|f| contains(f, &kept)));
    assert!(!all.iter().any(|f| contains(f, &gone)));
}

#[test]
fn a_checkpoint_leaves_no_copy_in_the_write_ahead_log_of_an_open_store() {
    let dir = tempfile::tempdir().unwrap();
    let scope = [9u8; 32];
    let gone: Vec<u8> = (0..64u8)
        .map(|i| i.wrapping_mul(29).wrapping_add(3))
        .collect();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    store.put_secret(&scope, b"gone", &gone).unwrap();
    assert!(store.delete_secret(&scope, b"gone").unwrap());
    // The frame that wrote it is still in the log of the running store.
    assert!(files(dir.path()).iter().any(|f| contains(f, &gone)));
    store.checkpoint().unwrap();
    assert!(!files(dir.path()).iter().any(|f| contains(f, &gone)));
    // The store still works after it.
    store.put_secret(&scope, b"next", &[1; 48]).unwrap();
    assert_eq!(store.secrets(&scope).unwrap().len(), 1);
}
