//! `KeyPackage`: create (bundle stored in the provider), parse + validate, accessors.

use openmls::prelude::tls_codec::{Deserialize as TlsDeserialize, Serialize as TlsSerialize};
use openmls::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::credential::{PyCapabilities, PyCredential};
use crate::errors::{guard, key_package_verify, InvalidCredential, InvalidKeyPackage, MlsError, Res};
use crate::keys::{scheme_for_ciphersuite, SignatureKeyPair};
use crate::provider::{crypto, Provider};

/// Parses MLSMessage(KeyPackage) or bare KeyPackage bytes into the unverified form.
pub fn parse_key_package_in(what: &str, data: &[u8]) -> Res<KeyPackageIn> {
    if let Ok(msg) = MlsMessageIn::tls_deserialize_exact(data) {
        return match msg.extract() {
            MlsMessageBodyIn::KeyPackage(kp) => Ok(kp),
            _ => Err(InvalidKeyPackage::new_err(format!(
                "{what}: MLSMessage does not carry a KeyPackage"
            ))),
        };
    }
    KeyPackageIn::tls_deserialize_exact(data)
        .map_err(|e| InvalidKeyPackage::new_err(format!("{what}: malformed KeyPackage: {e:?}")))
}

pub fn leaf_extensions(application_id: Option<&[u8]>) -> Res<Extensions<LeafNode>> {
    match application_id {
        None => Ok(Extensions::empty()),
        Some(id) => Extensions::single(Extension::ApplicationId(ApplicationIdExtension::new(id)))
            .map_err(|e| InvalidCredential::new_err(format!("application_id extension: {e:?}"))),
    }
}

/// A validated KeyPackage.
#[pyclass(frozen, name = "KeyPackage", module = "openmls._openmls")]
#[derive(Clone)]
pub struct PyKeyPackage {
    pub kp: KeyPackage,
}

