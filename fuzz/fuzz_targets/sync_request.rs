//! The sync responder decodes whatever request frame a connected peer sends: decoding must never
//! panic, and a request that decodes must re-encode byte for byte (strict canonical CBOR, so no
//! two encodings of one request exist).
#![no_main]

use dualpower_net::protocol::Request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = Request::decode(data) {
        assert_eq!(req.encode(), data);
        let _ = req.token();
    }
});
