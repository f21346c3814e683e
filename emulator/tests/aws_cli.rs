//! The AWS CLI against a real emulator, as users run it. Needs `aws` (`pip install awscli`); CI installs it.
//! Outside CI a missing `aws` skips these tests with a message.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

/// Runs `aws --endpoint-url … <args>` and returns its parsed JSON output.
fn aws(endpoint: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("aws")
        .arg("--endpoint-url")
        .arg(endpoint)
        .args(["--output", "json"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_PAGER", "")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether the CLI is there; in CI it must be.
fn have_aws() -> bool {
    let found = Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "the AWS CLI is required in CI (pip install awscli)"
        );
        eprintln!("skipped: the AWS CLI is not installed (pip install awscli)");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_creates_writes_scans_and_reads_the_stream() {
    if !have_aws() {
        return;
    }
    let t = common::start().await;
    let url = t.running.endpoint();
    let endpoint = url.as_str();
    let created = tokio::task::spawn_blocking({
        let endpoint = endpoint.to_owned();
        move || {
            aws(
                &endpoint,
                &[
                    "dynamodb",
                    "create-table",
                    "--table-name",
                    "cli-table",
                    "--attribute-definitions",
                    "AttributeName=pk,AttributeType=S",
                    "AttributeName=sk,AttributeType=N",
                    "--key-schema",
                    "AttributeName=pk,KeyType=HASH",
                    "AttributeName=sk,KeyType=RANGE",
                    "--billing-mode",
                    "PAY_PER_REQUEST",
                    "--stream-specification",
                    "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES",
                ],
            )
        }
    })
    .await
    .unwrap();
    let stream_arn = created["TableDescription"]["LatestStreamArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let endpoint = endpoint.to_owned();
    tokio::task::spawn_blocking(move || {
        aws(&endpoint, &["dynamodb", "wait", "table-exists", "--table-name", "cli-table"]);
        for sk in ["1", "2", "3"] {
            let item = format!(r#"{{"pk":{{"S":"p"}},"sk":{{"N":"{sk}"}},"big":{{"N":"12345678901234567890123456789012345678"}}}}"#);
            aws(&endpoint, &["dynamodb", "put-item", "--table-name", "cli-table", "--item", &item]);
        }
        let scan = aws(&endpoint, &["dynamodb", "scan", "--table-name", "cli-table"]);
        assert_eq!(scan["Count"], 3);
        assert_eq!(scan["Items"][0]["big"]["N"], "12345678901234567890123456789012345678");
        let query = aws(
            &endpoint,
            &[
                "dynamodb", "query", "--table-name", "cli-table",
                "--key-condition-expression", "pk = :p AND sk >= :min",
                "--expression-attribute-values", r#"{":p":{"S":"p"},":min":{"N":"2"}}"#,
                "--scan-index-forward",
            ],
        );
        assert_eq!(query["Count"], 2);
        assert_eq!(query["Items"][0]["sk"]["N"], "2");
        let tables = aws(&endpoint, &["dynamodb", "list-tables"]);
        assert_eq!(tables["TableNames"], serde_json::json!(["cli-table"]));

        let stream = aws(&endpoint, &["dynamodbstreams", "describe-stream", "--stream-arn", &stream_arn]);
        let shard = stream["StreamDescription"]["Shards"][0]["ShardId"].as_str().unwrap().to_owned();
        let iterator = aws(
            &endpoint,
            &["dynamodbstreams", "get-shard-iterator", "--stream-arn", &stream_arn, "--shard-id", &shard, "--shard-iterator-type", "TRIM_HORIZON"],
        );
        let records = aws(
            &endpoint,
            &["dynamodbstreams", "get-records", "--shard-iterator", iterator["ShardIterator"].as_str().unwrap()],
        );
        let records = records["Records"].as_array().unwrap();
        assert_eq!(records.len(), 3);
        assert!(records.iter().all(|r| r["eventName"] == "INSERT"));
    })
    .await
    .unwrap();
}
