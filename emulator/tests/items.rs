//! Item operations through aws-sdk-dynamodb: exact values, errors in AWS's words, batches, Scan pages and
//! segments.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, ReturnConsumedCapacity, ReturnValue,
    ScalarAttributeType, WriteRequest,
};
use common::{create_table, error_of, n, s, start};

fn every_type() -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("id".to_owned(), s("every")),
        ("str".to_owned(), s("héllo \"world\" \u{1f600}")),
        ("empty".to_owned(), s("")),
        ("big".to_owned(), n("12345678901234567890123456789012345678")),
        ("tiny".to_owned(), n("-0.00000000000000000000000000000000000001")),
        (
            "huge".to_owned(),
            n("9.9999999999999999999999999999999999999E+125"),
        ),
        (
            "bin".to_owned(),
            AttributeValue::B(Blob::new(vec![0u8, 1, 2, 255, 254])),
        ),
        ("ss".to_owned(), AttributeValue::Ss(vec!["a".into(), "b".into()])),
        (
            "ns".to_owned(),
            AttributeValue::Ns(vec!["1".into(), "2.5".into(), "-3e10".into()]),
        ),
        (
            "bs".to_owned(),
            AttributeValue::Bs(vec![Blob::new(vec![1u8]), Blob::new(vec![2u8, 3])]),
        ),
        (
            "map".to_owned(),
            AttributeValue::M(HashMap::from([(
                "k".to_owned(),
                AttributeValue::L(vec![AttributeValue::Null(true), AttributeValue::Bool(false)]),
            )])),
        ),
        (
            "list".to_owned(),
            AttributeValue::L(vec![
                n("1"),
                s("x"),
                AttributeValue::B(Blob::new(b"hello".to_vec())),
            ]),
        ),
        ("null".to_owned(), AttributeValue::Null(true)),
        ("bool".to_owned(), AttributeValue::Bool(true)),
    ])
}

#[tokio::test]
async fn every_type_round_trips_exactly() {
    let t = start().await;
    create_table(&t.ddb, "items", ("id", ScalarAttributeType::S), None).await;
    t.ddb
        .put_item()
        .table_name("items")
        .set_item(Some(every_type()))
        .send()
        .await
        .unwrap();
    let got = t
        .ddb
        .get_item()
        .table_name("items")
        .key("id", s("every"))
        .send()
        .await
        .unwrap();
    let item = got.item().unwrap();
    let mut expected = every_type();
    // DynamoDB returns numbers normalised.
    expected.insert(
        "huge".into(),
        n(&format!(
            "99999999999999999999999999999999999999{}",
            "0".repeat(88)
        )),
    );
    expected.insert(
        "ns".into(),
        AttributeValue::Ns(vec!["1".into(), "2.5".into(), "-30000000000".into()]),
    );
    for (name, value) in &expected {
        assert_eq!(item.get(name), Some(value), "{name}");
    }
    assert_eq!(item.len(), expected.len());
}

