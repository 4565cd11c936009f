//! Inspection before acceptance: `StagedCommit`, `StagedWelcome`, `ExternalJoin`.
//!
//! None of these changes the group or the provider's storage until it is merged /
//! accepted; dropping one leaves everything as it was.

use std::sync::{Arc, Mutex, OnceLock};

use openmls::prelude::*;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls_traits::storage::StorageProvider as _;
use openmls_traits::OpenMlsProvider;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::credential::PyCapabilities;
use crate::errors::{self as err, guard, MlsError, Res, WrongEpoch};
use crate::group::{delete_stored_group, required_credential_types, GroupState, PyGroup};
use crate::inspection::{
    leaves_from_tree, leaves_py, members_py, parse_ratchet_tree, parse_welcome, CommitBundle, LeafData, Member,
};
use crate::key_package::leaf_extensions;
use crate::keys::KeyMaterial;
use crate::provider::{Backend, Provider};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Owner {
    Member,
    Public,
}

/// Everything Python can ask about a staged commit, extracted once as plain data.
pub struct CommitInfo {
    owner: Owner,
    epoch: u64,
    committer: Option<u32>,
    committer_leaf: Option<LeafData>,
    adds: Vec<LeafData>,
    updates: Vec<LeafData>,
    removes: Vec<u32>,
    removed_members: Vec<LeafData>,
    path_leaf: Option<LeafData>,
    self_removed: bool,
    psk_count: usize,
    is_external: bool,
    epoch_authenticator: Option<Vec<u8>>,
    lazy: bool,
}

fn sender_index(s: &Sender) -> Option<u32> {
    match s {
        Sender::Member(i) => Some(i.u32()),
        _ => None,
    }
}

impl CommitInfo {
    /// `leaf` looks up a leaf of the tree as it is BEFORE the commit; `None` = look the
    /// leaves up lazily in the group when Python asks (a member group's full leaves cost
    /// a pass over the tree, which processing alone must not pay).
    pub fn new(
        sc: &StagedCommit,
        sender: &Sender,
        epoch: u64,
        leaf: Option<&dyn Fn(u32) -> Option<LeafData>>,
        owner: Owner,
    ) -> Self {
        let committer = sender_index(sender);
        let removes: Vec<u32> = sc.remove_proposals().map(|r| r.remove_proposal().removed().u32()).collect();
        Self {
            owner,
            epoch,
            committer,
            committer_leaf: leaf.and_then(|f| committer.and_then(f)),
            adds: sc
                .add_proposals()
                .map(|a| LeafData::from_leaf(None, a.add_proposal().key_package().leaf_node()))
                .collect(),
            updates: sc
                .update_proposals()
                .map(|u| LeafData::from_leaf(sender_index(u.sender()), u.update_proposal().leaf_node()))
                .collect(),
            removed_members: leaf.map(|f| removes.iter().filter_map(|i| f(*i)).collect()).unwrap_or_default(),
            lazy: leaf.is_none(),
            removes,
            path_leaf: sc.update_path_leaf_node().map(|l| LeafData::from_leaf(committer, l)),
            // OpenMLS reports a public group's staged state as "self removed"; a public
            // group has no self.
            self_removed: owner == Owner::Member && sc.self_removed(),
            psk_count: sc.psk_proposals().count(),
            is_external: matches!(sender, Sender::NewMemberCommit),
            epoch_authenticator: sc.epoch_authenticator().map(|a| a.as_slice().to_vec()),
        }
    }
}

/// A validated commit, inspected BEFORE merging.
#[pyclass(frozen, name = "StagedCommit", module = "openmls._openmls")]
pub struct PyStagedCommit {
    inner: Mutex<Option<StagedCommit>>,
    info: CommitInfo,
    group_id: Vec<u8>,
    /// Where lazily looked-up leaves come from (member groups).
    group: Option<Arc<Mutex<GroupState>>>,
}

impl PyStagedCommit {
    pub fn new(sc: StagedCommit, info: CommitInfo, group_id: Vec<u8>, group: Option<Arc<Mutex<GroupState>>>) -> Self {
        Self { inner: Mutex::new(Some(sc)), info, group_id, group }
    }

