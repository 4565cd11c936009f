//! Read-only views handed to Python: leaves/members, commit bundles, processed messages,
//! and the framing of an MLSMessage (`inspect_message`).

use openmls::prelude::tls_codec::{Deserialize as TlsDeserialize, Serialize as TlsSerialize};
use openmls::prelude::*;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::treesync::LeafNodeSource;
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::group::GroupState;

use crate::credential::{PyCapabilities, PyCredential};
use crate::errors::{guard, parse, InvalidMessage, MlsError, Res};

/// The bytes of a TLS `opaque<V>` value (OpenMLS keeps some key accessors crate-private).
fn vl_contents(v: &impl TlsSerialize) -> Vec<u8> {
    v.tls_serialize_detached().map(strip_vl).unwrap_or_default()
}

/// A leaf as plain Rust data (built without the GIL, turned into Python objects after).
#[derive(Clone)]
pub struct LeafData {
    pub index: Option<u32>,
    pub credential: PyCredential,
    pub signature_key: Vec<u8>,
    pub encryption_key: Vec<u8>,
    pub application_id: Option<Vec<u8>>,
    pub capabilities: PyCapabilities,
    pub lifetime: Option<(u64, u64)>,
    /// Set when application_id / capabilities / lifetime were not read yet: they are
    /// looked up in the group on first access (while it is still at `epoch`). The hot
    /// path (decrypting a message) then costs no pass over the tree.
    pub lazy: Option<LazyLeaf>,
}

#[derive(Clone)]
pub struct LazyLeaf {
    pub group: Arc<Mutex<GroupState>>,
    pub epoch: u64,
}

impl LeafData {
    pub fn from_leaf(index: Option<u32>, leaf: &LeafNode) -> Self {
        let lifetime = match leaf.leaf_node_source() {
            LeafNodeSource::KeyPackage(l) => Some((l.not_before(), l.not_after())),
            _ => None,
        };
        Self {
            index,
            credential: PyCredential::from_openmls(leaf.credential()),
            signature_key: leaf.signature_key().as_slice().to_vec(),
            encryption_key: vl_contents(leaf.encryption_key()),
            application_id: leaf.extensions().application_id().map(|a| a.as_slice().to_vec()),
            capabilities: PyCapabilities::from_openmls(leaf.capabilities()),
            lifetime,
            lazy: None,
        }
    }

    /// A member's leaf from the cheap per-leaf accessors, the rest resolved lazily.
    pub fn lazy_member(m: &openmls::group::Member, group: Arc<Mutex<GroupState>>, epoch: u64) -> Self {
        Self {
            index: Some(m.index.u32()),
            credential: PyCredential::from_openmls(&m.credential),
            signature_key: m.signature_key.clone(),
            encryption_key: m.encryption_key.clone(),
            application_id: None,
            capabilities: PyCapabilities { credentials: vec![], extensions: vec![], proposals: vec![], ciphersuites: vec![] },
            lifetime: None,
            lazy: Some(LazyLeaf { group, epoch }),
        }
    }

    fn base(&self) -> LeafInfo {
        LeafInfo { data: self.clone(), resolved: OnceLock::new() }
    }

    pub fn into_member(self, py: Python<'_>) -> PyResult<Py<Member>> {
        let index = self.index.unwrap_or(u32::MAX);
        Py::new(py, PyClassInitializer::from(self.base()).add_subclass(Member { index }))
    }

    pub fn into_leaf_info(self, py: Python<'_>) -> PyResult<Py<LeafInfo>> {
        Py::new(py, self.base())
    }
}

/// The leaves of a ratchet tree (`RatchetTree` or an already verified `RatchetTreeIn`),
/// by leaf index, read through their serde form: OpenMLS keeps tree nodes crate-private.
pub fn leaves_from_tree(tree: &impl serde::Serialize, what: &str) -> Res<Vec<Option<LeafData>>> {
    let v = serde_json::to_value(tree).map_err(|e| MlsError::new_err(format!("{what}: {e}")))?;
    let nodes = v
        .as_array()
        .ok_or_else(|| MlsError::new_err(format!("{what}: unexpected ratchet tree form")))?;
    let mut out = Vec::with_capacity(nodes.len() / 2 + 1);
    for (i, node) in nodes.iter().enumerate().step_by(2) {
        match node.get("LeafNode") {
            Some(leaf) => {
                let leaf: LeafNode = serde_json::from_value(leaf.clone())
                    .map_err(|e| MlsError::new_err(format!("{what}: {e}")))?;
                out.push(Some(LeafData::from_leaf(Some((i / 2) as u32), &leaf)));
            }
            None => out.push(None),
        }
    }
    Ok(out)
}

