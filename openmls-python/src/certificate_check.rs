//! `KnownIssuer`: an accept-only check of a STIR member certificate (an end entity)
//! under an issuer certificate that the Python validator has already verified.
//!
//! The Python validator (shared/stir/validator.py) verifies a provider's issuer chain once
//! with `cryptography.x509.verification`; every new member certificate under it then needs
//! that verifier's end-entity checks and one signature. Done in Python that costs about
//! five raw signatures (benchmarks/credentials/RESULTS.md); here it is one `ring` P-256
//! verification plus a strict DER parse.
//!
//! **Accept-only.** [`KnownIssuer::check_leaf`] returns facts only when it has shown that
//! the leaf passes every check the Python path makes on it (and that cryptography can load
//! it); otherwise it returns `None` ("not decided") and the Python path, unchanged, decides
//! and words any rejection. So each check here is at least as strict as the Python path's:
//!
//! - the whole certificate is strict DER (`der`/`x509-cert`), re-encodes to the same bytes
//!   (so the original TBS bytes, which are signed over here, are the bytes cryptography's
//!   verifier signs over), not the issuer's own bytes;
//! - X.509 v3; serial of 1..=21 octets, not negative; no unique identifiers;
//! - inner and outer signature algorithm both exactly ecdsa-with-SHA256 without
//!   parameters (anything else: not decided), and the signature verifies with the issuer's
//!   P-256 key over the original TBS bytes;
//! - issuer name bytes equal to the issuer's subject bytes (non-empty);
//! - validity: both times UTCTime (so before 2050, as RFC 5280 requires of them);
//! - subject: non-empty, one attribute per RDN, values UTF8String / PrintableString /
//!   IA5String with valid contents;
//! - key: exactly the P-256 `id-ecPublicKey` SubjectPublicKeyInfo with an uncompressed
//!   point that is on the curve;
//! - extensions: the leaf's list must match, position by position, a *layout* learnt with
//!   [`KnownIssuer::learn`] from a leaf the Python path accepted under this issuer. A layout
//!   fixes every extension's OID and criticality and the exact value bytes of all but the
//!   per-member ones (subjectKeyIdentifier, which must be one OCTET STRING, and the STIR
//!   extensions, non-critical, whose raw values are returned for the Python decoders).
//!   cryptography's parsing and the verifier's extension policy depend only on those bytes,
//!   so a list that matches a layout parses and passes as that leaf's did. subjectAltName
//!   and nameConstraints are never learnt (the verifier treats them specially).
//!
//! Nothing here panics on input: every parse error is "not decided", and the Python
//! entry points only take bytes.

use std::sync::RwLock;

use der::asn1::{Any, ObjectIdentifier};
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use x509_cert::certificate::{Certificate, Version};
use x509_cert::name::Name;
use x509_cert::time::Time;

use crate::crypto::ring_p256_verify;

/// AlgorithmIdentifier { ecdsa-with-SHA256 } with no parameters (RFC 5758 §3.2).
const ECDSA_WITH_SHA256: &[u8] = &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// SubjectPublicKeyInfo header for id-ecPublicKey on prime256v1, followed by the 65-byte
/// uncompressed point in the BIT STRING (RFC 5480).
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const P256_POINT_LEN: usize = 65;
const MAX_SERIAL_OCTETS: usize = 21; // 20, plus the sign octet 20 random bytes may need
const MAX_LAYOUTS: usize = 8;

const OID_SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_NAME_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.30");
const OID_TNAUTHLIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.26");
const OID_JWT_CLAIM_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.27");
const OID_ENHANCED_JWT_CLAIM_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.33");

/// One extension position of a learnt layout.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Slot {
    /// The same OID, criticality and value bytes as the learnt leaf's.
    Fixed { oid: ObjectIdentifier, critical: bool, value: Vec<u8> },
    /// A per-member extension: same OID and criticality, value checked by kind.
    Member { oid: ObjectIdentifier, critical: bool },
}

