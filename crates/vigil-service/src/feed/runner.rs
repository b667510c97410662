//! [`ConsumerRunner`]: delivers the change feed to one [`ChangeConsumer`] on its own thread,
//! at least once, in commit order, resuming from the position saved in the store.

use std::fmt::Display;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vigil_store::{ChangeEvent, ConsumerStart, Store, StoreError};

use super::FeedError;
use super::wake::StopSignal;

/// A consumer of the change feed. Handlers must be idempotent: after a crash (or a failed
/// position save) the last batch is delivered again; an event's `seq` identifies it.
pub trait ChangeConsumer: Send + 'static {
    /// Why handling failed (logged; the batch is retried).
    type Error: Display;
    /// The name the consumer's position is registered under; stable across restarts.
    fn name(&self) -> &str;
    /// Handles a batch of events, oldest first. `Ok` acknowledges the whole batch.
    fn handle(&mut self, events: &[ChangeEvent]) -> Result<(), Self::Error>;
}

/// How a [`ConsumerRunner`] reads, waits and retries.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Where a consumer registered for the first time starts.
    pub start: ConsumerStart,
    /// Most events per [`ChangeConsumer::handle`] call.
    pub batch_size: usize,
    /// Longest the runner sleeps on commit wake-ups before reading the log anyway (writes by
    /// another process do not wake it).
    pub safety_interval: Duration,
    /// First delay after a failure (handler or store); doubled per failure in a row.
    pub initial_backoff: Duration,
    /// Longest delay between retries.
    pub max_backoff: Duration,
    /// Prune the outbox ([`vigil_store::ChangeLog::prune_outbox`]) at most this often after
    /// saving a position; `None` leaves pruning to someone else.
    pub prune_interval: Option<Duration>,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            start: ConsumerStart::Beginning,
            batch_size: 256,
            safety_interval: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            prune_interval: None,
        }
    }
}

/// How often a waiting runner checks whether it was asked to stop (the store's commit wake-up
/// cannot be interrupted, so the wait is taken in slices of this length; no database read).
const STOP_SLICE: Duration = Duration::from_millis(100);

/// A running consumer; [`ConsumerRunner::stop`] (or drop) stops and joins its thread.
pub struct ConsumerRunner {
    name: String,
    signal: StopSignal,
    thread: Option<JoinHandle<()>>,
}

impl ConsumerRunner {
    /// Registers `consumer` (or finds its saved position) and starts delivering on a thread.
    pub fn start<C: ChangeConsumer>(
        store: Arc<dyn Store>,
        consumer: C,
        options: ConsumerOptions,
    ) -> Result<ConsumerRunner, FeedError> {
        let name = consumer.name().to_owned();
        let cursor = store.register_consumer(&name, options.start)?;
        let signal = StopSignal::new();
        let delivery = Delivery {
            store,
            consumer,
            options,
            signal: signal.clone(),
            cursor,
            known_last: cursor,
            last_prune: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("vigil-feed-{name}"))
            .spawn(move || delivery.run())
            .map_err(|source| FeedError::Io {
                context: format!("cannot start the thread of consumer {name}"),
                source,
            })?;
        Ok(ConsumerRunner {
            name,
            signal,
            thread: Some(thread),
        })
    }

    /// The consumer's registered name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops after the batch in hand (its position saved if it was handled) and joins the
    /// thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.signal.stop();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(consumer = %self.name, "change consumer panicked");
        }
    }
}

impl Drop for ConsumerRunner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Why one delivery step failed.
enum StepError {
    Store(StoreError),
    Handler(String),
}

impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        StepError::Store(error)
    }
}

/// The runner thread's state.
struct Delivery<C> {
    store: Arc<dyn Store>,
    consumer: C,
    options: ConsumerOptions,
    signal: StopSignal,
    /// The last position handled and saved.
    cursor: u64,
    /// The newest committed position the store has reported; waiting starts past it.
    known_last: u64,
    last_prune: Instant,
}

impl<C: ChangeConsumer> Delivery<C> {
    fn run(mut self) {
        let mut backoff = self.options.initial_backoff;
        while !self.signal.is_stopped() {
            match self.step() {
                Ok(true) => backoff = self.options.initial_backoff,
                Ok(false) => {
                    backoff = self.options.initial_backoff;
                    if let Err(error) = self.wait_for_commit() {
                        self.report(&StepError::Store(error));
                        self.signal.sleep(backoff);
                    }
                }
                Err(error) => {
                    self.report(&error);
                    self.signal.sleep(backoff);
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
            }
        }
    }

    /// Delivers one batch; false when there was nothing to deliver.
    fn step(&mut self) -> Result<bool, StepError> {
        let events = self
            .store
            .changes_after(self.cursor, self.options.batch_size.max(1))?;
        let Some(last) = events.last().map(|event| event.seq) else {
            return Ok(false);
        };
        self.consumer
            .handle(&events)
            .map_err(|error| StepError::Handler(error.to_string()))?;
        // Saved only after handling: a crash before this line delivers the batch again.
        self.store
            .set_consumer_position(self.consumer.name(), last)?;
        self.cursor = last;
        self.known_last = self.known_last.max(last);
        self.maybe_prune();
        Ok(true)
    }

    /// Sleeps until a commit past what is known, the safety interval, or stop.
    fn wait_for_commit(&mut self) -> Result<(), StoreError> {
        let past = self.cursor.max(self.known_last);
        let deadline = Instant::now() + self.options.safety_interval;
        while !self.signal.is_stopped() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(());
            }
            let last = self
                .store
                .wait_for_change(past, remaining.min(STOP_SLICE))?;
            if last > past {
                self.known_last = last;
                return Ok(());
            }
        }
        Ok(())
    }

    fn maybe_prune(&mut self) {
        let Some(interval) = self.options.prune_interval else {
            return;
        };
        if self.last_prune.elapsed() < interval {
            return;
        }
        self.last_prune = Instant::now();
        match self.store.prune_outbox() {
            Ok(pruned) => {
                tracing::debug!(consumer = %self.consumer.name(), pruned, "outbox pruned")
            }
            Err(error) => {
                tracing::warn!(consumer = %self.consumer.name(), %error, "cannot prune the outbox")
            }
        }
    }

    fn report(&self, error: &StepError) {
        let name = self.consumer.name();
        match error {
            StepError::Store(error) => {
                tracing::warn!(consumer = %name, %error, "change feed read failed; retrying");
            }
            StepError::Handler(error) => {
                tracing::warn!(consumer = %name, cursor = self.cursor, %error, "change consumer failed; retrying the batch");
            }
        }
    }
}
