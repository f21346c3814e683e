//! Plain-JSON items and command-line keys: never panic; decoded items re-encode to the same item.
#![no_main]
use ddbrep_engine::codec::plain_json;
use ddbrep_engine::model::{KeySchema, ScalarType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(item) = plain_json::parse_item(text) {
        let back = plain_json::parse_item(&plain_json::item_to_string(&item)).expect("our own output decodes");
        assert_eq!(back, item);
    }
    let schema = KeySchema::composite("h", ScalarType::B, "r", ScalarType::N);
    let _ = plain_json::parse_key(text, &schema);
});
