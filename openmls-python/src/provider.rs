//! `Provider`: RustCrypto + storage (in memory, or an SQLite file), behind one mutex.
//!
//! Every binding operation runs as one transaction ([`Provider::transaction`]): an SQLite
//! transaction for a file, an undo journal for memory. A crash or an error mid-way never
//! leaves half an epoch in storage.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use openmls_rust_crypto::RustCrypto;
use openmls_traits::OpenMlsProvider;
use pyo3::prelude::*;

use crate::errors::{guard, Res, StorageError};
pub use crate::storage::Storage;

/// What OpenMLS sees as its provider.
pub struct Backend {
    crypto: RustCrypto,
    storage: Storage,
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
    /// Memory storage without a path, else the SQLite file (see [`Storage::open`]).
    pub fn open(path: Option<&str>) -> Result<Self, String> {
        Ok(Self { crypto: RustCrypto::default(), storage: Storage::open(path)? })
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
            self.backend.storage.rollback();
        }
    }
}

pub struct Shared {
    backend: Mutex<Backend>,
    path: Option<String>,
}

/// RustCrypto crypto + storage: in memory by default, an SQLite file when ``path`` is
/// given (then groups survive process restarts).
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

    /// Runs `f` in one transaction: committed if `f` succeeds, rolled back otherwise.
    pub fn transaction<T>(&self, f: impl FnOnce(&Backend) -> Res<T>) -> Res<T> {
        let backend = self.lock();
        backend
            .storage
            .begin()
            .map_err(|e| StorageError::new_err(format!("cannot start a transaction: {e}")))?;
        let mut tx = TxGuard { backend: &backend, done: false };
        // A panic becomes an error here, so callers roll back and restore their state.
        let result = guard("operation", || f(&backend));
        if result.is_ok() {
            backend
                .storage
                .commit()
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
    /// Open (creating if needed) the storage. ``None`` = private, in memory.
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
