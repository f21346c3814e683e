//! incremental-rekey against an in-memory versioned bucket: folders in the original's layouts (composite
//! keys hashed in schema order, MD5 names) migrated to the canonical names, under faults, lost replies
//! and a live writer, then migrated again with no effect.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;

use ddbrep_engine::backup_key;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{Item, Key, KeySchema, ScalarType, Value};
use ddbrep_engine::rekey::{Rekey, RekeyEvent, RekeyOutcome, RekeyPlan, RekeySummary, META_REKEY_MERGED};
use ddbrep_engine::testing::{Faults, Harness, MemBucket, World};
use ddbrep_engine::time::Millis;
use proptest::prelude::*;

const FOLDER: &str = "b/t/";

/// Sort key "a" sorts before partition key "pk": the schema order (what the original's backfill hashed)
/// is not the canonical sorted order.
fn schema() -> KeySchema {
    KeySchema::composite("pk", ScalarType::S, "a", ScalarType::N)
}

fn item(k: u8, v: i64) -> Item {
    [
        ("pk", Value::from(format!("k{k}").as_str())),
        ("a", Value::from(i64::from(k))),
        ("v", Value::from(v)),
    ]
    .into_iter()
    .collect()
}

fn key(k: u8) -> Key {
    schema().key_of(&item(k, 0)).unwrap()
}

/// The key's names: 0 canonical, then SHA-256 of schema order, MD5 of sorted, MD5 of schema order.
fn names(k: u8) -> Vec<String> {
    backup_key::candidate_hashes(&key(k))
        .into_iter()
        .map(|h| format!("{FOLDER}{h}"))
        .collect()
}

fn body(k: u8, v: i64) -> Vec<u8> {
    ddb_json::item_to_string(&item(k, v)).into_bytes()
}

fn run(world: World, dry_run: bool, seed: u64) -> Harness<Rekey> {
    let mut plan = RekeyPlan::new(FOLDER, schema());
    plan.dry_run = dry_run;
    plan.seed = seed;
    plan.max_in_flight = 24;
    let mut world = world;
    // The harness clock stamps new versions: start it after everything the test wrote.
    world.now = world.bucket.now.saturating_add(std::time::Duration::from_secs(1));
    world.bucket.now = world.now;
    let mut h = Harness::new(Rekey::new(plan), world, seed);
    h.run_to_end();
    h
}

fn summary(h: &Harness<Rekey>) -> RekeySummary {
    h.summary.clone().unwrap()
}

fn versions(bucket: &MemBucket) -> usize {
    bucket.objects.values().map(Vec::len).sum()
}

/// Every version there was is still there, unchanged.
fn kept_every_version(before: &MemBucket, after: &MemBucket) {
    for (name, vs) in &before.objects {
        let now = &after.objects[name];
        assert_eq!(&now[..vs.len()], &vs[..], "{name}");
    }
}

