//! DynamoDB-JSON items: never panic; whatever decodes re-encodes and decodes to the same item.
#![no_main]
use ddbrep_engine::codec::ddb_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(item) = ddb_json::parse_item(text) {
        let again = ddb_json::item_to_string(&item);
        let back = ddb_json::parse_item(&again).expect("our own output decodes");
        assert_eq!(back, item);
        assert_eq!(ddb_json::item_to_string(&back), again);
    }
    let _ = ddb_json::parse_value(text);
});
