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
//! - the certificate is walked TLV by TLV with RustCrypto's `der` reader (strict headers:
//!   definite lengths in their shortest form) and every field is either compared byte for
//!   byte with a known-good encoding or checked to be in its one DER form, so the original
//!   TBS bytes, which the signature is checked over here, are the bytes cryptography's
//!   verifier signs over (its re-serialisation of a strict parse); not the issuer's own
//!   bytes, nor a certificate naming itself the issuer;
//! - X.509 v3 (exactly `[0] { INTEGER 2 }`); serial of 1..=21 octets, minimal, not
//!   negative; no unique identifiers;
//! - inner and outer signature algorithm both exactly ecdsa-with-SHA256 without
//!   parameters (anything else: not decided), and the signature verifies with the issuer's
//!   P-256 key over the original TBS bytes;
//! - issuer name bytes equal to the issuer's subject bytes (non-empty);
//! - validity: both times UTCTime `YYMMDDHHMMSSZ` with every field in range (so before
//!   2050, as RFC 5280 requires of UTCTime; the period itself is returned, not checked);
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

use der::{Decode, Header, Reader, SliceReader};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::crypto::ring_p256_verify;

/// AlgorithmIdentifier { ecdsa-with-SHA256 } with no parameters (RFC 5758 §3.2).
const ECDSA_WITH_SHA256: &[u8] = &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// `[0] EXPLICIT INTEGER 2`: X.509 v3.
const VERSION_3: &[u8] = &[0xa0, 0x03, 0x02, 0x01, 0x02];
/// SubjectPublicKeyInfo header for id-ecPublicKey on prime256v1, followed by the 65-byte
/// uncompressed point in the BIT STRING (RFC 5480).
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const P256_POINT_LEN: usize = 65;
const MAX_SERIAL_OCTETS: usize = 21; // 20, plus the sign octet 20 random bytes may need
const MAX_LAYOUTS: usize = 8;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
const UTC_TIME: u8 = 0x17;
const EXTENSIONS: u8 = 0xa3; // [3] EXPLICIT

// Extension OIDs, as encoded (the contents of the OBJECT IDENTIFIER).
const OID_SUBJECT_KEY_IDENTIFIER: &[u8] = &[0x55, 0x1d, 0x0e]; // 2.5.29.14
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11]; // 2.5.29.17
const OID_NAME_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x1e]; // 2.5.29.30
const OID_TNAUTHLIST: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1a]; // 1.3.6.1.5.5.7.1.26
const OID_JWT_CLAIM_CONSTRAINTS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1b]; // ...1.27
const OID_ENHANCED_JWT_CLAIM_CONSTRAINTS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x21]; // ...1.33

/// One extension of a leaf: its OID (encoded), criticality and value (the OCTET STRING's
/// contents), all borrowed from the certificate.
type Extension<'a> = (&'a [u8], bool, &'a [u8]);

/// One extension position of a learnt layout.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Slot {
    /// The same OID, criticality and value bytes as the learnt leaf's.
    Fixed { oid: Vec<u8>, critical: bool, value: Vec<u8> },
    /// A per-member extension: same OID and criticality, value checked by kind.
    Member { oid: Vec<u8>, critical: bool },
}

/// A leaf parsed and checked as far as it can be without the issuer.
struct ParsedLeaf<'a> {
    tbs: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    signature: &'a [u8],
    not_before: i64,
    not_after: i64,
    point: &'a [u8],
    extensions: Vec<Extension<'a>>,
}

/// One TLV, read by `der` (strict DER header: definite length in its shortest form).
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
    whole: &'a [u8],
}

fn read_tlv<'a>(reader: &mut SliceReader<'a>) -> Option<Tlv<'a>> {
    let whole = reader.tlv_bytes().ok()?;
    let mut inner = SliceReader::new(whole).ok()?;
    let header = Header::decode(&mut inner).ok()?;
    let value = inner.read_slice(header.length).ok()?;
    Some(Tlv { tag: *whole.first()?, value, whole })
}

/// The TLVs making up ``bytes``, all of it.
fn tlvs(bytes: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut reader = SliceReader::new(bytes).ok()?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(read_tlv(&mut reader)?);
    }
    Some(out)
}

/// A minimal DER OBJECT IDENTIFIER encoding with subidentifiers any parser takes.
fn plain_oid(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 32
        && value.last().is_some_and(|b| b & 0x80 == 0)
        && value.split_inclusive(|b| b & 0x80 == 0).all(|arc| arc[0] != 0x80 && arc.len() <= 4)
}

fn printable(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&c)
}

