//! Timer trigger schedules as the Functions host reads them: NCRONTAB expressions with
//! seconds (`{second} {minute} {hour} {day} {month} {day-of-week}`, `0 */5 * * * *`), or a
//! TimeSpan (`00:05:00`) for a fixed interval. Times are UTC.
//!
//! Each field takes `*`, a value, a range `a-b`, a list `a,b`, and steps `*/n` or `a-b/n`;
//! months and days of the week also take their English names (`JAN`, `MON`); day 7 is Sunday
//! like 0. As in NCrontab, a time matches when every field matches (day of month and day of
//! week together).

use std::time::Duration;

use time::{Date, Month, OffsetDateTime, Time};

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// An NCRONTAB expression.
    Cron(Cron),
    /// A fixed interval (a TimeSpan).
    Every(Duration),
}

/// The six fields of an NCRONTAB expression, as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn field(text: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(min + u32::try_from(i).unwrap_or(0));
        }
        let v: u32 = s
            .parse()
            .map_err(|_| format!("'{s}' is not a valid {what}"))?;
        // Day of week 7 is Sunday.
        let v = if what == "day of the week" && v == 7 {
            0
        } else {
            v
        };
        if v < min || v > max {
            return Err(format!("{what} {v} is out of range ({min}-{max})"));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("'{s}' is not a valid step for the {what}"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!("the {what} range {range} is backwards"));
            }
            (a, b)
        } else {
            let v = value(range)?;
            // `5/10` means from 5 to the end, every 10.
            (v, if part.contains('/') { max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Schedule {
    /// Parses an NCRONTAB expression (six fields) or a TimeSpan.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.contains(':') && !t.contains(' ') {
            return match super::parse_timespan(t) {
                Some(d) if !d.is_zero() => Ok(Schedule::Every(d)),
                _ => Err(format!("'{t}' is not a valid TimeSpan schedule (hh:mm:ss)")),
            };
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        let [s, mi, h, d, mo, w] = f.as_slice() else {
            return Err(format!(
                "'{t}' has {} fields; an NCRONTAB schedule has six: {{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}",
                f.len()
            ));
        };
        Ok(Schedule::Cron(Cron {
            seconds: field(s, "second", 0, 59, &[])?,
            minutes: field(mi, "minute", 0, 59, &[])?,
            hours: u32::try_from(field(h, "hour", 0, 23, &[])?).unwrap_or(0),
            days: u32::try_from(field(d, "day", 1, 31, &[])?).unwrap_or(0),
            months: u16::try_from(field(mo, "month", 1, 12, &MONTHS)?).unwrap_or(0),
            weekdays: u8::try_from(field(w, "day of the week", 0, 6, &DAYS)?).unwrap_or(0),
        }))
    }

    /// The first occurrence strictly after `after` (whole seconds); `None` when there is
    /// none within five years (`0 0 0 31 2 *`).
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let after = after.replace_nanosecond(0).ok()?;
        match self {
            Schedule::Every(d) => {
                let step = i64::try_from(d.as_secs().max(1)).ok()?;
                let unix = after.unix_timestamp();
                OffsetDateTime::from_unix_timestamp((unix / step + 1) * step).ok()
            }
            Schedule::Cron(c) => c.next_after(after),
        }
    }

    /// The shortest time between occurrences is at least a minute (Azure's default for
    /// `useMonitor`).
    pub fn at_least_a_minute(&self) -> bool {
        match self {
            Schedule::Every(d) => *d >= Duration::from_secs(60),
            Schedule::Cron(c) => c.seconds.count_ones() == 1 && c.minutes.count_ones() < 60,
        }
    }
}

impl Cron {
    fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let mut t = after.checked_add(time::Duration::SECOND)?;
        let limit = after.checked_add(time::Duration::days(5 * 366))?;
        while t <= limit {
            let (date, clock) = (t.date(), t.time());
            if self.months & (1 << u8::from(date.month())) == 0 {
                let (y, m) = match date.month() {
                    Month::December => (date.year() + 1, Month::January),
                    m => (date.year(), m.next()),
                };
                t = Date::from_calendar_date(y, m, 1)
                    .ok()?
                    .midnight()
                    .assume_utc();
                continue;
            }
            if self.days & (1 << date.day()) == 0
                || self.weekdays & (1 << date.weekday().number_days_from_sunday()) == 0
            {
                t = date.next_day()?.midnight().assume_utc();
                continue;
            }
            if self.hours & (1 << clock.hour()) == 0 {
                t = t
                    .replace_time(Time::from_hms(clock.hour(), 0, 0).ok()?)
                    .checked_add(time::Duration::HOUR)?;
                continue;
            }
            if self.minutes & (1 << clock.minute()) == 0 {
                t = t
                    .replace_time(Time::from_hms(clock.hour(), clock.minute(), 0).ok()?)
                    .checked_add(time::Duration::MINUTE)?;
                continue;
            }
            if self.seconds & (1 << clock.second()) == 0 {
                t = t.checked_add(time::Duration::SECOND)?;
                continue;
            }
            return Some(t);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn next(expr: &str, after: &str) -> String {
        let s = Schedule::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        s.next_after(at(after))
            .map(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn occurrences_as_azure_documents_them() {
        // Azure's examples (timer trigger documentation).
        assert_eq!(
            next("0 */5 * * * *", "2026-12-06T05:03:10Z"),
            "2026-12-06T05:05:00Z"
        );
        assert_eq!(
            next("0 0 * * * *", "2026-12-06T05:03:10Z"),
            "2026-12-06T06:00:00Z"
        );
        assert_eq!(
            next("0 0 */2 * * *", "2026-12-06T05:03:10Z"),
            "2026-12-06T06:00:00Z"
        );
        assert_eq!(
            next("0 0 9-17 * * *", "2026-12-06T18:00:00Z"),
            "2026-12-07T09:00:00Z"
        );
        assert_eq!(
            next("0 30 9 * * *", "2026-12-06T09:30:00Z"),
            "2026-12-07T09:30:00Z"
        );
        assert_eq!(
            next("0 30 9 * * 1-5", "2026-12-05T10:00:00Z"),
            "2026-12-07T09:30:00Z"
        );
        assert_eq!(
            next("0 30 9 * Jan Mon", "2026-12-06T00:00:00Z"),
            "2027-01-04T09:30:00Z"
        );
        assert_eq!(
            next("*/15 * * * * *", "2026-12-06T05:03:10Z"),
            "2026-12-06T05:03:15Z"
        );
        assert_eq!(
            next("5,8 * * * * *", "2026-12-06T05:03:06Z"),
            "2026-12-06T05:03:08Z"
        );
        assert_eq!(
            next("0 0 0 29 2 *", "2026-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("0 0 0 * * 7", "2026-12-06T00:00:00Z"),
            "2026-12-13T00:00:00Z"
        );
        assert_eq!(next("0 0 0 31 2 *", "2026-01-01T00:00:00Z"), "none");
        assert_eq!(
            next("00:05:00", "2026-12-06T05:03:10Z"),
            "2026-12-06T05:05:00Z"
        );
    }

    #[test]
    fn bad_schedules_say_why() {
        for (expr, want) in [
            ("0 */5 * * *", "has 5 fields"),
            ("0 61 * * * *", "minute 61 is out of range (0-59)"),
            ("0 0 * * Foo *", "'Foo' is not a valid month"),
            ("*/0 * * * * *", "'0' is not a valid step"),
            ("0 0 5-2 * * *", "backwards"),
            ("00:00:00", "not a valid TimeSpan"),
        ] {
            match Schedule::parse(expr) {
                Ok(s) => panic!("{expr} parsed: {s:?}"),
                Err(e) => assert!(e.contains(want), "{expr}: {e}"),
            }
        }
        assert!(Schedule::parse("0 */5 * * * *").is_ok_and(|s| s.at_least_a_minute()));
        assert!(Schedule::parse("*/10 * * * * *").is_ok_and(|s| !s.at_least_a_minute()));
    }
}
