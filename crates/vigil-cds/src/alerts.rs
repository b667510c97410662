//! Alert Tasks through the door: one open alert per patient and kind, raised, never duplicated.
//!
//! An alert is a `Task` (status `requested`, intent `order`) whose `code` carries a coding in
//! [`ALERT_SYSTEM`] naming its kind (`news2`, or `rule-{PlanDefinition id}-{action}` for a
//! threshold rule), `for` the patient and `focus` what raised it. The rules:
//!
//! - An alert is *open* while its status is `requested`, `received`, `accepted`, `ready`,
//!   `in-progress` or `on-hold`. A nurse acknowledges it by setting `accepted` with an `owner`
//!   and resolves it with `completed` (or `cancelled`): ordinary FHIR updates.
//! - While an alert of the same kind is open for the patient at the same or a higher priority
//!   (`routine` < `urgent` < `asap` < `stat`), nothing new is written.
//! - When the new priority is higher, the open Task gets a new version: the priority raised,
//!   `focus` the newer result, the description replaced; its status (acknowledged or not) is
//!   kept.
//! - Otherwise a new Task is created, with an `identifier` ([`IDENTIFIER_SYSTEM`]) derived from
//!   what raised it, by conditional create: a redelivered event finds it and writes nothing.
//!
//! The open alert is looked up before the unit of work, and its update carries `If-Match` of
//! the version seen: a nurse's concurrent acknowledgement fails the unit (precondition), and
//! the change-feed batch is retried with the new state.

use serde_json::{Value, json};
use vigil_service::{
    FhirService, Preconditions, Prepared, RequestContext, ServiceError, Unit, WriteOutcome,
};

use crate::door::search_all;

/// Vigil's code system for the kinds of alert Task.
pub const ALERT_SYSTEM: &str = "https://vigil.example.invalid/fhir/CodeSystem/cds-alert";
/// Vigil's identifier system for what CDS writes (score Observations, alert Tasks,
/// DetectedIssues): the value is a digest of the inputs.
pub const IDENTIFIER_SYSTEM: &str = "https://vigil.example.invalid/fhir/identifier/cds";

/// Task statuses during which an alert is open.
pub const OPEN_STATUSES: [&str; 6] = [
    "requested",
    "received",
    "accepted",
    "ready",
    "in-progress",
    "on-hold",
];

/// The rank of a Task priority (`routine` 0 ... `stat` 3); unknown or absent is routine.
pub fn priority_rank(priority: Option<&str>) -> u8 {
    match priority {
        Some("stat") => 3,
        Some("asap") => 2,
        Some("urgent") => 1,
        _ => 0,
    }
}

/// An alert to raise.
#[derive(Debug, Clone)]
pub struct Alert {
    /// The Task as the pure layer built it (status, intent, priority, description, focus,
    /// for, authoredOn); [`plan`] adds the kind's coding and the identifier.
    pub task: Value,
    /// The kind's code in [`ALERT_SYSTEM`].
    pub kind: String,
    /// The kind's display.
    pub kind_display: String,
    /// `Patient/{id}`.
    pub patient: String,
    /// A digest of what raised it (the identifier value, and the Task id's suffix).
    pub key: String,
}

impl Alert {
    fn priority(&self) -> Option<&str> {
        self.task["priority"].as_str()
    }
}

/// What [`plan`] decided.
#[derive(Debug, Clone)]
pub enum AlertPlan {
    /// Create this Task (id and identifier set).
    Create(Value),
    /// Write this new version of an open Task, seen at `version`.
    Raise {
        /// The Task's new content.
        task: Value,
        /// The version it replaces (`If-Match`).
        version: u64,
    },
    /// An open alert at the same or a higher priority exists: `Task/{id}`.
    Keep(String),
}

/// The open alert Tasks of a kind for a patient, through the door.
pub fn open_alerts(
    service: &FhirService,
    context: &RequestContext,
    patient: &str,
    kind: &str,
) -> Result<Vec<Value>, ServiceError> {
    search_all(
        service,
        context,
        "Task",
        &[
            ("subject", patient.to_owned()),
            ("code", format!("{ALERT_SYSTEM}|{kind}")),
            ("status", OPEN_STATUSES.join(",")),
        ],
    )
}