/// A name attribute value whose string type and contents every parser agrees on.
fn plain_string(value: &Tlv<'_>) -> bool {
    match value.tag {
        UTF8_STRING => std::str::from_utf8(value.value).is_ok(),
        PRINTABLE_STRING => value.value.iter().all(|&c| printable(c)),
        IA5_STRING => value.value.is_ascii(),
        _ => false,
    }
}

/// A non-empty Name, one attribute per RDN, plain strings only.
fn plain_name(name: &Tlv<'_>) -> bool {
    let Some(rdns) = tlvs(name.value) else { return false };
    name.tag == SEQUENCE
        && !rdns.is_empty()
        && rdns.iter().all(|rdn| {
            let atvs = if rdn.tag == SET { tlvs(rdn.value) } else { None };
            let Some([atv]) = atvs.as_deref() else { return false };
            let parts = if atv.tag == SEQUENCE { tlvs(atv.value) } else { None };
            matches!(parts.as_deref(), Some([oid, value]) if oid.tag == OID && plain_oid(oid.value) && plain_string(value))
        })
}

/// A DER INTEGER's contents as a certificate serial: 1-21 octets, minimal, not negative.
fn serial_ok(value: &[u8]) -> bool {
    match value {
        [] => false,
        [first, ..] if first & 0x80 != 0 => false,
        [0, second, ..] if second & 0x80 == 0 => false, // not minimal
        _ => value.len() <= MAX_SERIAL_OCTETS,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A UTCTime (``YYMMDDHHMMSSZ``, RFC 5280 §4.1.2.5.1) as POSIX seconds; None unless every
/// field is in range. (GeneralizedTime, legitimate from 2050 on, is left to the caller.)
fn utc_time(tlv: &Tlv<'_>) -> Option<i64> {
    let v = tlv.value;
    if tlv.tag != UTC_TIME || v.len() != 13 || v[12] != b'Z' || !v[..12].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let field = |i: usize| i64::from(v[i] - b'0') * 10 + i64::from(v[i + 1] - b'0');
    let (yy, month, day, hour, minute, second) = (field(0), field(2), field(4), field(6), field(8), field(10));
    let year = if yy < 50 { 2000 + yy } else { 1900 + yy };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// An Extension: OID, criticality (DER: BOOLEAN TRUE only, FALSE is the omitted default),
/// the OCTET STRING's contents.
fn extension<'a>(tlv: &Tlv<'a>) -> Option<Extension<'a>> {
    if tlv.tag != SEQUENCE {
        return None;
    }
    match tlvs(tlv.value)?.as_slice() {
        [oid, value] if oid.tag == OID && value.tag == OCTET_STRING => Some((oid.value, false, value.value)),
        [oid, critical, value]
            if oid.tag == OID && critical.tag == BOOLEAN && critical.value == [0xff] && value.tag == OCTET_STRING =>
        {
            Some((oid.value, true, value.value))
        }
        _ => None,
    }
}

/// Everything about a leaf that depends only on its own bytes; `None`: not decided.
fn parse_leaf(der: &[u8]) -> Option<ParsedLeaf<'_>> {
    let [cert] = tlvs(der)?.try_into().ok()?;
    let [tbs, algorithm, signature] = tlvs(cert.value)?.try_into().ok()?;
    if cert.tag != SEQUENCE || tbs.tag != SEQUENCE || algorithm.whole != ECDSA_WITH_SHA256 || signature.tag != BIT_STRING {
        return None;
    }
    let signature = signature.value.strip_prefix(&[0])?; // no unused bits
    // No unique identifiers: exactly these fields, extensions present.
    let [version, serial, inner_algorithm, issuer, validity, subject, spki, extensions] = tlvs(tbs.value)?.try_into().ok()?;
    if version.whole != VERSION_3
        || serial.tag != INTEGER
        || !serial_ok(serial.value)
        || inner_algorithm.whole != ECDSA_WITH_SHA256
        || issuer.tag != SEQUENCE
        || validity.tag != SEQUENCE
        || !plain_name(&subject)
        || extensions.tag != EXTENSIONS
    {
        return None;
    }
    let [not_before, not_after] = tlvs(validity.value)?.try_into().ok()?;
    let (not_before, not_after) = (utc_time(&not_before)?, utc_time(&not_after)?);
    let point = spki.whole.strip_prefix(P256_SPKI_PREFIX)?;
    if point.len() != P256_POINT_LEN || point[0] != 0x04 || p256::PublicKey::from_sec1_bytes(point).is_err() {
        return None;
    }
    let [list] = tlvs(extensions.value)?.try_into().ok()?;
    if list.tag != SEQUENCE {
        return None;
    }
    let extensions = tlvs(list.value)?.iter().map(extension).collect::<Option<Vec<_>>>()?;
    Some(ParsedLeaf { tbs: tbs.whole, issuer: issuer.whole, subject: subject.whole, signature, not_before, not_after, point, extensions })
}

