//! ES256 helpers for the STIR validator (shared/stir/validator.py): a member key's P-256
//! point check and a PASSporT's JWS signature check, each with `ring`/`p256` instead of
//! cryptography (whose point load checks the key with a scalar multiplication, ≈ 0.17 raw
//! signatures).
//!
//! Both are accept-only in the validator's use: `True` is a proof (a point on the curve
//! with coordinates below p; an ES256 signature with r and s in [1, n-1] that verifies),
//! `False` sends the caller to its full path, which decides and words the rejection.

use pyo3::prelude::*;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

const P256_POINT_LEN: usize = 65;

fn is_point(point: &[u8]) -> bool {
    point.len() == P256_POINT_LEN && point[0] == 0x04 && p256::PublicKey::from_sec1_bytes(point).is_ok()
}

/// Whether ``point`` is an uncompressed SEC1 P-256 point (65 bytes, 0x04 || X || Y) on the
/// curve. Never raises.
#[pyfunction]
pub fn p256_point_is_valid(point: &[u8]) -> bool {
    is_point(point)
}

/// Whether ``signature`` (64 bytes, r || s: JWS ES256, RFC 7518 §3.4) is a valid ECDSA
/// P-256 / SHA-256 signature of ``message`` by the uncompressed P-256 ``point``. Never
/// raises; any malformed input is False.
#[pyfunction]
pub fn verify_es256(py: Python<'_>, point: &[u8], message: &[u8], signature: &[u8]) -> bool {
    if point.len() != P256_POINT_LEN || signature.len() != 64 {
        return false;
    }
    py.allow_threads(|| UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, signature).is_ok())
}
