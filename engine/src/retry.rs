//! Retries, backoff and pacing, shared by every job: exponential backoff with full jitter from a seeded
//! generator, a bounded queue of outstanding requests ([`Outbox`]), and a rate limit expressed as "wait
//! until T". No clock and no OS randomness: time comes in as an argument and the seed in the plan.
//!
//! Backoff follows AWS's advice for throttling and for `UnprocessedItems`/`UnprocessedKeys`
//! ("Exponential Backoff And Jitter", full jitter: a delay drawn uniformly from `0..=min(cap, base·2ⁿ)`).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::io::{
    object_op_name, table_op_name, Action, Input, JobError, ObjectOp, ObjectResult, RequestId, StoreError,
    TableOp, TableSlot,
};
use crate::time::Millis;

/// How a job retries a failed or partly processed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff's ceiling.
    pub base: Duration,
    /// No backoff is longer.
    pub cap: Duration,
    /// Attempts without progress before the job gives up (the first try counts).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 50 ms doubling to 20 s, ten attempts: about a minute of sustained throttling before giving up.
    fn default() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(20),
            max_attempts: 10,
        }
    }
}

/// SplitMix64: a tiny, seedable generator, good enough for jitter and reproducible from the plan's seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    pub fn up_to(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            return self.next_u64();
        }
        self.next_u64() % (max + 1)
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1 for the first retry): full jitter.
    pub fn backoff(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let base = u64::try_from(self.base.as_millis()).unwrap_or(u64::MAX);
        let cap = u64::try_from(self.cap.as_millis()).unwrap_or(u64::MAX);
        let shift = attempt.saturating_sub(1).min(62);
        let ceiling = base.saturating_mul(1u64 << shift).min(cap);
        Duration::from_millis(rng.up_to(ceiling))
    }
}

/// A budget of items per second, as "the next request may go at T", that adapts to throttling: each
/// throttled request halves the rate (at most once per [`RATE_CUT_EVERY_MS`], never below 1 item/s), and the
/// rate then grows back linearly to the budget over [`RATE_RECOVERY_MS`] (additive increase,
/// multiplicative decrease, as TCP and the AWS SDKs' adaptive retry mode do), so a repair or a backup
/// yields to production traffic on a table that is at its capacity.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// The budget.
    ceiling: u32,
    /// The rate now, `1..=ceiling`.
    per_second: u32,
    /// When the next page may be asked for, in microseconds (so small pages at high rates add up).
    allowed_at_us: u128,
    /// When the rate was last cut, or last grew.
    last_cut: Option<Millis>,
    last_growth: Millis,
}

/// Cuts closer together than this count as one (the requests of one burst are throttled together).
pub const RATE_CUT_EVERY_MS: u64 = 1_000;
/// The time from 1 item/s back to the full budget.
pub const RATE_RECOVERY_MS: u64 = 10_000;

/// How much unused budget may accumulate: one second's worth.
const RATE_BURST_US: u128 = 1_000_000;

impl RateLimit {
    /// A limit of `per_second` items per second (at least 1).
    pub fn new(per_second: u32) -> RateLimit {
        RateLimit {
            ceiling: per_second.max(1),
            per_second: per_second.max(1),
            allowed_at_us: 0,
            last_cut: None,
            last_growth: Millis::ZERO,
        }
    }

    /// Items per second now.
    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// The budget, items per second.
    pub fn ceiling(&self) -> u32 {
        self.ceiling
    }

    /// A request was throttled at `now`: halve the rate (once per [`RATE_CUT_EVERY_MS`]).
    pub fn throttled(&mut self, now: Millis) {
        if self
            .last_cut
            .is_some_and(|t| now.0 < t.0.saturating_add(RATE_CUT_EVERY_MS))
        {
            return;
        }
        self.last_cut = Some(now);
        self.last_growth = now;
        self.per_second = (self.per_second / 2).max(1);
    }

    fn grow(&mut self, now: Millis) {
        let elapsed = now.0.saturating_sub(self.last_growth.0);
        let step = u64::from(self.ceiling) * elapsed / RATE_RECOVERY_MS;
        if step == 0 {
            return;
        }
        self.last_growth = now;
        let grown = u64::from(self.per_second)
            .saturating_add(step)
            .min(u64::from(self.ceiling));
        self.per_second = u32::try_from(grown).unwrap_or(self.ceiling);
    }

