//! The change log on SQLite (tables `outbox`, `outbox_consumer`, `audit`, `inbound_message`;
//! migrations 0001 and 0003): the queries behind [`crate::ChangeLog`] and [`crate::MessageStore`],
//! and the inserts a unit of work makes through its [`crate::Transaction`].

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{limit, method_from_code, to_i64_saturating, to_u64};
use crate::audit_chain::{GENESIS, HashedFields, entry_hash};
use crate::{
    AuditEntry, AuditHead, AuditQuery, AuditRecord, ChangeContext, ChangeEvent, ConsumerStart,
    InboundMessage, StoreError, StoreErrorKind, TimeBound,
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

/// The setting holding the audit chain head: `SEQ HASH`.
const AUDIT_HEAD: &str = "audit-head";

/// The end of the audit chain as a unit of work sees it.
pub(crate) struct AuditTail {
    seq: i64,
    hash: String,
    /// Whether the unit appended (so the head must be written when it finishes).
    pub(crate) appended: bool,
}

/// The last entry's position and hash (position 0 and [`GENESIS`] for an empty log).
fn read_tail(conn: &Connection) -> Result<AuditTail, StoreError> {
    let last: Option<(i64, Option<String>)> = conn
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(match last {
        None => AuditTail {
            seq: 0,
            hash: GENESIS.to_owned(),
            appended: false,
        },
        // A row without a hash predates the chain; verification reports it.
        Some((seq, hash)) => AuditTail {
            seq,
            hash: hash.unwrap_or_default(),
            appended: false,
        },
    })
}

/// Appends an audit entry inside the writer's transaction: position `max(seq) + 1`, chained to
/// the entry before it, and its search keys, all in the unit's savepoint (a unit rolled back
/// takes them all back). The chain's end is read once per unit and carried in `tail`; the
/// head is written when the unit finishes ([`write_audit_head`]).
pub(crate) fn append_audit(
    conn: &Connection,
    tail: &mut Option<AuditTail>,
    record: &AuditRecord,
) -> Result<u64, StoreError> {
    let tail = match tail {
        Some(tail) => tail,
        None => tail.insert(read_tail(conn)?),
    };
    let seq = tail.seq + 1;
    let fields = HashedFields {
        seq: to_u64(seq, "audit seq")?,
        recorded_micros: record.recorded_micros,
        request_id: &record.request_id,
        agent: &record.agent,
        action: &record.action,
        outcome: &record.outcome,
        entity: &record.entity,
        event: &record.event,
    };
    let hash = entry_hash(&fields, &tail.hash);
    conn.prepare_cached(
        "INSERT INTO audit (seq, recorded, request_id, agent, action, outcome, entity, event, \
         prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        seq,
        record.recorded_micros,
        record.request_id,
        record.agent,
        record.action,
        record.outcome,
        record.entity,
        record.event,
        tail.hash,
        hash
    ])?;
    let mut key = conn
        .prepare_cached("INSERT OR IGNORE INTO audit_key (name, value, seq) VALUES (?1, ?2, ?3)")?;
    for (name, value) in &record.keys {
        key.execute(params![name, value, seq])?;
    }
    *tail = AuditTail {
        seq,
        hash,
        appended: true,
    };
    to_u64(seq, "audit seq")
}

/// Records the chain head (`SEQ HASH` in `setting` `audit-head`) after a unit's appends.
pub(crate) fn write_audit_head(conn: &Connection, tail: &AuditTail) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO setting (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![AUDIT_HEAD, format!("{} {}", tail.seq, tail.hash)])?;
    Ok(())
}

const AUDIT_COLUMNS: &str = "a.seq, a.recorded, a.request_id, a.agent, a.action, a.outcome, a.entity, a.event, \
     a.prev_hash, a.hash";

fn audit_row(row: &rusqlite::Row<'_>) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: to_u64(row.get(0)?, "audit seq")?,
        record: AuditRecord {
            recorded_micros: row.get(1)?,
            request_id: row.get(2)?,
            agent: row.get(3)?,
            action: row.get(4)?,
            outcome: row.get(5)?,
            entity: row.get(6)?,
            event: row.get(7)?,
            keys: Vec::new(),
        },
        prev_hash: row.get(8)?,
        hash: row.get(9)?,
    })
}

fn collect_audit(mut rows: rusqlite::Rows<'_>) -> Result<Vec<AuditEntry>, StoreError> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(audit_row(row)?);
    }
    Ok(out)
}

