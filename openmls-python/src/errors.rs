//! The Python exception hierarchy and the mapping of OpenMLS's error enums onto it.
//!
//! Every entry point runs inside [`guard`], which turns a Rust panic into `MlsError`:
//! PyO3's `PanicException` derives from `BaseException`, so `except Exception` would miss it.

use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};

use openmls::prelude::*;
use openmls::treesync::errors::LeafNodeValidationError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(openmls._openmls, MlsError, PyException, "Base class of every binding error.");
create_exception!(openmls._openmls, InvalidMessage, MlsError, "Bytes that do not parse or fail validation.");
create_exception!(openmls._openmls, InvalidKeyPackage, InvalidMessage, "A KeyPackage that does not parse or validate.");
create_exception!(openmls._openmls, WrongEpoch, MlsError, "A message or staged commit for another epoch.");
create_exception!(openmls._openmls, PendingCommit, MlsError, "Refused while this member's own commit is pending.");
create_exception!(openmls._openmls, StorageError, MlsError, "The provider's storage failed.");
create_exception!(openmls._openmls, InvalidCredential, MlsError, "A credential, key or capabilities problem.");
create_exception!(openmls._openmls, InvalidSignature, MlsError, "A signature did not verify.");
create_exception!(openmls._openmls, UnknownGroup, MlsError, "No such group in the provider's storage.");
create_exception!(openmls._openmls, NoMatchingKeyPackage, MlsError, "A Welcome names none of our KeyPackages.");
create_exception!(openmls._openmls, InactiveGroup, MlsError, "This member was removed from the group.");

pub type Res<T> = Result<T, PyErr>;

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MlsError", py.get_type::<MlsError>())?;
    m.add("InvalidMessage", py.get_type::<InvalidMessage>())?;
    m.add("InvalidKeyPackage", py.get_type::<InvalidKeyPackage>())?;
    m.add("WrongEpoch", py.get_type::<WrongEpoch>())?;
    m.add("PendingCommit", py.get_type::<PendingCommit>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("InvalidCredential", py.get_type::<InvalidCredential>())?;
    m.add("InvalidSignature", py.get_type::<InvalidSignature>())?;
    m.add("UnknownGroup", py.get_type::<UnknownGroup>())?;
    m.add("NoMatchingKeyPackage", py.get_type::<NoMatchingKeyPackage>())?;
    m.add("InactiveGroup", py.get_type::<InactiveGroup>())?;
    Ok(())
}

/// Runs `f`, turning a panic into `MlsError` (never `PanicException`).
pub fn guard<T>(what: &str, f: impl FnOnce() -> Res<T>) -> Res<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "unknown panic".to_string()
            };
            Err(MlsError::new_err(format!("{what}: internal error in OpenMLS (panic: {msg})")))
        }
    }
}

/// Silences the default panic message on stderr: panics become `MlsError` with the message.
pub fn install_quiet_panic_hook() {
    std::panic::set_hook(Box::new(|_| {}));
}

fn dbg(e: &impl Debug) -> String {
    format!("{e:?}")
}

pub fn storage<E: Debug>(what: &str, e: E) -> PyErr {
    StorageError::new_err(format!("{what}: storage error: {e:?}"))
}

pub fn parse(what: &str, e: impl Debug) -> PyErr {
    InvalidMessage::new_err(format!("{what}: malformed input: {e:?}"))
}

pub fn state(what: &str, e: &MlsGroupStateError) -> PyErr {
    match e {
        MlsGroupStateError::PendingCommit => {
            PendingCommit::new_err(format!("{what}: a commit of this member is pending; merge or clear it first"))
        }
        MlsGroupStateError::UseAfterEviction => {
            InactiveGroup::new_err(format!("{what}: this member is no longer in the group"))
        }
        MlsGroupStateError::NoPendingCommit => MlsError::new_err(format!("{what}: no pending commit")),
        other => MlsError::new_err(format!("{what}: group state error: {other:?}")),
    }
}

