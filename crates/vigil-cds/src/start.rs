//! Starting CDS for `vigil serve` and `vigil demo`: the change-feed consumers and the HTTP
//! routes that share state with them.

use std::sync::Arc;

use vigil_service::FhirService;
use vigil_service::feed::{ConsumerOptions, ConsumerRunner, FeedError};
use vigil_store::{ConsumerStart, Store};

use crate::CdsError;
use crate::news2_feed::{News2Consumer, News2Options};
use crate::subscriptions::manager::SubscriptionManager;
use crate::subscriptions::websocket::WebsocketHub;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct CdsOptions {
    /// The NEWS2 consumer's settings (its `base_url` is used by every consumer).
    pub news2: News2Options,
}

/// Why CDS could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A consumer could not be registered or its thread started.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The embedded knowledge is unusable.
    #[error(transparent)]
    Knowledge(#[from] CdsError),
    /// Reading the stored Subscriptions (or rules) failed.
    #[error("starting CDS: {0}")]
    Service(#[from] vigil_service::ServiceError),
}

/// Running CDS: stop the runners (after the HTTP server) to stop it.
pub struct Cds {
    /// The change-feed consumers (NEWS2, rules, Subscriptions; each Subscription's delivery runs
    /// under the Subscription manager and stops with it).
    pub runners: Vec<ConsumerRunner>,
    /// The routes to merge beside the FHIR API.
    pub router: axum::Router,
}

/// Starts the CDS consumers over `service`. `store` is the service's own store, handed on to
/// [`ConsumerRunner`] and the Subscription manager's consumer registry only (consumers read
/// and write resources through the door). A consumer registered for the first time starts at
/// the newest change (history is not scored on first start); after that it resumes from its
/// saved position.
pub fn start(
    service: &FhirService,
    store: Arc<dyn Store>,
    options: &CdsOptions,
) -> Result<Cds, StartError> {
    let feed = ConsumerOptions {
        start: ConsumerStart::Now,
        ..ConsumerOptions::default()
    };
    let base_url = options.news2.base_url.clone();
    let news2 = News2Consumer::new(service.clone(), options.news2.clone())?;
    let mut runners = vec![ConsumerRunner::start(store.clone(), news2, feed.clone())?];
    let rules = crate::rules::RulesConsumer::new(service.clone(), &base_url)?;
    runners.push(ConsumerRunner::start(store.clone(), rules, feed.clone())?);
    let medication =
        crate::medication::feed::MedicationSafetyConsumer::new(service.clone(), &base_url)?;
    runners.push(ConsumerRunner::start(
        store.clone(),
        medication,
        feed.clone(),
    )?);
    let hub = WebsocketHub::new();
    let manager = SubscriptionManager::new(service.clone(), store.clone(), &base_url, hub.clone())?;
    runners.push(ConsumerRunner::start(store, manager, feed)?);
    let router = crate::http::router(service.clone(), hub, &base_url);
    Ok(Cds { runners, router })
}
