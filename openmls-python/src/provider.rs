//! `Provider`: RustCrypto + SQLite storage (in memory or a file), behind one mutex.
//!
//! Every binding operation runs as one SQLite transaction ([`Provider::transaction`]):
//! a crash or an error mid-way never leaves half an epoch in the database.

use std::borrow::Borrow;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use openmls_rust_crypto::RustCrypto;
use openmls_sqlite_storage::{Codec, Connection, SqliteStorageProvider};
use openmls_traits::OpenMlsProvider;
use pyo3::prelude::*;

use crate::errors::{guard, Res, StorageError};

/// JSON codec for stored values (the encoding OpenMLS's own memory storage uses).
#[derive(Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    type Error = serde_json::Error;

    fn to_vec<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Self::Error> {
        serde_json::to_vec(value)
    }

    fn from_slice<T: serde::de::DeserializeOwned>(slice: &[u8]) -> Result<T, Self::Error> {
        serde_json::from_slice(slice)
    }
}

/// The one SQLite connection, shared by the storage provider and the transaction code.
///
/// `rusqlite::Connection` is `Send` but not `Sync`, so an `Arc` of it is not `Send`.
/// Both clones live only inside one [`Backend`], which is only reachable through the
/// `Mutex` in [`Provider`]: the connection is never used by two threads at once.
pub struct SharedConn(Arc<Connection>);

// SAFETY: see the type's documentation; every clone of the Arc is owned by the same
// `Backend`, which is accessed only under `Provider`'s mutex.
unsafe impl Send for SharedConn {}

impl Borrow<Connection> for SharedConn {
    fn borrow(&self) -> &Connection {
        &self.0
    }
}

pub type Storage = SqliteStorageProvider<JsonCodec, SharedConn>;

/// What OpenMLS sees as its provider.
pub struct Backend {
    crypto: RustCrypto,
    storage: Storage,
    conn: SharedConn,
}

impl OpenMlsProvider for Backend {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = Storage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}

impl Backend {
    /// Opens the database and creates OpenMLS's tables if needed.
    pub fn open(path: Option<&str>) -> Result<Self, String> {
        let conn = match path {
            Some(p) => Connection::open(p).map_err(|e| format!("cannot open SQLite file {p:?}: {e}"))?,
            None => Connection::open_in_memory().map_err(|e| format!("cannot open in-memory SQLite: {e}"))?,
        };
        if path.is_some() {
            // WAL + NORMAL: durable across process crashes, no fsync per transaction.
            conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
                .map_err(|e| format!("cannot configure SQLite: {e}"))?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| format!("cannot configure SQLite: {e}"))?;
        let mut conn = conn;
        SqliteStorageProvider::<JsonCodec, &mut Connection>::new(&mut conn)
            .run_migrations()
            .map_err(|e| format!("cannot create the OpenMLS tables: {e}"))?;
        // Not Send + Sync by itself: see `SharedConn` for why sharing it is sound here.
        #[allow(clippy::arc_with_non_send_sync)]
        let conn = Arc::new(conn);
        let storage = SqliteStorageProvider::<JsonCodec, SharedConn>::new(SharedConn(conn.clone()));
        Ok(Self { crypto: RustCrypto::default(), storage, conn: SharedConn(conn) })
    }

    fn exec(&self, sql: &str) -> Result<(), String> {
        self.conn.0.execute_batch(sql).map_err(|e| format!("{sql}: {e}"))
    }
}

/// Rolls back an open transaction unless it was committed (also during a panic unwind).
struct TxGuard<'a> {
    backend: &'a Backend,
    done: bool,
}

impl Drop for TxGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.backend.exec("ROLLBACK");
        }
    }
}

pub struct Shared {
    backend: Mutex<Backend>,
    path: Option<String>,
}

/// RustCrypto crypto + storage. Storage is an SQLite database: in memory by default,
/// a file when ``path`` is given (then groups survive process restarts).
#[pyclass(frozen, module = "openmls._openmls")]
#[derive(Clone)]
pub struct Provider {
    pub shared: Arc<Shared>,
}

impl Provider {
    pub fn lock(&self) -> MutexGuard<'_, Backend> {
        // A poisoned lock only means a panic was caught mid-operation; the transaction
        // guard rolled the database back, so the backend is still consistent.
        self.shared.backend.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one SQLite transaction: committed if `f` succeeds, rolled back otherwise.
    pub fn transaction<T>(&self, f: impl FnOnce(&Backend) -> Res<T>) -> Res<T> {
        let backend = self.lock();
        backend
            .exec("BEGIN IMMEDIATE")
            .map_err(|e| StorageError::new_err(format!("cannot start a transaction: {e}")))?;
        let mut tx = TxGuard { backend: &backend, done: false };
        // A panic becomes an error here, so callers roll back and restore their state.
        let result = guard("operation", || f(&backend));
        if result.is_ok() {
            backend
                .exec("COMMIT")
                .map_err(|e| StorageError::new_err(format!("cannot commit the transaction: {e}")))?;
            tx.done = true;
        }
        drop(tx);
        result
    }

    pub fn same_as(&self, other: &Provider) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// A process-wide crypto provider for work that needs no storage (signing, hashing).
pub fn crypto() -> &'static RustCrypto {
    static CRYPTO: OnceLock<RustCrypto> = OnceLock::new();
    CRYPTO.get_or_init(RustCrypto::default)
}

#[pymethods]
impl Provider {
    /// Open (creating if needed) the storage. ``None`` = private in-memory database.
    #[new]
    #[pyo3(signature = (path=None))]
    fn py_new(py: Python<'_>, path: Option<std::path::PathBuf>) -> PyResult<Self> {
        guard("Provider()", || {
            let path = path.map(|p| p.to_string_lossy().into_owned());
            let backend = py
                .allow_threads(|| Backend::open(path.as_deref()))
                .map_err(StorageError::new_err)?;
            Ok(Provider { shared: Arc::new(Shared { backend: Mutex::new(backend), path }) })
        })
    }

    /// The SQLite file path, or ``None`` for an in-memory provider.
    #[getter]
    fn path(&self) -> Option<String> {
        self.shared.path.clone()
    }

    /// Ciphersuite code points the crypto provider supports (1, 2, 3).
    fn supported_ciphersuites(&self) -> Vec<u16> {
        use openmls_traits::crypto::OpenMlsCrypto;
        crypto().supported_ciphersuites().into_iter().map(u16::from).collect()
    }

    fn __repr__(&self) -> String {
        match &self.shared.path {
            Some(p) => format!("Provider({p:?})"),
            None => "Provider(<memory>)".to_string(),
        }
    }
}
