//! Table-driven tests for the corners the official suite does not reach: UCUM conversions in
//! comparisons, dateTimes without timezone, decimal precision, error positions, hooks
//! (`resolve()`, `memberOf()`, `trace()`), typed results, and fuzz regressions.

use serde_json::{Value, json};
use std::cell::RefCell;
use vigil_fhirpath::{
    CodeRef, Context, EvalErrorKind, Expression, ParseErrorKind, ResolveHook, TerminologyHook,
    TraceHook, to_json,
};

fn eval_on(resource: &Value, expr: &str) -> Value {
    let e = Expression::compile(expr).unwrap_or_else(|err| panic!("{expr}: {err}"));
    let ctx = if resource.is_null() {
        Context::empty()
    } else {
        Context::new(resource)
    };
    let out = e
        .evaluate(&ctx)
        .unwrap_or_else(|err| panic!("{expr}: {err}"));
    to_json(&out)
}

/// JSON with numbers as written (`json!` would turn `3.00` into a float).
fn j(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

fn check_table(resource: &Value, cases: &[(&str, Value)]) {
    let mut failures = Vec::new();
    for (expr, want) in cases {
        let got = eval_on(resource, expr);
        if &got != want {
            failures.push(format!("{expr}: expected {want}, got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn vitals() -> Value {
    json!({
        "resourceType": "Observation", "id": "bp", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": "2024-03-01T03:10:00",
        "valueQuantity": {"value": 38.5, "unit": "°C", "system": "http://unitsofmeasure.org", "code": "Cel"},
        "component": [
            {"code": {"text": "systolic"}, "valueQuantity": {"value": 92, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"text": "weight"}, "valueQuantity": {"value": 180, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}},
            {"code": {"text": "height"}, "valueQuantity": {"value": 70, "unit": "in", "system": "http://unitsofmeasure.org", "code": "[in_i]"}},
            {"code": {"text": "glucose"}, "valueQuantity": {"value": 99, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}}
        ]
    })
}

#[test]
fn ucum_conversions_in_comparisons() {
    let obs = vitals();
    let q = |name: &str| format!("component.where(code.text = '{name}').value");
    check_table(
        &obs,
        &[
            ("Observation.value > 38 'Cel'", json!([true])),
            ("Observation.value > 101 '[degF]'", json!([true])),
            ("Observation.value < 311.7 'K'", json!([true])),
            (&format!("{} < 12.5 'kPa'", q("systolic")), json!([true])),
            (&format!("{} > 81 'kg'", q("weight")), json!([true])),
            (&format!("{} = 81.6466266 'kg'", q("weight")), json!([true])),
            (&format!("{} ~ 81.6 'kg'", q("weight")), json!([true])),
            (&format!("{} > 177 'cm'", q("height")), json!([true])),
            (&format!("{} = 0.99 'g/L'", q("glucose")), json!([true])),
            (&format!("{} > 5 'mmol/L'", q("glucose")), json!([])),
            ("1 'h' = 60 'min'", json!([true])),
            ("72 '/min' = 1.2 '/s'", json!([true])),
            ("1 '10*3/uL' = 1 '10*9/L'", json!([true])),
            ("500 'mL' = 0.5 'L'", json!([true])),
            ("5 'mg' < 1 'g'", json!([true])),
            ("1 'cm' < 1 's'", json!([])),
            ("1 week = 7 days", json!([true])),
            ("1 year = 1 'a'", json!([])),
            ("1 year ~ 1 'a'", json!([true])),
            (
                "(1 'kg' + 500 'g')",
                j(r#"[{"value": 1.50, "unit": "kg"}]"#),
            ),
            (
                "1.5 'kg'.toQuantity('g')",
                j(r#"[{"value": 1500.0, "unit": "g"}]"#),
            ),
        ],
    );
}

#[test]
fn datetimes_without_timezone() {
    let obs = vitals();
    check_table(
        &obs,
        &[
            // Same wall clock, one side with an offset: hours matter, the offset is unknown.
            ("Observation.effective = @2024-03-01T03:10:00Z", json!([])),
            (
                "Observation.effective = @2024-03-01T03:10:00",
                json!([true]),
            ),
            (
                "Observation.effective > @2024-03-01T03:09:00",
                json!([true]),
            ),
            // Dates far apart decide regardless of any offset.
            (
                "Observation.effective > @2024-02-01T00:00:00Z",
                json!([true]),
            ),
            (
                "Observation.effective < @2024-03-05T00:00:00+14:00",
                json!([true]),
            ),
            // Precision: day vs minute is undecidable when the days are equal.
            ("Observation.effective = @2024-03-01", json!([])),
            ("Observation.effective ~ @2024-03-01", json!([false])),
            ("Observation.effective > @2024-02-29", json!([true])),
            (
                "@2024-03-01T10:00:00+02:00 = @2024-03-01T08:00:00Z",
                json!([true]),
            ),
            ("@2024-03-01T10:00 < @2024-03-01T10:00:01", json!([])),
            (
                "@2024-03-01T10:00:00 = @2024-03-01T10:00:00.000",
                json!([true]),
            ),
            (
                "Observation.effective + 1 day",
                json!(["2024-03-02T03:10:00"]),
            ),
            ("@2024-01-31 + 1 month", json!(["2024-02-29"])),
            ("@2023-03-31 - 1 month", json!(["2023-02-28"])),
            ("@T23:30 + 1 hour", json!(["00:30"])),
            ("@2024 + 18 months", json!(["2025"])),
        ],
    );
}

#[test]
fn decimal_precision_is_exact_and_kept() {
    let r = j(r#"{"resourceType": "Observation", "valueQuantity": {"value": 1.50, "unit": "mg"}}"#);
    check_table(
        &r,
        &[
            ("Observation.value.value", j("[1.50]")),
            ("0.1 + 0.2 = 0.3", json!([true])),
            ("1.50 + 1.25", j("[2.75]")),
            ("1.50 * 2", j("[3.00]")),
            ("1.0 / 3 * 3 = 1.0", json!([false])),
            ("(1.0 / 3 * 3).round(10)", j("[1.0000000000]")),
            ("10 / 4", j("[2.5]")),
            ("7 div 2", json!([3])),
            ("-7 mod 3", json!([-1])),
            ("1.587.precision()", json!([3])),
            ("1.500 ~ 1.5", json!([true])),
            ("1.2 ~ 1.25", json!([true])),
            ("1.2 = 1.20", json!([true])),
            (
                "12345678901234567890.123456789 + 0.000000001",
                j("[12345678901234567890.123456790]"),
            ),
            ("2.5.round()", json!([3])),
            ("(-2.5).round()", json!([-3])),
            ("1.587.highBoundary(2)", json!([1.59])),
        ],
    );
}

#[test]
fn parse_errors_name_line_column_and_expectation() {
    let cases: &[(&str, u32, u32, ParseErrorKind, &str)] = &[
        (
            "Patient.name.",
            1,
            14,
            ParseErrorKind::Syntax,
            "a member or function name",
        ),
        ("1 +", 1, 4, ParseErrorKind::Syntax, "an expression"),
        (
            "Patient\n  .name\n  .where(use = 'x'",
            3,
            19,
            ParseErrorKind::Syntax,
            "',' or ')'",
        ),
        ("'unterminated", 1, 1, ParseErrorKind::Syntax, "closing '"),
        ("/* open comment", 1, 1, ParseErrorKind::Syntax, "'*/'"),
        (
            "name.frobnicate()",
            1,
            6,
            ParseErrorKind::UnknownFunction,
            "function name",
        ),
        (
            "name.substring()",
            1,
            6,
            ParseErrorKind::WrongArity,
            "1 to 2 arguments",
        ),
        (
            "@2015-13-01",
            1,
            1,
            ParseErrorKind::InvalidLiteral,
            "valid date",
        ),
        ("$that", 1, 1, ParseErrorKind::Syntax, "$this"),
        (
            "name.ofType(1)",
            1,
            13,
            ParseErrorKind::InvalidTypeSpecifier,
            "a type name",
        ),
        (
            "1 2",
            1,
            3,
            ParseErrorKind::Syntax,
            "an operator or end of input",
        ),
        (
            "99999999999999999999",
            1,
            1,
            ParseErrorKind::InvalidLiteral,
            "64 bits",
        ),
    ];
    for (src, line, column, kind, expected) in cases {
        let err = Expression::compile(src).expect_err(src);
        assert_eq!(
            (err.line(), err.column(), err.kind),
            (*line, *column, *kind),
            "{src}: {err}"
        );
        assert!(err.expected.contains(expected), "{src}: {err}");
    }
    let deep = "(".repeat(5000) + "1" + &")".repeat(5000);
    assert!(Expression::compile(&deep).is_err(), "nesting is bounded");
}

#[test]
fn evaluation_errors_carry_position_and_kind() {
    let p = json!({"resourceType": "Patient", "name": [{"given": ["a", "b"]}]});
    let cases: &[(&str, EvalErrorKind, u32)] = &[
        ("name.given.single()", EvalErrorKind::SingletonExpected, 12),
        ("name.given + 'x'", EvalErrorKind::SingletonExpected, 6),
        ("%nope", EvalErrorKind::UndefinedVariable("nope".into()), 1),
        ("'a'.matches('(')", EvalErrorKind::InvalidArgument, 5),
        ("1 < 'a'", EvalErrorKind::TypeMismatch, 3),
        ("9223372036854775807 + 1", EvalErrorKind::Overflow, 21),
    ];
    for (src, kind, column) in cases {
        let e = Expression::compile(src).expect(src);
        let ctx = Context::new(&p);
        let err = e.evaluate(&ctx).expect_err(src);
        assert_eq!(
            (&err.kind, err.position.column),
            (kind, *column),
            "{src}: {err}"
        );
    }
}

struct Store(Value);
impl ResolveHook for Store {
    fn resolve(&self, reference: &str) -> Result<Option<Value>, String> {
        Ok((reference == "Practitioner/dr").then(|| self.0.clone()))
    }
}

struct Vitals;
impl TerminologyHook for Vitals {
    fn member_of(&self, codes: &[CodeRef<'_>], value_set: &str) -> Result<Option<bool>, String> {
        if value_set != "http://hl7.org/fhir/ValueSet/observation-vitalsignresult" {
            return Ok(None);
        }
        Ok(Some(codes.iter().any(|c| {
            c.system == Some("http://loinc.org") && c.code == "85354-9"
        })))
    }
}

#[derive(Default)]
struct Traces(RefCell<Vec<String>>);
impl TraceHook for Traces {
    fn trace(&self, name: &str, values: &Value) {
        self.0.borrow_mut().push(format!("{name}={values}"));
    }
}

#[test]
fn resolve_in_bundle_contained_and_through_the_hook() {
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://example.org/fhir/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"}},
        {"fullUrl": "urn:uuid:0b5c", "resource": {"resourceType": "Organization", "id": "o1", "name": "Ward 12"}},
        {"fullUrl": "http://example.org/fhir/Observation/o1", "resource": {
            "resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"},
            "contained": [{"resourceType": "Device", "id": "mon", "serialNumber": "M-12"}],
            "subject": {"reference": "Patient/p1"}, "device": {"reference": "#mon"},
            "performer": [{"reference": "urn:uuid:0b5c"}, {"reference": "Practitioner/dr"}]}}
    ]});
    let dr = json!({"resourceType": "Practitioner", "id": "dr", "name": [{"family": "House"}]});
    let store = Store(dr);
    let obs = &bundle["entry"][2]["resource"];
    let ctx = Context::new(obs).root_resource(&bundle).resolver(&store);
    let run = |src: &str| {
        to_json(
            &Expression::compile(src)
                .expect(src)
                .evaluate(&ctx)
                .expect(src),
        )
    };
    assert_eq!(run("subject.resolve().birthDate"), json!(["1970-01-01"]));
    assert_eq!(run("device.resolve().serialNumber"), json!(["M-12"]));
    assert_eq!(
        run("performer.resolve().ofType(Organization).name"),
        json!(["Ward 12"])
    );
    assert_eq!(
        run("performer.resolve().ofType(Practitioner).name.family"),
        json!(["House"])
    );
    assert_eq!(run("subject.resolve() is Patient"), json!([true]));
    assert_eq!(run("%rootResource.entry.count()"), json!([3]));
}

#[test]
fn terminology_trace_and_variables_hooks() {
    let obs = vitals();
    let traces = Traces::default();
    let ctx = Context::new(&obs)
        .terminology(&Vitals)
        .tracer(&traces)
        .string_variable("limit", "90");
    let run = |src: &str| {
        to_json(
            &Expression::compile(src)
                .expect(src)
                .evaluate(&ctx)
                .expect(src),
        )
    };
    assert_eq!(
        run("code.memberOf(%`vs-observation-vitalsignresult`)"),
        json!([true])
    );
    assert_eq!(run("code.memberOf('http://example.org/vs')"), json!([]));
    assert_eq!(
        run("component.code.text.trace('codes').count()"),
        json!([4])
    );
    assert_eq!(
        traces.0.borrow().as_slice(),
        [r#"codes=["systolic","weight","height","glucose"]"#]
    );
    assert_eq!(run("%limit.toInteger() + 1"), json!([91]));
    assert_eq!(
        run("%ucum & '|' & %loinc & '|' & %sct"),
        json!(["http://unitsofmeasure.org|http://loinc.org|http://snomed.info/sct"])
    );
    assert_eq!(run("%context.id = %resource.id"), json!([true]));
}

#[test]
fn typed_results_for_search_indexing() {
    let obs = vitals();
    let ctx = Context::new(&obs);
    let e = Expression::compile("Observation.code | Observation.effective | Observation.value")
        .expect("compiles");
    let out = e.evaluate(&ctx).expect("evaluates");
    let codings = out[0].to_codings();
    assert_eq!(
        (codings[0].system, codings[0].code),
        (Some("http://loinc.org"), Some("85354-9"))
    );
    let when = out[1].to_temporal().expect("dateTime");
    assert_eq!(
        (when.precision, when.tz),
        (vigil_fhirpath::Precision::Second, None)
    );
    let q = out[2].to_quantity().expect("quantity");
    assert_eq!((q.value.to_string(), &*q.unit), ("38.5".to_owned(), "Cel"));
    let subject = json!({"resourceType": "Observation", "subject": {"reference": "Patient/1"}});
    let ctx = Context::new(&subject);
    let e = Expression::compile("Observation.subject").expect("compiles");
    assert_eq!(
        e.evaluate(&ctx).expect("evaluates")[0].to_reference(),
        Some("Patient/1")
    );
}

#[test]
fn fhir_types_choices_and_primitive_extensions() {
    let p = json!({"resourceType": "Patient", "id": "x", "active": true, "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
        "name": [{"given": ["Peter", null], "_given": [null, {"extension": [{"url": "http://example.org/x", "valueString": "hidden"}]}]}],
        "deceasedBoolean": false,
        "contact": [{"name": {"family": "Du Marché"}}]});
    check_table(
        &p,
        &[
            (
                "Patient.birthDate.extension(%`ext-patient-birthTime`).value is dateTime",
                json!([true]),
            ),
            ("Patient.birthDate is date", json!([true])),
            ("Patient.birthDate.hasValue()", json!([true])),
            ("Patient.name.given.count()", json!([2])),
            ("Patient.name.given[1].hasValue()", json!([false])),
            ("Patient.name.given[1].extension.value", json!(["hidden"])),
            ("Patient.deceased is boolean", json!([true])),
            ("Patient.deceasedBoolean", json!([])),
            ("Patient.contact.type().name", json!(["BackboneElement"])),
            ("Patient.contact.name.family", json!(["Du Marché"])),
            (
                "Patient.gender.is(code) and Patient.gender.is(string)",
                json!([true]),
            ),
            ("Patient.active.getValue() is Boolean", json!([true])),
            (
                "Patient.is(DomainResource) and Patient.is(Resource)",
                json!([true]),
            ),
            ("Patient.descendants().count() > 8", json!([true])),
            (
                "Patient.conformsTo('http://hl7.org/fhir/StructureDefinition/Patient')",
                json!([true]),
            ),
        ],
    );
    let e = Expression::compile("Patient.name.given1").expect("compiles");
    assert!(e.check("Patient").is_err());
    assert!(
        Expression::compile("Patient.name.given")
            .expect("compiles")
            .check("Patient")
            .is_ok()
    );
    assert!(
        Expression::compile("Observation.valueQuantity")
            .expect("ok")
            .check("Observation")
            .is_err()
    );
}

#[test]
fn untyped_json_and_empty_context() {
    let any = j(r#"{"a": {"b": [1, 2.50, "x", true]}}"#);
    check_table(
        &any,
        &[
            ("a.b.count()", json!([4])),
            ("a.b.where($this is Integer)", json!([1])),
            ("a.b[1] + 1", j("[3.50]")),
            ("a.b.ofType(String)", json!(["x"])),
        ],
    );
    check_table(
        &Value::Null,
        &[
            ("Patient.name", json!([])),
            ("1 + 1", json!([2])),
            ("{}.empty()", json!([true])),
        ],
    );
}

#[test]
fn html_checks_on_narrative() {
    let cases = [
        (
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>ok</p></div>"#,
            true,
        ),
        (
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script></div>"#,
            false,
        ),
        (
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">a</p></div>"#,
            false,
        ),
        (
            r#"<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:x()">a</a></div>"#,
            false,
        ),
        ("<p>no div</p>", false),
    ];
    for (html, safe) in cases {
        let r = json!({"resourceType": "Patient", "text": {"status": "generated", "div": html}});
        assert_eq!(
            eval_on(&r, "Patient.text.div.htmlChecks()"),
            json!([safe]),
            "{html}"
        );
    }
}

/// Regressions from fuzzing: each input once panicked.
#[test]
fn fuzz_regressions_do_not_panic() {
    let inputs = [
        "(-1.3333333333333333333333333333333333333333333333333333333333333333333333333333333333333333587).highBoundary(3)",
        "0.0000000000000000000000000001.lowBoundary()",
    ];
    let p = json!({"resourceType": "Patient"});
    for src in inputs {
        if let Ok(e) = Expression::compile(src) {
            let ctx = Context::new(&p);
            let _ = e.evaluate(&ctx);
        }
    }
}

#[test]
fn expressions_are_shared_across_threads() {
    let e = std::sync::Arc::new(
        Expression::compile("Patient.name.given.where(matches('^P')).count()").expect("ok"),
    );
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || {
                let p = json!({"resourceType": "Patient", "name": [{"given": ["Peter", "Paul", "Jim"]}]});
                to_json(&e.evaluate(&Context::new(&p)).expect("evaluates"))
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), json!([2]));
    }
}

mod properties {
    //! Property tests: arbitrary text never panics the compiler; expressions built from the
    //! grammar never panic the evaluator, and compiling what an error message points at is
    //! consistent (positions lie inside the text).
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("name".to_owned()),
            Just("given".to_owned()),
            Just("telecom".to_owned()),
            Just("birthDate".to_owned()),
            Just("value".to_owned()),
            Just("$this".to_owned()),
            Just("%resource".to_owned()),
            Just("{}".to_owned()),
            Just("@2024-01-31T10:00".to_owned()),
            Just("5 'mg'".to_owned()),
            Just("3 days".to_owned()),
            (-1000i64..1000).prop_map(|i| i.to_string()),
            (-1000i64..1000, 0u32..6).prop_map(|(i, s)| format!(
                "{}.{:0width$}",
                i,
                7,
                width = s as usize + 1
            )),
            "[a-z ]{0,6}".prop_map(|s| format!("'{s}'")),
        ]
    }

    fn expr() -> impl Strategy<Value = String> {
        leaf().prop_recursive(5, 48, 4, |inner| {
            let f0 = prop_oneof![
                Just("first()"),
                Just("count()"),
                Just("exists()"),
                Just("empty()"),
                Just("distinct()"),
                Just("children()"),
                Just("descendants()"),
                Just("toString()"),
                Just("toInteger()"),
                Just("lowBoundary()"),
                Just("not()"),
                Just("type()"),
                Just("hasValue()"),
                Just("upper()")
            ];
            let op = prop_oneof![
                Just("+"),
                Just("-"),
                Just("*"),
                Just("/"),
                Just("div"),
                Just("mod"),
                Just("&"),
                Just("|"),
                Just("="),
                Just("!="),
                Just("~"),
                Just("<"),
                Just(">="),
                Just("and"),
                Just("or"),
                Just("xor"),
                Just("implies"),
                Just("in"),
                Just("contains")
            ];
            prop_oneof![
                (inner.clone(), f0).prop_map(|(e, f)| format!("({e}).{f}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}).where({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}).select({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("iif({a}, {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}).substring({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})[{b}]")),
                (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
                inner.clone().prop_map(|a| format!("-({a})")),
                inner.clone().prop_map(|a| format!("({a}) is Quantity")),
                inner.prop_map(|a| format!("({a}).aggregate($total + $this, 0)")),
            ]
        })
    }

    fn patient() -> Value {
        json!({"resourceType": "Patient", "name": [{"given": ["Peter", "James"], "family": "Chalmers"}],
               "birthDate": "1974-12-25", "telecom": [{"value": "555", "rank": 1}]})
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_compiles_or_reports_a_position_inside_it(src in "\\PC{0,40}") {
            if let Err(e) = Expression::compile(&src) {
                let lines = src.split('\n').count() as u32;
                prop_assert!(e.line() >= 1 && e.line() <= lines.max(1));
                prop_assert!(e.column() >= 1);
            }
        }

        #[test]
        fn grammar_expressions_evaluate_without_panicking(src in expr()) {
            let e = Expression::compile(&src);
            prop_assert!(e.is_ok(), "{src}: {:?}", e.err());
            if let Ok(e) = e {
                let p = patient();
                let ctx = Context::new(&p);
                if let Ok(r) = e.evaluate(&ctx) {
                    let _ = to_json(&r);
                }
            }
        }
    }
}

#[test]
fn deep_expressions_are_refused_not_overflowing_the_stack() {
    let p = json!({"resourceType": "Patient", "a": {"a": {"a": 1}}});
    let long_path = format!("a{}", ".a".repeat(5000));
    let nested_where = format!("{}true{}", "a.where(".repeat(150), ")".repeat(150));
    let nested_parens = format!("{}1{}", "(".repeat(190), ")".repeat(190));
    let nested_iif = format!("{}1{}", "iif(true, ".repeat(150), ", 0)".repeat(150));
    for src in [long_path, nested_where, nested_parens, nested_iif] {
        let err = Expression::compile(&src).expect_err("too deep");
        assert!(err.expected.contains("levels"), "{err}");
    }
    // Just under the limit: compiles and evaluates (in debug builds, on a test thread's stack).
    let accepted = [
        format!("{}true{}", "a.where(".repeat(60), ")".repeat(60)),
        format!("{}1{}", "iif(true, ".repeat(90), ", 0)".repeat(90)),
        format!("{}1{}", "(1 + ".repeat(45), ")".repeat(45)),
        format!("a{}", ".a".repeat(120)),
        format!("1{}", " + 1".repeat(120)),
    ];
    for src in accepted {
        let e = Expression::compile(&src).unwrap_or_else(|err| panic!("{err}"));
        let ctx = Context::new(&p);
        let _ = e.evaluate(&ctx);
    }
}
