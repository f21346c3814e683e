//! DynamoDB Streams through aws-sdk-dynamodbstreams: one record per real change, images per view type,
//! shard roll-over with parent links, iterator types, expiry, TTL deletions and retention.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use aws_sdk_dynamodb::types::{
    BillingMode, KeyType, ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use common::{n, s, start, start_with, TestEmu};
use ddbrep_emu::clock::ManualClock;
use ddbrep_emu::storage::streams::ShardPolicy;
use ddbrep_emu::Emulator;
use ddbrep_engine::time::Millis;

async fn table_with_stream(t: &TestEmu, name: &str, view: StreamViewType) -> String {
    let out = t
        .ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(common::attr("id", ScalarAttributeType::S))
        .key_schema(common::key_elem("id", KeyType::Hash))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    out.table_description()
        .unwrap()
        .latest_stream_arn()
        .unwrap()
        .to_owned()
}

/// Every record of a stream, reading shards parents first, each to its end or to the open end.
async fn all_records(t: &TestEmu, arn: &str) -> Vec<Record> {
    let desc = t.streams.describe_stream().stream_arn(arn).send().await.unwrap();
    let mut out = Vec::new();
    for shard in desc.stream_description().unwrap().shards() {
        let mut iterator = t
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        loop {
            let page = t
                .streams
                .get_records()
                .shard_iterator(&iterator)
                .limit(2)
                .send()
                .await
                .unwrap();
            let empty = page.records().is_empty();
            out.extend(page.records().iter().cloned());
            match page.next_shard_iterator() {
                Some(next) if !empty => iterator = next.to_owned(),
                _ => break,
            }
        }
    }
    out
}

