//! Table descriptions (`table.json`, DescribeTable answers): never panic.
#![no_main]
use ddbrep_engine::model::TableDescription;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(table) = TableDescription::parse_json(text) {
        table.key().expect("parse_json checks the key schema");
    }
});
