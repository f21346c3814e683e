//! Test support: a real `ddbrep-emu` on an ephemeral loopback port, and SDK clients pointed at it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use ddbrep_emu::{Emulator, EmulatorBuilder, Running};

/// A running emulator with clients.
pub struct TestEmu {
    pub running: Running,
    pub ddb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
}

/// Starts an emulator with a throwaway database.
pub async fn start() -> TestEmu {
    start_with(Emulator::builder().seed(7)).await
}

/// Starts an emulator from a builder.
pub async fn start_with(builder: EmulatorBuilder) -> TestEmu {
    let emu = builder.open().expect("emulator opens");
    attach(&emu).await
}

/// Serves an opened emulator and connects clients to it.
pub async fn attach(emu: &Emulator) -> TestEmu {
    let running = emu.spawn_local().await.expect("emulator listens");
    let endpoint = running.endpoint();
    let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(creds.clone())
            .build(),
    );
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(creds)
            .build(),
    );
    TestEmu {
        running,
        ddb,
        streams,
    }
}

/// `AttributeValue::S`.
pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// `AttributeValue::N`.
pub fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

/// Creates an on-demand table with a partition key `pk` and, optionally, a sort key `sk`.
pub async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    pk: (&str, ScalarAttributeType),
    sk: Option<(&str, ScalarAttributeType)>,
) {
    let mut req = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(pk.0)
                .attribute_type(pk.1)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(pk.0)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        );
    if let Some((name, ty)) = sk {
        req = req
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ty)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            );
    }
    req.send().await.expect("create table");
}

/// The error code of an SDK error (`ValidationException`, …), and its message.
pub fn error_of<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> (String, String)
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let meta = match e {
        aws_sdk_dynamodb::error::SdkError::ServiceError(se) => se.err(),
        other => panic!("not a service error: {other:?}"),
    };
    (
        meta.code().unwrap_or_default().to_owned(),
        meta.message().unwrap_or_default().to_owned(),
    )
}