    /// Leaves of the tree before the commit: eager ones, or looked up in the group while it
    /// is still at the commit's epoch.
    fn pre_commit_leaves(&self, indices: &[u32], what: &str) -> Res<Vec<LeafData>> {
        match (&self.group, self.info.lazy) {
            (Some(g), true) => {
                let mut st = g.lock().unwrap_or_else(|e| e.into_inner());
                if st.group.epoch().as_u64() != self.info.epoch {
                    return Err(WrongEpoch::new_err(format!(
                        "{what}: the group has left epoch {}; look leaves up before merging",
                        self.info.epoch
                    )));
                }
                let mut out = Vec::new();
                for i in indices {
                    if let Some(l) = st.leaf(*i)? {
                        out.push(l);
                    }
                }
                Ok(out)
            }
            _ => Err(MlsError::new_err(format!("{what}: no leaves recorded"))),
        }
    }

    /// Takes the OpenMLS staged commit for merging, after checking it belongs here.
    pub fn take_for(&self, owner: Owner, group_id: &[u8], epoch: u64, what: &str) -> Res<StagedCommit> {
        if owner != self.info.owner {
            return Err(MlsError::new_err(format!(
                "{what}: this commit was staged by a {}; merge it there",
                if self.info.owner == Owner::Member { "Group" } else { "PublicGroup" }
            )));
        }
        if group_id != self.group_id.as_slice() {
            return Err(MlsError::new_err(format!("{what}: the staged commit belongs to another group")));
        }
        if epoch != self.info.epoch {
            return Err(WrongEpoch::new_err(format!(
                "{what}: commit was staged at epoch {}, the group is now at epoch {epoch}",
                self.info.epoch
            )));
        }
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| MlsError::new_err(format!("{what}: this staged commit was already merged")))
    }
}

#[pymethods]
impl PyStagedCommit {
    /// The group the commit belongs to.
    #[getter]
    fn group_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.group_id)
    }

    /// The epoch the commit was made in.
    #[getter]
    fn epoch(&self) -> u64 {
        self.info.epoch
    }

    /// The epoch after merging.
    #[getter]
    fn new_epoch(&self) -> u64 {
        self.info.epoch + 1
    }

    /// Leaf index of the committer; ``None`` for an external commit.
    #[getter]
    fn committer(&self) -> Option<u32> {
        self.info.committer
    }

    /// The committer's current leaf (before the commit).
    #[getter]
    fn committer_leaf(&self, py: Python<'_>) -> PyResult<Option<Py<crate::inspection::LeafInfo>>> {
        let leaf = if self.info.lazy {
            match self.info.committer {
                Some(i) => py
                    .allow_threads(|| guard("StagedCommit.committer_leaf", || {
                        self.pre_commit_leaves(&[i], "StagedCommit.committer_leaf")
                    }))?
                    .pop(),
                None => None,
            }
        } else {
            self.info.committer_leaf.clone()
        };
        leaf.map(|l| l.into_leaf_info(py)).transpose()
    }

    /// The leaves added.
    #[getter]
    fn adds(&self, py: Python<'_>) -> PyResult<Vec<Py<crate::inspection::LeafInfo>>> {
        leaves_py(py, self.info.adds.clone())
    }

    /// Update proposals: the new leaf of each updating member.
    #[getter]
    fn updates(&self, py: Python<'_>) -> PyResult<Vec<Py<Member>>> {
        members_py(py, self.info.updates.clone())
    }

    /// Leaf indices removed.
    #[getter]
    fn removes(&self) -> Vec<u32> {
        self.info.removes.clone()
    }

    /// The removed members as they are now.
    #[getter]
    fn removed_members(&self, py: Python<'_>) -> PyResult<Vec<Py<Member>>> {
        let v = if self.info.lazy {
            py.allow_threads(|| {
                guard("StagedCommit.removed_members", || {
                    self.pre_commit_leaves(&self.info.removes, "StagedCommit.removed_members")
                })
            })?
        } else {
            self.info.removed_members.clone()
        };
        members_py(py, v)
    }

    /// The committer's new leaf from the update path, if any.
    #[getter]
    fn path_leaf(&self, py: Python<'_>) -> PyResult<Option<Py<crate::inspection::LeafInfo>>> {
        self.info.path_leaf.clone().map(|l| l.into_leaf_info(py)).transpose()
    }

    /// True if this commit removes the inspecting member.
    #[getter]
    fn self_removed(&self) -> bool {
        self.info.self_removed
    }

    /// Number of PSK proposals.
    #[getter]
    fn psk_count(&self) -> usize {
        self.info.psk_count
    }

    /// True for an external commit.
    #[getter]
    fn is_external(&self) -> bool {
        self.info.is_external
    }

    /// The new epoch's authenticator (``None`` when staged by a PublicGroup).
    #[getter]
    fn epoch_authenticator<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.info.epoch_authenticator.as_ref().map(|a| PyBytes::new(py, a))
    }

    fn __repr__(&self) -> String {
        format!(
            "StagedCommit(epoch={}, committer={:?}, adds={}, updates={}, removes={:?}, path={})",
            self.info.epoch,
            self.info.committer,
            self.info.adds.len(),
            self.info.updates.len(),
            self.info.removes,
            self.info.path_leaf.is_some()
        )
    }
}