/// A leaf parsed and checked as far as it can be without the issuer's layouts and key.
struct ParsedLeaf<'a> {
    tbs: &'a [u8],
    issuer: Vec<u8>,
    signature: Vec<u8>,
    not_before: i64,
    not_after: i64,
    point: Vec<u8>,
    extensions: Vec<(ObjectIdentifier, bool, Vec<u8>)>,
}

fn is_member_extension(oid: &ObjectIdentifier) -> bool {
    *oid == OID_SUBJECT_KEY_IDENTIFIER
        || *oid == OID_TNAUTHLIST
        || *oid == OID_JWT_CLAIM_CONSTRAINTS
        || *oid == OID_ENHANCED_JWT_CLAIM_CONSTRAINTS
}

fn is_stir_extension(oid: &ObjectIdentifier) -> bool {
    *oid == OID_TNAUTHLIST || *oid == OID_JWT_CLAIM_CONSTRAINTS || *oid == OID_ENHANCED_JWT_CLAIM_CONSTRAINTS
}

/// The raw TBSCertificate TLV inside a Certificate's DER (the bytes its signature covers).
fn raw_tbs(der: &[u8]) -> Option<&[u8]> {
    let mut reader = SliceReader::new(der).ok()?;
    let header = der::Header::decode(&mut reader).ok()?;
    if header.tag != Tag::Sequence {
        return None;
    }
    reader.tlv_bytes().ok()
}

/// UTCTime only (GeneralizedTime, legitimate from 2050 on, is left to the Python path).
fn utc_seconds(time: &Time) -> Option<i64> {
    match time {
        Time::UtcTime(t) => i64::try_from(t.to_unix_duration().as_secs()).ok(),
        Time::GeneralTime(_) => None,
    }
}

fn printable(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&c)
}

/// A value whose string type and contents every parser agrees on.
fn plain_string(value: &Any) -> bool {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String => std::str::from_utf8(bytes).is_ok(),
        Tag::PrintableString => bytes.iter().all(|&c| printable(c)),
        Tag::Ia5String => bytes.is_ascii(),
        _ => false,
    }
}

fn plain_name(name: &Name) -> bool {
    !name.0.is_empty()
        && name.0.iter().all(|rdn| {
            let atvs = rdn.0.as_slice();
            atvs.len() == 1 && plain_string(&atvs[0].value)
        })
}

/// Everything about a leaf that depends only on its own bytes; `None`: not decided.
fn parse_leaf(der: &[u8]) -> Option<ParsedLeaf<'_>> {
    let cert = Certificate::from_der(der).ok()?;
    // Canonical: the decoded certificate encodes back to exactly the given bytes.
    if cert.to_der().ok()?.as_slice() != der {
        return None;
    }
    let tbs_raw = raw_tbs(der)?;
    let tbs = &cert.tbs_certificate;
    if tbs.version != Version::V3 || tbs.issuer_unique_id.is_some() || tbs.subject_unique_id.is_some() {
        return None;
    }
    let serial = tbs.serial_number.as_bytes();
    if serial.is_empty() || serial.len() > MAX_SERIAL_OCTETS || serial[0] & 0x80 != 0 {
        return None;
    }
    if tbs.signature.to_der().ok()?.as_slice() != ECDSA_WITH_SHA256
        || cert.signature_algorithm.to_der().ok()?.as_slice() != ECDSA_WITH_SHA256
    {
        return None;
    }
    let not_before = utc_seconds(&tbs.validity.not_before)?;
    let not_after = utc_seconds(&tbs.validity.not_after)?;
    if !plain_name(&tbs.subject) {
        return None;
    }
    let spki = tbs.subject_public_key_info.to_der().ok()?;
    let point = spki.strip_prefix(P256_SPKI_PREFIX)?;
    if point.len() != P256_POINT_LEN || p256::PublicKey::from_sec1_bytes(point).is_err() {
        return None;
    }
    let signature = cert.signature.as_bytes()?.to_vec(); // None unless whole octets
    let extensions = tbs
        .extensions
        .as_ref()?
        .iter()
        .map(|e| (e.extn_id, e.critical, e.extn_value.as_bytes().to_vec()))
        .collect();
    let issuer = tbs.issuer.to_der().ok()?;
    Some(ParsedLeaf { tbs: tbs_raw, issuer, signature, not_before, not_after, point: point.to_vec(), extensions })
}