/// Decides between create, raise and keep (see the module documentation), given the open
/// alerts of the same kind for the patient.
pub fn plan(alert: &Alert, open: &[Value]) -> AlertPlan {
    let highest = open.iter().max_by(|a, b| {
        let rank = |t: &Value| priority_rank(t["priority"].as_str());
        rank(a).cmp(&rank(b)).then_with(|| {
            let a = a.pointer("/meta/lastUpdated").and_then(Value::as_str);
            let b = b.pointer("/meta/lastUpdated").and_then(Value::as_str);
            a.cmp(&b)
        })
    });
    let wanted = priority_rank(alert.priority());
    if let Some(open) = highest {
        let id = open["id"].as_str().unwrap_or_default().to_owned();
        if priority_rank(open["priority"].as_str()) >= wanted {
            return AlertPlan::Keep(format!("Task/{id}"));
        }
        let version = open
            .pointer("/meta/versionId")
            .and_then(Value::as_str)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut task = open.clone();
        for name in ["priority", "focus", "description"] {
            task[name] = alert.task[name].clone();
        }
        crate::door::strip_version_meta(&mut task);
        return AlertPlan::Raise { task, version };
    }
    let mut task = alert.task.clone();
    task["id"] = json!(task_id(alert));
    task["identifier"] = json!([{ "system": IDENTIFIER_SYSTEM, "value": alert.key }]);
    let text = task
        .pointer("/code/text")
        .cloned()
        .unwrap_or_else(|| json!(alert.kind_display));
    task["code"] = json!({
        "coding": [{ "system": ALERT_SYSTEM, "code": alert.kind, "display": alert.kind_display }],
        "text": text,
    });
    AlertPlan::Create(task)
}

fn task_id(alert: &Alert) -> String {
    format!("cds-alert-{}", &alert.key[..alert.key.len().min(40)])
}

/// An [`AlertPlan`] with its resource validated and its index rows extracted (outside the
/// unit of work, as the door asks).
#[derive(Clone)]
pub enum PreparedAlert {
    /// Create, by conditional create on the identifier.
    Create(Prepared, String),
    /// Update with `If-Match`.
    Raise(Prepared, u64),
    /// Nothing to write.
    Keep(String),
}

/// Validates and prepares a plan's resource.
pub fn prepare(service: &FhirService, plan: AlertPlan) -> Result<PreparedAlert, ServiceError> {
    match plan {
        AlertPlan::Keep(reference) => Ok(PreparedAlert::Keep(reference)),
        AlertPlan::Create(task) => {
            let id = task["id"].as_str().unwrap_or_default().to_owned();
            let key = task
                .pointer("/identifier/0/value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let (object, _) = service.validate_body("Task", task)?;
            let prepared = service.prepare("Task", &id, object)?;
            Ok(PreparedAlert::Create(
                prepared,
                format!("identifier={IDENTIFIER_SYSTEM}|{key}"),
            ))
        }
        AlertPlan::Raise { task, version } => {
            let id = task["id"].as_str().unwrap_or_default().to_owned();
            let (object, _) = service.validate_body("Task", task)?;
            let prepared = service.prepare("Task", &id, object)?;
            Ok(PreparedAlert::Raise(prepared, version))
        }
    }
}

/// What writing an alert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertOutcome {
    /// A new Task: `Task/{id}`.
    Created(String),
    /// The open Task got a higher priority: `Task/{id}`.
    Raised(String),
    /// Nothing written (an open alert at the same or a higher level, or this very alert
    /// already written by an earlier delivery).
    Kept(String),
}