struct WelcomeInfo {
    sender_index: u32,
    own_index: u32,
    group_id: Vec<u8>,
    epoch: u64,
    ciphersuite: u16,
    required: Vec<u16>,
}

struct PendingWelcome {
    staged: StagedWelcome,
    hash_ref: KeyPackageRef,
    last_resort: bool,
    replace_existing: bool,
}

/// The result of staging a Welcome: the OpenMLS object plus what inspection needs.
pub struct Staged {
    pub staged: StagedWelcome,
    pub hash_ref: KeyPackageRef,
    pub last_resort: bool,
    own_signature_key: Vec<u8>,
    tree: RatchetTreeIn,
}

/// A decrypted, validated Welcome, inspected BEFORE joining.
#[pyclass(frozen, name = "StagedWelcome", module = "openmls._openmls")]
pub struct PyStagedWelcome {
    provider: Provider,
    inner: Mutex<Option<PendingWelcome>>,
    info: WelcomeInfo,
    tree: RatchetTreeIn,
    leaves: OnceLock<Vec<LeafData>>,
}

/// Stages a Welcome; the KeyPackage bundle OpenMLS deletes while staging is written back,
/// so that only `accept()` consumes it.
pub fn stage_welcome(
    b: &Backend,
    welcome: Welcome,
    tree: Option<RatchetTreeIn>,
    config: &MlsGroupJoinConfig,
    skip_lifetime_validation: bool,
    replace_existing: bool,
    what: &str,
) -> Res<Staged> {
    let mut found = None;
    for egs in welcome.secrets() {
        if let Some(bundle) = b
            .storage()
            .key_package::<KeyPackageRef, KeyPackageBundle>(&egs.new_member())
            .map_err(|e| err::storage(what, e))?
        {
            found = Some((egs.new_member().clone(), bundle));
            break;
        }
    }
    let (hash_ref, bundle) = found.ok_or_else(|| {
        err::NoMatchingKeyPackage::new_err(format!("{what}: the Welcome is not for any of our KeyPackages"))
    })?;
    let result = (|| -> Res<(StagedWelcome, RatchetTreeIn)> {
        let mut builder =
            StagedWelcome::build_from_welcome(b, config, welcome).map_err(|e| err::welcome(what, &e))?;
        let used_tree = match builder.processed_welcome().unverified_group_info().extensions().ratchet_tree() {
            Some(ext) => Some(ext.ratchet_tree().clone()),
            None => tree.clone(),
        };
        if let Some(t) = tree {
            builder = builder.with_ratchet_tree(t);
        }
        if skip_lifetime_validation {
            builder = builder.skip_lifetime_validation();
        }
        if replace_existing {
            // Checked again (and the old group deleted) in accept().
            builder = builder.replace_old_group();
        }
        let staged = builder.build().map_err(|e| err::welcome(what, &e))?;
        // build() succeeded, so a tree was present.
        let used_tree = used_tree.ok_or_else(|| MlsError::new_err(format!("{what}: no ratchet tree")))?;
        Ok((staged, used_tree))
    })();
    // Restore the bundle whatever happened: a Welcome that was only inspected (or
    // failed) must not burn the KeyPackage.
    b.storage()
        .write_key_package(&hash_ref, &bundle)
        .map_err(|e| err::storage(what, e))?;
    let (staged, tree) = result?;
    Ok(Staged {
        staged,
        hash_ref,
        last_resort: bundle.key_package().last_resort(),
        own_signature_key: bundle.key_package().leaf_node().signature_key().as_slice().to_vec(),
        tree,
    })
}

