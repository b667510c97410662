//! Partial dates, dateTimes and times with their precision, as FHIRPath sees them: parsing from
//! literals and FHIR JSON, precision-aware comparison (a comparison that the shared precision
//! cannot decide is empty), calendar arithmetic and formatting.
//!
//! Timezones: when both values carry an offset they are compared in UTC. When exactly one does
//! and both are known to the hour or finer, the comparison is undecidable (empty) unless the
//! calendar dates are more than a day apart, since no offset can then change the answer. Values
//! known only to the day or coarser compare their fields as written. Evaluation never consults
//! the machine's timezone.

use std::cmp::Ordering;
use std::fmt::Write as _;

/// How much of a date/time value is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    /// `YYYY`
    Year,
    /// `YYYY-MM`
    Month,
    /// `YYYY-MM-DD`
    Day,
    /// `hh`
    Hour,
    /// `hh:mm`
    Minute,
    /// `hh:mm:ss`
    Second,
    /// `hh:mm:ss.fff`
    Millisecond,
}

/// Which of the three temporal System types a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemporalKind {
    /// System.Date
    Date,
    /// System.DateTime
    DateTime,
    /// System.Time
    Time,
}

/// A partial date, dateTime or time. Fields beyond `precision` are zero (month/day: 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Temporal {
    /// Date, DateTime or Time.
    pub kind: TemporalKind,
    /// Year (unused for times).
    pub year: i32,
    /// Month 1-12.
    pub month: u8,
    /// Day of month 1-31.
    pub day: u8,
    /// Hour 0-23.
    pub hour: u8,
    /// Minute 0-59.
    pub minute: u8,
    /// Second 0-59.
    pub second: u8,
    /// Milliseconds 0-999.
    pub millis: u16,
    /// Finest known component.
    pub precision: Precision,
    /// Offset from UTC in minutes, when written.
    pub tz: Option<i16>,
}

fn num(s: &str, len: usize) -> Option<(u32, &str)> {
    let head = s.get(..len)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[len..]))
}

/// Days in a month of a (proleptic Gregorian) year.
pub(crate) fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 for a civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Whole days between the calendar dates of two values.
fn days_between(a: &Temporal, b: &Temporal) -> i64 {
    days_from_civil(i64::from(a.year), i64::from(a.month), i64::from(a.day))
        - days_from_civil(i64::from(b.year), i64::from(b.month), i64::from(b.day))
}

impl Temporal {
    fn empty(kind: TemporalKind, precision: Precision) -> Self {
        Temporal {
            kind,
            year: 0,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            millis: 0,
            precision,
            tz: None,
        }
    }

    /// Parses `YYYY[-MM[-DD]]` as a Date.
    pub fn parse_date(s: &str) -> Option<Self> {
        let (t, rest) = Self::date_part(s, TemporalKind::Date)?;
        rest.is_empty().then_some(t)
    }

    fn date_part(s: &str, kind: TemporalKind) -> Option<(Self, &str)> {
        let (year, mut rest) = num(s, 4)?;
        let mut t = Self::empty(kind, Precision::Year);
        t.year = year as i32;
        if let Some(r) = rest.strip_prefix('-') {
            let (m, r) = num(r, 2)?;
            if !(1..=12).contains(&m) {
                return None;
            }
            t.month = m as u8;
            t.precision = Precision::Month;
            rest = r;
            if let Some(r) = rest.strip_prefix('-') {
                let (d, r) = num(r, 2)?;
                if d < 1 || d > u32::from(days_in_month(t.year, t.month)) {
                    return None;
                }
                t.day = d as u8;
                t.precision = Precision::Day;
                rest = r;
            }
        }
        Some((t, rest))
    }