    /// Whether a request may go now.
    pub fn ready(&self, now: Millis) -> bool {
        u128::from(now.0) * 1000 >= self.allowed_at_us
    }

    /// When a request may go.
    pub fn next_at(&self) -> Millis {
        Millis(u64::try_from(self.allowed_at_us.div_ceil(1000)).unwrap_or(u64::MAX))
    }

    /// A new budget of `per_second` items per second (at least 1), e.g. from measured capacity use. The
    /// rate now keeps its place below the budget: a cut still recovering stays cut.
    pub fn retarget(&mut self, per_second: u32) {
        let per_second = per_second.max(1);
        let cut = self.per_second < self.ceiling;
        self.ceiling = per_second;
        self.per_second = if cut {
            self.per_second.min(per_second)
        } else {
            per_second
        };
    }

    /// Charges `items` consumed at `now`.
    pub fn charge(&mut self, items: usize, now: Millis) {
        self.grow(now);
        let now_us = u128::from(now.0) * 1000;
        let floor = now_us.saturating_sub(RATE_BURST_US);
        let cost = (items as u128) * 1_000_000 / u128::from(self.per_second);
        self.allowed_at_us = self.allowed_at_us.max(floor) + cost;
    }
}

/// Turns a budget in capacity units per second (a fraction of a table's provisioned capacity) into items
/// per second from what DynamoDB reports consumed (`ReturnConsumedCapacity`). The estimate from
/// DescribeTable's average item size can be far off: a Scan is charged by the bytes of its page
/// (eventually consistent, 0.5 units per 4 KB), not per item, so small items cost a small fraction of a
/// unit each; and TableSizeBytes / ItemCount are only refreshed every six hours. The meter weighs the
/// requests it is shown, recent ones most (each older one counts [`METER_DECAY`] as much as the next), and
/// answers the rate the budget allows at their cost per item.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityMeter {
    budget: f64,
    /// Units and items, decayed.
    units: f64,
    items: f64,
    /// Units and items, all of them.
    total_units: f64,
    total_items: u64,
    rate: Option<u32>,
}

/// Below this many items measured, the meter keeps the estimate it started from.
pub const METER_MIN_ITEMS: u64 = 10;

/// The weight of a request against the one after it.
pub const METER_DECAY: f64 = 0.9;

impl CapacityMeter {
    /// A meter for a budget of `units_per_second` capacity units.
    pub fn new(units_per_second: f64) -> CapacityMeter {
        CapacityMeter {
            budget: units_per_second.max(0.0),
            units: 0.0,
            items: 0.0,
            total_units: 0.0,
            total_items: 0,
            rate: None,
        }
    }

    /// The budget, capacity units per second.
    pub fn budget(&self) -> f64 {
        self.budget
    }

    /// Capacity units consumed so far, as reported.
    pub fn total_units(&self) -> f64 {
        self.total_units
    }

    /// Items those units paid for.
    pub fn total_items(&self) -> u64 {
        self.total_items
    }

    /// Units per item lately, once enough items have been measured.
    pub fn units_per_item(&self) -> Option<f64> {
        (self.total_items >= METER_MIN_ITEMS && self.units > 0.0 && self.items > 0.0)
            .then(|| self.units / self.items)
    }

    /// A request consumed `units` for `items` items. Answers the new items-per-second rate when it differs
    /// from the last one answered by more than a tenth (so a job is not retargeted on every page).
    pub fn observe(&mut self, units: f64, items: usize) -> Option<u32> {
        if !(units.is_finite() && units >= 0.0) {
            return None;
        }
        self.units = self.units * METER_DECAY + units;
        self.items = self.items * METER_DECAY + items as f64;
        self.total_units += units;
        self.total_items = self.total_items.saturating_add(items as u64);
        let per_item = self.units_per_item()?;
        let rate = (self.budget / per_item).floor().clamp(1.0, f64::from(u32::MAX)) as u32;
        let moved = self
            .rate
            .is_none_or(|last| u64::from(rate.abs_diff(last)) * 10 > u64::from(last));
        moved.then(|| {
            self.rate = Some(rate);
            rate
        })
    }
}

/// A request a job wants made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Table(TableSlot, TableOp),
    Object(ObjectOp),
}

