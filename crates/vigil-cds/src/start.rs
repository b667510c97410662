//! Starting the CDS consumers on the change feed (what `vigil serve` and `vigil demo` call).

use std::sync::Arc;

use vigil_service::FhirService;
use vigil_service::feed::{ConsumerOptions, ConsumerRunner, FeedError};
use vigil_store::{ConsumerStart, Store};

use crate::CdsError;
use crate::news2_feed::{News2Consumer, News2Options};

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct CdsOptions {
    /// The NEWS2 consumer's settings.
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
}

/// Starts the CDS consumers over `service`. `store` is the service's own store, handed on to
/// [`ConsumerRunner`] only (consumers read and write through the door). A consumer registered
/// for the first time starts at the newest change (history is not scored on first start); after
/// that it resumes from its saved position.
pub fn start(
    service: &FhirService,
    store: Arc<dyn Store>,
    options: &CdsOptions,
) -> Result<Vec<ConsumerRunner>, StartError> {
    let feed = ConsumerOptions {
        start: ConsumerStart::Now,
        ..ConsumerOptions::default()
    };
    let news2 = News2Consumer::new(service.clone(), options.news2.clone())?;
    let runner = ConsumerRunner::start(store, news2, feed)?;
    Ok(vec![runner])
}
