//! diff-tables against in-memory tables: the original's scenario, arbitrary tables under faults, and a
//! repair racing a live writer and replicator.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ddbrep_engine::diff::{Diff, DiffEvent, DiffPlan, Pass};
use ddbrep_engine::model::{Item, Key, KeySchema, ScalarType, Value};
use ddbrep_engine::retry::{RetryPolicy, Rng};
use ddbrep_engine::testing::{Faults, Harness, World};
use proptest::prelude::*;

fn schema() -> KeySchema {
    KeySchema::composite("hash", ScalarType::S, "range", ScalarType::S)
}

fn item(range: &str, other: Value) -> Item {
    [
        ("hash", Value::from("hash1")),
        ("range", Value::from(range)),
        ("other", other),
    ]
    .into_iter()
    .collect()
}

fn original_world() -> World {
    let mut world = World::new(schema());
    world.primary.put(item("range1", Value::from(1)));
    world.primary.put(item("range2", Value::from(2)));
    world
        .primary
        .put(item("range4", Value::B(b"hello world".to_vec())));
    world.replica.put(item("range2", Value::from(10000)));
    world.replica.put(item("range3", Value::from(3)));
    world
        .replica
        .put(item("range4", Value::B(b"hello world".to_vec())));
    world
}

fn run(world: World, plan: DiffPlan, seed: u64) -> Harness<Diff> {
    let mut h = Harness::new(Diff::new(plan), world, seed);
    h.run_to_end();
    h
}

