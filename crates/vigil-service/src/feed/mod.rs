//! Consumers of the change feed, run on their own threads: the [`ChangeConsumer`] trait, the
//! [`ConsumerRunner`] that delivers the store's [`ChangeEvent`]s to one at least once in commit
//! order, a [`WakeLoop`] for "wake and run" job loops (the bulk export worker runs on it), and
//! [`FileSink`], a consumer that appends each event as an NDJSON line
//! (`vigil serve --change-log-dir`).
//!
//! # Delivery promise
//!
//! A consumer registers its name in the store ([`vigil_store::ChangeLog::register_consumer`]),
//! and its position lives there, not in the process. The runner reads the events after the
//! position in batches, hands each batch to [`ChangeConsumer::handle`], and saves the position
//! only after `handle` returned `Ok`: a crash between the two delivers the batch again (at
//! least once), so handlers must be idempotent (an event's `seq` is its identity). A failing
//! handler is retried with backoff and never skipped. Between batches the runner sleeps until
//! the writer signals a commit ([`vigil_store::ChangeLog::wait_for_change`]), with a safety
//! re-read every [`ConsumerOptions::safety_interval`] for writes another process made.
//!
//! Architecture invariant: consumers see the store only through the change log; they write back
//! through the service like any other caller.

mod file_sink;
mod runner;
mod wake;

pub use file_sink::{FileSink, valid_sink_name};
pub use runner::{ChangeConsumer, ConsumerOptions, ConsumerRunner};
pub use wake::{StopSignal, WakeLoop, Waker};

use vigil_store::{ChangeContext, ChangeEvent, StoreError};

use crate::RequestContext;

/// What can stop a consumer or loop from starting.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The store refused (registering the consumer, reading its position).
    #[error("change feed: {0}")]
    Store(#[from] StoreError),
    /// A file or thread could not be set up.
    #[error("change feed: {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A name is not usable (e.g. a sink name that is not a plain file name).
    #[error("change feed: {0}")]
    Invalid(String),
}

/// The store's [`ChangeContext`] for a request: its request id, and the principal as a short
/// agent string (`dev`, `system:NAME`, `user:ID`). Units of work written for a request pass this
/// to [`vigil_store::write_with_context`] so change events and audit records say who wrote them.
pub fn change_context(context: &RequestContext) -> ChangeContext {
    ChangeContext::new(context.request_id.clone(), context.agent())
}

/// The lower-case name of an event's write method (`create`, `update`, `delete`, `patch`).
pub fn method_name(event: &ChangeEvent) -> &'static str {
    match event.method {
        vigil_store::WriteMethod::Create => "create",
        vigil_store::WriteMethod::Update => "update",
        vigil_store::WriteMethod::Delete => "delete",
        vigil_store::WriteMethod::Patch => "patch",
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod context_tests {
    use super::*;
    use crate::Principal;

    #[test]
    fn request_contexts_map_to_agents() {
        let mut context = RequestContext::system("import", "http://localhost");
        assert_eq!(change_context(&context).agent, "system:import");
        assert_eq!(change_context(&context).request_id, context.request_id);
        context.principal = Principal::Developer;
        assert_eq!(change_context(&context).agent, "dev");
        context.principal = Principal::User { id: "alice".into() };
        assert_eq!(change_context(&context).agent, "user:alice");
    }
}