impl Op {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Table(_, op) => table_op_name(op),
            Op::Object(op) => object_op_name(op),
        }
    }
}

/// A request with the job's note of what it was for.
#[derive(Debug, Clone)]
pub(crate) struct Request<T> {
    pub tag: T,
    pub op: Op,
    /// Tries so far without progress.
    pub attempt: u32,
}

/// The requests of one job: queued, outstanding, or waiting out a backoff. The total is bounded by
/// `max_in_flight`, which is what keeps a job's memory flat: a job asks [`Outbox::has_room`] before it
/// creates work.
#[derive(Debug)]
pub(crate) struct Outbox<T> {
    next_id: u64,
    queued: VecDeque<Request<T>>,
    sent: BTreeMap<u64, Request<T>>,
    waiting: Vec<(Millis, Request<T>)>,
    policy: RetryPolicy,
    rng: Rng,
    max_in_flight: usize,
}

impl<T> Outbox<T> {
    pub(crate) fn new(policy: RetryPolicy, seed: u64, max_in_flight: usize) -> Outbox<T> {
        Outbox {
            next_id: 0,
            queued: VecDeque::new(),
            sent: BTreeMap::new(),
            waiting: Vec::new(),
            policy,
            rng: Rng::new(seed),
            max_in_flight: max_in_flight.max(1),
        }
    }

    /// Requests not yet answered: queued, sent or backing off.
    pub(crate) fn load(&self) -> usize {
        self.queued.len() + self.sent.len() + self.waiting.len()
    }

    pub(crate) fn has_room(&self) -> bool {
        self.load() < self.max_in_flight
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.load() == 0
    }

    pub(crate) fn push(&mut self, tag: T, op: Op) {
        self.queued.push_back(Request { tag, op, attempt: 1 });
    }

    pub(crate) fn push_table(&mut self, tag: T, slot: TableSlot, op: TableOp) {
        self.push(tag, Op::Table(slot, op));
    }

    pub(crate) fn push_object(&mut self, tag: T, op: ObjectOp) {
        self.push(tag, Op::Object(op));
    }

    /// Hands out the next queued request.
    pub(crate) fn poll<E, S>(&mut self) -> Option<Action<E, S>> {
        let request = self.queued.pop_front()?;
        let id = self.next_id;
        self.next_id += 1;
        let action = match &request.op {
            Op::Table(slot, op) => Action::Table {
                id: RequestId(id),
                slot: *slot,
                op: op.clone(),
            },
            Op::Object(op) => Action::Object {
                id: RequestId(id),
                op: op.clone(),
            },
        };
        self.sent.insert(id, request);
        Some(action)
    }

    /// The request an answer is for; `None` for an unknown or repeated id (ignored by the jobs).
    pub(crate) fn take(&mut self, id: RequestId) -> Option<Request<T>> {
        self.sent.remove(&id.0)
    }

    /// The answer to an object-only job's request: its tag and result, or `None` when there is nothing
    /// for the job to do (an unknown or repeated id, or a failure scheduled again). A failure that cannot
    /// be retried, or a table answer, is the job's error.
    pub(crate) fn take_object(
        &mut self,
        input: Input,
        now: Millis,
    ) -> Result<Option<(T, ObjectResult)>, JobError> {
        match input {
            Input::Object { id, result } => match self.take(id) {
                None => Ok(None),
                Some(request) => match result {
                    Err(e) => self.retry(request, e, now).map(|()| None),
                    Ok(result) => Ok(Some((request.tag, result))),
                },
            },
            Input::Table { id, .. } => match self.take(id) {
                None => Ok(None),
                Some(_) => Err(JobError::Protocol("a table answer to an object job".into())),
            },
        }
    }

    /// Schedules a failed request again, or says why not.
    pub(crate) fn retry(
        &mut self,
        request: Request<T>,
        error: StoreError,
        now: Millis,
    ) -> Result<(), JobError> {
        if !error.is_retryable() {
            return Err(JobError::Store {
                op: request.op.name(),
                error,
            });
        }
        self.again(request, false, error, now)
    }

