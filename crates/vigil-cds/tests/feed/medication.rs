//! Medication safety: the knowledge file, the checks, the DetectedIssue consumer.

use crate::support::*;
use serde_json::{Value, json};
use vigil_cds::medication::feed::MedicationSafetyConsumer;
use vigil_cds::medication::{
    AllergyEntry, FindingKind, Indicator, MedicationEntry, MedicationKnowledge, RXNORM, check,
};
use vigil_service::feed::ChangeConsumer;

pub fn rx(code: &str, text: &str) -> Value {
    json!({"coding": [{"system": RXNORM, "code": code}], "text": text})
}

fn entry(reference: &str, concept: Value) -> MedicationEntry {
    MedicationEntry {
        reference: reference.into(),
        label: concept["text"].as_str().unwrap_or("x").into(),
        concept,
    }
}

fn allergy(concept: Value) -> AllergyEntry {
    AllergyEntry {
        reference: "AllergyIntolerance/a".into(),
        label: "allergy".into(),
        concept,
    }
}

fn knowledge() -> &'static MedicationKnowledge {
    MedicationKnowledge::embedded().unwrap()
}

#[test]
fn every_onc_interaction_fires_both_ways_round_as_critical() {
    let k = knowledge();
    assert_eq!(
        k.interactions.len(),
        15,
        "the 15 pairs of Phansalkar et al. 2012"
    );
    for interaction in &k.interactions {
        let object = &k.classes[&interaction.object].members;
        let precipitant = &k.classes[&interaction.precipitant].members;
        // Every member of each side against the first of the other, so class membership is
        // exercised, not one hand-picked pair.
        for a in object {
            let b = precipitant.iter().find(|b| *b != a).unwrap();
            for (draft, other) in [(a, b), (b, a)] {
                let findings = check(
                    k,
                    &[entry("MedicationRequest/d", rx(draft, "draft"))],
                    &[entry("MedicationRequest/o", rx(other, "other"))],
                    &[],
                );
                assert!(
                    findings.iter().any(|f| f.rule == interaction.id
                        && f.indicator == Indicator::Critical
                        && f.kind == FindingKind::Interaction),
                    "{} {draft} {other}: {findings:?}",
                    interaction.id
                );
            }
        }
    }
}

#[test]
fn the_negative_set_raises_no_warning_or_critical_finding() {
    let k = knowledge();
    assert!(k.negative_set.len() >= 10);
    for pair in &k.negative_set {
        for (draft, other) in [(&pair.a, &pair.b), (&pair.b, &pair.a)] {
            let findings = check(
                k,
                &[entry("MedicationRequest/d", rx(draft, "d"))],
                &[entry("MedicationRequest/o", rx(other, "o"))],
                &[],
            );
            assert!(
                findings.iter().all(|f| f.indicator == Indicator::Info),
                "{}: {findings:?}",
                pair.note
            );
        }
    }
}

#[test]
fn penicillin_allergy_against_amoxicillin_and_cross_sensitivity() {
    let k = knowledge();
    let penicillin = allergy(json!({"text": "Penicillin"}));
    let amoxicillin = entry("MedicationRequest/d", rx("723", "amoxicillin"));
    let findings = check(
        k,
        std::slice::from_ref(&amoxicillin),
        &[],
        std::slice::from_ref(&penicillin),
    );
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].indicator, Indicator::Critical);
    assert_eq!(findings[0].kind, FindingKind::Allergy);
    assert_eq!(findings[0].other, "AllergyIntolerance/a");

    let cephalexin = entry("MedicationRequest/d", rx("2231", "cephalexin"));
    let findings = check(k, &[cephalexin], &[], &[penicillin]);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].indicator, Indicator::Warning);
    assert!(findings[0].summary.contains("cross-sensitivity"));

    // An allergy to one penicillin covers the class.
    let amox_allergy = allergy(rx("723", "Amoxicillin"));
    let ampicillin = entry("MedicationRequest/d", rx("733", "ampicillin"));
    let findings = check(k, &[ampicillin], &[], std::slice::from_ref(&amox_allergy));
    assert_eq!(findings[0].indicator, Indicator::Critical);
    // Unrelated drug: nothing.
    let metformin = entry("MedicationRequest/d", rx("6809", "metformin"));
    assert!(check(k, &[metformin], &[], &[amox_allergy]).is_empty());
}

