//! Time and randomness, injected: the server never reads the system clock or the OS's entropy directly, so
//! tests and the simulation can drive both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use ddbrep_engine::time::Millis;

/// Where the emulator gets the current time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch (or since the start of a simulated run).
    fn now(&self) -> Millis;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told: for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Millis) -> ManualClock {
        ManualClock(AtomicU64::new(start.0))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, now: Millis) {
        self.0.store(now.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        Millis(self.0.load(Ordering::SeqCst))
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> Millis {
        (**self).now()
    }
}

/// The emulator's source of randomness (request ids, shard ids, iterator tokens): seeded, so one seed gives
/// one run.
#[derive(Debug)]
pub struct Rng(Mutex<fastrand::Rng>);

impl Rng {
    /// A generator with a fixed seed.
    pub fn seeded(seed: u64) -> Rng {
        Rng(Mutex::new(fastrand::Rng::with_seed(seed)))
    }

    /// A generator seeded from the OS (the default for the real server).
    pub fn from_entropy() -> Rng {
        Rng(Mutex::new(fastrand::Rng::new()))
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        match self.0.lock() {
            Ok(mut rng) => rng.u64(..),
            Err(poisoned) => poisoned.into_inner().u64(..),
        }
    }

    /// `len` random characters from `alphabet` (ASCII).
    pub fn string(&self, alphabet: &[u8], len: usize) -> String {
        let mut rng = match self.0.lock() {
            Ok(rng) => rng,
            Err(poisoned) => poisoned.into_inner(),
        };
        if alphabet.is_empty() {
            return String::new();
        }
        (0..len)
            .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
            .collect()
    }
}
