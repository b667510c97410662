//! Words for `_content` and `_text`: the one definition of what the full-text index holds and
//! how a search value is read, used by index extraction, query parsing and the in-memory
//! matcher alike (so they agree by construction).
//!
//! A word is a maximal run of letters and digits after [`normalize`] (lower case, Latin
//! accents removed). A resource's content words are those of every string, number and boolean
//! in its JSON, in document order (keys are not words); the narrative's (`text.div`) are taken
//! with its XHTML tags left out. A search value is a phrase: its words in order, the last one a
//! prefix (`_content=heart ra` finds "Heart rate").

use serde_json::Value;
use vigil_store::IndexValue;

use crate::normalize::normalize;

/// The words of `text`.
pub fn words(text: &str) -> Vec<String> {
    normalize(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `text` without its `<...>` tags (each tag becomes a space).
fn without_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                out.push(' ');
            }
            (true, '>') => in_tag = false,
            (false, c) => out.push(c),
            (true, _) => {}
        }
    }
    out
}

fn collect(value: &Value, key: Option<&str>, out: &mut Vec<String>) {
    match value {
        Value::String(text) if key == Some("div") => out.extend(words(&without_tags(text))),
        Value::String(text) => out.extend(words(text)),
        Value::Number(number) => out.extend(words(&number.to_string())),
        Value::Bool(flag) => out.push(flag.to_string()),
        Value::Array(items) => items.iter().for_each(|item| collect(item, key, out)),
        Value::Object(members) => members
            .iter()
            .for_each(|(name, member)| collect(member, Some(name), out)),
        Value::Null => {}
    }
}

/// The content words of a resource, joined by spaces.
pub fn content_words(resource: &Value) -> String {
    let mut out = Vec::new();
    collect(resource, None, &mut out);
    out.join(" ")
}

/// The narrative words of a resource, joined by spaces (none without a narrative).
pub fn narrative_words(resource: &Value) -> Option<String> {
    let div = resource.pointer("/text/div")?.as_str()?;
    Some(words(&without_tags(div)).join(" "))
}

/// The full-text index value of a resource.
pub fn index_value(resource: &Value) -> IndexValue {
    IndexValue::Text {
        content: content_words(resource),
        narrative: narrative_words(resource),
    }
}

/// Whether `phrase` (words, the last a prefix) occurs in `text` (words joined by spaces).
pub fn contains_phrase(text: &str, phrase: &[String]) -> bool {
    let Some((last, leading)) = phrase.split_last() else {
        return false;
    };
    let tokens: Vec<&str> = text.split(' ').filter(|t| !t.is_empty()).collect();
    tokens.windows(phrase.len()).any(|window| {
        window
            .iter()
            .zip(leading)
            .all(|(token, word)| *token == word.as_str())
            && window[leading.len()].starts_with(last.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_of_values_and_narrative() {
        let resource = json!({"resourceType": "Observation", "id": "o-1",
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Heart <b>rate</b>\n72</div>"},
            "valueQuantity": {"value": 72.5}, "active": true});
        assert_eq!(narrative_words(&resource).as_deref(), Some("heart rate 72"));
        let content = content_words(&resource);
        assert_eq!(content, "observation o 1 generated heart rate 72 72 5 true");
        let phrase = |text: &str| words(text);
        assert!(contains_phrase(&content, &phrase("Heart ra")));
        assert!(contains_phrase(&content, &phrase("HEART")));
        assert!(!contains_phrase(&content, &phrase("rate heart")));
        assert!(!contains_phrase(&content, &phrase("eart")));
        assert!(!contains_phrase(&content, &[]));
        assert_eq!(
            words("Müller-Lüdenscheid, ÉLODIE"),
            ["muller", "ludenscheid", "elodie"]
        );
    }
}
