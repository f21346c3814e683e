//! Formatting instants for the wire: ISO-8601 stream labels and epoch seconds.

use ddbrep_engine::time::Millis;

/// `2015-06-27T00:48:05.899`: the form of DynamoDB's stream labels (UTC, no zone suffix).
pub fn stream_label(t: Millis) -> String {
    let secs = t.0 / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        t.0 % 1000
    )
}

/// Epoch seconds with milliseconds, as a JSON number (DynamoDB's timestamps on the JSON wire).
pub fn epoch_seconds(t: Millis) -> serde_json::Value {
    let text = if t.0.is_multiple_of(1000) {
        format!("{}", t.0 / 1000)
    } else {
        format!("{}.{:03}", t.0 / 1000, t.0 % 1000)
    };
    text.parse::<serde_json::Number>()
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// Whole epoch seconds, rounded down (stream records' ApproximateCreationDateTime).
pub fn epoch_whole_seconds(t: Millis) -> u64 {
    t.0 / 1000
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_iso_8601() {
        assert_eq!(stream_label(Millis(0)), "1970-01-01T00:00:00.000");
        assert_eq!(stream_label(Millis(1_435_366_085_899)), "2015-06-27T00:48:05.899");
        assert_eq!(stream_label(Millis(951_782_400_000)), "2000-02-29T00:00:00.000");
    }

    #[test]
    fn epoch_seconds_keep_milliseconds() {
        assert_eq!(epoch_seconds(Millis(1_500)).to_string(), "1.500");
        assert_eq!(epoch_seconds(Millis(2_000)).to_string(), "2");
    }
}
