//! The log writer: a bounded queue and one thread that writes to stderr, so logging never
//! makes a request wait for the terminal or a pipe. A full queue drops lines (counted, and
//! reported by the writer once it catches up) rather than blocking the caller.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// Lines queued before new ones are dropped.
const QUEUE_LINES: usize = 16 * 1024;

/// How long the writer sleeps after writing a batch, letting the next one gather.
const BATCH_WAIT: Duration = Duration::from_millis(10);

/// How long dropping the guard waits for the queue to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

enum Message {
    Line(Vec<u8>),
    /// Write everything queued before this, then answer.
    Flush(SyncSender<()>),
}

/// Hands each log event a buffer that is queued when the event is complete.
#[derive(Clone)]
pub struct QueueWriter {
    queue: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

/// One event's text, queued on drop.
pub struct EventBuffer {
    text: Vec<u8>,
    writer: QueueWriter,
}

impl Write for EventBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.text);
        match self.writer.queue.try_send(Message::Line(text)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.writer.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The writer thread is gone (the process is ending): write it ourselves.
            Err(TrySendError::Disconnected(Message::Line(text))) => {
                let _ = std::io::stderr().write_all(&text);
            }
            Err(TrySendError::Disconnected(Message::Flush(_))) => {}
        }
    }
}

impl<'a> MakeWriter<'a> for QueueWriter {
    type Writer = EventBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        EventBuffer {
            text: Vec::with_capacity(256),
            writer: self.clone(),
        }
    }
}

/// Keeps the writer thread's queue flushed at the end: dropping it waits (briefly) until
/// every line queued before is written.
pub struct LogGuard {
    queue: SyncSender<Message>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let (done, wait) = sync_channel(1);
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(FLUSH_WAIT);
        }
    }
}

/// Starts the writer thread; falls back to writing on the caller's thread if it cannot start.
pub fn start() -> (QueueWriter, LogGuard) {
    let (queue, lines) = sync_channel(QUEUE_LINES);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    let started = std::thread::Builder::new()
        .name("vigil-log".to_owned())
        .spawn(move || write_lines(&lines, &counter));
    if let Err(error) = started {
        // Without the thread, every send finds the queue disconnected and writes directly.
        eprintln!("vigil: cannot start the log writer ({error}); logging synchronously");
    }
    (
        QueueWriter {
            queue: queue.clone(),
            dropped,
        },
        LogGuard { queue },
    )
}

/// The writer thread. Idle, it waits for a line; busy, it writes what is queued, then sleeps
/// [`BATCH_WAIT`] instead of waiting on the queue, so a request queuing its line finds no one
/// to wake (a wake-up per line cost more than the write: docs/benchmarks.md, issue 19).
fn write_lines(lines: &Receiver<Message>, dropped: &AtomicU64) {
    // Not locked for the thread's life: other threads still print to stderr (progress bars,
    // error messages), each write taking the lock briefly.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        loop {
            while let Some(message) = next {
                match message {
                    Message::Line(text) => {
                        let _ = out.write_all(&text);
                    }
                    Message::Flush(done) => {
                        let _ = out.flush();
                        let _ = done.send(());
                    }
                }
                next = lines.try_recv().ok();
            }
            let lost = dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                let _ = writeln!(
                    out,
                    "vigil: {lost} log lines dropped (the log writer could not keep up)"
                );
            }
            let _ = out.flush();
            std::thread::sleep(BATCH_WAIT);
            next = lines.try_recv().ok();
            if next.is_none() {
                break;
            }
        }
    }
}