pub fn members_py(py: Python<'_>, v: Vec<LeafData>) -> PyResult<Vec<Py<Member>>> {
    v.into_iter().map(|l| l.into_member(py)).collect()
}

pub fn leaves_py(py: Python<'_>, v: Vec<LeafData>) -> PyResult<Vec<Py<LeafInfo>>> {
    v.into_iter().map(|l| l.into_leaf_info(py)).collect()
}

/// A leaf (member) as seen during inspection. ``index`` is ``None`` where the leaf's
/// position is not known yet.
#[pyclass(frozen, subclass, module = "openmls._openmls")]
pub struct LeafInfo {
    pub data: LeafData,
    resolved: OnceLock<LeafData>,
}

impl LeafInfo {
    /// The complete leaf data (resolving a lazy leaf in its group once).
    fn full(&self, py: Python<'_>) -> PyResult<&LeafData> {
        let Some(lazy) = &self.data.lazy else { return Ok(&self.data) };
        if let Some(d) = self.resolved.get() {
            return Ok(d);
        }
        let index = self.data.index.unwrap_or(u32::MAX);
        let d = py.allow_threads(|| {
            guard("LeafInfo", || {
                let mut st = lazy.group.lock().unwrap_or_else(|e| e.into_inner());
                if st.group.epoch().as_u64() != lazy.epoch {
                    return Err(crate::errors::WrongEpoch::new_err(format!(
                        "LeafInfo: the group has left epoch {}; read application_id, capabilities \
                         and lifetime before it moves on (or use group.member())",
                        lazy.epoch
                    )));
                }
                st.leaf(index)?.ok_or_else(|| MlsError::new_err(format!("LeafInfo: leaf {index} is blank")))
            })
        })?;
        Ok(self.resolved.get_or_init(|| d))
    }
}

#[pymethods]
impl LeafInfo {
    /// Leaf index in the tree, if known.
    #[getter]
    fn index(&self) -> Option<u32> {
        self.data.index
    }

    /// The leaf's credential.
    #[getter]
    fn credential(&self) -> PyCredential {
        self.data.credential.clone()
    }

    /// The leaf's signature key.
    #[getter]
    fn signature_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.data.signature_key)
    }

    /// The leaf's HPKE encryption key.
    #[getter]
    fn encryption_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.data.encryption_key)
    }

    /// The leaf's application_id extension, if any.
    #[getter]
    fn application_id<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        Ok(self.full(py)?.application_id.as_ref().map(|a| PyBytes::new(py, a)))
    }

    /// The leaf's capabilities.
    #[getter]
    fn capabilities(&self, py: Python<'_>) -> PyResult<PyCapabilities> {
        Ok(self.full(py)?.capabilities.clone())
    }

    /// ``(not_before, not_after)`` for leaves from a KeyPackage, else ``None``.
    #[getter]
    fn lifetime(&self, py: Python<'_>) -> PyResult<Option<(u64, u64)>> {
        Ok(self.full(py)?.lifetime)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let this = slf.get();
        let class = slf.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "LeafInfo".into());
        format!(
            "{}(index={}, credential_type=0x{:04x})",
            class,
            this.data.index.map_or("None".to_string(), |i| i.to_string()),
            this.data.credential.credential_type,
        )
    }
}

/// A current member: a leaf with a known index.
#[pyclass(frozen, extends = LeafInfo, module = "openmls._openmls")]
pub struct Member {
    index: u32,
}

#[pymethods]
impl Member {
    /// Leaf index in the tree.
    #[getter]
    fn index(&self) -> u32 {
        self.index
    }
}

/// What a commit produces: ``commit`` for the group, ``welcome`` for new members,
/// ``group_info`` for the delivery service.
#[pyclass(frozen, module = "openmls._openmls")]
pub struct CommitBundle {
    pub commit: Vec<u8>,
    pub welcome: Option<Vec<u8>>,
    pub group_info: Option<Vec<u8>>,
}

