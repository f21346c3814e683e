//! The stream handlers end to end against a real `ddbrep-emu` over HTTP: the original's fixture events
//! through `ddbrep invoke-handler` (the real binary), and a real change history read off the emulator's
//! stream (a TTL expiry included) through the handler library and through the emulator's own pipeline,
//! checked with `diff-tables` and the backup objects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{start, TestEnv};
use ddbrep::drive::aws::Connection;
use ddbrep::handler::env::Config;
use ddbrep::handler::{Handler, HandlerKind};
use ddbrep_engine::backup_key;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{KeySchema, ScalarType};
use ddbrep_engine::stream::META_SEQUENCE_NUMBER;

/// The package directory, read when the test runs: `env!` would bake in the path of the checkout that
/// compiled the test, which a build cache shared between checkouts (CI's clones) would reuse.
fn package_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn fixture(name: &str) -> String {
    let path: PathBuf = package_dir().join(
        [
            "..",
            "..",
            "shared",
            "reference",
            "original-fixtures",
            "events",
            name,
        ]
        .iter()
        .collect::<PathBuf>(),
    );
    path.to_str().unwrap().to_owned()
}

/// The object name of `{"id":{"S":id}}` in table `fake` under `prefix`.
fn object_of(prefix: &str, id: &str) -> String {
    let schema = KeySchema::partition_only("id", ScalarType::S);
    let key = schema
        .parse_key(&ddb_json::parse_item(&format!(r#"{{"id":{{"S":"{id}"}}}}"#)).unwrap())
        .unwrap();
    backup_key::object_key(prefix, "fake", &key)
}

async fn invoke(env: &TestEnv, handler: &str, event: &str, vars: &[String]) -> common::Run {
    let mut args = vec!["invoke-handler", handler, "--event", event];
    for v in vars {
        args.push("--env");
        args.push(v);
    }
    env.ddbrep(&args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_originals_fixture_events_replicate_as_its_tests_expect() {
    let env = start().await;
    let cases: [(&str, &[&str]); 5] = [
        ("insert.json", &[r#"{"id":{"S":"record-1"},"range":{"N":"1"}}"#]),
        (
            "insert-modify.json",
            &[r#"{"id":{"S":"record-1"},"range":{"N":"2"}}"#],
        ),
        ("insert-modify-delete.json", &[]),
        (
            "adjust-many.json",
            &[
                r#"{"id":{"S":"record-2"},"range":{"N":"22"}}"#,
                r#"{"id":{"S":"record-3"},"range":{"N":"33"}}"#,
            ],
        ),
        (
            "insert-buffer.json",
            &[
                r#"{"bufferSet":{"BS":["aGVsbG8="]},"id":{"S":"record-1"},"list":{"L":[{"S":"string"},{"B":"aGVsbG8="}]},"map":{"M":{"prop":{"B":"aGVsbG8="}}},"range":{"N":"1"},"val":{"B":"aGVsbG8="}}"#,
            ],
        ),
    ];
    for (i, (file, expected)) in cases.iter().enumerate() {
        let table = format!("replica{i}");
        env.create_table_keyed(&table, "id").await;
        let vars = [
            format!("ReplicaTable={table}"),
            format!("ReplicaEndpoint={}", env.endpoint),
            "ReplicaRegion=us-east-1".to_owned(),
        ];
        let run = invoke(&env, "index.replicate", &fixture(file), &vars).await;
        assert_eq!(run.code, 0, "{file}: {run:?}");
        assert_eq!(run.stdout.trim(), r#"{"batchItemFailures":[]}"#, "{file}");
        let mut rows: Vec<String> = env
            .scan(&table)
            .await
            .iter()
            .map(|t| common::canonical(t))
            .collect();
        rows.sort();
        let mut want: Vec<String> = expected.iter().map(|t| common::canonical(t)).collect();
        want.sort();
        assert_eq!(rows, want, "{file}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_originals_fixture_events_back_up_every_state_and_a_redelivery_writes_nothing() {
    let env = start().await;
    env.create_bucket("backups", true).await;
    let vars = ["BackupBucket=backups".to_owned(), "BackupPrefix=inc".to_owned()];
    let run = invoke(&env, "backup", &fixture("adjust-many.json"), &vars).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), r#"{"batchItemFailures":[]}"#);
    let versions = |key: String| {
        let s3 = env.s3.clone();
        async move {
            let out = s3
                .list_object_versions()
                .bucket("backups")
                .prefix(&key)
                .send()
                .await
                .unwrap();
            (out.versions().len(), out.delete_markers().len())
        }
    };
    // record-1: INSERT, MODIFY, REMOVE: two versions and a delete marker, no current object.
    assert_eq!(versions(object_of("inc", "record-1")).await, (2, 1));
    let gone = env
        .s3
        .get_object()
        .bucket("backups")
        .key(object_of("inc", "record-1"))
        .send()
        .await;
    assert!(gone.is_err());
    for (id, range, seq) in [("record-2", "22", "222"), ("record-3", "33", "222")] {
        let key = object_of("inc", id);
        let body = env.get_object("backups", &key).await;
        assert_eq!(
            String::from_utf8(body).unwrap(),
            format!(r#"{{"range":{{"N":"{range}"}},"id":{{"S":"{id}"}}}}"#)
        );
        let head = env
            .s3
            .head_object()
            .bucket("backups")
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.metadata().unwrap()[META_SEQUENCE_NUMBER], seq);
        assert_eq!(versions(key).await, (2, 0));
    }
    // At-least-once delivery: the same batch again changes nothing, even after the delete.
    let again = invoke(&env, "backup", &fixture("adjust-many.json"), &vars).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(versions(object_of("inc", "record-1")).await, (2, 1));
    assert_eq!(versions(object_of("inc", "record-2")).await, (2, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_and_bad_events_are_clear_errors() {
    let env = start().await;
    let dir = std::env::temp_dir().join(format!("ddbrep-handler-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys_only = dir.join("keys-only.json");
    std::fs::write(
        &keys_only,
        r#"{"Records":[{"eventName":"INSERT","eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/t",
            "dynamodb":{"Keys":{"id":{"S":"a"}},"SequenceNumber":"5","StreamViewType":"KEYS_ONLY"}}]}"#,
    )
    .unwrap();
    let not_event = dir.join("not-event.json");
    std::fs::write(&not_event, r#"{"Records":[{"eventName":"UPSERT"}]}"#).unwrap();

    let run = invoke(&env, "index.nothing", &fixture("insert.json"), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unknown handler"), "{}", run.stderr);

    let run = invoke(&env, "replicate", &fixture("insert.json"), &[]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("ReplicaTable"), "{}", run.stderr);

    let run = invoke(
        &env,
        "backup",
        &fixture("insert.json"),
        &["BackupRedeliveryCheck=maybe".into()],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("BackupRedeliveryCheck"), "{}", run.stderr);

    let vars = ["ReplicaTable=r".to_owned()];
    let run = invoke(&env, "replicate", keys_only.to_str().unwrap(), &vars).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("NEW_AND_OLD_IMAGES"), "{}", run.stderr);

    let run = invoke(&env, "replicate", not_event.to_str().unwrap(), &vars).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("not a DynamoDB stream event"),
        "{}",
        run.stderr
    );

    // A replica table that does not exist: every key is reported, and the exit code says so.
    let run = invoke(
        &env,
        "replicate",
        &fixture("adjust-many.json"),
        &["ReplicaTable=missing".into()],
    )
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    let response: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let ids: Vec<&str> = response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    // The first record of each of the three keys, in stream order.
    assert_eq!(ids, ["111", "111", "111"]);
    assert!(run.stderr.contains("ResourceNotFoundException"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Items with 38-digit numbers, binary, sets and nested maps, on a composite key.
const RICH: [&str; 4] = [
    r#"{"hash":{"S":"a"},"range":{"N":"1"},"n":{"N":"12345678901234567890123456789012345678"},"b":{"B":"AAEC/w=="}}"#,
    r#"{"hash":{"S":"a"},"range":{"N":"2"},"ss":{"SS":["x","y"]},"ns":{"NS":["1","99999999999999999999999999999999999999"]},"bs":{"BS":["AA==","AQ=="]}}"#,
    r#"{"hash":{"S":"b"},"range":{"N":"-0.000000000000000000000000000000000000001"},"m":{"M":{"deep":{"M":{"l":{"L":[{"NULL":true},{"BOOL":false},{"S":""}]}}}}}}"#,
    r#"{"hash":{"S":"c"},"range":{"N":"3"},"v":{"N":"1"}}"#,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_own_pipeline_keeps_the_replica_and_the_backup_exact() {
    let pipelines = vec![
        ddbrep_emu::pipeline::PipelineSpec::replicate("primary=replica").unwrap(),
        ddbrep_emu::pipeline::PipelineSpec::backup("primary=s3://backups/inc").unwrap(),
    ];
    let env = common::start_with(ddbrep_emu::Emulator::builder().pipelines(pipelines)).await;
    env.create_stream_table("primary").await;
    write_history(&env).await;
    env.caught_up().await;
    check_replica_and_backup(&env).await;
}

/// The change history both handler tests replay: inserts of every kind of value, a modify, a write that
/// changes nothing, a delete and a TTL expiry.
async fn write_history(env: &TestEnv) {
    env.ddb
        .update_time_to_live()
        .table_name("primary")
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .attribute_name("expires")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for item in RICH {
        env.put("primary", item).await;
    }
    env.put("primary", r#"{"hash":{"S":"c"},"range":{"N":"3"},"v":{"N":"2"}}"#)
        .await;
    env.put("primary", r#"{"hash":{"S":"c"},"range":{"N":"3"},"v":{"N":"2"}}"#)
        .await; // no change, no record
    env.delete("primary", r#"{"hash":{"S":"a"},"range":{"N":"2"}}"#)
        .await;
    // An item that expired long ago: the TTL sweep deletes it, with a service record on the stream.
    env.put(
        "primary",
        r#"{"hash":{"S":"t"},"range":{"N":"9"},"expires":{"N":"1"}}"#,
    )
    .await;
    assert_eq!(env.emu.sweep().await.unwrap().expired, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_stream_replicates_and_backs_up_exactly() {
    let env = start().await;
    env.create_stream_table("primary").await;
    // The replica has the primary's key schema.
    env.create_stream_table("replica").await;
    env.create_bucket("backups", true).await;
    write_history(&env).await;
    let records = env.stream_records("primary").await;
    assert_eq!(records.len(), 8, "five inserts, one modify, two removes");
    // The Streams API writes `PrincipalId`; a Lambda event `principalId`: the codec takes both.
    assert_eq!(
        records[7]["userIdentity"]["PrincipalId"], "dynamodb.amazonaws.com",
        "{}",
        records[7]
    );

    let config = Config::from_env(|name| match name {
        "ReplicaTable" => Some("replica".to_owned()),
        "ReplicaEndpoint" => Some(env.endpoint.clone()),
        "BackupBucket" => Some("backups".to_owned()),
        "BackupPrefix" => Some("inc".to_owned()),
        _ => None,
    })
    .unwrap();
    let connection = Connection {
        endpoint_url: Some(env.endpoint.clone()),
        ..Connection::default()
    };
    for kind in [HandlerKind::Replicate, HandlerKind::Backup] {
        let handler = Handler::new(kind, config.clone(), &connection).await.unwrap();
        // Lambda's batches: three records at a time, the second batch delivered twice.
        for (n, batch) in records.chunks(3).enumerate() {
            let event = serde_json::json!({ "Records": batch }).to_string();
            for _ in 0..(1 + n % 2) {
                let outcome = handler.invoke_text(&event, None).await.unwrap();
                assert!(outcome.summary.is_complete(), "{kind:?}: {:?}", outcome.summary);
                assert_eq!(outcome.summary.records, batch.len());
                assert!(outcome.lag(ddbrep::drive::run::Clock::start().now()).is_some());
            }
        }
    }

    check_replica_and_backup(&env).await;
}

/// After the handlers ran on [`write_history`]: `diff-tables` finds the replica equal, every key's backup
/// object equals its item, the deleted and expired keys end in delete markers, the modified key kept both
/// states once each.
async fn check_replica_and_backup(env: &TestEnv) {
    let diff = env
        .ddbrep(&["diff-tables", &env.table("primary"), &env.table("replica")])
        .await;
    assert_eq!(diff.code, 0, "{diff:?}");
    assert_eq!(diff.tagged("discrepancies"), ["0", "0"]);

    // Every key's object equals its item; the deleted key's object is gone.
    let schema = KeySchema::composite("hash", ScalarType::S, "range", ScalarType::N);
    let primary = env.scan("primary").await;
    assert_eq!(primary.len(), 3);
    for text in &primary {
        let item = ddb_json::parse_item(text).unwrap();
        let key = schema.key_of(&item).unwrap();
        let body = env
            .get_object("backups", &backup_key::object_key("inc", "primary", &key))
            .await;
        assert_eq!(
            common::canonical(std::str::from_utf8(&body).unwrap()),
            common::canonical(text)
        );
    }
    let deleted = schema
        .parse_key(&ddb_json::parse_item(r#"{"hash":{"S":"a"},"range":{"N":"2"}}"#).unwrap())
        .unwrap();
    let gone = env
        .s3
        .get_object()
        .bucket("backups")
        .key(backup_key::object_key("inc", "primary", &deleted))
        .send()
        .await;
    assert!(gone.is_err(), "the deleted item's object is a delete marker");
    let expired = schema
        .parse_key(&ddb_json::parse_item(r#"{"hash":{"S":"t"},"range":{"N":"9"}}"#).unwrap())
        .unwrap();
    let listed = env
        .s3
        .list_object_versions()
        .bucket("backups")
        .prefix(backup_key::object_key("inc", "primary", &expired))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (listed.versions().len(), listed.delete_markers().len()),
        (1, 1),
        "the expired item was backed up, then deleted"
    );
    // The modified key kept both states, once each, despite the duplicate delivery.
    let c = schema
        .parse_key(&ddb_json::parse_item(r#"{"hash":{"S":"c"},"range":{"N":"3"}}"#).unwrap())
        .unwrap();
    let listed = env
        .s3
        .list_object_versions()
        .bucket("backups")
        .prefix(backup_key::object_key("inc", "primary", &c))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.versions().len(), 2);
}
