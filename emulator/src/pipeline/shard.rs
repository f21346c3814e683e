//! One shard's poller, as Lambda's event source mapping runs it, without I/O: where to read next, when to
//! invoke, and what a handler's answer does to the checkpoint.
//!
//! - A batch is up to `batch_size` records after the checkpoint, in order. With a batching window, a
//!   batch smaller than `batch_size` waits until the window since its first sighting has passed
//!   (`MaximumBatchingWindowInSeconds`); a retry never waits for it.
//! - All applied: the checkpoint moves to the batch's last record.
//! - A partial batch response (`ReportBatchItemFailures`): the checkpoint moves to the record before the
//!   first failure, and the batch is retried from that record after a backoff.
//! - The invocation failed as a whole: retried after a backoff; with `BisectBatchOnFunctionError`, first
//!   split in halves (the first half is retried at once, without counting a retry) down to one record.
//! - A failure is counted as a retry attempt; any progress of the checkpoint resets the count. Past
//!   `MaximumRetryAttempts` (unlimited by default, as Lambda's -1) the failing records are discarded: the
//!   checkpoint skips them, and the caller reports every record it skipped. A batch that failed as a whole
//!   is skipped whole, as Lambda does; of a partial batch response only the first failed record is
//!   skipped (Lambda would skip the rest of the batch too, though the handler applied it or will).
//! - A closed shard with nothing after the checkpoint is finished; its children may start.

use std::time::Duration;

use ddbrep_engine::retry::{RetryPolicy, Rng};
use ddbrep_engine::time::Millis;

use super::config::Settings;

/// The first retry waits up to this long (full jitter), doubling per attempt.
pub const RETRY_BASE: Duration = Duration::from_millis(500);
/// No retry waits longer.
pub const RETRY_CAP: Duration = Duration::from_secs(30);

/// One shard's position and retry state.
#[derive(Debug, Clone)]
pub struct Cursor {
    /// Every record with a sequence number up to this one is done.
    pub checkpoint: i64,
    /// Closed and done.
    pub finished: bool,
    /// Failed invocations since the checkpoint last moved.
    pub attempts: u32,
    batch_size: u32,
    limit: u32,
    retry_at: Option<Millis>,
    window_from: Option<Millis>,
    window: Duration,
    max_retries: Option<u32>,
    bisect: bool,
    partial: bool,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Read up to `limit` records after `after`.
    Fetch {
        /// The checkpoint.
        after: i64,
        /// The most records.
        limit: usize,
    },
    /// Nothing before this instant (a retry's backoff).
    WaitUntil(Millis),
    /// The shard is finished.
    Finished,
}

/// What a read found, decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Invoke the handler with the records read.
    Invoke,
    /// Wait for the batching window to close (or for more records) until this instant.
    WaitUntil(Millis),
    /// Nothing to do; poll again later.
    Idle,
    /// The shard has just finished.
    Finished,
}

/// What the handler answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Every record applied.
    Complete,
    /// A partial batch response: the position of the first failed record in the batch.
    FailedFrom(usize),
    /// The invocation failed as a whole.
    Failed,
}

/// What the answer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The checkpoint moved to this record.
    Advanced(i64),
    /// The checkpoint moved to `checkpoint` (if any progress) and the rest is retried at `retry_at`.
    Retry {
        /// The new checkpoint, if the batch's head was applied.
        checkpoint: Option<i64>,
        /// When.
        retry_at: Millis,
    },
    /// The batch is split; its first `limit` records go again at once.
    Bisect {
        /// The new batch size.
        limit: u32,
    },
    /// Retries are exhausted: these records are skipped, the checkpoint moves past them.
    Discarded {
        /// The new checkpoint.
        checkpoint: i64,
        /// The sequence numbers skipped.
        skipped: Vec<i64>,
    },
}

impl Cursor {
    /// A cursor at a checkpoint.
    pub fn new(checkpoint: i64, finished: bool, settings: &Settings) -> Cursor {
        let batch_size = settings.batch_size.max(1);
        Cursor {
            checkpoint,
            finished,
            attempts: 0,
            batch_size,
            limit: batch_size,
            retry_at: None,
            window_from: None,
            window: settings.batching_window,
            max_retries: settings.maximum_retry_attempts,
            bisect: settings.bisect_batch_on_function_error,
            partial: settings.report_batch_item_failures,
        }
    }