pub fn accept_welcome(b: &Backend, staged: StagedWelcome, hash_ref: &KeyPackageRef, last_resort: bool, what: &str) -> Res<GroupState> {
    let group = staged.into_group(b).map_err(|e| err::welcome(what, &e))?;
    if !last_resort {
        b.storage()
            .delete_key_package(hash_ref)
            .map_err(|e| err::storage(what, e))?;
    }
    let own_key = group
        .own_leaf_node()
        .map(|l| l.signature_key().as_slice().to_vec())
        .ok_or_else(|| MlsError::new_err(format!("{what}: joined group has no own leaf")))?;
    let signer = KeyMaterial::load(b.storage(), &own_key)?.ok_or_else(|| {
        err::StorageError::new_err(format!(
            "{what}: the KeyPackage's signature key pair is not in storage (store the signer first)"
        ))
    })?;
    Ok(GroupState::new(group, Arc::new(signer)))
}

impl PyStagedWelcome {
    fn leaves(&self) -> PyResult<&Vec<LeafData>> {
        if let Some(l) = self.leaves.get() {
            return Ok(l);
        }
        let l = guard("StagedWelcome.members", || leaves_from_tree(&self.tree, "StagedWelcome.members"))?
            .into_iter()
            .flatten()
            .collect();
        Ok(self.leaves.get_or_init(|| l))
    }
}

