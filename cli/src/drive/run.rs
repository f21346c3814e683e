//! The driver loop (`engine::io`'s contract) on tokio.
//!
//! Requests run as tasks (so responses are decoded on every worker thread) and come back in any order;
//! the job bounds how many are outstanding. Emits go to the [`Sink`] in order, reports to a callback. Time
//! is tokio's clock anchored to the wall clock at the start, so `tokio::time::pause` and the simulation's
//! clock drive the job's backoffs and rate limits as well.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ddbrep_engine::io::{Action, Input, Job};
use ddbrep_engine::time::Millis;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::sink::{Sink, SinkError};
use super::{ObjectStore, TableStore};

/// Why the loop stopped without the job's summary.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An output could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The job waits for nothing and asks for nothing: a bug in the job.
    #[error("the job stalled: no request outstanding and no deadline")]
    Stalled,
    /// A request task panicked: a bug.
    #[error("a request task failed: {0}")]
    Task(String),
}

/// The job's clock: wall-clock milliseconds at the start, advanced by tokio's clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    anchor: Millis,
    start: Instant,
}

impl Clock {
    /// Starts at the wall clock's now.
    pub fn start() -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Clock::at(Millis(wall))
    }

    /// Starts at a given instant (simulation, tests).
    pub fn at(anchor: Millis) -> Clock {
        Clock {
            anchor,
            start: Instant::now(),
        }
    }

    /// Now.
    pub fn now(&self) -> Millis {
        self.anchor.saturating_add(self.start.elapsed())
    }

    /// The tokio instant of a job deadline.
    pub fn instant(&self, at: Millis) -> Instant {
        let after = Duration::from_millis(at.0.saturating_sub(self.anchor.0));
        self.start
            .checked_add(after)
            .unwrap_or_else(|| self.start + Duration::from_secs(365 * 86_400))
    }
}

/// Runs `job` to its end: its requests on `tables` and `objects`, its output into `sink` (not finished:
/// the caller finishes or aborts it, knowing whether the job succeeded), its reports through `report`.
pub async fn run<J, T, O, S>(
    mut job: J,
    clock: Clock,
    tables: &T,
    objects: &O,
    sink: &mut S,
    mut report: impl FnMut(J::Event, Millis),
) -> Result<J::Summary, RunError>
where
    J: Job,
    T: TableStore,
    O: ObjectStore,
    S: Sink,
{
    let mut tasks: JoinSet<Input> = JoinSet::new();
    loop {
        while let Some(action) = job.poll() {
            match action {
                Action::Table { id, slot, op } => {
                    let tables = tables.clone();
                    tasks.spawn(async move {
                        Input::Table {
                            id,
                            result: tables.call(slot, op).await,
                        }
                    });
                }
                Action::Object { id, op } => {
                    let objects = objects.clone();
                    tasks.spawn(async move {
                        Input::Object {
                            id,
                            result: objects.call(op).await,
                        }
                    });
                }
                Action::Emit { stream, bytes } => sink.write(stream, bytes).await?,
                Action::Report(event) => report(event, clock.now()),
                Action::Done(summary) => return Ok(summary),
            }
        }
        let deadline = job.poll_timeout();
        if tasks.is_empty() && deadline.is_none() {
            return Err(RunError::Stalled);
        }
        let sleep = tokio::time::sleep_until(clock.instant(deadline.unwrap_or(Millis(u64::MAX))));
        tokio::select! {
            Some(done) = tasks.join_next() => match done {
                Ok(input) => {
                    let table = matches!(input, Input::Table { .. });
                    job.handle(input, clock.now());
                    if let Some(rate) = table.then(|| tables.take_rate()).flatten() {
                        job.retarget(rate);
                    }
                }
                Err(e) => return Err(RunError::Task(e.to_string())),
            },
            () = sleep, if deadline.is_some() => job.handle_timeout(clock.now()),
        }
    }
}
