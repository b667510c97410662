//! Threshold rules beyond NEWS2, as data managed through the API: `PlanDefinition` resources
//! of type `eca-rule` whose actions carry FHIRPath conditions, evaluated with vigil-fhirpath on
//! every committed resource of the trigger type; a true condition raises an alert Task.
//!
//! A rule is a PlanDefinition with
//!
//! - `status` `active` and `type.coding` `http://terminology.hl7.org/CodeSystem/plan-definition-type|eca-rule`;
//! - one or more `action`s, each with
//!   - `condition` (kind `applicability`, `expression.language` `text/fhirpath`,
//!     `expression.expression` evaluated with the changed resource as its context); every
//!     applicability condition must give exactly `true`;
//!   - `trigger` (optional): `data[].type` names the resource type the action watches
//!     (default `Observation`);
//!   - `priority` the Task priority (`routine`, `urgent`, `asap`, `stat`; default `routine`),
//!     `title` and `description` the Task's description.
//!
//! Example, systolic 180 mmHg or above is urgent:
//!
//! ```json
//! {"resourceType": "PlanDefinition", "status": "active", "title": "Severe hypertension",
//!  "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/plan-definition-type", "code": "eca-rule"}]},
//!  "action": [{"title": "Systolic blood pressure 180 mmHg or above", "priority": "urgent",
//!    "trigger": [{"type": "data-changed", "data": [{"type": "Observation"}]}],
//!    "condition": [{"kind": "applicability", "expression": {"language": "text/fhirpath",
//!      "expression": "(code.coding.where(system='http://loinc.org' and code='8480-6').exists() and value.ofType(Quantity).value >= 180) or component.where(code.coding.where(system='http://loinc.org' and code='8480-6').exists()).value.ofType(Quantity).value.where($this >= 180).exists()"}}]}]}
//! ```
//!
//! The alert is a Task of kind `rule-{PlanDefinition id}-{action index}` ([`crate::alerts`]:
//! no duplicate while one is open at the same or a higher priority), `focus` the resource that
//! met the condition, `for` its patient (`subject`, or `patient`), `instantiatesCanonical` the
//! PlanDefinition's `url` when it has one. Rules are loaded when the consumer starts and again
//! whenever a PlanDefinition changes; an action whose expression does not compile is skipped
//! and logged (with the PlanDefinition id and the parser's message).

use serde_json::{Value, json};
use vigil_fhirpath::{Context, Expression};
use vigil_service::feed::ChangeConsumer;
use vigil_service::{FhirService, RequestContext, ServiceError, format_instant, now_micros};
use vigil_store::{ChangeEvent, WriteMethod};

use crate::alerts::{self, Alert, AlertOutcome, priority_rank};
use crate::door::{digest, is_transient, patient_reference, search_all};
use crate::news2_feed::{CDS_AGENT, CDS_SYSTEM};

/// The PlanDefinition type that marks a rule.
pub const ECA_RULE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/plan-definition-type";

/// One action of a rule, compiled.
pub struct RuleAction {
    /// `PlanDefinition/{id}`'s id.
    pub rule_id: String,
    /// The PlanDefinition's version (`meta.versionId`), part of the alert's identity.
    pub rule_version: String,
    /// The PlanDefinition's `url`.
    pub url: Option<String>,
    /// Index of the action.
    pub index: usize,
    /// Watched resource type.
    pub resource_type: String,
    /// The applicability conditions.
    pub conditions: Vec<Expression>,
    /// Task priority.
    pub priority: String,
    /// Task description.
    pub description: String,
}