#[tokio::test]
async fn every_real_change_makes_one_record_in_order() {
    let t = start().await;
    let arn = table_with_stream(&t, "changes", StreamViewType::NewAndOldImages).await;
    let put = |v: &str| {
        t.ddb
            .put_item()
            .table_name("changes")
            .item("id", s("a"))
            .item("v", n(v))
            .send()
    };
    put("1").await.unwrap();
    put("2").await.unwrap();
    put("2.0").await.unwrap(); // the same item: no record
    t.ddb
        .delete_item()
        .table_name("changes")
        .key("id", s("a"))
        .send()
        .await
        .unwrap();
    t.ddb
        .delete_item()
        .table_name("changes")
        .key("id", s("a"))
        .send()
        .await
        .unwrap(); // nothing to delete

    let streams = t
        .streams
        .list_streams()
        .table_name("changes")
        .send()
        .await
        .unwrap();
    assert_eq!(streams.streams().len(), 1);
    assert_eq!(streams.streams()[0].stream_arn(), Some(arn.as_str()));

    let records = all_records(&t, &arn).await;
    let kinds: Vec<_> = records.iter().map(|r| r.event_name().unwrap().clone()).collect();
    assert_eq!(
        kinds,
        [
            OperationType::Insert,
            OperationType::Modify,
            OperationType::Remove
        ]
    );
    let seqs: Vec<u128> = records
        .iter()
        .map(|r| r.dynamodb().unwrap().sequence_number().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for r in &records {
        let change = r.dynamodb().unwrap();
        assert!(change.sequence_number().unwrap().len() >= 21);
        assert!(change.approximate_creation_date_time().is_some());
        assert_eq!(change.keys().unwrap().get("id").unwrap().as_s().unwrap(), "a");
        assert_eq!(r.event_source(), Some("aws:dynamodb"));
        assert_eq!(r.aws_region(), Some("us-east-1"));
    }
    let modify = records[1].dynamodb().unwrap();
    assert_eq!(modify.old_image().unwrap()["v"].as_n().unwrap(), "1");
    assert_eq!(modify.new_image().unwrap()["v"].as_n().unwrap(), "2");
    assert!(records[0].dynamodb().unwrap().old_image().is_none());
    assert!(records[2].dynamodb().unwrap().new_image().is_none());
}

#[tokio::test]
async fn view_types_choose_the_images() {
    let t = start().await;
    for (name, view, new, old) in [
        ("keys-only", StreamViewType::KeysOnly, false, false),
        ("new-image", StreamViewType::NewImage, true, false),
        ("old-image", StreamViewType::OldImage, false, true),
        ("both-images", StreamViewType::NewAndOldImages, true, true),
    ] {
        let arn = table_with_stream(&t, name, view).await;
        t.ddb
            .put_item()
            .table_name(name)
            .item("id", s("a"))
            .item("v", n("1"))
            .send()
            .await
            .unwrap();
        t.ddb
            .put_item()
            .table_name(name)
            .item("id", s("a"))
            .item("v", n("2"))
            .send()
            .await
            .unwrap();
        let records = all_records(&t, &arn).await;
        assert_eq!(records.len(), 2, "{name}");
        let modify = records[1].dynamodb().unwrap();
        assert_eq!(modify.new_image().is_some(), new, "{name} new image");
        assert_eq!(modify.old_image().is_some(), old, "{name} old image");
        assert!(modify.keys().is_some(), "{name} keys");
    }
}

#[tokio::test]
async fn shards_roll_over_with_parent_links() {
    let t = start_with(Emulator::builder().seed(3).shard_policy(ShardPolicy {
        max_records: 2,
        max_age_ms: u64::MAX,
    }))
    .await;
    let arn = table_with_stream(&t, "rolling", StreamViewType::NewImage).await;
    for i in 0..5 {
        t.ddb
            .put_item()
            .table_name("rolling")
            .item("id", s(&format!("k{i}")))
            .send()
            .await
            .unwrap();
    }
    let desc = t.streams.describe_stream().stream_arn(&arn).send().await.unwrap();
    let shards = desc.stream_description().unwrap().shards();
    assert_eq!(shards.len(), 3);
    assert!(shards[0].parent_shard_id().is_none());
    assert_eq!(shards[1].parent_shard_id(), shards[0].shard_id());
    assert_eq!(shards[2].parent_shard_id(), shards[1].shard_id());
    assert!(
        shards[0]
            .sequence_number_range()
            .unwrap()
            .ending_sequence_number()
            .is_some(),
        "closed"
    );
    assert!(
        shards[2]
            .sequence_number_range()
            .unwrap()
            .ending_sequence_number()
            .is_none(),
        "open"
    );
    let ids: Vec<_> = all_records(&t, &arn)
        .await
        .iter()
        .map(|r| {
            r.dynamodb().unwrap().keys().unwrap()["id"]
                .as_s()
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(ids, ["k0", "k1", "k2", "k3", "k4"]);
}

#[tokio::test]
async fn iterator_types_position_the_reader() {
    let t = start().await;
    let arn = table_with_stream(&t, "positions", StreamViewType::KeysOnly).await;
    for i in 0..3 {
        t.ddb
            .put_item()
            .table_name("positions")
            .item("id", s(&format!("k{i}")))
            .send()
            .await
            .unwrap();
    }
    let desc = t.streams.describe_stream().stream_arn(&arn).send().await.unwrap();
    let shard = desc.stream_description().unwrap().shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let records = all_records(&t, &arn).await;
    let second = records[1]
        .dynamodb()
        .unwrap()
        .sequence_number()
        .unwrap()
        .to_owned();
    let read = |kind: ShardIteratorType, seq: Option<String>| {
        let t = &t;
        let arn = arn.clone();
        let shard = shard.clone();
        async move {
            let it = t
                .streams
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(shard)
                .shard_iterator_type(kind)
                .set_sequence_number(seq)
                .send()
                .await
                .unwrap()
                .shard_iterator
                .unwrap();
            let page = t.streams.get_records().shard_iterator(it).send().await.unwrap();
            (
                page.records()
                    .iter()
                    .map(|r| {
                        r.dynamodb().unwrap().keys().unwrap()["id"]
                            .as_s()
                            .unwrap()
                            .clone()
                    })
                    .collect::<Vec<_>>(),
                page.next_shard_iterator().map(str::to_owned),
            )
        }
    };
    assert_eq!(
        read(ShardIteratorType::AtSequenceNumber, Some(second.clone()))
            .await
            .0,
        ["k1", "k2"]
    );
    assert_eq!(
        read(ShardIteratorType::AfterSequenceNumber, Some(second)).await.0,
        ["k2"]
    );
    let (latest, next) = read(ShardIteratorType::Latest, None).await;
    assert!(latest.is_empty());
    t.ddb
        .put_item()
        .table_name("positions")
        .item("id", s("k3"))
        .send()
        .await
        .unwrap();
    let page = t
        .streams
        .get_records()
        .shard_iterator(next.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.records().len(), 1, "LATEST sees what comes after it");

    let e = t
        .streams
        .get_records()
        .shard_iterator("not-an-iterator")
        .send()
        .await
        .unwrap_err();
    assert!(format!("{:?}", e.into_service_error()).contains("Invalid ShardIterator"));
}

#[tokio::test]
async fn iterators_expire_after_fifteen_minutes_and_records_after_a_day() {
    let clock = Arc::new(ManualClock::new(Millis(1_700_000_000_000)));
    let emu = Emulator::builder()
        .seed(5)
        .clock(clock.clone())
        .background_sweep(false)
        .open()
        .unwrap();
    let t = common::attach(&emu).await;
    let arn = table_with_stream(&t, "aging", StreamViewType::KeysOnly).await;
    t.ddb
        .put_item()
        .table_name("aging")
        .item("id", s("a"))
        .send()
        .await
        .unwrap();
    let desc = t.streams.describe_stream().stream_arn(&arn).send().await.unwrap();
    let shard = desc.stream_description().unwrap().shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let iterator = || {
        t.streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
    };
    let it = iterator().await.unwrap().shard_iterator.unwrap();
    let first = t.streams.get_records().shard_iterator(&it).send().await.unwrap();
    let first_seq = first.records()[0]
        .dynamodb()
        .unwrap()
        .sequence_number()
        .unwrap()
        .to_owned();
    clock.advance(16 * 60 * 1000);
    let e = t
        .streams
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_expired_iterator_exception());

    let it = iterator().await.unwrap().shard_iterator.unwrap();
    clock.advance(25 * 60 * 60 * 1000);
    let report = emu.sweep().await.unwrap();
    assert_eq!(report.trimmed, 1, "the day-old record was trimmed");
    // The old iterator has expired too; a fresh one from TRIM_HORIZON finds nothing left.
    let e = t
        .streams
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_expired_iterator_exception());
    let fresh = iterator().await.unwrap().shard_iterator.unwrap();
    let page = t
        .streams
        .get_records()
        .shard_iterator(&fresh)
        .send()
        .await
        .unwrap();
    assert!(page.records().is_empty());
    // An iterator at the trimmed record's sequence number is refused.
    let e = t
        .streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(first_seq)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_trimmed_data_access_exception());
}

