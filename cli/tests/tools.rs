//! Every tool end to end: the real `ddbrep` binary against a real `ddbrep-emu` over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{canonical, gunzip, start, TestEnv};

const PRIMARY: [&str; 3] = [
    r#"{"hash":{"S":"hash1"},"range":{"S":"range1"},"other":{"N":"1"}}"#,
    r#"{"hash":{"S":"hash1"},"range":{"S":"range2"},"other":{"N":"2"}}"#,
    r#"{"hash":{"S":"hash1"},"range":{"S":"range4"},"other":{"B":"aGVsbG8gd29ybGQ="}}"#,
];
const REPLICA: [&str; 3] = [
    r#"{"hash":{"S":"hash1"},"range":{"S":"range2"},"other":{"N":"10000"}}"#,
    r#"{"hash":{"S":"hash1"},"range":{"S":"range3"},"other":{"N":"3"}}"#,
    r#"{"hash":{"S":"hash1"},"range":{"S":"range4"},"other":{"B":"aGVsbG8gd29ybGQ="}}"#,
];

/// Items with every type, 38-digit numbers, binary, sets and nested maps.
const RICH: [&str; 3] = [
    r#"{"hash":{"S":"a"},"n":{"N":"12345678901234567890123456789012345678"},"tiny":{"N":"-0.000000000000000000000000000000000000001"},"b":{"B":"AAEC/w=="}}"#,
    r#"{"hash":{"S":"b"},"ss":{"SS":["x","y"]},"ns":{"NS":["1","99999999999999999999999999999999999999"]},"bs":{"BS":["AA==","AQ=="]}}"#,
    r#"{"hash":{"S":"c"},"m":{"M":{"deep":{"M":{"l":{"L":[{"NULL":true},{"BOOL":false},{"S":""}]}}}}}}"#,
];

