//! Runs an engine job (`ddbrep_engine::io::Job`) on the in-process stores: the driver contract of
//! `engine::io`, with the job's requests running concurrently and its backoffs timed by the emulator's
//! clock.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use ddbrep_engine::io::{Action, Input, Job, StoreError};
use futures_util::stream::{FuturesUnordered, StreamExt as _};

use super::store::{LocalBucket, LocalTable};
use crate::clock::Clock;

type Pending = Pin<Box<dyn Future<Output = Input> + Send>>;

/// The job waited for nothing and asked for nothing: a bug in the job.
#[derive(Debug, thiserror::Error)]
#[error("the handler's job stalled: no request outstanding and no deadline")]
pub struct Stalled;

/// Runs `job` to its end. A request for a store the pipeline does not have fails as fatal.
pub async fn run<J: Job>(
    mut job: J,
    clock: &dyn Clock,
    table: Option<&LocalTable>,
    bucket: Option<&LocalBucket>,
    mut report: impl FnMut(J::Event),
) -> Result<J::Summary, Stalled> {
    let mut pending: FuturesUnordered<Pending> = FuturesUnordered::new();
    loop {
        while let Some(action) = job.poll() {
            match action {
                Action::Table { id, op, .. } => {
                    let table = table.cloned();
                    pending.push(Box::pin(async move {
                        let result = match table {
                            Some(t) => t.call(op).await,
                            None => Err(StoreError::Fatal("no table for this handler".into())),
                        };
                        Input::Table { id, result }
                    }));
                }
                Action::Object { id, op } => {
                    let bucket = bucket.cloned();
                    pending.push(Box::pin(async move {
                        let result = match bucket {
                            Some(b) => b.call(op).await,
                            None => Err(StoreError::Fatal("no bucket for this handler".into())),
                        };
                        Input::Object { id, result }
                    }));
                }
                // The stream jobs write no output streams.
                Action::Emit { .. } => {}
                Action::Report(event) => report(event),
                Action::Done(summary) => return Ok(summary),
            }
        }
        let deadline = job.poll_timeout();
        if pending.is_empty() && deadline.is_none() {
            return Err(Stalled);
        }
        let wait = deadline.map_or(Duration::from_secs(3600), |d| {
            Duration::from_millis(d.0.saturating_sub(clock.now().0))
        });
        tokio::select! {
            Some(input) = pending.next() => job.handle(input, clock.now()),
            () = tokio::time::sleep(wait), if deadline.is_some() => job.handle_timeout(clock.now()),
        }
    }
}
