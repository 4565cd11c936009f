//! `openmls._openmls.interop`: helpers for the MLS working group's test vectors ONLY.
//!
//! They import private keys chosen by someone else, skip KeyPackage lifetime checks and
//! accept PrivateMessage handshakes; no product path calls them.

use openmls::prelude::tls_codec::{Deserialize as TlsDeserialize, Serialize as TlsSerialize};
use openmls::prelude::*;
use openmls::schedule::PreSharedKeyId;
use openmls_traits::storage::StorageProvider as _;
use openmls_traits::types::HpkePrivateKey;
use openmls_traits::OpenMlsProvider;
use pyo3::prelude::*;

use crate::errors::{self as err, guard, MlsError, Res};
use crate::group::PyGroup;
use crate::inspection::{parse_ratchet_tree, parse_welcome};
use crate::key_package::{parse_key_package_in, PyKeyPackage};
use crate::keys::{KeyMaterial, SignatureKeyPair};
use crate::provider::{crypto, Backend, Provider};
use crate::staged::{accept_welcome, stage_welcome};

/// Builds a KeyPackageBundle with the given private keys through its serde form (its
/// constructor is test-utils-only in OpenMLS). The KeyPackage's lifetime is not checked.
fn import_bundle(b: &Backend, key_package: &[u8], init_priv: &[u8], encryption_priv: &[u8]) -> Res<KeyPackage> {
    let what = "interop.import_key_package";
    let kp_in = parse_key_package_in(what, key_package)?;
    let cs = kp_in_ciphersuite(&kp_in, what)?;
    // A template bundle from a throwaway key, so that only fields whose form we take
    // from OpenMLS itself are replaced.
    let scratch = Backend::open(None).map_err(err::StorageError::new_err)?;
    let tmp_signer = {
        let (private, public) = openmls_traits::crypto::OpenMlsCrypto::signature_key_gen(crypto(), cs.signature_algorithm())
            .map_err(|e| err::other(what, e))?;
        KeyMaterial::new(cs.signature_algorithm(), private, public)
    };
    let tmp = KeyPackage::builder()
        .build(
            cs,
            &scratch,
            &tmp_signer,
            CredentialWithKey {
                credential: BasicCredential::new(b"template".to_vec()).into(),
                signature_key: tmp_signer.public.clone().into(),
            },
        )
        .map_err(|e| err::other(what, e))?;
    let mut v = serde_json::to_value(&tmp).map_err(|e| err::other(what, e))?;
    v["key_package"] = serde_json::to_value(&kp_in).map_err(|e| err::other(what, e))?;
    v["private_init_key"] =
        serde_json::to_value(HpkePrivateKey::from(init_priv.to_vec())).map_err(|e| err::other(what, e))?;
    v["private_encryption_key"]["key"] =
        serde_json::to_value(HpkePrivateKey::from(encryption_priv.to_vec())).map_err(|e| err::other(what, e))?;
    let bundle: KeyPackageBundle = serde_json::from_value(v)
        .map_err(|e| MlsError::new_err(format!("{what}: cannot rebuild the bundle: {e}")))?;
    let hash_ref = bundle.key_package().hash_ref(b.crypto()).map_err(|e| err::library(what, &e))?;
    b.storage()
        .write_key_package(&hash_ref, &bundle)
        .map_err(|e| err::storage(what, e))?;
    Ok(bundle.key_package().clone())
}

fn kp_in_ciphersuite(kp: &KeyPackageIn, what: &str) -> Res<Ciphersuite> {
    let v = serde_json::to_value(kp).map_err(|e| err::other(what, e))?;
    serde_json::from_value(v["payload"]["ciphersuite"].clone()).map_err(|e| err::other(what, e))
}

fn store_psk(b: &Backend, psk_id: &[u8], psk: &[u8]) -> Res<()> {
    PreSharedKeyId::external(psk_id.to_vec(), vec![])
        .store(b, psk)
        .map_err(|e| err::other("interop.store_external_psk", e))
}

