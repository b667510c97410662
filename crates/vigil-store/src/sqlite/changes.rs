//! The change log on SQLite (tables `outbox`, `outbox_consumer`, `audit`, `inbound_message`;
//! migrations 0001 and 0003): the queries behind [`crate::ChangeLog`] and [`crate::MessageStore`],
//! and the inserts a unit of work makes through its [`crate::Transaction`].

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{limit, method_from_code, to_i64_saturating, to_u64};
use crate::{
    AuditEntry, AuditRecord, ChangeContext, ChangeEvent, ConsumerStart, InboundMessage, StoreError,
    StoreErrorKind,
};

/// Change events deleted per statement when pruning, so a large prune does not hold the writer
/// (and every request waiting on it) for long.
const PRUNE_CHUNK: i64 = 10_000;

pub(crate) fn changes_after(
    conn: &Connection,
    after_seq: u64,
    max: usize,
) -> Result<Vec<ChangeEvent>, StoreError> {
    if max == 0 {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare_cached(
        "SELECT o.seq, r.type, r.id, o.version, o.method, o.created, o.request_id, o.agent \
         FROM outbox o JOIN resource r ON r.rid = o.rid \
         WHERE o.seq > ?1 ORDER BY o.seq LIMIT ?2",
    )?;
    let mut rows = statement.query(params![to_i64_saturating(after_seq), limit(max)])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(ChangeEvent {
            seq: to_u64(row.get(0)?, "seq")?,
            resource_type: row.get(1)?,
            id: row.get(2)?,
            version_id: to_u64(row.get(3)?, "version")?,
            method: method_from_code(row.get(4)?)?,
            recorded_micros: row.get(5)?,
            request_id: row.get(6)?,
            agent: row.get(7)?,
        });
    }
    Ok(events)
}

/// Appends the change event of a version just written (inside the unit's transaction).
pub(crate) fn append_event(
    conn: &Connection,
    context: &ChangeContext,
    seq: i64,
    rid: i64,
    version: i64,
    method: i64,
    recorded: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO outbox (seq, rid, version, method, created, request_id, agent) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        seq,
        rid,
        version,
        method,
        recorded,
        context.request_id,
        context.agent
    ])?;
    Ok(())
}

pub(crate) fn consumer_position(conn: &Connection, name: &str) -> Result<Option<u64>, StoreError> {
    let position: Option<i64> = conn
        .prepare_cached("SELECT position FROM outbox_consumer WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()?;
    position
        .map(|position| to_u64(position, "consumer position"))
        .transpose()
}

pub(crate) fn register_consumer(
    conn: &Connection,
    name: &str,
    start: ConsumerStart,
) -> Result<u64, StoreError> {
    if let Some(position) = consumer_position(conn, name)? {
        return Ok(position);
    }
    let position: i64 = match start {
        ConsumerStart::Beginning => 0,
        ConsumerStart::Now => to_i64_saturating(super::jobs::last_seq(conn)?),
    };
    conn.prepare_cached("INSERT INTO outbox_consumer (name, position) VALUES (?1, ?2)")?
        .execute(params![name, position])?;
    to_u64(position, "consumer position")
}

pub(crate) fn unregister_consumer(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM outbox_consumer WHERE name = ?1")?
        .execute([name])?;
    Ok(deleted > 0)
}

pub(crate) fn set_consumer_position(
    conn: &Connection,
    name: &str,
    seq: u64,
) -> Result<(), StoreError> {
    let updated = conn
        .prepare_cached("UPDATE outbox_consumer SET position = ?2 WHERE name = ?1")?
        .execute(params![name, to_i64_saturating(seq)])?;
    if updated == 0 {
        return Err(StoreError::new(
            StoreErrorKind::NotFound,
            format!("change-log consumer {name:?} is not registered"),
        ));
    }
    Ok(())
}

pub(crate) fn consumers(conn: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT name, position FROM outbox_consumer ORDER BY name")?;
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push((row.get(0)?, to_u64(row.get(1)?, "consumer position")?));
    }
    Ok(out)
}

/// Deletes up to [`PRUNE_CHUNK`] of the oldest events that every registered consumer has
/// handled (none with no consumer registered: `min` of no rows is NULL); returns how many.
/// The floor is read in the same statement, so a consumer registering meanwhile is respected.
pub(crate) fn prune_chunk(conn: &Connection) -> Result<u64, StoreError> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM outbox WHERE seq <= (SELECT min(position) FROM outbox_consumer) \
             AND seq < (SELECT min(seq) FROM outbox) + ?1",
        )?
        .execute([PRUNE_CHUNK])?;
    Ok(deleted as u64)
}

pub(crate) fn append_audit(
    conn: &Connection,
    context: &ChangeContext,
    record: &AuditRecord,
) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit (recorded, request_id, agent, action, outcome, entity, event) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        record.recorded_micros,
        context.request_id,
        context.agent,
        record.action,
        record.outcome,
        record.entity,
        record.event
    ])?;
    to_u64(conn.last_insert_rowid(), "audit seq")
}

pub(crate) fn audit_after(
    conn: &Connection,
    after_seq: u64,
    max: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    if max == 0 {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare_cached(
        "SELECT seq, recorded, request_id, agent, action, outcome, entity, event, prev_hash, hash \
         FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = statement.query(params![to_i64_saturating(after_seq), limit(max)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(AuditEntry {
            seq: to_u64(row.get(0)?, "audit seq")?,
            request_id: row.get(2)?,
            agent: row.get(3)?,
            record: AuditRecord {
                recorded_micros: row.get(1)?,
                action: row.get(4)?,
                outcome: row.get(5)?,
                entity: row.get(6)?,
                event: row.get(7)?,
            },
            prev_hash: row.get(8)?,
            hash: row.get(9)?,
        });
    }
    Ok(out)
}

pub(crate) fn record_message(
    conn: &Connection,
    message: &InboundMessage,
) -> Result<bool, StoreError> {
    let existed = inbound_message(conn, &message.sender, &message.control_id)?.is_some();
    conn.prepare_cached(
        "INSERT INTO inbound_message (sender, control_id, received, raw, state, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (sender, control_id) DO UPDATE SET received = excluded.received, \
         raw = excluded.raw, state = excluded.state, error = excluded.error",
    )?
    .execute(params![
        message.sender,
        message.control_id,
        message.received_micros,
        message.raw,
        message.state,
        message.error
    ])?;
    Ok(!existed)
}

const MESSAGE_COLUMNS: &str = "sender, control_id, received, raw, state, error";

fn message_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<InboundMessage> {
    Ok(InboundMessage {
        sender: row.get(0)?,
        control_id: row.get(1)?,
        received_micros: row.get(2)?,
        raw: row.get(3)?,
        state: row.get(4)?,
        error: row.get(5)?,
    })
}

pub(crate) fn inbound_message(
    conn: &Connection,
    sender: &str,
    control_id: &str,
) -> Result<Option<InboundMessage>, StoreError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM inbound_message WHERE sender = ?1 AND control_id = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![sender, control_id], message_row)
        .optional()?)
}

pub(crate) fn inbound_messages(
    conn: &Connection,
    state: &str,
    max: usize,
) -> Result<Vec<InboundMessage>, StoreError> {
    if max == 0 {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM inbound_message WHERE state = ?1 \
         ORDER BY received, sender, control_id LIMIT ?2"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![state, limit(max)], message_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
