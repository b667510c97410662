//! Subscription criteria through the door's matcher, and Subscription checks.

use crate::support::*;
use serde_json::json;
use vigil_cds::subscriptions::{Channel, SubscriptionSpec};

#[test]
fn criteria_match_like_search_and_unusable_criteria_are_refused() {
    let world = World::new();
    let compiled = world
        .service
        .compile_criteria(
            &world.context,
            "Observation?code=http://loinc.org|8867-4&value-quantity=gt100",
        )
        .unwrap();
    let fast = vital("Patient/s", "8867-4", 131.0, "/min", &minutes_ago(1));
    let slow = vital("Patient/s", "8867-4", 60.0, "/min", &minutes_ago(1));
    let mut stored = Vec::new();
    for body in [fast, slow] {
        let reference = world.create(body);
        let (_, id) = reference.split_once('/').unwrap();
        let read = world
            .service
            .read(&world.context, "Observation", id)
            .unwrap();
        stored.push(serde_json::from_str::<serde_json::Value>(&read.version.content).unwrap());
    }
    assert!(world.service.matches(&compiled, &stored[0]).unwrap());
    assert!(!world.service.matches(&compiled, &stored[1]).unwrap());
    // The same criteria as a search find exactly the matching one.
    let found = world.search(
        "Observation",
        &[
            ("code", "http://loinc.org|8867-4"),
            ("value-quantity", "gt100"),
        ],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], stored[0]["id"]);

    for bad in [
        "Observation?nonsense=1",
        "NotAType",
        "Observation?date=notadate",
        "Observation?code:unknownmod=x",
    ] {
        assert!(
            world.service.compile_criteria(&world.context, bad).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn subscription_checks_name_the_problem() {
    let world = World::new();
    let base = json!({"resourceType": "Subscription", "id": "s1", "status": "requested",
        "reason": "r", "criteria": "Task?priority=stat",
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook",
                    "payload": "application/fhir+json", "header": ["Authorization: Bearer x"]}});
    let spec = SubscriptionSpec::parse(&world.service, &world.context, &base).unwrap();
    assert!(
        matches!(&spec.channel, Channel::RestHook { payload: Some(_), headers, .. } if headers.len() == 1)
    );
    let cases = [
        ("/criteria", json!("Task?bogus=1"), "criteria"),
        ("/channel/type", json!("email"), "email"),
        ("/channel/endpoint", json!("https://x/h"), "https"),
        ("/channel/payload", json!("application/fhir+xml"), "payload"),
        ("/channel/header", json!(["no colon"]), "header"),
        ("/end", json!("yesterday"), "end"),
    ];
    for (pointer, value, words) in cases {
        let mut subscription = base.clone();
        *subscription
            .pointer_mut(pointer)
            .unwrap_or(&mut json!(null)) = value.clone();
        if pointer == "/end" {
            subscription["end"] = value;
        }
        let problem = SubscriptionSpec::parse(&world.service, &world.context, &subscription)
            .err()
            .unwrap_or_default();
        assert!(problem.contains(words), "{pointer}: {problem}");
    }
}
