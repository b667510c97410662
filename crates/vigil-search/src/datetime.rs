//! FHIR date, dateTime and instant values as ranges of microseconds since the Unix epoch.
//!
//! A value covers the whole span its precision implies: `2015` is the year 2015,
//! `2015-02` the month, `2015-02-07T13:28:17Z` one second. Both index rows and search values are
//! such ranges (inclusive bounds), which is what the FHIR date comparison rules are written in.
//!
//! Timezone choice: a dateTime with a time but no offset, and every date without a time, are
//! taken to be UTC. (FHIR leaves them to the server; UTC keeps search deterministic and
//! independent of the machine's zone.)

/// Microseconds in a second.
const MICROS: i64 = 1_000_000;

/// How much of a date/time a value gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DatePrecision {
    /// `YYYY`
    Year,
    /// `YYYY-MM`
    Month,
    /// `YYYY-MM-DD`
    Day,
    /// `YYYY-MM-DDThh:mm`
    Minute,
    /// `YYYY-MM-DDThh:mm:ss`
    Second,
    /// With fractional seconds (kept to the microsecond).
    Fraction,
}

/// A parsed date/time: inclusive range in microseconds since the epoch, and its precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// First microsecond covered.
    pub low: i64,
    /// Last microsecond covered.
    pub high: i64,
    /// Precision as written.
    pub precision: DatePrecision,
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(text: &str, len: usize) -> Option<u32> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Parses a FHIR date, dateTime or instant (also the forms search values use: minutes without
/// seconds). `None` when malformed.
pub fn parse(text: &str) -> Option<DateRange> {
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year = i64::from(digits(parts.next()?, 4)?);
    // A month or day written is 01 or more (`2020-00`, `0000-00-00` are malformed, not a
    // year); FHIR has no year 0000.
    let month = parts
        .next()
        .map(|m| digits(m, 2).filter(|m| *m > 0))
        .unwrap_or(Some(0))?;
    let day = parts
        .next()
        .map(|d| digits(d, 2).filter(|d| *d > 0))
        .unwrap_or(Some(0))?;
    if parts.next().is_some() || year == 0 {
        return None;
    }
    if month > 12 || (month == 0 && day != 0) || day > days_in_month(year, month.max(1)) {
        return None;
    }
    if month == 0 {
        let low = days_from_civil(year, 1, 1) * 86_400 * MICROS;
        let high = days_from_civil(year + 1, 1, 1) * 86_400 * MICROS - 1;
        return time.is_none().then_some(DateRange {
            low,
            high,
            precision: DatePrecision::Year,
        });
    }
    if day == 0 {
        let low = days_from_civil(year, month, 1) * 86_400 * MICROS;
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let high = days_from_civil(next_year, next_month, 1) * 86_400 * MICROS - 1;
        return time.is_none().then_some(DateRange {
            low,
            high,
            precision: DatePrecision::Month,
        });
    }
    let day_start = days_from_civil(year, month, day) * 86_400 * MICROS;
    match time {
        None => Some(DateRange {
            low: day_start,
            high: day_start + 86_400 * MICROS - 1,
            precision: DatePrecision::Day,
        }),
        Some(time) => parse_time(time, day_start),
    }
}

/// Parses `hh:mm[:ss[.fff]][Z|±hh:mm]` on top of the day's start.
fn parse_time(time: &str, day_start: i64) -> Option<DateRange> {
    let zone_at = time.find(['Z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let offset_seconds = parse_zone(zone)?;
    let mut fields = clock.split(':');
    let hour = digits(fields.next()?, 2)?;
    let minute = digits(fields.next()?, 2)?;
    let seconds = fields.next();
    if fields.next().is_some() || hour > 23 || minute > 59 {
        return None;
    }
    let base =
        day_start + (i64::from(hour) * 3600 + i64::from(minute) * 60 - offset_seconds) * MICROS;
    let Some(seconds) = seconds else {
        return Some(DateRange {
            low: base,
            high: base + 60 * MICROS - 1,
            precision: DatePrecision::Minute,
        });
    };
    let (whole, fraction) = match seconds.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (seconds, None),
    };
    let second = digits(whole, 2)?;
    if second > 59 {
        return None;
    }
    let low = base + i64::from(second) * MICROS;
    match fraction {
        None => Some(DateRange {
            low,
            high: low + MICROS - 1,
            precision: DatePrecision::Second,
        }),
        Some(fraction) => {
            if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Keep microseconds; finer digits only narrow the range within that microsecond.
            let kept = &fraction[..fraction.len().min(6)];
            let scale = 10i64.pow(u32::try_from(6 - kept.len()).ok()?);
            let micros: i64 = kept.parse::<i64>().ok()? * scale;
            let width = if fraction.len() >= 6 { 1 } else { scale };
            Some(DateRange {
                low: low + micros,
                high: low + micros + width - 1,
                precision: DatePrecision::Fraction,
            })
        }
    }
}

/// Offset east of UTC in seconds; an absent zone is UTC.
fn parse_zone(zone: &str) -> Option<i64> {
    if zone.is_empty() || zone == "Z" {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = zone[1..].split_once(':')?;
    let hours = digits(hours, 2)?;
    let minutes = digits(minutes, 2)?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    Some(sign * (i64::from(hours) * 3600 + i64::from(minutes) * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400 * MICROS;

    #[test]
    fn ranges_follow_precision() {
        let y2015 = days_from_civil(2015, 1, 1) * DAY;
        let y2016 = days_from_civil(2016, 1, 1) * DAY;
        let cases: &[(&str, Option<(i64, i64)>)] = &[
            ("1970-01-01", Some((0, DAY - 1))),
            ("2015", Some((y2015, y2016 - 1))),
            (
                "2015-12",
                Some((days_from_civil(2015, 12, 1) * DAY, y2016 - 1)),
            ),
            (
                "2016-02",
                Some((
                    days_from_civil(2016, 2, 1) * DAY,
                    days_from_civil(2016, 3, 1) * DAY - 1,
                )),
            ),
            ("1970-01-01T00:00:01Z", Some((MICROS, 2 * MICROS - 1))),
            ("1970-01-01T01:00:00+01:00", Some((0, MICROS - 1))),
            ("1970-01-01T00:00:00.5Z", Some((500_000, 599_999))),
            ("1970-01-01T00:00:00.123456789Z", Some((123_456, 123_456))),
            ("1970-01-01T00:01", Some((60 * MICROS, 120 * MICROS - 1))),
            ("1969-12-31", Some((-DAY, -1))),
            ("2015-13", None),
            ("2015-02-29", None),
            (
                "2016-02-29",
                Some((
                    days_from_civil(2016, 2, 29) * DAY,
                    days_from_civil(2016, 3, 1) * DAY - 1,
                )),
            ),
            ("15", None),
            ("2015-1-1", None),
            ("2015T10:00", None),
            ("2015-01-01T25:00", None),
            ("2015-01-01T10:00:00+15:00", None),
            ("2015-01-01T10:00:00.Z", None),
            ("", None),
            ("abcd", None),
            ("0000-00-00", None),
            ("2015-00", None),
            ("2015-01-00", None),
            ("0000", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse(text).map(|range| (range.low, range.high)),
                *expected,
                "{text}"
            );
        }
    }
}
