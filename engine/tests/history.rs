//! incremental-record-history against an in-memory versioned bucket.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use ddbrep_engine::backup_key;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::history::{History, HistoryFormat, HistoryPlan};
use ddbrep_engine::io::StoreError;
use ddbrep_engine::model::{Item, KeySchema, ScalarType, Value};
use ddbrep_engine::testing::{Faults, Harness, World};
use ddbrep_engine::time::Millis;

fn schema() -> KeySchema {
    KeySchema::composite("range", ScalarType::S, "hash", ScalarType::S)
}

fn item(v: i64) -> Item {
    [
        ("range", Value::from("r")),
        ("hash", Value::from("h")),
        ("v", Value::from(v)),
    ]
    .into_iter()
    .collect()
}

#[test]
fn versions_print_newest_first_across_legacy_names_with_deletes() {
    let key = schema().key_of(&item(0)).unwrap();
    let names: Vec<String> = backup_key::legacy_key_jsons(&key)
        .iter()
        .map(|j| format!("b/t/{}", backup_key::hash_key_json(j)))
        .collect();
    assert_eq!(names.len(), 2);
    let mut world = World::new(schema());
    world.bucket.page_size = 1;
    world.bucket.now = Millis(1000);
    world
        .bucket
        .put(&names[1], ddb_json::item_to_string(&item(1)).into_bytes());
    world.bucket.now = Millis(2000);
    world
        .bucket
        .put(&names[0], ddb_json::item_to_string(&item(2)).into_bytes());
    world.bucket.now = Millis(3000);
    world.bucket.delete(&names[0]);
    world.bucket.faults = Faults::seeded(3, 20, 10, 0);
    world.bucket.faults.throttle_next = 2;
    let mut h = Harness::new(
        History::new(HistoryPlan::new(key.clone(), "b", "t")),
        world.clone(),
        9,
    );
    let summary = h.run_to_end().clone();
    assert_eq!(summary.versions, 3);
    let text = String::from_utf8(h.output[&0].clone()).unwrap();
    let rule = "-".repeat(34);
    assert_eq!(
        text,
        format!(
            "\nModified: 1970-01-01T00:00:03.000Z\n{rule}\nRecord was deleted\n\n\
             \nModified: 1970-01-01T00:00:02.000Z\n{rule}\n{{\n  \"range\": \"r\",\n  \"hash\": \"h\",\n  \"v\": 2\n}}\n\n\
             \nModified: 1970-01-01T00:00:01.000Z\n{rule}\n{{\n  \"range\": \"r\",\n  \"hash\": \"h\",\n  \"v\": 1\n}}\n\n"
        )
    );
    let mut plan = HistoryPlan::new(key, "b", "t");
    plan.format = HistoryFormat::Json;
    let mut h = Harness::new(History::new(plan), world, 9);
    h.run_to_end();
    let text = String::from_utf8(h.output[&0].clone()).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text
        .lines()
        .next()
        .unwrap()
        .contains("\"deleted\":true,\"item\":null"));
}

#[test]
fn a_key_without_backups_has_an_empty_history() {
    let key = schema().key_of(&item(0)).unwrap();
    let mut h = Harness::new(
        History::new(HistoryPlan::new(key, "b", "t")),
        World::new(schema()),
        1,
    );
    assert_eq!(h.run_to_end().versions, 0);
    assert!(h.output.is_empty());
}

#[test]
fn a_missing_bucket_is_a_typed_failure() {
    let key = schema().key_of(&item(0)).unwrap();
    let mut job = History::new(HistoryPlan::new(key, "b", "t"));
    use ddbrep_engine::io::{Action, Input};
    let Some(Action::Object { id, .. }) = job.poll() else {
        panic!("a listing")
    };
    job.handle(
        Input::Object {
            id,
            result: Err(StoreError::Fatal("NoSuchBucket".into())),
        },
        Millis(1),
    );
    let done = std::iter::from_fn(|| job.poll()).find_map(|a| match a {
        Action::Done(s) => Some(s),
        _ => None,
    });
    assert!(done.unwrap().error.is_some());
}