fn migrated(h: &Harness<Rekey>) -> Vec<(Key, Vec<String>, RekeyOutcome)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            RekeyEvent::Migrated {
                key, legacy, outcome, ..
            } => Some((key.clone(), legacy.clone(), outcome.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_key_only_under_a_legacy_name_moves_to_its_canonical_name_with_history_kept() {
    let n = names(1);
    let mut world = World::new(schema());
    world.bucket.page_size = 2;
    for v in 1..=3 {
        world.bucket.now = Millis(v as u64 * 1000);
        world.bucket.put(&n[1], body(1, v));
    }
    let before = world.bucket.clone();
    let h = run(world, false, 1);
    let s = summary(&h);
    assert_eq!(s.error, None);
    assert_eq!(s.progress.migrated, 1);
    assert_eq!(
        migrated(&h),
        [(
            key(1),
            vec![n[1].clone()],
            RekeyOutcome::Copied { from: n[1].clone() }
        )]
    );
    let b = &h.world.bucket;
    assert_eq!(b.current(&n[0]), Some(&body(1, 3)[..]));
    assert_eq!(b.current(&n[1]), None, "the legacy name has a delete marker");
    kept_every_version(&before, b);
    let seal = b.objects[&n[0]].last().unwrap();
    assert_eq!(seal.metadata["ddbrep-approximate-creation-date-time"], "3");
    let legacy_v3 = &before.objects[&n[1]][2].version_id;
    assert_eq!(
        seal.metadata[META_REKEY_MERGED],
        format!("{}@{legacy_v3}", n[1].rsplit('/').next().unwrap())
    );

    // A second run changes nothing.
    let again = run(h.world.clone(), false, 2);
    assert_eq!(summary(&again).progress.migrated, 0);
    assert_eq!(summary(&again).progress.already, 1);
    assert_eq!(summary(&again).progress.canonical, 1);
    assert_eq!(versions(&again.world.bucket), versions(b));
}

#[test]
fn the_newest_state_wins_across_names_and_a_later_delete_is_carried_over() {
    let mut world = World::new(schema());
    let mut t = 0;
    let mut at = |w: &mut World| {
        t += 1000;
        w.bucket.now = Millis(t);
    };
    // Key 1: backfill wrote the canonical name, the Lambda a legacy name later: the legacy state wins.
    at(&mut world);
    world.bucket.put(&names(1)[0], body(1, 1));
    at(&mut world);
    world.bucket.put(&names(1)[1], body(1, 2));
    // Key 2: the canonical name is newer: it stays.
    at(&mut world);
    world.bucket.put(&names(2)[3], body(2, 1));
    at(&mut world);
    world.bucket.put(&names(2)[0], body(2, 2));
    // Key 3: a legacy put, the canonical backfill, then the legacy delete: deleted.
    at(&mut world);
    world.bucket.put(&names(3)[1], body(3, 1));
    at(&mut world);
    world.bucket.put(&names(3)[0], body(3, 1));
    at(&mut world);
    world.bucket.delete(&names(3)[1]);
    // Key 4: MD5 names only (before the original moved to SHA-256), two of them.
    at(&mut world);
    world.bucket.put(&names(4)[2], body(4, 1));
    at(&mut world);
    world.bucket.put(&names(4)[3], body(4, 2));
    // Key 5: canonical only.
    at(&mut world);
    world.bucket.put(&names(5)[0], body(5, 1));
    // An object that is not an item.
    world.bucket.put(&format!("{FOLDER}junk"), b"not json".to_vec());
    let before = world.bucket.clone();
    let h = run(world, false, 3);
    let s = summary(&h);
    assert_eq!(s.error, None);
    let b = &h.world.bucket;
    assert_eq!(b.current(&names(1)[0]), Some(&body(1, 2)[..]));
    assert_eq!(b.current(&names(2)[0]), Some(&body(2, 2)[..]));
    assert_eq!(b.current(&names(3)[0]), None);
    assert_eq!(b.current(&names(4)[0]), Some(&body(4, 2)[..]));
    assert_eq!(b.current(&names(5)[0]), Some(&body(5, 1)[..]));
    for k in 1..=4 {
        for legacy in &names(k)[1..] {
            assert_eq!(b.current(legacy), None, "key {k} {legacy}");
        }
    }
    kept_every_version(&before, b);
    let mut outcomes: BTreeMap<String, RekeyOutcome> = migrated(&h)
        .into_iter()
        .map(|(k, _, o)| (ddb_json::key_to_sorted_string(&k), o))
        .collect();
    let mut take = |k: u8| outcomes.remove(&ddb_json::key_to_sorted_string(&key(k))).unwrap();
    assert_eq!(
        take(1),
        RekeyOutcome::Copied {
            from: names(1)[1].clone()
        }
    );
    assert_eq!(take(2), RekeyOutcome::Kept);
    assert_eq!(take(3), RekeyOutcome::Deleted);
    assert_eq!(
        take(4),
        RekeyOutcome::Copied {
            from: names(4)[3].clone()
        }
    );
    assert!(outcomes.is_empty(), "{outcomes:?}");
    assert_eq!(s.progress.unreadable, 1);
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, RekeyEvent::Unreadable { object, .. } if object.ends_with("junk"))));

    let again = run(h.world.clone(), false, 4);
    assert_eq!(summary(&again).progress.migrated, 0, "{:?}", again.events);
    assert_eq!(versions(&again.world.bucket), versions(b));
}

#[test]
fn a_dry_run_reports_and_writes_nothing() {
    let mut world = World::new(schema());
    world.bucket.now = Millis(1000);
    world.bucket.put(&names(1)[1], body(1, 1));
    let before = world.bucket.clone();
    let h = run(world, true, 5);
    assert_eq!(summary(&h).progress.migrated, 1);
    assert_eq!(migrated(&h).len(), 1);
    assert_eq!(h.world.bucket.objects, before.objects);
}

