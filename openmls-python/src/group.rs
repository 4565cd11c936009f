//! `Group`: an MLS group this member belongs to (OpenMLS `MlsGroup` + its signer).
//!
//! Locking: a group's state mutex is taken before the provider's mutex, never the other
//! way round, and both are only taken inside `allow_threads` (the GIL is never held while
//! waiting for them, so a thread blocked on a lock cannot stall one that holds it).

use std::sync::{Arc, Mutex, MutexGuard};

use openmls::prelude::tls_codec::Serialize as TlsSerialize;
use openmls::prelude::*;
use openmls_traits::storage::StorageProvider as _;
use openmls_traits::OpenMlsProvider;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::credential::{PyCapabilities, PyCredential};
use crate::errors::{self as err, guard, InactiveGroup, MlsError, PendingCommit, Res, UnknownGroup, WrongEpoch};
use crate::inspection::{
    leaves_from_tree, members_py, parse_group_info, parse_protocol_message, parse_ratchet_tree, ApplicationMessage,
    CommitBundle, LeafData, Member, ProposalData,
};
use crate::key_package::{leaf_extensions, PyKeyPackage};
use crate::keys::{scheme_for_ciphersuite, KeyMaterial, SignatureKeyPair};
use crate::provider::{crypto, Backend, Provider};
use crate::staged::{CommitInfo, ExternalJoin, Owner, PyStagedCommit};

/// Handshake messages go out as PublicMessage (so the delivery service can follow the
/// group); application messages are always PrivateMessage in OpenMLS. Incoming
/// handshake messages must be PublicMessage unless the caller allows PrivateMessage.
pub fn wire_format_policy(accept_private_handshake: bool) -> WireFormatPolicy {
    if accept_private_handshake {
        MIXED_PLAINTEXT_WIRE_FORMAT_POLICY
    } else {
        PURE_PLAINTEXT_WIRE_FORMAT_POLICY
    }
}

pub fn join_config(max_past_epochs: usize, accept_private_handshake: bool) -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(wire_format_policy(accept_private_handshake))
        .max_past_epochs(max_past_epochs)
        .use_ratchet_tree_extension(true)
        .build()
}

pub fn required_credential_types(ext: &Extensions<GroupContext>) -> Vec<u16> {
    ext.required_capabilities()
        .map(|r| r.credential_types().iter().map(|c| u16::from(*c)).collect())
        .unwrap_or_default()
}

pub struct GroupState {
    pub group: MlsGroup,
    pub signer: Arc<KeyMaterial>,
    /// A new signer from `self_update(signer=...)`, current once that commit is merged.
    pub pending_signer: Option<Arc<KeyMaterial>>,
    /// Full leaves by leaf index for one epoch (the tree only changes when the epoch does).
    pub leaf_cache: Option<(u64, Arc<Vec<Option<LeafData>>>)>,
}

impl GroupState {
    /// After a merge: switch to the pending signer if our leaf now carries its key.
    fn settle_signer(&mut self) {
        if let (Some(p), Some(leaf)) = (&self.pending_signer, self.group.own_leaf_node()) {
            if leaf.signature_key().as_slice() == p.public.as_slice() {
                self.signer = p.clone();
            }
        }
        self.pending_signer = None;
    }

    fn check_can_commit(&self, what: &str) -> Res<()> {
        if !self.group.is_active() {
            return Err(InactiveGroup::new_err(format!("{what}: this member is no longer in the group")));
        }
        if self.group.pending_commit().is_some() {
            return Err(PendingCommit::new_err(format!(
                "{what}: a commit of this member is pending; merge or clear it first"
            )));
        }
        Ok(())
    }

    pub fn new(group: MlsGroup, signer: Arc<KeyMaterial>) -> Self {
        Self { group, signer, pending_signer: None, leaf_cache: None }
    }

