//! Raw NATS header blocks (what `STREAM.MSG.GET` returns of a stored message's headers) on
//! arbitrary bytes: never a panic, and when there is an answer it is a JSON object whose every
//! value is a non-empty list of strings (what the `headers` column promises its readers).
#![no_main]

#[path = "../../src/nats/header_block.rs"]
mod header_block;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(json) = header_block::header_block_json(data) else {
        return;
    };
    let value: serde_json::Value = serde_json::from_str(&json).expect("the answer is JSON");
    let map = value.as_object().expect("the answer is an object");
    assert!(!map.is_empty());
    for values in map.values() {
        let list = values.as_array().expect("each header is a list");
        assert!(!list.is_empty() && list.iter().all(|v| v.is_string()));
    }
});