fn range_of(key: &Key) -> String {
    match key.sort.as_ref().map(|s| &s.value) {
        Some(ddbrep_engine::model::KeyValue::S(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn tags(events: &[DiffEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            DiffEvent::Missing(k) => Some(format!("missing {}", range_of(k))),
            DiffEvent::Different(k) => Some(format!("different {}", range_of(k))),
            DiffEvent::Extraneous(k) => Some(format!("extraneous {}", range_of(k))),
            DiffEvent::Backfill(k) => Some(format!("backfill {}", range_of(k))),
            DiffEvent::Discrepancies { pass, count } => Some(format!("discrepancies {pass:?} {count}")),
            _ => None,
        })
        .collect()
}

/// `tags`, sorted within each pass (the order of a pass's reports follows its rechecks, not its scan).
fn tags_by_pass(events: &[DiffEvent]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pass = Vec::new();
    for tag in tags(events) {
        if tag.starts_with("discrepancies") {
            pass.sort();
            out.append(&mut pass);
            out.push(tag);
        } else {
            pass.push(tag);
        }
    }
    pass.sort();
    out.append(&mut pass);
    out
}

#[test]
fn the_original_scenario_reports_four_discrepancies_twice_without_repair() {
    for merge_scans in [true, false] {
        let mut plan = DiffPlan::new(schema());
        plan.merge_scans = merge_scans;
        let h = run(original_world(), plan.clone(), 1);
        assert_eq!(
            tags_by_pass(&h.events),
            [
                "different range2",
                "missing range1",
                "discrepancies Primary 2",
                "different range2",
                "extraneous range3",
                "discrepancies Replica 2",
            ],
            "merge_scans {merge_scans}"
        );
        let summary = h.summary.clone().unwrap();
        assert_eq!(summary.progress.discrepancies, 4);
        assert_eq!(summary.progress.compared, 6, "every scanned item compared once");
        let again = run(h.world, plan, 2);
        assert_eq!(again.summary.unwrap().progress.discrepancies, 4);
    }
}

#[test]
fn the_two_pass_order_reports_the_original_scenario_in_scan_order() {
    let mut plan = DiffPlan::new(schema());
    plan.merge_scans = false;
    let h = run(original_world(), plan, 1);
    assert_eq!(
        tags(&h.events),
        [
            "missing range1",
            "different range2",
            "discrepancies Primary 2",
            "different range2",
            "extraneous range3",
            "discrepancies Replica 2",
        ]
    );
}

#[test]
fn the_original_scenario_repairs_three_then_finds_none() {
    for merge_scans in [true, false] {
        let mut plan = DiffPlan::new(schema());
        plan.repair = true;
        plan.merge_scans = merge_scans;
        let h = run(original_world(), plan.clone(), 3);
        let summary = h.summary.clone().unwrap();
        assert_eq!(summary.error, None);
        assert_eq!(summary.progress.discrepancies, 3, "{:?}", tags(&h.events));
        assert_eq!(summary.passes, vec![(Pass::Primary, 2), (Pass::Replica, 1)]);
        assert_eq!(
            tags_by_pass(&h.events),
            [
                "different range2",
                "missing range1",
                "discrepancies Primary 2",
                "extraneous range3",
                "discrepancies Replica 1",
            ],
            "merge_scans {merge_scans}"
        );
        assert_eq!(summary.progress.repaired, 3);
        assert!(h.world.primary.same_items(&h.world.replica));
        let again = run(h.world, plan, 4);
        assert_eq!(again.summary.unwrap().progress.discrepancies, 0);
    }
}

#[test]
fn ignored_attributes_are_left_out_of_the_comparison() {
    let mut world = World::new(schema());
    let mut a = item("r", Value::from(1));
    a.insert("updated", Value::from(5));
    let mut b = item("r", Value::from(1));
    b.insert("updated", Value::from(6));
    world.primary.put(a);
    world.replica.put(b);
    let mut plan = DiffPlan::new(schema());
    plan.ignore.insert("updated".into());
    let h = run(world.clone(), plan, 5);
    assert_eq!(h.summary.unwrap().progress.discrepancies, 0);
    let h = run(world, DiffPlan::new(schema()), 5);
    assert_eq!(h.summary.unwrap().progress.discrepancies, 2);
}

#[test]
fn backfill_reports_every_primary_item_and_copies_them() {
    let mut plan = DiffPlan::new(schema());
    plan.backfill = true;
    let h = run(original_world(), plan, 6);
    let summary = h.summary.clone().unwrap();
    assert_eq!(summary.passes, vec![(Pass::Primary, 3)]);
    assert_eq!(
        tags(&h.events)
            .iter()
            .filter(|t| t.starts_with("backfill"))
            .count(),
        3
    );
    // Pass 2 is skipped, so the extraneous range3 stays.
    assert_eq!(h.world.replica.items.len(), 4);
    for (k, v) in &h.world.primary.items {
        assert_eq!(h.world.replica.get(k), Some(v));
    }
}

#[test]
fn a_missing_table_stops_the_job_with_a_typed_error() {
    // A fatal error on the first scan, as the driver maps ResourceNotFoundException.
    let plan = DiffPlan::new(schema());
    let mut diff = Diff::new(plan);
    let Some(ddbrep_engine::io::Action::Table { id, .. }) = diff.poll() else {
        panic!("a scan")
    };
    diff.handle(
        ddbrep_engine::io::Input::Table {
            id,
            result: Err(ddbrep_engine::io::StoreError::Fatal(
                "ResourceNotFoundException".into(),
            )),
        },
        ddbrep_engine::time::Millis(1),
    );
    let Some(ddbrep_engine::io::Action::Done(summary)) = diff.poll() else {
        panic!("done")
    };
    assert!(summary.error.is_some());
    assert_eq!(diff.poll(), None);
}

#[test]
fn a_bad_segment_is_refused_before_any_request() {
    let mut plan = DiffPlan::new(schema());
    plan.segments = vec![3];
    plan.total_segments = 2;
    let mut diff = Diff::new(plan);
    assert!(matches!(diff.poll(), Some(ddbrep_engine::io::Action::Done(s)) if s.error.is_some()));
}

// ---- proptests ----

fn small_key_item(r: u8, v: u8) -> Item {
    [
        ("hash", Value::from(format!("h{}", r % 5))),
        ("range", Value::from(format!("r{r}"))),
        ("v", Value::from(i64::from(v))),
    ]
    .into_iter()
    .collect()
}

fn table() -> impl Strategy<Value = BTreeMap<u8, u8>> {
    proptest::collection::btree_map(any::<u8>(), 0u8..4, 0..120)
}

fn patient() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 40,
        ..RetryPolicy::default()
    }
}

fn faults(seed: u64, on: bool) -> Faults {
    if on {
        let mut f = Faults::seeded(seed, 10, 5, 15);
        f.lost_reply_percent = 5;
        f
    } else {
        Faults::none()
    }
}

fn build(
    primary: &BTreeMap<u8, u8>,
    replica: &BTreeMap<u8, u8>,
    seed: u64,
    fault: bool,
    page: usize,
) -> World {
    let mut world = World::new(schema());
    for (r, v) in primary {
        world.primary.put(small_key_item(*r, *v));
    }
    for (r, v) in replica {
        world.replica.put(small_key_item(*r, *v));
    }
    world.primary.faults = faults(seed, fault);
    world.replica.faults = faults(seed ^ 0xabc, fault);
    world.primary.page_size = page;
    world.replica.page_size = page;
    world
}

fn expected_differences(primary: &BTreeMap<u8, u8>, replica: &BTreeMap<u8, u8>) -> BTreeSet<u8> {
    let keys: BTreeSet<u8> = primary.keys().chain(replica.keys()).copied().collect();
    keys.into_iter()
        .filter(|k| primary.get(k) != replica.get(k))
        .collect()
}

fn reported(events: &[DiffEvent]) -> (Vec<Key>, Vec<Key>, Vec<Key>) {
    let (mut m, mut d, mut e) = (vec![], vec![], vec![]);
    for ev in events {
        match ev {
            DiffEvent::Missing(k) => m.push(k.clone()),
            DiffEvent::Different(k) => d.push(k.clone()),
            DiffEvent::Extraneous(k) => e.push(k.clone()),
            _ => {}
        }
    }
    (m, d, e)
}

fn key_num(k: &Key) -> u8 {
    range_of(k)[1..].parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_diff_reports_exactly_the_differing_keys(
        primary in table(), replica in table(), seed in any::<u64>(), fault in any::<bool>(),
        page in 1usize..40, total in 1u32..5, in_flight in 1usize..12, merge_scans in any::<bool>(),
        orders_differ in any::<bool>(), buffered in 1usize..60,
    ) {
        let mut world = build(&primary, &replica, seed, fault, page);
        if orders_differ {
            world.replica.scan_salt = Some(seed);
        }
        let mut plan = DiffPlan::new(schema());
        plan.merge_scans = merge_scans;
        plan.total_segments = total;
        plan.segments = (0..total).collect();
        plan.retry = patient();
        plan.seed = seed;
        plan.max_in_flight = in_flight;
        plan.max_buffered_items = buffered;
        let mut h = Harness::new(Diff::new(plan), world, seed);
        h.run_to_end();
        let summary = h.summary.clone().unwrap();
        prop_assert_eq!(&summary.error, &None);
        prop_assert!(h.max_outstanding <= in_flight);
        prop_assert_eq!(h.after_done, 0);
        let (m, d, e) = reported(&h.events);
        let expected = expected_differences(&primary, &replica);
        let missing: BTreeSet<u8> = m.iter().map(key_num).collect();
        let extraneous: BTreeSet<u8> = e.iter().map(key_num).collect();
        let different: BTreeSet<u8> = d.iter().map(key_num).collect();
        prop_assert_eq!(missing.len(), m.len(), "each missing key once");
        prop_assert_eq!(extraneous.len(), e.len(), "each extraneous key once");
        let all: BTreeSet<u8> = missing.iter().chain(&extraneous).chain(&different).copied().collect();
        prop_assert_eq!(all, expected);
        for k in &missing { prop_assert!(primary.contains_key(k) && !replica.contains_key(k)); }
        for k in &extraneous { prop_assert!(!primary.contains_key(k) && replica.contains_key(k)); }
        // Different keys are seen in both passes.
        prop_assert_eq!(d.len(), 2 * different.len());
        prop_assert_eq!(summary.progress.scanned as usize, primary.len() + replica.len());
        prop_assert_eq!(summary.progress.compared, summary.progress.scanned, "each item compared once");
        prop_assert_eq!(
            summary.passes,
            vec![(Pass::Primary, (m.len() + different.len()) as u64), (Pass::Replica, (e.len() + different.len()) as u64)]
        );
        // Pass 2's reports come after pass 1's count, pass 1's before it, in either order of work.
        let end_of_pass_1 = h.events.iter()
            .position(|ev| matches!(ev, DiffEvent::Discrepancies { pass: Pass::Primary, .. }))
            .unwrap();
        for (i, ev) in h.events.iter().enumerate() {
            match ev {
                DiffEvent::Missing(_) => prop_assert!(i < end_of_pass_1),
                DiffEvent::Extraneous(_) => prop_assert!(i > end_of_pass_1),
                _ => {}
            }
        }
        let firsts = h.events[..end_of_pass_1].iter().filter(|ev| matches!(ev, DiffEvent::Different(_))).count();
        prop_assert_eq!(firsts, different.len());
    }

    #[test]
    fn a_repair_makes_the_tables_equal_and_a_second_diff_finds_nothing(
        primary in table(), replica in table(), seed in any::<u64>(), fault in any::<bool>(),
        page in 1usize..40, total in 1u32..4, in_flight in 1usize..12, merge_scans in any::<bool>(),
        orders_differ in any::<bool>(),
    ) {
        let mut world = build(&primary, &replica, seed, fault, page);
        if orders_differ {
            world.replica.scan_salt = Some(seed);
        }
        let mut plan = DiffPlan::new(schema());
        plan.repair = true;
        plan.merge_scans = merge_scans;
        plan.total_segments = total;
        plan.segments = (0..total).collect();
        plan.retry = patient();
        plan.seed = seed;
        plan.max_in_flight = in_flight;
        let mut h = Harness::new(Diff::new(plan.clone()), world, seed);
        h.run_to_end();
        let summary = h.summary.clone().unwrap();
        prop_assert_eq!(&summary.error, &None);
        prop_assert_eq!(summary.progress.repair_failures, 0);
        prop_assert!(h.world.primary.same_items(&h.world.replica));
        // Pass 2 no longer sees what pass 1 repaired: only the extraneous keys.
        let extraneous = replica.keys().filter(|k| !primary.contains_key(k)).count() as u64;
        prop_assert_eq!(summary.passes[1], (Pass::Replica, extraneous));
        let mut again = Harness::new(Diff::new(plan), h.world.clone(), seed + 1);
        again.run_to_end();
        prop_assert_eq!(again.summary.clone().unwrap().progress.discrepancies, 0);
    }

    #[test]
    fn a_repair_racing_a_live_writer_and_replicator_leaves_the_replica_equal(
        primary in proptest::collection::btree_map(0u8..12, 0u8..4, 0..12),
        replica in proptest::collection::btree_map(0u8..12, 0u8..4, 0..12),
        seed in any::<u64>(), fault in any::<bool>(), writes in 1u32..200, in_flight in 1usize..12,
    ) {
        let world = build(&primary, &replica, seed, fault, 3);
        let mut plan = DiffPlan::new(schema());
        plan.repair = true;
        plan.retry = patient();
        plan.seed = seed;
        plan.max_in_flight = in_flight;
        plan.max_repair_rounds = 1000;
        let mut h = Harness::new(Diff::new(plan), world, seed);
        // The live system: a writer changing the primary and a stream delivering each change, in order,
        // some time later, to the replica.
        let stream: Stream = Default::default();
        let s = stream.clone();
        let mut rng = Rng::new(seed ^ 0x5eed);
        let mut left = writes;
        h.interleave(move |w: &mut World| {
            if left > 0 && rng.up_to(1) == 0 {
                left -= 1;
                let r = rng.up_to(11) as u8;
                let it = small_key_item(r, (rng.up_to(3)) as u8);
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
                if let Some((k, v)) = s.borrow_mut().pop_front() {
                    match v { Some(i) => { w.replica.items.insert(k, i); } None => { w.replica.items.remove(&k); } }
                }
            }
        });
        h.run_to_end();
        let summary = h.summary.clone().unwrap();
        prop_assert_eq!(&summary.error, &None);
        prop_assert_eq!(summary.progress.repair_failures, 0);
        // Quiescence: the stream drains.
        for (k, v) in stream.borrow_mut().drain(..) {
            match v { Some(i) => { h.world.replica.items.insert(k, i); } None => { h.world.replica.items.remove(&k); } }
        }
        prop_assert!(h.world.primary.same_items(&h.world.replica));
    }
}

/// Changes on their way to the target, in stream order.
type Stream = std::rc::Rc<std::cell::RefCell<VecDeque<(Key, Option<Item>)>>>;

#[test]
fn the_next_page_is_asked_for_while_the_last_ones_compares_are_in_flight() {
    use ddbrep_engine::io::{Action, Input, TableOp, TableResult, TableSlot};
    let mut plan = DiffPlan::new(schema());
    plan.merge_scans = false;
    let mut diff = Diff::new(plan);
    let Some(Action::Table { id, .. }) = diff.poll() else {
        panic!("a scan")
    };
    // A page of 2,000 items: 20 BatchGetItems of the replica, more than the 16 requests in flight.
    let items: Vec<Item> = (0..2000)
        .map(|i| item(&format!("r{i:05}"), Value::from(1)))
        .collect();
    let last_key = items.last().map(|i| schema().key_of(i).unwrap().to_item());
    diff.handle(
        Input::Table {
            id,
            result: Ok(TableResult::Page {
                items,
                last_key: last_key.clone(),
            }),
        },
        ddbrep_engine::time::Millis(1),
    );
    let mut scans = Vec::new();
    let mut compares = 0;
    while let Some(action) = diff.poll() {
        match action {
            Action::Table {
                slot: TableSlot::Primary,
                op: TableOp::Scan { start, .. },
                ..
            } => scans.push(start),
            Action::Table {
                slot: TableSlot::Replica,
                op: TableOp::BatchGet { .. },
                ..
            } => compares += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(scans, [last_key], "the second page is asked for at once");
    assert_eq!(compares, 15, "the rest of the room goes to compares");
}

/// Requests served by both tables for a diff of two equal 1,000-item tables, pages of 50, holding at most
/// 200 items.
fn requests_for(merge_scans: bool, orders_differ: bool) -> (u64, u64) {
    let items: BTreeMap<u8, u8> = BTreeMap::new();
    let mut world = build(&items, &items, 7, false, 50);
    for i in 0..1000u32 {
        let it = item(&format!("r{i:04}"), Value::from(i64::from(i)));
        world.primary.put(it.clone());
        world.replica.put(it);
    }
    if orders_differ {
        world.replica.scan_salt = Some(7);
    }
    let mut plan = DiffPlan::new(schema());
    plan.merge_scans = merge_scans;
    plan.max_buffered_items = 200;
    let h = run(world, plan, 7);
    let summary = h.summary.clone().unwrap();
    assert_eq!(summary.progress.discrepancies, 0);
    assert_eq!(summary.progress.compared, 2000);
    (h.world.primary.calls, h.world.replica.calls)
}

#[test]
fn a_merged_sweep_reads_no_item_twice_when_the_orders_agree_and_no_more_than_two_passes_when_not() {
    let scans = 1000 / 50 + 1;
    assert_eq!(
        requests_for(true, false),
        (scans, scans),
        "scans only, no BatchGetItem"
    );
    let (p, r) = requests_for(false, false);
    // Each page's 50 keys are one BatchGetItem as soon as the page is in.
    assert_eq!(
        (p, r),
        (scans + 20, scans + 20),
        "two passes: a BatchGetItem per page"
    );
    let (p, r) = requests_for(true, true);
    assert!(p + r <= 2 * (scans + 20), "unrelated orders: {p} + {r} requests");
    assert!(
        p > scans && r > scans,
        "unrelated orders fall back to BatchGetItem"
    );
}
