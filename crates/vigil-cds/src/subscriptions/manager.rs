//! The Subscription manager: a change-feed consumer (`cds-subscriptions`) over Subscription
//! resources that checks them, sets their status and runs their deliveries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vigil_service::feed::{ChangeConsumer, ConsumerOptions, ConsumerRunner};
use vigil_service::{FhirService, RequestContext, ServiceError, ServiceErrorKind, now_micros};
use vigil_store::{ChangeEvent, ConsumerStart, Store, WriteMethod};

use super::delivery::{SubscriptionDelivery, set_subscription_status};
use super::websocket::WebsocketHub;
use super::{SubscriptionSpec, consumer_name};
use crate::door::search_all;
use crate::news2_feed::{CDS_AGENT, CDS_SYSTEM};

/// How deliveries read and retry.
pub fn delivery_options() -> ConsumerOptions {
    ConsumerOptions {
        start: ConsumerStart::Now,
        batch_size: 256,
        safety_interval: Duration::from_secs(5),
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(30),
        prune_interval: None,
    }
}

struct Running {
    fingerprint: String,
    runner: ConsumerRunner,
}

/// Watches Subscriptions and runs one delivery per live one.
pub struct SubscriptionManager {
    service: FhirService,
    store: Arc<dyn Store>,
    context: RequestContext,
    base_url: String,
    hub: WebsocketHub,
    running: HashMap<String, Running>,
    max_live: usize,
}

/// Subscriptions delivered at once (each delivery has its own thread): one more is set to
/// `error` saying so, and is taken up when it is next written after a slot frees.
pub const MAX_LIVE_SUBSCRIPTIONS: usize = 512;

impl SubscriptionManager {
    /// A manager that has already started the deliveries of every stored Subscription that
    /// is `requested`, `active` or `error` (each resuming from its saved position).
    pub fn new(
        service: FhirService,
        store: Arc<dyn Store>,
        base_url: &str,
        hub: WebsocketHub,
    ) -> Result<SubscriptionManager, ServiceError> {
        let mut manager = SubscriptionManager {
            context: RequestContext::system(CDS_SYSTEM, base_url),
            service,
            store,
            base_url: base_url.to_owned(),
            hub,
            running: HashMap::new(),
            max_live: MAX_LIVE_SUBSCRIPTIONS,
        };
        let stored = search_all(
            &manager.service,
            &manager.context,
            "Subscription",
            &[("status", "requested,active,error".to_owned())],
        )?;
        for subscription in stored {
            manager.apply(&subscription, None)?;
        }
        Ok(manager)
    }

    /// Brings one Subscription's delivery in line with its content; `seq` is the position of
    /// the change that wrote it (a new delivery starts after it).
    fn apply(&mut self, subscription: &Value, seq: Option<u64>) -> Result<(), ServiceError> {
        let Some(id) = subscription["id"].as_str().map(str::to_owned) else {
            return Ok(());
        };
        let status = subscription["status"].as_str().unwrap_or_default();
        if status == "off" {
            return self.retire(&id);
        }
        let spec = match SubscriptionSpec::parse(&self.service, &self.context, subscription) {
            Ok(spec) => spec,
            Err(reason) => {
                self.stop(&id);
                tracing::info!(subscription = %id, %reason, "Subscription refused");
                return set_subscription_status(
                    &self.service,
                    &self.context,
                    &id,
                    "error",
                    Some(&reason),
                );
            }
        };
        if spec.expired(now_micros()) {
            self.retire(&id)?;
            return set_subscription_status(&self.service, &self.context, &id, "off", None);
        }
        if status == "requested" {
            set_subscription_status(&self.service, &self.context, &id, "active", None)?;
        }
        let fingerprint = spec.fingerprint();
        if self
            .running
            .get(&id)
            .is_some_and(|r| r.fingerprint == fingerprint)
        {
            return Ok(());
        }
        self.stop(&id);
        if self.running.len() >= self.max_live {
            let reason = format!(
                "not delivered: the server delivers at most {} subscriptions at once",
                self.max_live
            );
            tracing::warn!(subscription = %id, limit = self.max_live, "Subscription not started: limit reached");
            return set_subscription_status(
                &self.service,
                &self.context,
                &id,
                "error",
                Some(&reason),
            );
        }
        self.start(spec, fingerprint, seq, status == "error")
    }

    /// The manager with another limit of live deliveries (default [`MAX_LIVE_SUBSCRIPTIONS`]);
    /// deliveries already running are kept.
    pub fn with_max_live(mut self, max_live: usize) -> SubscriptionManager {
        self.max_live = max_live;
        self
    }

    fn start(
        &mut self,
        spec: SubscriptionSpec,
        fingerprint: String,
        seq: Option<u64>,
        in_error: bool,
    ) -> Result<(), ServiceError> {
        let id = spec.id.clone();
        let name = consumer_name(&id);
        if self.store.consumer_position(&name)?.is_none() {
            self.store.register_consumer(&name, ConsumerStart::Now)?;
            if let Some(seq) = seq {
                // Changes committed after the Subscription itself are notified, even those
                // committed before this manager saw it.
                self.store.set_consumer_position(&name, seq)?;
            }
        }
        let delivery = SubscriptionDelivery::new(
            self.service.clone(),
            &self.base_url,
            spec,
            self.hub.clone(),
            in_error,
        )
        .map_err(|e| ServiceError::internal(format!("cannot start a delivery runtime: {e}")))?;
        let mut options = delivery_options();
        if delivery.is_websocket() {
            // A websocket client may bind at any moment: retry often, so an owed ping follows
            // a bind within about two seconds.
            options.max_backoff = Duration::from_secs(2);
        }
        let runner = ConsumerRunner::start(self.store.clone(), delivery, options)
            .map_err(|e| ServiceError::internal(e.to_string()))?;
        tracing::info!(subscription = %id, "Subscription delivery started");
        self.running.insert(
            id,
            Running {
                fingerprint,
                runner,
            },
        );
        Ok(())
    }

    fn stop(&mut self, id: &str) {
        if let Some(running) = self.running.remove(id) {
            running.runner.stop();
        }
    }

    /// Stops the delivery and forgets its position (an `off` or deleted Subscription must not
    /// hold back the pruning of the change feed).
    fn retire(&mut self, id: &str) -> Result<(), ServiceError> {
        self.stop(id);
        self.store.unregister_consumer(&consumer_name(id))?;
        Ok(())
    }

    /// Ids of the Subscriptions being delivered (for tests and logs).
    pub fn running(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.running.keys().cloned().collect();
        ids.sort();
        ids
    }
}

impl ChangeConsumer for SubscriptionManager {
    type Error = ServiceError;

    fn name(&self) -> &str {
        "cds-subscriptions"
    }

    fn handle(&mut self, events: &[ChangeEvent]) -> Result<(), ServiceError> {
        for event in events {
            if event.resource_type != "Subscription" || event.agent == CDS_AGENT {
                continue;
            }
            if event.method == WriteMethod::Delete {
                self.retire(&event.id)?;
                continue;
            }
            let current = match self.service.read(&self.context, "Subscription", &event.id) {
                Ok(found) => found.version.content,
                Err(error)
                    if matches!(
                        error.kind(),
                        ServiceErrorKind::NotFound | ServiceErrorKind::Gone
                    ) =>
                {
                    self.retire(&event.id)?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let Ok(subscription) = serde_json::from_str::<Value>(&current) else {
                continue;
            };
            self.apply(&subscription, Some(event.seq))?;
        }
        Ok(())
    }
}