    /// All leaves (blank ones as `None`), computed once per epoch.
    pub fn leaves(&mut self) -> Res<Arc<Vec<Option<LeafData>>>> {
        let epoch = self.group.epoch().as_u64();
        if let Some((e, l)) = &self.leaf_cache {
            if *e == epoch {
                return Ok(l.clone());
            }
        }
        let l = Arc::new(leaves_from_tree(&self.group.export_ratchet_tree(), "group leaves")?);
        self.leaf_cache = Some((epoch, l.clone()));
        Ok(l)
    }

    pub fn leaf(&mut self, index: u32) -> Res<Option<LeafData>> {
        Ok(self.leaves()?.get(index as usize).cloned().flatten())
    }
}

pub fn load_group_state(b: &Backend, group_id: &[u8], what: &str) -> Res<GroupState> {
    let gid = GroupId::from_slice(group_id);
    let group = MlsGroup::load(b.storage(), &gid)
        .map_err(|e| err::storage(what, e))?
        .ok_or_else(|| UnknownGroup::new_err(format!("{what}: no group with this id in storage")))?;
    let Some(own_key) = group.own_leaf_node().map(|l| l.signature_key().as_slice().to_vec()) else {
        if group.is_active() {
            return Err(MlsError::new_err(format!("{what}: stored group has no own leaf")));
        }
        // Removed from the group: it can still be loaded (and inspected or deleted), but
        // every operation that would sign refuses an inactive group first.
        let scheme = group.ciphersuite().signature_algorithm();
        return Ok(GroupState::new(group, Arc::new(KeyMaterial::new(scheme, vec![], vec![]))));
    };
    let signer = KeyMaterial::load(b.storage(), &own_key)?.ok_or_else(|| {
        err::StorageError::new_err(format!("{what}: the group's signature key pair is not in storage"))
    })?;
    let mut pending_signer = None;
    if let Some(leaf) = group.pending_commit().and_then(|c| c.update_path_leaf_node()) {
        if leaf.signature_key().as_slice() != own_key.as_slice() {
            pending_signer = KeyMaterial::load(b.storage(), leaf.signature_key().as_slice())?.map(Arc::new);
        }
    }
    let mut st = GroupState::new(group, Arc::new(signer));
    st.pending_signer = pending_signer;
    Ok(st)
}

fn ser(what: &str, m: &impl TlsSerialize) -> Res<Vec<u8>> {
    m.tls_serialize_detached().map_err(|e| MlsError::new_err(format!("{what}: serialisation failed: {e:?}")))
}

/// What `process_message` produced, as plain data (converted to Python with the GIL).
enum Processed {
    App { sender: LeafData, data: Vec<u8>, epoch: u64, aad: Vec<u8> },
    Proposal(ProposalData),
    Commit(Box<StagedCommit>, CommitInfo),
}

/// An MLS group this member belongs to. State lives in the provider's storage.
#[pyclass(frozen, name = "Group", module = "openmls._openmls")]
pub struct PyGroup {
    pub provider: Provider,
    pub state: Arc<Mutex<GroupState>>,
    pub group_id: Vec<u8>,
}

impl PyGroup {
    /// A `Group` object for a group just created or joined (see [`Provider::adopt_group`]).
    pub fn new(py: Python<'_>, provider: Provider, state: GroupState) -> Self {
        let group_id = state.group.group_id().as_slice().to_vec();
        let state = py.allow_threads(|| provider.adopt_group(state));
        Self { provider, state, group_id }
    }

    fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads state without the GIL.
    fn read<T: Send>(&self, py: Python<'_>, what: &str, f: impl FnOnce(&mut GroupState) -> Res<T> + Send) -> Res<T> {
        py.allow_threads(|| guard(what, || f(&mut self.lock())))
    }

    /// Runs a state-changing operation in one storage transaction, without the GIL. On
    /// failure the storage is rolled back and the in-memory group reloaded from it, so
    /// memory and storage never disagree.
    fn write<T: Send>(
        &self,
        py: Python<'_>,
        what: &str,
        f: impl FnOnce(&mut GroupState, &Backend) -> Res<T> + Send,
    ) -> Res<T> {
        py.allow_threads(|| {
            guard(what, || {
                let mut st = self.lock();
                let result = self.provider.transaction(|b| f(&mut st, b));
                if result.is_err() {
                    let b = self.provider.lock();
                    if let Ok(Some(g)) = MlsGroup::load(b.storage(), &GroupId::from_slice(&self.group_id)) {
                        st.group = g;
                    }
                }
                result
            })
        })
    }