/// A DER OCTET STRING and nothing else (what a subjectKeyIdentifier value must be).
fn is_octet_string(value: &[u8]) -> bool {
    der::asn1::OctetStringRef::from_der(value).is_ok()
}

fn layout_of(extensions: &[(ObjectIdentifier, bool, Vec<u8>)]) -> Option<Vec<Slot>> {
    let mut seen: Vec<ObjectIdentifier> = Vec::with_capacity(extensions.len());
    let mut slots = Vec::with_capacity(extensions.len());
    for (oid, critical, value) in extensions {
        if seen.contains(oid)
            || *oid == OID_SUBJECT_ALT_NAME
            || *oid == OID_NAME_CONSTRAINTS
            || (*critical && is_stir_extension(oid))
        {
            return None;
        }
        seen.push(*oid);
        slots.push(if is_member_extension(oid) {
            Slot::Member { oid: *oid, critical: *critical }
        } else {
            Slot::Fixed { oid: *oid, critical: *critical, value: value.clone() }
        });
    }
    if !seen.contains(&OID_TNAUTHLIST) {
        return None; // the Python path refuses such a leaf (no-tnauthlist)
    }
    Some(slots)
}

fn matches(layout: &[Slot], extensions: &[(ObjectIdentifier, bool, Vec<u8>)]) -> bool {
    layout.len() == extensions.len()
        && layout.iter().zip(extensions).all(|(slot, (oid, critical, value))| match slot {
            Slot::Fixed { oid: o, critical: c, value: v } => o == oid && c == critical && v == value,
            Slot::Member { oid: o, critical: c } => {
                o == oid && c == critical && (*oid != OID_SUBJECT_KEY_IDENTIFIER || is_octet_string(value))
            }
        })
}

/// What a leaf accepted under a [`KnownIssuer`] establishes, for the Python validator.
#[pyclass(module = "openmls._openmls", frozen, get_all)]
pub struct LeafFacts {
    /// notBefore, POSIX seconds.
    pub not_before: i64,
    /// notAfter, POSIX seconds.
    pub not_after: i64,
    /// The leaf's key: the 65-byte uncompressed P-256 point (on the curve).
    pub public_key: Py<PyBytes>,
    /// The TNAuthList extension's value (DER, undecoded); always present.
    pub tnauthlist: Py<PyBytes>,
    /// The JWTClaimConstraints extension's value, if present.
    pub jwt_claim_constraints: Option<Py<PyBytes>>,
    /// The EnhancedJWTClaimConstraints extension's value, if present.
    pub enhanced_jwt_claim_constraints: Option<Py<PyBytes>>,
}

/// An issuer certificate already verified by the caller, ready to check leaves under it.
#[pyclass(module = "openmls._openmls", frozen)]
pub struct KnownIssuer {
    der: Vec<u8>,
    subject: Vec<u8>,
    point: Vec<u8>,
    layouts: RwLock<Vec<Vec<Slot>>>,
}

struct Accepted {
    not_before: i64,
    not_after: i64,
    point: Vec<u8>,
    tnauthlist: Vec<u8>,
    jwt: Option<Vec<u8>>,
    enhanced: Option<Vec<u8>>,
}

