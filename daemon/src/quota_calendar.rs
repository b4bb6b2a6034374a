//! The quota calendar: when ModelScope's quota days begin (`reset_time` in `time_zone`), which
//! quota day an instant belongs to, and how its instants are written. Not a clock: the wall time
//! comes from [`crate::clock`].

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// When quota days begin: `reset` o'clock in `tz` (default 00:00 Asia/Shanghai).
#[derive(Debug, Clone)]
pub struct QuotaCalendar {
    tz: TimeZone,
    tz_name: String,
    reset: Time,
}

impl QuotaCalendar {
    /// `reset` is `HH:MM` or `HH:MM:SS`; errors name the bad setting.
    pub fn new(tz_name: &str, reset: &str) -> Result<Self, String> {
        let tz = TimeZone::get(tz_name)
            .map_err(|e| format!("time_zone {tz_name:?} is not a known time zone: {e}"))?;
        let valid_shape = matches!(reset.len(), 5 | 8) && reset.as_bytes()[2] == b':';
        let reset_time: Time = reset.parse().ok().filter(|_| valid_shape).ok_or_else(|| {
            format!("reset_time {reset:?} is not a time of day as HH:MM or HH:MM:SS")
        })?;
        Ok(Self {
            tz,
            tz_name: tz_name.to_owned(),
            reset: reset_time,
        })
    }

    pub fn shanghai_midnight() -> Self {
        Self::new("Asia/Shanghai", "00:00").expect("Asia/Shanghai is bundled")
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    pub fn describe(&self) -> String {
        let t = self.reset;
        if t.second() == 0 {
            format!("{:02}:{:02} {}", t.hour(), t.minute(), self.tz_name)
        } else {
            format!(
                "{:02}:{:02}:{:02} {}",
                t.hour(),
                t.minute(),
                t.second(),
                self.tz_name
            )
        }
    }

    /// The quota day an instant belongs to.
    pub fn day_of(&self, at: Timestamp) -> Date {
        let dt = at.to_zoned_datetime(self.tz.clone()).datetime();
        if dt.time() < self.reset {
            dt.date().yesterday().expect("not the first day of time")
        } else {
            dt.date()
        }
    }

    /// The instant a quota day begins.
    pub fn start_of(&self, day: Date) -> Timestamp {
        day.to_datetime(self.reset)
            .to_zoned_datetime(self.tz.clone())
            .map(|z| z.timestamp())
            .expect("a reset instant within jiff's range")
    }

    /// The first reset strictly after `at`.
    pub fn next_reset(&self, at: Timestamp) -> Timestamp {
        self.start_of(
            self.day_of(at)
                .tomorrow()
                .expect("not the last day of time"),
        )
    }

    /// RFC 3339 with the zone's offset, as status shows it.
    pub fn format(&self, at: Timestamp) -> String {
        at.to_zoned_datetime(self.tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn quota_days_turn_at_shanghai_midnight() {
        let calendar = QuotaCalendar::shanghai_midnight();
        // 23:59:59.999 in Shanghai is 15:59:59.999Z the day before.
        let cases = [
            ("2026-11-24T15:59:59.999Z", (2026, 11, 24)),
            ("2026-11-24T16:00:00Z", (2026, 11, 25)),
            ("2026-11-25T15:59:59Z", (2026, 11, 25)),
        ];
        for (instant, (y, m, d)) in cases {
            assert_eq!(
                calendar.day_of(ts(instant)),
                jiff::civil::date(y, m, d),
                "{instant}"
            );
        }
        assert_eq!(
            calendar.next_reset(ts("2026-11-24T15:59:59.999Z")),
            ts("2026-11-24T16:00:00Z")
        );
        assert_eq!(
            calendar.next_reset(ts("2026-11-24T16:00:00Z")),
            ts("2026-11-25T16:00:00Z")
        );
        assert_eq!(
            calendar.format(ts("2026-11-24T16:00:00Z")),
            "2026-11-25T00:00:00+08:00"
        );
    }

    #[test]
    fn a_configured_reset_time_and_zone_move_the_boundary() {
        let calendar = QuotaCalendar::new("UTC", "04:30").unwrap();
        assert_eq!(
            calendar.day_of(ts("2026-11-25T04:29:59Z")),
            jiff::civil::date(2026, 11, 24)
        );
        assert_eq!(
            calendar.day_of(ts("2026-11-25T04:30:00Z")),
            jiff::civil::date(2026, 11, 25)
        );
        assert_eq!(
            calendar.next_reset(ts("2026-11-25T04:30:00Z")),
            ts("2026-11-26T04:30:00Z")
        );
        assert!(QuotaCalendar::new("UTC", "4:30").is_err());
        assert!(QuotaCalendar::new("UTC", "24:00").is_err());
    }

    #[test]
    fn a_machine_that_wakes_days_later_lands_on_the_current_day() {
        let calendar = QuotaCalendar::shanghai_midnight();
        let before = ts("2026-11-20T10:00:00Z");
        let after_weekend = ts("2026-11-23T01:00:00Z");
        assert!(calendar.next_reset(before) <= after_weekend);
        assert_eq!(
            calendar.day_of(after_weekend),
            jiff::civil::date(2026, 11, 23)
        );
    }
}
