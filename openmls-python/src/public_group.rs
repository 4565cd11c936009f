//! `PublicGroup`: the public state of a group, for the delivery service.

use std::sync::{Mutex, MutexGuard};

use openmls::prelude::tls_codec::Serialize as TlsSerialize;
use openmls::prelude::*;
use openmls_traits::OpenMlsProvider;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{self as err, guard, MlsError, Res, UnknownGroup, WrongEpoch};
use crate::group::required_credential_types;
use crate::inspection::{
    members_py, parse_group_info, parse_protocol_message, parse_ratchet_tree, LeafData, Member, ProposalData,
};
use crate::provider::{Backend, Provider};
use crate::staged::{CommitInfo, Owner, PyStagedCommit};

fn leaf(pg: &PublicGroup, i: u32) -> Option<LeafData> {
    pg.leaf(LeafNodeIndex::new(i)).map(|l| LeafData::from_leaf(Some(i), l))
}

/// The public state of a group: follows PublicMessage handshake messages without secrets.
#[pyclass(frozen, name = "PublicGroup", module = "openmls._openmls")]
pub struct PyPublicGroup {
    provider: Provider,
    state: Mutex<PublicGroup>,
    group_id: Vec<u8>,
}

enum Processed {
    Proposal(ProposalData),
    Commit(Box<StagedCommit>, CommitInfo),
}

impl PyPublicGroup {
    fn lock(&self) -> MutexGuard<'_, PublicGroup> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read<T: Send>(&self, py: Python<'_>, what: &str, f: impl FnOnce(&PublicGroup) -> Res<T> + Send) -> Res<T> {
        py.allow_threads(|| guard(what, || f(&self.lock())))
    }

    /// One storage transaction; on failure the in-memory state is reloaded from storage.
    fn write<T: Send>(
        &self,
        py: Python<'_>,
        what: &str,
        f: impl FnOnce(&mut PublicGroup, &Backend) -> Res<T> + Send,
    ) -> Res<T> {
        py.allow_threads(|| {
            guard(what, || {
                let mut pg = self.lock();
                let result = self.provider.transaction(|b| f(&mut pg, b));
                if result.is_err() {
                    let b = self.provider.lock();
                    if let Ok(Some(g)) = PublicGroup::load(b.storage(), &GroupId::from_slice(&self.group_id)) {
                        *pg = g;
                    }
                }
                result
            })
        })
    }
}

#[pymethods]
impl PyPublicGroup {
    /// Build from an MLSMessage(GroupInfo) and the ratchet tree; stored in the provider.
    #[staticmethod]
    #[pyo3(signature = (provider, group_info, *, ratchet_tree=None))]
    fn from_group_info(
        py: Python<'_>,
        provider: &Provider,
        group_info: &[u8],
        ratchet_tree: Option<Vec<u8>>,
    ) -> PyResult<Self> {
        let what = "PublicGroup.from_group_info";
        let pg = py.allow_threads(|| {
            guard(what, || {
                let vgi = parse_group_info(what, group_info)?;
                let tree: RatchetTreeIn = if let Some(t) = &ratchet_tree {
                    parse_ratchet_tree(what, t)?
                } else if let Some(ext) = vgi.extensions().ratchet_tree() {
                    ext.ratchet_tree().clone()
                } else {
                    return Err(err::InvalidMessage::new_err(format!(
                        "{what}: the GroupInfo has no ratchet_tree extension and no tree was given"
                    )));
                };
                provider.transaction(|b| {
                    let gid = vgi.group_id().clone();
                    // Replace any older public state of this group.
                    PublicGroup::delete(b.storage(), &gid).map_err(|e| err::storage(what, e))?;
                    let (pg, _) = PublicGroup::from_external(b.crypto(), b.storage(), tree, vgi, ProposalStore::new())
                        .map_err(|e| err::from_external(what, &e))?;
                    Ok(pg)
                })
            })
        })?;
        let group_id = pg.group_id().as_slice().to_vec();
        Ok(Self { provider: provider.clone(), state: Mutex::new(pg), group_id })
    }

    /// Load a stored public group. Raises ``UnknownGroup``.
    #[staticmethod]
    fn load(py: Python<'_>, provider: &Provider, group_id: Vec<u8>) -> PyResult<Self> {
        let what = "PublicGroup.load";
        let pg = py.allow_threads(|| {
            guard(what, || {
                let b = provider.lock();
                PublicGroup::load(b.storage(), &GroupId::from_slice(&group_id))
                    .map_err(|e| err::storage(what, e))?
                    .ok_or_else(|| UnknownGroup::new_err(format!("{what}: no public group with this id in storage")))
            })
        })?;
        Ok(Self { provider: provider.clone(), state: Mutex::new(pg), group_id })
    }

