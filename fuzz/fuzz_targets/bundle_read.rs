//! A bundle comes from anyone (a USB stick, a download): framing must never panic or allocate
//! beyond its bounds, whatever the lengths claim, and importing it into a real store (decode,
//! batch verification, storing, forks, quarantine) must never panic either, and must account for
//! every frame it read.
//!
//! One store per process, in a temporary directory, replaced every `FRESH_EVERY` inputs: opening
//! a store per input would cost more than the import, and a store that only grows would make
//! every input after the first thousand see mostly duplicates.
#![no_main]

use std::cell::RefCell;

use dualpower_core::NetworkId;
use dualpower_store::{BundleReader, Store, StoreConfig};
use libfuzzer_sys::fuzz_target;

const FRESH_EVERY: u32 = 2000;

struct Scratch {
    store: Option<Store>,
    // Dropped after the store (fields drop in order), so the directory outlives the database.
    _dir: tempfile::TempDir,
    uses: u32,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = StoreConfig {
            network: NetworkId::main(),
            max_quarantine: 1000,
            max_quarantine_per_log: 100,
            synchronous_full: false,
            ..StoreConfig::default()
        };
        let store = Store::open(dir.path(), config).expect("fresh store opens");
        Scratch {
            store: Some(store),
            _dir: dir,
            uses: 0,
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let mut frames = 0u64;
    let mut damaged = false;
    if let Ok(mut r) = BundleReader::new(data) {
        while let Some(frame) = r.next_frame() {
            if frame.is_err() {
                damaged = true;
                break;
            }
            frames += 1;
        }
    }
    SCRATCH.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|s| s.uses >= FRESH_EVERY) {
            if let Some(mut old) = slot.take()
                && let Some(store) = old.store.take()
            {
                store.close().expect("store closes");
            }
            *slot = Some(Scratch::new());
        }
        let scratch = slot.as_mut().expect("just filled");
        scratch.uses += 1;
        let store = scratch.store.as_ref().expect("open until replaced");
        if let Ok(report) = store.import(data, |_| {}) {
            // The import reads the same frames the reader does, and every frame it read is
            // stored, a duplicate, quarantined or rejected, never lost (events released from
            // quarantine count as stored, so the sum can exceed what was read, never fall short).
            assert_eq!(report.read, frames);
            assert_eq!(report.damaged.is_some(), damaged);
            let rejected = report.rejected.len() as u64;
            assert!(
                report.stored + report.duplicates + report.quarantined + rejected >= report.read
            );
            assert!(report.duplicates + rejected <= report.read);
        }
    });
});
