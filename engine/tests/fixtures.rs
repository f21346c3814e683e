//! The original tool's fixtures parse, exactly: every event in `fixtures/original/`, and `table.json` as a
//! table description.

use std::path::PathBuf;

use ddbrep_engine::backup_key;
use ddbrep_engine::codec::{ddb_json, stream_event};
use ddbrep_engine::model::{KeySchema, ScalarType, Value};

/// The package directory, read when the test runs: `env!` would bake in the path of the checkout that
/// compiled the test, which a build cache shared between checkouts (CI's clones) would reuse.
fn package_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn fixture(name: &str) -> String {
    let path = package_dir().join("tests/fixtures/original").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const EVENTS: [(&str, usize); 5] = [
    ("insert.json", 1),
    ("insert-buffer.json", 1),
    ("insert-modify.json", 2),
    ("insert-modify-delete.json", 3),
    ("adjust-many.json", 7),
];

#[test]
fn every_original_event_parses() {
    for (name, records) in EVENTS {
        let event = stream_event::parse_event(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(event.records.len(), records, "{name}");
        for r in &event.records {
            assert_eq!(r.source_table(), Some("fake"), "{name}");
            assert!(r.dynamodb.keys.get("id").is_some(), "{name}");
            let has_new = r.dynamodb.new_image.is_some();
            assert_eq!(has_new, r.event_name != stream_event::EventName::Remove, "{name}");
        }
    }
}

#[test]
fn records_keep_stream_order() {
    let event = stream_event::parse_event(&fixture("insert-modify-delete.json")).unwrap();
    let names: Vec<_> = event.records.iter().map(|r| r.event_name).collect();
    use stream_event::EventName::*;
    assert_eq!(names, [Insert, Modify, Remove]);
    let seqs: Vec<_> = event
        .records
        .iter()
        .map(|r| r.dynamodb.sequence_number.clone())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn binary_is_decoded_once() {
    let event = stream_event::parse_event(&fixture("insert-buffer.json")).unwrap();
    let image = event.records[0].dynamodb.new_image.as_ref().unwrap();
    assert_eq!(image.get("val"), Some(&Value::B(b"hello".to_vec())));
    assert_eq!(image.get("bufferSet"), Some(&Value::Bs(vec![b"hello".to_vec()])));
    let Some(Value::M(map)) = image.get("map") else {
        panic!("map is not a map")
    };
    assert_eq!(map.get("prop"), Some(&Value::B(b"hello".to_vec())));
    // And written back as the original's body would be: compact, in the order received, base64 once.
    assert_eq!(
        ddb_json::item_to_string(image),
        concat!(
            r#"{"range":{"N":"1"},"id":{"S":"record-1"},"val":{"B":"aGVsbG8="},"#,
            r#""map":{"M":{"prop":{"B":"aGVsbG8="}}},"list":{"L":[{"S":"string"},{"B":"aGVsbG8="}]},"#,
            r#""bufferSet":{"BS":["aGVsbG8="]}}"#
        )
    );
}

#[test]
fn event_keys_give_the_backup_object_key() {
    let event = stream_event::parse_event(&fixture("insert.json")).unwrap();
    let schema = KeySchema::partition_only("id", ScalarType::S);
    let key = schema.parse_key(&event.records[0].dynamodb.keys).unwrap();
    // printf '%s' '{"id":{"S":"record-1"}}' | sha256sum
    assert_eq!(
        backup_key::object_key("prefix", "fake", &key),
        "prefix/fake/d9b6990bcccce4c29a5f27866bf6f105a0fe391a29c4092e795f0b3c6528e4ac"
    );
}

#[test]
fn table_json_parses_as_a_table_description() {
    let table = ddbrep_engine::model::TableDescription::parse_json(&fixture("table.json")).unwrap();
    assert_eq!(
        table.key().unwrap(),
        KeySchema::composite("hash", ScalarType::S, "range", ScalarType::S)
    );
    let throughput = table.provisioned_throughput.unwrap();
    assert_eq!(
        (throughput.read_capacity_units, throughput.write_capacity_units),
        (10, 10)
    );
}
