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

/// A notification owed to a dead endpoint is retried (the batch fails) while it is young,
/// and dropped once older than `NOTIFICATION_MAX_AGE_MICROS`, with the Subscription set to
/// `error` saying so: a dead endpoint cannot hold the change feed for ever.
#[test]
fn an_expired_notification_is_dropped_and_said_in_the_subscription() {
    use vigil_cds::subscriptions::delivery::SubscriptionDelivery;
    use vigil_cds::subscriptions::websocket::WebsocketHub;
    use vigil_cds::subscriptions::{NOTIFICATION_MAX_AGE_MICROS, SubscriptionSpec};
    use vigil_service::feed::ChangeConsumer;

    let world = World::new();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let subscription = json!({
        "resourceType": "Subscription", "status": "active", "reason": "test",
        "criteria": "Observation?code=http://loinc.org|8867-4",
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook"}
    });
    let reference = world.create(subscription);
    let id = reference.trim_start_matches("Subscription/");
    let stored: serde_json::Value = serde_json::from_str(
        &world
            .service
            .read(&world.context, "Subscription", id)
            .unwrap()
            .version
            .content,
    )
    .unwrap();
    let spec = SubscriptionSpec::parse(&world.service, &world.context, &stored).unwrap();
    let mut delivery = SubscriptionDelivery::new(
        world.service.clone(),
        "http://localhost",
        spec,
        WebsocketHub::new(),
        false,
    )
    .unwrap();
    let after = world.last_seq();
    world.create(json!({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    }));
    let mut events = world.events(after);
    assert_eq!(events.len(), 1);
    assert!(
        delivery.handle(&events).is_err(),
        "a young notification to a dead endpoint is retried"
    );
    events[0].recorded_micros -= NOTIFICATION_MAX_AGE_MICROS + 1_000_000;
    assert_eq!(
        delivery.handle(&events),
        Ok(()),
        "an expired one is dropped"
    );
    let now: serde_json::Value = serde_json::from_str(
        &world
            .service
            .read(&world.context, "Subscription", id)
            .unwrap()
            .version
            .content,
    )
    .unwrap();
    assert_eq!(now["status"], "error");
    assert!(
        now["error"]
            .as_str()
            .unwrap()
            .contains("dropped undelivered"),
        "{now}"
    );
}

/// Past the limit of live deliveries a Subscription is set to `error` saying so, and is not
/// delivered; the ones within the limit run.
#[test]
fn subscriptions_beyond_the_live_limit_are_refused_with_a_reason() {
    use vigil_cds::subscriptions::manager::SubscriptionManager;
    use vigil_cds::subscriptions::websocket::WebsocketHub;
    use vigil_service::feed::ChangeConsumer;

    let world = World::new();
    let store: std::sync::Arc<dyn vigil_store::Store> = world.store.clone();
    let mut manager = SubscriptionManager::new(
        world.service.clone(),
        store,
        "http://localhost",
        WebsocketHub::new(),
    )
    .unwrap()
    .with_max_live(1);
    let after = world.last_seq();
    let mut ids = Vec::new();
    for n in 0..2 {
        let reference = world.create(json!({
            "resourceType": "Subscription", "status": "requested", "reason": "test",
            "criteria": "Observation?code=http://loinc.org|8867-4",
            "channel": {"type": "rest-hook", "endpoint": format!("http://127.0.0.1:9/hook{n}")}
        }));
        ids.push(reference.trim_start_matches("Subscription/").to_owned());
    }
    manager.handle(&world.events(after)).unwrap();
    assert_eq!(manager.running(), vec![ids[0].clone()]);
    let status = |id: &str| -> serde_json::Value {
        serde_json::from_str(
            &world
                .service
                .read(&world.context, "Subscription", id)
                .unwrap()
                .version
                .content,
        )
        .unwrap()
    };
    assert_eq!(status(&ids[0])["status"], "active");
    let refused = status(&ids[1]);
    assert_eq!(refused["status"], "error");
    assert!(
        refused["error"].as_str().unwrap().contains("at most 1"),
        "{refused}"
    );
}
