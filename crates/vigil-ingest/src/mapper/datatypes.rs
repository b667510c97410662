//! HL7 v2 datatypes to FHIR datatypes, after the guide's datatype maps (`mappings/datatypes`:
//! CWE[CodeableConcept], CX[Identifier], XPN[HumanName], XAD[Address], XTN[ContactPoint],
//! DTM[dateTime], NM[Quantity], SN[Quantity]/[Range]/[Ratio], CQ[Quantity]).
//!
//! Every helper leaves out what is empty (FHIR forbids empty strings), trims values, and treats
//! the HL7 explicit null `""` as empty.

use super::tables::coding_system;
use crate::er7::{Repetition, Segment, is_explicit_null};
use serde_json::{Map, Number, Value, json};

/// A clean, non-empty value or `None`.
pub fn clean(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty() && !is_explicit_null(value)).then_some(value)
}

/// Field `f`, repetition 1, component 1, subcomponent 1, clean.
pub fn first(segment: &Segment, f: usize) -> Option<&str> {
    component(segment, f, 1)
}

/// Field `f`, repetition 1, component `c`, clean.
pub fn component(segment: &Segment, f: usize, c: usize) -> Option<&str> {
    segment.value(f, 1, c, 1).and_then(clean)
}

/// The repetitions of field `f` that hold any value.
pub fn repetitions(segment: &Segment, f: usize) -> Vec<&Repetition> {
    segment
        .field(f)
        .map(|field| {
            field
                .repetitions
                .iter()
                .filter(|r| {
                    r.components
                        .iter()
                        .flat_map(|c| &c.subcomponents)
                        .any(|s| clean(s).is_some())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Component `c` (1-based), subcomponent 1, of a repetition, clean.
pub fn rep_component(rep: &Repetition, c: usize) -> Option<&str> {
    rep.components
        .get(c.checked_sub(1)?)?
        .subcomponents
        .first()
        .and_then(|s| clean(s))
}

/// Subcomponent `s` of component `c` of a repetition, clean.
pub fn rep_sub(rep: &Repetition, c: usize, s: usize) -> Option<&str> {
    rep.components
        .get(c.checked_sub(1)?)?
        .subcomponents
        .get(s.checked_sub(1)?)
        .and_then(|v| clean(v))
}

/// Percent-encodes everything outside `[A-Za-z0-9._-]` (for names put inside URNs).
pub fn urn_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The system of a local coding-system name (CWE.3 outside table 0396), or of a code without
/// any system name.
pub fn local_code_system(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("urn:vigil:hl7v2:code-system:{}", urn_part(name)),
        None => "urn:vigil:hl7v2:code-system:local".to_owned(),
    }
}

/// One coding from (code, display, system name, version).
fn coding(code: Option<&str>, display: Option<&str>, system: Option<&str>) -> Option<Value> {
    let code = code?;
    let mut c = Map::new();
    let uri = system
        .and_then(coding_system)
        .map(str::to_owned)
        .unwrap_or_else(|| local_code_system(system));
    c.insert("system".into(), Value::String(uri));
    c.insert("code".into(), Value::String(code.to_owned()));
    if let Some(display) = display {
        c.insert("display".into(), Value::String(display.to_owned()));
    }
    Some(Value::Object(c))
}

/// CWE/CE/CNE -> CodeableConcept: the primary (1-3) and alternate (4-6) codings, original
/// text (9) or the primary text as `text`. `None` when nothing is there.
pub fn codeable_concept(rep: &Repetition) -> Option<Value> {
    let c = |n| rep_component(rep, n);
    let mut codings = Vec::new();
    codings.extend(coding(c(1), c(2), c(3)));
    codings.extend(coding(c(4), c(5), c(6)));
    let text = c(9).or(c(2)).or(c(5));
    if codings.is_empty() && text.is_none() {
        return None;
    }
    let mut out = Map::new();
    if !codings.is_empty() {
        out.insert("coding".into(), Value::Array(codings));
    }
    if let Some(text) = text {
        out.insert("text".into(), Value::String(text.to_owned()));
    }
    Some(Value::Object(out))
}

/// The CodeableConcept of field `f`'s first repetition.
pub fn field_concept(segment: &Segment, f: usize) -> Option<Value> {
    repetitions(segment, f)
        .first()
        .and_then(|r| codeable_concept(r))
}

/// An HL7 table code (ID/IS) as a CodeableConcept in that v2 table's system.
pub fn table_concept(code: &str, table: &str) -> Value {
    json!({"coding": [{"system": format!("http://terminology.hl7.org/CodeSystem/v2-{table}"), "code": code}]})
}

/// NM -> a JSON number as written, after the normalisations JSON needs (a leading `+`,
/// leading zeros, `.5`, `5.`); `None` when the text is not an HL7 number.
pub fn decimal(text: &str) -> Option<Number> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int)
        || !frac.is_none_or(all_digits)
        || (int.is_empty() && frac.is_none_or(str::is_empty))
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if let Some(frac) = frac.filter(|f| !f.is_empty()) {
        out.push('.');
        out.push_str(frac);
    }
    if out.len() > 40 {
        return None;
    }
    serde_json::from_str::<Number>(&out).ok()
}

/// Why a date/time could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDate;

/// DTM/TS -> FHIR dateTime, keeping the precision written (`2026`, `2026-12`, `2026-12-01`,
/// `2026-12-01T03:14:00+01:00`). A time without an offset is read as UTC (`Z`): FHIR needs
/// an offset with a time, and v2 leaves it to the sites' agreement (documented).
pub fn date_time(text: &str) -> Result<String, BadDate> {
    let text = text.trim();
    let (body, offset) = match text.find(['+', '-']) {
        Some(at) => (&text[..at], Some(&text[at..])),
        None => (text, None),
    };
    let (digits, fraction) = match body.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (body, None),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![4, 6, 8, 10, 12, 14].contains(&digits.len())
    {
        return Err(BadDate);
    }
    if fraction.is_some() && digits.len() != 14 {
        return Err(BadDate);
    }
    let offset = offset.map(fhir_offset).transpose()?;
    let part = |from: usize, to: usize| digits.get(from..to).and_then(|s| s.parse::<u32>().ok());
    let mut out = digits[..4].to_owned();
    if let Some(month) = part(4, 6) {
        if !(1..=12).contains(&month) {
            return Err(BadDate);
        }
        out.push_str(&format!("-{month:02}"));
    }
    if let Some(day) = part(6, 8) {
        if !(1..=31).contains(&day) {
            return Err(BadDate);
        }
        out.push_str(&format!("-{day:02}"));
    }
    if digits.len() <= 8 {
        return Ok(out);
    }
    let hour = part(8, 10).ok_or(BadDate)?;
    let minute = part(10, 12).unwrap_or(0);
    let second = part(12, 14).unwrap_or(0);
    if hour > 23 || minute > 59 || second > 60 {
        return Err(BadDate);
    }
    out.push_str(&format!("T{hour:02}:{minute:02}:{second:02}"));
    if let Some(fraction) = fraction {
        if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadDate);
        }
        out.push('.');
        out.push_str(fraction);
    }
    out.push_str(offset.as_deref().unwrap_or("Z"));
    Ok(out)
}

