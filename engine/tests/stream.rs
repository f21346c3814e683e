//! The stream jobs under Lambda's delivery semantics: arbitrary change histories, cut into arbitrary
//! batches, delivered with throttling, transient errors, lost replies and `UnprocessedItems`, failed
//! batches redelivered from their first reported failure and some batches delivered twice. At the end the
//! replica equals the primary, every key's backup object equals its item (absent when deleted), and each
//! key's object versions are exactly its history, in order (BRIEF §5, invariants 1–3).

use std::collections::BTreeMap;
use std::time::Duration;

use ddbrep_engine::backup_key;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::codec::stream_event::{
    EpochTime, EventName, SequenceNumber, StreamChange, StreamRecord, StreamViewType,
};
use ddbrep_engine::model::{Item, Key, KeySchema, ScalarType, Value};
use ddbrep_engine::retry::RetryPolicy;
use ddbrep_engine::stream::{Backup, BackupTarget, BatchLimits, BatchSummary, Replicate};
use ddbrep_engine::testing::{Faults, Harness, World};
use ddbrep_engine::time::Millis;
use proptest::prelude::*;

/// The key schema: the partition key's name sorts after the sort key's, so a key built from a stream
/// record's `Keys` alone (name order) has the roles the other way round, which must not matter.
fn schema() -> KeySchema {
    KeySchema::composite("pk", ScalarType::S, "b", ScalarType::N)
}

#[derive(Debug, Clone)]
enum Change {
    Put { pk: u8, b: u8, n: u8 },
    Delete { pk: u8, b: u8 },
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => (0u8..3, 0u8..2, 0u8..4).prop_map(|(pk, b, n)| Change::Put { pk, b, n }),
        1 => (0u8..3, 0u8..2).prop_map(|(pk, b)| Change::Delete { pk, b }),
    ]
}

fn key_item(pk: u8, b: u8) -> Item {
    [
        ("pk", Value::from(format!("k{pk}").as_str())),
        ("b", Value::from(i64::from(b))),
    ]
    .into_iter()
    .collect()
}

/// What the primary went through: its stream records, each key's states after each change, and the
/// final items.
struct History {
    records: Vec<StreamRecord>,
    states: BTreeMap<Key, Vec<Option<Item>>>,
    primary: BTreeMap<Key, Item>,
}

fn history(changes: &[Change]) -> History {
    let schema = schema();
    let mut primary: BTreeMap<Key, Item> = BTreeMap::new();
    let mut states: BTreeMap<Key, Vec<Option<Item>>> = BTreeMap::new();
    let mut records = Vec::new();
    for change in changes {
        let (keys, new) = match *change {
            Change::Put { pk, b, n } => {
                let mut item = key_item(pk, b);
                item.insert("n".to_owned(), Value::from(i64::from(n)));
                item.insert("bin".to_owned(), Value::B(vec![pk, 0xff, n]));
                (key_item(pk, b), Some(item))
            }
            Change::Delete { pk, b } => (key_item(pk, b), None),
        };
        let key = schema.key_of(&keys).expect("a valid key");
        let old = primary.get(&key).cloned();
        // DynamoDB writes no record for a write that changes nothing.
        let event = match (&old, &new) {
            (None, None) => continue,
            (Some(o), Some(n)) if o == n => continue,
            (None, Some(_)) => EventName::Insert,
            (Some(_), Some(_)) => EventName::Modify,
            (Some(_), None) => EventName::Remove,
        };
        match &new {
            Some(item) => primary.insert(key.clone(), item.clone()),
            None => primary.remove(&key),
        };
        states.entry(key).or_default().push(new.clone());
        let i = records.len() as u64;
        records.push(StreamRecord {
            event_id: Some(i.to_string()),
            event_name: event,
            event_version: Some("1.1".into()),
            event_source: Some("aws:dynamodb".into()),
            aws_region: Some("us-east-1".into()),
            event_source_arn: Some("arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label".into()),
            dynamodb: StreamChange {
                approximate_creation_date_time: Some(EpochTime(Millis(1_700_000_000_000 + i * 1500))),
                keys,
                new_image: new,
                old_image: old,
                sequence_number: SequenceNumber::parse(&format!("{:021}", 4_000 + i * 7)).expect("digits"),
                size_bytes: None,
                stream_view_type: Some(StreamViewType::NewAndOldImages),
            },
            user_identity: None,
        });
    }
    History {
        records,
        states,
        primary,
    }
}

#[derive(Debug, Clone)]
struct Delivery {
    /// Batch sizes, used in turn.
    sizes: Vec<usize>,
    /// Whether each successful batch is delivered a second time.
    twice: Vec<bool>,
    /// Fault rates (percent): throttling, transient errors, lost replies, unprocessed writes.
    faults: (u32, u32, u32, u32),
    seed: u64,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        prop::collection::vec(1usize..12, 1..6),
        prop::collection::vec(any::<bool>(), 1..6),
        (0u32..25, 0u32..25, 0u32..25, 0u32..40),
        any::<u64>(),
    )
        .prop_map(|(sizes, twice, faults, seed)| Delivery {
            sizes,
            twice,
            faults,
            seed,
        })
}

fn faults(d: &Delivery, invocation: u64) -> Faults {
    let (throttle, transient, lost, unprocessed) = d.faults;
    let mut f = Faults::seeded(d.seed ^ invocation, throttle, transient, unprocessed);
    f.lost_reply_percent = lost;
    f
}

