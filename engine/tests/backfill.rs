//! incremental-backfill then incremental-snapshot against in-memory stores: the snapshot holds exactly
//! the table, and a backfill racing a live backup never leaves an object older than its item.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::{BTreeMap, VecDeque};

use ddbrep_engine::backfill::{Backfill, BackfillPlan};
use ddbrep_engine::backup_key;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{Item, Key, KeySchema, ScalarType, Value};
use ddbrep_engine::retry::{RetryPolicy, Rng};
use ddbrep_engine::snapshot::{Snapshot, SnapshotPlan};
use ddbrep_engine::testing::{Faults, Harness, World};
use proptest::prelude::*;

fn schema() -> KeySchema {
    KeySchema::composite("h", ScalarType::S, "r", ScalarType::N)
}

fn item(k: u8, v: u8) -> Item {
    [
        ("h", Value::from(format!("p{}", k % 3))),
        ("r", Value::from(i64::from(k))),
        ("v", Value::from(i64::from(v))),
    ]
    .into_iter()
    .collect()
}

fn patient() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 40,
        ..RetryPolicy::default()
    }
}

fn snapshot_items(world: World, seed: u64) -> Vec<Item> {
    let mut plan = SnapshotPlan::new("backups/t/");
    plan.retry = patient();
    let mut h = Harness::new(Snapshot::new(plan), world, seed);
    let summary = h.run_to_end().clone();
    assert_eq!(summary.error, None);
    let bytes = h.output.get(&0).cloned().unwrap_or_default();
    let text = String::from_utf8(bytes).unwrap();
    text.lines().map(|l| ddb_json::parse_item(l).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn backfill_then_snapshot_holds_exactly_the_table(
        table in proptest::collection::btree_map(any::<u8>(), 0u8..4, 0..80),
        stale in proptest::collection::btree_map(any::<u8>(), 0u8..4, 0..20),
        seed in any::<u64>(), fault in any::<bool>(), verify in any::<bool>(), in_flight in 1usize..10,
    ) {
        let mut world = World::new(schema());
        for (k, v) in &table { world.primary.put(item(*k, *v)); }
        // Objects already there, some stale, some for items no longer in the table.
        for (k, v) in &stale {
            let it = item(*k, *v);
            let key = schema().key_of(&it).unwrap();
            world.bucket.put(&backup_key::object_key("backups", "t", &key), ddb_json::item_to_string(&it).into_bytes());
        }
        if fault {
            world.primary.faults = Faults::seeded(seed, 10, 5, 20);
            world.bucket.faults = Faults::seeded(seed ^ 1, 10, 5, 0);
            world.bucket.faults.lost_reply_percent = 5;
        }
        world.primary.page_size = 9;
        let mut plan = BackfillPlan::new(schema(), "backups", "t");
        plan.verify = verify;
        plan.retry = patient();
        plan.seed = seed;
        plan.max_in_flight = in_flight;
        plan.max_rounds = 100;
        let mut h = Harness::new(Backfill::new(plan), world, seed);
        h.run_to_end();
        let summary = h.summary.clone().unwrap();
        prop_assert_eq!(&summary.error, &None);
        prop_assert!(h.max_outstanding <= in_flight);
        // Every item's object holds it, byte for byte.
        for (key, it) in &h.world.primary.items {
            let body = h.world.bucket.current(&backup_key::object_key("backups", "t", key));
            let want = ddb_json::item_to_string(it);
            prop_assert_eq!(body, Some(want.as_bytes()));
        }
        let mut world = h.world.clone();
        world.bucket.faults = Faults::none();
        let got: BTreeMap<Key, Item> = snapshot_items(world, seed).into_iter().map(|i| (schema().key_of(&i).unwrap(), i)).collect();
        // The table's items, plus the old objects of keys not in the table (a backfill only visits the
        // table's keys, as the original did).
        let mut expected = h.world.primary.items.clone();
        for (k, v) in &stale {
            let it = item(*k, *v);
            let key = schema().key_of(&it).unwrap();
            expected.entry(key).or_insert(it);
        }
        prop_assert_eq!(&got, &expected);
    }

    #[test]
    fn a_backfill_racing_a_live_backup_never_leaves_an_object_older_than_its_item(
        table in proptest::collection::btree_map(0u8..10, 0u8..4, 0..10),
        seed in any::<u64>(), writes in 1u32..100, in_flight in 1usize..8,
    ) {
        let mut world = World::new(schema());
        for (k, v) in &table { world.primary.put(item(*k, *v)); }
        world.primary.page_size = 3;
        let mut plan = BackfillPlan::new(schema(), "backups", "t");
        plan.retry = patient();
        plan.seed = seed;
        plan.max_in_flight = in_flight;
        plan.max_rounds = 1000;
        let mut h = Harness::new(Backfill::new(plan), world, seed);
        let stream: Stream = Default::default();
        let s = stream.clone();
        let mut rng = Rng::new(seed ^ 77);
        let mut left = writes;
        let apply = |w: &mut World, k: Key, v: Option<Item>| {
            let name = backup_key::object_key("backups", "t", &k);
            match v {
                Some(i) => { w.bucket.put(&name, ddb_json::item_to_string(&i).into_bytes()); }
                None => w.bucket.delete(&name),
            }
        };
        h.interleave(move |w: &mut World| {
            if left > 0 && rng.up_to(1) == 0 {
                left -= 1;
                let it = item(rng.up_to(9) as u8, rng.up_to(3) as u8);
                let key = w.primary.schema.key_of(&it).unwrap();
                if rng.up_to(3) == 0 {
                    w.primary.delete(&key);
                    s.borrow_mut().push_back((key, None));
                } else {
                    w.primary.put(it.clone());
                    s.borrow_mut().push_back((key, Some(it)));
                }
            }
            if rng.up_to(1) == 0 {
                let next = s.borrow_mut().pop_front();
                if let Some((k, v)) = next { apply(w, k, v); }
            }
        });
        h.run_to_end();
        prop_assert_eq!(&h.summary.clone().unwrap().error, &None);
        let rest: Vec<_> = stream.borrow_mut().drain(..).collect();
        for (k, v) in rest { apply(&mut h.world, k, v); }
        let live = h.world.bucket.live();
        let expected: BTreeMap<String, Vec<u8>> = h.world.primary.items.iter()
            .map(|(k, i)| (backup_key::object_key("backups", "t", k), ddb_json::item_to_string(i).into_bytes()))
            .collect();
        prop_assert_eq!(live, expected);
    }
}

/// Changes on their way to the target, in stream order.
type Stream = std::rc::Rc<std::cell::RefCell<VecDeque<(Key, Option<Item>)>>>;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// incremental-diff-table: the check reports exactly the missing, different and extraneous keys and
    /// writes nothing; the repair then makes the folder hold exactly the table, and a second check is clean.
    #[test]
    fn the_whole_table_check_reports_exactly_the_differences_and_the_repair_removes_them(
        table in proptest::collection::btree_map(any::<u8>(), 0u8..4, 0..60),
        backup in proptest::collection::btree_map(any::<u8>(), 0u8..4, 0..60),
        seed in any::<u64>(), fault in any::<bool>(),
    ) {
        use ddbrep_engine::backfill::BackfillEvent;
        let mut world = World::new(schema());
        for (k, v) in &table { world.primary.put(item(*k, *v)); }
        for (k, v) in &backup {
            let key = schema().key_of(&item(*k, *v)).unwrap();
            world.bucket.put(&backup_key::object_key("backups", "t", &key), ddb_json::item_to_string(&item(*k, *v)).into_bytes());
        }
        // Under an older name: reported, never deleted.
        world.bucket.put("backups/t/legacy-name", ddb_json::item_to_string(&item(1, 1)).into_bytes());
        world.bucket.page_size = 5;
        if fault {
            world.bucket.faults = Faults::seeded(seed, 10, 10, 0);
            world.primary.faults = Faults::seeded(seed ^ 5, 10, 10, 20);
        }
        let missing = table.keys().filter(|k| !backup.contains_key(k)).count() as u64;
        let different = table.iter().filter(|(k, v)| backup.get(k).is_some_and(|b| b != *v)).count() as u64;
        let extraneous = backup.keys().filter(|k| !table.contains_key(k)).count() as u64;

        let mut plan = BackfillPlan::new(schema(), "backups", "t");
        plan.repair = false;
        plan.extraneous = true;
        plan.retry = patient();
        let before = world.bucket.clone();
        let mut h = Harness::new(Backfill::new(plan.clone()), world, seed);
        let summary = h.run_to_end().clone();
        prop_assert_eq!(&summary.error, &None);
        let p = summary.progress;
        prop_assert_eq!((p.missing, p.different, p.extraneous, p.unreadable), (missing, different, extraneous, 1));
        prop_assert_eq!(h.world.bucket.objects.len(), before.objects.len(), "the check writes nothing");
        prop_assert_eq!(h.world.bucket.live(), before.live());
        let reported = h.events.iter().filter(|e| matches!(e, BackfillEvent::Differs { .. })).count() as u64;
        prop_assert_eq!(reported, missing + different + extraneous);

        plan.repair = true;
        let mut h = Harness::new(Backfill::new(plan.clone()), h.world.clone(), seed ^ 1);
        let summary = h.run_to_end().clone();
        prop_assert_eq!(&summary.error, &None);
        plan.repair = false;
        let mut h = Harness::new(Backfill::new(plan), h.world.clone(), seed ^ 2);
        let p = h.run_to_end().progress;
        prop_assert_eq!((p.missing, p.different, p.extraneous), (0, 0, 0));
        prop_assert!(h.world.bucket.current("backups/t/legacy-name").is_some());
    }
}
