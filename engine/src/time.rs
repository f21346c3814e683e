//! `Millis`: time as the engine sees it, milliseconds since the Unix epoch, always passed in.
//!
//! The engine has no clock: drivers read their runtime's clock (or the simulation's) and hand the value to
//! `handle_*` calls. Tests and the simulation start at 0, so traces are the same from run to run.

use std::fmt;
use std::time::Duration;

/// Milliseconds since the Unix epoch (or since the start of a simulated run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    /// Time zero.
    pub const ZERO: Millis = Millis(0);

    /// This instant plus a duration, saturating.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Millis {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Millis(self.0.saturating_add(ms))
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Whole seconds.
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Millis(5).saturating_add(Duration::from_secs(1)), Millis(1005));
        assert_eq!(
            Millis(u64::MAX).saturating_add(Duration::from_secs(1)),
            Millis(u64::MAX)
        );
        assert_eq!(Millis(5).since(Millis(10)), Duration::ZERO);
        assert_eq!(Millis(1500).as_secs(), 1);
    }
}
