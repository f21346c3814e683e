//! restore-table end to end against a real `ddbrep-emu` over HTTP, through the real `ddbrep` binary: an
//! incremental folder written by `incremental-backfill`, a `backup-table` dump and an `incremental-snapshot`
//! restored into new tables (diff-tables then reports 0), a folder written by the emulator's own backup pipeline restored to several instants of a recorded
//! change history, into existing tables with --only-missing and --overwrite, a dry run, and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::TestEnv;
use ddbrep_emu::clock::{Clock as _, ManualClock};
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::Item;
use ddbrep_engine::time::Millis;

/// Composite keys; 38-digit numbers, binary, sets, nested maps.
const ITEMS: [&str; 4] = [
    r#"{"hash":{"S":"a"},"range":{"N":"1"},"n":{"N":"12345678901234567890123456789012345678"},"b":{"B":"AAEC/w=="}}"#,
    r#"{"hash":{"S":"a"},"range":{"N":"2"},"ss":{"SS":["x","y"]},"ns":{"NS":["1","99999999999999999999999999999999999999"]},"bs":{"BS":["AA==","AQ=="]}}"#,
    r#"{"hash":{"S":"b"},"range":{"N":"-0.000000000000000000000000000000000000001"},"m":{"M":{"deep":{"M":{"l":{"L":[{"NULL":true},{"BOOL":false},{"S":""}]}}}}}}"#,
    r#"{"hash":{"S":"c"},"range":{"N":"3"},"v":{"N":"1"}}"#,
];

const KEY_SCHEMA: &str = "hash:S,range:N";

/// The items of a table, as model items (whose equality ignores attribute order).
async fn items(env: &TestEnv, table: &str) -> Vec<Item> {
    let mut out: Vec<Item> = env
        .scan(table)
        .await
        .iter()
        .map(|t| ddb_json::parse_item(t).unwrap())
        .collect();
    out.sort_by_key(ddb_json::item_to_string);
    out
}

/// An emulator whose table `primary` holds [`ITEMS`], backfilled into `s3://backups/inc/primary`.
async fn backfilled() -> TestEnv {
    let env = common::start().await;
    env.create_stream_table("primary").await;
    env.create_bucket("backups", true).await;
    for item in ITEMS {
        env.put("primary", item).await;
    }
    let backfill = env
        .ddbrep(&["incremental-backfill", &env.table("primary"), "s3://backups/inc"])
        .await;
    assert_eq!(backfill.code, 0, "{backfill:?}");
    env
}