/// `+ZZZZ` -> `+ZZ:ZZ`.
fn fhir_offset(offset: &str) -> Result<String, BadDate> {
    let (sign, rest) = offset.split_at(1);
    if rest.len() != 4 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadDate);
    }
    let (h, m) = rest.split_at(2);
    if h.parse::<u32>().map_or(true, |h| h > 14) || m.parse::<u32>().map_or(true, |m| m > 59) {
        return Err(BadDate);
    }
    Ok(format!("{sign}{h}:{m}"))
}

/// DTM -> FHIR date (the date part of the precision written).
pub fn date(text: &str) -> Result<String, BadDate> {
    let full = date_time(text)?;
    Ok(full.split('T').next().unwrap_or_default().to_owned())
}

/// DTM -> FHIR instant: a dateTime with at least seconds; missing parts are zero (a date
/// alone becomes midnight UTC).
pub fn instant(text: &str) -> Result<String, BadDate> {
    let full = date_time(text)?;
    if full.contains('T') {
        return Ok(full);
    }
    let mut parts = full.split('-');
    let year = parts.next().unwrap_or("1970");
    let month = parts.next().unwrap_or("01");
    let day = parts.next().unwrap_or("01");
    Ok(format!("{year}-{month}-{day}T00:00:00Z"))
}

/// XPN -> HumanName.
pub fn human_name(rep: &Repetition) -> Option<Value> {
    let mut name = Map::new();
    if let Some(family) = rep_sub(rep, 1, 1) {
        name.insert("family".into(), json!(family));
    }
    let given: Vec<&str> = [rep_component(rep, 2), rep_component(rep, 3)]
        .into_iter()
        .flatten()
        .collect();
    if !given.is_empty() {
        name.insert("given".into(), json!(given));
    }
    if let Some(suffix) = rep_component(rep, 4) {
        name.insert("suffix".into(), json!([suffix]));
    }
    if let Some(prefix) = rep_component(rep, 5) {
        name.insert("prefix".into(), json!([prefix]));
    }
    if name.is_empty() {
        return None;
    }
    // NameType (table 0200) per the guide's NameType map, for the codes it maps one to one.
    let name_use = match rep_component(rep, 7) {
        Some("L") => Some("official"),
        Some("M") => Some("maiden"),
        Some("N") => Some("nickname"),
        Some("A") => Some("usual"),
        Some("TEMP") | Some("T") => Some("temp"),
        _ => None,
    };
    if let Some(name_use) = name_use {
        name.insert("use".into(), json!(name_use));
    }
    Some(Value::Object(name))
}

