//! Versioned schema migrations: the SQL files under `migrations/sqlite/NNNN_name.sql`, embedded
//! at build time and applied in order at open (and by `vigil migrate`). The `schema_version`
//! table records every applied version; a database written by a newer Vigil is refused rather
//! than silently misread.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::{DATABASE_FILE, SqliteOptions, open_write_connection};
use crate::StoreError;

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version number: the `NNNN` of the file name, contiguous from 1.
    pub version: u32,
    /// The `name` part of the file name.
    pub name: &'static str,
    /// The SQL text, run as one batch inside a transaction.
    pub sql: &'static str,
}

/// Every migration this build knows, in order. A test checks this list against the files in
/// `migrations/sqlite/`, so a new file cannot be forgotten here.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "export_jobs",
        sql: include_str!("../../migrations/sqlite/0002_export_jobs.sql"),
    },
    Migration {
        version: 3,
        name: "change_feed",
        sql: include_str!("../../migrations/sqlite/0003_change_feed.sql"),
    },
    Migration {
        version: 4,
        name: "full_text",
        sql: include_str!("../../migrations/sqlite/0004_full_text.sql"),
    },
    Migration {
        version: 5,
        name: "settings",
        sql: include_str!("../../migrations/sqlite/0005_settings.sql"),
    },
    Migration {
        version: 6,
        name: "audit_chain",
        sql: include_str!("../../migrations/sqlite/0006_audit_chain.sql"),
    },
];

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Schema version before.
    pub from_version: u32,
    /// Schema version after.
    pub to_version: u32,
    /// The migrations applied, oldest first: (version, name).
    pub applied: Vec<(u32, &'static str)>,
}

/// Opens (creating if needed) the database in `dir` and brings its schema up to date, without
/// starting a store: what `vigil migrate` runs.
pub fn migrate(dir: &Path) -> Result<MigrationReport, StoreError> {
    let mut conn = open_write_connection(dir, &SqliteOptions::default())?;
    apply(&mut conn)
}

/// The newest schema version this build knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

/// Applies every pending migration, each in its own immediate transaction.
pub(crate) fn apply(conn: &mut Connection) -> Result<MigrationReport, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version      INTEGER PRIMARY KEY,
             name         TEXT    NOT NULL,
             applied_micros INTEGER NOT NULL
         )",
    )?;
    let from_version = current_version(conn)?;
    if from_version > latest_version() {
        return Err(StoreError::internal(format!(
            "the database in {DATABASE_FILE} has schema version {from_version}, newer than this \
             build knows ({}); use a newer Vigil",
            latest_version()
        )));
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > from_version) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated between our read and the lock.
        if current_version(&tx)? >= migration.version {
            continue;
        }
        tx.execute_batch(migration.sql).map_err(|error| {
            StoreError::internal(format!(
                "migration {:04}_{} failed: {error}",
                migration.version, migration.name
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_micros) VALUES (?1, ?2, ?3)",
            rusqlite::params![migration.version, migration.name, super::now_micros()],
        )?;
        tx.commit()?;
        applied.push((migration.version, migration.name));
    }
    Ok(MigrationReport {
        from_version,
        to_version: current_version(conn)?,
        applied,
    })
}

/// The highest applied schema version (0 for an empty database).
pub(crate) fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    let version: Option<i64> = conn
        .query_row("SELECT max(version) FROM schema_version", [], |row| {
            row.get(0)
        })
        .optional()?
        .flatten();
    let version = version.unwrap_or(0);
    u32::try_from(version).map_err(|_| {
        StoreError::internal(format!("schema_version holds an invalid version {version}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_list_matches_the_migration_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations directory exists")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let expected: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, expected);
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                migration.version as usize,
                index + 1,
                "versions are contiguous from 1"
            );
            let on_disk = std::fs::read_to_string(dir.join(&expected[index])).expect("readable");
            assert_eq!(on_disk, migration.sql);
        }
    }

    #[test]
    fn migrate_is_idempotent_and_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = migrate(dir.path()).expect("first migrate");
        assert_eq!(first.from_version, 0);
        assert_eq!(first.to_version, latest_version());
        assert_eq!(first.applied.len(), MIGRATIONS.len());
        let second = migrate(dir.path()).expect("second migrate");
        assert_eq!(second.from_version, latest_version());
        assert!(second.applied.is_empty());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        migrate(dir.path()).expect("migrate");
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).expect("open");
        conn.execute("INSERT INTO schema_version VALUES (9999, 'future', 0)", [])
            .expect("insert");
        drop(conn);
        let error = migrate(dir.path()).expect_err("newer schema refused");
        assert!(error.message().contains("newer"), "{error}");
    }
}