fn same(a: &[Item], b: &[Item]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfilled_folder_restores_into_a_new_table_that_diff_tables_finds_equal() {
    let env = backfilled().await;
    let restore = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("restored"),
            "--key-schema",
            KEY_SCHEMA,
        ])
        .await;
    assert_eq!(restore.code, 0, "{restore:?}");
    assert!(restore.stdout.contains("Wrote 4 items"), "{}", restore.stdout);
    let diff = env
        .ddbrep(&["diff-tables", &env.table("primary"), &env.table("restored")])
        .await;
    assert_eq!(diff.code, 0, "{diff:?}");
    assert_eq!(diff.tagged("discrepancies"), ["0", "0"]);
    assert!(same(
        &items(&env, "primary").await,
        &items(&env, "restored").await
    ));

    // The same table through a backup-table dump (in three segments, read two at a time) and an
    // incremental-snapshot, each detected from the source.
    let dump = env
        .ddbrep(&[
            "backup-table",
            &env.table("primary"),
            "s3://backups/dumps",
            "--jobid",
            "j1",
            "--parallel",
            "3",
        ])
        .await;
    assert_eq!(dump.code, 0, "{dump:?}");
    let snapshot = env
        .ddbrep(&[
            "incremental-snapshot",
            "s3://backups/inc/primary",
            "s3://backups/snapshots/primary",
        ])
        .await;
    assert_eq!(snapshot.code, 0, "{snapshot:?}");
    for (source, kind, table) in [
        ("s3://backups/dumps/j1", "a backup-table dump", "from-dump"),
        (
            "s3://backups/snapshots/primary",
            "an incremental-snapshot object",
            "from-snapshot",
        ),
    ] {
        let run = env
            .ddbrep(&[
                "restore-table",
                source,
                &env.table(table),
                "--key-schema",
                KEY_SCHEMA,
                "--parallel",
                "2",
            ])
            .await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains(kind), "{}", run.stdout);
        let diff = env
            .ddbrep(&["diff-tables", &env.table("primary"), &env.table(table)])
            .await;
        assert_eq!(diff.tagged("discrepancies"), ["0", "0"], "{table}: {diff:?}");
    }
    let at = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/dumps/j1",
            &env.table("x"),
            "--key-schema",
            KEY_SCHEMA,
            "--at",
            "1700000000",
        ])
        .await;
    assert_eq!(at.code, 2, "{at:?}");
    assert!(
        at.stderr.contains("--at needs an incremental folder"),
        "{}",
        at.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipelines_backup_restores_to_each_recorded_instant() {
    let (env, clock) = common::start_backed_up().await;
    // Three phases, ten seconds apart on the emulator's clock: the states to restore.
    for item in ITEMS {
        env.put("primary", item).await;
    }
    env.caught_up().await;
    // A second on: S3 times a delete marker by LastModified, in whole seconds (its second's end).
    clock.advance(1_000);
    let t1 = clock.now().0;
    let state1 = items(&env, "primary").await;
    clock.advance(10_000);
    env.put("primary", r#"{"hash":{"S":"c"},"range":{"N":"3"},"v":{"N":"2"}}"#)
        .await;
    env.delete("primary", r#"{"hash":{"S":"a"},"range":{"N":"1"}}"#)
        .await;
    env.caught_up().await;
    clock.advance(1_000);
    let t2 = clock.now().0;
    let state2 = items(&env, "primary").await;
    clock.advance(10_000);
    env.put(
        "primary",
        r#"{"hash":{"S":"a"},"range":{"N":"1"},"back":{"BOOL":true}}"#,
    )
    .await;
    env.delete(
        "primary",
        r#"{"hash":{"S":"b"},"range":{"N":"-0.000000000000000000000000000000000000001"}}"#,
    )
    .await;
    env.caught_up().await;
    let state3 = items(&env, "primary").await;
    assert!(!same(&state1, &state2) && !same(&state2, &state3));

    let at = |t: u64| Millis(t).to_rfc3339();
    for (name, when, expected) in [
        ("at-one", Some(at(t1)), &state1),
        ("at-two", Some(format!("{}.{:03}", t2 / 1000, t2 % 1000)), &state2),
        ("now", None, &state3),
    ] {
        let mut args = vec![
            "restore-table".to_owned(),
            "s3://backups/inc/primary".to_owned(),
            env.table(name),
            "--key-schema".to_owned(),
            KEY_SCHEMA.to_owned(),
        ];
        if let Some(when) = &when {
            args.push("--at".to_owned());
            args.push(when.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = env.ddbrep(&args).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            same(&items(&env, name).await, expected),
            "{name}: {:?} != {:?}",
            items(&env, name).await,
            expected
        );
    }
    // Before the first change there was nothing.
    let run = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("before"),
            "--key-schema",
            KEY_SCHEMA,
            "--at",
            &at(t1 - 60_000),
        ])
        .await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("is before the oldest version"),
        "{}",
        run.stderr
    );
    assert!(items(&env, "before").await.is_empty());

    // --only-missing into an existing table keeps its own items; --overwrite --at makes it the old state.
    env.create_stream_table("live").await;
    env.put("live", r#"{"hash":{"S":"c"},"range":{"N":"3"},"v":{"N":"99"}}"#)
        .await;
    env.put("live", r#"{"hash":{"S":"z"},"range":{"N":"0"}}"#).await;
    let run = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("live"),
            "--at",
            &at(t2),
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.tagged("present").len(), 1, "{}", run.stdout);
    let live = items(&env, "live").await;
    assert!(live
        .contains(&ddb_json::parse_item(r#"{"hash":{"S":"c"},"range":{"N":"3"},"v":{"N":"99"}}"#).unwrap()));
    assert_eq!(live.len(), state2.len() + 1, "state 2 plus the table's own z");
    let run = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("live"),
            "--at",
            &at(t1),
            "--overwrite",
            "--exit-code",
        ])
        .await;
    assert_eq!(run.code, 1, "keys were written: {run:?}");
    let mut expected = state1.clone();
    expected.push(ddb_json::parse_item(r#"{"hash":{"S":"z"},"range":{"N":"0"}}"#).unwrap());
    assert!(
        same(&items(&env, "live").await, &expected),
        "{:?}",
        items(&env, "live").await
    );
    // Once restored, a dry run with --exit-code finds nothing to do.
    let again = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("live"),
            "--at",
            &at(t1),
            "--overwrite",
            "--dry-run",
            "--exit-code",
        ])
        .await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.tagged("put").is_empty() && again.tagged("delete").is_empty(),
        "{}",
        again.stdout
    );

    // A dry run lists what it would write and writes nothing (not even the table).
    let run = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("dry"),
            "--key-schema",
            KEY_SCHEMA,
            "--dry-run",
            "--at",
            &at(t2),
            "--exit-code",
        ])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.tagged("put").len(), state2.len(), "{}", run.stdout);
    let listed = env.ddb.list_tables().send().await.unwrap();
    assert!(!listed.table_names().iter().any(|t| t == "dry"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_error_and_an_unreadable_object_is_named() {
    let env = common::start().await;
    env.create_bucket("backups", true).await;
    env.s3
        .put_object()
        .bucket("backups")
        .key("inc/t/0bad")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{not json"))
        .send()
        .await
        .unwrap();
    env.s3
        .put_object()
        .bucket("backups")
        .key("inc/t/9f00d")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            br#"{"id":{"S":"fine"}}"#,
        ))
        .send()
        .await
        .unwrap();
    let target = env.table("target");
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &["--key-schema", "id:S", "--capacity-fraction", "2"],
            2,
            "--capacity-fraction",
        ),
        (
            &["--key-schema", "id:S", "--at", "yesterday"],
            2,
            "not an instant",
        ),
        (&["--key-schema", "id"], 2, "--key-schema"),
        (&[], 2, "give --key-schema"),
        (&["--key-schema", "id:S", "--from", "nonsense"], 2, "--from"),
        (
            &["--key-schema", "id:S", "--only-missing", "--overwrite"],
            2,
            "not both",
        ),
    ];
    for (extra, code, message) in cases {
        let mut args = vec!["restore-table", "s3://backups/inc/t", &target];
        args.extend_from_slice(extra);
        let run = env.ddbrep(&args).await;
        assert_eq!(run.code, code, "{extra:?}: {run:?}");
        assert!(run.stderr.contains(message), "{extra:?}: {}", run.stderr);
    }
    let no_job = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/dumps/nojob",
            &target,
            "--key-schema",
            "id:S",
        ])
        .await;
    assert_eq!(no_job.code, 3, "{no_job:?}");
    assert!(
        no_job.stderr.contains("neither an object nor a folder"),
        "{}",
        no_job.stderr
    );
    let missing = env
        .ddbrep(&[
            "restore-table",
            "s3://nobucket/inc/t",
            &target,
            "--key-schema",
            "id:S",
        ])
        .await;
    assert_eq!(missing.code, 3, "{missing:?}");
    let run = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/t",
            &target,
            "--key-schema",
            "id:S",
        ])
        .await;
    assert_eq!(run.code, 3, "{run:?}");
    let unreadable = run.tagged("unreadable");
    assert_eq!(unreadable.len(), 1, "{}", run.stdout);
    assert!(
        unreadable[0].starts_with("s3://backups/inc/t/0bad: "),
        "{unreadable:?}"
    );
    assert!(run.stderr.contains("1 objects"), "{}", run.stderr);
    // Everything readable was restored and reported.
    assert_eq!(env.scan("target").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_between_puts_back_only_the_windows_changes_and_keys_restores_only_the_named_ones() {
    let (env, clock) = common::start_backed_up().await;
    let item = |h: &str, v: u32| format!(r#"{{"hash":{{"S":"{h}"}},"range":{{"N":"1"}},"v":{{"N":"{v}"}}}}"#);
    let key = |h: &str| format!(r#"{{"hash":{{"S":"{h}"}},"range":{{"N":"1"}}}}"#);
    for h in ["a", "b", "c"] {
        env.put("primary", &item(h, 1)).await;
    }
    env.caught_up().await;
    // A second on: S3 times a delete marker by LastModified, in whole seconds (its second's end).
    clock.advance(1_000);
    let t1 = clock.now().0;
    clock.advance(10_000);
    // The bad deploy: a changed, b deleted, d created.
    env.put("primary", &item("a", 666)).await;
    env.delete("primary", &key("b")).await;
    env.put("primary", &item("d", 666)).await;
    env.caught_up().await;
    clock.advance(1_000);
    let t2 = clock.now().0;
    clock.advance(10_000);
    // After it: c changed (outside the window), d changed again (a conflict).
    env.put("primary", &item("c", 2)).await;
    env.put("primary", &item("d", 3)).await;
    env.caught_up().await;

    let window = [Millis(t1).to_rfc3339(), Millis(t2).to_rfc3339()];
    let run = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("primary"),
            "--undo-between",
            &window[0],
            &window[1],
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let conflicts = run.tagged("conflict");
    assert_eq!(conflicts.len(), 1, "{}", run.stdout);
    assert!(conflicts[0].contains(r#""hash":"d""#), "{conflicts:?}");
    let parse = |t: &str| ddb_json::parse_item(t).unwrap();
    let expected = vec![
        parse(&item("a", 1)),
        parse(&item("b", 1)),
        parse(&item("c", 2)),
        parse(&item("d", 3)),
    ];
    assert!(
        same(&items(&env, "primary").await, &expected),
        "{:?}",
        items(&env, "primary").await
    );

    // --keys: only the named keys, at an instant, into a new table.
    let dir = std::env::temp_dir().join(format!("ddbrep-restore-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.txt");
    std::fs::write(&file, format!("{{\"hash\":\"a\",\"range\":1}}\n\n{}\n", key("d"))).unwrap();
    let run = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("named"),
            "--key-schema",
            KEY_SCHEMA,
            "--at",
            &window[1],
            "--keys",
            file.to_str().unwrap(),
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let expected = vec![parse(&item("a", 666)), parse(&item("d", 666))];
    assert!(
        same(&items(&env, "named").await, &expected),
        "{:?}",
        items(&env, "named").await
    );
    std::fs::write(&file, "{\"hash\":\"a\",\"range\":1}\n{\"hash\":\"a\"}\n").unwrap();
    let bad = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("named"),
            "--keys",
            file.to_str().unwrap(),
        ])
        .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("line 2"), "{}", bad.stderr);
    let backwards = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("primary"),
            "--undo-between",
            &window[1],
            &window[0],
        ])
        .await;
    assert_eq!(backwards.code, 2, "{backwards:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_diff_table_finds_and_repairs_every_kind_of_difference() {
    let env = backfilled().await;
    let primary = env.table("primary");
    let check = || async {
        env.ddbrep(&[
            "incremental-diff-table",
            &primary,
            "s3://backups/inc",
            "--exit-code",
        ])
        .await
    };
    let clean = check().await;
    assert_eq!(clean.code, 0, "{clean:?}");
    assert_eq!(clean.tagged("discrepancies"), ["0"]);

    // One of each: an item changed without its backup, a new item never backed up, an item deleted with
    // its object left, and an object under a name that is not its key's.
    env.put("primary", r#"{"hash":{"S":"c"},"range":{"N":"3"},"v":{"N":"2"}}"#)
        .await;
    env.put("primary", r#"{"hash":{"S":"n"},"range":{"N":"9"}}"#)
        .await;
    env.delete("primary", r#"{"hash":{"S":"a"},"range":{"N":"1"}}"#)
        .await;
    env.s3
        .put_object()
        .bucket("backups")
        .key("inc/primary/0123abcd")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            br#"{"hash":{"S":"x"},"range":{"N":"0"}}"#,
        ))
        .send()
        .await
        .unwrap();
    let found = check().await;
    assert_eq!(found.code, 1, "{found:?}");
    assert_eq!(found.tagged("different"), [r#"{"hash":"c","range":3}"#]);
    assert_eq!(found.tagged("missing"), [r#"{"hash":"n","range":9}"#]);
    assert_eq!(found.tagged("extraneous"), [r#"{"hash":"a","range":1}"#]);
    assert_eq!(found.tagged("discrepancies"), ["3"]);
    assert_eq!(found.tagged("unreadable").len(), 1, "{}", found.stdout);
    assert!(found.tagged("unreadable")[0].contains("incremental-rekey"));

    let repair = env
        .ddbrep(&[
            "incremental-diff-table",
            &env.table("primary"),
            "s3://backups/inc",
            "--repair",
        ])
        .await;
    assert_eq!(repair.code, 0, "{repair:?}");
    let after = check().await;
    assert_eq!(after.tagged("discrepancies"), ["0"], "{after:?}");
    // The backup now restores to exactly the table.
    let run = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("check"),
            "--key-schema",
            KEY_SCHEMA,
        ])
        .await;
    // Restore reads bodies whatever their names, so the object under the other name comes back too.
    assert_eq!(run.code, 0, "{run:?}");
    let mut expected = items(&env, "primary").await;
    expected.push(ddb_json::parse_item(r#"{"hash":{"S":"x"},"range":{"N":"0"}}"#).unwrap());
    assert!(
        same(&items(&env, "check").await, &expected),
        "{:?}",
        items(&env, "check").await
    );
}

/// A folder in the original's layouts (built here the way the original names objects: the backup Lambda
/// hashed the stream's key order, older versions MD5) is read by incremental-record-history, reported by
/// incremental-diff-table, migrated by incremental-rekey (a dry run first), then checks clean, restores
/// exactly, keeps its history, and a second rekey does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_in_the_originals_layouts_is_read_then_migrated_by_incremental_rekey() {
    use ddbrep_engine::backup_key;
    use ddbrep_engine::model::{KeySchema, ScalarType};
    let clock = Arc::new(ManualClock::new(Millis(1_780_000_000_000)));
    let env = common::start_with(ddbrep_emu::Emulator::builder().clock(clock.clone())).await;
    env.create_stream_table("primary").await;
    env.create_bucket("backups", true).await;
    for item in ITEMS {
        env.put("primary", item).await;
    }
    let schema = KeySchema::composite("hash", ScalarType::S, "range", ScalarType::N);
    // Each key's names: 0 ours (sorted), 1 SHA-256 of the other order, 2 and 3 the MD5 ones.
    let names = |item: &str| -> Vec<String> {
        let key = schema.key_of(&ddb_json::parse_item(item).unwrap()).unwrap();
        backup_key::candidate_object_keys("inc", "primary", &key)
    };
    let put = |name: String, body: String| {
        let s3 = env.s3.clone();
        let clock = clock.clone();
        async move {
            clock.advance(1_000);
            s3.put_object()
                .bucket("backups")
                .key(name)
                .body(aws_sdk_s3::primitives::ByteStream::from(body.into_bytes()))
                .send()
                .await
                .unwrap();
        }
    };
    let older = r#"{"hash":{"S":"a"},"range":{"N":"2"},"old":{"BOOL":true}}"#;
    // Item 0: only under the other order's name, with an older state before it.
    put(names(ITEMS[0])[1].clone(), ITEMS[0].replace("AAEC", "BBEC")).await;
    put(names(ITEMS[0])[1].clone(), ITEMS[0].to_owned()).await;
    // Item 1: an older state under our name (the backfill), its current state under the other order's.
    put(names(ITEMS[1])[0].clone(), older.to_owned()).await;
    put(names(ITEMS[1])[1].clone(), ITEMS[1].to_owned()).await;
    // Item 2: an MD5 name (before the original moved to SHA-256). Item 3: our name.
    put(names(ITEMS[2])[2].clone(), ITEMS[2].to_owned()).await;
    put(names(ITEMS[3])[0].clone(), ITEMS[3].to_owned()).await;
    clock.advance(1_000);
    let primary = env.table("primary");
    let history = |key: &'static str| {
        let env = &env;
        let primary = primary.clone();
        async move {
            let run = env
                .ddbrep(&["incremental-record-history", &primary, "s3://backups/inc", key])
                .await;
            assert_eq!(run.code, 0, "{run:?}");
            run.stdout
        }
    };
    let history_before = history(r#"{"hash":"a","range":2}"#).await;
    assert_eq!(history_before.matches("Modified:").count(), 2, "{history_before}");
    let check = env
        .ddbrep(&[
            "incremental-diff-table",
            &primary,
            "s3://backups/inc",
            "--exit-code",
        ])
        .await;
    assert_eq!(check.code, 1, "{check:?}");
    assert_eq!(check.tagged("unreadable").len(), 3, "{}", check.stdout);

    let listing = env.keys("backups", "inc/primary/").await;
    let dry = env
        .ddbrep(&["incremental-rekey", &primary, "s3://backups/inc", "--dry-run"])
        .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(dry.tagged("rekey").len(), 3, "{}", dry.stdout);
    assert_eq!(env.keys("backups", "inc/primary/").await, listing);

    let rekey = env
        .ddbrep(&["incremental-rekey", &primary, "s3://backups/inc"])
        .await;
    assert_eq!(rekey.code, 0, "{rekey:?}");
    let lines = rekey.tagged("rekey");
    assert_eq!(lines.len(), 3, "{}", rekey.stdout);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(r#"{"hash":"a","range":2}"#) && l.contains("state copied from")),
        "{lines:?}"
    );
    let mut ours: Vec<String> = ITEMS.iter().map(|i| names(i)[0].clone()).collect();
    ours.sort();
    assert_eq!(env.keys("backups", "inc/primary/").await, ours);
    for item in ITEMS {
        let body = env.get_object("backups", &names(item)[0]).await;
        assert_eq!(
            ddb_json::parse_item(std::str::from_utf8(&body).unwrap()).unwrap(),
            ddb_json::parse_item(item).unwrap()
        );
    }

    let clean = env
        .ddbrep(&[
            "incremental-diff-table",
            &primary,
            "s3://backups/inc",
            "--exit-code",
        ])
        .await;
    assert_eq!(clean.code, 0, "{clean:?}");
    assert_eq!(clean.tagged("discrepancies"), ["0"]);
    assert_eq!(history(r#"{"hash":"a","range":2}"#).await, history_before);
    let restore = env
        .ddbrep(&[
            "restore-table",
            "s3://backups/inc/primary",
            &env.table("restored"),
            "--key-schema",
            KEY_SCHEMA,
        ])
        .await;
    assert_eq!(restore.code, 0, "{restore:?}");
    assert!(same(
        &items(&env, "restored").await,
        &items(&env, "primary").await
    ));

    let again = env
        .ddbrep(&["incremental-rekey", &primary, "s3://backups/inc", "--json"])
        .await;
    assert_eq!(again.code, 0, "{again:?}");
    let summary: serde_json::Value = serde_json::from_str(again.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["migrated"], 0, "{}", again.stdout);
    assert_eq!(summary["already"], 3, "{}", again.stdout);
}