    /// What to do at `now`.
    pub fn plan(&self, now: Millis) -> Plan {
        if self.finished {
            return Plan::Finished;
        }
        match self.retry_at {
            Some(at) if at > now => Plan::WaitUntil(at),
            _ => Plan::Fetch {
                after: self.checkpoint,
                limit: self.limit as usize,
            },
        }
    }

    /// Decides on a read that found `found` records; `closed`: the shard takes no more records.
    pub fn on_fetched(&mut self, found: usize, closed: bool, now: Millis) -> Fetched {
        if found == 0 {
            self.window_from = None;
            if closed {
                self.finished = true;
                return Fetched::Finished;
            }
            return Fetched::Idle;
        }
        let retrying = self.attempts > 0 || self.limit < self.batch_size;
        if found < self.limit as usize && !closed && !retrying && !self.window.is_zero() {
            let from = *self.window_from.get_or_insert(now);
            let until = from.saturating_add(self.window);
            if until > now {
                return Fetched::WaitUntil(until);
            }
        }
        self.window_from = None;
        Fetched::Invoke
    }

    /// Applies the handler's answer for a batch with these sequence numbers (in order, not empty).
    pub fn on_answer(&mut self, batch: &[i64], answer: Answer, now: Millis, rng: &mut Rng) -> Verdict {
        let answer = match answer {
            Answer::FailedFrom(_) if !self.partial => Answer::Failed,
            Answer::FailedFrom(i) if i >= batch.len() => Answer::Complete,
            other => other,
        };
        let last = batch.last().copied().unwrap_or(self.checkpoint);
        match answer {
            Answer::Complete => {
                self.advance(last);
                Verdict::Advanced(last)
            }
            Answer::Failed if self.bisect && batch.len() > 1 => {
                self.limit = u32::try_from(batch.len() / 2).unwrap_or(1).max(1);
                Verdict::Bisect { limit: self.limit }
            }
            Answer::Failed | Answer::FailedFrom(_) => {
                let first = match answer {
                    Answer::FailedFrom(i) => i,
                    _ => 0,
                };
                let checkpoint = (first > 0).then(|| batch[first - 1]);
                if let Some(c) = checkpoint {
                    self.advance(c);
                }
                self.attempts += 1;
                if self.max_retries.is_some_and(|max| self.attempts > max) {
                    // A partial batch response names the record that failed: only it is skipped. A batch
                    // that failed as a whole is skipped whole, as Lambda does.
                    let skipped = match answer {
                        Answer::FailedFrom(_) => vec![batch[first]],
                        _ => batch.to_vec(),
                    };
                    let to = skipped.last().copied().unwrap_or(last);
                    self.advance(to);
                    return Verdict::Discarded {
                        checkpoint: to,
                        skipped,
                    };
                }
                let policy = RetryPolicy {
                    base: RETRY_BASE,
                    cap: RETRY_CAP,
                    max_attempts: u32::MAX,
                };
                let retry_at = now.saturating_add(policy.backoff(self.attempts, rng));
                self.retry_at = Some(retry_at);
                Verdict::Retry { checkpoint, retry_at }
            }
        }
    }

