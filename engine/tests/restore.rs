//! restore-table from an incremental folder, against an in-memory versioned bucket and table: the
//! current state, and the state at any instant of a recorded change history written with the backup
//! handler's lag, with throttling and transient failures.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use ddbrep_engine::backup_key;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::codec::stream_event::EpochTime;
use ddbrep_engine::model::{Item, Key, KeySchema, ScalarType, Value};
use ddbrep_engine::restore::{Restore, RestoreEvent, RestoreFrom, RestoreMode, RestorePlan};
use ddbrep_engine::stream::META_CREATION_TIME;
use ddbrep_engine::testing::{Faults, Harness, MemTable, World};
use ddbrep_engine::time::Millis;
use proptest::prelude::*;

fn schema() -> KeySchema {
    KeySchema::composite("pk", ScalarType::S, "sk", ScalarType::N)
}

fn item(k: u8, v: u32) -> Item {
    [
        ("pk", Value::from(format!("k{}", k % 4).as_str())),
        ("sk", Value::from(i64::from(k))),
        ("v", Value::from(i64::from(v))),
        (
            "big",
            Value::N("12345678901234567890123456789012345678".parse().unwrap()),
        ),
        ("bin", Value::B(vec![0, 255, k])),
    ]
    .into_iter()
    .collect()
}

fn key_of(k: u8) -> Key {
    schema().key_of(&item(k, 0)).unwrap()
}

/// One change: key, new value (`None`: deleted), how long the backup handler took to write it.
type Change = (u8, Option<u32>, u64);

/// Writes the history into the bucket as the backup handler would, and returns each key's states with their
/// change times. Changes are 1 s apart; a put's object is written `lag` ms after its change (never before
/// the key's previous object); a delete comes after the key's previous object was written.
fn record(world: &mut World, changes: &[Change]) -> BTreeMap<u8, Vec<(Millis, Option<Item>)>> {
    let mut states: BTreeMap<u8, Vec<(Millis, Option<Item>)>> = BTreeMap::new();
    let mut written: BTreeMap<u8, u64> = BTreeMap::new();
    let mut clock = 1_000_000u64;
    for &(k, value, lag) in changes {
        clock += 1000;
        let previous = written.get(&k).copied().unwrap_or(0);
        let name = backup_key::object_key("inc", "orders", &key_of(k));
        match value {
            Some(v) => {
                let change = clock;
                let at = (change + lag).max(previous);
                let item = item(k, v);
                let mut meta = BTreeMap::new();
                meta.insert(
                    META_CREATION_TIME.to_owned(),
                    EpochTime(Millis(change)).to_seconds_text(),
                );
                world.bucket.now = Millis(at);
                world
                    .bucket
                    .put_with_metadata(&name, ddb_json::item_to_string(&item).into_bytes(), meta);
                written.insert(k, at);
                states.entry(k).or_default().push((Millis(change), Some(item)));
            }
            None => {
                let change = clock.max(previous);
                clock = change;
                world.bucket.now = Millis(change);
                world.bucket.delete(&name);
                written.insert(k, change);
                // A delete marker carries no change time: restore times it by its LastModified, which S3
                // gives in whole seconds, so one on a second counts from that second's end.
                let counted = if change.is_multiple_of(1000) {
                    change + 999
                } else {
                    change
                };
                states.entry(k).or_default().push((Millis(counted), None));
            }
        }
    }
    states
}

fn state_at(states: &BTreeMap<u8, Vec<(Millis, Option<Item>)>>, at: Option<Millis>) -> MemTable {
    let mut t = MemTable::new(schema());
    for history in states.values() {
        let last = history.iter().rfind(|(when, _)| at.is_none_or(|at| *when <= at));
        if let Some((_, Some(item))) = last {
            t.put(item.clone());
        }
    }
    t
}

fn plan(at: Option<Millis>) -> RestorePlan {
    let mut plan = RestorePlan::new("inc/orders/", schema());
    plan.at = at;
    plan.max_in_flight = 4;
    plan.lag_window = Duration::from_secs(60);
    plan
}

