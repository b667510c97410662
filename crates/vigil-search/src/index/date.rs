//! `date` parameters: date, dateTime and instant (their precision's range), Period (start to
//! end; an open end is unbounded) and Timing (each event, and `repeat.boundsPeriod`).

use serde_json::Value;
use vigil_store::IndexValue;

use super::{Selected, str_member, text_of, type_of};
use crate::datetime;

/// The date index values of an item.
pub fn date_values(item: &Selected<'_>) -> Vec<IndexValue> {
    if let Some(text) = text_of(item) {
        return datetime::parse(text)
            .map(|range| IndexValue::Date {
                low: range.low,
                high: range.high,
            })
            .into_iter()
            .collect();
    }
    let Selected::Node {
        value: object @ Value::Object(_),
        ..
    } = item
    else {
        return Vec::new();
    };
    let is_timing = type_of(item) == Some("Timing")
        || object.get("event").is_some()
        || object.get("repeat").is_some();
    if is_timing {
        let mut values: Vec<IndexValue> = match object.get("event") {
            Some(Value::Array(events)) => events
                .iter()
                .filter_map(Value::as_str)
                .filter_map(datetime::parse)
                .map(|range| IndexValue::Date {
                    low: range.low,
                    high: range.high,
                })
                .collect(),
            _ => Vec::new(),
        };
        if let Some(bounds) = object
            .get("repeat")
            .and_then(|repeat| repeat.get("boundsPeriod"))
        {
            values.extend(period(bounds));
        }
        return values;
    }
    period(object).into_iter().collect()
}

/// A Period's range: from the start's low to the end's high, open ends unbounded.
fn period(object: &Value) -> Option<IndexValue> {
    let start = str_member(object, "start").map(datetime::parse);
    let end = str_member(object, "end").map(datetime::parse);
    let low = match start {
        Some(Some(range)) => range.low,
        Some(None) => return None,
        None => i64::MIN,
    };
    let high = match end {
        Some(Some(range)) => range.high,
        Some(None) => return None,
        None => i64::MAX,
    };
    (start.is_some() || end.is_some()).then_some(IndexValue::Date { low, high })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn periods_and_timings() {
        let open = json!({"start": "2015-01-01"});
        let values = date_values(&Selected::Node {
            value: &open,
            fhir_type: Some("Period"),
        });
        assert!(matches!(
            values[..],
            [IndexValue::Date { high: i64::MAX, .. }]
        ));
        let timing = json!({"event": ["2015-01-01", "2015-02-01"], "repeat": {"boundsPeriod": {"end": "2016"}}});
        assert_eq!(
            date_values(&Selected::Node {
                value: &timing,
                fhir_type: None
            })
            .len(),
            3
        );
        assert!(
            date_values(&Selected::Node {
                value: &json!({"start": "bad"}),
                fhir_type: None
            })
            .is_empty()
        );
        assert_eq!(date_values(&Selected::DateTime("2015".into())).len(), 1);
    }
}