impl CommitBundle {
    pub fn from_bundle(b: CommitMessageBundle) -> Res<Self> {
        let (commit, welcome, group_info) = b.into_messages();
        let ser = |m: MlsMessageOut| {
            m.tls_serialize_detached()
                .map_err(|e| MlsError::new_err(format!("serialising a commit message: {e:?}")))
        };
        Ok(Self {
            commit: ser(commit)?,
            welcome: welcome.map(ser).transpose()?,
            group_info: group_info.map(ser).transpose()?,
        })
    }
}

#[pymethods]
impl CommitBundle {
    /// MLSMessage (PublicMessage) carrying the Commit.
    #[getter]
    fn commit<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.commit)
    }

    /// MLSMessage(Welcome) for the added members, if any.
    #[getter]
    fn welcome<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.welcome.as_ref().map(|w| PyBytes::new(py, w))
    }

    /// MLSMessage(GroupInfo) of the new epoch.
    #[getter]
    fn group_info<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.group_info.as_ref().map(|g| PyBytes::new(py, g))
    }

    fn __repr__(&self) -> String {
        format!(
            "CommitBundle(commit={} bytes, welcome={}, group_info={})",
            self.commit.len(),
            self.welcome.as_ref().map_or("None".into(), |w| format!("{} bytes", w.len())),
            self.group_info.as_ref().map_or("None".into(), |g| format!("{} bytes", g.len()))
        )
    }
}

/// A decrypted application message.
#[pyclass(frozen, module = "openmls._openmls")]
pub struct ApplicationMessage {
    pub sender: Py<Member>,
    pub data: Vec<u8>,
    pub epoch: u64,
    pub aad: Vec<u8>,
}

#[pymethods]
impl ApplicationMessage {
    /// The sending member.
    #[getter]
    fn sender(&self, py: Python<'_>) -> Py<Member> {
        self.sender.clone_ref(py)
    }

    /// The plaintext.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.data)
    }

    /// The epoch it was sent in.
    #[getter]
    fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The (unencrypted, authenticated) AAD.
    #[getter]
    fn authenticated_data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.aad)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "ApplicationMessage(sender={}, epoch={}, {} bytes)",
            self.sender.borrow(py).index,
            self.epoch,
            self.data.len()
        )
    }
}

/// Plain data of a proposal (built without the GIL).
pub struct ProposalData {
    pub kind: &'static str,
    pub sender: Option<LeafData>,
    pub sender_index: Option<u32>,
    pub epoch: u64,
    pub proposal_ref: Vec<u8>,
    pub leaf: Option<LeafData>,
    pub removed: Option<u32>,
}

pub fn proposal_kind(p: &Proposal) -> &'static str {
    match p {
        Proposal::Add(_) => "add",
        Proposal::Update(_) => "update",
        Proposal::Remove(_) => "remove",
        Proposal::PreSharedKey(_) => "psk",
        Proposal::ReInit(_) => "reinit",
        Proposal::ExternalInit(_) => "external_init",
        Proposal::GroupContextExtensions(_) => "group_context_extensions",
        Proposal::SelfRemove => "self_remove",
        _ => "custom",
    }
}

impl ProposalData {
    /// `sender_leaf` looks up the current leaf of a member sender.
    pub fn new(q: &QueuedProposal, epoch: u64, sender_leaf: impl Fn(u32) -> Option<LeafData>) -> Res<Self> {
        let sender_index = match q.sender() {
            Sender::Member(i) => Some(i.u32()),
            _ => None,
        };
        let p = q.proposal();
        let (leaf, removed) = match p {
            Proposal::Add(a) => (Some(LeafData::from_leaf(None, a.key_package().leaf_node())), None),
            Proposal::Update(u) => (Some(LeafData::from_leaf(sender_index, u.leaf_node())), None),
            Proposal::Remove(r) => (None, Some(r.removed().u32())),
            _ => (None, None),
        };
        let proposal_ref = q
            .proposal_reference_ref()
            .tls_serialize_detached()
            .map_err(|e| MlsError::new_err(format!("proposal ref: {e:?}")))?;
        Ok(Self {
            kind: proposal_kind(p),
            sender: sender_index.and_then(&sender_leaf),
            sender_index,
            epoch,
            proposal_ref: strip_vl(proposal_ref),
            leaf,
            removed,
        })
    }