/// XAD -> Address.
pub fn address(rep: &Repetition) -> Option<Value> {
    let mut a = Map::new();
    let lines: Vec<&str> = [rep_sub(rep, 1, 1), rep_component(rep, 2)]
        .into_iter()
        .flatten()
        .collect();
    if !lines.is_empty() {
        a.insert("line".into(), json!(lines));
    }
    for (c, key) in [(3, "city"), (4, "state"), (5, "postalCode"), (6, "country")] {
        if let Some(v) = rep_component(rep, c) {
            a.insert(key.into(), json!(v));
        }
    }
    if a.is_empty() {
        return None;
    }
    match rep_component(rep, 7) {
        Some("H") => {
            a.insert("use".into(), json!("home"));
        }
        Some("B") | Some("O") => {
            a.insert("use".into(), json!("work"));
        }
        Some("C") => {
            a.insert("use".into(), json!("temp"));
        }
        Some("M") => {
            a.insert("type".into(), json!("postal"));
        }
        _ => {}
    }
    Some(Value::Object(a))
}

/// XTN -> ContactPoint; `default_use` from the field (PID-13 home, PID-14 work).
pub fn contact_point(rep: &Repetition, default_use: &str) -> Option<Value> {
    let equipment = rep_component(rep, 3);
    let email = rep_component(rep, 4);
    let composed = match (rep_component(rep, 6), rep_component(rep, 7)) {
        (Some(area), Some(local)) => Some(format!("({area}) {local}")),
        (None, Some(local)) => Some(local.to_owned()),
        _ => None,
    };
    let (system, value) = if equipment == Some("Internet") || equipment == Some("X.400") {
        ("email", email.or(rep_component(rep, 1))?.to_owned())
    } else {
        let value = rep_component(rep, 1).map(str::to_owned).or(composed)?;
        let system = match equipment {
            Some("FX") => "fax",
            Some("BP") => "pager",
            _ => "phone",
        };
        (system, value)
    };
    let use_ = match (rep_component(rep, 2), equipment) {
        (_, Some("CP")) => "mobile",
        (Some("WPN"), _) => "work",
        (Some("PRN") | Some("ORN") | Some("VHN"), _) => "home",
        _ => default_use,
    };
    Some(json!({"system": system, "value": value, "use": use_}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_hl7_writes_them() {
        let ok = [
            ("72", "72"),
            ("+5", "5"),
            ("-0.5", "-0.5"),
            (".5", "0.5"),
            ("5.", "5"),
            ("007", "7"),
            ("1.50", "1.50"),
            (" 98.6 ", "98.6"),
        ];
        for (input, expected) in ok {
            assert_eq!(
                decimal(input).map(|n| n.to_string()),
                Some(expected.to_owned()),
                "{input}"
            );
        }
        for bad in ["", "abc", "1,5", "1.2.3", "-", ".", "1e5", "12a", "++1"] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_keep_their_precision() {
        let ok = [
            ("2026", "2026"),
            ("202612", "2026-12"),
            ("20261201", "2026-12-01"),
            ("2026120103", "2026-12-01T03:00:00Z"),
            ("202612010314", "2026-12-01T03:14:00Z"),
            ("20261201031405.123", "2026-12-01T03:14:05.123Z"),
            ("20261201031405+0100", "2026-12-01T03:14:05+01:00"),
            ("20261201031405-0500", "2026-12-01T03:14:05-05:00"),
        ];
        for (input, expected) in ok {
            assert_eq!(date_time(input).as_deref(), Ok(expected), "{input}");
        }
        for bad in [
            "",
            "20",
            "2026131",
            "20261301",
            "20261232",
            "2026120125",
            "2026x",
            "20261201+1",
            "20261201.5",
        ] {
            assert!(date_time(bad).is_err(), "{bad}");
        }
        assert_eq!(date("20261201031405").as_deref(), Ok("2026-12-01"));
        assert_eq!(instant("20261201").as_deref(), Ok("2026-12-01T00:00:00Z"));
    }
}
