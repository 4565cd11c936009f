//! `openmls._openmls`: a PyO3 binding of OpenMLS 0.8.1 (RFC 9420).
//!
//! Modules by area: provider (crypto + storage), crypto (RustCrypto + ring P-256
//! signatures), storage (memory / SQLite), keys, credential, key_package, inspection
//! (read-only views), group, staged (inspection before acceptance), public_group
//! (delivery service), interop (test vectors only), errors.

pub mod certificate_check;
pub mod credential;
pub mod crypto;
pub mod errors;
pub mod es256;
pub mod group;
pub mod inspection;
pub mod interop;
pub mod key_package;
pub mod keys;
pub mod provider;
pub mod public_group;
pub mod staged;
pub mod storage;

use pyo3::prelude::*;

#[pymodule]
fn _openmls(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::install_quiet_panic_hook();
    m.add("OPENMLS_VERSION", "0.8.1")?; // pinned release
    m.add("DEFAULT_CREDENTIAL_TYPES", credential::DEFAULT_CREDENTIAL_TYPES.to_vec())?;
    errors::register(m)?;
    m.add_class::<provider::Provider>()?;
    m.add_function(wrap_pyfunction!(provider::_panic_in_transaction, m)?)?;
    m.add_class::<keys::SignatureKeyPair>()?;
    m.add_function(wrap_pyfunction!(keys::verify_with_label, m)?)?;
    m.add_function(wrap_pyfunction!(keys::_verify_with_label_rustcrypto, m)?)?;
    m.add_class::<credential::PyCredential>()?;
    m.add_class::<credential::PyCapabilities>()?;
    m.add_class::<key_package::PyKeyPackage>()?;
    m.add_class::<inspection::LeafInfo>()?;
    m.add_class::<inspection::Member>()?;
    m.add_class::<inspection::CommitBundle>()?;
    m.add_class::<inspection::ApplicationMessage>()?;
    m.add_class::<inspection::ProposalMessage>()?;
    m.add_class::<inspection::MessageInfo>()?;
    m.add_function(wrap_pyfunction!(inspection::inspect_message, m)?)?;
    m.add_class::<staged::PyStagedCommit>()?;
    m.add_class::<staged::PyStagedWelcome>()?;
    m.add_class::<staged::ExternalJoin>()?;
    m.add_class::<group::PyGroup>()?;
    m.add_class::<public_group::PyPublicGroup>()?;
    m.add_class::<certificate_check::KnownIssuer>()?;
    m.add_class::<certificate_check::LeafFacts>()?;
    m.add_function(wrap_pyfunction!(es256::p256_point_is_valid, m)?)?;
    m.add_function(wrap_pyfunction!(es256::verify_es256, m)?)?;
    interop::register(m)?;
    Ok(())
}
