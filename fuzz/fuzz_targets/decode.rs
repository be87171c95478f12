//! Payload decoding and template repair on arbitrary bytes: never a panic, never a hang
//! (libFuzzer's `-timeout` catches a slow input; the repair is meant to be linear), the same
//! answer twice, and socket tuples that are pieces of the text they came from.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/lake/decode/mod.rs"]
mod decode;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let first = decode::decode(data);
    assert_eq!(first, decode::decode(data), "decoding is not deterministic");
    if first.status == decode::Status::Invalid {
        assert!(first.error.is_some(), "an invalid payload without a reason");
    }
    if let Some(fd) = first.event.fd_name.as_deref() {
        if let Some(t) = decode::parse_socket_tuple(fd) {
            assert!(fd.contains(t.client_ip) && fd.contains(t.server_ip));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode::parse_time_ns(text);
        let _ = decode::parse_socket_tuple(text);
    }
});