fn join(provider: &Provider, welcome: &[u8], ratchet_tree: Option<Vec<u8>>) -> Res<crate::group::GroupState> {
    let what = "interop.join_from_welcome";
    let w = parse_welcome(what, welcome)?;
    let tree = ratchet_tree.map(|t| parse_ratchet_tree(what, &t)).transpose()?;
    provider.transaction(|b| {
        // The vectors' commits may inject resumption PSKs of earlier epochs.
        let config = MlsGroupJoinConfig::builder()
            .wire_format_policy(crate::group::wire_format_policy(true))
            .max_past_epochs(2)
            .number_of_resumption_psks(32)
            .use_ratchet_tree_extension(true)
            .build();
        let st = stage_welcome(b, w, tree, &config, true, false, what)?;
        accept_welcome(b, st.staged, &st.hash_ref, st.last_resort, what)
    })
}

/// Store a KeyPackage bundle built from a KeyPackage and the given HPKE private keys.
#[pyfunction]
fn import_key_package(
    py: Python<'_>,
    provider: &Provider,
    key_package: &[u8],
    init_priv: &[u8],
    encryption_priv: &[u8],
) -> PyResult<PyKeyPackage> {
    py.allow_threads(|| {
        guard("interop.import_key_package", || {
            let kp = provider.transaction(|b| import_bundle(b, key_package, init_priv, encryption_priv))?;
            Ok(PyKeyPackage { kp })
        })
    })
}

/// Build a SignatureKeyPair from raw keys and store it.
#[pyfunction]
fn import_signature_key(
    provider: &Provider,
    signature_scheme: u16,
    private_key: Vec<u8>,
    public_key: Vec<u8>,
) -> PyResult<SignatureKeyPair> {
    guard("interop.import_signature_key", || {
        let scheme = SignatureScheme::try_from(signature_scheme)
            .map_err(|_| MlsError::new_err(format!("unknown signature scheme 0x{signature_scheme:04x}")))?;
        if private_key.len() != 32 {
            // Both supported schemes (P-256 scalar, Ed25519 seed) use 32 bytes.
            return Err(MlsError::new_err(format!(
                "interop.import_signature_key: private key must be 32 bytes, got {}",
                private_key.len()
            )));
        }
        let m = KeyMaterial::new(scheme, private_key, public_key);
        provider.transaction(|b| m.store(b.storage()))?;
        Ok(SignatureKeyPair::from_material(m))
    })
}

/// Store an external PSK.
#[pyfunction]
fn store_external_psk(provider: &Provider, psk_id: &[u8], psk: &[u8]) -> PyResult<()> {
    guard("interop.store_external_psk", || provider.transaction(|b| store_psk(b, psk_id, psk)))
}

/// Join from a Welcome with lifetime validation skipped and PrivateMessage handshakes accepted.
#[pyfunction]
#[pyo3(signature = (provider, welcome, ratchet_tree=None))]
fn join_from_welcome(
    py: Python<'_>,
    provider: &Provider,
    welcome: &[u8],
    ratchet_tree: Option<Vec<u8>>,
) -> PyResult<PyGroup> {
    let st = py.allow_threads(|| guard("interop.join_from_welcome", || join(provider, welcome, ratchet_tree)))?;
    Ok(PyGroup::new(py, provider.clone(), st))
}

/// The passive-client vectors' set-up in one call.
#[pyfunction]
#[pyo3(signature = (provider, welcome, key_package, init_priv, encryption_priv, signature_priv,
                    external_psks=vec![], ratchet_tree=None))]
#[allow(clippy::too_many_arguments)]
fn join_passive_client(
    py: Python<'_>,
    provider: &Provider,
    welcome: &[u8],
    key_package: &[u8],
    init_priv: &[u8],
    encryption_priv: &[u8],
    signature_priv: Vec<u8>,
    external_psks: Vec<(Vec<u8>, Vec<u8>)>,
    ratchet_tree: Option<Vec<u8>>,
) -> PyResult<PyGroup> {
    let what = "interop.join_passive_client";
    let st = py.allow_threads(|| {
        guard(what, || {
            provider.transaction(|b| {
                let kp = import_bundle(b, key_package, init_priv, encryption_priv)?;
                if signature_priv.len() != 32 {
                    return Err(MlsError::new_err(format!(
                        "{what}: signature_priv must be 32 bytes, got {}",
                        signature_priv.len()
                    )));
                }
                let m = KeyMaterial::new(
                    kp.ciphersuite().signature_algorithm(),
                    signature_priv,
                    kp.leaf_node().signature_key().as_slice().to_vec(),
                );
                m.store(b.storage())?;
                for (id, psk) in &external_psks {
                    store_psk(b, id, psk)?;
                }
                Ok(())
            })?;
            join(provider, welcome, ratchet_tree)
        })
    })?;
    Ok(PyGroup::new(py, provider.clone(), st))
}

