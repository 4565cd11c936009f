//! `SignatureKeyPair`: MLS signature keys, stored in the provider, labelled signing only.

use openmls::prelude::tls_codec::{Serialize as TlsSerialize, VLBytes};
use openmls::prelude::*;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::storage::{traits, Entity, Key, StorageProvider as _, CURRENT_VERSION};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::DecodePrivateKey;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::crypto::{ring_p256_key, ring_p256_sign};
use crate::errors::{guard, storage as storage_err, InvalidCredential, InvalidSignature, MlsError, Res};
use crate::provider::{crypto, Provider, Storage};
use openmls_traits::OpenMlsProvider;

/// The key pair as stored (and as the `Signer` OpenMLS uses).
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyMaterial {
    private: Vec<u8>,
    pub public: Vec<u8>,
    pub scheme: u16,
}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

/// The storage key of a key pair: its public key.
#[derive(Serialize, Deserialize)]
struct PublicKeyId {
    value: Vec<u8>,
}

impl Key<CURRENT_VERSION> for PublicKeyId {}
impl traits::SignaturePublicKey<CURRENT_VERSION> for PublicKeyId {}
impl Entity<CURRENT_VERSION> for KeyMaterial {}
impl traits::SignatureKeyPair<CURRENT_VERSION> for KeyMaterial {}

impl Signer for KeyMaterial {
    /// P-256 by `ring` (the stored public key spares deriving it); a pair `ring` refuses
    /// (public key not the private key's) and Ed25519 are signed by RustCrypto, as before.
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        if self.scheme() == SignatureScheme::ECDSA_SECP256R1_SHA256 {
            if let Some(key) = ring_p256_key(&self.private, &self.public) {
                return ring_p256_sign(&key, payload).map_err(SignerError::CryptoError);
            }
        }
        crypto()
            .sign(self.scheme(), payload, &self.private)
            .map_err(SignerError::CryptoError)
    }

    fn signature_scheme(&self) -> SignatureScheme {
        self.scheme()
    }
}

impl KeyMaterial {
    pub fn scheme(&self) -> SignatureScheme {
        SignatureScheme::try_from(self.scheme).unwrap_or(SignatureScheme::ECDSA_SECP256R1_SHA256)
    }

    pub fn new(scheme: SignatureScheme, private: Vec<u8>, public: Vec<u8>) -> Self {
        Self { private, public, scheme: scheme as u16 }
    }

    pub fn store(&self, storage: &Storage) -> Res<()> {
        storage
            .write_signature_key_pair(&PublicKeyId { value: self.public.clone() }, self)
            .map_err(|e| storage_err("store signature key", e))
    }

    /// Stores the key pair unless this very pair is already stored: a read is cheaper
    /// than rewriting it, and `Group.create` / `KeyPackage.create` usually reuse a signer.
    pub fn ensure_stored(&self, storage: &Storage) -> Res<()> {
        match Self::load(storage, &self.public)? {
            Some(m) if m.scheme == self.scheme && m.private == self.private => Ok(()),
            _ => self.store(storage),
        }
    }

    pub fn load(storage: &Storage, public: &[u8]) -> Res<Option<Self>> {
        storage
            .signature_key_pair(&PublicKeyId { value: public.to_vec() })
            .map_err(|e| storage_err("load signature key", e))
    }
}

/// Serialises RFC 9420 SignContent: `opaque label<V> = "MLS 1.0 " + label; opaque content<V>`.
fn sign_content(label: &[u8], content: &[u8]) -> Res<Vec<u8>> {
    let mut full = b"MLS 1.0 ".to_vec();
    full.extend_from_slice(label);
    let mut out = Vec::new();
    VLBytes::new(full)
        .tls_serialize(&mut out)
        .and_then(|_| VLBytes::new(content.to_vec()).tls_serialize(&mut out))
        .map_err(|e| MlsError::new_err(format!("SignContent encoding: {e:?}")))?;
    Ok(out)
}

pub fn label_bytes(label: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = label.extract::<String>() {
        Ok(s.into_bytes())
    } else if let Ok(b) = label.extract::<Vec<u8>>() {
        Ok(b)
    } else {
        Err(pyo3::exceptions::PyTypeError::new_err("label must be str or bytes"))
    }
}

pub fn scheme_for_ciphersuite(ciphersuite: u16) -> Res<(Ciphersuite, SignatureScheme)> {
    let cs = Ciphersuite::try_from(ciphersuite)
        .map_err(|_| MlsError::new_err(format!("unknown ciphersuite 0x{ciphersuite:04x}")))?;
    if !crypto().supported_ciphersuites().contains(&cs) {
        return Err(MlsError::new_err(format!(
            "ciphersuite 0x{ciphersuite:04x} is not supported by the crypto provider"
        )));
    }
    Ok((cs, cs.signature_algorithm()))
}

/// An MLS signature key pair. Only labelled signing is exposed (RFC 9420 §5.1.2).
#[pyclass(frozen, module = "openmls._openmls")]
#[derive(Clone)]
pub struct SignatureKeyPair {
    pub keys: std::sync::Arc<KeyMaterial>,
}

impl SignatureKeyPair {
    pub fn from_material(m: KeyMaterial) -> Self {
        Self { keys: std::sync::Arc::new(m) }
    }
}

