//! Time as ClickHouse storage writes it: row ids (microseconds, increasing on one node) and
//! UTC days (`YYYYMMDD`, the partition of a row).

use std::sync::Mutex;

/// Ids for rows this node writes: microseconds since the Unix epoch, each above the last one
/// given (unique and increasing on one node; ordered across nodes as far as their clocks
/// agree).
#[derive(Default)]
pub struct IdClock(Mutex<i64>);

impl IdClock {
    /// A clock that gives ids above `floor` (the newest this node wrote before: a clock set
    /// back while the node was down must not hand out ids below those).
    pub fn above(floor: i64) -> IdClock {
        IdClock(Mutex::new(floor))
    }

    pub fn next(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *last = (*last + 1).max(now);
        *last
    }
}

/// The UTC day of `ms` (Unix ms) as `YYYYMMDD`.
pub fn utc_day(ms: i64) -> u32 {
    let date = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    (date.year().max(0) as u32) * 10_000 + u32::from(u8::from(date.month())) * 100 + u32::from(date.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_above_the_floor_even_with_the_clock_behind() {
        let far_ahead = i64::MAX / 2;
        let clock = IdClock::above(far_ahead);
        assert_eq!(clock.next(), far_ahead + 1);
        assert_eq!(clock.next(), far_ahead + 2);
    }

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(utc_day(0), 19700101);
        assert_eq!(utc_day(1_798_761_599_999), 20261231);
        assert_eq!(utc_day(1_798_761_600_000), 20270101);
    }

    #[test]
    fn ids_increase_even_within_one_microsecond() {
        let clock = IdClock::default();
        let ids: Vec<i64> = (0..1000).map(|_| clock.next()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}