/// Compiles the actions of one PlanDefinition (none when it is not an active ECA rule). The
/// errors name the actions that were skipped and why.
pub fn compile_rule(plan: &Value) -> (Vec<RuleAction>, Vec<String>) {
    let mut actions = Vec::new();
    let mut problems = Vec::new();
    let is_rule = plan["status"] == "active"
        && plan["type"]["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["system"] == ECA_RULE_SYSTEM && c["code"] == "eca-rule");
    let Some(rule_id) = plan["id"].as_str().filter(|_| is_rule) else {
        return (actions, problems);
    };
    for (index, action) in plan["action"].as_array().into_iter().flatten().enumerate() {
        match compile_action(plan, rule_id, index, action) {
            Ok(compiled) => actions.push(compiled),
            Err(problem) => problems.push(format!(
                "PlanDefinition/{rule_id} action {index}: {problem}"
            )),
        }
    }
    (actions, problems)
}

fn compile_action(
    plan: &Value,
    rule_id: &str,
    index: usize,
    action: &Value,
) -> Result<RuleAction, String> {
    let mut conditions = Vec::new();
    for condition in action["condition"].as_array().into_iter().flatten() {
        if condition["kind"] != "applicability" {
            continue;
        }
        let expression = &condition["expression"];
        if expression["language"] != "text/fhirpath" {
            return Err(format!(
                "condition language {} is not text/fhirpath",
                expression["language"]
            ));
        }
        let text = expression["expression"]
            .as_str()
            .ok_or("a condition has no expression")?;
        conditions.push(Expression::compile(text).map_err(|e| format!("FHIRPath: {e}"))?);
    }
    if conditions.is_empty() {
        return Err("no applicability condition".to_owned());
    }
    let resource_type = action["trigger"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["data"].as_array().into_iter().flatten())
        .find_map(|d| d["type"].as_str())
        .unwrap_or("Observation")
        .to_owned();
    let priority = action["priority"].as_str().unwrap_or("routine").to_owned();
    if !matches!(priority.as_str(), "routine" | "urgent" | "asap" | "stat") {
        return Err(format!("priority {priority:?} is not a request priority"));
    }
    let title = action["title"]
        .as_str()
        .or(plan["title"].as_str())
        .unwrap_or("CDS rule");
    let description = match action["description"].as_str() {
        Some(more) => format!("{title}. {more}"),
        None => title.to_owned(),
    };
    Ok(RuleAction {
        rule_id: rule_id.to_owned(),
        rule_version: plan
            .pointer("/meta/versionId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        url: plan["url"].as_str().map(str::to_owned),
        index,
        resource_type,
        conditions,
        priority,
        description,
    })
}

impl RuleAction {
    /// Whether every condition gives exactly `true` for `resource`. An evaluation error is
    /// not a match.
    pub fn applies(&self, resource: &Value) -> bool {
        if resource["resourceType"].as_str() != Some(self.resource_type.as_str()) {
            return false;
        }
        let context = Context::new(resource);
        self.conditions.iter().all(|condition| {
            matches!(condition.evaluate_json(&context), Ok(Value::Array(items)) if items == [json!(true)])
        })
    }

    /// The alert for `resource` (`Type/id` `reference` at `version`) about `patient`.
    pub fn alert(&self, reference: &str, version: &str, patient: &str) -> Alert {
        let mut task = json!({
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "priority": self.priority,
            "code": { "text": self.description },
            "description": self.description,
            "focus": { "reference": reference },
            "for": { "reference": patient },
            "authoredOn": format_instant(now_micros()),
        });
        if let Some(url) = &self.url {
            task["instantiatesCanonical"] = json!(url);
        }
        Alert {
            task,
            kind: format!("rule-{}-{}", self.rule_id, self.index),
            kind_display: self.description.clone(),
            patient: patient.to_owned(),
            key: digest(&[
                "rule",
                &self.rule_id,
                &self.rule_version,
                &self.index.to_string(),
                reference,
                version,
            ]),
        }
    }
}

/// The rules consumer (name `cds-rules`).
pub struct RulesConsumer {
    service: FhirService,
    context: RequestContext,
    actions: Vec<RuleAction>,
}

impl RulesConsumer {
    /// The consumer with the rules stored now.
    pub fn new(service: FhirService, base_url: &str) -> Result<RulesConsumer, ServiceError> {
        let mut consumer = RulesConsumer {
            service,
            context: RequestContext::internal(CDS_SYSTEM, base_url),
            actions: Vec::new(),
        };
        consumer.reload()?;
        Ok(consumer)
    }

    /// Reads every active ECA-rule PlanDefinition again.
    pub fn reload(&mut self) -> Result<(), ServiceError> {
        let plans = search_all(
            &self.service,
            &self.context,
            "PlanDefinition",
            &[
                ("status", "active".to_owned()),
                ("type", format!("{ECA_RULE_SYSTEM}|eca-rule")),
            ],
        )?;
        self.actions.clear();
        for plan in &plans {
            let (actions, problems) = compile_rule(plan);
            for problem in problems {
                tracing::warn!(%problem, "CDS rule action skipped");
            }
            self.actions.extend(actions);
        }
        tracing::debug!(actions = self.actions.len(), "CDS rules loaded");
        Ok(())
    }

    /// The compiled actions.
    pub fn actions(&self) -> &[RuleAction] {
        &self.actions
    }

    fn evaluate(&self, event: &ChangeEvent) -> Result<Vec<AlertOutcome>, ServiceError> {
        if !self
            .actions
            .iter()
            .any(|a| a.resource_type == event.resource_type)
        {
            return Ok(Vec::new());
        }
        let version = match self.service.vread(
            &self.context,
            &event.resource_type,
            &event.id,
            &event.version_id.to_string(),
        ) {
            Ok(found) => found.version,
            Err(error) if is_transient(&error) => return Err(error),
            Err(_) => return Ok(Vec::new()),
        };
        let Ok(resource) = serde_json::from_str::<Value>(&version.content) else {
            return Ok(Vec::new());
        };
        let Some(patient) = patient_reference(resource.get("subject"))
            .or_else(|| patient_reference(resource.get("patient")))
        else {
            return Ok(Vec::new());
        };
        let reference = format!("{}/{}", event.resource_type, event.id);
        let mut outcomes = Vec::new();
        // The most urgent action first, so a lesser one of the same rule finds it open.
        let mut firing: Vec<&RuleAction> = self
            .actions
            .iter()
            .filter(|a| a.applies(&resource))
            .collect();
        firing.sort_by_key(|a| std::cmp::Reverse(priority_rank(Some(&a.priority))));
        for action in firing {
            let alert = action.alert(&reference, &event.version_id.to_string(), &patient);
            let open = alerts::open_alerts(&self.service, &self.context, &patient, &alert.kind)?;
            let prepared = alerts::prepare(&self.service, alerts::plan(&alert, &open))?;
            outcomes.push(
                self.service
                    .unit(&self.context, |unit| alerts::write(unit, prepared))?,
            );
        }
        Ok(outcomes)
    }
}

impl ChangeConsumer for RulesConsumer {
    type Error = ServiceError;

    fn name(&self) -> &str {
        "cds-rules"
    }

    fn handle(&mut self, events: &[ChangeEvent]) -> Result<(), ServiceError> {
        for event in events {
            if event.resource_type == "PlanDefinition" {
                self.reload()?;
                continue;
            }
            if event.agent == CDS_AGENT || event.method == WriteMethod::Delete {
                continue;
            }
            match self.evaluate(event) {
                Ok(outcomes) if !outcomes.is_empty() => {
                    tracing::debug!(?outcomes, "CDS rules fired")
                }
                Ok(_) => {}
                Err(error) if is_transient(&error) => return Err(error),
                Err(error) => {
                    tracing::warn!(kind = ?error.kind(), %error, "CDS rules not applied to a change")
                }
            }
        }
        Ok(())
    }
}
