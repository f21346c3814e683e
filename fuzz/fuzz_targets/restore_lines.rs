//! restore-table's reader of dumps and snapshots (gzip'd lines of DynamoDB JSON from S3, outside bytes):
//! never panics and always finishes, whatever the object holds and however its ranges are cut; every line
//! it counts is written or reported, never lost silently.
#![no_main]
use ddbrep_engine::io::{Action, Input, ObjectOp, ObjectResult, TableOp, TableResult};
use ddbrep_engine::model::{KeySchema, ScalarType};
use ddbrep_engine::restore::{Restore, RestoreFrom, RestorePlan};
use ddbrep_engine::time::Millis;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&chunk, body)) = input.split_first() else {
        return;
    };
    let mut plan = RestorePlan::new("snap", KeySchema::partition_only("id", ScalarType::S));
    plan.from = RestoreFrom::Snapshot;
    plan.chunk_bytes = u64::from(chunk % 64) + 1;
    plan.progress_every = None;
    let mut job = Restore::new(plan);
    let mut pending = Vec::new();
    for _ in 0..100_000 {
        while let Some(action) = job.poll() {
            match action {
                Action::Object { id, op: ObjectOp::GetRange { start, len, .. } } => {
                    let from = usize::try_from(start).unwrap_or(usize::MAX).min(body.len());
                    let to = from.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)).min(body.len());
                    pending.push(Input::Object {
                        id,
                        result: Ok(ObjectResult::Range {
                            bytes: body[from..to].to_vec(),
                            size: body.len() as u64,
                        }),
                    });
                }
                Action::Table { id, op: TableOp::BatchWrite { .. }, .. } => pending.push(Input::Table {
                    id,
                    result: Ok(TableResult::Written { unprocessed: Vec::new() }),
                }),
                Action::Done(summary) => {
                    assert!(summary.written + summary.unreadable <= summary.keys + 1);
                    return;
                }
                Action::Report(_) | Action::Emit { .. } => {}
                other => panic!("a snapshot restore into a new table asked for {other:?}"),
            }
        }
        match pending.pop() {
            Some(input) => job.handle(input, Millis::ZERO),
            None => panic!("the restore stalled: nothing outstanding and not done"),
        }
    }
    panic!("the restore did not finish");
});