fn reserialized<T: TlsDeserialize + TlsSerialize>(data: &[u8], what: &str) -> Res<Vec<u8>> {
    let v = T::tls_deserialize_exact(data).map_err(|e| err::parse(what, e))?;
    v.tls_serialize_detached().map_err(|e| err::other(what, e))
}

/// Parse the named structure of messages.json and serialise it again. Returns ``None``
/// when OpenMLS's public API can parse but not re-serialise it (or not parse it at all:
/// `commit`, `group_secrets` are crate-private types).
#[pyfunction]
fn reserialize(kind: &str, data: &[u8]) -> PyResult<Option<Vec<u8>>> {
    let what = "interop.reserialize";
    guard(what, || {
        use openmls::messages::proposals::*;
        use openmls::messages::proposals_in::*;
        Ok(Some(match kind {
            "ratchet_tree" => reserialized::<RatchetTreeIn>(data, what)?,
            "add_proposal" => reserialized::<AddProposalIn>(data, what)?,
            "update_proposal" => reserialized::<UpdateProposalIn>(data, what)?,
            "remove_proposal" => reserialized::<RemoveProposal>(data, what)?,
            "pre_shared_key_proposal" => reserialized::<PreSharedKeyProposal>(data, what)?,
            "re_init_proposal" => reserialized::<ReInitProposal>(data, what)?,
            "external_init_proposal" => reserialized::<ExternalInitProposal>(data, what)?,
            "group_context_extensions_proposal" => reserialized::<GroupContextExtensionProposalIn>(data, what)?,
            "commit" | "group_secrets" => return Ok(None),
            "mls_welcome" | "mls_group_info" | "mls_key_package" | "public_message_application"
            | "public_message_proposal" | "public_message_commit" | "private_message" => {
                let msg = MlsMessageIn::tls_deserialize_exact(data).map_err(|e| err::parse(what, e))?;
                // version || wire_format || body; MlsMessageIn itself serialises only with
                // OpenMLS's test-utils, so the body is serialised on its own.
                let mut out = vec![0x00, 0x01];
                let body = match msg.extract() {
                    MlsMessageBodyIn::PublicMessage(m) => (1u16, m.tls_serialize_detached()),
                    MlsMessageBodyIn::PrivateMessage(m) => (2, m.tls_serialize_detached()),
                    MlsMessageBodyIn::Welcome(w) => (3, w.tls_serialize_detached()),
                    MlsMessageBodyIn::GroupInfo(_) => return Ok(None),
                    MlsMessageBodyIn::KeyPackage(k) => (5, k.tls_serialize_detached()),
                };
                out.extend_from_slice(&body.0.to_be_bytes());
                out.extend(body.1.map_err(|e| err::other(what, e))?);
                out
            }
            other => return Err(err::MlsError::new_err(format!("{what}: unknown kind {other:?}"))),
        }))
    })
}

pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let m = PyModule::new(parent.py(), "interop")?;
    m.add_function(wrap_pyfunction!(import_key_package, &m)?)?;
    m.add_function(wrap_pyfunction!(import_signature_key, &m)?)?;
    m.add_function(wrap_pyfunction!(store_external_psk, &m)?)?;
    m.add_function(wrap_pyfunction!(join_from_welcome, &m)?)?;
    m.add_function(wrap_pyfunction!(join_passive_client, &m)?)?;
    m.add_function(wrap_pyfunction!(reserialize, &m)?)?;
    parent.add_submodule(&m)?;
    Ok(())
}