fn changes() -> impl Strategy<Value = Vec<Change>> {
    prop::collection::vec(
        (0u8..12, prop::option::weighted(0.8, 0u32..1000), 0u64..30_000),
        0..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_restore_at_any_instant_gives_the_table_as_it_was(
        changes in changes(),
        pick in 0usize..200,
        page in 1usize..9,
        seed in any::<u64>(),
    ) {
        let mut world = World::new(schema());
        world.bucket.page_size = page;
        let states = record(&mut world, &changes);
        // Every change instant, a moment before each, and "now".
        let mut instants: Vec<Option<Millis>> = vec![None];
        for history in states.values() {
            for (when, _) in history {
                instants.push(Some(*when));
                instants.push(Some(Millis(when.0 - 1)));
            }
        }
        let at = instants[pick % instants.len()];
        world.bucket.faults = Faults::seeded(seed, 15, 10, 20);
        world.primary.faults = Faults::seeded(seed ^ 1, 15, 10, 20);
        let mut h = Harness::new(Restore::new(plan(at)), world, seed);
        let summary = h.run_to_end().clone();
        prop_assert_eq!(&summary.error, &None);
        prop_assert_eq!(summary.unreadable, 0);
        let expected = state_at(&states, at);
        prop_assert!(h.world.primary.same_items(&expected), "at {:?}: {:?}", at, summary);
        prop_assert!(h.max_outstanding <= 5, "{}", h.max_outstanding);
    }

    #[test]
    fn only_missing_leaves_the_tables_own_items_and_overwrite_at_an_instant_deletes(
        changes in changes(),
        keep in prop::collection::btree_set(0u8..12, 0..6),
        seed in any::<u64>(),
    ) {
        let mut world = World::new(schema());
        let states = record(&mut world, &changes);
        let current = state_at(&states, None);
        for k in &keep {
            world.primary.put(item(*k, 5000));
        }
        let mut p = plan(None);
        p.mode = RestoreMode::OnlyMissing;
        let mut h = Harness::new(Restore::new(p), world.clone(), seed);
        let summary = h.run_to_end().clone();
        prop_assert_eq!(&summary.error, &None);
        for k in 0u8..12 {
            let key = key_of(k);
            let got = h.world.primary.get(&key);
            if keep.contains(&k) {
                prop_assert_eq!(got, Some(&item(k, 5000)));
            } else {
                prop_assert_eq!(got, current.get(&key));
            }
        }
        let present = keep.iter().filter(|k| current.get(&key_of(**k)).is_some()).count();
        prop_assert_eq!(summary.present, present as u64);

        // Overwrite at the last change's instant with deletes: the table equals that state exactly
        // (for the keys the backup knows; the others are the table's own).
        let last = states.values().flat_map(|h| h.iter().map(|(w, _)| *w)).max();
        let mut p = plan(last);
        p.mode = RestoreMode::Overwrite;
        p.delete_absent = true;
        let mut h = Harness::new(Restore::new(p), world, seed);
        let summary = h.run_to_end().clone();
        prop_assert_eq!(summary.error, None);
        let expected = state_at(&states, last);
        for k in 0u8..12 {
            let key = key_of(k);
            // A key the backup holds a body of is restored exactly; one it only ever saw deleted cannot
            // be named, so the table's own item stays.
            let known = states.get(&k).is_some_and(|h| h.iter().any(|(_, s)| s.is_some()));
            if known {
                prop_assert_eq!(h.world.primary.get(&key), expected.get(&key), "key {}", k);
            } else if keep.contains(&k) {
                prop_assert_eq!(h.world.primary.get(&key), Some(&item(k, 5000)));
            }
        }
    }
}

#[test]
fn a_dry_run_plans_every_write_and_an_unreadable_object_is_named() {
    let mut world = World::new(schema());
    let states = record(&mut world, &[(1, Some(1), 0), (2, Some(2), 0), (2, None, 0)]);
    world.bucket.put("inc/orders/garbage", b"not json".to_vec());
    let mut p = plan(None);
    p.dry_run = true;
    let mut h = Harness::new(Restore::new(p), world, 1);
    let summary = h.run_to_end().clone();
    assert_eq!(summary.written, 1);
    assert_eq!(summary.unreadable, 1);
    assert!(
        h.world.primary.same_items(&MemTable::new(schema())),
        "nothing written"
    );
    let planned: Vec<&RestoreEvent> = h
        .events
        .iter()
        .filter(|e| matches!(e, RestoreEvent::Planned { .. }))
        .collect();
    assert_eq!(
        planned,
        [&RestoreEvent::Planned {
            key: key_of(1),
            item: states[&1][0].1.clone()
        }]
    );
    assert!(h.events.iter().any(|e| matches!(
        e,
        RestoreEvent::Unreadable { object, .. } if object == "inc/orders/garbage"
    )));
}

#[test]
fn a_change_the_handler_wrote_late_counts_at_its_change_time() {
    let mut world = World::new(schema());
    // v1 changed at 1,001,000 but written 20 s later; v2 changed at 1,002,000, written 25 s later.
    let states = record(&mut world, &[(3, Some(1), 20_000), (3, Some(2), 25_000)]);
    for (at, v) in [(1_001_500, Some(1)), (1_002_000, Some(2)), (1_000_999, None)] {
        let mut h = Harness::new(Restore::new(plan(Some(Millis(at)))), world.clone(), 2);
        h.run_to_end();
        assert_eq!(
            h.world.primary.get(&key_of(3)).cloned(),
            v.map(|v| item(3, v)),
            "at {at}"
        );
    }
    assert_eq!(states[&3].len(), 2);
}

fn gzip(text: &str, members: usize) -> Vec<u8> {
    use std::io::Write as _;
    // Split into `members` gzip members, as concatenated gzip files are.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let per = lines.len().div_ceil(members.max(1)).max(1);
    let mut out = Vec::new();
    for chunk in lines.chunks(per) {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(chunk.concat().as_bytes()).unwrap();
        out.extend(e.finish().unwrap());
    }
    if out.is_empty() {
        let e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        out = e.finish().unwrap();
    }
    out
}

fn lines_plan(from: RestoreFrom, prefix: &str, chunk: u64) -> RestorePlan {
    let mut plan = RestorePlan::new(prefix, schema());
    plan.from = from;
    plan.chunk_bytes = chunk;
    plan.max_in_flight = 4;
    plan
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_dump_in_segments_and_a_snapshot_restore_every_item_through_any_chunking(
        values in prop::collection::btree_map(0u8..40, 0u32..1000, 0..40),
        segments in 1usize..4,
        members in 1usize..3,
        chunk in 1u64..200,
        parallel in 1usize..4,
        seed in any::<u64>(),
    ) {
        let items: Vec<Item> = values.iter().map(|(k, v)| item(*k, *v)).collect();
        let mut expected = MemTable::new(schema());
        for i in &items {
            expected.put(i.clone());
        }
        let mut world = World::new(schema());
        world.bucket.page_size = 2;
        let mut all = String::new();
        for s in 0..segments {
            let text: String = items
                .iter()
                .skip(s)
                .step_by(segments)
                .map(|i| ddb_json::item_to_string(i) + "\n")
                .collect();
            all.push_str(&text);
            world.bucket.put(&format!("dumps/job/{s}"), gzip(&text, members));
        }
        world.bucket.put("snapshots/orders", gzip(&all, members));
        world.bucket.faults = Faults::seeded(seed, 10, 10, 20);
        world.primary.faults = Faults::seeded(seed ^ 7, 10, 10, 20);
        for (from, prefix) in [(RestoreFrom::Dump, "dumps/job/"), (RestoreFrom::Snapshot, "snapshots/orders")] {
            let mut plan = lines_plan(from, prefix, chunk);
            plan.parallel = parallel;
            let mut h = Harness::new(Restore::new(plan), world.clone(), seed);
            let summary = h.run_to_end().clone();
            prop_assert_eq!(&summary.error, &None);
            prop_assert_eq!(summary.unreadable, 0);
            prop_assert_eq!(summary.keys, items.len() as u64);
            prop_assert!(h.world.primary.same_items(&expected), "{:?}", from);
            prop_assert!(h.max_outstanding <= 5);
        }
    }
}

#[test]
fn a_bad_line_and_a_truncated_segment_are_named_and_everything_before_them_is_restored() {
    let good: String = (0..5)
        .map(|k| ddb_json::item_to_string(&item(k, 1)) + "\n")
        .collect();
    let with_bad_line = format!(
        "{good}{{\"pk\":{{\"S\":\"x\"}}}}\n{}\n",
        ddb_json::item_to_string(&item(9, 1))
    );
    let mut world = World::new(schema());
    world.bucket.put("dumps/job/0", gzip(&with_bad_line, 1));
    let whole = gzip(&good, 1);
    world.bucket.put("dumps/job/1", whole[..whole.len() - 4].to_vec());
    world.bucket.put("dumps/job/2", b"this is not gzip".to_vec());
    let mut h = Harness::new(
        Restore::new(lines_plan(RestoreFrom::Dump, "dumps/job/", 16)),
        world,
        3,
    );
    if !h.run(100_000) {
        panic!("stalled: {:?}", h.job);
    }
    let summary = h.run_to_end().clone();
    assert_eq!(summary.error, None);
    assert_eq!(summary.unreadable, 3, "{:?}", h.events);
    let unreadable: Vec<&str> = h
        .events
        .iter()
        .filter_map(|e| match e {
            RestoreEvent::Unreadable { object, .. } => Some(object.as_str()),
            _ => None,
        })
        .collect();
    assert!(unreadable.contains(&"dumps/job/0 line 6"), "{unreadable:?}");
    assert!(
        unreadable.iter().any(|o| o.starts_with("dumps/job/1 after line")),
        "{unreadable:?}"
    );
    assert!(unreadable.contains(&"dumps/job/2 after line 0"), "{unreadable:?}");
    // Segment 0's good lines (0..5 and 9) and segment 1's lines before the cut are in the table.
    for k in [0u8, 1, 2, 3, 4, 9] {
        assert!(h.world.primary.get(&key_of(k)).is_some(), "key {k}");
    }
}

#[test]
fn restoring_a_dump_at_an_instant_is_refused() {
    let mut plan = lines_plan(RestoreFrom::Dump, "dumps/job/", 16);
    plan.at = Some(Millis(5));
    let mut h = Harness::new(Restore::new(plan), World::new(schema()), 1);
    let summary = h.run_to_end().clone();
    assert!(matches!(
        summary.error,
        Some(ddbrep_engine::io::JobError::Plan(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn undoing_a_window_puts_back_only_what_changed_in_it_and_leaves_later_changes_alone(
        changes in changes(),
        first in 0usize..200,
        span in 0usize..200,
        seed in any::<u64>(),
    ) {
        let mut world = World::new(schema());
        let states = record(&mut world, &changes);
        let mut instants: Vec<Millis> = states
            .values()
            .flat_map(|h| h.iter().flat_map(|(w, _)| [*w, Millis(w.0 - 1)]))
            .collect();
        instants.sort();
        prop_assume!(!instants.is_empty());
        let t1 = instants[first % instants.len()];
        let t2 = instants[(first % instants.len() + span % instants.len()).min(instants.len() - 1)];
        prop_assume!(t1 < t2);
        // The table holds the latest state, plus an item of its own the backup never saw.
        world.primary = state_at(&states, None);
        world.primary.put(item(200, 1));
        world.bucket.faults = Faults::seeded(seed, 10, 10, 0);
        world.primary.faults = Faults::seeded(seed ^ 3, 10, 10, 20);
        let mut p = plan(Some(t1));
        p.mode = RestoreMode::Overwrite;
        p.undo_until = Some(t2);
        p.delete_absent = true;
        let mut h = Harness::new(Restore::new(p), world, seed);
        let summary = h.run_to_end().clone();
        prop_assert_eq!(&summary.error, &None);
        let then = state_at(&states, Some(t1));
        let now = state_at(&states, None);
        let mut conflicts = 0;
        for (k, history) in &states {
            let key = key_of(*k);
            let changed = history.iter().any(|(w, _)| *w > t1 && *w <= t2);
            let later = history.iter().any(|(w, _)| *w > t2);
            let nameable = history.iter().any(|(_, s)| s.is_some());
            let expected = if changed && !later && nameable { then.get(&key) } else { now.get(&key) };
            prop_assert_eq!(h.world.primary.get(&key), expected, "key {} ({}, {})", k, changed, later);
            if changed && later {
                conflicts += 1;
            }
        }
        prop_assert_eq!(summary.conflicts, conflicts);
        prop_assert_eq!(h.world.primary.get(&key_of(200)), Some(&item(200, 1)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn named_keys_restore_only_those_keys(
        changes in changes(),
        named in prop::collection::btree_set(0u8..14, 0..6),
        pick in 0usize..200,
        seed in any::<u64>(),
    ) {
        let mut world = World::new(schema());
        let states = record(&mut world, &changes);
        let mut instants: Vec<Millis> = states.values().flat_map(|h| h.iter().map(|(w, _)| *w)).collect();
        instants.sort();
        let at = if instants.is_empty() || pick % 3 == 0 { None } else { Some(instants[pick % instants.len()]) };
        // The table: every key 0..14 with a value of its own.
        for k in 0u8..14 {
            world.primary.put(item(k, 7000));
        }
        world.bucket.faults = Faults::seeded(seed, 10, 10, 0);
        let mut p = plan(at);
        p.mode = RestoreMode::Overwrite;
        p.delete_absent = true;
        p.keys = Some(named.iter().map(|k| key_of(*k)).collect());
        let mut h = Harness::new(Restore::new(p), world, seed);
        let summary = h.run_to_end().clone();
        prop_assert_eq!(&summary.error, &None);
        let expected = state_at(&states, at);
        for k in 0u8..14 {
            let key = key_of(k);
            let got = h.world.primary.get(&key);
            let known = states.contains_key(&k);
            // Without an instant a deleted key's 404 cannot be told from one never backed up: not deleted.
            let deleted_now = at.is_none() && expected.get(&key).is_none();
            if named.contains(&k) && known && !deleted_now {
                prop_assert_eq!(got, expected.get(&key), "named key {}", k);
            } else {
                prop_assert_eq!(got, Some(&item(k, 7000)), "key {}", k);
            }
        }
    }
}

#[test]
fn overwriting_never_replaces_a_live_write_made_after_the_key_was_read() {
    let mut world = World::new(schema());
    record(&mut world, &[(1, Some(1), 0), (2, Some(2), 0), (3, Some(3), 0)]);
    for k in [1u8, 2, 3] {
        world.primary.put(item(k, 500));
    }
    // A live writer changes key 2 before every answer: whatever the restore read of it is stale by the
    // time its conditional write arrives.
    let mut p = plan(None);
    p.mode = RestoreMode::Overwrite;
    let mut h = Harness::new(Restore::new(p.clone()), world.clone(), 4);
    let mut n = 1000u32;
    h.interleave(move |w| {
        n += 1;
        w.primary.put(item(2, n));
    });
    let summary = h.run_to_end().clone();
    assert_eq!(summary.error, None);
    assert_eq!(h.world.primary.get(&key_of(1)), Some(&item(1, 1)));
    assert_eq!(h.world.primary.get(&key_of(3)), Some(&item(3, 3)));
    let live = h.world.primary.get(&key_of(2)).cloned().unwrap();
    assert_ne!(live, item(2, 2), "the live write is kept");
    assert_eq!(summary.conflicts, 1);
    assert!(h
        .events
        .iter()
        .any(|e| *e == RestoreEvent::ChangedMeanwhile { key: key_of(2) }));
    // Without a live writer the same restore overwrites everything, and a second run writes nothing.
    let mut h = Harness::new(Restore::new(p.clone()), world, 4);
    let summary = h.run_to_end().clone();
    assert_eq!((summary.written, summary.conflicts), (3, 0));
    let mut h = Harness::new(Restore::new(p), h.world.clone(), 5);
    let summary = h.run_to_end().clone();
    assert_eq!((summary.written, summary.current), (0, 3));
}

#[test]
fn a_write_budget_paces_the_restore() {
    let mut world = World::new(schema());
    let text: String = (0..60u8)
        .map(|k| ddb_json::item_to_string(&item(k, 1)) + "\n")
        .collect();
    world.bucket.put("snapshots/orders", gzip(&text, 1));
    let mut p = lines_plan(RestoreFrom::Snapshot, "snapshots/orders", 1 << 20);
    p.rate_limit = Some(20);
    let mut h = Harness::new(Restore::new(p.clone()), world.clone(), 1);
    let summary = h.run_to_end().clone();
    assert_eq!((summary.written, summary.error.clone()), (60, None));
    // 60 items at 20 a second, the first second's worth at once: about two seconds at least.
    assert!(h.world.now >= Millis(1_900), "{:?}", h.world.now);
    p.rate_limit = None;
    let mut h = Harness::new(Restore::new(p), world, 1);
    h.run_to_end();
    assert!(h.world.now < Millis(1_000), "{:?}", h.world.now);
}

#[test]
fn a_dry_run_overwrite_lists_only_the_keys_it_would_change() {
    let mut world = World::new(schema());
    record(&mut world, &[(1, Some(1), 0), (2, Some(2), 0), (3, Some(3), 0)]);
    world.primary.put(item(1, 1)); // already as restored
    world.primary.put(item(2, 900)); // differs
    let mut p = plan(None);
    p.mode = RestoreMode::Overwrite;
    p.dry_run = true;
    let before = world.primary.clone();
    let mut h = Harness::new(Restore::new(p), world, 2);
    let summary = h.run_to_end().clone();
    let planned: Vec<Key> = h
        .events
        .iter()
        .filter_map(|e| match e {
            RestoreEvent::Planned { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(planned.len(), 2, "{planned:?}");
    assert!(planned.contains(&key_of(2)) && planned.contains(&key_of(3)));
    assert_eq!((summary.written, summary.current), (2, 1));
    assert!(h.world.primary.same_items(&before), "a dry run writes nothing");
}
