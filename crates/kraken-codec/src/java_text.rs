//! The text forms Java gives values, as the typed-JSON form shows them: `Float.toString`,
//! `Double.toString`, `Instant.toString` and `Inet6Address.getHostAddress`.
//!
//! Floats are printed from their shortest round-trip digits (what Rust's formatter yields) in
//! Java's layout: plain notation with at least one fractional digit for magnitudes in
//! `[1e-3, 1e7)`, otherwise `d.dddE±n`. JDK 17 occasionally printed a longer digit string than
//! the shortest; the `bits` field, not this text, is authoritative.

use std::net::Ipv6Addr;

/// `Float.toString` of a value.
pub fn float_to_string(v: f32) -> String {
    let shortest = format!("{v:e}");
    let digits = if significant_digits(&shortest) < 2 { format!("{v:.1e}") } else { shortest };
    java_decimal(v.is_nan(), v.is_infinite(), v == 0.0, v.is_sign_negative(), &digits)
}

/// `Double.toString` of a value.
pub fn double_to_string(v: f64) -> String {
    let shortest = format!("{v:e}");
    let digits = if significant_digits(&shortest) < 2 { format!("{v:.1e}") } else { shortest };
    java_decimal(v.is_nan(), v.is_infinite(), v == 0.0, v.is_sign_negative(), &digits)
}

/// Java always shows two significant digits where the shortest form has one (`1.4E-45`, not
/// `1.0E-45`), choosing the closest two-digit decimal; this counts the digits of Rust's form.
fn significant_digits(scientific: &str) -> usize {
    let mantissa = scientific.split('e').next().unwrap_or("");
    mantissa.chars().filter(char::is_ascii_digit).count()
}

fn java_decimal(nan: bool, infinite: bool, zero: bool, negative: bool, scientific: &str) -> String {
    let sign = if negative { "-" } else { "" };
    if nan {
        return "NaN".into();
    }
    if infinite {
        return format!("{sign}Infinity");
    }
    if zero {
        return format!("{sign}0.0");
    }
    // `scientific` is Rust's shortest form, e.g. "-3.14159e0" or "1.4e-45".
    let unsigned = scientific.trim_start_matches('-');
    let (mantissa, exponent) = unsigned.split_once('e').unwrap_or((unsigned, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let (first, rest) = digits.split_at(1);
    if (-3..7).contains(&exponent) {
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            let padded = format!("{digits:0<int_len$}");
            let (int_part, frac) = padded.split_at(int_len);
            let frac = if frac.is_empty() { "0" } else { frac };
            format!("{sign}{int_part}.{frac}")
        } else {
            let zeros = "0".repeat((-exponent - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exponent}")
    }
}

/// `Instant.toString` of a millisecond timestamp: `2010-06-15T12:34:56.789Z`, years past 9999
/// with a `+` sign, the fraction only when it is not zero.
pub fn instant_to_string(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let year = if year > 9999 {
        format!("+{year}")
    } else if year >= 0 {
        format!("{year:04}")
    } else {
        format!("-{:04}", year.unsigned_abs())
    };
    let (h, m, s, milli) =
        (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    let fraction = if milli == 0 { String::new() } else { format!(".{milli:03}") };
    format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}Z")
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `Inet6Address.getHostAddress`: eight lowercase hex groups, no `::` compression.
pub fn ipv6_to_string(addr: &Ipv6Addr) -> String {
    let groups: Vec<String> = addr.segments().iter().map(|g| format!("{g:x}")).collect();
    groups.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_in_java_layout() {
        let cases32 = [
            (3.25159f32, "3.25159"),
            (1.0, "1.0"),
            (-2.25, "-2.25"),
            (f32::from_bits(1), "1.4E-45"),
            (f32::MAX, "3.4028235E38"),
            (f32::NEG_INFINITY, "-Infinity"),
            (-0.0, "-0.0"),
            (1.0e7, "1.0E7"),
            (1234567.0, "1234567.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
        ];
        for (v, text) in cases32 {
            assert_eq!(float_to_string(v), text);
        }
        assert_eq!(double_to_string(1.11), "1.11");
        assert_eq!(double_to_string(f64::MAX), "1.7976931348623157E308");
        assert_eq!(double_to_string(f64::from_bits(1)), "4.9E-324");
        assert_eq!(double_to_string(100.0), "100.0");
        assert_eq!(double_to_string(f64::NAN), "NaN");
    }

    #[test]
    fn instants_like_java() {
        assert_eq!(instant_to_string(0), "1970-01-01T00:00:00Z");
        assert_eq!(instant_to_string(1_276_605_296_789), "2010-06-15T12:34:56.789Z");
        assert_eq!(instant_to_string(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(instant_to_string(i64::MAX), "+292278994-08-17T07:12:55.807Z");
        assert_eq!(instant_to_string(i64::MIN), "-292275055-05-16T16:47:04.192Z");
    }

    #[test]
    fn ipv6_without_compression() {
        assert_eq!(ipv6_to_string(&"2001:db8::1".parse().unwrap()), "2001:db8:0:0:0:0:0:1");
    }
}