#[test]
fn a_run_stopped_after_the_seal_is_finished_by_the_next_without_a_second_seal() {
    let n = names(1);
    let mut world = World::new(schema());
    world.bucket.now = Millis(1000);
    world.bucket.put(&n[1], body(1, 1));
    let h = run(world, false, 6);
    let mut stopped = h.world.clone();
    // Undo the delete marker: as if the run had stopped after writing the seal.
    stopped.bucket.objects.get_mut(&n[1]).unwrap().pop();
    let canonical_versions = stopped.bucket.objects[&n[0]].len();
    let again = run(stopped, false, 7);
    assert_eq!(summary(&again).progress.migrated, 1);
    assert_eq!(again.world.bucket.current(&n[1]), None);
    assert_eq!(again.world.bucket.objects[&n[0]].len(), canonical_versions);
    assert_eq!(again.world.bucket.current(&n[0]), Some(&body(1, 1)[..]));
}

#[test]
fn a_live_write_to_the_canonical_name_during_the_migration_is_kept() {
    let n = names(1);
    let mut world = World::new(schema());
    world.bucket.now = Millis(1000);
    world.bucket.put(&n[1], body(1, 1));
    // A live write after each step of the run in turn, until the run has no more steps.
    for step in 1..=40 {
        let mut plan = RekeyPlan::new(FOLDER, schema());
        plan.seed = step;
        let mut w = world.clone();
        w.now = Millis(10_000);
        w.bucket.now = w.now;
        let mut h = Harness::new(Rekey::new(plan), w, step);
        let live = n[0].clone();
        let wrote = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = wrote.clone();
        let mut steps = 0;
        h.interleave(move |w| {
            steps += 1;
            if steps == step {
                w.bucket.put(&live, body(1, 99));
                flag.set(true);
            }
        });
        let s = h.run_to_end().clone();
        assert_eq!(s.error, None);
        if !wrote.get() {
            // Listing, read, two name listings, seal, marker.
            assert!(step > 6, "the run ended after {} steps", step - 1);
            break;
        }
        assert_eq!(
            h.world.bucket.current(&n[0]),
            Some(&body(1, 99)[..]),
            "live write at step {step}: {:?}",
            h.events
        );
        assert_eq!(h.world.bucket.current(&n[1]), None);
    }
}