impl KnownIssuer {
    fn from_der(der: &[u8]) -> Result<Self, &'static str> {
        let cert = Certificate::from_der(der).map_err(|_| "the issuer is not a DER X.509 certificate")?;
        let tbs = &cert.tbs_certificate;
        let subject = tbs.subject.to_der().map_err(|_| "the issuer's subject does not encode")?;
        if tbs.subject.0.is_empty() {
            return Err("the issuer's subject is empty");
        }
        let spki = tbs.subject_public_key_info.to_der().map_err(|_| "the issuer's key does not encode")?;
        let point = spki
            .strip_prefix(P256_SPKI_PREFIX)
            .filter(|p| p.len() == P256_POINT_LEN)
            .ok_or("the issuer's key is not an uncompressed P-256 point")?;
        Ok(Self { der: der.to_vec(), subject, point: point.to_vec(), layouts: RwLock::new(Vec::new()) })
    }

    fn layouts(&self) -> std::sync::RwLockReadGuard<'_, Vec<Vec<Slot>>> {
        // A poisoned lock only means a panic elsewhere while learning; the data is a list
        // of complete layouts either way.
        self.layouts.read().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, der: &[u8]) -> Option<Accepted> {
        if der == self.der.as_slice() {
            return None; // the issuer itself: the verifier would end the path there
        }
        let leaf = parse_leaf(der)?;
        if leaf.issuer != self.subject {
            return None;
        }
        if !self.layouts().iter().any(|layout| matches(layout, &leaf.extensions)) {
            return None;
        }
        if !ring_p256_verify(leaf.tbs, &self.point, &leaf.signature) {
            return None;
        }
        let value = |oid: ObjectIdentifier| {
            leaf.extensions.iter().find(|(o, _, _)| *o == oid).map(|(_, _, v)| v.clone())
        };
        Some(Accepted {
            not_before: leaf.not_before,
            not_after: leaf.not_after,
            point: leaf.point,
            tnauthlist: value(OID_TNAUTHLIST)?,
            jwt: value(OID_JWT_CLAIM_CONSTRAINTS),
            enhanced: value(OID_ENHANCED_JWT_CLAIM_CONSTRAINTS),
        })
    }

    fn learn_layout(&self, der: &[u8]) -> bool {
        let Some(leaf) = parse_leaf(der) else { return false };
        if leaf.issuer != self.subject {
            return false;
        }
        let Some(layout) = layout_of(&leaf.extensions) else { return false };
        let mut layouts = self.layouts.write().unwrap_or_else(|e| e.into_inner());
        if layouts.contains(&layout) {
            return true;
        }
        if layouts.len() >= MAX_LAYOUTS {
            return false;
        }
        layouts.push(layout);
        true
    }
}

#[pymethods]
impl KnownIssuer {
    /// An issuer certificate (DER) the caller has verified. Raises ValueError when leaves
    /// under it cannot be checked here (not DER, not a P-256 key, empty subject).
    #[new]
    fn py_new(issuer_der: &[u8]) -> PyResult<Self> {
        Self::from_der(issuer_der).map_err(PyValueError::new_err)
    }

    /// Remember the extension layout of ``leaf_der``, a leaf the caller's full checks
    /// accepted under this issuer. Returns whether a layout is now known for it (False:
    /// not learnable — subjectAltName, nameConstraints, a critical STIR extension, no
    /// TNAuthList, a duplicate, not parsed here — or the layout limit is reached).
    fn learn(&self, py: Python<'_>, leaf_der: &[u8]) -> bool {
        py.allow_threads(|| self.learn_layout(leaf_der))
    }

    /// The leaf's facts when every check is shown to pass (accept-only), else None: the
    /// caller decides with its full checks then. Never raises for any input bytes.
    fn check_leaf(&self, py: Python<'_>, leaf_der: &[u8]) -> PyResult<Option<LeafFacts>> {
        let Some(ok) = py.allow_threads(|| self.check(leaf_der)) else { return Ok(None) };
        Ok(Some(LeafFacts {
            not_before: ok.not_before,
            not_after: ok.not_after,
            public_key: PyBytes::new(py, &ok.point).unbind(),
            tnauthlist: PyBytes::new(py, &ok.tnauthlist).unbind(),
            jwt_claim_constraints: ok.jwt.map(|v| PyBytes::new(py, &v).unbind()),
            enhanced_jwt_claim_constraints: ok.enhanced.map(|v| PyBytes::new(py, &v).unbind()),
        }))
    }

    /// How many extension layouts have been learnt.
    #[getter]
    fn layouts_known(&self) -> usize {
        self.layouts().len()
    }
}
