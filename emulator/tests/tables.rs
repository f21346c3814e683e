//! Table operations through aws-sdk-dynamodb.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    BillingMode, KeyType, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus,
};
use common::{create_table, error_of, start};

#[tokio::test]
async fn create_describe_and_wait_for_a_table() {
    let t = start().await;
    let out = t
        .ddb
        .create_table()
        .table_name("orders")
        .attribute_definitions(common::attr("id", ScalarAttributeType::S))
        .attribute_definitions(common::attr("at", ScalarAttributeType::N))
        .key_schema(common::key_elem("id", KeyType::Hash))
        .key_schema(common::key_elem("at", KeyType::Range))
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(7)
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let desc = out.table_description().unwrap();
    assert_eq!(desc.table_status(), Some(&TableStatus::Creating));
    assert_eq!(
        desc.table_arn(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/orders")
    );

    t.ddb
        .wait_until_table_exists()
        .table_name("orders")
        .wait(Duration::from_secs(10))
        .await
        .unwrap();
    let table = t
        .ddb
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.table_status(), Some(&TableStatus::Active));
    assert_eq!(table.key_schema().len(), 2);
    assert_eq!(table.item_count(), Some(0));
    assert_eq!(
        table.provisioned_throughput().unwrap().write_capacity_units(),
        Some(7)
    );
    let arn = table.latest_stream_arn().unwrap();
    assert!(
        arn.starts_with("arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/"),
        "{arn}"
    );
    assert_eq!(
        table.stream_specification().unwrap().stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
}

#[tokio::test]
async fn list_tables_paginates_in_order() {
    let t = start().await;
    for i in (0..7).rev() {
        create_table(
            &t.ddb,
            &format!("table-{i}"),
            ("id", ScalarAttributeType::S),
            None,
        )
        .await;
    }
    let mut names = Vec::new();
    let mut start_name = None;
    let mut pages = 0;
    loop {
        let out = t
            .ddb
            .list_tables()
            .limit(3)
            .set_exclusive_start_table_name(start_name)
            .send()
            .await
            .unwrap();
        pages += 1;
        names.extend(out.table_names().iter().cloned());
        start_name = out.last_evaluated_table_name().map(str::to_owned);
        if start_name.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("table-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn table_errors_are_awss() {
    let t = start().await;
    create_table(&t.ddb, "dup", ("id", ScalarAttributeType::S), None).await;
    let e = t
        .ddb
        .create_table()
        .table_name("dup")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(common::attr("id", ScalarAttributeType::S))
        .key_schema(common::key_elem("id", KeyType::Hash))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_of(&e),
        (
            "ResourceInUseException".into(),
            "Table already exists: dup".into()
        )
    );

    let e = t
        .ddb
        .describe_table()
        .table_name("missing")
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_resource_not_found_exception());
    let e = t
        .ddb
        .delete_table()
        .table_name("missing")
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_resource_not_found_exception());

    // An attribute definition that no key uses.
    let e = t
        .ddb
        .create_table()
        .table_name("extra")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(common::attr("id", ScalarAttributeType::S))
        .attribute_definitions(common::attr("x", ScalarAttributeType::S))
        .key_schema(common::key_elem("id", KeyType::Hash))
        .send()
        .await
        .unwrap_err();
    let (code, message) = error_of(&e);
    assert_eq!(code, "ValidationException");
    assert!(message.contains("does not exactly match"), "{message}");

    // Provisioned without throughput.
    let e = t
        .ddb
        .create_table()
        .table_name("nothroughput")
        .attribute_definitions(common::attr("id", ScalarAttributeType::S))
        .key_schema(common::key_elem("id", KeyType::Hash))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_of(&e).0, "ValidationException");

    // A name with a space.
    let e = t
        .ddb
        .create_table()
        .table_name("bad name")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(common::attr("id", ScalarAttributeType::S))
        .key_schema(common::key_elem("id", KeyType::Hash))
        .send()
        .await
        .unwrap_err();
    assert!(
        error_of(&e).1.contains("regular expression"),
        "{:?}",
        error_of(&e)
    );
}

#[tokio::test]
async fn delete_table_removes_it_and_its_items() {
    let t = start().await;
    create_table(&t.ddb, "gone", ("id", ScalarAttributeType::S), None).await;
    t.ddb
        .put_item()
        .table_name("gone")
        .item("id", common::s("a"))
        .send()
        .await
        .unwrap();
    let out = t.ddb.delete_table().table_name("gone").send().await.unwrap();
    assert_eq!(out.table_description().unwrap().item_count(), Some(1));
    assert!(t.ddb.list_tables().send().await.unwrap().table_names().is_empty());
    create_table(&t.ddb, "gone", ("id", ScalarAttributeType::S), None).await;
    let scan = t.ddb.scan().table_name("gone").send().await.unwrap();
    assert_eq!(scan.count(), 0, "a new table of the same name starts empty");
}