    /// Schedules what is left of a partly processed request (`UnprocessedItems`/`UnprocessedKeys`).
    /// `progressed`: some of it was done, so the attempt count starts over.
    pub(crate) fn retry_leftover(
        &mut self,
        tag: T,
        op: Op,
        previous_attempt: u32,
        progressed: bool,
        now: Millis,
    ) -> Result<(), JobError> {
        let request = Request {
            tag,
            op,
            attempt: if progressed { 1 } else { previous_attempt },
        };
        self.again(request, progressed, StoreError::Throttled, now)
    }

    fn again(
        &mut self,
        mut request: Request<T>,
        progressed: bool,
        last: StoreError,
        now: Millis,
    ) -> Result<(), JobError> {
        if !progressed && request.attempt >= self.policy.max_attempts {
            return Err(JobError::RetriesExhausted {
                op: request.op.name(),
                attempts: request.attempt,
                last,
            });
        }
        let delay = self.policy.backoff(request.attempt, &mut self.rng);
        if !progressed {
            request.attempt += 1;
        }
        self.waiting.push((now.saturating_add(delay), request));
        Ok(())
    }

    /// Moves requests whose backoff is over back into the queue, earliest first.
    pub(crate) fn handle_timeout(&mut self, now: Millis) {
        if self.waiting.iter().all(|(at, _)| *at > now) {
            return;
        }
        self.waiting.sort_by_key(|(at, _)| *at);
        let due = self.waiting.iter().take_while(|(at, _)| *at <= now).count();
        for (_, request) in self.waiting.drain(..due) {
            self.queued.push_back(request);
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Millis> {
        self.waiting.iter().map(|(at, _)| *at).min()
    }

    /// Takes every request not handed out yet (queued or backing off), for a job that has run out of
    /// time; requests already sent must still be answered.
    pub(crate) fn drain_unsent(&mut self) -> Vec<Request<T>> {
        let mut out: Vec<Request<T>> = self.queued.drain(..).collect();
        out.extend(self.waiting.drain(..).map(|(_, r)| r));
        out
    }
}

/// Retries a failed request ([`Outbox::retry`]); a throttled one also slows the job's rate budget, if it
/// has one ([`RateLimit::throttled`]).
pub(crate) fn retry_paced<T>(
    outbox: &mut Outbox<T>,
    limit: &mut Option<RateLimit>,
    request: Request<T>,
    error: StoreError,
    now: Millis,
) -> Result<(), JobError> {
    if error == StoreError::Throttled {
        if let Some(limit) = limit {
            limit.throttled(now);
        }
    }
    outbox.retry(request, error, now)
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_ceiling() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            max_attempts: 5,
        };
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            assert!(policy.backoff(1, &mut rng) <= Duration::from_millis(100));
            assert!(policy.backoff(3, &mut rng) <= Duration::from_millis(400));
            assert!(policy.backoff(30, &mut rng) <= Duration::from_millis(1000));
        }
        let spread: std::collections::BTreeSet<_> = (0..50).map(|_| policy.backoff(4, &mut rng)).collect();
        assert!(spread.len() > 10, "jitter spreads the delays");
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let policy = RetryPolicy::default();
        let a: Vec<_> = {
            let mut rng = Rng::new(42);
            (1..10).map(|n| policy.backoff(n, &mut rng)).collect()
        };
        let mut rng = Rng::new(42);
        let b: Vec<_> = (1..10).map(|n| policy.backoff(n, &mut rng)).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn a_rate_limit_spaces_pages_by_their_item_count() {
        let mut limit = RateLimit::new(100);
        assert!(limit.ready(Millis(5_000)));
        limit.charge(100, Millis(5_000));
        // A second's budget of burst, then one second per 100 items.
        assert!(limit.ready(Millis(5_000)));
        limit.charge(100, Millis(5_000));
        assert!(!limit.ready(Millis(5_000)));
        assert_eq!(limit.next_at(), Millis(6_000));
        limit.charge(50, Millis(5_000));
        assert_eq!(limit.next_at(), Millis(6_500));
        assert!(limit.ready(Millis(6_500)));
    }

