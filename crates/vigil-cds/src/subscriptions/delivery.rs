//! One subscription's deliveries: a change-feed consumer with its own position (see the
//! module documentation of [`crate::subscriptions`]).

use serde_json::{Value, json};
use vigil_service::feed::ChangeConsumer;
use vigil_service::{FhirService, Preconditions, RequestContext, ServiceError, now_micros};
use vigil_store::{ChangeEvent, WriteMethod};

use super::rest_hook::{Notification, RestHookClient};
use super::websocket::WebsocketHub;
use super::{Channel, ERROR_AFTER_FAILURES, SubscriptionSpec, consumer_name};
use crate::door::{is_transient, strip_version_meta};
use crate::news2_feed::CDS_SYSTEM;

/// Delivers one subscription's notifications.
pub struct SubscriptionDelivery {
    service: FhirService,
    context: RequestContext,
    spec: SubscriptionSpec,
    name: String,
    transport: Transport,
    /// Events up to here were delivered by this process (a retried batch skips them).
    delivered: u64,
    /// Failed attempts in a row.
    failures: u32,
    /// Whether this process set the status to `error` (so a success sets it back).
    in_error: bool,
    /// Whether the status was set to `off` for `end`.
    ended: bool,
}

enum Transport {
    RestHook(RestHookClient),
    Websocket(WebsocketHub),
}

impl SubscriptionDelivery {
    /// A delivery for `spec`; websocket notifications go through `hub`; `in_error` when the
    /// Subscription's status is `error` now (the next success sets it `active`).
    pub fn new(
        service: FhirService,
        base_url: &str,
        spec: SubscriptionSpec,
        hub: WebsocketHub,
        in_error: bool,
    ) -> std::io::Result<SubscriptionDelivery> {
        let transport = match spec.channel {
            Channel::RestHook { .. } => Transport::RestHook(RestHookClient::new()?),
            Channel::Websocket => Transport::Websocket(hub),
        };
        Ok(SubscriptionDelivery {
            service,
            context: RequestContext::system(CDS_SYSTEM, base_url),
            name: consumer_name(&spec.id),
            spec,
            transport,
            delivered: 0,
            failures: 0,
            in_error,
            ended: false,
        })
    }

    /// Whether notifications go to websocket clients.
    pub fn is_websocket(&self) -> bool {
        matches!(self.transport, Transport::Websocket(_))
    }

    /// The matching version an event wrote, if it matches.
    fn matching(&self, event: &ChangeEvent) -> Result<Option<String>, ServiceError> {
        if event.method == WriteMethod::Delete
            || event.resource_type != self.spec.compiled.resource_type()
        {
            return Ok(None);
        }
        let version = match self.service.vread(
            &self.context,
            &event.resource_type,
            &event.id,
            &event.version_id.to_string(),
        ) {
            Ok(found) => found.version,
            Err(error) if is_transient(&error) => return Err(error),
            Err(_) => return Ok(None),
        };
        let Ok(resource) = serde_json::from_str::<Value>(&version.content) else {
            return Ok(None);
        };
        match self.service.matches(&self.spec.compiled, &resource) {
            Ok(true) => Ok(Some(version.content.to_string())),
            Ok(false) => Ok(None),
            Err(error) if is_transient(&error) => Err(error),
            Err(error) => {
                tracing::warn!(subscription = %self.spec.id, %error, "criteria could not be evaluated; not notified");
                Ok(None)
            }
        }
    }

    fn send(&self, event: &ChangeEvent, content: &str) -> Result<(), String> {
        match (&self.transport, &self.spec.channel) {
            (
                Transport::RestHook(client),
                Channel::RestHook {
                    endpoint,
                    payload,
                    headers,
                },
            ) => client.send(&Notification {
                endpoint,
                payload: payload.as_deref(),
                headers,
                resource_type: &event.resource_type,
                id: &event.id,
                content,
            }),
            (Transport::Websocket(hub), _) => match hub.notify(&self.spec.id) {
                0 => Err("no websocket client is bound".to_owned()),
                _ => Ok(()),
            },
            _ => Err("channel and transport disagree".to_owned()),
        }
    }

    fn set_status(&self, status: &str, error: Option<&str>) {
        if let Err(failure) =
            set_subscription_status(&self.service, &self.context, &self.spec.id, status, error)
        {
            tracing::warn!(subscription = %self.spec.id, %failure, status, "cannot record the Subscription status");
        }
    }
}

/// Sets a Subscription's `status` and `error` through the door (nothing when they already
/// hold, or when the Subscription is gone).
pub fn set_subscription_status(
    service: &FhirService,
    context: &RequestContext,
    id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<(), ServiceError> {
    let Ok(current) = service.read(context, "Subscription", id) else {
        return Ok(());
    };
    let version = current.version.meta.version_id;
    let mut subscription: Value = serde_json::from_str(&current.version.content)
        .map_err(|e| ServiceError::internal(format!("stored Subscription: {e}")))?;
    let same_error = subscription.get("error").and_then(Value::as_str) == error;
    if subscription["status"] == status && same_error {
        return Ok(());
    }
    subscription["status"] = json!(status);
    if let Some(object) = subscription.as_object_mut() {
        match error {
            Some(error) => object.insert("error".into(), json!(error)),
            None => object.remove("error"),
        };
    }
    strip_version_meta(&mut subscription);
    service.update(
        context,
        "Subscription",
        id,
        subscription,
        &Preconditions {
            if_match: Some(version),
        },
    )?;
    Ok(())
}

impl ChangeConsumer for SubscriptionDelivery {
    type Error = String;

    fn name(&self) -> &str {
        &self.name
    }

    fn handle(&mut self, events: &[ChangeEvent]) -> Result<(), String> {
        for event in events {
            if event.seq <= self.delivered {
                continue;
            }
            if self.spec.expired(now_micros()) {
                if !self.ended {
                    self.set_status("off", None);
                    self.ended = true;
                }
                self.delivered = event.seq;
                continue;
            }
            let Some(content) = self.matching(event).map_err(|e| e.to_string())? else {
                self.delivered = event.seq;
                continue;
            };
            let age = now_micros().saturating_sub(event.recorded_micros);
            if age > super::NOTIFICATION_MAX_AGE_MICROS {
                // Expired undelivered: dropped, so a dead endpoint cannot hold the change feed
                // (whose pruning waits for every consumer) for ever.
                tracing::warn!(subscription = %self.spec.id, seq = event.seq, "notification expired undelivered; dropped");
                let text = format!(
                    "notifications older than {} hours were dropped undelivered (the last for {}/{})",
                    super::NOTIFICATION_MAX_AGE_MICROS / 3_600_000_000,
                    event.resource_type,
                    event.id
                );
                self.set_status("error", Some(&text));
                self.in_error = true;
                self.delivered = event.seq;
                continue;
            }
            match self.send(event, &content) {
                Ok(()) => {
                    self.delivered = event.seq;
                    self.failures = 0;
                    if self.in_error {
                        self.set_status("active", None);
                        self.in_error = false;
                    }
                }
                Err(reason) => {
                    self.failures = self.failures.saturating_add(1);
                    if self.failures >= ERROR_AFTER_FAILURES && !self.in_error {
                        let text = format!(
                            "{} failed deliveries in a row; retrying with back-off: {reason}",
                            self.failures
                        );
                        self.set_status("error", Some(&text));
                        self.in_error = true;
                    }
                    return Err(format!("notification not delivered: {reason}"));
                }
            }
        }
        Ok(())
    }
}