    /// Parses `hh[:mm[:ss[.fff]]]` into the time fields of `self`.
    fn time_fields<'s>(&mut self, s: &'s str) -> Option<&'s str> {
        let (h, mut rest) = num(s, 2)?;
        if h > 23 {
            return None;
        }
        self.hour = h as u8;
        self.precision = Precision::Hour;
        if let Some(r) = rest.strip_prefix(':') {
            let (m, r) = num(r, 2)?;
            if m > 59 {
                return None;
            }
            self.minute = m as u8;
            self.precision = Precision::Minute;
            rest = r;
            if let Some(r) = rest.strip_prefix(':') {
                let (sec, r) = num(r, 2)?;
                if sec > 59 {
                    return None;
                }
                self.second = sec as u8;
                self.precision = Precision::Second;
                rest = r;
                if let Some(r) = rest.strip_prefix('.') {
                    let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                    if digits == 0 {
                        return None;
                    }
                    let mut ms = 0u32;
                    for (k, b) in r.bytes().take(3).enumerate().take(digits) {
                        ms += u32::from(b - b'0') * [100, 10, 1][k];
                    }
                    self.millis = ms as u16;
                    self.precision = Precision::Millisecond;
                    rest = &r[digits..];
                }
            }
        }
        Some(rest)
    }

    fn tz_part(s: &str) -> Option<(Option<i16>, &str)> {
        if let Some(r) = s.strip_prefix('Z') {
            return Some((Some(0), r));
        }
        let sign = match s.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Some((None, s)),
        };
        let (h, r) = num(&s[1..], 2)?;
        let r = r.strip_prefix(':')?;
        let (m, r) = num(r, 2)?;
        if h > 14 || m > 59 {
            return None;
        }
        Some((Some(sign * (h as i16 * 60 + m as i16)), r))
    }

    /// Parses a dateTime: `YYYY[-MM[-DD]][T[hh[:mm[:ss[.fff]]]][Z|+hh:mm]]`.
    pub fn parse_datetime(s: &str) -> Option<Self> {
        let (mut t, rest) = Self::date_part(s, TemporalKind::DateTime)?;
        if rest.is_empty() {
            return Some(t);
        }
        let rest = rest.strip_prefix('T')?;
        if rest.is_empty() {
            return Some(t);
        }
        if t.precision != Precision::Day {
            return None;
        }
        let rest = t.time_fields(rest)?;
        let (tz, rest) = Self::tz_part(rest)?;
        t.tz = tz;
        rest.is_empty().then_some(t)
    }

    /// Parses a time `hh[:mm[:ss[.fff]]]` (no timezone).
    pub fn parse_time(s: &str) -> Option<Self> {
        let mut t = Self::empty(TemporalKind::Time, Precision::Hour);
        let rest = t.time_fields(s)?;
        rest.is_empty().then_some(t)
    }

    /// Parses an `@` literal body (without `@`).
    pub fn parse_literal(s: &str) -> Option<Self> {
        if let Some(t) = s.strip_prefix('T') {
            return Self::parse_time(t);
        }
        if s.contains('T') {
            Self::parse_datetime(s)
        } else {
            Self::parse_date(s)
        }
    }

    /// Same value seen as a DateTime (for Date/DateTime comparison).
    pub fn as_datetime(mut self) -> Self {
        if self.kind == TemporalKind::Date {
            self.kind = TemporalKind::DateTime;
        }
        self
    }

    fn fields(&self) -> [i64; 6] {
        [
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
            i64::from(self.hour),
            i64::from(self.minute),
            i64::from(self.second) * 1000 + i64::from(self.millis),
        ]
    }

    /// Shifts to UTC (keeping precision), when an offset is known.
    fn to_utc(self) -> Self {
        match self.tz {
            Some(off) if off != 0 && self.kind != TemporalKind::Time => {
                let mut t = self.add_millis(-i64::from(off) * 60_000);
                t.tz = Some(0);
                t
            }
            _ => self,
        }
    }

    fn precision_index(p: Precision) -> usize {
        match p {
            Precision::Year => 0,
            Precision::Month => 1,
            Precision::Day => 2,
            Precision::Hour => 3,
            Precision::Minute => 4,
            Precision::Second | Precision::Millisecond => 5,
        }
    }

    /// Compares two values; `None` when they differ in kind or their precisions cannot decide.
    pub fn compare(&self, other: &Self) -> Option<Ordering> {
        let time_a = self.kind == TemporalKind::Time;
        let time_b = other.kind == TemporalKind::Time;
        if time_a != time_b {
            return None;
        }
        let (a, b) = match (self.tz, other.tz) {
            (Some(x), Some(y)) if x != y => (self.to_utc(), other.to_utc()),
            _ => (*self, *other),
        };
        let start = if time_a { 3 } else { 0 };
        let pa = Self::precision_index(a.precision);
        let pb = Self::precision_index(b.precision);
        // One side with an offset and one without: undecidable once hours matter.
        if self.tz.is_some() != other.tz.is_some() && pa.min(pb) >= 3 && !time_a {
            let (fa, fb) = (a.fields(), b.fields());
            return match fa[..3].cmp(&fb[..3]) {
                Ordering::Equal => None,
                o if (days_between(&a, &b)).abs() > 1 => Some(o),
                _ => None,
            };
        }
        let (fa, fb) = (a.fields(), b.fields());
        for k in start..=pa.min(pb) {
            match fa[k].cmp(&fb[k]) {
                Ordering::Equal => {}
                o => return Some(o),
            }
        }
        (pa == pb).then_some(Ordering::Equal)
    }

    /// Whether two values are the same instant as far as both are known (`=` semantics):
    /// `None` when precision cannot decide.
    pub fn equals(&self, other: &Self) -> Option<bool> {
        self.compare(other).map(|o| o == Ordering::Equal)
    }

    fn epoch_millis(&self) -> i64 {
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        days * 86_400_000
            + i64::from(self.hour) * 3_600_000
            + i64::from(self.minute) * 60_000
            + i64::from(self.second) * 1000
            + i64::from(self.millis)
    }

    /// Adds milliseconds to the full value (times wrap around midnight).
    pub(crate) fn add_millis(self, ms: i64) -> Self {
        let mut t = self;
        if self.kind == TemporalKind::Time {
            let day = 86_400_000i64;
            let cur = i64::from(t.hour) * 3_600_000
                + i64::from(t.minute) * 60_000
                + i64::from(t.second) * 1000
                + i64::from(t.millis);
            let v = (cur + ms).rem_euclid(day);
            t.hour = (v / 3_600_000) as u8;
            t.minute = (v / 60_000 % 60) as u8;
            t.second = (v / 1000 % 60) as u8;
            t.millis = (v % 1000) as u16;
            return t;
        }
        let v = self.epoch_millis().saturating_add(ms);
        let days = v.div_euclid(86_400_000);
        let rem = v.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        t.year = y.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        t.month = m;
        t.day = d;
        t.hour = (rem / 3_600_000) as u8;
        t.minute = (rem / 60_000 % 60) as u8;
        t.second = (rem / 1000 % 60) as u8;
        t.millis = (rem % 1000) as u16;
        t
    }

    /// Adds calendar months, clamping the day to the month's end.
    pub(crate) fn add_months(self, months: i64) -> Option<Self> {
        let mut t = self;
        let total = i64::from(self.year) * 12 + i64::from(self.month) - 1 + months;
        t.year = i32::try_from(total.div_euclid(12)).ok()?;
        t.month = (total.rem_euclid(12) + 1) as u8;
        t.day = t.day.min(days_in_month(t.year, t.month));
        Some(t)
    }

    /// Valid year range for results (FHIRPath: 1-9999).
    pub(crate) fn in_range(&self) -> bool {
        self.kind == TemporalKind::Time || (1..=9999).contains(&self.year)
    }

    /// Writes the value as FHIR JSON would (no `@`; times without `T`).
    pub fn to_fhir_string(&self) -> String {
        let mut s = String::new();
        if self.kind != TemporalKind::Time {
            let _ = write!(s, "{:04}", self.year);
            if self.precision >= Precision::Month {
                let _ = write!(s, "-{:02}", self.month);
            }
            if self.precision >= Precision::Day {
                let _ = write!(s, "-{:02}", self.day);
            }
            if self.precision < Precision::Hour {
                return s;
            }
            s.push('T');
        }
        let _ = write!(s, "{:02}", self.hour);
        if self.precision >= Precision::Minute {
            let _ = write!(s, ":{:02}", self.minute);
        }
        if self.precision >= Precision::Second {
            let _ = write!(s, ":{:02}", self.second);
        }
        if self.precision >= Precision::Millisecond {
            let _ = write!(s, ".{:03}", self.millis);
        }
        if let Some(off) = self.tz {
            if off == 0 {
                s.push('Z');
            } else {
                let sign = if off < 0 { '-' } else { '+' };
                let a = off.unsigned_abs();
                let _ = write!(s, "{sign}{:02}:{:02}", a / 60, a % 60);
            }
        }
        s
    }

    /// Writes the value as a FHIRPath literal (with `@`, `@T` for times, `T` after dateTime dates).
    pub fn to_literal(&self) -> String {
        match self.kind {
            TemporalKind::Time => format!("@T{}", self.to_fhir_string()),
            TemporalKind::DateTime if self.precision <= Precision::Day => {
                format!("@{}T", self.to_fhir_string())
            }
            _ => format!("@{}", self.to_fhir_string()),
        }
    }

    /// Truncates to a coarser precision.
    pub(crate) fn truncate(mut self, p: Precision) -> Self {
        if p < self.precision {
            self.precision = p;
        }
        let pr = self.precision;
        if pr < Precision::Millisecond {
            self.millis = 0;
        }
        if pr < Precision::Second {
            self.second = 0;
        }
        if pr < Precision::Minute {
            self.minute = 0;
        }
        if pr < Precision::Hour {
            self.hour = 0;
            self.tz = None;
        }
        if pr < Precision::Day && self.kind != TemporalKind::Time {
            self.day = 1;
        }
        if pr < Precision::Month && self.kind != TemporalKind::Time {
            self.month = 1;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_compares() {
        let cases = [
            (
                "2015-02-04T14:34:28.123+10:00",
                "2015-02-04T14:34:28.123+10:00",
            ),
            ("2015", "2015"),
            ("2015-02", "2015-02"),
            ("2015-02-04T14", "2015-02-04T14"),
        ];
        for (input, out) in cases {
            let t = Temporal::parse_datetime(input).expect(input);
            assert_eq!(t.to_fhir_string(), out);
        }
        let a = Temporal::parse_datetime("2017-11-05T01:30:00.0-04:00").unwrap();
        let b = Temporal::parse_datetime("2017-11-05T00:30:00.0-05:00").unwrap();
        assert_eq!(a.compare(&b), Some(Ordering::Equal));
        let y = Temporal::parse_date("2012").unwrap();
        let d = Temporal::parse_date("2012-01-01").unwrap();
        assert_eq!(y.compare(&d), None);
        assert!(Temporal::parse_date("2015-02-30").is_none());
    }
}