    /// Builds, stages and serialises a commit (pending until merged).
    #[allow(clippy::too_many_arguments)]
    fn commit(
        st: &mut GroupState,
        b: &Backend,
        what: &str,
        adds: Vec<KeyPackage>,
        removes: Vec<LeafNodeIndex>,
        force_self_update: bool,
        leaf_params: Option<LeafNodeParameters>,
        new_signer: Option<(Arc<KeyMaterial>, CredentialWithKey)>,
    ) -> Res<CommitBundle> {
        st.check_can_commit(what)?;
        let signer = st.signer.clone();
        let mut builder = st
            .group
            .commit_builder()
            .propose_adds(adds)
            .propose_removals(removes)
            .consume_proposal_store(true)
            .force_self_update(force_self_update);
        if let Some(p) = leaf_params {
            builder = builder.leaf_node_parameters(p);
        }
        let builder = builder
            .load_psks(b.storage())
            .map_err(|e| err::create_commit(what, &e))?
            .create_group_info(true);
        let built = match &new_signer {
            None => builder.build(b.rand(), b.crypto(), signer.as_ref(), |_| true),
            Some((ns, cwk)) => builder.build_with_new_signer(
                b.rand(),
                b.crypto(),
                signer.as_ref(),
                NewSignerBundle { signer: ns.as_ref(), credential_with_key: cwk.clone() },
                |_| true,
            ),
        }
        .map_err(|e| err::create_commit(what, &e))?;
        let bundle = built.stage_commit(b).map_err(|e| err::stage(what, &e))?;
        if let Some((ns, _)) = new_signer {
            st.pending_signer = Some(ns);
        }
        CommitBundle::from_bundle(bundle)
    }
}