pub fn leaf_validation(what: &str, e: &LeafNodeValidationError) -> PyErr {
    InvalidCredential::new_err(format!("{what}: leaf node rejected: {e:?}"))
}

pub fn validation(what: &str, e: &ValidationError) -> PyErr {
    match e {
        ValidationError::WrongEpoch => {
            WrongEpoch::new_err(format!("{what}: the message is for another epoch (or too old to decrypt)"))
        }
        ValidationError::NoPastEpochData => {
            WrongEpoch::new_err(format!("{what}: no secrets kept for the message's (past) epoch"))
        }
        ValidationError::InvalidSignature | ValidationError::InvalidLeafNodeSignature => {
            InvalidSignature::new_err(format!("{what}: signature did not verify ({e:?})"))
        }
        ValidationError::KeyPackageVerifyError(k) => key_package_verify(what, k),
        other => InvalidMessage::new_err(format!("{what}: message rejected: {other:?}")),
    }
}

pub fn stage_commit(what: &str, e: &StageCommitError) -> PyErr {
    match e {
        StageCommitError::EpochMismatch => WrongEpoch::new_err(format!("{what}: commit is for another epoch")),
        StageCommitError::LeafNodeValidation(l) => leaf_validation(what, l),
        StageCommitError::PathLeafNodeVerificationFailure => {
            InvalidSignature::new_err(format!("{what}: commit's path leaf signature did not verify"))
        }
        StageCommitError::ProposalValidationError(p) => match p {
            ProposalValidationError::LeafNodeValidation(l) => leaf_validation(what, l),
            other => InvalidMessage::new_err(format!("{what}: invalid proposal in commit: {other:?}")),
        },
        StageCommitError::OwnCommit => MlsError::new_err(format!(
            "{what}: this is our own commit; use merge_pending_commit instead of processing it"
        )),
        other => InvalidMessage::new_err(format!("{what}: commit rejected: {other:?}")),
    }
}

pub fn process<E: Debug>(what: &str, e: &ProcessMessageError<E>) -> PyErr {
    match e {
        ProcessMessageError::ValidationError(v) => validation(what, v),
        ProcessMessageError::GroupStateError(s) => state(what, s),
        ProcessMessageError::InvalidCommit(c) => stage_commit(what, c),
        ProcessMessageError::StorageError(s) => storage(what, s),
        ProcessMessageError::IncompatibleWireFormat => InvalidMessage::new_err(format!(
            "{what}: handshake message in a wire format the group's policy refuses (PrivateMessage?)"
        )),
        other => InvalidMessage::new_err(format!("{what}: message rejected: {other:?}")),
    }
}

pub fn public_process(what: &str, e: &PublicProcessMessageError) -> PyErr {
    match e {
        PublicProcessMessageError::ValidationError(v) => validation(what, v),
        PublicProcessMessageError::InvalidCommit(c) => stage_commit(what, c),
        PublicProcessMessageError::IncompatibleWireFormat => InvalidMessage::new_err(format!(
            "{what}: a public group can only process PublicMessage handshake messages"
        )),
        other => InvalidMessage::new_err(format!("{what}: message rejected: {other:?}")),
    }
}

pub fn create_commit(what: &str, e: &CreateCommitError) -> PyErr {
    match e {
        CreateCommitError::ProposalValidationError(p) => match p {
            ProposalValidationError::LeafNodeValidation(l) => leaf_validation(what, l),
            other => InvalidCredential::new_err(format!("{what}: proposal refused: {other:?}")),
        },
        CreateCommitError::LeafNodeValidation(l) => leaf_validation(what, l),
        CreateCommitError::CannotRemoveSelf => {
            MlsError::new_err(format!("{what}: cannot remove oneself by commit; use leave()"))
        }
        CreateCommitError::InvalidLeafNodeParameters => {
            InvalidCredential::new_err(format!("{what}: invalid new leaf parameters (credential/key)"))
        }
        other => MlsError::new_err(format!("{what}: cannot create commit: {other:?}")),
    }
}

