//! Property tests: decimals and strings survive parse -> validate -> serialize exactly, and
//! nothing panics on arbitrary text.

use proptest::prelude::*;
use vigil_model::{json, parse_resource, validate};

/// Decimals in FHIR's lexical form (exponent written the way serde_json writes it back),
/// within the magnitudes the server stores (exponents up to 99; beyond about 1e308 or below
/// 1e-307 a decimal is refused: `beyond_range_decimals_are_refused`).
fn decimal() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop_oneof![Just("0".to_string()), "[1-9][0-9]{0,30}"],
        proptest::option::of("[0-9]{1,20}"),
        proptest::option::of(("[+-]", "[0-9]{1,2}")),
    )
        .prop_map(|(negative, int, frac, exp)| {
            let mut s = String::new();
            if negative {
                s.push('-');
            }
            s.push_str(&int);
            if let Some(frac) = frac {
                s.push('.');
                s.push_str(&frac);
            }
            if let Some((sign, digits)) = exp {
                s.push('e');
                s.push_str(&sign);
                s.push_str(&digits);
            }
            s
        })
}

fn observation(value: &str, text: &str) -> String {
    format!(
        r#"{{"resourceType":"Observation","status":"final","code":{{"text":{text}}},"valueQuantity":{{"value":{value}}}}}"#
    )
}

proptest! {
    #[test]
    fn decimals_round_trip_exactly(d in decimal()) {
        let input = observation(&d, "\"x\"");
        let value = parse_resource(input.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(String::from_utf8(json::to_vec(&value)).unwrap(), input);
    }

    #[test]
    fn beyond_range_decimals_are_refused(mantissa in "[1-9](\\.[0-9]{1,5})?", exponent in 310u32..5000, negative in any::<bool>()) {
        let sign = if negative { "-" } else { "" };
        for value in [format!("{mantissa}e{exponent}"), format!("{mantissa}e-{exponent}")] {
            let input = observation(&format!("{sign}{value}"), "\"x\"");
            prop_assert!(parse_resource(input.as_bytes()).is_err(), "{} accepted", value);
        }
    }

    #[test]
    fn valid_strings_round_trip(s in "[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]{1,40}") {
        let text = serde_json::to_string(&s).unwrap();
        let input = observation("1", &text);
        let value = parse_resource(input.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(value["code"]["text"].as_str(), Some(s.as_str()));
        let again = json::parse(&json::to_vec(&value)).unwrap();
        prop_assert_eq!(again, value);
    }

    #[test]
    fn any_string_value_is_handled(s in any::<String>()) {
        let text = serde_json::to_string(&s).unwrap();
        let input = observation("1", &text);
        let value = json::parse(input.as_bytes()).unwrap();
        let issues = validate::validate_resource(&value);
        let expect_valid = !s.is_empty()
            && s.chars().all(|c| c >= ' ' && c != '\u{7f}' || matches!(c, '\t' | '\n' | '\r'));
        prop_assert_eq!(issues.is_empty(), expect_valid, "{:?}", issues);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_resource(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(s in r#"[\[\]{}":,0-9a-zA-Z_ .-]{0,120}"#) {
        let wrapped = format!(r#"{{"resourceType":"Patient","name":[{s}]}}"#);
        let _ = parse_resource(wrapped.as_bytes());
        let _ = parse_resource(s.as_bytes());
    }
}