pub(crate) fn audit_after(
    conn: &Connection,
    after_seq: u64,
    max: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    if max == 0 {
        return Ok(Vec::new());
    }
    let sql =
        format!("SELECT {AUDIT_COLUMNS} FROM audit a WHERE a.seq > ?1 ORDER BY a.seq LIMIT ?2");
    let mut statement = conn.prepare_cached(&sql)?;
    collect_audit(statement.query(params![to_i64_saturating(after_seq), limit(max)])?)
}

pub(crate) fn audit_entry(conn: &Connection, seq: u64) -> Result<Option<AuditEntry>, StoreError> {
    let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit a WHERE a.seq = ?1");
    let mut statement = conn.prepare_cached(&sql)?;
    Ok(collect_audit(statement.query([to_i64_saturating(seq)])?)?
        .into_iter()
        .next())
}

/// One statement for any [`AuditQuery`]: key criteria as `IN` sub-selects over `audit_key`
/// (each list bound as one JSON array), time bounds over `audit_recorded`, newest first.
pub(crate) fn search_audit(
    conn: &Connection,
    query: &AuditQuery,
) -> Result<Vec<AuditEntry>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit a WHERE 1 = 1");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    // Appends `condition`, numbering its `?` placeholders after the values bound so far.
    let mut bind = |sql: &mut String, condition: &str, bound: Vec<rusqlite::types::Value>| {
        let mut parts = condition.split('?');
        sql.push_str(parts.next().unwrap_or_default());
        for (part, value) in parts.zip(bound) {
            values.push(value);
            sql.push_str(&format!("?{}", values.len()));
            sql.push_str(part);
        }
    };
    for (name, list) in [("entity", &query.entity), ("agent", &query.agent)] {
        if list.is_empty() {
            continue;
        }
        let json = serde_json::to_string(list)
            .map_err(|error| StoreError::internal(format!("audit query: {error}")))?;
        let keys = format!(
            "SELECT k.seq FROM audit_key k WHERE k.name = '{name}' \
             AND k.value IN (SELECT value FROM json_each(?))"
        );
        if name == "agent" {
            // The acting agent is the indexed `agent` column (no key row per entry); other
            // agents (the client an action came through) are keys.
            bind(
                &mut sql,
                &format!(
                    " AND a.seq IN (SELECT x.seq FROM audit x WHERE x.agent IN \
                     (SELECT value FROM json_each(?)) UNION {keys})"
                ),
                vec![json.clone().into(), json.into()],
            );
        } else {
            bind(
                &mut sql,
                &format!(" AND a.seq IN ({keys})"),
                vec![json.into()],
            );
        }
    }
    for bound in &query.recorded {
        let (condition, micros) = match *bound {
            TimeBound::AtOrAfter(t) => (" AND a.recorded >= ?", t),
            TimeBound::After(t) => (" AND a.recorded > ?", t),
            TimeBound::AtOrBefore(t) => (" AND a.recorded <= ?", t),
            TimeBound::Before(t) => (" AND a.recorded < ?", t),
        };
        bind(&mut sql, condition, vec![micros.into()]);
    }
    if let Some(before) = query.before_seq {
        bind(
            &mut sql,
            " AND a.seq < ?",
            vec![to_i64_saturating(before).into()],
        );
    }
    bind(
        &mut sql,
        " ORDER BY a.seq DESC LIMIT ?",
        vec![limit(query.limit).into()],
    );
    let mut statement = conn.prepare(&sql)?;
    collect_audit(statement.query(rusqlite::params_from_iter(values))?)
}

pub(crate) fn audit_head(conn: &Connection) -> Result<Option<AuditHead>, StoreError> {
    let value: Option<String> = conn
        .prepare_cached("SELECT value FROM setting WHERE name = ?1")?
        .query_row([AUDIT_HEAD], |row| row.get(0))
        .optional()?;
    let Some(value) = value else {
        return Ok(None);
    };
    let parsed = value
        .split_once(' ')
        .and_then(|(seq, hash)| Some((seq.parse::<u64>().ok()?, hash)));
    match parsed {
        Some((seq, hash)) => Ok(Some(AuditHead {
            seq,
            hash: hash.to_owned(),
        })),
        None => Err(StoreError::internal(format!(
            "the audit chain head setting is malformed: {value:?}"
        ))),
    }
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
