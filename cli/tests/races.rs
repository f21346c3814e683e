//! The writing recovery tools racing live traffic, end to end: the real `ddbrep` binary against a real
//! `ddbrep-emu` whose own backup pipeline (ddbrep's handler on the table's stream) is live, with a writer
//! that lands between the tool's read and its write on purpose, every run. The tool talks to the emulator
//! through an interleaving proxy (`common::interleave`) that, once the emulator has answered the tool's
//! read and before the tool receives the answer, writes newer state to the table (and, for the backup
//! tools, waits until the pipeline has backed it up). A tool that wrote what it had read without a
//! condition would leave that older state over the newer one, and every test here would fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::interleave::{self, Exchange, Hook};
use common::TestEnv;
use ddbrep::drive::convert::item_to_sdk;
use ddbrep_emu::clock::{Clock as _, ManualClock};
use ddbrep_engine::backup_key;
use ddbrep_engine::codec::ddb_json;
use ddbrep_engine::model::{Item, KeySchema, ScalarType};

const KEYS: u32 = 150;

fn item(i: u32, v: &str) -> String {
    format!(r#"{{"hash":{{"S":"k{i}"}},"range":{{"N":"{i}"}},"v":{{"S":"{v}"}}}}"#)
}

/// The key as the tools print it.
fn printed(i: u32) -> String {
    format!(r#"{{"hash":"k{i}","range":{i}}}"#)
}

/// The names a key's object may have under `s3://backups/inc/primary/`: ours first, then the original's.
fn names(i: u32) -> Vec<String> {
    let schema = KeySchema::composite("hash", ScalarType::S, "range", ScalarType::N);
    let key = schema
        .key_of(&ddb_json::parse_item(&item(i, "")).unwrap())
        .unwrap();
    backup_key::candidate_object_keys("inc", "primary", &key)
}

/// The `i` of a `{"hash":{"S":"k<i>"},…}` key in a request.
fn index_of(key: &serde_json::Value) -> u32 {
    key["hash"]["S"].as_str().unwrap()[1..].parse().unwrap()
}

/// Writes `v` to every key in `keys` (PutItem, straight to the emulator: the live application).
async fn write_all(env: &TestEnv, keys: impl IntoIterator<Item = u32>, v: &str) {
    for i in keys {
        env.ddb
            .put_item()
            .table_name("primary")
            .set_item(Some(item_to_sdk(&ddb_json::parse_item(&item(i, v)).unwrap())))
            .send()
            .await
            .unwrap();
    }
}

/// An emulator on a manual clock whose backup pipeline keeps `s3://backups/inc/primary` (versioned), with
/// an empty table, and the clock.
async fn live() -> (Arc<TestEnv>, Arc<ManualClock>) {
    let (env, clock) = common::start_backed_up().await;
    env.create_bucket("backups", true).await;
    (Arc::new(env), clock)
}

/// A hook that runs `act` once, on the first exchange `pick` chooses.
fn once(
    pick: impl Fn(&Exchange) -> bool + Send + Sync + 'static,
    act: impl Fn(Exchange) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync
        + 'static,
) -> (Hook, Arc<AtomicBool>) {
    let fired = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&fired);
    let hook: Hook = Arc::new(move |exchange: Exchange| {
        if exchange.status.is_success() && pick(&exchange) && !flag.swap(true, Ordering::SeqCst) {
            act(exchange)
        } else {
            Box::pin(async {})
        }
    });
    (hook, fired)
}

/// Runs the binary through `proxy`.
async fn ddbrep_via(proxy: &interleave::Proxy, args: &[&str]) -> common::Run {
    common::run_ddbrep(args, &[("AWS_ENDPOINT_URL", &proxy.endpoint())]).await
}

/// The item in the current object under `name` (`None`: no current object).
async fn backed_up(env: &TestEnv, name: &str) -> Option<Item> {
    let got = env
        .s3
        .get_object()
        .bucket("backups")
        .key(name)
        .send()
        .await
        .ok()?;
    let body = got.body.collect().await.unwrap().into_bytes();
    Some(ddb_json::parse_item(std::str::from_utf8(&body).unwrap()).unwrap())
}

fn parsed(text: &str) -> Item {
    ddb_json::parse_item(text).unwrap()
}

async fn check_clean(env: &TestEnv) {
    let check = env
        .ddbrep(&[
            "incremental-diff-table",
            &env.table("primary"),
            "s3://backups/inc",
            "--exit-code",
        ])
        .await;
    assert_eq!(check.code, 0, "the backup holds exactly the table: {check:?}");
    assert_eq!(check.tagged("discrepancies"), ["0"]);
}

/// restore-table --overwrite into the live table: the keys of its first read batch are written by the
/// application right after the read; each must keep the live write and be reported a conflict, every
/// other key must be restored, and the backup pipeline must end holding exactly the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_overwrite_keeps_a_live_write_that_lands_after_its_read() {
    let (env, clock) = live().await;
    write_all(&env, 0..KEYS, "good").await;
    env.caught_up().await;
    // The instant to restore; a bad deploy follows.
    clock.advance(1_000);
    let at = clock.now().to_rfc3339();
    clock.advance(10_000);
    write_all(&env, 0..KEYS, "bad").await;
    env.caught_up().await;

    let raced = Arc::new(Mutex::new(BTreeSet::new()));
    let (hook, fired) = {
        let (env, raced) = (Arc::clone(&env), Arc::clone(&raced));
        once(
            |e| e.operation() == Some("BatchGetItem"),
            move |e| {
                let (env, raced) = (Arc::clone(&env), Arc::clone(&raced));
                Box::pin(async move {
                    let request: serde_json::Value = serde_json::from_slice(&e.request_body).unwrap();
                    let keys: Vec<u32> = request["RequestItems"]["primary"]["Keys"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(index_of)
                        .collect();
                    write_all(&env, keys.iter().copied(), "live").await;
                    raced.lock().unwrap().extend(keys);
                })
            },
        )
    };
    let proxy = interleave::start(env.running.addr(), hook).await;
    let restore = ddbrep_via(
        &proxy,
        &[
            "restore-table",
            "s3://backups/inc/primary",
            &proxy.table("primary"),
            "--overwrite",
            "--at",
            &at,
        ],
    )
    .await;
    assert!(
        fired.load(Ordering::SeqCst),
        "the restore read the table: {restore:?}"
    );
    assert_eq!(restore.code, 0, "{restore:?}");
    let raced = raced.lock().unwrap().clone();
    assert!(!raced.is_empty() && raced.len() < KEYS as usize, "{raced:?}");
    let conflicts: BTreeSet<String> = restore
        .tagged("conflict")
        .iter()
        .map(|l| l.split(" was written").next().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = raced.iter().map(|&i| printed(i)).collect();
    assert_eq!(conflicts, expected, "{}", restore.stdout);
    let table = env.scan("primary").await;
    for i in 0..KEYS {
        let v = if raced.contains(&i) { "live" } else { "good" };
        assert!(
            table.contains(&common::canonical(&item(i, v))),
            "k{i} should be {v}: {table:?}"
        );
    }
    assert_eq!(table.len(), KEYS as usize);
    env.caught_up().await;
    check_clean(&env).await;
}

/// incremental-diff-table --repair on a damaged backup while the application writes and the pipeline
/// backs up: right after the repair's first object read, every item changes (and one deleted item comes
/// back) and the pipeline backs that up; meanwhile another writer keeps putting and deleting. Once all
/// is quiet the backup must hold exactly the table: no repair left an older state over the pipeline's
/// newer one, and no delete the pipeline recorded was undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_diff_table_repair_never_overwrites_the_live_pipelines_newer_backup() {
    let (env, clock) = live().await;
    write_all(&env, 0..KEYS, "old").await;
    env.caught_up().await;
    // Damage: a third of the objects deleted, a third holding another state, and the object of a deleted
    // item left behind (the pipeline missed the delete).
    for i in 0..KEYS {
        let name = names(i)[0].clone();
        match i % 3 {
            0 => {
                env.s3
                    .delete_object()
                    .bucket("backups")
                    .key(name)
                    .send()
                    .await
                    .unwrap();
            }
            1 => {
                env.s3
                    .put_object()
                    .bucket("backups")
                    .key(name)
                    .body(item(i, "stale").into_bytes().into())
                    .send()
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    let gone = KEYS;
    env.s3
        .put_object()
        .bucket("backups")
        .key(names(gone)[0].clone())
        .body(item(gone, "gone").into_bytes().into())
        .send()
        .await
        .unwrap();
    clock.advance(1_000);

    let (hook, fired) = {
        let (env, clock) = (Arc::clone(&env), Arc::clone(&clock));
        once(
            |e| e.method == http::Method::GET && e.path().starts_with("/backups/inc/primary/"),
            move |_| {
                let (env, clock) = (Arc::clone(&env), Arc::clone(&clock));
                Box::pin(async move {
                    clock.advance(1_000);
                    write_all(&env, 0..=gone, "live").await;
                    env.caught_up().await;
                })
            },
        )
    };
    let proxy = interleave::start(env.running.addr(), hook).await;
    let writer = {
        let env = Arc::clone(&env);
        tokio::spawn(async move {
            for round in 0..200u32 {
                let i = (round * 7) % KEYS;
                if round % 4 == 0 {
                    env.delete(
                        "primary",
                        &format!(r#"{{"hash":{{"S":"k{i}"}},"range":{{"N":"{i}"}}}}"#),
                    )
                    .await;
                } else {
                    write_all(&env, [i], &format!("w{round}")).await;
                }
            }
        })
    };
    let repair = ddbrep_via(
        &proxy,
        &[
            "incremental-diff-table",
            &proxy.table("primary"),
            "s3://backups/inc",
            "--repair",
        ],
    )
    .await;
    writer.await.unwrap();
    assert!(
        fired.load(Ordering::SeqCst),
        "the repair read an object: {repair:?}"
    );
    assert_eq!(repair.code, 0, "{repair:?}");
    assert!(!repair.tagged("different").is_empty(), "{}", repair.stdout);
    env.caught_up().await;
    check_clean(&env).await;
    // The item written back after its object was left behind is backed up as it is now.
    assert_eq!(
        backed_up(&env, &names(gone)[0]).await,
        Some(parsed(&item(gone, "live")))
    );
}

/// incremental-rekey of a folder in the original's layout (every key under the other key order's name)
/// while the application writes and the pipeline backs up under the canonical names: right after the
/// rekey has listed one key's canonical name (empty then), every item is written and backed up. The seal
/// the rekey then tries for that key must fail its condition and the key be migrated again, so every key
/// ends with the live state under its canonical name alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_rekey_keeps_the_live_pipelines_write_that_lands_after_its_listing() {
    let (env, clock) = live().await;
    for i in 0..KEYS {
        env.s3
            .put_object()
            .bucket("backups")
            .key(names(i)[1].clone())
            .body(item(i, "legacy").into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    clock.advance(1_000);
    let canonical: BTreeSet<String> = (0..KEYS).map(|i| names(i)[0].clone()).collect();
    let (hook, fired) = {
        let (env, clock) = (Arc::clone(&env), Arc::clone(&clock));
        once(
            move |e| {
                e.query("versions").is_some() && e.query("prefix").is_some_and(|p| canonical.contains(&p))
            },
            move |_| {
                let (env, clock) = (Arc::clone(&env), Arc::clone(&clock));
                Box::pin(async move {
                    clock.advance(1_000);
                    write_all(&env, 0..KEYS, "live").await;
                    env.caught_up().await;
                })
            },
        )
    };
    let proxy = interleave::start(env.running.addr(), hook).await;
    let rekey = ddbrep_via(
        &proxy,
        &[
            "incremental-rekey",
            &proxy.table("primary"),
            "s3://backups/inc",
            "--json",
        ],
    )
    .await;
    assert!(
        fired.load(Ordering::SeqCst),
        "the rekey listed a canonical name: {rekey:?}"
    );
    assert_eq!(rekey.code, 0, "{rekey:?}");
    let summary: serde_json::Value = serde_json::from_str(rekey.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["failed"], 0, "{}", rekey.stdout);
    for i in 0..KEYS {
        let names = names(i);
        assert_eq!(
            backed_up(&env, &names[0]).await,
            Some(parsed(&item(i, "live"))),
            "k{i}: {}",
            rekey.stdout
        );
        assert_eq!(backed_up(&env, &names[1]).await, None, "k{i}'s legacy name");
    }
    check_clean(&env).await;
    let again = env
        .ddbrep(&[
            "incremental-rekey",
            &env.table("primary"),
            "s3://backups/inc",
            "--json",
        ])
        .await;
    let summary: serde_json::Value = serde_json::from_str(again.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["migrated"], 0, "{}", again.stdout);
}

/// A conditional put the engine sends (If-Match the ETag it read, If-None-Match when it read nothing) is
/// answered PreconditionFailed whenever the object is no longer as read: a different ETag (412), an object
/// where there was none (412), and none where there was one, which S3 answers 404 NoSuchKey. That last one
/// was an error that stopped incremental-diff-table's repair when the live pipeline deleted the object
/// between the repair's read and its write.
#[tokio::test]
async fn a_conditional_put_on_an_object_that_changed_or_went_is_a_failed_precondition() {
    use ddbrep::drive::s3::S3Bucket;
    use ddbrep::drive::ObjectStore as _;
    use ddbrep_engine::io::{ObjectCondition, ObjectOp, ObjectResult};

    let env = common::start().await;
    env.create_bucket("conditional", true).await;
    let bucket = S3Bucket {
        client: env.s3.clone(),
        bucket: "conditional".into(),
    };
    let put = |key: &str, condition: ObjectCondition| ObjectOp::Put {
        key: key.into(),
        body: b"body".to_vec(),
        metadata: std::collections::BTreeMap::new(),
        condition,
    };
    let ObjectResult::Put { etag, .. } = bucket.call(put("k", ObjectCondition::IfNoneMatch)).await.unwrap()
    else {
        panic!("the first put of a new key succeeds");
    };
    let failed = |result| matches!(result, Ok(ObjectResult::PreconditionFailed));
    assert!(failed(bucket.call(put("k", ObjectCondition::IfNoneMatch)).await));
    assert!(failed(
        bucket
            .call(put("k", ObjectCondition::IfMatch("\"0000\"".into())))
            .await
    ));
    assert!(failed(
        bucket
            .call(put("gone", ObjectCondition::IfMatch(etag.clone())))
            .await
    ));
    assert!(matches!(
        bucket.call(put("k", ObjectCondition::IfMatch(etag))).await,
        Ok(ObjectResult::Put { .. })
    ));
}
