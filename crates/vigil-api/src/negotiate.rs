//! Content negotiation: `_format` and `Accept` for responses, `Content-Type` for request
//! bodies, `_pretty`, `_summary`/`_elements` and `Prefer: return=`.
//!
//! Vigil speaks FHIR JSON only (XML is listed as a deviation in docs/conformance.md): a client
//! that accepts only XML gets 406, a body sent as XML gets 415.

use crate::ApiError;
use axum::http::{HeaderMap, StatusCode, header};
use vigil_model::IssueType;
use vigil_model::elements::SummaryMode;

/// The content type of every FHIR response.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// What the client asked the response to be.
#[derive(Debug, Clone, Default)]
pub struct ResponseOptions {
    /// `_pretty=true`.
    pub pretty: bool,
    /// `_summary`.
    pub summary: Option<SummaryMode>,
    /// `_elements`, split on commas.
    pub elements: Option<Vec<String>>,
    /// `Prefer: return=...`.
    pub prefer: ReturnPreference,
}

/// The `Prefer: return=` choices of the FHIR http page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReturnPreference {
    /// Return the resource (the default).
    #[default]
    Representation,
    /// Return no body.
    Minimal,
    /// Return an OperationOutcome.
    OperationOutcome,
}

const JSON_TYPES: &[&str] = &[
    "application/fhir+json",
    "application/json",
    "json",
    "application/json+fhir",
    "text/json",
];
const XML_TYPES: &[&str] = &[
    "application/fhir+xml",
    "application/xml",
    "xml",
    "text/xml",
    "application/xml+fhir",
];

/// Reads the response options from the query parameters and headers, rejecting formats Vigil
/// cannot produce (406) and malformed values (400).
pub fn response_options(
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<ResponseOptions, ApiError> {
    let mut options = ResponseOptions::default();
    let mut format_param = None;
    for (name, value) in params {
        match name.as_str() {
            "_format" => format_param = Some(value.as_str()),
            "_pretty" => {
                options.pretty = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(ApiError::bad_request(
                            format!("_pretty must be true or false, not '{other}'"),
                            "_pretty",
                        ));
                    }
                }
            }
            "_summary" => {
                options.summary = Some(match value.as_str() {
                    "true" => SummaryMode::True,
                    "text" => SummaryMode::Text,
                    "data" => SummaryMode::Data,
                    "count" => SummaryMode::Count,
                    "false" => SummaryMode::False,
                    other => {
                        return Err(ApiError::bad_request(
                            format!(
                                "_summary must be one of true, text, data, count, false; not '{other}'"
                            ),
                            "_summary",
                        ));
                    }
                })
            }
            "_elements" => {
                options.elements = Some(
                    value
                        .split(',')
                        .map(|e| e.trim().to_owned())
                        .filter(|e| !e.is_empty())
                        .collect(),
                )
            }
            _ => {}
        }
    }
    match format_param {
        Some(format) => check_format(format)?,
        None => check_accept(headers)?,
    }
    options.prefer = prefer_return(headers);
    Ok(options)
}

fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn check_format(format: &str) -> Result<(), ApiError> {
    let media = media_type(format);
    if JSON_TYPES.contains(&media.as_str()) {
        Ok(())
    } else if XML_TYPES.contains(&media.as_str())
        || media == "html"
        || media == "text/html"
        || media == "ttl"
    {
        Err(not_acceptable(format))
    } else {
        Err(ApiError::bad_request(
            format!("_format '{format}' is not a known format; use json"),
            "_format",
        ))
    }
}

fn check_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let acceptable = accept.split(',').map(media_type).any(|media| {
        media.is_empty()
            || media == "*/*"
            || media == "application/*"
            || media == "text/*"
            || JSON_TYPES.contains(&media.as_str())
    });
    if acceptable {
        Ok(())
    } else {
        Err(not_acceptable(accept))
    }
}

fn not_acceptable(asked: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        IssueType::NotSupported,
        format!("this server produces application/fhir+json only; '{asked}' is not available"),
    )
}

/// Checks the `Content-Type` of a request body: FHIR JSON or plain JSON; absent is taken as
/// JSON. Anything else is 415.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = value.to_str().map(media_type).unwrap_or_default();
    if JSON_TYPES.contains(&media.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IssueType::NotSupported,
            format!(
                "request bodies must be application/fhir+json, not '{}'",
                value.to_str().unwrap_or("(not text)")
            ),
        ))
    }
}

fn prefer_return(headers: &HeaderMap) -> ReturnPreference {
    for value in headers.get_all("prefer") {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split([',', ';']) {
            let part = part.trim();
            if let Some(choice) = part.strip_prefix("return=") {
                return match choice.trim_matches('"') {
                    "minimal" => ReturnPreference::Minimal,
                    "OperationOutcome" => ReturnPreference::OperationOutcome,
                    _ => ReturnPreference::Representation,
                };
            }
        }
    }
    ReturnPreference::Representation
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn accept_table() {
        let cases: &[(&str, bool)] = &[
            ("application/fhir+json", true),
            ("application/json", true),
            ("*/*", true),
            ("text/html,application/xhtml+xml,*/*;q=0.8", true),
            ("application/fhir+xml", false),
            ("application/xml", false),
        ];
        for (accept, ok) in cases {
            let h = headers(&[("accept", accept)]);
            assert_eq!(response_options(&[], &h).is_ok(), *ok, "{accept}");
        }
    }

    #[test]
    fn format_param_wins_over_accept() {
        let h = headers(&[("accept", "application/fhir+xml")]);
        assert!(response_options(&[("_format".into(), "json".into())], &h).is_ok());
        assert_eq!(
            response_options(&[("_format".into(), "xml".into())], &HeaderMap::new())
                .unwrap_err()
                .status(),
            StatusCode::NOT_ACCEPTABLE
        );
        assert_eq!(
            response_options(&[("_format".into(), "bogus".into())], &HeaderMap::new())
                .unwrap_err()
                .status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn prefer_table() {
        for (value, expected) in [
            ("return=minimal", ReturnPreference::Minimal),
            (
                "return=OperationOutcome",
                ReturnPreference::OperationOutcome,
            ),
            (
                "respond-async, return=representation",
                ReturnPreference::Representation,
            ),
        ] {
            let h = headers(&[("prefer", value)]);
            assert_eq!(prefer_return(&h), expected, "{value}");
        }
    }

    #[test]
    fn content_type_table() {
        assert!(
            check_content_type(&headers(&[(
                "content-type",
                "application/fhir+json; charset=utf-8"
            )]))
            .is_ok()
        );
        assert!(check_content_type(&HeaderMap::new()).is_ok());
        assert_eq!(
            check_content_type(&headers(&[("content-type", "application/fhir+xml")]))
                .unwrap_err()
                .status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            check_content_type(&headers(&[("content-type", "text/plain")]))
                .unwrap_err()
                .status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
