//! End-to-end tests of `vigil fhirpath` through the real binary: output shape, exit status
//! and the one-line error on stderr.

use std::process::Command;

fn vigil(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("fhirpath")
        .args(args)
        .output()
        .expect("vigil runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_json(dir: &tempfile::TempDir, name: &str, json: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, json).expect("write");
    p.display().to_string()
}

#[test]
fn prints_one_json_array_with_values_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let obs = write_json(
        &dir,
        "obs.json",
        r#"{"resourceType":"Observation","status":"final","code":{"text":"pulse"},
            "effectiveDateTime":"2024-03-01T03:10:00Z",
            "valueQuantity":{"value":131.50,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}"#,
    );
    let cases: &[(&[&str], &str)] = &[
        (&["--resource", &obs, "Observation.value.value"], "[131.50]"),
        (
            &[
                "--resource",
                &obs,
                "(Observation.value as Quantity).value > 100",
            ],
            "[true]",
        ),
        (
            &["--resource", &obs, "Observation.value"],
            r#"[{"value":131.50,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}]"#,
        ),
        (
            &["--resource", &obs, "Observation.effective"],
            r#"["2024-03-01T03:10:00Z"]"#,
        ),
        (
            &["--resource", &obs, "Observation.code"],
            r#"[{"text":"pulse"}]"#,
        ),
        (&["1.50 + 1"], "[2.50]"),
        (&["@2024-01-31 + 1 month"], r#"["2024-02-29"]"#),
        (&["4 'g'"], r#"[{"value":4,"unit":"g"}]"#),
        (&["Patient.name"], "[]"),
        (&["--var", "limit=100", "%limit * 2"], "[200]"),
        (&["--var", "who=\"Jim\"", "--", "%who & '!'"], r#"["Jim!"]"#),
        (&["--", "-1 + 3"], "[2]"),
    ];
    for (args, want) in cases {
        let (code, out, err) = vigil(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(out.trim(), *want, "{args:?}");
    }
}

#[test]
fn untyped_json_is_evaluated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let any = write_json(&dir, "any.json", r#"{"a":{"b":[1,2.5,"x"]}}"#);
    let (code, out, _) = vigil(&["--resource", &any, "a.b"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), r#"[1,2.5,"x"]"#);
}

#[test]
fn errors_exit_1_with_one_line_naming_the_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write_json(&dir, "bad.json", "{not json");
    let cases: &[(&[&str], &str)] = &[
        (&["Patient.name.where(use = 'official'"], "1:36"),
        (&["2 + 2 /"], "1:8"),
        (&["Patient.name.unknownFn()"], "1:14"),
        (&["(1 | 2).single()"], "1:9"),
        (&["--var", "x=nope", "%x"], "--var x"),
        (&["--resource", &bad, "1"], "is not JSON"),
        (&["%undefined"], "1:1"),
    ];
    for (args, needle) in cases {
        let (code, out, err) = vigil(args);
        assert_eq!(code, 1, "{args:?}");
        assert!(out.is_empty(), "{args:?}: stdout {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