#[tokio::test]
async fn ttl_expiry_deletes_with_a_service_record() {
    let clock = Arc::new(ManualClock::new(Millis(1_700_000_000_000)));
    let emu = Emulator::builder()
        .seed(9)
        .clock(clock.clone())
        .background_sweep(false)
        .open()
        .unwrap();
    let t = common::attach(&emu).await;
    let arn = table_with_stream(&t, "expiring", StreamViewType::NewAndOldImages).await;
    t.ddb
        .update_time_to_live()
        .table_name("expiring")
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    t.ddb
        .put_item()
        .table_name("expiring")
        .item("id", s("old"))
        .item("expires", n("1699999999"))
        .send()
        .await
        .unwrap();
    t.ddb
        .put_item()
        .table_name("expiring")
        .item("id", s("new"))
        .item("expires", n("1800000000"))
        .send()
        .await
        .unwrap();
    t.ddb
        .put_item()
        .table_name("expiring")
        .item("id", s("text"))
        .item("expires", s("1"))
        .send()
        .await
        .unwrap();
    let report = emu.sweep().await.unwrap();
    assert_eq!(report.expired, 1);
    let scan = t.ddb.scan().table_name("expiring").send().await.unwrap();
    assert_eq!(scan.count(), 2);
    let records = all_records(&t, &arn).await;
    let removal = records.last().unwrap();
    assert_eq!(removal.event_name(), Some(&OperationType::Remove));
    let who = removal.user_identity().unwrap();
    assert_eq!(who.principal_id(), Some("dynamodb.amazonaws.com"));
    assert_eq!(who.r#type(), Some("Service"));
    let ttl = t
        .ddb
        .describe_time_to_live()
        .table_name("expiring")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().unwrap().attribute_name(),
        Some("expires")
    );
}

#[tokio::test]
async fn stream_and_shard_listings_paginate() {
    let t = start_with(Emulator::builder().seed(11).shard_policy(ShardPolicy {
        max_records: 1,
        max_age_ms: u64::MAX,
    }))
    .await;
    let mut arns = Vec::new();
    for i in 0..3 {
        arns.push(table_with_stream(&t, &format!("listed-{i}"), StreamViewType::KeysOnly).await);
    }
    let mut seen = Vec::new();
    let mut start = None;
    loop {
        let page = t
            .streams
            .list_streams()
            .limit(2)
            .set_exclusive_start_stream_arn(start)
            .send()
            .await
            .unwrap();
        seen.extend(page.streams().iter().map(|s| s.stream_arn().unwrap().to_owned()));
        start = page.last_evaluated_stream_arn().map(str::to_owned);
        if start.is_none() {
            break;
        }
    }
    seen.sort();
    arns.sort();
    assert_eq!(seen, arns);

    for i in 0..4 {
        t.ddb
            .put_item()
            .table_name("listed-0")
            .item("id", s(&format!("k{i}")))
            .send()
            .await
            .unwrap();
    }
    let arn = t
        .ddb
        .describe_table()
        .table_name("listed-0")
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .latest_stream_arn
        .unwrap();
    let mut shards = Vec::new();
    let mut start = None;
    loop {
        let page = t
            .streams
            .describe_stream()
            .stream_arn(&arn)
            .limit(2)
            .set_exclusive_start_shard_id(start)
            .send()
            .await
            .unwrap();
        let desc = page.stream_description().unwrap();
        shards.extend(desc.shards().iter().map(|s| s.shard_id().unwrap().to_owned()));
        start = desc.last_evaluated_shard_id().map(str::to_owned);
        if start.is_none() {
            break;
        }
    }
    assert_eq!(shards.len(), 4, "one record per shard");
    let ids: Vec<_> = all_records(&t, &arn)
        .await
        .iter()
        .map(|r| {
            r.dynamodb().unwrap().keys().unwrap()["id"]
                .as_s()
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(ids, ["k0", "k1", "k2", "k3"]);
}
