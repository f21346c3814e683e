//! Lambda DynamoDB-stream events: never panic.
#![no_main]
use ddbrep_engine::codec::stream_event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(event) = stream_event::parse_event(text) {
        for record in &event.records {
            let _ = record.source_table();
        }
    }
});
