//! backup-table against an in-memory table: the dump holds exactly the table's items.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;

use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::dump::{Dump, DumpPlan};
use ddbrep_engine::model::{Item, Key, KeySchema, ScalarType};
use ddbrep_engine::retry::RetryPolicy;
use ddbrep_engine::testing::{self, segment_of, Faults, Harness, World};
use ddbrep_engine::time::Millis;
use proptest::prelude::*;

fn schema() -> KeySchema {
    KeySchema::partition_only("id", ScalarType::S)
}

fn items() -> impl Strategy<Value = Vec<Item>> {
    proptest::collection::vec(("[a-z]{1,6}", testing::item(3)), 0..150).prop_map(|v| {
        v.into_iter()
            .map(|(id, mut item)| {
                item.remove("id");
                item.insert("id", id.as_str());
                item
            })
            .collect()
    })
}

fn parse_lines(bytes: &[u8]) -> Vec<Item> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines().map(|l| ddb_json::parse_item(l).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_dump_holds_exactly_the_tables_items_one_file_per_segment(
        items in items(), seed in any::<u64>(), page in 1usize..30, total in 1u32..6, fault in any::<bool>(),
    ) {
        let mut world = World::new(schema());
        for item in items { world.primary.put(item); }
        world.primary.page_size = page;
        if fault { world.primary.faults = Faults::seeded(seed, 20, 10, 0); }
        let mut plan = DumpPlan { total_segments: total, segments: (0..total).collect(), seed, ..DumpPlan::default() };
        plan.retry = RetryPolicy { max_attempts: 40, ..RetryPolicy::default() };
        let expected = world.primary.items.clone();
        let mut h = Harness::new(Dump::new(plan), world, seed);
        h.run_to_end();
        let summary = h.summary.clone().unwrap();
        prop_assert_eq!(&summary.error, &None);
        let mut seen: BTreeMap<Key, Item> = BTreeMap::new();
        for (stream, bytes) in &h.output {
            for item in parse_lines(bytes) {
                let key = schema().key_of(&item).unwrap();
                prop_assert_eq!(segment_of(&key, total), *stream);
                prop_assert!(seen.insert(key, item).is_none(), "each item once");
            }
        }
        prop_assert_eq!(&seen, &expected);
        prop_assert_eq!(summary.items.iter().map(|(_, n)| n).sum::<u64>() as usize, expected.len());
    }
}

#[test]
fn a_rate_limit_spreads_the_scan_over_time() {
    let mut world = World::new(schema());
    for i in 0..100 {
        world
            .primary
            .put([("id", format!("k{i:03}"))].into_iter().collect());
    }
    let plan = DumpPlan {
        rate_limit: Some(10),
        ..DumpPlan::default()
    };
    let mut h = Harness::new(Dump::new(plan), world, 1);
    h.run_to_end();
    // 100 items at 10/s with one second of burst: at least 8 seconds.
    assert!(h.world.now >= Millis(8_000), "finished at {}", h.world.now);
    assert_eq!(h.output[&0].iter().filter(|b| **b == b'\n').count(), 100);
}

#[test]
fn throttling_slows_a_rate_limited_scan_below_its_budget() {
    let run = |throttled: u32| {
        let mut world = World::new(schema());
        for i in 0..400 {
            world
                .primary
                .put([("id", format!("k{i:03}"))].into_iter().collect());
        }
        // The table refuses the first requests, as one at its capacity would.
        world.primary.faults.throttle_next = throttled;
        let plan = DumpPlan {
            rate_limit: Some(100),
            page_limit: Some(20),
            ..DumpPlan::default()
        };
        let mut h = Harness::new(Dump::new(plan), world, 1);
        let summary = h.run_to_end().clone();
        assert_eq!(summary.error, None);
        assert_eq!(h.output[&0].iter().filter(|b| **b == b'\n').count(), 400);
        h.world.now
    };
    let calm = run(0);
    let throttled = run(3);
    // The three throttled retries come within a second, so the rate is cut once, to 50 items/s, and takes
    // seconds to grow back; the backoffs alone add at most 50 + 100 + 200 ms.
    assert!(throttled.0 > calm.0 + 1_000, "calm {calm}, throttled {throttled}");
}

#[test]
fn an_empty_table_dumps_nothing_and_finishes() {
    let mut h = Harness::new(Dump::new(DumpPlan::default()), World::new(schema()), 1);
    let summary = h.run_to_end().clone();
    assert_eq!(summary.items, vec![(0, 0)]);
    assert!(h.output.is_empty());
}