#[pymethods]
impl PyStagedWelcome {
    /// Decrypt and validate ``welcome`` with a stored KeyPackage.
    #[staticmethod]
    #[pyo3(signature = (provider, welcome, *, ratchet_tree=None, max_past_epochs=2,
                        accept_private_handshake=false, replace_existing=false))]
    fn from_bytes(
        py: Python<'_>,
        provider: &Provider,
        welcome: &[u8],
        ratchet_tree: Option<Vec<u8>>,
        max_past_epochs: usize,
        accept_private_handshake: bool,
        replace_existing: bool,
    ) -> PyResult<Self> {
        let what = "StagedWelcome.from_bytes";
        let config = crate::group::join_config(max_past_epochs, accept_private_handshake);
        let (pending, info, tree) = py.allow_threads(|| {
            guard(what, || {
                let w = parse_welcome(what, welcome)?;
                let tree = ratchet_tree.map(|t| parse_ratchet_tree(what, &t)).transpose()?;
                let st = provider
                    .transaction(|b| stage_welcome(b, w, tree, &config, false, replace_existing, what))?;
                let ctx = st.staged.group_context();
                let own_index = st
                    .staged
                    .members()
                    .find(|m| m.signature_key == st.own_signature_key)
                    .map(|m| m.index.u32())
                    .ok_or_else(|| MlsError::new_err(format!("{what}: our leaf is not in the tree")))?;
                let info = WelcomeInfo {
                    sender_index: st.staged.welcome_sender_index().u32(),
                    own_index,
                    group_id: ctx.group_id().as_slice().to_vec(),
                    epoch: ctx.epoch().as_u64(),
                    ciphersuite: u16::from(ctx.ciphersuite()),
                    required: required_credential_types(ctx.extensions()),
                };
                let pending = PendingWelcome {
                    staged: st.staged,
                    hash_ref: st.hash_ref,
                    last_resort: st.last_resort,
                    replace_existing,
                };
                Ok((pending, info, st.tree))
            })
        })?;
        Ok(Self { provider: provider.clone(), inner: Mutex::new(Some(pending)), info, tree, leaves: OnceLock::new() })
    }

    /// The member that sent the Welcome.
    #[getter]
    fn sender(&self, py: Python<'_>) -> PyResult<Py<Member>> {
        let idx = self.info.sender_index;
        let leaf = py.allow_threads(|| {
            self.leaves()?
                .iter()
                .find(|l| l.index == Some(idx))
                .cloned()
                .ok_or_else(|| MlsError::new_err("StagedWelcome.sender: sender leaf is blank"))
        })?;
        leaf.into_member(py)
    }

    /// Every member of the ratchet tree, including this joiner.
    #[getter]
    fn members(&self, py: Python<'_>) -> PyResult<Vec<Py<Member>>> {
        let v = py.allow_threads(|| self.leaves().cloned())?;
        members_py(py, v)
    }

    /// This joiner's leaf index.
    #[getter]
    fn own_index(&self) -> u32 {
        self.info.own_index
    }

    /// The group id.
    #[getter]
    fn group_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.info.group_id)
    }

    /// The epoch being joined.
    #[getter]
    fn epoch(&self) -> u64 {
        self.info.epoch
    }

    /// The group's ciphersuite.
    #[getter]
    fn ciphersuite(&self) -> u16 {
        self.info.ciphersuite
    }

    /// Credential types of the group's RequiredCapabilities extension.
    #[getter]
    fn required_credential_types(&self) -> Vec<u16> {
        self.info.required.clone()
    }

    /// Join: write the group into storage. Only once.
    fn accept(&self, py: Python<'_>) -> PyResult<PyGroup> {
        let what = "StagedWelcome.accept";
        let state = py.allow_threads(|| {
            guard(what, || {
                let mut slot = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                let pending = slot
                    .take()
                    .ok_or_else(|| MlsError::new_err(format!("{what}: this Welcome was already accepted")))?;
                let gid = GroupId::from_slice(&self.info.group_id);
                self.provider.transaction(|b| {
                    if pending.replace_existing {
                        delete_stored_group(b, &gid, what)?;
                    }
                    accept_welcome(b, pending.staged, &pending.hash_ref, pending.last_resort, what)
                })
            })
        })?;
        Ok(PyGroup::new(py, self.provider.clone(), state))
    }

    fn __repr__(&self) -> String {
        format!("StagedWelcome(epoch={}, own_index={})", self.info.epoch, self.info.own_index)
    }
}

/// An external-commit join (resync) staged for inspection.
#[pyclass(frozen, module = "openmls._openmls")]
pub struct ExternalJoin {
    provider: Provider,
    inner: Mutex<Option<ExternalJoinParts>>,
    members: Vec<LeafData>,
    group_id: Vec<u8>,
    epoch: u64,
    ciphersuite: u16,
}

struct ExternalJoinParts {
    signer: Arc<KeyMaterial>,
    credential: Credential,
    group_info: VerifiableGroupInfo,
    tree: Option<RatchetTreeIn>,
    application_id: Option<Vec<u8>>,
    capabilities: PyCapabilities,
    config: MlsGroupJoinConfig,
}

