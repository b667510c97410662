//! A stop signal shared with a worker thread, and [`WakeLoop`]: run a piece of work at start,
//! then again whenever woken (or after an interval), until stopped. This is the shape of a job
//! loop such as bulk export: the kickoff wakes the loop, the loop claims and runs pending jobs
//! and checks the stop signal between pages.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::FeedError;

#[derive(Default)]
struct Flags {
    stopped: bool,
    woken: bool,
}

#[derive(Default)]
struct Shared {
    flags: Mutex<Flags>,
    changed: Condvar,
}

fn lock(shared: &Shared) -> MutexGuard<'_, Flags> {
    // Flags are plain booleans: a panic elsewhere cannot leave them inconsistent.
    shared
        .flags
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Tells a worker thread to stop; cheap to clone. Work checks [`StopSignal::is_stopped`]
/// between steps and sleeps with [`StopSignal::sleep`], which returns early on stop.
#[derive(Clone, Default)]
pub struct StopSignal {
    shared: Arc<Shared>,
}

impl StopSignal {
    /// A signal not yet stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether stop was requested.
    pub fn is_stopped(&self) -> bool {
        lock(&self.shared).stopped
    }

    /// Requests stop and wakes any sleeper.
    pub fn stop(&self) {
        lock(&self.shared).stopped = true;
        self.shared.changed.notify_all();
    }

    /// Sleeps for `duration` unless stopped first; returns true when stopped.
    pub fn sleep(&self, duration: Duration) -> bool {
        self.wait(duration, false)
    }

    /// Waits up to `duration` for stop or (when `wakeable`) a wake-up, consuming the wake-up;
    /// returns true when stopped.
    fn wait(&self, duration: Duration, wakeable: bool) -> bool {
        let deadline = Instant::now().checked_add(duration);
        let mut flags = lock(&self.shared);
        loop {
            if flags.stopped {
                return true;
            }
            if wakeable && flags.woken {
                flags.woken = false;
                return false;
            }
            let remaining = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if remaining.is_zero() {
                return false;
            }
            flags = self
                .shared
                .changed
                .wait_timeout(flags, remaining)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

/// Wakes a [`WakeLoop`]; cheap to clone. Wake-ups while the work runs are kept, so the work
/// runs once more after it finishes.
#[derive(Clone)]
pub struct Waker {
    shared: Arc<Shared>,
}

impl Waker {
    /// Asks the loop to run its work again as soon as it is idle.
    pub fn wake(&self) {
        lock(&self.shared).woken = true;
        self.shared.changed.notify_all();
    }
}

/// A thread that runs `work` at start, then whenever woken or every `interval`, until stopped.
pub struct WakeLoop {
    signal: StopSignal,
    thread: Option<JoinHandle<()>>,
}

impl WakeLoop {
    /// Starts the loop on a thread named `name`. `work` gets the stop signal to check between
    /// steps; it handles its own errors (logging, marking jobs failed).
    pub fn start(
        name: &str,
        interval: Duration,
        mut work: impl FnMut(&StopSignal) + Send + 'static,
    ) -> Result<WakeLoop, FeedError> {
        let signal = StopSignal::new();
        let thread_signal = signal.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while !thread_signal.is_stopped() {
                    work(&thread_signal);
                    if thread_signal.wait(interval, true) {
                        break;
                    }
                }
            })
            .map_err(|source| FeedError::Io {
                context: format!("cannot start thread {name}"),
                source,
            })?;
        Ok(WakeLoop {
            signal,
            thread: Some(thread),
        })
    }

    /// A handle that wakes the loop.
    pub fn waker(&self) -> Waker {
        Waker {
            shared: Arc::clone(&self.signal.shared),
        }
    }

    /// Stops the loop (the running work sees the signal) and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.signal.stop();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("a wake loop's work panicked");
        }
    }
}

impl Drop for WakeLoop {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_at_start_on_wake_and_stops() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let looped = WakeLoop::start("test-wake", Duration::from_secs(3600), move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .expect("start");
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "ran once at start");
        looped.waker().wake();
        while runs.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2, "ran again when woken");
        let started = Instant::now();
        looped.stop();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stop interrupts the hour-long wait"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn work_sees_the_stop_signal() {
        let signal = StopSignal::new();
        assert!(!signal.sleep(Duration::from_millis(1)));
        let sleeper = signal.clone();
        let thread = std::thread::spawn(move || sleeper.sleep(Duration::from_secs(3600)));
        signal.stop();
        assert!(thread.join().expect("sleeper"), "sleep returns on stop");
        assert!(signal.is_stopped());
    }
}