/// Writes a prepared alert inside `unit`.
pub fn write(unit: &mut Unit<'_>, alert: PreparedAlert) -> Result<AlertOutcome, ServiceError> {
    match alert {
        PreparedAlert::Keep(reference) => Ok(AlertOutcome::Kept(reference)),
        PreparedAlert::Create(prepared, criteria) => {
            let outcome: WriteOutcome = unit.create(prepared, Some(&criteria))?;
            let reference = format!("Task/{}", outcome.version.id);
            Ok(if outcome.unchanged {
                AlertOutcome::Kept(reference)
            } else {
                AlertOutcome::Created(reference)
            })
        }
        PreparedAlert::Raise(prepared, version) => {
            let preconditions = Preconditions {
                if_match: Some(version),
            };
            let outcome = unit.update(prepared, &preconditions)?;
            Ok(AlertOutcome::Raised(format!("Task/{}", outcome.version.id)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(priority: &str) -> Alert {
        Alert {
            task: json!({
                "resourceType": "Task", "status": "requested", "intent": "order",
                "priority": priority, "description": "new", "code": {"text": "NEWS2"},
                "focus": {"reference": "Observation/s2"}, "for": {"reference": "Patient/p"},
            }),
            kind: "news2".into(),
            kind_display: "NEWS2 alert".into(),
            patient: "Patient/p".into(),
            key: "0123456789abcdef0123456789abcdef".into(),
        }
    }

    fn open(id: &str, priority: &str, version: &str) -> Value {
        json!({"resourceType": "Task", "id": id, "status": "accepted", "priority": priority,
               "owner": {"reference": "Practitioner/n"}, "description": "old",
               "focus": {"reference": "Observation/s1"},
               "meta": {"versionId": version, "lastUpdated": "2026-01-01T00:00:00Z"}})
    }

    #[test]
    fn priorities_rank_routine_to_stat() {
        let ranks: Vec<u8> = [
            None,
            Some("routine"),
            Some("urgent"),
            Some("asap"),
            Some("stat"),
        ]
        .into_iter()
        .map(priority_rank)
        .collect();
        assert_eq!(ranks, vec![0, 0, 1, 2, 3]);
    }

    #[test]
    fn no_open_alert_creates_with_identifier_and_kind() {
        let AlertPlan::Create(task) = plan(&alert("urgent"), &[]) else {
            panic!("expected a create");
        };
        assert_eq!(task["identifier"][0]["system"], IDENTIFIER_SYSTEM);
        assert_eq!(task["code"]["coding"][0]["code"], "news2");
        assert_eq!(task["code"]["text"], "NEWS2");
        assert!(
            task["id"]
                .as_str()
                .unwrap_or_default()
                .starts_with("cds-alert-")
        );
    }

    #[test]
    fn same_or_higher_open_alert_is_kept() {
        for (open_priority, new) in [("urgent", "urgent"), ("stat", "urgent"), ("stat", "stat")] {
            let plan = plan(&alert(new), &[open("t1", open_priority, "2")]);
            assert!(
                matches!(plan, AlertPlan::Keep(ref r) if r == "Task/t1"),
                "{open_priority} {new}"
            );
        }
    }

    #[test]
    fn a_rise_updates_the_open_task_keeping_its_status_and_owner() {
        let plan = plan(&alert("stat"), &[open("t1", "urgent", "2")]);
        let AlertPlan::Raise { task, version } = plan else {
            panic!("expected a raise");
        };
        assert_eq!(version, 2);
        assert_eq!(task["id"], "t1");
        assert_eq!(task["priority"], "stat");
        assert_eq!(task["status"], "accepted");
        assert_eq!(task["owner"]["reference"], "Practitioner/n");
        assert_eq!(task["focus"]["reference"], "Observation/s2");
        assert_eq!(task["description"], "new");
        assert!(task.get("meta").is_none(), "an emptied meta is dropped");
    }

    #[test]
    fn the_highest_open_alert_decides() {
        let plan = plan(
            &alert("urgent"),
            &[open("low", "routine", "1"), open("high", "stat", "1")],
        );
        assert!(matches!(plan, AlertPlan::Keep(ref r) if r == "Task/high"));
    }
}