    pub fn into_py(self, py: Python<'_>) -> PyResult<ProposalMessage> {
        Ok(ProposalMessage {
            kind: self.kind,
            sender: self.sender.map(|s| s.into_member(py)).transpose()?,
            sender_index: self.sender_index,
            epoch: self.epoch,
            proposal_ref: self.proposal_ref,
            leaf: self.leaf.map(|l| l.into_leaf_info(py)).transpose()?,
            removed: self.removed,
        })
    }
}

/// A hash reference serialises as `opaque<V>`; Python gets the bare hash.
fn strip_vl(v: Vec<u8>) -> Vec<u8> {
    match openmls::prelude::tls_codec::VLBytes::tls_deserialize_exact(&v) {
        Ok(b) => b.as_slice().to_vec(),
        Err(_) => v,
    }
}

/// A standalone proposal (stored as pending by the group that processed it).
#[pyclass(frozen, module = "openmls._openmls")]
pub struct ProposalMessage {
    kind: &'static str,
    sender: Option<Py<Member>>,
    sender_index: Option<u32>,
    epoch: u64,
    proposal_ref: Vec<u8>,
    leaf: Option<Py<LeafInfo>>,
    removed: Option<u32>,
}

#[pymethods]
impl ProposalMessage {
    /// "add", "update", "remove", "psk", "reinit", "external_init",
    /// "group_context_extensions", "self_remove" or "custom".
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// The proposing member, or ``None`` for an external sender.
    #[getter]
    fn sender(&self, py: Python<'_>) -> Option<Py<Member>> {
        self.sender.as_ref().map(|s| s.clone_ref(py))
    }

    /// The proposing member's leaf index, or ``None`` for an external sender.
    #[getter]
    fn sender_index(&self) -> Option<u32> {
        self.sender_index
    }

    /// The epoch the proposal was made in.
    #[getter]
    fn epoch(&self) -> u64 {
        self.epoch
    }

    /// ProposalRef (hash reference) of the proposal.
    #[getter]
    fn proposal_ref<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.proposal_ref)
    }

    /// For add: the new member's leaf; for update: the new leaf; else ``None``.
    #[getter]
    fn leaf(&self, py: Python<'_>) -> Option<Py<LeafInfo>> {
        self.leaf.as_ref().map(|l| l.clone_ref(py))
    }

    /// For remove: the leaf index to remove; else ``None``.
    #[getter]
    fn removed(&self) -> Option<u32> {
        self.removed
    }

    fn __repr__(&self) -> String {
        format!(
            "ProposalMessage(kind={:?}, sender_index={:?}, epoch={})",
            self.kind, self.sender_index, self.epoch
        )
    }
}

/// Parses MLSMessage bytes (every byte must be consumed).
pub fn parse_mls_message(what: &str, data: &[u8]) -> Res<MlsMessageBodyIn> {
    let msg = MlsMessageIn::tls_deserialize_exact(data).map_err(|e| parse(what, e))?;
    Ok(msg.extract())
}

pub fn parse_protocol_message(what: &str, data: &[u8]) -> Res<ProtocolMessage> {
    match parse_mls_message(what, data)? {
        MlsMessageBodyIn::PublicMessage(m) => Ok(m.into()),
        MlsMessageBodyIn::PrivateMessage(m) => Ok(m.into()),
        _ => Err(InvalidMessage::new_err(format!(
            "{what}: expected a PublicMessage or PrivateMessage, got another MLSMessage kind"
        ))),
    }
}

pub fn parse_welcome(what: &str, data: &[u8]) -> Res<Welcome> {
    match parse_mls_message(what, data)? {
        MlsMessageBodyIn::Welcome(w) => Ok(w),
        _ => Err(InvalidMessage::new_err(format!("{what}: expected an MLSMessage(Welcome)"))),
    }
}

pub fn parse_group_info(what: &str, data: &[u8]) -> Res<VerifiableGroupInfo> {
    match parse_mls_message(what, data)? {
        MlsMessageBodyIn::GroupInfo(g) => Ok(g),
        _ => Err(InvalidMessage::new_err(format!("{what}: expected an MLSMessage(GroupInfo)"))),
    }
}