#[pymethods]
impl PyGroup {
    /// Create a one-member group (see the .pyi for every option).
    #[staticmethod]
    #[pyo3(signature = (provider, signer, credential, *, group_id=None, ciphersuite=2,
                        required_credential_types=vec![], max_past_epochs=2,
                        use_ratchet_tree_extension=true, capabilities=None, application_id=None,
                        lifetime_seconds=None, accept_private_handshake=false))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        provider: &Provider,
        signer: &SignatureKeyPair,
        credential: &PyCredential,
        group_id: Option<Vec<u8>>,
        ciphersuite: u16,
        required_credential_types: Vec<u16>,
        max_past_epochs: usize,
        use_ratchet_tree_extension: bool,
        capabilities: Option<PyCapabilities>,
        application_id: Option<Vec<u8>>,
        lifetime_seconds: Option<u64>,
        accept_private_handshake: bool,
    ) -> PyResult<Self> {
        let state = py.allow_threads(|| {
            guard("Group.create", || {
                let what = "Group.create";
                let (cs, scheme) = scheme_for_ciphersuite(ciphersuite)?;
                if signer.keys.scheme() != scheme {
                    return Err(err::InvalidCredential::new_err(format!(
                        "{what}: signer scheme 0x{:04x} does not match ciphersuite 0x{ciphersuite:04x}",
                        signer.keys.scheme
                    )));
                }
                let caps = capabilities.unwrap_or_else(PyCapabilities::default_caps);
                caps.require_credential_type(credential.credential_type, what)?;
                let caps = caps.to_openmls()?;
                let mut builder = MlsGroup::builder()
                    .ciphersuite(cs)
                    .with_wire_format_policy(wire_format_policy(accept_private_handshake))
                    .max_past_epochs(max_past_epochs)
                    .use_ratchet_tree_extension(use_ratchet_tree_extension)
                    .with_capabilities(caps)
                    .with_leaf_node_extensions(leaf_extensions(application_id.as_deref())?)
                    .map_err(|e| err::leaf_validation(what, &e))?;
                if !required_credential_types.is_empty() {
                    let types: Vec<CredentialType> =
                        required_credential_types.iter().map(|t| CredentialType::from(*t)).collect();
                    let ext = Extensions::single(Extension::RequiredCapabilities(
                        RequiredCapabilitiesExtension::new(&[], &[], &types),
                    ))
                    .map_err(|e| err::other(what, e))?;
                    builder = builder.with_group_context_extensions(ext);
                }
                if let Some(gid) = group_id {
                    builder = builder.with_group_id(GroupId::from_slice(&gid));
                }
                if let Some(secs) = lifetime_seconds {
                    builder = builder.lifetime(Lifetime::new(secs));
                }
                let cwk = CredentialWithKey {
                    credential: credential.to_openmls(),
                    signature_key: signer.keys.public.clone().into(),
                };
                provider.transaction(|b| {
                    signer.keys.ensure_stored(b.storage())?;
                    let group = builder.build(b, signer.keys.as_ref(), cwk).map_err(|e| match e {
                        NewGroupError::GroupAlreadyExists => {
                            MlsError::new_err(format!("{what}: a group with this id already exists in storage"))
                        }
                        NewGroupError::StorageError(s) => err::storage(what, s),
                        other => err::InvalidCredential::new_err(format!("{what}: {other:?}")),
                    })?;
                    Ok(GroupState::new(group, signer.keys.clone()))
                })
            })
        })?;
        Ok(Self::new(py, provider.clone(), state))
    }

    /// Load a stored group (and its signer). Raises ``UnknownGroup``.
    #[staticmethod]
    fn load(py: Python<'_>, provider: &Provider, group_id: Vec<u8>) -> PyResult<Self> {
        let state = py.allow_threads(|| guard("Group.load", || provider.load_group(&group_id, "Group.load")))?;
        Ok(Self { provider: provider.clone(), state, group_id })
    }

    /// Stage a join by external commit (inspect, then ``accept()``).
    #[staticmethod]
    #[pyo3(signature = (provider, signer, credential, group_info, *, ratchet_tree=None,
                        application_id=None, capabilities=None, max_past_epochs=2,
                        accept_private_handshake=false))]
    #[allow(clippy::too_many_arguments)]
    fn join_by_external_commit(
        py: Python<'_>,
        provider: &Provider,
        signer: &SignatureKeyPair,
        credential: &PyCredential,
        group_info: &[u8],
        ratchet_tree: Option<Vec<u8>>,
        application_id: Option<Vec<u8>>,
        capabilities: Option<PyCapabilities>,
        max_past_epochs: usize,
        accept_private_handshake: bool,
    ) -> PyResult<ExternalJoin> {
        let what = "Group.join_by_external_commit";
        let vgi = guard(what, || parse_group_info(what, group_info))?;
        let tree = match ratchet_tree {
            Some(t) => Some(guard(what, || parse_ratchet_tree(what, &t))?),
            None => None,
        };
        let capabilities = capabilities.unwrap_or_else(PyCapabilities::default_caps);
        capabilities.require_credential_type(credential.credential_type, what)?;
        ExternalJoin::stage(
            py,
            provider.clone(),
            signer.keys.clone(),
            credential.to_openmls(),
            vgi,
            tree,
            application_id,
            capabilities,
            join_config(max_past_epochs, accept_private_handshake),
        )
    }

    /// The group id.
    #[getter]
    fn group_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.group_id)
    }

    /// The current epoch.
    #[getter]
    fn epoch(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, "Group.epoch", |st| Ok(st.group.epoch().as_u64()))
    }

    /// The group's ciphersuite.
    #[getter]
    fn ciphersuite(&self, py: Python<'_>) -> PyResult<u16> {
        self.read(py, "Group.ciphersuite", |st| Ok(u16::from(st.group.ciphersuite())))
    }

    /// This member's leaf index.
    #[getter]
    fn own_index(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, "Group.own_index", |st| Ok(st.group.own_leaf_index().u32()))
    }

    /// This member's leaf.
    #[getter]
    fn own_leaf(&self, py: Python<'_>) -> PyResult<Py<Member>> {
        let leaf = self.read(py, "Group.own_leaf", |st| {
            let own = st.group.own_leaf_index().u32();
            st.leaf(own)?.ok_or_else(|| MlsError::new_err("Group.own_leaf: own leaf is blank"))
        })?;
        leaf.into_member(py)
    }

    /// All current members, by leaf index.
    #[getter]
    fn members(&self, py: Python<'_>) -> PyResult<Vec<Py<Member>>> {
        let v = self.read(py, "Group.members", |st| {
            Ok(st.leaves()?.iter().flatten().cloned().collect::<Vec<_>>())
        })?;
        members_py(py, v)
    }

    /// The member at leaf ``index``.
    fn member(&self, py: Python<'_>, index: u32) -> PyResult<Py<Member>> {
        let leaf = self.read(py, "Group.member", |st| {
            st.leaf(index)?
                .ok_or_else(|| MlsError::new_err(format!("Group.member: leaf {index} is blank or out of range")))
        })?;
        leaf.into_member(py)
    }

    /// False once this member has been removed.
    #[getter]
    fn is_active(&self, py: Python<'_>) -> PyResult<bool> {
        self.read(py, "Group.is_active", |st| Ok(st.group.is_active()))
    }

    /// True while this member's own commit awaits merge/clear.
    #[getter]
    fn has_pending_commit(&self, py: Python<'_>) -> PyResult<bool> {
        self.read(py, "Group.has_pending_commit", |st| Ok(st.group.pending_commit().is_some()))
    }

    /// True if proposals are stored for the next commit.
    #[getter]
    fn has_pending_proposals(&self, py: Python<'_>) -> PyResult<bool> {
        self.read(py, "Group.has_pending_proposals", |st| Ok(st.group.has_pending_proposals()))
    }

    /// How many past epochs' application messages can still be decrypted.
    #[getter]
    fn max_past_epochs(&self, py: Python<'_>) -> PyResult<usize> {
        self.read(py, "Group.max_past_epochs", |st| {
            // OpenMLS keeps the field crate-private; its serde form is public.
            let v = serde_json::to_value(st.group.configuration()).map_err(|e| err::other("config", e))?;
            Ok(v.get("max_past_epochs").and_then(|x| x.as_u64()).unwrap_or(0) as usize)
        })
    }

    /// Credential types of the RequiredCapabilities extension.
    #[getter]
    fn required_credential_types(&self, py: Python<'_>) -> PyResult<Vec<u16>> {
        self.read(py, "Group.required_credential_types", |st| Ok(required_credential_types(st.group.extensions())))
    }

    /// This member's current signature key.
    #[getter]
    fn signature_public_key<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let k = self.read(py, "Group.signature_public_key", |st| Ok(st.signer.public.clone()))?;
        Ok(PyBytes::new(py, &k))
    }

    /// Commit adding these members (pending until merged).
    fn add_members(&self, py: Python<'_>, key_packages: Vec<PyKeyPackage>) -> PyResult<CommitBundle> {
        let what = "Group.add_members";
        if key_packages.is_empty() {
            return Err(MlsError::new_err(format!("{what}: no KeyPackages given")));
        }
        let kps: Vec<KeyPackage> = key_packages.into_iter().map(|k| k.kp).collect();
        self.write(py, what, |st, b| Self::commit(st, b, what, kps, vec![], false, None, None))
    }

    /// Commit removing these leaves (pending until merged).
    fn remove_members(&self, py: Python<'_>, leaf_indices: Vec<u32>) -> PyResult<CommitBundle> {
        let what = "Group.remove_members";
        if leaf_indices.is_empty() {
            return Err(MlsError::new_err(format!("{what}: no leaf indices given")));
        }
        self.write(py, what, |st, b| {
            for i in &leaf_indices {
                if st.group.member_at(LeafNodeIndex::new(*i)).is_none() {
                    return Err(MlsError::new_err(format!("{what}: leaf {i} is not a member")));
                }
            }
            let removes = leaf_indices.iter().map(|i| LeafNodeIndex::new(*i)).collect();
            Self::commit(st, b, what, vec![], removes, false, None, None)
        })
    }

    /// Commit with an update path; optionally a new credential and/or signer.
    #[pyo3(signature = (*, credential=None, signer=None, application_id=None))]
    fn self_update(
        &self,
        py: Python<'_>,
        credential: Option<PyCredential>,
        signer: Option<SignatureKeyPair>,
        application_id: Option<Vec<u8>>,
    ) -> PyResult<CommitBundle> {
        let what = "Group.self_update";
        self.write(py, what, |st, b| {
            st.check_can_commit(what)?;
            let current = st
                .group
                .own_leaf_node()
                .ok_or_else(|| MlsError::new_err(format!("{what}: own leaf is blank")))?
                .clone();
            if let Some(c) = &credential {
                PyCapabilities::from_openmls(current.capabilities())
                    .require_credential_type(c.credential_type, what)?;
            }
            let mut params = LeafNodeParameters::builder();
            if let Some(id) = &application_id {
                params = params.with_extensions(leaf_extensions(Some(id))?);
            }
            match signer {
                None => {
                    if let Some(c) = &credential {
                        params = params.with_credential_with_key(CredentialWithKey {
                            credential: c.to_openmls(),
                            signature_key: current.signature_key().clone(),
                        });
                    }
                    Self::commit(st, b, what, vec![], vec![], true, Some(params.build()), None)
                }
                Some(ns) => {
                    if ns.keys.scheme() != st.signer.scheme() {
                        return Err(err::InvalidCredential::new_err(format!(
                            "{what}: new signer's scheme does not match the group's"
                        )));
                    }
                    ns.keys.store(b.storage())?;
                    let cwk = CredentialWithKey {
                        credential: credential.map(|c| c.to_openmls()).unwrap_or_else(|| current.credential().clone()),
                        signature_key: ns.keys.public.clone().into(),
                    };
                    Self::commit(st, b, what, vec![], vec![], true, Some(params.build()), Some((ns.keys.clone(), cwk)))
                }
            }
        })
    }

    /// A Remove proposal for this member (MLSMessage); another member commits it.
    fn leave<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let what = "Group.leave";
        let b = self.write(py, what, |st, b| {
            let signer = st.signer.clone();
            let msg = st.group.leave_group(b, signer.as_ref()).map_err(|e| match e {
                LeaveGroupError::GroupStateError(s) => err::state(what, &s),
                LeaveGroupError::StorageError(s) => err::storage(what, s),
                other => err::other(what, other),
            })?;
            ser(what, &msg)
        })?;
        Ok(PyBytes::new(py, &b))
    }

    /// Commit the stored proposals (pending until merged).
    fn commit_pending_proposals(&self, py: Python<'_>) -> PyResult<CommitBundle> {
        let what = "Group.commit_pending_proposals";
        self.write(py, what, |st, b| Self::commit(st, b, what, vec![], vec![], false, None, None))
    }

    /// Apply this member's own pending commit.
    fn merge_pending_commit(&self, py: Python<'_>) -> PyResult<()> {
        let what = "Group.merge_pending_commit";
        self.write(py, what, |st, b| {
            if st.group.pending_commit().is_none() {
                return Err(MlsError::new_err(format!("{what}: there is no pending commit")));
            }
            st.group.merge_pending_commit(b).map_err(|e| err::merge_pending(what, &e))?;
            st.settle_signer();
            Ok(())
        })
    }

    /// Discard this member's own pending commit.
    fn clear_pending_commit(&self, py: Python<'_>) -> PyResult<()> {
        let what = "Group.clear_pending_commit";
        self.write(py, what, |st, b| {
            st.group.clear_pending_commit(b.storage()).map_err(|e| err::storage(what, e))?;
            st.pending_signer = None;
            Ok(())
        })
    }

    /// Encrypt an application message (MLSMessage(PrivateMessage)).
    #[pyo3(signature = (data, *, authenticated_data=vec![]))]
    fn create_message<'py>(
        &self,
        py: Python<'py>,
        data: Vec<u8>,
        authenticated_data: Vec<u8>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let what = "Group.create_message";
        let out = self.write(py, what, |st, b| {
            st.check_can_commit(what)?;
            let signer = st.signer.clone();
            st.group.set_aad(authenticated_data);
            let msg = st.group.create_message(b, signer.as_ref(), &data).map_err(|e| match e {
                CreateMessageError::GroupStateError(s) => err::state(what, &s),
                other => err::other(what, other),
            })?;
            ser(what, &msg)
        })?;
        Ok(PyBytes::new(py, &out))
    }

    /// Decrypt/verify an incoming MLSMessage (proposals stored, commits staged).
    fn process_message(&self, py: Python<'_>, data: &[u8]) -> PyResult<PyObject> {
        let what = "Group.process_message";
        let msg = py.allow_threads(|| guard(what, || parse_protocol_message(what, data)))?;
        let gid = self.group_id.clone();
        let group = self.state.clone();
        let processed = self.write(py, what, |st, b| {
            if msg.group_id().as_slice() != gid.as_slice() {
                return Err(err::InvalidMessage::new_err(format!("{what}: message is for another group")));
            }
            let current = st.group.epoch().as_u64();
            let msg_epoch = msg.epoch().as_u64();
            if msg.is_handshake_message() && msg_epoch != current {
                return Err(WrongEpoch::new_err(format!(
                    "{what}: handshake message for epoch {msg_epoch}, group is at epoch {current}"
                )));
            }
            let pm = st.group.process_message(b, msg).map_err(|e| err::process(what, &e))?;
            let epoch = pm.epoch().as_u64();
            let sender = pm.sender().clone();
            let credential = pm.credential().clone();
            let aad = pm.aad().to_vec();
            match pm.into_content() {
                ProcessedMessageContent::ApplicationMessage(a) => {
                    let idx = match sender {
                        Sender::Member(i) => i.u32(),
                        _ => return Err(err::InvalidMessage::new_err(format!("{what}: non-member application message"))),
                    };
                    let member = st.group.member_at(LeafNodeIndex::new(idx)).ok_or_else(|| {
                        MlsError::new_err(format!("{what}: sender leaf {idx} no longer in the tree"))
                    })?;
                    let mut leaf = LeafData::lazy_member(&member, group.clone(), current);
                    leaf.credential = PyCredential::from_openmls(&credential);
                    Ok(Processed::App { sender: leaf, data: a.into_bytes(), epoch, aad })
                }
                ProcessedMessageContent::ProposalMessage(q)
                | ProcessedMessageContent::ExternalJoinProposalMessage(q) => {
                    let sender_leaf = match q.sender() {
                        Sender::Member(i) => st.leaf(i.u32())?,
                        _ => None,
                    };
                    let data = ProposalData::new(&q, epoch, |_| sender_leaf.clone())?;
                    st.group.store_pending_proposal(b.storage(), *q).map_err(|e| err::storage(what, e))?;
                    Ok(Processed::Proposal(data))
                }
                ProcessedMessageContent::StagedCommitMessage(sc) => {
                    let info = CommitInfo::new(&sc, &sender, current, None, Owner::Member);
                    Ok(Processed::Commit(sc, info))
                }
            }
        })?;
        match processed {
            Processed::App { sender, data, epoch, aad } => {
                let sender = sender.into_member(py)?;
                Ok(Py::new(py, ApplicationMessage { sender, data, epoch, aad })?.into_any())
            }
            Processed::Proposal(p) => Ok(Py::new(py, p.into_py(py)?)?.into_any()),
            Processed::Commit(sc, info) => {
                Ok(Py::new(py, PyStagedCommit::new(*sc, info, self.group_id.clone(), Some(self.state.clone())))?.into_any())
            }
        }
    }

    /// Merge a commit returned by this group's ``process_message``.
    fn merge_staged_commit(&self, py: Python<'_>, staged: &PyStagedCommit) -> PyResult<()> {
        let what = "Group.merge_staged_commit";
        self.write(py, what, |st, b| {
            let sc = staged.take_for(Owner::Member, &self.group_id, st.group.epoch().as_u64(), what)?;
            st.group.merge_staged_commit(b, sc).map_err(|e| err::merge(what, &e))?;
            st.settle_signer();
            Ok(())
        })
    }

    /// The current epoch authenticator (RFC 9420 §8.7).
    fn epoch_authenticator<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let a = self.read(py, "Group.epoch_authenticator", |st| Ok(st.group.epoch_authenticator().as_slice().to_vec()))?;
        Ok(PyBytes::new(py, &a))
    }

    /// MLS-Exporter(label, context, length) of the current epoch.
    fn export_secret<'py>(
        &self,
        py: Python<'py>,
        label: String,
        context: Vec<u8>,
        length: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let what = "Group.export_secret";
        let s = self.read(py, what, |st| {
            st.group.export_secret(crypto(), &label, &context, length).map_err(|e| match e {
                ExportSecretError::KeyLengthTooLong => MlsError::new_err(format!("{what}: length too long")),
                ExportSecretError::GroupStateError(s) => err::state(what, &s),
                other => err::other(what, other),
            })
        })?;
        Ok(PyBytes::new(py, &s))
    }

    /// TLS-serialised ratchet tree.
    fn export_ratchet_tree<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let what = "Group.export_ratchet_tree";
        let t = self.read(py, what, |st| ser(what, &st.group.export_ratchet_tree()))?;
        Ok(PyBytes::new(py, &t))
    }

    /// A signed MLSMessage(GroupInfo) of the current epoch, with external_pub.
    #[pyo3(signature = (*, with_ratchet_tree=true))]
    fn export_group_info<'py>(&self, py: Python<'py>, with_ratchet_tree: bool) -> PyResult<Bound<'py, PyBytes>> {
        let what = "Group.export_group_info";
        let g = self.read(py, what, |st| {
            if !st.group.is_active() {
                return Err(InactiveGroup::new_err(format!("{what}: this member is no longer in the group")));
            }
            let msg = st
                .group
                .export_group_info(crypto(), st.signer.as_ref(), with_ratchet_tree)
                .map_err(|e| match e {
                    ExportGroupInfoError::GroupStateError(s) => err::state(what, &s),
                    other => err::other(what, other),
                })?;
            ser(what, &msg)
        })?;
        Ok(PyBytes::new(py, &g))
    }

    /// Delete this group's state from the provider's storage (e.g. after being removed,
    /// before re-joining the same group id). The object is unusable afterwards.
    fn delete(&self, py: Python<'_>) -> PyResult<()> {
        let what = "Group.delete";
        self.write(py, what, |st, b| {
            st.group.delete(b.storage()).map_err(|e| err::storage(what, e))?;
            Ok(())
        })?;
        self.provider.forget_group(&self.group_id);
        Ok(())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let epoch = self.read(py, "repr", |st| Ok(st.group.epoch().as_u64())).unwrap_or(0);
        let gid: String = self.group_id.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("Group(id={gid}, epoch={epoch})")
    }
}

/// Deletes a stored group with this id, if any (used before a resync replaces it).
pub fn delete_stored_group(b: &Backend, gid: &GroupId, what: &str) -> Res<()> {
    if let Some(mut old) = MlsGroup::load(b.storage(), gid).map_err(|e| err::storage(what, e))? {
        old.delete(b.storage()).map_err(|e| err::storage(what, e))?;
    }
    // Proposals queued for the old group would otherwise leak into the new one.
    b.storage()
        .clear_proposal_queue::<GroupId, openmls::ciphersuite::hash_ref::ProposalRef>(gid)
        .map_err(|e| err::storage(what, e))?;
    Ok(())
}
