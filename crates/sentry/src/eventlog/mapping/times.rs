//! Event times: `SystemTime` attributes (`2016-07-08T18:12:51.6816408Z`) read, and the
//! records' times written, in UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kraken_codec::Text;

/// `2016-07-08T18:12:51.6816408Z` (any number of fraction digits, up to 9) as a time; `None`
/// for a year not of four digits (Windows writes years 1601 to 9999 this way) or a time this
/// platform's clock cannot hold (before 1601 on Windows).
pub(super) fn parse_system_time(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let (date, time) = whole.split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.splitn(3, ':').map(str::parse::<u64>);
    let (hour, minute, second) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u32>().ok()? * 10u32.pow(9 - fraction.len() as u32)
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + (hour * 3_600 + minute * 60 + second) as i64;
    let since = Duration::new(seconds.unsigned_abs(), 0);
    let at = if seconds >= 0 { UNIX_EPOCH.checked_add(since)? } else { UNIX_EPOCH.checked_sub(since)? };
    at.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// (date, seconds of the day, nanoseconds) of a time, in UTC.
fn utc_parts(time: SystemTime) -> ((i64, i64, i64), i64, u32) {
    let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (after.as_secs() as i64, after.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let whole = -(d.as_secs() as i64) - i64::from(d.subsec_nanos() > 0);
            (whole, if d.subsec_nanos() > 0 { 1_000_000_000 - d.subsec_nanos() } else { 0 })
        }
    };
    (civil_from_days(seconds.div_euclid(86_400)), seconds.rem_euclid(86_400), nanos)
}

/// `2016-07-08T18:12:51.6816408Z`.
pub(super) fn rfc3339_100ns(time: SystemTime) -> Text {
    utc_text(time, 'T', true, "Z")
}

/// `2016-07-08 18:12:51+0000`: the seed's form, in UTC.
pub(super) fn seed_time(time: SystemTime) -> Text {
    utc_text(time, ' ', false, "+0000")
}

/// A UTC time as `yyyy-MM-dd`, `separator`, `HH:mm:ss`, the 100 ns as 7 fraction digits when
/// `with_100ns`, then `zone`. Written digit by digit into a buffer on the stack: two of these
/// per event, and `format!` cost more than the rest of the dates.
fn utc_text(time: SystemTime, separator: char, with_100ns: bool, zone: &str) -> Text {
    let ((year, month, day), second_of_day, nanos) = utc_parts(time);
    let (hour, minute, second) = (second_of_day / 3_600, second_of_day / 60 % 60, second_of_day % 60);
    let Ok(year @ 0..=9999) = u32::try_from(year) else {
        // A year of more than four digits: rare, not hot.
        let fraction = if with_100ns { format!(".{:07}", nanos / 100) } else { String::new() };
        return Text::from(format!(
            "{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{fraction}{zone}"
        ));
    };
    let mut buffer = [0u8; 40];
    let mut length = 0;
    let mut put = |bytes: &[u8]| {
        buffer[length..length + bytes.len()].copy_from_slice(bytes);
        length += bytes.len();
    };
    put(&digits::<4>(year));
    let mut separator_bytes = [0; 4];
    let separator = separator.encode_utf8(&mut separator_bytes).as_bytes();
    for (before, value) in
        [(&b"-"[..], month), (b"-", day), (separator, hour), (b":", minute), (b":", second)]
    {
        put(before);
        put(&digits::<2>(value as u32));
    }
    if with_100ns {
        put(b".");
        put(&digits::<7>(nanos / 100));
    }
    put(zone.as_bytes());
    // Digits and the given texts only: always UTF-8.
    Text::from(std::str::from_utf8(&buffer[..length]).unwrap_or_default())
}

/// `value`'s last `WIDTH` decimal digits, zero-padded.
fn digits<const WIDTH: usize>(mut value: u32) -> [u8; WIDTH] {
    let mut digits = [b'0'; WIDTH];
    for place in (0..WIDTH).rev() {
        digits[place] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_both_ways_across_the_calendar() {
        for (text, seconds) in [
            ("1970-01-01T00:00:00Z", 0i64),
            ("2000-02-29T12:00:00Z", 951_825_600),
            ("2038-01-19T03:14:08Z", 2_147_483_648),
            ("1601-01-01T00:00:00Z", -11_644_473_600),
        ] {
            let parsed = parse_system_time(text).unwrap();
            let expected = if seconds >= 0 {
                UNIX_EPOCH + Duration::from_secs(seconds as u64)
            } else {
                UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
            };
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(rfc3339_100ns(parsed), text.replace('Z', ".0000000Z"));
        }
        assert!(parse_system_time("2026-11-30T07:15:02.1234567890Z").is_none(), "more than 9 digits");
        assert!(parse_system_time("2026-11-30 07:15:02Z").is_none());
        for year in ["999999999999", "30829", "10000", "0000", "-0001"] {
            assert!(parse_system_time(&format!("{year}-01-01T00:00:00Z")).is_none(), "{year}");
        }
    }
}
