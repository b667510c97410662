//! [`FileSink`]: a change consumer that appends each event as one NDJSON line to
//! `DIR/NAME.ndjson` and fsyncs before acknowledging, so a line on disk is never behind the
//! saved position. After a crash the file may repeat events (at-least-once): a reader drops a
//! line whose `seq` is not above the previous line's.
//!
//! A line: `{"seq":42,"resourceType":"Patient","id":"p1","versionId":3,"method":"update",
//! "recorded":"2026-12-07T18:00:00.123Z","requestId":"…","agent":"user:alice"}`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use vigil_store::ChangeEvent;

use super::runner::ChangeConsumer;
use super::{FeedError, method_name};
use crate::format_instant;

/// Whether `name` can name a sink: 1 to 64 ASCII letters, digits, `-` or `_` (it becomes a file
/// name and part of the consumer name).
pub fn valid_sink_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Appends delivered change events to `DIR/NAME.ndjson`.
pub struct FileSink {
    consumer_name: String,
    path: PathBuf,
    file: File,
}

impl FileSink {
    /// Opens (creating) `dir/name.ndjson` for appending; the consumer registers as
    /// `change-log:NAME`. A line torn by a crash mid-write is cut off first.
    pub fn open(dir: &Path, name: &str) -> Result<FileSink, FeedError> {
        if !valid_sink_name(name) {
            return Err(FeedError::Invalid(format!(
                "change-log consumer name {name:?} must be 1-64 letters, digits, '-' or '_'"
            )));
        }
        let io = |context: String| move |source| FeedError::Io { context, source };
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let path = dir.join(format!("{name}.ndjson"));
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io(format!("cannot open {}", path.display())))?;
        cut_torn_tail(&mut file).map_err(io(format!("cannot repair {}", path.display())))?;
        Ok(FileSink {
            consumer_name: format!("change-log:{name}"),
            path,
            file,
        })
    }

    /// The file events are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Truncates the file after its last newline (a crash can leave half a line).
fn cut_torn_tail(file: &mut File) -> std::io::Result<()> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buffer = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        buffer.resize(usize::try_from(end - start).unwrap_or(0), 0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buffer)?;
        if let Some(at) = buffer.iter().rposition(|&b| b == b'\n') {
            let keep = start + at as u64 + 1;
            if keep < len {
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    if len > 0 {
        file.set_len(0)?;
    }
    Ok(())
}

/// One event as an NDJSON line (with its newline).
pub(crate) fn event_line(event: &ChangeEvent) -> String {
    let mut line = json!({
        "seq": event.seq,
        "resourceType": event.resource_type,
        "id": event.id,
        "versionId": event.version_id,
        "method": method_name(event),
        "recorded": format_instant(event.recorded_micros),
        "requestId": event.request_id,
        "agent": event.agent,
    })
    .to_string();
    line.push('\n');
    line
}

impl ChangeConsumer for FileSink {
    type Error = std::io::Error;

    fn name(&self) -> &str {
        &self.consumer_name
    }

    fn handle(&mut self, events: &[ChangeEvent]) -> Result<(), std::io::Error> {
        let text: String = events.iter().map(event_line).collect();
        let length = self.file.metadata()?.len();
        let written = self
            .file
            .write_all(text.as_bytes())
            // Durable before the runner saves the position past these events.
            .and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // No torn line stays behind for the retry to append after.
            let _ = self.file.set_len(length);
            return Err(error);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::WriteMethod;

    fn event(seq: u64) -> ChangeEvent {
        ChangeEvent {
            seq,
            resource_type: "Patient".into(),
            id: format!("p{seq}"),
            version_id: 1,
            method: WriteMethod::Create,
            recorded_micros: 0,
            request_id: "r".into(),
            agent: "dev".into(),
        }
    }

    #[test]
    fn names_are_plain_file_names() {
        for good in ["a", "news2", "ward-board_1"] {
            assert!(valid_sink_name(good), "{good}");
        }
        for bad in ["", "../x", "a/b", "a.b", "é", &"x".repeat(65)] {
            assert!(!valid_sink_name(bad), "{bad}");
        }
        let dir = tempfile::tempdir().expect("dir");
        assert!(matches!(
            FileSink::open(dir.path(), "../escape"),
            Err(FeedError::Invalid(_))
        ));
    }

    #[test]
    fn appends_lines_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().expect("dir");
        let mut sink = FileSink::open(dir.path(), "audit").expect("open");
        assert_eq!(sink.name(), "change-log:audit");
        sink.handle(&[event(1), event(2)]).expect("handle");
        drop(sink);
        let path = dir.path().join("audit.ndjson");
        let mut file = OpenOptions::new().append(true).open(&path).expect("file");
        file.write_all(br#"{"seq":3,"resou"#).expect("torn write");
        drop(file);
        let mut sink = FileSink::open(dir.path(), "audit").expect("reopen");
        sink.handle(&[event(3)]).expect("handle");
        let text = std::fs::read_to_string(&path).expect("read");
        let seqs: Vec<u64> = text
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).expect("whole lines");
                value["seq"].as_u64().expect("seq")
            })
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("line")).expect("json");
        assert_eq!(first["method"], "create");
        assert_eq!(first["agent"], "dev");
        assert_eq!(first["recorded"], "1970-01-01T00:00:00.000Z");
    }
}