pub fn parse_ratchet_tree(what: &str, data: &[u8]) -> Res<RatchetTreeIn> {
    RatchetTreeIn::tls_deserialize_exact(data).map_err(|e| parse(what, e))
}

fn content_type_name(c: ContentType) -> &'static str {
    match c {
        ContentType::Application => "application",
        ContentType::Proposal => "proposal",
        ContentType::Commit => "commit",
    }
}

/// The public framing of an MLSMessage, read without any group state.
#[pyclass(frozen, module = "openmls._openmls")]
pub struct MessageInfo {
    wire_format: &'static str,
    group_id: Option<Vec<u8>>,
    epoch: Option<u64>,
    content_type: Option<&'static str>,
    sender_index: Option<u32>,
    sender_type: Option<&'static str>,
}

#[pymethods]
impl MessageInfo {
    /// "public_message", "private_message", "welcome", "group_info" or "key_package".
    #[getter]
    fn wire_format(&self) -> &'static str {
        self.wire_format
    }

    /// For public/private messages and group info: the group id.
    #[getter]
    fn group_id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.group_id.as_ref().map(|g| PyBytes::new(py, g))
    }

    /// For public/private messages and group info: the epoch.
    #[getter]
    fn epoch(&self) -> Option<u64> {
        self.epoch
    }

    /// For public/private messages: "application", "proposal" or "commit".
    #[getter]
    fn content_type(&self) -> Option<&'static str> {
        self.content_type
    }

    /// For a PublicMessage from a member: its leaf index.
    #[getter]
    fn sender_index(&self) -> Option<u32> {
        self.sender_index
    }

    /// For a PublicMessage: "member", "external", "new_member_proposal" or "new_member_commit".
    #[getter]
    fn sender_type(&self) -> Option<&'static str> {
        self.sender_type
    }

    fn __repr__(&self) -> String {
        format!(
            "MessageInfo(wire_format={:?}, epoch={:?}, content_type={:?}, sender_index={:?})",
            self.wire_format, self.epoch, self.content_type, self.sender_index
        )
    }
}

/// Parse an MLSMessage's framing (all bytes must be consumed).
#[pyfunction]
pub fn inspect_message(py: Python<'_>, data: &[u8]) -> PyResult<MessageInfo> {
    py.allow_threads(|| {
        guard("inspect_message", || {
            let body = parse_mls_message("inspect_message", data)?;
            let mut info = MessageInfo {
                wire_format: "",
                group_id: None,
                epoch: None,
                content_type: None,
                sender_index: None,
                sender_type: None,
            };
            match body {
                MlsMessageBodyIn::PublicMessage(m) => {
                    info.wire_format = "public_message";
                    let (idx, ty) = match m.sender() {
                        Sender::Member(i) => (Some(i.u32()), "member"),
                        Sender::External(_) => (None, "external"),
                        Sender::NewMemberProposal => (None, "new_member_proposal"),
                        Sender::NewMemberCommit => (None, "new_member_commit"),
                    };
                    info.sender_index = idx;
                    info.sender_type = Some(ty);
                    let pm: ProtocolMessage = m.into();
                    info.group_id = Some(pm.group_id().as_slice().to_vec());
                    info.epoch = Some(pm.epoch().as_u64());
                    info.content_type = Some(content_type_name(pm.content_type()));
                }
                MlsMessageBodyIn::PrivateMessage(m) => {
                    info.wire_format = "private_message";
                    let pm: ProtocolMessage = m.into();
                    info.group_id = Some(pm.group_id().as_slice().to_vec());
                    info.epoch = Some(pm.epoch().as_u64());
                    info.content_type = Some(content_type_name(pm.content_type()));
                }
                MlsMessageBodyIn::Welcome(_) => info.wire_format = "welcome",
                MlsMessageBodyIn::GroupInfo(g) => {
                    info.wire_format = "group_info";
                    info.group_id = Some(g.group_id().as_slice().to_vec());
                    info.epoch = Some(g.epoch().as_u64());
                }
                MlsMessageBodyIn::KeyPackage(_) => info.wire_format = "key_package",
            }
            Ok(info)
        })
    })
}