fn limits(d: &Delivery, invocation: u64) -> BatchLimits {
    BatchLimits {
        max_in_flight: 4,
        // Few attempts, so that invocations do fail and batches are redelivered.
        retry: RetryPolicy {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(40),
            max_attempts: 3,
        },
        seed: d.seed.wrapping_add(invocation),
        deadline: None,
    }
}

/// Lambda's loop over one shard: a batch at the checkpoint; on a partial failure, the checkpoint moves to
/// the first failed record; some successful batches come again. `invoke` runs one batch and returns its
/// summary. Returns the number of invocations.
fn deliver(
    records: &[StreamRecord],
    d: &Delivery,
    mut invoke: impl FnMut(Vec<StreamRecord>, u64) -> BatchSummary,
) -> u64 {
    let mut pos = 0;
    let mut invocation = 0u64;
    let mut batch_no = 0usize;
    while pos < records.len() {
        let size = d.sizes[batch_no % d.sizes.len()];
        let end = (pos + size).min(records.len());
        let batch = records[pos..end].to_vec();
        invocation += 1;
        assert!(invocation < 10_000, "delivery does not progress");
        let summary = invoke(batch.clone(), invocation);
        assert_eq!(summary.records, batch.len());
        match summary.failures.first() {
            Some(first) => {
                // Every failure names a record of the batch, and the first is the checkpoint.
                let ids = summary.batch_item_failures();
                assert!(ids.windows(2).all(|w| w[0] < w[1]), "failures in stream order");
                assert_eq!(ids[0], &batch[first.index].dynamodb.sequence_number);
                pos += first.index;
            }
            None => {
                assert_eq!(summary.applied + summary.skipped, batch.len());
                if d.twice[batch_no % d.twice.len()] {
                    invocation += 1;
                    let again = invoke(batch.clone(), invocation);
                    if again.failures.is_empty() {
                        assert_eq!(again.applied + again.skipped, batch.len());
                    }
                    // A failed duplicate is redelivered as well, from where it failed.
                    if let Some(first) = again.failures.first() {
                        pos += first.index;
                        batch_no += 1;
                        continue;
                    }
                }
                pos = end;
            }
        }
        batch_no += 1;
    }
    invocation
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn replication_converges_under_redelivery_and_faults(
        changes in prop::collection::vec(change(), 0..50),
        d in delivery(),
    ) {
        let h = history(&changes);
        let mut world = World::new(schema());
        deliver(&h.records, &d, |batch, invocation| {
            world.replica.faults = faults(&d, invocation);
            let job = Replicate::new(batch, limits(&d, invocation)).expect("new images present");
            let mut harness = Harness::new(job, world.clone(), d.seed ^ invocation);
            let summary = harness.run_to_end().clone();
            assert_eq!(harness.after_done, 0);
            assert!(harness.max_outstanding <= 4);
            world = harness.world;
            summary
        });
        prop_assert_eq!(&world.replica.items, &h.primary);
    }

    #[test]
    fn backup_keeps_every_state_once_in_order_under_redelivery_and_faults(
        changes in prop::collection::vec(change(), 0..50),
        d in delivery(),
    ) {
        let h = history(&changes);
        let mut world = World::new(schema());
        let target = BackupTarget { prefix: "backups".into(), table: None, skip_delivered: true };
        deliver(&h.records, &d, |batch, invocation| {
            world.bucket.faults = faults(&d, invocation);
            let job = Backup::new(batch, target.clone(), limits(&d, invocation)).expect("new images present");
            let mut harness = Harness::new(job, world.clone(), d.seed ^ invocation);
            let summary = harness.run_to_end().clone();
            world = harness.world;
            summary
        });
        for (key, states) in &h.states {
            let name = backup_key::object_key("backups", "t", key);
            let versions: Vec<Option<Vec<u8>>> = world
                .bucket
                .objects
                .get(&name)
                .map(|v| v.iter().map(|x| x.body.clone()).collect())
                .unwrap_or_default();
            let expected: Vec<Option<Vec<u8>>> = states
                .iter()
                .map(|s| s.as_ref().map(|item| ddb_json::item_to_string(item).into_bytes()))
                .collect();
            prop_assert_eq!(&versions, &expected, "the versions of {} are its history", name);
            let current = world.bucket.current(&name).map(<[u8]>::to_vec);
            let item = h.primary.get(key).map(|i| ddb_json::item_to_string(i).into_bytes());
            prop_assert_eq!(current, item);
        }
        prop_assert_eq!(world.bucket.objects.len(), h.states.len(), "no object for a key that never changed");
    }
}

#[test]
fn without_the_redelivery_check_every_delivery_is_written() {
    let changes = [
        Change::Put { pk: 1, b: 1, n: 1 },
        Change::Put { pk: 1, b: 1, n: 2 },
    ];
    let h = history(&changes);
    let mut world = World::new(schema());
    let target = BackupTarget {
        prefix: "p".into(),
        table: None,
        skip_delivered: false,
    };
    for _ in 0..2 {
        let job = Backup::new(h.records.clone(), target.clone(), BatchLimits::default()).expect("images");
        let mut harness = Harness::new(job, world.clone(), 1);
        assert!(harness.run_to_end().is_complete());
        world = harness.world;
    }
    let (_, versions) = world.bucket.objects.iter().next().expect("one object");
    assert_eq!(
        versions.len(),
        4,
        "the original's behaviour: two deliveries, four versions"
    );
}