    /// The group id.
    #[getter]
    fn group_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.group_id)
    }

    /// The current epoch.
    #[getter]
    fn epoch(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, "PublicGroup.epoch", |pg| Ok(pg.group_context().epoch().as_u64()))
    }

    /// The group's ciphersuite.
    #[getter]
    fn ciphersuite(&self, py: Python<'_>) -> PyResult<u16> {
        self.read(py, "PublicGroup.ciphersuite", |pg| Ok(u16::from(pg.ciphersuite())))
    }

    /// All current members, by leaf index.
    #[getter]
    fn members(&self, py: Python<'_>) -> PyResult<Vec<Py<Member>>> {
        let v = self.read(py, "PublicGroup.members", |pg| {
            Ok(pg.members().filter_map(|m| leaf(pg, m.index.u32())).collect::<Vec<_>>())
        })?;
        members_py(py, v)
    }

    /// Credential types of the RequiredCapabilities extension.
    #[getter]
    fn required_credential_types(&self, py: Python<'_>) -> PyResult<Vec<u16>> {
        self.read(py, "PublicGroup.required_credential_types", |pg| {
            Ok(required_credential_types(pg.group_context().extensions()))
        })
    }

    /// The member at leaf ``index``.
    fn member(&self, py: Python<'_>, index: u32) -> PyResult<Py<Member>> {
        let l = self.read(py, "PublicGroup.member", |pg| {
            leaf(pg, index).ok_or_else(|| MlsError::new_err(format!("PublicGroup.member: leaf {index} is blank")))
        })?;
        l.into_member(py)
    }

    /// Verify an incoming PublicMessage handshake message (proposals stored, commits staged).
    fn process_message(&self, py: Python<'_>, data: &[u8]) -> PyResult<PyObject> {
        let what = "PublicGroup.process_message";
        let msg = py.allow_threads(|| guard(what, || parse_protocol_message(what, data)))?;
        let gid = self.group_id.clone();
        let processed = self.write(py, what, |pg, b| {
            if msg.group_id().as_slice() != gid.as_slice() {
                return Err(err::InvalidMessage::new_err(format!("{what}: message is for another group")));
            }
            if !msg.is_handshake_message() {
                return Err(err::InvalidMessage::new_err(format!(
                    "{what}: application messages are opaque to a public group"
                )));
            }
            let current = pg.group_context().epoch().as_u64();
            if msg.epoch().as_u64() != current {
                return Err(WrongEpoch::new_err(format!(
                    "{what}: message for epoch {}, group is at epoch {current}",
                    msg.epoch().as_u64()
                )));
            }
            let pm = pg.process_message(b.crypto(), msg).map_err(|e| err::public_process(what, &e))?;
            let epoch = pm.epoch().as_u64();
            let sender = pm.sender().clone();
            match pm.into_content() {
                ProcessedMessageContent::ProposalMessage(q) | ProcessedMessageContent::ExternalJoinProposalMessage(q) => {
                    let data = ProposalData::new(&q, epoch, |i| leaf(pg, i))?;
                    pg.add_proposal(b.storage(), *q).map_err(|e| err::storage(what, e))?;
                    Ok(Processed::Proposal(data))
                }
                ProcessedMessageContent::StagedCommitMessage(sc) => {
                    let lookup = |i: u32| leaf(pg, i);
                    let info = CommitInfo::new(&sc, &sender, current, Some(&lookup), Owner::Public);
                    Ok(Processed::Commit(sc, info))
                }
                ProcessedMessageContent::ApplicationMessage(_) => Err(err::InvalidMessage::new_err(format!(
                    "{what}: application messages are opaque to a public group"
                ))),
            }
        })?;
        match processed {
            Processed::Proposal(p) => Ok(Py::new(py, p.into_py(py)?)?.into_any()),
            Processed::Commit(sc, info) => {
                Ok(Py::new(py, PyStagedCommit::new(*sc, info, self.group_id.clone(), None))?.into_any())
            }
        }
    }

    /// Apply a commit returned by ``process_message`` and store the new state.
    fn merge_staged_commit(&self, py: Python<'_>, staged: &PyStagedCommit) -> PyResult<()> {
        let what = "PublicGroup.merge_staged_commit";
        self.write(py, what, |pg, b| {
            let sc = staged.take_for(Owner::Public, &self.group_id, pg.group_context().epoch().as_u64(), what)?;
            pg.merge_commit(b.storage(), sc).map_err(|e| err::merge(what, &e))
        })
    }

    /// TLS-serialised ratchet tree.
    fn export_ratchet_tree<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let what = "PublicGroup.export_ratchet_tree";
        let t = self.read(py, what, |pg| {
            pg.export_ratchet_tree()
                .tls_serialize_detached()
                .map_err(|e| err::other(what, e))
        })?;
        Ok(PyBytes::new(py, &t))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let epoch = self.read(py, "repr", |pg| Ok(pg.group_context().epoch().as_u64())).unwrap_or(0);
        format!("PublicGroup(epoch={epoch})")
    }
}
