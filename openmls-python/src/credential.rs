//! `Credential` (any credential type) and `Capabilities`.

use openmls::prelude::tls_codec::{Deserialize as TlsDeserialize, Serialize as TlsSerialize};
use openmls::prelude::*;
use openmls_traits::crypto::OpenMlsCrypto;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{guard, parse, InvalidCredential};
use crate::provider::crypto;

/// Credential types a default `Capabilities` lists: basic and the profile's two STIR
/// types (PROFILE.md §2: every KeyPackage and group lists both).
pub const DEFAULT_CREDENTIAL_TYPES: [u16; 3] = [0x0001, 0xF001, 0xF002];

/// An MLS credential of any type (basic = 1, x509 = 2, private-use 0xF000-0xFFFF ...).
#[pyclass(frozen, eq, hash, name = "Credential", module = "openmls._openmls")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyCredential {
    pub credential_type: u16,
    pub content: Vec<u8>,
}

impl PyCredential {
    pub fn to_openmls(&self) -> Credential {
        Credential::new(CredentialType::from(self.credential_type), self.content.clone())
    }

    pub fn from_openmls(c: &Credential) -> Self {
        Self { credential_type: u16::from(c.credential_type()), content: c.serialized_content().to_vec() }
    }
}

#[pymethods]
impl PyCredential {
    /// Credential whose wire form is ``credential_type || opaque content<V>``.
    #[new]
    fn py_new(credential_type: u16, content: Vec<u8>) -> Self {
        Self { credential_type, content }
    }

    /// A basic credential (type 1) with the given identity.
    #[staticmethod]
    fn basic(identity: Vec<u8>) -> Self {
        Self { credential_type: 1, content: identity }
    }

    /// The credential type code point.
    #[getter]
    fn credential_type(&self) -> u16 {
        self.credential_type
    }

    /// The opaque content (for basic: the identity).
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.content)
    }

    /// TLS serialisation of the Credential struct.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = guard("Credential.to_bytes", || {
            self.to_openmls()
                .tls_serialize_detached()
                .map_err(|e| InvalidCredential::new_err(format!("Credential.to_bytes: {e:?}")))
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Parse a TLS-serialised Credential (all bytes must be consumed).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        guard("Credential.from_bytes", || {
            let c = Credential::tls_deserialize_exact(data).map_err(|e| parse("Credential.from_bytes", e))?;
            Ok(Self::from_openmls(&c))
        })
    }

    fn __repr__(&self) -> String {
        let preview: String = self.content.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!(
            "Credential(type=0x{:04x}, content={}{} ({} bytes))",
            self.credential_type,
            preview,
            if self.content.len() > 16 { "..." } else { "" },
            self.content.len()
        )
    }
}

/// LeafNode capabilities (RFC 9420 §7.2). Versions are always MLS 1.0.
#[pyclass(frozen, name = "Capabilities", module = "openmls._openmls")]
#[derive(Clone)]
pub struct PyCapabilities {
    pub credentials: Vec<u16>,
    pub extensions: Vec<u16>,
    pub proposals: Vec<u16>,
    pub ciphersuites: Vec<u16>,
}

impl PyCapabilities {
    pub fn default_caps() -> Self {
        Self {
            credentials: DEFAULT_CREDENTIAL_TYPES.to_vec(),
            extensions: vec![],
            proposals: vec![],
            ciphersuites: all_ciphersuites(),
        }
    }

    pub fn to_openmls(&self) -> PyResult<Capabilities> {
        let mut suites = Vec::new();
        for cs in &self.ciphersuites {
            suites.push(Ciphersuite::try_from(*cs).map_err(|_| {
                InvalidCredential::new_err(format!("Capabilities: unknown ciphersuite 0x{cs:04x}"))
            })?);
        }
        Ok(Capabilities::builder()
            .ciphersuites(suites)
            .credentials(self.credentials.iter().map(|c| CredentialType::from(*c)).collect())
            .extensions(self.extensions.iter().map(|e| ExtensionType::from(*e)).collect())
            .proposals(self.proposals.iter().map(|p| ProposalType::from(*p)).collect())
            .build())
    }

    /// RFC 9420 §7.2: a leaf's capabilities must list its own credential type. OpenMLS
    /// only notices this when someone else validates the leaf; say so at creation.
    pub fn require_credential_type(&self, credential_type: u16, what: &str) -> PyResult<()> {
        if self.credentials.contains(&credential_type) {
            Ok(())
        } else {
            Err(InvalidCredential::new_err(format!(
                "{what}: the capabilities do not list the credential's own type 0x{credential_type:04x} \
                 (they list {:?})",
                self.credentials
            )))
        }
    }

    pub fn from_openmls(c: &Capabilities) -> Self {
        Self {
            credentials: c.credentials().iter().map(|t| u16::from(*t)).collect(),
            extensions: c.extensions().iter().map(|t| u16::from(*t)).collect(),
            proposals: c.proposals().iter().map(|t| u16::from(*t)).collect(),
            ciphersuites: c.ciphersuites().iter().map(|t| t.value()).collect(),
        }
    }
}

fn all_ciphersuites() -> Vec<u16> {
    crypto().supported_ciphersuites().into_iter().map(u16::from).collect()
}

#[pymethods]
impl PyCapabilities {
    /// ``credentials`` defaults to basic, 0xF001, 0xF002; ``ciphersuites=None`` = all supported.
    #[new]
    #[pyo3(signature = (*, credentials=None, extensions=vec![], proposals=vec![], ciphersuites=None))]
    fn py_new(
        credentials: Option<Vec<u16>>,
        extensions: Vec<u16>,
        proposals: Vec<u16>,
        ciphersuites: Option<Vec<u16>>,
    ) -> Self {
        Self {
            credentials: credentials.unwrap_or_else(|| DEFAULT_CREDENTIAL_TYPES.to_vec()),
            extensions,
            proposals,
            ciphersuites: ciphersuites.unwrap_or_else(all_ciphersuites),
        }
    }

    /// Supported credential types.
    #[getter]
    fn credentials(&self) -> Vec<u16> {
        self.credentials.clone()
    }

    /// Supported (non-default) extension types.
    #[getter]
    fn extensions(&self) -> Vec<u16> {
        self.extensions.clone()
    }

    /// Supported (non-default) proposal types.
    #[getter]
    fn proposals(&self) -> Vec<u16> {
        self.proposals.clone()
    }

    /// Supported ciphersuites.
    #[getter]
    fn ciphersuites(&self) -> Vec<u16> {
        self.ciphersuites.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Capabilities(credentials={:?}, extensions={:?}, proposals={:?}, ciphersuites={:?})",
            self.credentials, self.extensions, self.proposals, self.ciphersuites
        )
    }
}
