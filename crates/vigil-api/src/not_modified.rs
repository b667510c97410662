//! Conditional reads (RFC 7232): `If-None-Match` with the version's ETag, or failing that
//! `If-Modified-Since` with its `Last-Modified`, answers 304 Not Modified.

use crate::request::parse_etag;
use axum::http::{HeaderMap, header};
use vigil_service::StoredVersion;

/// Whether the client's copy of `version` is current. `If-None-Match` wins when both are sent
/// (RFC 7232, section 6): a mismatching ETag is a full answer whatever the date says.
pub(crate) fn not_modified(headers: &HeaderMap, version: &StoredVersion) -> bool {
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        return value
            .to_str()
            .ok()
            .and_then(parse_etag)
            .is_some_and(|seen| seen == version.meta.version_id);
    }
    let Some(since) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
    else {
        return false;
    };
    // Last-Modified has whole seconds: compare at that precision.
    version.meta.last_updated_micros.div_euclid(1_000_000) <= since
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the form
/// every current client sends); `None` for anything else (the header is then ignored).
pub(crate) fn parse_http_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let bytes = text.trim().as_bytes();
    if bytes.len() != 29 || &bytes[3..5] != b", " || &bytes[25..] != b" GMT" {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = bytes.get(range)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let day = number(5..7)?;
    let month_name = std::str::from_utf8(&bytes[8..11]).ok()?;
    let month = i64::try_from(MONTHS.iter().position(|m| *m == month_name)?).ok()? + 1;
    let year = number(12..16)?;
    let (hour, minute, second) = (number(17..19)?, number(20..22)?, number(23..25)?);
    if bytes[7] != b' '
        || bytes[11] != b' '
        || bytes[16] != b' '
        || bytes[19] != b':'
        || bytes[22] != b':'
    {
        return None;
    }
    // The calendar checks (day of month, leap years) are the FHIR instant parser's.
    let instant = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z");
    vigil_model::instant::parse_instant_micros(&instant).map(|micros| micros.div_euclid(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_model::instant::http_date;

    #[test]
    fn http_dates_round_trip() {
        for seconds in [
            0_i64,
            784_111_777,
            951_782_400,
            1_700_000_000,
            4_102_444_799,
        ] {
            let text = http_date(seconds * 1_000_000);
            assert_eq!(parse_http_date(&text), Some(seconds), "{text}");
        }
    }

    #[test]
    fn other_forms_are_ignored() {
        for text in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Sun, 6x Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Thu, 31 Feb 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(text), None, "{text}");
        }
    }
}