#[tokio::test]
async fn put_returns_old_values_and_delete_removes() {
    let t = start().await;
    create_table(
        &t.ddb,
        "items",
        ("id", ScalarAttributeType::S),
        Some(("n", ScalarAttributeType::N)),
    )
    .await;
    let first = t
        .ddb
        .put_item()
        .table_name("items")
        .item("id", s("a"))
        .item("n", n("1"))
        .item("v", s("one"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert!(first.attributes().is_none());
    let second = t
        .ddb
        .put_item()
        .table_name("items")
        .item("id", s("a"))
        .item("n", n("1.0"))
        .item("v", s("two"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(second.attributes().unwrap().get("v"), Some(&s("one")));
    let deleted = t
        .ddb
        .delete_item()
        .table_name("items")
        .key("id", s("a"))
        .key("n", n("1"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.attributes().unwrap().get("v"), Some(&s("two")));
    let got = t
        .ddb
        .get_item()
        .table_name("items")
        .key("id", s("a"))
        .key("n", n("1"))
        .send()
        .await
        .unwrap();
    assert!(got.item().is_none());
    let table = t
        .ddb
        .describe_table()
        .table_name("items")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.item_count(), Some(0));
}

#[tokio::test]
async fn consumed_capacity_is_reported_when_asked() {
    let t = start().await;
    create_table(&t.ddb, "cap", ("id", ScalarAttributeType::S), None).await;
    let out = t
        .ddb
        .put_item()
        .table_name("cap")
        .item("id", s("a"))
        .item("blob", AttributeValue::B(Blob::new(vec![0u8; 3000])))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(out.consumed_capacity().unwrap().capacity_units(), Some(3.0));
    let got = t
        .ddb
        .get_item()
        .table_name("cap")
        .key("id", s("a"))
        .consistent_read(true)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(got.consumed_capacity().unwrap().capacity_units(), Some(1.0));
}

#[tokio::test]
async fn bad_items_get_awss_errors() {
    let t = start().await;
    create_table(
        &t.ddb,
        "items",
        ("id", ScalarAttributeType::S),
        Some(("n", ScalarAttributeType::N)),
    )
    .await;
    let put = |item: Vec<(&str, AttributeValue)>| {
        let mut req = t.ddb.put_item().table_name("items");
        for (k, v) in item {
            req = req.item(k, v);
        }
        req.send()
    };
    let cases: Vec<(Vec<(&str, AttributeValue)>, &str)> = vec![
        (vec![("id", s("a"))], "One or more parameter values were invalid: Missing the key n in the item"),
        (vec![("id", n("1")), ("n", n("1"))], "One or more parameter values were invalid: Type mismatch for key id expected: S actual: N"),
        (vec![("id", s("")), ("n", n("1"))], "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: id"),
        (vec![("id", s("a")), ("n", n("1e126"))], "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        (vec![("id", s("a")), ("n", n("123456789012345678901234567890123456789"))], "Attempting to store more than 38 significant digits in a Number"),
        (vec![("id", s("a")), ("n", n("abc"))], "The parameter cannot be converted to a numeric value: abc"),
        (vec![("id", s("a")), ("n", n("1")), ("x", AttributeValue::Ss(vec![]))], "One or more parameter values were invalid: An string set  may not be empty"),
        (vec![("id", s("a")), ("n", n("1")), ("x", AttributeValue::Ss(vec!["a".into(), "a".into()]))], "One or more parameter values were invalid: Input collection contains duplicates."),
        (vec![("id", s(&"k".repeat(2049))), ("n", n("1"))], "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"),
        (vec![("id", s("a")), ("n", n("1")), ("big", AttributeValue::B(Blob::new(vec![0u8; 400 * 1024])))], "Item size has exceeded the maximum allowed size"),
    ];
    for (item, message) in cases {
        let e = put(item).await.unwrap_err();
        assert_eq!(
            error_of(&e),
            ("ValidationException".to_owned(), message.to_owned())
        );
    }
    let e = t
        .ddb
        .get_item()
        .table_name("items")
        .key("id", s("a"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_of(&e).1,
        "The provided key element does not match the schema"
    );
    let e = t
        .ddb
        .get_item()
        .table_name("nope")
        .key("id", s("a"))
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_resource_not_found_exception());
    assert_eq!(
        t.ddb.scan().table_name("items").send().await.unwrap().count(),
        0,
        "nothing bad was stored"
    );
}

#[tokio::test]
async fn batch_write_and_get_follow_the_limits() {
    let t = start().await;
    create_table(&t.ddb, "batch", ("id", ScalarAttributeType::S), None).await;
    let put = |id: String| {
        WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .item("id", s(&id))
                    .item("v", n("1"))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let ok = t
        .ddb
        .batch_write_item()
        .request_items("batch", (0..25).map(|i| put(format!("k{i}"))).collect())
        .send()
        .await
        .unwrap();
    assert!(ok.unprocessed_items().is_none_or(|u| u.is_empty()));
    let e = t
        .ddb
        .batch_write_item()
        .request_items("batch", (0..26).map(|i| put(format!("k{i}"))).collect())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_of(&e).0, "ValidationException");
    let dup = vec![
        put("same".into()),
        WriteRequest::builder()
            .delete_request(DeleteRequest::builder().key("id", s("same")).build().unwrap())
            .build(),
    ];
    let e = t
        .ddb
        .batch_write_item()
        .request_items("batch", dup)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_of(&e),
        (
            "ValidationException".into(),
            "Provided list of item keys contains duplicates".into()
        )
    );

    let keys = KeysAndAttributes::builder()
        .set_keys(Some(
            (0..30)
                .map(|i| HashMap::from([("id".to_owned(), s(&format!("k{i}")))]))
                .collect(),
        ))
        .build()
        .unwrap();
    let got = t
        .ddb
        .batch_get_item()
        .request_items("batch", keys)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.responses().unwrap()["batch"].len(),
        25,
        "the 5 missing keys are simply absent"
    );
    let many = KeysAndAttributes::builder()
        .set_keys(Some(
            (0..101)
                .map(|i| HashMap::from([("id".to_owned(), s(&format!("k{i}")))]))
                .collect(),
        ))
        .build()
        .unwrap();
    let e = t
        .ddb
        .batch_get_item()
        .request_items("batch", many)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_of(&e).1,
        "Too many items requested for the BatchGetItem call"
    );
}

async fn fill(t: &common::TestEmu, table: &str, count: usize) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(25) {
        let writes = chunk
            .iter()
            .map(|i| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .item("id", s(&format!("item-{i:05}")))
                            .item("n", n(&i.to_string()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        t.ddb
            .batch_write_item()
            .request_items(table, writes)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn scan_pages_cover_every_item_once() {
    let t = start().await;
    create_table(&t.ddb, "scan", ("id", ScalarAttributeType::S), None).await;
    fill(&t, "scan", 1000).await;
    let mut seen = BTreeSet::new();
    let mut start_key = None;
    let mut pages = 0;
    loop {
        let out = t
            .ddb
            .scan()
            .table_name("scan")
            .limit(77)
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(out.count() <= 77);
        for item in out.items() {
            assert!(seen.insert(item["id"].as_s().unwrap().clone()), "no item twice");
        }
        start_key = out.last_evaluated_key().cloned();
        if start_key.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 1000);
    assert_eq!(pages, 13);
    // The SDK's paginator gives the same.
    let items: Vec<_> = t
        .ddb
        .scan()
        .table_name("scan")
        .limit(100)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(items.len(), 1000);
}

#[tokio::test]
async fn scan_pages_stop_at_one_megabyte() {
    let t = start().await;
    create_table(&t.ddb, "megabyte", ("id", ScalarAttributeType::S), None).await;
    for i in 0..30 {
        t.ddb
            .put_item()
            .table_name("megabyte")
            .item("id", s(&format!("{i}")))
            .item("blob", AttributeValue::B(Blob::new(vec![7u8; 100_000])))
            .send()
            .await
            .unwrap();
    }
    let first = t.ddb.scan().table_name("megabyte").send().await.unwrap();
    assert!(
        first.count() < 30 && first.count() >= 10,
        "a page holds about 1 MB: {}",
        first.count()
    );
    assert!(first.last_evaluated_key().is_some());
}

#[tokio::test]
async fn segments_partition_the_table() {
    let t = start().await;
    create_table(&t.ddb, "seg", ("id", ScalarAttributeType::S), None).await;
    fill(&t, "seg", 500).await;
    for total in [1, 3, 8] {
        let mut all = BTreeSet::new();
        let mut sum = 0;
        for segment in 0..total {
            let items: Vec<_> = t
                .ddb
                .scan()
                .table_name("seg")
                .segment(segment)
                .total_segments(total)
                .limit(50)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>()
                .await;
            sum += items.len();
            for item in items {
                all.insert(item.unwrap()["id"].as_s().unwrap().clone());
            }
        }
        assert_eq!(sum, 500, "{total} segments: every item in exactly one");
        assert_eq!(all.len(), 500);
    }
    let e = t
        .ddb
        .scan()
        .table_name("seg")
        .segment(3)
        .total_segments(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_of(&e).0, "ValidationException");
}

#[tokio::test]
async fn batch_get_leaves_what_passes_16_mb_in_unprocessed_keys() {
    let t = start().await;
    create_table(&t.ddb, "large", ("id", ScalarAttributeType::S), None).await;
    let blob = AttributeValue::B(Blob::new(vec![9u8; 390 * 1024]));
    for i in 0..60 {
        t.ddb
            .put_item()
            .table_name("large")
            .item("id", s(&format!("k{i:02}")))
            .item("b", blob.clone())
            .send()
            .await
            .unwrap();
    }
    let keys = |ids: Vec<String>| {
        KeysAndAttributes::builder()
            .set_keys(Some(
                ids.into_iter()
                    .map(|id| HashMap::from([("id".to_owned(), s(&id))]))
                    .collect(),
            ))
            .build()
            .unwrap()
    };
    let mut wanted: Vec<String> = (0..60).map(|i| format!("k{i:02}")).collect();
    let mut got = BTreeSet::new();
    let mut rounds = 0;
    while !wanted.is_empty() {
        rounds += 1;
        let out = t
            .ddb
            .batch_get_item()
            .request_items("large", keys(wanted.clone()))
            .send()
            .await
            .unwrap();
        for item in &out.responses().unwrap()["large"] {
            got.insert(item["id"].as_s().unwrap().clone());
        }
        wanted = out
            .unprocessed_keys()
            .and_then(|u| u.get("large"))
            .map(|k| {
                k.keys()
                    .iter()
                    .map(|key| key["id"].as_s().unwrap().clone())
                    .collect()
            })
            .unwrap_or_default();
    }
    assert!(rounds >= 2, "60 items of 390 KB do not fit one 16 MB answer");
    assert_eq!(got.len(), 60);
}
