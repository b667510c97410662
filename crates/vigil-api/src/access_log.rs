//! The access log: one line per request (method, path, status, duration), chosen by an
//! [`AccessLog`] policy. Never the query string (it may hold names or identifiers) nor the
//! body. Lines go through `tracing` at info level with the target `vigil::access`, so the
//! binary's log writer (buffered, off the request path) and filter apply to them.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which requests get an access-log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLog {
    /// None.
    Off,
    /// Every request.
    #[default]
    All,
    /// Requests answered with a status of 400 or more.
    Errors,
    /// Every request answered with an error, and one in N of the others.
    Sample(u64),
}

impl FromStr for AccessLog {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "off" => Ok(AccessLog::Off),
            "all" => Ok(AccessLog::All),
            "errors" => Ok(AccessLog::Errors),
            _ => match text.strip_prefix("sample:").map(str::parse::<u64>) {
                Some(Ok(n)) if n >= 1 => Ok(AccessLog::Sample(n)),
                _ => Err(format!(
                    "'{text}' is not an access-log policy: off, all, errors or sample:N (N >= 1)"
                )),
            },
        }
    }
}

impl std::fmt::Display for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccessLog::Off => f.write_str("off"),
            AccessLog::All => f.write_str("all"),
            AccessLog::Errors => f.write_str("errors"),
            AccessLog::Sample(n) => write!(f, "sample:{n}"),
        }
    }
}

/// Counts successful requests for [`AccessLog::Sample`].
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    seen: AtomicU64,
}

impl Sampler {
    /// Whether a request answered with `status` gets a line under `policy`.
    pub(crate) fn logs(&self, policy: AccessLog, status: u16) -> bool {
        match policy {
            AccessLog::Off => false,
            AccessLog::All => true,
            AccessLog::Errors => status >= 400,
            AccessLog::Sample(n) => {
                status >= 400 || self.seen.fetch_add(1, Ordering::Relaxed).is_multiple_of(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print() {
        for text in ["off", "all", "errors", "sample:10", "sample:1"] {
            let policy: AccessLog = text.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(policy.to_string(), text);
        }
        for bad in ["", "some", "sample:0", "sample:x", "sample:"] {
            assert!(bad.parse::<AccessLog>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sampling_keeps_errors_and_one_in_n() {
        let sampler = Sampler::default();
        let kept = (0..100)
            .filter(|_| sampler.logs(AccessLog::Sample(10), 200))
            .count();
        assert_eq!(kept, 10);
        assert!(sampler.logs(AccessLog::Sample(1000), 404));
        assert!(!sampler.logs(AccessLog::Errors, 304));
        assert!(sampler.logs(AccessLog::Errors, 500));
        assert!(!sampler.logs(AccessLog::Off, 500));
    }
}
