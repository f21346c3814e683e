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

/// A UTC calendar date and time of day, for printing instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year (proleptic Gregorian).
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
    /// Millisecond, 0 to 999.
    pub millis: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
}

impl Millis {
    /// The UTC calendar date and time of this instant (taken as milliseconds since the Unix epoch).
    pub fn civil(self) -> Civil {
        let secs = self.0 / 1000;
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            millis: (self.0 % 1000) as u32,
            // 1970-01-01 was a Thursday.
            weekday: ((days + 4).rem_euclid(7)) as u32,
        }
    }

    /// ISO-8601 / RFC 3339 in UTC with milliseconds: `2026-11-25T07:06:40.180Z`.
    pub fn to_rfc3339(self) -> String {
        let c = self.civil();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
        )
    }

    /// The HTTP date form (RFC 7231 IMF-fixdate, JavaScript's `toUTCString()`): `Wed, 25 Nov 2026 07:06:40 GMT`.
    pub fn to_http_date(self) -> String {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let c = self.civil();
        format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            DAYS[c.weekday as usize % 7],
            c.day,
            MONTHS[(c.month as usize + 11) % 12],
            c.year,
            c.hour,
            c.minute,
            c.second
        )
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

    #[test]
    fn instants_print_as_calendar_dates() {
        assert_eq!(Millis(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Millis(0).to_http_date(), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(Millis(951_782_400_000).to_rfc3339(), "2000-02-29T00:00:00.000Z");
        assert_eq!(Millis(1_795_591_600_180).to_rfc3339(), "2026-11-25T07:26:40.180Z");
        assert_eq!(
            Millis(1_795_591_600_180).to_http_date(),
            "Wed, 25 Nov 2026 07:26:40 GMT"
        );
    }
}