/// An issuer's subject Name and P-256 point (its other fields were checked by the caller's
/// verification): (subject TLV, point).
fn parse_issuer(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), &'static str> {
    const NOT_DER: &str = "the issuer is not a DER X.509 certificate";
    let [cert] = tlvs(der).ok_or(NOT_DER)?.try_into().map_err(|_| NOT_DER)?;
    let parts = tlvs(cert.value).ok_or(NOT_DER)?;
    let tbs = match parts.as_slice() {
        [tbs, _, _] if cert.tag == SEQUENCE && tbs.tag == SEQUENCE => tbs,
        _ => return Err(NOT_DER),
    };
    let fields = tlvs(tbs.value).ok_or(NOT_DER)?;
    let skip = usize::from(fields.first().is_some_and(|f| f.tag == 0xa0)); // version
    let (subject, spki) = match fields.get(skip + 4..skip + 6) {
        Some([subject, spki]) => (subject, spki),
        _ => return Err(NOT_DER),
    };
    if subject.tag != SEQUENCE || subject.value.is_empty() {
        return Err("the issuer's subject is empty");
    }
    let point = spki
        .whole
        .strip_prefix(P256_SPKI_PREFIX)
        .filter(|p| p.len() == P256_POINT_LEN && p[0] == 0x04)
        .ok_or("the issuer's key is not an uncompressed P-256 point")?;
    Ok((subject.whole.to_vec(), point.to_vec()))
}

fn is_member_extension(oid: &[u8]) -> bool {
    oid == OID_SUBJECT_KEY_IDENTIFIER || is_stir_extension(oid)
}

fn is_stir_extension(oid: &[u8]) -> bool {
    oid == OID_TNAUTHLIST || oid == OID_JWT_CLAIM_CONSTRAINTS || oid == OID_ENHANCED_JWT_CLAIM_CONSTRAINTS
}

/// A DER OCTET STRING and nothing else (what a subjectKeyIdentifier value must be).
fn is_octet_string(value: &[u8]) -> bool {
    matches!(tlvs(value).as_deref(), Some([tlv]) if tlv.tag == OCTET_STRING)
}

fn layout_of(extensions: &[Extension<'_>]) -> Option<Vec<Slot>> {
    let mut slots = Vec::with_capacity(extensions.len());
    for (i, &(oid, critical, value)) in extensions.iter().enumerate() {
        if extensions[..i].iter().any(|e| e.0 == oid)
            || oid == OID_SUBJECT_ALT_NAME
            || oid == OID_NAME_CONSTRAINTS
            || (critical && is_stir_extension(oid))
        {
            return None;
        }
        slots.push(if is_member_extension(oid) {
            Slot::Member { oid: oid.to_vec(), critical }
        } else {
            Slot::Fixed { oid: oid.to_vec(), critical, value: value.to_vec() }
        });
    }
    if !extensions.iter().any(|e| e.0 == OID_TNAUTHLIST) {
        return None; // the caller refuses such a leaf (no-tnauthlist)
    }
    Some(slots)
}

fn matches(layout: &[Slot], extensions: &[Extension<'_>]) -> bool {
    layout.len() == extensions.len()
        && layout.iter().zip(extensions).all(|(slot, &(oid, critical, value))| match slot {
            Slot::Fixed { oid: o, critical: c, value: v } => o == oid && *c == critical && v == value,
            Slot::Member { oid: o, critical: c } => {
                o == oid && *c == critical && (oid != OID_SUBJECT_KEY_IDENTIFIER || is_octet_string(value))
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
        let (subject, point) = parse_issuer(der)?;
        Ok(Self { der: der.to_vec(), subject, point, layouts: RwLock::new(Vec::new()) })
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
        if leaf.issuer != self.subject.as_slice() || leaf.subject == self.subject.as_slice() {
            return None;
        }
        if !self.layouts().iter().any(|layout| matches(layout, &leaf.extensions)) {
            return None;
        }
        if !ring_p256_verify(leaf.tbs, &self.point, leaf.signature) {
            return None;
        }
        let value = |oid: &[u8]| leaf.extensions.iter().find(|e| e.0 == oid).map(|e| e.2.to_vec());
        Some(Accepted {
            not_before: leaf.not_before,
            not_after: leaf.not_after,
            point: leaf.point.to_vec(),
            tnauthlist: value(OID_TNAUTHLIST)?,
            jwt: value(OID_JWT_CLAIM_CONSTRAINTS),
            enhanced: value(OID_ENHANCED_JWT_CLAIM_CONSTRAINTS),
        })
    }

    fn learn_layout(&self, der: &[u8]) -> bool {
        let Some(leaf) = parse_leaf(der) else { return false };
        if leaf.issuer != self.subject.as_slice() {
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