#[test]
fn ingredient_names_match_when_the_code_is_not_an_ingredient() {
    let k = knowledge();
    // 308182 is a clinical drug (SCD) code, not an ingredient: the name decides.
    let draft = entry(
        "MedicationRequest/d",
        json!({"coding": [{"system": RXNORM, "code": "308182", "display": "Amoxicillin 500 MG Oral Capsule"}]}),
    );
    let findings = check(k, &[draft], &[], &[allergy(json!({"text": "penicillins"}))]);
    assert_eq!(findings.len(), 1, "{findings:?}");
    // Whole words only: "ampicillin-like" text must not read as "penicillin".
    assert!(
        k.named_in("Amoxicillin/clavulanate")
            .iter()
            .any(|i| i.name == "amoxicillin")
    );
    assert!(k.named_in("amoxicillinate").is_empty());
}

#[test]
fn duplicate_therapy_by_ingredient_class_and_unknown_code() {
    let k = knowledge();
    let findings = check(
        k,
        &[entry("MedicationRequest/d", rx("40790", "pantoprazole"))],
        &[entry("MedicationRequest/o", rx("7646", "omeprazole"))],
        &[],
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, FindingKind::Duplicate);
    assert_eq!(findings[0].indicator, Indicator::Warning);
    let same = check(
        k,
        &[entry("MedicationRequest/d", rx("6809", "metformin"))],
        &[entry("MedicationRequest/o", rx("6809", "metformin"))],
        &[],
    );
    assert_eq!(same.len(), 1);
    let unknown = check(
        k,
        &[entry("MedicationRequest/d", rx("999999", "something"))],
        &[entry("MedicationRequest/o", rx("999999", "something"))],
        &[],
    );
    assert_eq!(unknown.len(), 1, "same unknown code is a duplicate");
    // The draft is not compared with itself when it is already stored as active.
    let itself = check(
        k,
        &[entry("MedicationRequest/d", rx("6809", "metformin"))],
        &[entry("MedicationRequest/d", rx("6809", "metformin"))],
        &[],
    );
    assert!(itself.is_empty());
}

#[test]
fn broken_knowledge_files_are_refused() {
    let good: Value =
        serde_json::from_str(include_str!("../../knowledge/medications.json")).unwrap();
    let mut unknown_member = good.clone();
    unknown_member["classes"]["ppis"]["members"][0] = json!("0000");
    let mut unknown_class = good.clone();
    unknown_class["interactions"][0]["object"] = json!("nope");
    let mut twice = good.clone();
    let first = twice["ingredients"][0].clone();
    twice["ingredients"].as_array_mut().unwrap().push(first);
    for broken in [unknown_member, unknown_class, twice, json!({})] {
        assert!(MedicationKnowledge::from_json(&broken.to_string()).is_err());
    }
    assert!(MedicationKnowledge::from_json("not json").is_err());
}

pub fn order(patient: &str, code: &str, text: &str) -> Value {
    json!({
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": rx(code, text),
        "subject": {"reference": patient},
    })
}

#[test]
fn a_new_order_stores_detected_issues_implicating_both_orders_once() {
    let world = World::new();
    let mut consumer =
        MedicationSafetyConsumer::new(world.service.clone(), "http://localhost").unwrap();
    let simvastatin = world.create(order("Patient/m1", "36567", "simvastatin 40 mg"));
    world.create(json!({
        "resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/m1"},
        "code": {"text": "Penicillin"},
    }));
    let seq = world.last_seq();
    consumer.handle(&world.events(0)).unwrap();
    assert!(
        world.search("DetectedIssue", &[]).is_empty(),
        "one order alone is fine"
    );

    let clarithromycin = world.create(order("Patient/m1", "21212", "clarithromycin 500 mg"));
    let amoxicillin = world.create(order("Patient/m1", "723", "amoxicillin 500 mg"));
    consumer.handle(&world.events(seq)).unwrap();
    consumer.handle(&world.events(seq)).unwrap(); // redelivery
    let issues = world.search("DetectedIssue", &[("patient", "Patient/m1")]);
    assert_eq!(issues.len(), 2, "{issues:#?}");
    let ddi = issues
        .iter()
        .find(|i| i["code"]["coding"][0]["code"] == "DRG")
        .unwrap();
    assert_eq!(ddi["severity"], "high");
    let implicated: Vec<&str> = ddi["implicated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap())
        .collect();
    assert!(implicated.contains(&clarithromycin.as_str()));
    assert!(implicated.contains(&simvastatin.as_str()));
    let allergy = issues
        .iter()
        .find(|i| i["code"]["coding"][0]["code"] == "ALGY")
        .unwrap();
    assert_eq!(allergy["implicated"][0]["reference"], amoxicillin.as_str());
    assert!(
        allergy["implicated"][1]["reference"]
            .as_str()
            .unwrap()
            .starts_with("AllergyIntolerance/")
    );
}
