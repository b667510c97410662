//! CDS Hooks over the router, in process (tower oneshot).

use crate::medication::order;
use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vigil_cds::subscriptions::websocket::WebsocketHub;

fn app(world: &World) -> axum::Router {
    vigil_cds::http::router(
        world.service.clone(),
        WebsocketHub::new(),
        "http://localhost",
    )
}

async fn call(
    app: axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn order_sign(patient: &str, drafts: Vec<Value>, prefetch: Option<Value>) -> Value {
    let mut request = json!({
        "hook": "order-sign",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "userId": "Practitioner/1", "patientId": patient,
            "draftOrders": {"resourceType": "Bundle", "type": "collection",
                            "entry": drafts.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>()},
        },
    });
    if let Some(prefetch) = prefetch {
        request["prefetch"] = prefetch;
    }
    request
}

fn draft(id: &str, patient: &str, code: &str, text: &str) -> Value {
    let mut resource = order(&format!("Patient/{patient}"), code, text);
    resource["id"] = json!(id);
    resource["status"] = json!("draft");
    resource
}

fn bundle(resources: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "searchset",
           "entry": resources.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn discovery_lists_the_three_services_with_prefetch_templates() {
    let world = World::new();
    let (status, body) = call(app(&world), "GET", "/cds-services", None).await;
    assert_eq!(status, StatusCode::OK);
    let services = body["services"].as_array().unwrap();
    let hooks: Vec<&str> = services
        .iter()
        .map(|s| s["hook"].as_str().unwrap())
        .collect();
    assert_eq!(hooks, ["patient-view", "order-sign", "order-select"]);
    for service in services {
        assert!(service["id"].is_string() && service["description"].is_string());
        assert!(
            service["prefetch"]
                .as_object()
                .is_some_and(|p| !p.is_empty())
        );
    }
}

#[tokio::test]
async fn order_sign_with_prefetch_gives_a_critical_card_with_a_remove_suggestion() {
    let world = World::new();
    let prefetch = json!({
        "medications": bundle(vec![order("Patient/p", "36567", "simvastatin 40 mg")]),
        "allergies": bundle(vec![]),
    });
    let request = order_sign(
        "p",
        vec![draft("d1", "p", "21212", "clarithromycin 500 mg")],
        Some(prefetch),
    );
    let (status, body) = call(
        app(&world),
        "POST",
        "/cds-services/vigil-medication-safety",
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cards = body["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 1, "{body:#}");
    let card = &cards[0];
    assert_eq!(card["indicator"], "critical");
    assert!(card["summary"].as_str().unwrap().len() <= 140);
    assert!(card["detail"].as_str().unwrap().contains("simvastatin"));
    assert!(card["source"]["label"].is_string());
    let action = &card["suggestions"][0]["actions"][0];
    assert_eq!(action["type"], "delete");
    assert_eq!(action["resourceId"][0], "MedicationRequest/d1");
    assert_eq!(card["selectionBehavior"], "at-most-one");
}

#[tokio::test]
async fn order_sign_without_prefetch_reads_vigil_through_the_door() {
    let world = World::new();
    world.create(order("Patient/q", "7646", "omeprazole 20 mg"));
    world.create(
        json!({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/q"},
                        "code": {"text": "Penicillin"}}),
    );
    let request = order_sign(
        "q",
        vec![
            draft("d1", "q", "343047", "atazanavir 300 mg"),
            draft("d2", "q", "723", "amoxicillin 500 mg"),
        ],
        None,
    );
    let (status, body) = call(
        app(&world),
        "POST",
        "/cds-services/vigil-medication-safety",
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let summaries: Vec<&str> = body["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["summary"].as_str().unwrap())
        .collect();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    assert!(summaries.iter().any(|s| s.contains("Atazanavir")));
    assert!(summaries.iter().any(|s| s.contains("Allergy")));
}

#[tokio::test]
async fn order_select_checks_only_the_selected_orders() {
    let world = World::new();
    let mut request = order_sign(
        "s",
        vec![
            draft("a", "s", "36567", "simvastatin"),
            draft("b", "s", "21212", "clarithromycin"),
        ],
        Some(json!({"medications": bundle(vec![]), "allergies": bundle(vec![])})),
    );
    request["hook"] = json!("order-select");
    request["context"]["selections"] = json!(["MedicationRequest/b"]);
    let (status, body) = call(
        app(&world),
        "POST",
        "/cds-services/vigil-medication-safety-select",
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cards = body["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(
        cards[0]["suggestions"][0]["actions"][0]["resourceId"][0],
        "MedicationRequest/b"
    );
}

#[tokio::test]
async fn the_negative_set_gives_no_warning_or_critical_card_over_http() {
    let world = World::new();
    let knowledge = vigil_cds::medication::MedicationKnowledge::embedded().unwrap();
    for pair in &knowledge.negative_set {
        let prefetch = json!({"medications": bundle(vec![order("Patient/n", &pair.a, "a")]), "allergies": bundle(vec![])});
        let request = order_sign("n", vec![draft("d", "n", &pair.b, "b")], Some(prefetch));
        let (status, body) = call(
            app(&world),
            "POST",
            "/cds-services/vigil-medication-safety",
            Some(request),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        for card in body["cards"].as_array().unwrap() {
            assert_eq!(card["indicator"], "info", "{}: {card}", pair.note);
        }
    }
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let world = World::new();
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "/cds-services/nope",
            json!({}),
            StatusCode::NOT_FOUND,
            "no CDS service",
        ),
        (
            "/cds-services/vigil-medication-safety",
            json!([1]),
            StatusCode::BAD_REQUEST,
            "object",
        ),
        (
            "/cds-services/vigil-medication-safety",
            json!({"hook": "patient-view", "hookInstance": "x"}),
            StatusCode::BAD_REQUEST,
            "hook",
        ),
        (
            "/cds-services/vigil-medication-safety",
            json!({"hook": "order-sign"}),
            StatusCode::BAD_REQUEST,
            "hookInstance",
        ),
        (
            "/cds-services/vigil-medication-safety",
            json!({"hook": "order-sign", "hookInstance": "x", "context": {}}),
            StatusCode::BAD_REQUEST,
            "patientId",
        ),
        (
            "/cds-services/vigil-medication-safety",
            json!({"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "a b"}}),
            StatusCode::BAD_REQUEST,
            "patientId",
        ),
        (
            "/cds-services/vigil-medication-safety",
            json!({"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p"}}),
            StatusCode::BAD_REQUEST,
            "draftOrders",
        ),
        (
            "/cds-services/vigil-medication-safety/feedback",
            json!({"feedback": [{"card": "c"}]}),
            StatusCode::BAD_REQUEST,
            "outcome",
        ),
    ];
    for (path, body, expected, words) in cases {
        let (status, answer) = call(app(&world), "POST", path, Some(body.clone())).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap_or("").contains(words),
            "{answer}"
        );
    }
    let request = Request::builder()
        .method("POST")
        .uri("/cds-services/vigil-patient-view")
        .body(Body::from("{"))
        .unwrap();
    let response = app(&world).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn feedback_is_stored_as_basic_resources() {
    let world = World::new();
    let body = json!({"feedback": [
        {"card": "card-1", "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}], "outcomeTimestamp": "2026-12-07T10:00:00Z"},
        {"card": "card-2", "outcome": "overridden", "overrideReason": {"reason": {"code": "x"}}, "outcomeTimestamp": "2026-12-07T10:00:00Z"},
    ]});
    let (status, _) = call(
        app(&world),
        "POST",
        "/cds-services/vigil-medication-safety/feedback",
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stored = world.search("Basic", &[]);
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .any(|b| b["identifier"][0]["value"] == "vigil-medication-safety/card-2")
    );
}

#[tokio::test]
async fn patient_view_shows_open_alerts_the_latest_score_and_overdue_results() {
    let world = World::new();
    let mut news2 =
        vigil_cds::news2_feed::News2Consumer::new(world.service.clone(), Default::default())
            .unwrap();
    full_set(&world, "Patient/v", true, &minutes_ago(5));
    vigil_service::feed::ChangeConsumer::handle(&mut news2, &world.events(0)).unwrap();
    let overdue = world.create(json!({
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "code": {"text": "Serum potassium"}, "subject": {"reference": "Patient/v"},
        "occurrenceDateTime": minutes_ago(60 * 30),
    }));
    let answered = world.create(json!({
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "code": {"text": "Full blood count"}, "subject": {"reference": "Patient/v"},
        "occurrenceDateTime": minutes_ago(60 * 30),
    }));
    world.create(json!({
        "resourceType": "Observation", "status": "final", "code": {"text": "Haemoglobin"},
        "subject": {"reference": "Patient/v"}, "basedOn": [{"reference": answered}],
    }));
    let request = json!({"hook": "patient-view", "hookInstance": "h", "context": {"patientId": "v", "userId": "Practitioner/1"}});
    let (status, body) = call(
        app(&world),
        "POST",
        "/cds-services/vigil-patient-view",
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cards = body["cards"].as_array().unwrap();
    let summaries: Vec<&str> = cards
        .iter()
        .map(|c| c["summary"].as_str().unwrap())
        .collect();
    assert_eq!(cards.len(), 3, "{summaries:#?}");
    assert_eq!(cards[0]["indicator"], "critical");
    assert!(summaries[0].starts_with("Open stat alert (not acknowledged)"));
    assert!(summaries[1].starts_with("Latest NEWS2: 11"));
    assert!(summaries[2].contains("Serum potassium"), "{overdue}");
}