#[pymethods]
impl SignatureKeyPair {
    /// Fresh key pair of the ciphersuite's signature scheme.
    #[staticmethod]
    fn generate(ciphersuite: u16) -> PyResult<Self> {
        guard("SignatureKeyPair.generate", || {
            let (_, scheme) = scheme_for_ciphersuite(ciphersuite)?;
            let (private, public) = crypto()
                .signature_key_gen(scheme)
                .map_err(|e| MlsError::new_err(format!("key generation failed: {e:?}")))?;
            Ok(Self::from_material(KeyMaterial::new(scheme, private, public)))
        })
    }

    /// Import an ECDSA P-256 key: PKCS#8 DER, SEC1 ``ECPrivateKey`` DER, or the raw
    /// 32-byte scalar.
    #[staticmethod]
    fn from_p256_private_key(private_key: &[u8]) -> PyResult<Self> {
        guard("SignatureKeyPair.from_p256_private_key", || {
            let secret = if private_key.len() == 32 {
                p256::SecretKey::from_slice(private_key).map_err(|_| {
                    InvalidCredential::new_err("raw P-256 private key: not a valid scalar (0 or >= n)")
                })?
            } else if let Ok(k) = p256::SecretKey::from_pkcs8_der(private_key) {
                k
            } else if let Ok(k) = p256::SecretKey::from_sec1_der(private_key) {
                k
            } else {
                return Err(InvalidCredential::new_err(
                    "not a P-256 private key: expected PKCS#8 DER, SEC1 ECPrivateKey DER or a 32-byte scalar",
                ));
            };
            let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
            let private = secret.to_bytes().to_vec();
            Ok(Self::from_material(KeyMaterial::new(
                SignatureScheme::ECDSA_SECP256R1_SHA256,
                private,
                public,
            )))
        })
    }

    /// The MLS ``signature_key``: P-256 = 65-byte uncompressed SEC1 point; Ed25519 = 32 bytes.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.keys.public)
    }

    /// TLS SignatureScheme code point.
    #[getter]
    fn signature_scheme(&self) -> u16 {
        self.keys.scheme
    }

    /// Write the key pair into the provider's storage (keyed by public key).
    fn store(&self, provider: &Provider) -> PyResult<()> {
        guard("SignatureKeyPair.store", || provider.transaction(|b| self.keys.store(b.storage())))
    }

    /// Read a stored key pair. Raises ``StorageError`` if it is not stored.
    #[staticmethod]
    fn load(provider: &Provider, public_key: &[u8]) -> PyResult<Self> {
        guard("SignatureKeyPair.load", || {
            let backend = provider.lock();
            match KeyMaterial::load(backend.storage(), public_key)? {
                Some(m) => Ok(Self::from_material(m)),
                None => Err(crate::errors::StorageError::new_err(
                    "SignatureKeyPair.load: no key pair with this public key in storage",
                )),
            }
        })
    }

    /// RFC 9420 SignWithLabel: sign ``SignContent{"MLS 1.0 " + label, content}``.
    fn sign_with_label<'py>(
        &self,
        py: Python<'py>,
        label: &Bound<'py, PyAny>,
        content: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let label = label_bytes(label)?;
        let sig = guard("sign_with_label", || {
            let tbs = sign_content(&label, content)?;
            self.keys.sign(&tbs).map_err(|e| MlsError::new_err(format!("signing failed: {e:?}")))
        })?;
        Ok(PyBytes::new(py, &sig))
    }

    fn __repr__(&self) -> String {
        let hex: String = self.keys.public.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("SignatureKeyPair(scheme=0x{:04x}, public_key={hex}...)", self.keys.scheme)
    }
}

/// RFC 9420 VerifyWithLabel. Returns ``None`` when valid; raises ``InvalidSignature``.
#[pyfunction]
pub fn verify_with_label(
    signature_scheme: u16,
    public_key: &[u8],
    label: &Bound<'_, PyAny>,
    content: &[u8],
    signature: &[u8],
) -> PyResult<()> {
    let label = label_bytes(label)?;
    guard("verify_with_label", || {
        verify_labelled(crypto(), signature_scheme, public_key, &label, content, signature)
    })
}

/// Testing only: [`verify_with_label`] by OpenMLS's RustCrypto provider alone, the
/// reference the `ring` path must agree with (tests/binding_fuzz).
#[pyfunction]
pub fn _verify_with_label_rustcrypto(
    signature_scheme: u16,
    public_key: &[u8],
    label: &Bound<'_, PyAny>,
    content: &[u8],
    signature: &[u8],
) -> PyResult<()> {
    let label = label_bytes(label)?;
    guard("_verify_with_label_rustcrypto", || {
        let backend = crypto().rust_crypto();
        verify_labelled(backend, signature_scheme, public_key, &label, content, signature)
    })
}

/// VerifyWithLabel by one crypto backend (the binding's, or RustCrypto alone for tests).
fn verify_labelled(
    backend: &impl OpenMlsCrypto,
    signature_scheme: u16,
    public_key: &[u8],
    label: &[u8],
    content: &[u8],
    signature: &[u8],
) -> PyResult<()> {
    let scheme = SignatureScheme::try_from(signature_scheme).map_err(|_| {
        InvalidSignature::new_err(format!("unknown signature scheme 0x{signature_scheme:04x}"))
    })?;
    let tbs = sign_content(label, content)?;
    backend
        .verify_signature(scheme, &tbs, public_key, signature)
        .map_err(|e| InvalidSignature::new_err(format!("labelled signature did not verify: {e:?}")))
}

