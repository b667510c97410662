//! Time, once for the whole workspace: the form the store keeps (microseconds since the Unix
//! epoch, UTC) and the FHIR `instant` form clients see.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1000).unwrap_or(i64::MAX)
}

/// A FHIR `instant` in UTC with millisecond precision, e.g. `2026-11-22T03:10:00.123Z`.
///
/// Milliseconds are what HAPI and most clients show; the store keeps microseconds so ordering
/// and `_since` stay exact.
pub fn format_instant(micros: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// An HTTP-date (RFC 7231) for `Last-Modified`.
pub fn http_date(micros: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[at.weekday().number_days_from_monday() as usize],
        at.day(),
        MONTHS[usize::from(u8::from(at.month())) - 1],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Parses a FHIR `instant`/`dateTime`/`date` used as a history bound (`_since`, `_at`) into
/// microseconds. A partial date means its start (`2026` = 2026-01-01T00:00:00Z); a dateTime
/// without a timezone is taken as UTC.
pub fn parse_instant_micros(text: &str) -> Option<i64> {
    let full = match text.len() {
        4 => format!("{text}-01-01T00:00:00Z"),
        7 => format!("{text}-01T00:00:00Z"),
        10 => format!("{text}T00:00:00Z"),
        _ if has_zone(text) => text.to_owned(),
        _ => format!("{text}Z"),
    };
    let at = OffsetDateTime::parse(&full, &Rfc3339)
        .ok()?
        .to_offset(UtcOffset::UTC);
    i64::try_from(at.unix_timestamp_nanos() / 1000).ok()
}

fn has_zone(text: &str) -> bool {
    if text.ends_with('Z') {
        return true;
    }
    // A zone offset is a sign after the time part (the date part contains '-' too).
    text.find('T')
        .is_some_and(|t| text[t..].contains(['+', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_instants() {
        let micros = parse_instant_micros("2026-11-22T03:10:00.123Z").unwrap();
        assert_eq!(format_instant(micros), "2026-11-22T03:10:00.123Z");
        assert_eq!(parse_instant_micros("1970-01-01"), Some(0));
        assert_eq!(parse_instant_micros("1970"), Some(0));
        assert_eq!(parse_instant_micros("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_instant_micros("1970-01-01T00:00:01"), Some(1_000_000));
        assert_eq!(parse_instant_micros("not a date"), None);
        assert_eq!(parse_instant_micros("2026-13-01"), None);
        assert_eq!(http_date(micros), "Sun, 22 Nov 2026 03:10:00 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