impl ExternalJoin {
    #[allow(clippy::too_many_arguments)]
    pub fn stage(
        py: Python<'_>,
        provider: Provider,
        signer: Arc<KeyMaterial>,
        credential: Credential,
        group_info: VerifiableGroupInfo,
        tree: Option<RatchetTreeIn>,
        application_id: Option<Vec<u8>>,
        capabilities: PyCapabilities,
        config: MlsGroupJoinConfig,
    ) -> PyResult<Self> {
        let what = "Group.join_by_external_commit";
        let (members, group_id, epoch, ciphersuite) = py.allow_threads(|| {
            guard(what, || {
                // Validate the GroupInfo and tree exactly as the join will, in a scratch
                // in-memory store, so the caller can inspect members before anything is stored.
                let scratch = Backend::open(None).map_err(err::StorageError::new_err)?;
                let rt = match (group_info.extensions().ratchet_tree(), &tree) {
                    (Some(ext), _) => ext.ratchet_tree().clone(),
                    (None, Some(t)) => t.clone(),
                    (None, None) => {
                        return Err(err::InvalidMessage::new_err(format!(
                            "{what}: the GroupInfo has no ratchet_tree extension and no tree was given"
                        )))
                    }
                };
                let (pg, gi) = PublicGroup::from_external(
                    scratch.crypto(),
                    scratch.storage(),
                    rt,
                    group_info.clone(),
                    ProposalStore::new(),
                )
                .map_err(|e| err::from_external(what, &e))?;
                if gi.extensions().external_pub().is_none() {
                    return Err(err::InvalidMessage::new_err(format!(
                        "{what}: the GroupInfo has no external_pub extension"
                    )));
                }
                let members: Vec<LeafData> = pg
                    .members()
                    .filter_map(|m| pg.leaf(m.index).map(|l| LeafData::from_leaf(Some(m.index.u32()), l)))
                    .collect();
                Ok((
                    members,
                    pg.group_id().as_slice().to_vec(),
                    pg.group_context().epoch().as_u64(),
                    u16::from(pg.ciphersuite()),
                ))
            })
        })?;
        Ok(Self {
            provider,
            inner: Mutex::new(Some(ExternalJoinParts {
                signer,
                credential,
                group_info,
                tree,
                application_id,
                capabilities,
                config,
            })),
            members,
            group_id,
            epoch,
            ciphersuite,
        })
    }
}

#[pymethods]
impl ExternalJoin {
    /// The members of the group being joined (before the joiner's commit).
    #[getter]
    fn members(&self, py: Python<'_>) -> PyResult<Vec<Py<Member>>> {
        members_py(py, self.members.clone())
    }

    /// The group id.
    #[getter]
    fn group_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.group_id)
    }

    /// The GroupInfo's epoch.
    #[getter]
    fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The group's ciphersuite.
    #[getter]
    fn ciphersuite(&self) -> u16 {
        self.ciphersuite
    }

    /// Create the external commit and the group (see the .pyi). Only once.
    fn accept(&self, py: Python<'_>) -> PyResult<(PyGroup, CommitBundle)> {
        let what = "ExternalJoin.accept";
        let (state, bundle) = py.allow_threads(|| {
            guard(what, || {
                let parts = self
                    .inner
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .ok_or_else(|| MlsError::new_err(format!("{what}: already accepted")))?;
                self.provider.transaction(|b| {
                    parts.signer.store(b.storage())?;
                    delete_stored_group(b, &GroupId::from_slice(&self.group_id), what)?;
                    let cwk = CredentialWithKey {
                        credential: parts.credential.clone(),
                        signature_key: parts.signer.public.clone().into(),
                    };
                    let mut builder = ExternalCommitBuilder::new().with_config(parts.config.clone());
                    if let Some(t) = parts.tree.clone() {
                        builder = builder.with_ratchet_tree(t);
                    }
                    let params = LeafNodeParameters::builder()
                        .with_credential_with_key(cwk.clone())
                        .with_capabilities(parts.capabilities.to_openmls()?)
                        .with_extensions(leaf_extensions(parts.application_id.as_deref())?)
                        .build();
                    let (group, bundle) = builder
                        .build_group(b, parts.group_info.clone(), cwk)
                        .map_err(|e| err::external_commit(what, &e))?
                        .leaf_node_parameters(params)
                        .load_psks(b.storage())
                        .map_err(|e| err::create_commit(what, &e))?
                        .create_group_info(true)
                        .build(b.rand(), b.crypto(), parts.signer.as_ref(), |_| true)
                        .map_err(|e| err::create_commit(what, &e))?
                        .finalize(b)
                        .map_err(|e| match e {
                            ExternalCommitBuilderFinalizeError::StorageError(s) => err::storage(what, s),
                            ExternalCommitBuilderFinalizeError::MergeCommitError(m) => err::merge_pending(what, &m),
                            other => err::other(what, other),
                        })?;
                    let bundle = CommitBundle::from_bundle(bundle)?;
                    Ok((GroupState::new(group, parts.signer.clone()), bundle))
                })
            })
        })?;
        Ok((PyGroup::new(py, self.provider.clone(), state), bundle))
    }

    fn __repr__(&self) -> String {
        format!("ExternalJoin(epoch={}, members={})", self.epoch, self.members.len())
    }
}
