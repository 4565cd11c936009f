//! `Crypto`: OpenMLS's RustCrypto provider with ECDSA P-256 signatures done by `ring`.
//!
//! RustCrypto's P-256 verify costs about four OpenSSL verifies on our machine, and a
//! member verifies every leaf signature when it joins and one signature per message.
//! `ring` (assembly P-256, constant-time) does the ECDSA P-256 work; everything else
//! (HPKE, AEAD, HKDF, hashing, key generation, Ed25519, randomness) is RustCrypto's,
//! unchanged.
//!
//! Acceptance is RustCrypto's, exactly: `ring` verifies the 65-byte uncompressed keys
//! OpenMLS uses; whatever `ring` refuses (or any other key encoding, which `ring` does not
//! parse) goes to RustCrypto for the final verdict and its error. Both parse the
//! signature as strict DER with r, s in [1, n-1] and neither requires low S, so a
//! signature `ring` accepts is one RustCrypto accepts (checked by the differential tests
//! in tests/binding_fuzz). Signatures made here are DER, as RustCrypto's, but randomised
//! (RustCrypto signs deterministically, RFC 6979).
//!
//! No PyO3 here: `benchmarks/binding_overhead/rust` compiles this file as is.

use openmls_rust_crypto::RustCrypto;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::types::{
    AeadType, Ciphersuite, CryptoError, ExporterSecret, HashType, HpkeCiphertext, HpkeConfig, HpkeKeyPair,
    KemOutput, SignatureScheme,
};
use ring::rand::SystemRandom;
use ring::signature::{self as rs, EcdsaKeyPair};
use openmls::prelude::tls_codec::SecretVLBytes;

/// An uncompressed SEC1 P-256 point: 0x04 || x || y.
fn is_uncompressed_p256(pk: &[u8]) -> bool {
    pk.len() == 65 && pk[0] == 0x04
}

/// `ring`'s ECDSA P-256 / SHA-256 verify (DER signature). `true` only if it verifies.
pub fn ring_p256_verify(data: &[u8], pk: &[u8], signature: &[u8]) -> bool {
    rs::UnparsedPublicKey::new(&rs::ECDSA_P256_SHA256_ASN1, pk)
        .verify(data, signature)
        .is_ok()
}

/// A P-256 signing key for `ring`: the 32-byte scalar and its uncompressed public point.
/// `ring` checks that they belong together (`KeyRejected` otherwise).
pub fn ring_p256_key(private: &[u8], public: &[u8]) -> Option<EcdsaKeyPair> {
    EcdsaKeyPair::from_private_key_and_public_key(
        &rs::ECDSA_P256_SHA256_ASN1_SIGNING,
        private,
        public,
        &SystemRandom::new(),
    )
    .ok()
}

/// ECDSA P-256 / SHA-256, DER-encoded, with a `ring` key from [`ring_p256_key`].
pub fn ring_p256_sign(key: &EcdsaKeyPair, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    key.sign(&SystemRandom::new(), data)
        .map(|s| s.as_ref().to_vec())
        .map_err(|_| CryptoError::CryptoLibraryError)
}

/// RustCrypto, except ECDSA P-256 verification (see the module comment).
#[derive(Debug, Default)]
pub struct Crypto {
    rust: RustCrypto,
}

impl Crypto {
    /// The RustCrypto provider underneath: randomness, and the reference for tests.
    pub fn rust_crypto(&self) -> &RustCrypto {
        &self.rust
    }
}

impl OpenMlsCrypto for Crypto {
    fn verify_signature(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        pk: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if alg == SignatureScheme::ECDSA_SECP256R1_SHA256
            && is_uncompressed_p256(pk)
            && ring_p256_verify(data, pk, signature)
        {
            return Ok(());
        }
        self.rust.verify_signature(alg, data, pk, signature)
    }

    // OpenMLS signs through a `Signer` (the binding's `KeyMaterial`, which uses `ring`
    // with the stored public key); this entry point gets the scalar alone, and deriving
    // the point costs as much as RustCrypto's signing, so it stays RustCrypto's.
    fn sign(&self, alg: SignatureScheme, data: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.rust.sign(alg, data, key)
    }

    fn supports(&self, ciphersuite: Ciphersuite) -> Result<(), CryptoError> {
        self.rust.supports(ciphersuite)
    }

    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        self.rust.supported_ciphersuites()
    }

    fn hkdf_extract(&self, hash_type: HashType, salt: &[u8], ikm: &[u8]) -> Result<SecretVLBytes, CryptoError> {
        self.rust.hkdf_extract(hash_type, salt, ikm)
    }

    fn hmac(&self, hash_type: HashType, key: &[u8], message: &[u8]) -> Result<SecretVLBytes, CryptoError> {
        self.rust.hmac(hash_type, key, message)
    }

    fn hkdf_expand(
        &self,
        hash_type: HashType,
        prk: &[u8],
        info: &[u8],
        okm_len: usize,
    ) -> Result<SecretVLBytes, CryptoError> {
        self.rust.hkdf_expand(hash_type, prk, info, okm_len)
    }

    fn hash(&self, hash_type: HashType, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.rust.hash(hash_type, data)
    }

    fn aead_encrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        data: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.rust.aead_encrypt(alg, key, data, nonce, aad)
    }

    fn aead_decrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.rust.aead_decrypt(alg, key, ct_tag, nonce, aad)
    }

    fn signature_key_gen(&self, alg: SignatureScheme) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        self.rust.signature_key_gen(alg)
    }

    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> Result<HpkeCiphertext, CryptoError> {
        self.rust.hpke_seal(config, pk_r, info, aad, ptxt)
    }

    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.rust.hpke_open(config, input, sk_r, info, aad)
    }

    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<(KemOutput, ExporterSecret), CryptoError> {
        self.rust
            .hpke_setup_sender_and_export(config, pk_r, info, exporter_context, exporter_length)
    }

    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<ExporterSecret, CryptoError> {
        self.rust
            .hpke_setup_receiver_and_export(config, enc, sk_r, info, exporter_context, exporter_length)
    }

    fn derive_hpke_keypair(&self, config: HpkeConfig, ikm: &[u8]) -> Result<HpkeKeyPair, CryptoError> {
        self.rust.derive_hpke_keypair(config, ikm)
    }
}