    fn advance(&mut self, to: i64) {
        self.checkpoint = self.checkpoint.max(to);
        self.attempts = 0;
        self.retry_at = None;
        self.limit = self.batch_size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            batch_size: 4,
            ..Settings::default()
        }
    }

    #[test]
    fn a_complete_batch_moves_the_checkpoint_to_its_last_record() {
        let mut c = Cursor::new(0, false, &settings());
        assert_eq!(c.plan(Millis(0)), Plan::Fetch { after: 0, limit: 4 });
        assert_eq!(c.on_fetched(2, false, Millis(0)), Fetched::Invoke);
        let v = c.on_answer(&[3, 7], Answer::Complete, Millis(0), &mut Rng::new(1));
        assert_eq!(v, Verdict::Advanced(7));
        assert_eq!(c.plan(Millis(0)), Plan::Fetch { after: 7, limit: 4 });
    }

    #[test]
    fn a_partial_failure_checkpoints_before_the_first_failed_record_and_retries_after_a_backoff() {
        let mut c = Cursor::new(0, false, &settings());
        let v = c.on_answer(
            &[1, 2, 3, 4],
            Answer::FailedFrom(2),
            Millis(1_000),
            &mut Rng::new(1),
        );
        let Verdict::Retry { checkpoint, retry_at } = v else {
            panic!("{v:?}")
        };
        assert_eq!(checkpoint, Some(2));
        assert!(retry_at >= Millis(1_000) && retry_at <= Millis(1_500));
        assert_eq!(c.attempts, 1);
        if retry_at > Millis(1_000) {
            assert_eq!(c.plan(Millis(1_000)), Plan::WaitUntil(retry_at));
        }
        assert_eq!(c.plan(retry_at), Plan::Fetch { after: 2, limit: 4 });
    }

    #[test]
    fn without_partial_responses_a_failed_record_fails_the_whole_batch() {
        let s = Settings {
            report_batch_item_failures: false,
            ..settings()
        };
        let mut c = Cursor::new(0, false, &s);
        let v = c.on_answer(&[1, 2, 3], Answer::FailedFrom(1), Millis(0), &mut Rng::new(1));
        assert!(matches!(v, Verdict::Retry { checkpoint: None, .. }), "{v:?}");
    }

    #[test]
    fn bisection_halves_a_failing_batch_down_to_one_record_then_counts_retries() {
        let s = Settings {
            bisect_batch_on_function_error: true,
            maximum_retry_attempts: Some(1),
            ..settings()
        };
        let mut c = Cursor::new(0, false, &s);
        let mut rng = Rng::new(7);
        assert_eq!(
            c.on_answer(&[1, 2, 3, 4], Answer::Failed, Millis(0), &mut rng),
            Verdict::Bisect { limit: 2 }
        );
        assert_eq!(c.plan(Millis(0)), Plan::Fetch { after: 0, limit: 2 });
        assert_eq!(c.on_fetched(2, false, Millis(0)), Fetched::Invoke);
        assert_eq!(
            c.on_answer(&[1, 2], Answer::Failed, Millis(0), &mut rng),
            Verdict::Bisect { limit: 1 }
        );
        assert!(matches!(
            c.on_answer(&[1], Answer::Failed, Millis(0), &mut rng),
            Verdict::Retry { checkpoint: None, .. }
        ));
        // The second failure of the same record exceeds one retry: it is skipped.
        assert_eq!(
            c.on_answer(&[1], Answer::Failed, Millis(60_000), &mut rng),
            Verdict::Discarded {
                checkpoint: 1,
                skipped: vec![1]
            }
        );
        assert_eq!(c.attempts, 0);
        assert_eq!(c.plan(Millis(60_000)), Plan::Fetch { after: 1, limit: 4 });
    }

    #[test]
    fn exhausted_retries_of_a_partial_response_skip_only_the_record_that_failed() {
        let s = Settings {
            maximum_retry_attempts: Some(0),
            ..settings()
        };
        let mut c = Cursor::new(0, false, &s);
        let v = c.on_answer(&[1, 2, 3], Answer::FailedFrom(1), Millis(0), &mut Rng::new(1));
        assert_eq!(
            v,
            Verdict::Discarded {
                checkpoint: 2,
                skipped: vec![2]
            }
        );
        assert_eq!(c.plan(Millis(0)), Plan::Fetch { after: 2, limit: 4 });
    }

    #[test]
    fn a_batching_window_holds_a_small_batch_until_it_closes() {
        let s = Settings {
            batching_window: Duration::from_secs(2),
            ..settings()
        };
        let mut c = Cursor::new(0, false, &s);
        assert_eq!(
            c.on_fetched(1, false, Millis(10)),
            Fetched::WaitUntil(Millis(2_010))
        );
        assert_eq!(
            c.on_fetched(3, false, Millis(1_000)),
            Fetched::WaitUntil(Millis(2_010))
        );
        assert_eq!(c.on_fetched(3, false, Millis(2_010)), Fetched::Invoke);
        // A full batch goes at once.
        assert_eq!(c.on_fetched(4, false, Millis(2_020)), Fetched::Invoke);
    }

    #[test]
    fn a_closed_shard_with_nothing_left_is_finished() {
        let mut c = Cursor::new(5, false, &settings());
        assert_eq!(c.on_fetched(0, false, Millis(0)), Fetched::Idle);
        assert_eq!(c.on_fetched(0, true, Millis(0)), Fetched::Finished);
        assert_eq!(c.plan(Millis(0)), Plan::Finished);
    }
}