/// One name's history: puts of a value or deletes, in time order across names.
fn history() -> impl Strategy<Value = Vec<(u8, usize, Option<i64>)>> {
    prop::collection::vec((0u8..4, 0usize..4, prop::option::weighted(0.8, 0i64..5)), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Whatever mix of names held a key's states, and whatever faults and lost replies, each key ends with
    /// its newest state (by LastModified, ties to the canonical name) under its canonical name alone, no
    /// version is lost, and a second run writes nothing.
    #[test]
    fn every_key_ends_with_its_newest_state_under_its_canonical_name(
        writes in history(),
        page in 1usize..6,
        faults in (0u32..20, 0u32..15, 0u32..10),
        seed in any::<u64>(),
    ) {
        let mut world = World::new(schema());
        world.bucket.page_size = page;
        let mut newest: BTreeMap<u8, (usize, Option<i64>)> = BTreeMap::new();
        for (t, &(k, name, value)) in writes.iter().enumerate() {
            world.bucket.now = Millis(1000 * (t as u64 + 1));
            let object = &names(k)[name];
            match value {
                Some(v) => { world.bucket.put(object, body(k, v)); }
                None => world.bucket.delete(object),
            }
            newest.insert(k, (name, value));
        }
        let before = world.bucket.clone();
        world.bucket.faults = Faults::seeded(seed, faults.0, faults.1, 0);
        world.bucket.faults.lost_reply_percent = faults.2;
        let h = run(world, false, seed);
        let s = summary(&h);
        prop_assert_eq!(&s.error, &None);
        prop_assert_eq!(s.progress.failed, 0);
        let b = &h.world.bucket;
        kept_every_version(&before, b);
        for (&k, &(name, value)) in &newest {
            // A name that never held an object has nothing to say about the key.
            let only_markers = before.objects[&names(k)[name]].iter().all(|v| v.body.is_none());
            let expected = if only_markers && name != 0 {
                // The newest state is then the newest of the other names.
                let mut best: Option<(Millis, usize, Option<Vec<u8>>)> = None;
                for (i, object) in names(k).iter().enumerate() {
                    let Some(vs) = before.objects.get(object) else { continue };
                    if i != 0 && vs.iter().all(|v| v.body.is_none()) { continue }
                    let cur = vs.last().unwrap();
                    if best.as_ref().is_none_or(|(t, _, _)| cur.last_modified > *t) {
                        best = Some((cur.last_modified, i, cur.body.clone()));
                    }
                }
                best.and_then(|(_, _, b)| b)
            } else {
                value.map(|v| body(k, v))
            };
            prop_assert_eq!(b.current(&names(k)[0]).map(<[u8]>::to_vec), expected, "key {}", k);
            for legacy in &names(k)[1..] {
                prop_assert_eq!(b.current(legacy), None);
            }
        }
        let mut clean = h.world.clone();
        clean.bucket.faults = Faults::none();
        let again = run(clean, false, seed ^ 1);
        prop_assert_eq!(summary(&again).progress.migrated, 0, "{:?}", again.events);
        prop_assert_eq!(versions(&again.world.bucket), versions(b));
    }
}

/// incremental-record-history after a rekey: the seal and the rekey's delete marker are hidden, so the
/// history is the key's states once each, at their own times; a real delete still shows.
#[test]
fn history_after_a_rekey_shows_each_state_once() {
    use ddbrep_engine::history::{History, HistoryFormat, HistoryPlan};
    let n = names(1);
    let mut world = World::new(schema());
    world.bucket.now = Millis(1000);
    world.bucket.put(&n[0], body(1, 1));
    world.bucket.now = Millis(2000);
    world.bucket.put(&n[1], body(1, 2));
    world.bucket.now = Millis(3000);
    world.bucket.delete(&n[1]);
    world.bucket.now = Millis(4000);
    world.bucket.put(&n[1], body(1, 4));
    let history = |world: &World| {
        let mut plan = HistoryPlan::new(key(1), "b", "t");
        plan.format = HistoryFormat::Json;
        let mut h = Harness::new(History::new(plan), world.clone(), 3);
        assert_eq!(h.run_to_end().error, None);
        String::from_utf8(h.output[&0].clone()).unwrap()
    };
    let before = history(&world);
    assert_eq!(before.lines().count(), 4);
    let h = run(world, false, 8);
    assert_eq!(h.world.bucket.current(&n[0]), Some(&body(1, 4)[..]));
    assert_eq!(history(&h.world), before);
}

/// restore-table at an instant after a rekey, deleting keys absent then: the legacy name's delete marker
/// says only that the state moved, so the key is restored, not deleted (whatever order the two names are
/// resolved in); and the current state restores each key once.
#[test]
fn restore_after_a_rekey_neither_deletes_nor_doubles_a_key() {
    use ddbrep_engine::restore::{Restore, RestoreMode, RestorePlan};
    let mut world = World::new(schema());
    world.bucket.now = Millis(1000);
    for k in 1..=3 {
        world.bucket.put(&names(k)[1], body(k, i64::from(k)));
    }
    let h = run(world, false, 9);
    let mut rekeyed = h.world.clone();
    rekeyed.primary.put(item(2, 0));
    rekeyed.now = rekeyed.now.saturating_add(std::time::Duration::from_secs(5));
    for seed in 0..6 {
        let mut plan = RestorePlan::new(FOLDER, schema());
        plan.at = Some(rekeyed.now);
        plan.mode = RestoreMode::Overwrite;
        plan.delete_absent = true;
        plan.seed = seed;
        let mut r = Harness::new(Restore::new(plan), rekeyed.clone(), seed);
        let s = r.run_to_end().clone();
        assert_eq!(s.error, None);
        assert_eq!(s.deleted, 0, "{s:?}");
        for k in 1..=3 {
            assert_eq!(
                r.world.primary.get(&key(k)),
                Some(&item(k, i64::from(k))),
                "key {k}"
            );
        }
    }
    let mut r = Harness::new(
        Restore::new(RestorePlan::new(FOLDER, schema())),
        h.world.clone(),
        1,
    );
    let s = r.run_to_end().clone();
    assert_eq!((s.keys, s.written, s.legacy), (3, 3, 0));
}
