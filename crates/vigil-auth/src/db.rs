//! The auth database: `DATA_DIR/auth.sqlite`, owned by vigil-auth alone.
//!
//! Users, clients, remembered grants, authorization codes, refresh tokens, issued access tokens
//! and client-assertion ids live in one small SQLite file (WAL, `synchronous=FULL`) beside the
//! FHIR store rather than in it: the FHIR store's schema belongs to vigil-store, and these rows
//! are not FHIR resources. Every request reads the rows it needs, so `vigil user`/`vigil client`
//! changes made by another process take effect on the next request without a restart.

use crate::error::AuthError;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The file name inside the data directory.
pub const DATABASE_FILE: &str = "auth.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS auth_user (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    patient TEXT,
    practitioner TEXT,
    roles TEXT NOT NULL DEFAULT '',
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_client (
    client_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('public', 'secret', 'jwks')),
    secret_hash TEXT,
    jwks TEXT,
    redirect_uris TEXT NOT NULL,
    scopes TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_grant (
    username TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (username, client_id)
);
CREATE TABLE IF NOT EXISTS auth_family (
    family TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    username TEXT,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_family_client ON auth_family (client_id);
CREATE INDEX IF NOT EXISTS auth_family_user ON auth_family (username);
CREATE TABLE IF NOT EXISTS auth_pending (
    consent_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    request TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_code (
    code_hash TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    client_id TEXT NOT NULL,
    username TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    code_challenge TEXT,
    nonce TEXT,
    patient TEXT,
    fhir_user TEXT,
    expires_at INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS auth_refresh (
    token_hash TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    client_id TEXT NOT NULL,
    username TEXT NOT NULL,
    scopes TEXT NOT NULL,
    patient TEXT,
    fhir_user TEXT,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS auth_refresh_family ON auth_refresh (family);
CREATE TABLE IF NOT EXISTS auth_access (
    jti TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    client_id TEXT NOT NULL,
    username TEXT,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS auth_access_expiry ON auth_access (expires_at);
CREATE INDEX IF NOT EXISTS auth_access_family ON auth_access (family);
CREATE TABLE IF NOT EXISTS auth_assertion (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
";

/// A handle on the auth database with a small pool of connections (one per concurrent caller,
/// kept for reuse).
pub(crate) struct Database {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
    /// A connection that only ever asks `PRAGMA data_version`: its answer changes whenever
    /// any other connection (this process's or the CLI's) commits.
    watcher: Mutex<Option<Connection>>,
}

impl Database {
    /// Opens (and creates if needed) `data_dir/auth.sqlite`, applying the schema.
    pub(crate) fn open(data_dir: &Path) -> Result<Self, AuthError> {
        std::fs::create_dir_all(data_dir).map_err(|source| AuthError::Io {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        create_private(&path)?;
        let database = Self {
            path,
            pool: Mutex::new(Vec::new()),
            watcher: Mutex::new(None),
        };
        let connection = database.connect()?;
        connection.execute_batch(SCHEMA)?;
        database.give_back(connection);
        restrict_permissions(&database.path)?;
        Ok(database)
    }

    fn connect(&self) -> Result<Connection, AuthError> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )?;
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < 8
        {
            pool.push(connection);
        }
    }

    /// A number that changes whenever anything is committed to the database: a row read while
    /// it had some value is still current while it keeps that value.
    pub(crate) fn data_version(&self) -> Result<i64, AuthError> {
        let mut watcher = self
            .watcher
            .lock()
            .map_err(|_| AuthError::Key("the database watcher lock is poisoned".into()))?;
        if watcher.is_none() {
            *watcher = Some(self.connect()?);
        }
        match watcher.as_ref() {
            Some(connection) => {
                // Asked on every authenticated request: the statement is prepared once.
                let mut statement = connection.prepare_cached("PRAGMA data_version")?;
                Ok(statement.query_row([], |row| row.get(0))?)
            }
            None => Err(AuthError::Key("the database watcher is missing".into())),
        }
    }

    /// Runs `work` on a pooled connection.
    pub(crate) fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let pooled = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        let mut connection = match pooled {
            Some(connection) => connection,
            None => self.connect()?,
        };
        let result = work(&mut connection);
        self.give_back(connection);
        result
    }

    /// Runs `work` in one immediate (write-locked) transaction.
    pub(crate) fn write<T>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        self.with(|connection| {
            let transaction =
                connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = work(&transaction)?;
            transaction.commit()?;
            Ok(value)
        })
    }
}

/// Creates the database file readable by its owner only before SQLite opens it (SQLite gives
/// its -wal and -shm files the database file's mode).
#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), AuthError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(AuthError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> Result<(), AuthError> {
    Ok(())
}

/// The database holds password hashes and token rows: readable by the owner only.
#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Result<(), AuthError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        AuthError::Io {
            path: path.display().to_string(),
            source,
        }
    })
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> Result<(), AuthError> {
    Ok(())
}

/// Marks a grant family and every token issued from it revoked.
pub(crate) fn revoke_family(
    transaction: &rusqlite::Transaction<'_>,
    family: &str,
) -> Result<(), AuthError> {
    transaction.execute(
        "UPDATE auth_family SET revoked = 1 WHERE family = ?1",
        [family],
    )?;
    transaction.execute(
        "UPDATE auth_access SET revoked = 1 WHERE family = ?1",
        [family],
    )?;
    transaction.execute(
        "UPDATE auth_refresh SET used = 1 WHERE family = ?1",
        [family],
    )?;
    Ok(())
}

/// Revokes every family of a client (`column` = `client_id`) or a user (`username`).
pub(crate) fn revoke_families_of(
    transaction: &rusqlite::Transaction<'_>,
    column: &str,
    value: &str,
) -> Result<(), AuthError> {
    let column = match column {
        "client_id" => "client_id",
        _ => "username",
    };
    let families: Vec<String> = {
        let mut statement = transaction.prepare(&format!(
            "SELECT family FROM auth_family WHERE {column} = ?1 AND revoked = 0"
        ))?;
        let rows = statement.query_map([value], |row| row.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for family in families {
        revoke_family(transaction, &family)?;
    }
    Ok(())
}