#[pymethods]
impl PyKeyPackage {
    /// Create, sign and store a KeyPackage (its private keys go into the provider).
    #[staticmethod]
    #[pyo3(signature = (provider, signer, credential, *, ciphersuite=2, lifetime_seconds=None,
                        last_resort=false, capabilities=None, application_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        provider: &Provider,
        signer: &SignatureKeyPair,
        credential: &PyCredential,
        ciphersuite: u16,
        lifetime_seconds: Option<u64>,
        last_resort: bool,
        capabilities: Option<PyCapabilities>,
        application_id: Option<Vec<u8>>,
    ) -> PyResult<Self> {
        py.allow_threads(|| {
            guard("KeyPackage.create", || {
                let (cs, scheme) = scheme_for_ciphersuite(ciphersuite)?;
                if signer.keys.scheme() != scheme {
                    return Err(InvalidCredential::new_err(format!(
                        "KeyPackage.create: signer is 0x{:04x} but ciphersuite 0x{ciphersuite:04x} needs 0x{:04x}",
                        signer.keys.scheme, scheme as u16
                    )));
                }
                let mut caps = capabilities.unwrap_or_else(PyCapabilities::default_caps);
                caps.require_credential_type(credential.credential_type, "KeyPackage.create")?;
                // The last_resort extension must itself be listed in the capabilities.
                const LAST_RESORT: u16 = 0x000a;
                if last_resort && !caps.extensions.contains(&LAST_RESORT) {
                    caps.extensions.push(LAST_RESORT);
                }
                let caps = caps.to_openmls()?;
                let mut builder = KeyPackage::builder()
                    .leaf_node_capabilities(caps)
                    .leaf_node_extensions(leaf_extensions(application_id.as_deref())?);
                if let Some(secs) = lifetime_seconds {
                    builder = builder.key_package_lifetime(Lifetime::new(secs));
                }
                if last_resort {
                    builder = builder.mark_as_last_resort();
                }
                let cwk = CredentialWithKey {
                    credential: credential.to_openmls(),
                    signature_key: signer.keys.public.clone().into(),
                };
                let bundle = provider.transaction(|b| {
                    // The joiner's group will need this signer: keep it with the bundle.
                    signer.keys.ensure_stored(openmls_traits::OpenMlsProvider::storage(b))?;
                    builder.build(cs, b, signer.keys.as_ref(), cwk).map_err(|e| match e {
                        KeyPackageNewError::StorageError => {
                            crate::errors::StorageError::new_err("KeyPackage.create: storing the bundle failed")
                        }
                        other => InvalidCredential::new_err(format!("KeyPackage.create: {other:?}")),
                    })
                })?;
                Ok(Self { kp: bundle.key_package().clone() })
            })
        })
    }

    /// Parse (MLSMessage-wrapped or raw) and validate a KeyPackage.
    #[staticmethod]
    #[pyo3(signature = (provider, data))]
    fn parse(py: Python<'_>, provider: &Provider, data: &[u8]) -> PyResult<Self> {
        let _ = provider;
        py.allow_threads(|| {
            guard("KeyPackage.parse", || {
                let kp_in = parse_key_package_in("KeyPackage.parse", data)?;
                let kp = kp_in
                    .validate(crypto(), ProtocolVersion::Mls10)
                    .map_err(|e| key_package_verify("KeyPackage.parse", &e))?;
                Ok(Self { kp })
            })
        })
    }

    /// The KeyPackage wrapped in an MLSMessage.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = guard("KeyPackage.to_bytes", || {
            MlsMessageOut::from(self.kp.clone())
                .tls_serialize_detached()
                .map_err(|e| MlsError::new_err(format!("KeyPackage.to_bytes: {e:?}")))
        })?;
        Ok(PyBytes::new(py, &b))
    }

    /// The bare TLS-serialised KeyPackage struct.
    fn to_raw_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = guard("KeyPackage.to_raw_bytes", || {
            self.kp
                .tls_serialize_detached()
                .map_err(|e| MlsError::new_err(format!("KeyPackage.to_raw_bytes: {e:?}")))
        })?;
        Ok(PyBytes::new(py, &b))
    }

    /// The LeafNode's credential.
    #[getter]
    fn credential(&self) -> PyCredential {
        PyCredential::from_openmls(self.kp.leaf_node().credential())
    }

    /// The LeafNode's signature key.
    #[getter]
    fn signature_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.kp.leaf_node().signature_key().as_slice())
    }

    /// The KeyPackage's ciphersuite.
    #[getter]
    fn ciphersuite(&self) -> u16 {
        u16::from(self.kp.ciphersuite())
    }

    /// ``(not_before, not_after)`` in Unix seconds.
    #[getter]
    fn lifetime(&self) -> (u64, u64) {
        let l = self.kp.life_time();
        (l.not_before(), l.not_after())
    }

    /// Whether it carries the last_resort extension.
    #[getter]
    fn last_resort(&self) -> bool {
        self.kp.last_resort()
    }

    /// The LeafNode's application_id extension, if any.
    #[getter]
    fn application_id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.kp
            .leaf_node()
            .extensions()
            .application_id()
            .map(|a| PyBytes::new(py, a.as_slice()))
    }

    /// The LeafNode's capabilities.
    #[getter]
    fn capabilities(&self) -> PyCapabilities {
        PyCapabilities::from_openmls(self.kp.leaf_node().capabilities())
    }

    /// KeyPackageRef (RFC 9420 §5.2).
    #[pyo3(signature = (provider=None))]
    fn hash_ref<'py>(&self, py: Python<'py>, provider: Option<&Provider>) -> PyResult<Bound<'py, PyBytes>> {
        let _ = provider;
        let r = guard("KeyPackage.hash_ref", || {
            self.kp
                .hash_ref(crypto())
                .map(|r| r.as_slice().to_vec())
                .map_err(|e| crate::errors::library("KeyPackage.hash_ref", &e))
        })?;
        Ok(PyBytes::new(py, &r))
    }

    fn __repr__(&self) -> String {
        format!(
            "KeyPackage(ciphersuite=0x{:04x}, credential_type=0x{:04x})",
            u16::from(self.kp.ciphersuite()),
            u16::from(self.kp.leaf_node().credential().credential_type())
        )
    }
}