    #[test]
    fn a_capacity_meter_turns_units_into_items_per_second() {
        let mut meter = CapacityMeter::new(50.0);
        // Too few items yet: no rate.
        assert_eq!(meter.observe(0.0, 5), None);
        // Pages of 1,000 items of 100 bytes: 100 KB, 25 units of 4 KB, 12.5 eventually consistent.
        let rate = meter.observe(12.5, 1000).unwrap();
        assert!((3900..=4100).contains(&rate), "{rate}");
        // The same cost again: no retarget.
        assert_eq!(meter.observe(12.5, 1000), None);
        // The cost per item quadruples (a consistent BatchGetItem per item, say): the rate follows within
        // a few requests, to a quarter.
        let later: Vec<u32> = (0..20).filter_map(|_| meter.observe(50.0, 1000)).collect();
        let last = *later.last().unwrap();
        assert!((900..=1150).contains(&last), "{later:?}");
        assert_eq!(meter.observe(f64::NAN, 10), None);
        assert_eq!(meter.total_items(), 22_005);
        assert_eq!(meter.total_units(), 1025.0);
        // Big items: less than one item per second still allows one.
        let mut big = CapacityMeter::new(1.0);
        assert_eq!(big.observe(400.0, 10), Some(1));
    }

    #[test]
    fn retargeting_keeps_a_cut_rate_cut() {
        let mut limit = RateLimit::new(100);
        limit.retarget(1000);
        assert_eq!((limit.per_second(), limit.ceiling()), (1000, 1000));
        limit.throttled(Millis(1_000));
        assert_eq!(limit.per_second(), 500);
        limit.retarget(2000);
        assert_eq!((limit.per_second(), limit.ceiling()), (500, 2000));
        limit.retarget(200);
        assert_eq!((limit.per_second(), limit.ceiling()), (200, 200));
        limit.retarget(0);
        assert_eq!(limit.ceiling(), 1);
    }

    #[test]
    fn throttling_halves_the_rate_which_grows_back_to_the_budget() {
        let mut limit = RateLimit::new(1000);
        limit.charge(10, Millis(0));
        limit.throttled(Millis(100));
        assert_eq!(limit.per_second(), 500);
        // The same burst's other throttled requests do not cut again.
        limit.throttled(Millis(600));
        assert_eq!(limit.per_second(), 500);
        limit.throttled(Millis(1_100));
        assert_eq!(limit.per_second(), 250);
        // Pages spaced by the lower rate.
        limit.charge(250, Millis(1_100));
        limit.charge(250, Millis(1_100));
        assert!(limit.next_at() >= Millis(2_100));
        // A tenth of the budget back per second without throttling, never beyond it.
        limit.charge(1, Millis(3_100));
        assert_eq!(limit.per_second(), 450);
        limit.charge(1, Millis(60_000));
        assert_eq!(limit.per_second(), 1000);
        for t in 0..40 {
            limit.throttled(Millis(100_000 + t * 1_000));
        }
        assert_eq!(limit.per_second(), 1, "never below one item per second");
    }

    #[test]
    fn retries_stop_after_the_last_attempt_with_a_typed_error() {
        let policy = RetryPolicy {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(10),
            max_attempts: 3,
        };
        let mut outbox: Outbox<()> = Outbox::new(policy, 1, 4);
        outbox.push_table((), TableSlot::Primary, TableOp::BatchWrite { writes: vec![] });
        let mut now = Millis(0);
        for round in 0.. {
            let Some(Action::<(), ()>::Table { id, .. }) = outbox.poll() else {
                panic!("a request")
            };
            let request = outbox.take(id).unwrap();
            match outbox.retry(request, StoreError::Throttled, now) {
                Ok(()) => {
                    now = outbox.poll_timeout().unwrap();
                    outbox.handle_timeout(now);
                }
                Err(e) => {
                    assert_eq!(round, 2);
                    assert_eq!(
                        e,
                        JobError::RetriesExhausted {
                            op: "BatchWriteItem",
                            attempts: 3,
                            last: StoreError::Throttled
                        }
                    );
                    break;
                }
            }
        }
        assert!(outbox.is_idle());
    }

    #[test]
    fn fatal_errors_are_not_retried() {
        let mut outbox: Outbox<()> = Outbox::new(RetryPolicy::default(), 1, 4);
        outbox.push_object((), ObjectOp::Delete { key: "k".into() });
        let Some(Action::<(), ()>::Object { id, .. }) = outbox.poll() else {
            panic!("a request")
        };
        let request = outbox.take(id).unwrap();
        assert!(matches!(
            outbox.retry(request, StoreError::Fatal("NoSuchBucket".into()), Millis(0)),
            Err(JobError::Store {
                op: "DeleteObject",
                ..
            })
        ));
    }
}
