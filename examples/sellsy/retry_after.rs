//! The `Retry-After` header of a 429: delta-seconds or an HTTP date (RFC 9110 §10.2.3).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// How long to wait, or `None` when the header is absent or unreadable. A date in the
/// past means no wait.
pub(crate) fn parse_retry_after(value: Option<&str>, now: SystemTime) -> Option<Duration> {
    let text = value?.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Duration::from_secs);
    }
    let at = UNIX_EPOCH + Duration::from_secs(http_date_secs(text)?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Seconds since the epoch of an IMF-fixdate, `Sun, 24 Nov 2024 10:00:05 GMT`: the one
/// format senders must use (the obsolete RFC 850 and asctime forms are not read).
fn http_date_secs(text: &str) -> Option<u64> {
    let (_weekday, rest) = text.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let (day, year): (u64, u64) = (day.parse().ok()?, year.parse().ok()?);
    let clock: Vec<u64> = time
        .split(':')
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    let [hours, minutes, seconds] = clock.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || year < 1970 || *hours > 23 || *minutes > 59 || *seconds > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hours * 3_600 + minutes * 60 + seconds)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (year >= 1970),
/// after Howard Hinnant's `days_from_civil`.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn delta_seconds_are_read_trimmed() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after(Some("1"), now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            parse_retry_after(Some(" 30 "), now),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn absent_or_unreadable_values_give_none() {
        for value in [None, Some(""), Some("soon"), Some("-1"), Some("1.5")] {
            assert_eq!(
                parse_retry_after(value, SystemTime::now()),
                None,
                "{value:?}"
            );
        }
    }

    #[test]
    fn http_dates_give_the_time_left() {
        // 2024-11-24T10:00:00Z
        let now = at(1_732_442_400);
        let later = Some("Sun, 24 Nov 2024 10:00:05 GMT");
        assert_eq!(parse_retry_after(later, now), Some(Duration::from_secs(5)));
        let past = Some("Sun, 24 Nov 2024 09:00:00 GMT");
        assert_eq!(parse_retry_after(past, now), Some(Duration::ZERO));
        assert_eq!(http_date_secs("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date_secs("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        assert_eq!(http_date_secs("Sun, 24 Nov 2024 10:00:05 CET"), None);
    }
}
