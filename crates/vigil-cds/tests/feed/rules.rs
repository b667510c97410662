//! Threshold rules as PlanDefinitions with FHIRPath conditions.

use crate::support::*;
use serde_json::{Value, json};
use vigil_cds::alerts::ALERT_SYSTEM;
use vigil_cds::rules::RulesConsumer;
use vigil_service::feed::ChangeConsumer;

const SYSTOLIC: &str = "(code.coding.where(system='http://loinc.org' and code='8480-6').exists() and value.ofType(Quantity).value >= 180) or component.where(code.coding.where(system='http://loinc.org' and code='8480-6').exists()).value.ofType(Quantity).value.where($this >= 180).exists()";

fn rule(priority: &str, expression: &str) -> Value {
    json!({
        "resourceType": "PlanDefinition", "status": "active", "url": "https://example.org/rules/sbp-180",
        "title": "Severe hypertension",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/plan-definition-type", "code": "eca-rule"}]},
        "action": [{
            "title": "Systolic blood pressure 180 mmHg or above", "priority": priority,
            "trigger": [{"type": "data-changed", "data": [{"type": "Observation"}]}],
            "condition": [{"kind": "applicability", "expression": {"language": "text/fhirpath", "expression": expression}}],
        }],
    })
}

fn rule_tasks(world: &World, patient: &str, rule_id: &str) -> Vec<Value> {
    world.search(
        "Task",
        &[
            ("subject", patient),
            ("code", &format!("{ALERT_SYSTEM}|rule-{rule_id}-0")),
        ],
    )
}

fn deliver(world: &World, consumer: &mut RulesConsumer, after: u64) -> u64 {
    let events = world.events(after);
    consumer.handle(&events).unwrap();
    events.last().map_or(after, |e| e.seq)
}

#[test]
fn systolic_180_raises_one_urgent_task_and_a_changed_rule_takes_effect() {
    let world = World::new();
    let rule_ref = world.create(rule("urgent", SYSTOLIC));
    let rule_id = rule_ref.trim_start_matches("PlanDefinition/").to_owned();
    let mut consumer = RulesConsumer::new(world.service.clone(), "http://localhost").unwrap();
    assert_eq!(consumer.actions().len(), 1);

    world.create(vital(
        "Patient/r1",
        "8480-6",
        179.0,
        "mm[Hg]",
        &minutes_ago(3),
    ));
    let high = world.create(vital(
        "Patient/r1",
        "8480-6",
        185.0,
        "mm[Hg]",
        &minutes_ago(2),
    ));
    let mut seq = deliver(&world, &mut consumer, 0);
    let tasks = rule_tasks(&world, "Patient/r1", &rule_id);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["priority"], "urgent");
    assert_eq!(tasks[0]["focus"]["reference"], high.as_str());
    assert_eq!(
        tasks[0]["instantiatesCanonical"],
        "https://example.org/rules/sbp-180"
    );

    // Redelivery and a second high reading while the alert is open: still one Task.
    deliver(&world, &mut consumer, 0);
    world.create(json!({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": "Patient/r1"}, "effectiveDateTime": minutes_ago(1),
        "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                        "valueQuantity": {"value": 200, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}],
    }));
    seq = deliver(&world, &mut consumer, seq);
    assert_eq!(rule_tasks(&world, "Patient/r1", &rule_id).len(), 1);

    // The rule, changed through the API to stat: the open Task is raised.
    let mut changed = rule("stat", SYSTOLIC);
    changed["id"] = json!(rule_id);
    world.update(changed);
    world.create(vital(
        "Patient/r1",
        "8480-6",
        190.0,
        "mm[Hg]",
        &minutes_ago(0),
    ));
    deliver(&world, &mut consumer, seq);
    let tasks = rule_tasks(&world, "Patient/r1", &rule_id);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["priority"], "stat");
}

#[test]
fn a_retired_rule_or_a_broken_expression_raises_nothing() {
    let world = World::new();
    let mut retired = rule("urgent", SYSTOLIC);
    retired["status"] = json!("retired");
    world.create(retired);
    world.create(rule("urgent", "value.ofType(Quantity).value >= "));
    let mut consumer = RulesConsumer::new(world.service.clone(), "http://localhost").unwrap();
    assert!(consumer.actions().is_empty());
    world.create(vital(
        "Patient/r2",
        "8480-6",
        220.0,
        "mm[Hg]",
        &minutes_ago(1),
    ));
    let before = world.last_seq();
    deliver(&world, &mut consumer, 0);
    assert_eq!(world.last_seq(), before, "no Task written");
}

#[test]
fn compile_rule_reports_what_it_skips() {
    let mut plan = rule("soon", SYSTOLIC);
    plan["id"] = json!("x");
    let (actions, problems) = vigil_cds::rules::compile_rule(&plan);
    assert!(actions.is_empty());
    assert!(problems[0].contains("priority"), "{problems:?}");
    let mut plan = rule("urgent", "1 +");
    plan["id"] = json!("x");
    let (_, problems) = vigil_cds::rules::compile_rule(&plan);
    assert!(problems[0].contains("FHIRPath"), "{problems:?}");
}