pub fn stage<E: Debug>(what: &str, e: &CommitBuilderStageError<E>) -> PyErr {
    match e {
        CommitBuilderStageError::KeyStoreError(s) => storage(what, s),
        other => MlsError::new_err(format!("{what}: cannot stage commit: {other:?}")),
    }
}

pub fn merge<E: Debug>(what: &str, e: &MergeCommitError<E>) -> PyErr {
    match e {
        MergeCommitError::StorageError(s) => storage(what, s),
        other => MlsError::new_err(format!("{what}: merge failed: {other:?}")),
    }
}

pub fn merge_pending<E: Debug>(what: &str, e: &MergePendingCommitError<E>) -> PyErr {
    match e {
        MergePendingCommitError::MlsGroupStateError(s) => state(what, s),
        MergePendingCommitError::MergeCommitError(m) => merge(what, m),
    }
}

pub fn key_package_verify(what: &str, e: &KeyPackageVerifyError) -> PyErr {
    match e {
        KeyPackageVerifyError::InvalidSignature | KeyPackageVerifyError::InvalidLeafNodeSignature => {
            InvalidKeyPackage::new_err(format!("{what}: KeyPackage signature did not verify ({e:?})"))
        }
        KeyPackageVerifyError::InvalidLifetime => InvalidKeyPackage::new_err(format!(
            "{what}: KeyPackage lifetime is not valid now (expired, not yet valid, or too long)"
        )),
        other => InvalidKeyPackage::new_err(format!("{what}: KeyPackage rejected: {other:?}")),
    }
}

pub fn from_external<E: Debug>(what: &str, e: &CreationFromExternalError<E>) -> PyErr {
    match e {
        CreationFromExternalError::InvalidGroupInfoSignature => {
            InvalidSignature::new_err(format!("{what}: GroupInfo signature did not verify"))
        }
        CreationFromExternalError::LeafNodeValidation(l) => leaf_validation(what, l),
        CreationFromExternalError::WriteToStorageError(s) => storage(what, s),
        other => InvalidMessage::new_err(format!("{what}: group info / ratchet tree rejected: {other:?}")),
    }
}

pub fn welcome<E: Debug>(what: &str, e: &WelcomeError<E>) -> PyErr {
    match e {
        WelcomeError::NoMatchingKeyPackage | WelcomeError::JoinerSecretNotFound => {
            NoMatchingKeyPackage::new_err(format!("{what}: the Welcome is not for any of our KeyPackages"))
        }
        WelcomeError::StorageError(s) => storage(what, s),
        WelcomeError::InvalidGroupInfoSignature => {
            InvalidSignature::new_err(format!("{what}: GroupInfo signature did not verify"))
        }
        WelcomeError::LeafNodeValidation(l) => leaf_validation(what, l),
        WelcomeError::PublicGroupError(p) => from_external(what, p),
        WelcomeError::GroupAlreadyExists => {
            MlsError::new_err(format!("{what}: a group with this id is already stored in the provider"))
        }
        WelcomeError::MissingRatchetTree => InvalidMessage::new_err(format!(
            "{what}: no ratchet tree: the GroupInfo has no ratchet_tree extension and none was given"
        )),
        other => InvalidMessage::new_err(format!("{what}: Welcome rejected: {other:?}")),
    }
}

pub fn external_commit<E: Debug>(what: &str, e: &ExternalCommitBuilderError<E>) -> PyErr {
    match e {
        ExternalCommitBuilderError::PublicGroupError(p) => from_external(what, p),
        ExternalCommitBuilderError::StorageError(s) => storage(what, s),
        ExternalCommitBuilderError::InvalidProposal(v) => validation(what, v),
        other => InvalidMessage::new_err(format!("{what}: cannot join by external commit: {other:?}")),
    }
}

pub fn library(what: &str, e: &LibraryError) -> PyErr {
    MlsError::new_err(format!("{what}: internal OpenMLS error: {}", dbg(e)))
}

pub fn other(what: &str, e: impl Debug) -> PyErr {
    MlsError::new_err(format!("{what}: {e:?}"))
}