#[tokio::test]
async fn update_table_switches_the_stream_and_adds_an_index() {
    let t = start().await;
    create_table(&t.ddb, "tbl", ("id", ScalarAttributeType::S), None).await;
    for i in 0..5 {
        t.ddb
            .put_item()
            .table_name("tbl")
            .item("id", common::s(&format!("k{i}")))
            .item("g", common::s("x"))
            .send()
            .await
            .unwrap();
    }
    t.ddb
        .update_table()
        .table_name("tbl")
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::KeysOnly)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let table = t
        .ddb
        .describe_table()
        .table_name("tbl")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        table.stream_specification().unwrap().stream_view_type(),
        Some(&StreamViewType::KeysOnly)
    );
    t.ddb
        .update_table()
        .table_name("tbl")
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let table = t
        .ddb
        .describe_table()
        .table_name("tbl")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert!(table.stream_specification().is_none());
    assert!(
        table.latest_stream_arn().is_some(),
        "a disabled stream keeps its ARN"
    );

    t.ddb
        .update_table()
        .table_name("tbl")
        .attribute_definitions(common::attr("g", ScalarAttributeType::S))
        .global_secondary_index_updates(
            aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                .create(
                    aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                        .index_name("by-g")
                        .key_schema(common::key_elem("g", KeyType::Hash))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::KeysOnly)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let scan = t
        .ddb
        .scan()
        .table_name("tbl")
        .index_name("by-g")
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count(), 5, "the new index was backfilled");
    for item in scan.items() {
        let mut names: Vec<_> = item.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["g", "id"], "KEYS_ONLY projects the keys");
    }
}

#[tokio::test]
async fn a_global_index_can_be_removed_and_protected_tables_are_not_deleted() {
    let t = start().await;
    t.ddb
        .create_table()
        .table_name("guarded")
        .billing_mode(BillingMode::PayPerRequest)
        .deletion_protection_enabled(true)
        .attribute_definitions(common::attr("id", ScalarAttributeType::S))
        .attribute_definitions(common::attr("g", ScalarAttributeType::S))
        .key_schema(common::key_elem("id", KeyType::Hash))
        .global_secondary_indexes(
            aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                .index_name("by-g")
                .key_schema(common::key_elem("g", KeyType::Hash))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    t.ddb
        .put_item()
        .table_name("guarded")
        .item("id", common::s("a"))
        .item("g", common::s("x"))
        .send()
        .await
        .unwrap();
    let e = t
        .ddb
        .delete_table()
        .table_name("guarded")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_of(&e).0, "ValidationException");
    t.ddb
        .update_table()
        .table_name("guarded")
        .global_secondary_index_updates(
            aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                .delete(
                    aws_sdk_dynamodb::types::DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("by-g")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    let table = t
        .ddb
        .describe_table()
        .table_name("guarded")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert!(table.global_secondary_indexes().is_empty());
    let e = t
        .ddb
        .scan()
        .table_name("guarded")
        .index_name("by-g")
        .send()
        .await
        .unwrap_err();
    assert!(
        error_of(&e).1.contains("does not have the specified index"),
        "{:?}",
        error_of(&e)
    );
    t.ddb.delete_table().table_name("guarded").send().await.unwrap();
}

#[tokio::test]
async fn time_to_live_can_be_switched_but_not_twice() {
    let t = start().await;
    create_table(&t.ddb, "ttl-table", ("id", ScalarAttributeType::S), None).await;
    let set = |enabled: bool| {
        t.ddb
            .update_time_to_live()
            .table_name("ttl-table")
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .attribute_name("exp")
                    .enabled(enabled)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let described = t
        .ddb
        .describe_time_to_live()
        .table_name("ttl-table")
        .send()
        .await
        .unwrap();
    assert_eq!(
        described
            .time_to_live_description()
            .unwrap()
            .time_to_live_status()
            .unwrap()
            .as_str(),
        "DISABLED"
    );
    set(true).await.unwrap();
    assert_eq!(error_of(&set(true).await.unwrap_err()).0, "ValidationException");
    set(false).await.unwrap();
    assert_eq!(error_of(&set(false).await.unwrap_err()).0, "ValidationException");
}
