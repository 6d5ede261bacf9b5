//! Bundle framing must never panic or allocate beyond its bounds, whatever the lengths claim.
#![no_main]

use dualpower_store::BundleReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = BundleReader::new(data) {
        while let Some(frame) = r.next_frame() {
            if frame.is_err() {
                break;
            }
        }
    }
});
