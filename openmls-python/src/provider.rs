//! `Provider`: crypto (RustCrypto, P-256 signatures by `ring`: see crypto.rs) + storage
//! (in memory, or an SQLite file), behind one mutex.
//!
//! Every binding operation runs as one transaction ([`Provider::transaction`]): an SQLite
//! transaction for a file, an undo journal for memory. A crash or an error mid-way never
//! leaves half an epoch in storage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use openmls_rust_crypto::RustCrypto;
use openmls_traits::OpenMlsProvider;
use pyo3::prelude::*;

use crate::crypto::Crypto;
use crate::errors::{guard, Res, StorageError};
use crate::group::{load_group_state, GroupState};
pub use crate::storage::Storage;

/// What OpenMLS sees as its provider.
pub struct Backend {
    crypto: Crypto,
    storage: Storage,
}

impl OpenMlsProvider for Backend {
    type CryptoProvider = Crypto;
    type RandProvider = RustCrypto;
    type StorageProvider = Storage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        self.crypto.rust_crypto()
    }
}

impl Backend {
    /// Memory storage without a path, else the SQLite file (see [`Storage::open`]).
    pub fn open(path: Option<&str>) -> Result<Self, String> {
        Ok(Self { crypto: Crypto::default(), storage: Storage::open(path)? })
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
    /// The in-memory state of every group that a live `Group` object holds, by group id:
    /// all objects for one group share it, so none works on a stale copy (which would
    /// also overwrite the newer stored state). Lock order: this map, then a group's
    /// state, then the backend; never held with the GIL.
    groups: Mutex<HashMap<Vec<u8>, Weak<Mutex<GroupState>>>>,
}

/// Crypto + storage: in memory by default, an SQLite file when ``path`` is
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

    fn groups(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Weak<Mutex<GroupState>>>> {
        self.shared.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The shared state for a group just created or joined. If objects for this group id
    /// are still alive (a re-join replaced the stored group), they see the new state too.
    pub fn adopt_group(&self, state: GroupState) -> Arc<Mutex<GroupState>> {
        let gid = state.group.group_id().as_slice().to_vec();
        let mut groups = self.groups();
        groups.retain(|_, w| w.strong_count() > 0);
        if let Some(live) = groups.get(&gid).and_then(Weak::upgrade) {
            *live.lock().unwrap_or_else(|e| e.into_inner()) = state;
            return live;
        }
        let shared = Arc::new(Mutex::new(state));
        groups.insert(gid, Arc::downgrade(&shared));
        shared
    }

    /// The shared state of a stored group: the live one if a `Group` object holds it,
    /// else loaded from storage.
    pub fn load_group(&self, group_id: &[u8], what: &str) -> Res<Arc<Mutex<GroupState>>> {
        let mut groups = self.groups();
        if let Some(live) = groups.get(group_id).and_then(Weak::upgrade) {
            return Ok(live);
        }
        let shared = Arc::new(Mutex::new(load_group_state(&self.lock(), group_id, what)?));
        groups.insert(group_id.to_vec(), Arc::downgrade(&shared));
        Ok(shared)
    }

    /// Forgets a deleted group's shared state (a later load reads storage again).
    pub fn forget_group(&self, group_id: &[u8]) {
        self.groups().remove(group_id);
    }

    pub fn same_as(&self, other: &Provider) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// A process-wide crypto provider for work that needs no storage (signing, hashing).
pub fn crypto() -> &'static Crypto {
    static CRYPTO: OnceLock<Crypto> = OnceLock::new();
    CRYPTO.get_or_init(Crypto::default)
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
            Ok(Provider {
                shared: Arc::new(Shared { backend: Mutex::new(backend), path, groups: Mutex::default() }),
            })
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

/// Testing only: stores ``signer`` inside a transaction, then panics, as an OpenMLS bug
/// would mid-operation. Shows the panic path end to end: `MlsError`, write undone.
#[pyfunction]
pub fn _panic_in_transaction(py: Python<'_>, provider: &Provider, signer: &crate::keys::SignatureKeyPair) -> PyResult<()> {
    py.allow_threads(|| {
        guard("_panic_in_transaction", || {
            provider.transaction(|b| {
                signer.keys.store(b.storage())?;
                panic!("deliberate panic for the test of the panic path")
            })
        })
    })
}