async fn original_scenario() -> TestEnv {
    let env = start().await;
    env.create_table("primary", true).await;
    env.create_table("replica", true).await;
    for item in PRIMARY {
        env.put("primary", item).await;
    }
    for item in REPLICA {
        env.put("replica", item).await;
    }
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_tables_runs_the_originals_scenario() {
    let env = original_scenario().await;
    let (p, r) = (env.table("primary"), env.table("replica"));
    for _ in 0..2 {
        let run = env.ddbrep(&["diff-tables", &p, &r]).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.tagged("missing"), [r#"{"hash":"hash1","range":"range1"}"#]);
        assert_eq!(run.tagged("different").len(), 2);
        assert_eq!(run.tagged("extraneous"), [r#"{"hash":"hash1","range":"range3"}"#]);
        assert_eq!(run.tagged("discrepancies"), ["2", "2"]);
        assert!(run
            .tagged("progress")
            .last()
            .unwrap()
            .starts_with("Scan rate: 6 items @ "));
        assert!(
            run.stdout.lines().all(|l| l.contains("] [info] [diff-tables] [")),
            "{}",
            run.stdout
        );
    }
    let before = env.scan("replica").await;
    let failing = env.ddbrep(&["diff-tables", &p, &r, "--exit-code"]).await;
    assert_eq!(failing.code, 1, "{failing:?}");
    assert_eq!(
        env.scan("replica").await,
        before,
        "a diff without --repair writes nothing"
    );

    let repair = env.ddbrep(&["diff-tables", &p, &r, "--repair"]).await;
    assert_eq!(repair.code, 0, "{repair:?}");
    assert_eq!(repair.tagged("discrepancies"), ["2", "1"]);
    assert_eq!(env.scan("replica").await, env.scan("primary").await);

    let clean = env
        .ddbrep(&["diff-tables", &p, &r, "--exit-code", "--json"])
        .await;
    assert_eq!(clean.code, 0, "{clean:?}");
    let last: serde_json::Value = serde_json::from_str(clean.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(last["discrepancies"], 0);
    assert_eq!(last["scanned"], 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_tables_backfill_and_ignore() {
    let env = original_scenario().await;
    let (p, r) = (env.table("primary"), env.table("replica"));
    let backfill = env
        .ddbrep(&["diff-tables", &p, &r, "--repair", "--backfill"])
        .await;
    assert_eq!(backfill.code, 0, "{backfill:?}");
    assert_eq!(backfill.tagged("discrepancies").len(), 1, "one pass only");
    // The extraneous item stays: backfill only copies the primary over.
    let replica = env.scan("replica").await;
    assert_eq!(replica.len(), 4);
    assert!(replica.iter().any(|i| i.contains("range3")));

    env.put(
        "primary",
        r#"{"hash":{"S":"x"},"range":{"S":"y"},"aws:rep:updatetime":{"N":"1"}}"#,
    )
    .await;
    env.put(
        "replica",
        r#"{"hash":{"S":"x"},"range":{"S":"y"},"aws:rep:updatetime":{"N":"2"}}"#,
    )
    .await;
    let ignoring = env
        .ddbrep(&["diff-tables", &p, &r, "--ignore", "aws:rep:updatetime", "--json"])
        .await;
    assert_eq!(ignoring.code, 0);
    assert!(
        !ignoring.stdout.contains(r#""hash":{"S":"x"}"#),
        "{}",
        ignoring.stdout
    );
    let strict = env.ddbrep(&["diff-tables", &p, &r]).await;
    assert!(strict
        .tagged("different")
        .iter()
        .any(|k| k.contains(r#""hash":"x""#)));
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_tables_over_many_pages_reports_exactly_the_changed_keys_in_pass_order() {
    let env = start().await;
    env.create_table("primary", false).await;
    env.create_table("replica", false).await;
    // 3,000 items of about 1 KB: four 1 MB Scan pages per table, and more with --parallel.
    let pad = "x".repeat(1000);
    let item =
        |k: &str, v: usize| format!(r#"{{"hash":{{"S":"{k}"}},"v":{{"N":"{v}"}},"pad":{{"S":"{pad}"}}}}"#);
    let primary: Vec<String> = (0..3000).map(|i| item(&format!("k{i:04}"), i)).collect();
    let mut replica: Vec<String> = (0..3000)
        .filter(|i| i % 300 != 1) // 10 missing
        .map(|i| item(&format!("k{i:04}"), if i % 300 == 2 { i + 1 } else { i })) // 10 different
        .collect();
    replica.extend((0..10).map(|i| item(&format!("extra{i}"), i))); // 10 extraneous
    env.put_many("primary", &primary).await;
    env.put_many("replica", &replica).await;
    let (p, r) = (env.table("primary"), env.table("replica"));
    let key = |k: String| format!(r#"{{"hash":"{k}"}}"#);
    let missing: BTreeSet<String> = (0..10).map(|i| key(format!("k{:04}", i * 300 + 1))).collect();
    let different: BTreeSet<String> = (0..10).map(|i| key(format!("k{:04}", i * 300 + 2))).collect();
    let extraneous: BTreeSet<String> = (0..10).map(|i| key(format!("extra{i}"))).collect();
    for parallel in ["1", "3"] {
        let run = env.ddbrep(&["diff-tables", &p, &r, "--parallel", parallel]).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            run.tagged("missing").into_iter().collect::<BTreeSet<_>>(),
            missing
        );
        assert_eq!(
            run.tagged("extraneous").into_iter().collect::<BTreeSet<_>>(),
            extraneous
        );
        let seen = run.tagged("different");
        assert_eq!(seen.len(), 20, "each different key once per pass");
        assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), different);
        assert_eq!(run.tagged("discrepancies"), ["20", "20"]);
        // The original's shape: pass 1's lines, its count, pass 2's lines, its count.
        let lines: Vec<&str> = run.stdout.lines().collect();
        let first_count = lines.iter().position(|l| l.contains("[discrepancies] ")).unwrap();
        for (i, line) in lines.iter().enumerate() {
            if line.contains("[missing] ") {
                assert!(i < first_count, "{line}");
            }
            if line.contains("[extraneous] ") {
                assert!(i > first_count, "{line}");
            }
        }
    }
    let repair = env.ddbrep(&["diff-tables", &p, &r, "--repair"]).await;
    assert_eq!(repair.code, 0, "{repair:?}");
    assert_eq!(
        repair.tagged("discrepancies"),
        ["20", "10"],
        "pass 2 sees only the extraneous keys"
    );
    let again = env.ddbrep(&["diff-tables", &p, &r, "--exit-code"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(env.scan("primary").await, env.scan("replica").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn segmented_and_parallel_runs_cover_the_table_exactly_once() {
    let env = start().await;
    env.create_table("primary", false).await;
    env.create_table("replica", false).await;
    for i in 0..60 {
        env.put(
            "primary",
            &format!(r#"{{"hash":{{"S":"k{i}"}},"v":{{"N":"{i}"}}}}"#),
        )
        .await;
    }
    let (p, r) = (env.table("primary"), env.table("replica"));
    let whole: BTreeSet<String> = env
        .ddbrep(&["diff-tables", &p, &r])
        .await
        .tagged("missing")
        .into_iter()
        .collect();
    assert_eq!(whole.len(), 60);
    let mut union = Vec::new();
    for segment in 0..3 {
        let s = segment.to_string();
        let run = env
            .ddbrep(&[
                "diff-tables",
                &p,
                &r,
                "--segment",
                &s,
                "--segments",
                "3",
                "--parallel",
                "2",
            ])
            .await;
        assert_eq!(run.code, 0, "{run:?}");
        union.extend(run.tagged("missing"));
    }
    assert_eq!(union.len(), 60, "no key twice");
    assert_eq!(union.into_iter().collect::<BTreeSet<_>>(), whole);
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_table_writes_gzip_segments_exactly() {
    let env = start().await;
    env.create_table("rich", false).await;
    env.create_bucket("backups", false).await;
    for item in RICH {
        env.put("rich", item).await;
    }
    for i in 0..40 {
        env.put(
            "rich",
            &format!(r#"{{"hash":{{"S":"n{i}"}},"v":{{"N":"{i}.5"}}}}"#),
        )
        .await;
    }
    let t = env.table("rich");
    let run = env
        .ddbrep(&["backup-table", &t, "s3://backups/dumps", "--jobid", "job1"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.tagged("segment 0").len(), 3, "{}", run.stdout);
    let text = gunzip(&env.get_object("backups", "dumps/job1/0").await);
    assert!(text.ends_with('\n'));
    let mut lines: Vec<String> = text.lines().map(canonical).collect();
    lines.sort();
    assert_eq!(lines, env.scan("rich").await);
    for item in RICH {
        assert!(lines.contains(&canonical(item)), "{item} survives exactly");
    }

    // Four segments in one process: four objects whose union is the table.
    let run = env
        .ddbrep(&[
            "backup-table",
            &t,
            "s3://backups/dumps",
            "--jobid",
            "job2",
            "--parallel",
            "4",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(env.keys("backups", "dumps/job2/").await.len(), 4);
    let mut all = Vec::new();
    for s in 0..4 {
        all.extend(
            gunzip(&env.get_object("backups", &format!("dumps/job2/{s}")).await)
                .lines()
                .map(canonical),
        );
    }
    all.sort();
    assert_eq!(all, env.scan("rich").await);

    // A generated job id is 16 hex characters.
    let run = env
        .ddbrep(&["backup-table", &t, "s3://backups/auto", "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let summary: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    let jobid = summary["jobid"].as_str().unwrap();
    assert!(jobid.len() == 16 && jobid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(env.keys("backups", "auto/").await, [format!("auto/{jobid}/0")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_backfill_snapshot_and_record_tools() {
    let env = start().await;
    env.create_table("rich", false).await;
    env.create_bucket("inc", true).await;
    for item in RICH {
        env.put("rich", item).await;
    }
    let t = env.table("rich");
    let run = env
        .ddbrep(&["incremental-backfill", &t, "s3://inc/backups"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let keys = env.keys("inc", "backups/rich/").await;
    assert_eq!(keys.len(), 3);
    // Bodies: compact DynamoDB-JSON, no newline, at the original's object key.
    let a_key = ddbrep_engine::backup_key::hash_key_json(r#"{"hash":{"S":"a"}}"#);
    let body = env.get_object("inc", &format!("backups/rich/{a_key}")).await;
    assert_eq!(canonical(std::str::from_utf8(&body).unwrap()), canonical(RICH[0]));
    assert!(!body.ends_with(b"\n"));

    let snap = env
        .ddbrep(&[
            "incremental-snapshot",
            "s3://inc/backups/rich",
            "s3://inc/snapshots/rich",
        ])
        .await;
    assert_eq!(snap.code, 0, "{snap:?}");
    assert!(snap.stdout.contains("Wrote 3 items and "), "{}", snap.stdout);
    let mut lines: Vec<String> = gunzip(&env.get_object("inc", "snapshots/rich").await)
        .lines()
        .map(canonical)
        .collect();
    lines.sort();
    assert_eq!(lines, env.scan("rich").await);

    // Change, back up, delete, back up: the history shows each state, newest first.
    env.put("rich", r#"{"hash":{"S":"a"},"n":{"N":"2"}}"#).await;
    let key = r#"{"hash":"a"}"#;
    let differs = env
        .ddbrep(&[
            "incremental-diff-record",
            &t,
            "s3://inc/backups",
            key,
            "--exit-code",
        ])
        .await;
    assert_eq!(differs.code, 1, "{differs:?}");
    assert!(differs.stdout.contains("✘ The records are not equivalent"));
    let backed = env
        .ddbrep(&["incremental-backup-record", &t, "s3://inc/backups", key])
        .await;
    assert_eq!(backed.code, 0, "{backed:?}");
    assert_eq!(backed.tagged("written").len(), 1);
    let same = env
        .ddbrep(&[
            "incremental-diff-record",
            &t,
            "s3://inc/backups",
            r#"{"hash":{"S":"a"}}"#,
            "--exit-code",
        ])
        .await;
    assert_eq!(same.code, 0, "{same:?}");
    env.delete("rich", r#"{"hash":{"S":"a"}}"#).await;
    let removed = env
        .ddbrep(&["incremental-backup-record", &t, "s3://inc/backups", key])
        .await;
    assert_eq!(removed.code, 0, "{removed:?}");

    let history = env
        .ddbrep(&["incremental-record-history", &t, "s3://inc/backups", key])
        .await;
    assert_eq!(history.code, 0, "{history:?}");
    let blocks: Vec<&str> = history.stdout.split("Modified: ").skip(1).collect();
    assert_eq!(blocks.len(), 3, "{}", history.stdout);
    assert!(blocks[0].contains("Record was deleted"));
    assert!(blocks[1].contains(r#""n": 2"#), "{}", blocks[1]);
    assert!(blocks[2].contains("12345678901234567890123456789012345678"));
    let json = env
        .ddbrep(&[
            "incremental-record-history",
            &t,
            "s3://inc/backups",
            key,
            "--json",
        ])
        .await;
    assert_eq!(json.stdout.lines().count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_record_and_replicate_record() {
    let env = original_scenario().await;
    let (p, r) = (env.table("primary"), env.table("replica"));
    let key = r#"{"hash":"hash1","range":"range2"}"#;
    let diff = env.ddbrep(&["diff-record", &p, &r, key]).await;
    assert_eq!(diff.code, 0, "a difference without --exit-code is not a failure");
    assert!(
        diff.stdout.starts_with("Primary record\n--------------\n"),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains("✘ The records are not equivalent"));
    let replicated = env.ddbrep(&["replicate-record", &p, &r, key]).await;
    assert_eq!(replicated.code, 0, "{replicated:?}");
    let again = env
        .ddbrep(&[
            "diff-record",
            &p,
            &r,
            r#"{"hash":{"S":"hash1"},"range":{"S":"range2"}}"#,
            "--exit-code",
        ])
        .await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("✔ The records are equivalent"));
    // replicate-record of a key the primary lacks deletes it from the replica.
    let gone = env
        .ddbrep(&["replicate-record", &p, &r, r#"{"hash":"hash1","range":"range3"}"#])
        .await;
    assert_eq!(gone.code, 0, "{gone:?}");
    assert!(!env.scan("replica").await.iter().any(|i| i.contains("range3")));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_message_and_exit_code() {
    let env = original_scenario().await;
    env.create_bucket("exists", false).await;
    let (p, r) = (env.table("primary"), env.table("replica"));
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec!["diff-tables".into(), "nowhere".into(), r.clone()],
            2,
            "invalid table location",
        ),
        (
            vec!["diff-record".into(), p.clone(), r.clone(), "{not json".into()],
            2,
            "invalid key",
        ),
        (
            vec![
                "diff-record".into(),
                p.clone(),
                r.clone(),
                r#"{"hash":"hash1"}"#.into(),
            ],
            2,
            "invalid key",
        ),
        (
            vec!["diff-tables".into(), env.table("missing"), r.clone()],
            3,
            "table",
        ),
        (
            vec!["backup-table".into(), p.clone(), "s3://no-such-bucket/x".into()],
            3,
            "bucket s3://no-such-bucket does not exist",
        ),
        (
            vec!["backup-table".into(), p.clone(), "not-s3".into()],
            2,
            "invalid S3 location",
        ),
        (
            vec![
                "incremental-snapshot".into(),
                "s3://exists/a".into(),
                "s3://exists".into(),
            ],
            2,
            "object key",
        ),
        (
            vec![
                "backup-table".into(),
                p.clone(),
                "s3://exists/x".into(),
                "--metric".into(),
                "nometric".into(),
            ],
            2,
            "namespace/metric-name",
        ),
    ];
    for (args, code, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = env.ddbrep(&args).await;
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    let missing = env.ddbrep(&["diff-tables", &env.table("missing"), &r]).await;
    assert!(missing.stderr.contains("does not exist"), "{}", missing.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repair_racing_live_replication_converges() {
    let env = start().await;
    env.create_table("primary", false).await;
    env.create_table("replica", false).await;
    for i in 0..200 {
        let item = format!(r#"{{"hash":{{"S":"k{i}"}},"v":{{"N":"0"}}}}"#);
        env.put("primary", &item).await;
        if i % 3 != 0 {
            env.put("replica", &item).await;
        }
    }
    let (p, r) = (env.table("primary"), env.table("replica"));
    // The "live pipeline": every write goes to the primary, then (like a stream record) to the replica;
    // a quarter are deletes.
    let writer = {
        let ddb = env.ddb.clone();
        tokio::spawn(async move {
            for round in 1..=300u32 {
                let key = format!("k{}", (round * 7) % 200);
                let k = ddbrep_engine::codec::ddb_json::parse_item(&format!(r#"{{"hash":{{"S":"{key}"}}}}"#))
                    .unwrap();
                let item = ddbrep_engine::codec::ddb_json::parse_item(&format!(
                    r#"{{"hash":{{"S":"{key}"}},"v":{{"N":"{round}"}}}}"#
                ))
                .unwrap();
                for table in ["primary", "replica"] {
                    if round % 4 == 0 {
                        ddb.delete_item()
                            .table_name(table)
                            .set_key(Some(ddbrep::drive::convert::item_to_sdk(&k)))
                            .send()
                            .await
                            .unwrap();
                    } else {
                        ddb.put_item()
                            .table_name(table)
                            .set_item(Some(ddbrep::drive::convert::item_to_sdk(&item)))
                            .send()
                            .await
                            .unwrap();
                    }
                }
            }
        })
    };
    let repair = env.ddbrep(&["diff-tables", &p, &r, "--repair"]).await;
    writer.await.unwrap();
    assert_eq!(repair.code, 0, "{repair:?}");
    assert_eq!(
        env.scan("replica").await,
        env.scan("primary").await,
        "no stale overwrite, no resurrection"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_go_to_cloudwatch() {
    use std::io::{BufRead, BufReader, Read, Write};
    let env = start().await;
    env.create_table("tbl", false).await;
    env.create_bucket("bkt", false).await;
    env.put("tbl", r#"{"hash":{"S":"a"}}"#).await;
    // A recording CloudWatch: answers every request with an empty 200 and keeps what it got.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cw = format!("http://{}", listener.local_addr().unwrap());
    let recorder = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = reader.into_inner();
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        (head, body)
    });
    let run = common::run_ddbrep(
        &[
            "backup-table",
            &env.table("tbl"),
            "s3://bkt/d",
            "--metric",
            "ddbrep-ns/BackupTest",
        ],
        &[
            ("AWS_ENDPOINT_URL", &env.endpoint),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", &cw),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let (head, body) = recorder.join().unwrap();
    let text = format!("{head}{}", String::from_utf8_lossy(&body));
    assert!(text.contains("PutMetricData"), "{text}");
    for expected in ["ddbrep-ns", "BackupTest", "RecordCount", "Size"] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
}

/// On a terminal the tools show a live progress bar on stderr instead of `[progress]` lines; piped, they
/// print the lines. Runs the real binary under `script`, which gives it a pseudo-terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_gets_a_progress_bar_and_a_pipe_gets_progress_lines() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `script` (util-linux) is not installed, so no pseudo-terminal");
        return;
    }
    let env = start().await;
    env.create_table("bar", false).await;
    env.create_bucket("bars", true).await;
    for i in 0..50 {
        env.put("bar", &format!(r#"{{"hash":{{"S":"k{i}"}}}}"#)).await;
    }
    let table = env.table("bar");
    let piped = env
        .ddbrep(&["incremental-backfill", &table, "s3://bars/inc"])
        .await;
    assert_eq!(piped.code, 0, "{piped:?}");
    assert!(!piped.tagged("progress").is_empty(), "{}", piped.stdout);

    let command = format!(
        "{} incremental-backfill {table} s3://bars/tty",
        env!("CARGO_BIN_EXE_ddbrep")
    );
    let endpoint = env.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"]);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("TERM", "xterm")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let terminal = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{terminal}");
    // Everything the tool printed went to the terminal: the log lines, but no [progress] line.
    assert!(terminal.contains("[incremental-backfill]"), "{terminal}");
    assert!(!terminal.contains("[progress]"), "{terminal}");
    assert_eq!(env.keys("bars", "tty/bar/").await.len(), 50);
}

/// The `items_per_second` of every "pacing from the capacity consumed" log line.
fn paced_rates(stderr: &str) -> Vec<u64> {
    stderr
        .lines()
        .filter(|l| l.contains("pacing from the capacity consumed"))
        .filter_map(|l| l.split("items_per_second=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// `--capacity-fraction` on a provisioned table starts from DescribeTable's average item size, then paces
/// by what the table reports consumed (ReturnConsumedCapacity): a Scan is charged by its page's bytes, so
/// small items cost far less than the half unit each the estimate assumes, and the rate goes up to what
/// the budget really allows; `--max-rate` stays a ceiling. Writes (restore) are metered in write units.
#[tokio::test(flavor = "multi_thread")]
async fn a_capacity_fraction_paces_by_the_capacity_the_table_reports_consumed() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, KeySchemaElement, KeyType, ProvisionedThroughput, ScalarAttributeType,
    };
    let env = start().await;
    env.ddb
        .create_table()
        .table_name("provisioned")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("hash")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("hash")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(100)
                .write_capacity_units(100)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    env.create_bucket("dumps", false).await;
    for i in 0..400 {
        env.put(
            "provisioned",
            &format!(
                r#"{{"hash":{{"S":"k{i:04}"}},"pad":{{"S":"{}"}}}}"#,
                "x".repeat(80)
            ),
        )
        .await;
    }
    let table = env.table("provisioned");
    let run = |args: Vec<String>| {
        let endpoint = env.endpoint.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::run_ddbrep(&args, &[("AWS_ENDPOINT_URL", &endpoint), ("DDBREP_LOG", "info")]).await
        }
    };
    let dump = |jobid: &str, extra: &[&str]| {
        let mut args: Vec<String> = ["backup-table", &table, "s3://dumps/d", "--jobid", jobid]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    // Half of 100 read units is 50 units/s. The estimate: 0.5 units per ~100-byte item, 100 items/s.
    // Consumed: a page of 100 such items is ~10 KB, 3 units of 4 KB, 1.5 eventually consistent, so
    // 0.015 units per item and some 3,000 items/s.
    let paced = run(dump("j1", &["--capacity-fraction", "0.5"])).await;
    assert_eq!(paced.code, 0, "{paced:?}");
    let rates = paced_rates(&paced.stderr);
    assert!(
        rates.first().is_some_and(|r| (1_000..=10_000).contains(r)),
        "{rates:?}\n{}",
        paced.stderr
    );
    let lines = gunzip(&env.get_object("dumps", "d/j1/0").await);
    assert_eq!(lines.lines().count(), 400);
    // --max-rate is a ceiling for the measured rate too.
    let capped = run(dump("j2", &["--capacity-fraction", "0.5", "--max-rate", "200"])).await;
    assert_eq!(capped.code, 0, "{capped:?}");
    assert_eq!(paced_rates(&capped.stderr), [200], "{}", capped.stderr);
    // Without a fraction nothing is metered.
    let unmetered = run(dump("j3", &["--max-rate", "100000"])).await;
    assert_eq!(unmetered.code, 0, "{unmetered:?}");
    assert!(paced_rates(&unmetered.stderr).is_empty(), "{}", unmetered.stderr);

    // A restore into the table is metered in write units: one per item under 1 KB, so the budget of
    // 50 units/s is 50 items/s. Thirty items changed since the dump are put back.
    for i in 0..30 {
        env.put(
            "provisioned",
            &format!(r#"{{"hash":{{"S":"k{i:04}"}},"pad":{{"S":"changed"}}}}"#),
        )
        .await;
    }
    let restore = run([
        "restore-table",
        "s3://dumps/d/j1",
        &table,
        "--overwrite",
        "--capacity-fraction",
        "0.5",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect())
    .await;
    assert_eq!(restore.code, 0, "{restore:?}");
    assert!(restore.stdout.contains("Wrote 30 items"), "{}", restore.stdout);
    assert_eq!(paced_rates(&restore.stderr), [50], "{}", restore.stderr);
}
