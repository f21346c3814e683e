//! Number text: never panic; a parsed number prints a text that parses to the same number.
#![no_main]
use ddbrep_engine::model::Number;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(n) = Number::parse(text) {
        let printed = n.to_string();
        assert_eq!(Number::parse(&printed), Ok(n));
    }
});
