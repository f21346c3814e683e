//! Conditions, updates, projections, key conditions and filters through aws-sdk-dynamodb.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, GlobalSecondaryIndex, KeyType, LocalSecondaryIndex, Projection,
    ProjectionType, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, Select,
};
use common::{create_table, error_of, n, s, start};

#[tokio::test]
async fn conditional_writes_fail_with_the_old_item_when_asked() {
    let t = start().await;
    create_table(&t.ddb, "cond", ("id", ScalarAttributeType::S), None).await;
    let create = || {
        t.ddb
            .put_item()
            .table_name("cond")
            .item("id", s("a"))
            .item("v", n("1"))
            .condition_expression("attribute_not_exists(id)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
    };
    create().await.unwrap();
    let e = create().await.unwrap_err();
    let e = e.into_service_error();
    assert!(e.is_conditional_check_failed_exception());
    let aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(ccf) = e else {
        panic!()
    };
    assert_eq!(ccf.item().unwrap()["v"], n("1"));

    let e = t
        .ddb
        .delete_item()
        .table_name("cond")
        .key("id", s("a"))
        .condition_expression("v > :min")
        .expression_attribute_values(":min", n("5"))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_conditional_check_failed_exception());
    t.ddb
        .delete_item()
        .table_name("cond")
        .key("id", s("a"))
        .condition_expression("v between :lo and :hi AND NOT contains(id, :x)")
        .expression_attribute_values(":lo", n("0"))
        .expression_attribute_values(":hi", n("1"))
        .expression_attribute_values(":x", s("zz"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn update_expressions_change_items_exactly() {
    let t = start().await;
    create_table(&t.ddb, "upd", ("id", ScalarAttributeType::S), None).await;
    let out = t
        .ddb
        .update_item()
        .table_name("upd")
        .key("id", s("a"))
        .update_expression("SET #c = if_not_exists(#c, :zero) + :one, tags = :tags, l = list_append(if_not_exists(l, :empty), :l) ADD ns :ns")
        .expression_attribute_names("#c", "count")
        .expression_attribute_values(":zero", n("0"))
        .expression_attribute_values(":one", n("0.1"))
        .expression_attribute_values(":tags", AttributeValue::Ss(vec!["x".into(), "y".into()]))
        .expression_attribute_values(":empty", AttributeValue::L(vec![]))
        .expression_attribute_values(":l", AttributeValue::L(vec![s("first")]))
        .expression_attribute_values(":ns", AttributeValue::Ns(vec!["1".into()]))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    let item = out.attributes().unwrap();
    assert_eq!(item["count"], n("0.1"));
    assert_eq!(item["l"], AttributeValue::L(vec![s("first")]));

    let out = t
        .ddb
        .update_item()
        .table_name("upd")
        .key("id", s("a"))
        .update_expression("SET #c = #c + :big REMOVE l[0] DELETE tags :x ADD ns :ns2")
        .expression_attribute_names("#c", "count")
        .expression_attribute_values(":big", n("99999999999999999999999999999999999"))
        .expression_attribute_values(":x", AttributeValue::Ss(vec!["x".into()]))
        .expression_attribute_values(":ns2", AttributeValue::Ns(vec!["2".into()]))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .unwrap();
    let updated = out.attributes().unwrap();
    assert_eq!(
        updated["count"],
        n("99999999999999999999999999999999999.1"),
        "exact 36-digit arithmetic"
    );
    assert_eq!(updated["tags"], AttributeValue::Ss(vec!["y".into()]));
    assert!(!updated.contains_key("id"));
    let got = t
        .ddb
        .get_item()
        .table_name("upd")
        .key("id", s("a"))
        .send()
        .await
        .unwrap();
    let item = got.item().unwrap();
    assert_eq!(item["l"], AttributeValue::L(vec![]));
    let mut ns = item["ns"].as_ns().unwrap().clone();
    ns.sort();
    assert_eq!(ns, ["1", "2"]);

    let e = t
        .ddb
        .update_item()
        .table_name("upd")
        .key("id", s("a"))
        .update_expression("SET id = :v")
        .expression_attribute_values(":v", s("b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_of(&e).1, "One or more parameter values were invalid: Cannot update attribute id. This attribute is part of the key");
}

#[tokio::test]
async fn expression_mistakes_get_awss_messages() {
    let t = start().await;
    create_table(&t.ddb, "errs", ("id", ScalarAttributeType::S), None).await;
    let e = t
        .ddb
        .put_item()
        .table_name("errs")
        .item("id", s("a"))
        .condition_expression("attribute_exists(id)")
        .expression_attribute_values(":unused", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error_of(&e).1,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"
    );
    let e = t
        .ddb
        .put_item()
        .table_name("errs")
        .item("id", s("a"))
        .condition_expression("#missing = :v")
        .send()
        .await
        .unwrap_err();
    assert!(
        error_of(&e).1.contains(
            "An expression attribute name used in the document path is not defined; attribute name: #missing"
        ),
        "{:?}",
        error_of(&e)
    );
    let e = t
        .ddb
        .put_item()
        .table_name("errs")
        .item("id", s("a"))
        .condition_expression("id = = 1")
        .send()
        .await
        .unwrap_err();
    let (code, message) = error_of(&e);
    assert_eq!(code, "ValidationException");
    assert!(
        message.starts_with("Invalid ConditionExpression: Syntax error; token:"),
        "{message}"
    );
    let e = t
        .ddb
        .put_item()
        .table_name("errs")
        .item("id", s("a"))
        .condition_expression("status = :v")
        .expression_attribute_values(":v", s("x"))
        .send()
        .await
        .unwrap_err();
    assert!(
        error_of(&e)
            .1
            .contains("reserved keyword; reserved keyword: status"),
        "{:?}",
        error_of(&e)
    );
    assert_eq!(t.ddb.scan().table_name("errs").send().await.unwrap().count(), 0);
}

async fn events_table(t: &common::TestEmu) {
    t.ddb
        .create_table()
        .table_name("events")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(common::attr("user", ScalarAttributeType::S))
        .attribute_definitions(common::attr("at", ScalarAttributeType::N))
        .attribute_definitions(common::attr("kind", ScalarAttributeType::S))
        .attribute_definitions(common::attr("name", ScalarAttributeType::S))
        .key_schema(common::key_elem("user", KeyType::Hash))
        .key_schema(common::key_elem("at", KeyType::Range))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by-name")
                .key_schema(common::key_elem("user", KeyType::Hash))
                .key_schema(common::key_elem("name", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-kind")
                .key_schema(common::key_elem("kind", KeyType::Hash))
                .key_schema(common::key_elem("at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("name")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for (user, at, kind, name) in [
        ("u1", "-5", "login", "zed"),
        ("u1", "10", "click", "amy"),
        ("u1", "9", "login", "bob"),
        ("u1", "100", "logout", "cat"),
        ("u1", "2.5", "click", "dan"),
        ("u2", "1", "login", "eve"),
    ] {
        t.ddb
            .put_item()
            .table_name("events")
            .item("user", s(user))
            .item("at", n(at))
            .item("kind", s(kind))
            .item("name", s(name))
            .item("extra", s("not projected into by-kind"))
            .send()
            .await
            .unwrap();
    }
}

fn ats(items: &[HashMap<String, AttributeValue>]) -> Vec<String> {
    items.iter().map(|i| i["at"].as_n().unwrap().clone()).collect()
}

#[tokio::test]
async fn query_walks_a_partition_in_sort_key_order() {
    let t = start().await;
    events_table(&t).await;
    let q = || {
        t.ddb
            .query()
            .table_name("events")
            .key_condition_expression("#u = :u")
            .expression_attribute_names("#u", "user")
            .expression_attribute_values(":u", s("u1"))
    };
    let all = q().send().await.unwrap();
    assert_eq!(
        ats(all.items()),
        ["-5", "2.5", "9", "10", "100"],
        "numbers sort numerically"
    );
    let back = q().scan_index_forward(false).send().await.unwrap();
    assert_eq!(ats(back.items()), ["100", "10", "9", "2.5", "-5"]);

    let between = t
        .ddb
        .query()
        .table_name("events")
        .key_condition_expression("#u = :u AND #a BETWEEN :lo AND :hi")
        .expression_attribute_names("#u", "user")
        .expression_attribute_names("#a", "at")
        .expression_attribute_values(":u", s("u1"))
        .expression_attribute_values(":lo", n("0"))
        .expression_attribute_values(":hi", n("10"))
        .send()
        .await
        .unwrap();
    assert_eq!(ats(between.items()), ["2.5", "9", "10"]);

    // Pages of two, backwards, with a filter: Limit counts items read before the filter.
    let mut seen = Vec::new();
    let mut start = None;
    loop {
        let page = q()
            .scan_index_forward(false)
            .limit(2)
            .filter_expression("kind <> :k")
            .expression_attribute_values(":k", s("login"))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        assert!(page.scanned_count() <= 2);
        seen.extend(ats(page.items()));
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["100", "10", "2.5"]);

    let count = q().select(Select::Count).send().await.unwrap();
    assert_eq!((count.count(), count.items().len()), (5, 0));
    let projected = q()
        .projection_expression("#n")
        .expression_attribute_names("#n", "name")
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(projected.items()[0].keys().collect::<Vec<_>>(), ["name"]);

    let e = t
        .ddb
        .query()
        .table_name("events")
        .key_condition_expression("kind = :k")
        .expression_attribute_values(":k", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_of(&e).0, "ValidationException");
}

#[tokio::test]
async fn indexes_answer_queries_with_their_projection() {
    let t = start().await;
    events_table(&t).await;
    let by_name = t
        .ddb
        .query()
        .table_name("events")
        .index_name("by-name")
        .key_condition_expression("#u = :u AND begins_with(#n, :p)")
        .expression_attribute_names("#u", "user")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":u", s("u1"))
        .expression_attribute_values(":p", s("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(ats(by_name.items()), ["9"]);

    let by_kind = t
        .ddb
        .query()
        .table_name("events")
        .index_name("by-kind")
        .key_condition_expression("kind = :k")
        .expression_attribute_values(":k", s("login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ats(by_kind.items()),
        ["-5", "1", "9"],
        "index sort key order across base partitions"
    );
    for item in by_kind.items() {
        assert!(item.contains_key("name"), "INCLUDE projects name");
        assert!(!item.contains_key("extra"), "INCLUDE leaves other attributes out");
    }
    // Moving an item to another kind moves its index entry in the same write.
    t.ddb
        .update_item()
        .table_name("events")
        .key("user", s("u1"))
        .key("at", n("9"))
        .update_expression("SET kind = :k")
        .expression_attribute_values(":k", s("logout"))
        .send()
        .await
        .unwrap();
    let by_kind = t
        .ddb
        .query()
        .table_name("events")
        .index_name("by-kind")
        .key_condition_expression("kind = :k")
        .expression_attribute_values(":k", s("login"))
        .send()
        .await
        .unwrap();
    assert_eq!(ats(by_kind.items()), ["-5", "1"]);
    let scan = t
        .ddb
        .scan()
        .table_name("events")
        .index_name("by-kind")
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count(), 6);
}

#[tokio::test]
async fn an_index_key_of_the_wrong_type_or_empty_is_refused_by_every_write() {
    let t = start().await;
    events_table(&t).await;
    let before = t.ddb.scan().table_name("events").send().await.unwrap().count();
    let put = t
        .ddb
        .put_item()
        .table_name("events")
        .item("user", s("u9"))
        .item("at", n("1"))
        .item("kind", n("7"))
        .send()
        .await
        .unwrap_err();
    let (code, message) = error_of(&put);
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        "One or more parameter values were invalid: Type mismatch for Index Key kind Expected: S Actual: N IndexName: by-kind"
    );
    let empty = t
        .ddb
        .put_item()
        .table_name("events")
        .item("user", s("u9"))
        .item("at", n("1"))
        .item("name", s(""))
        .send()
        .await
        .unwrap_err();
    let (code, message) = error_of(&empty);
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains("IndexName: by-name, IndexKey: name"),
        "{message}"
    );
    let update = t
        .ddb
        .update_item()
        .table_name("events")
        .key("user", s("u1"))
        .key("at", n("10"))
        .update_expression("SET kind = :n")
        .expression_attribute_values(":n", n("1"))
        .send()
        .await
        .unwrap_err();
    assert!(error_of(&update).1.contains("Type mismatch for Index Key kind"));
    let batch = t
        .ddb
        .batch_write_item()
        .request_items(
            "events",
            vec![aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(
                    aws_sdk_dynamodb::types::PutRequest::builder()
                        .item("user", s("u9"))
                        .item("at", n("2"))
                        .item("kind", AttributeValue::Bool(true))
                        .build()
                        .unwrap(),
                )
                .build()],
        )
        .send()
        .await
        .unwrap_err();
    assert!(error_of(&batch).1.contains("Expected: S Actual: BOOL"));
    // Nothing was written; an item without the attribute is fine (it is just not in the index).
    assert_eq!(
        t.ddb.scan().table_name("events").send().await.unwrap().count(),
        before
    );
    t.ddb
        .put_item()
        .table_name("events")
        .item("user", s("u9"))
        .item("at", n("3"))
        .send()
        .await
        .unwrap();
}
