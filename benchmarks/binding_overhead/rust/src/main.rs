//! OpenMLS called directly from Rust: the baseline the Python binding is measured against.
//!
//! Configures groups as the binding does (basic credentials, ratchet-tree extension,
//! handshake messages as PublicMessage and application messages as PrivateMessage,
//! max_past_epochs 2, in-memory RustCrypto provider) and moves every message through its
//! wire encoding, as an application must. Prints one JSON document on stdout. Times are
//! the process's CPU time, all threads (`median_s`, `samples_s`; robust to other processes' load on a
//! shared machine), with wall-clock time beside them (`wall_*`).
//!
//! Usage: binding-overhead-bench [--sizes 10,100,1000] [--suites 2,1] [--ops all|scale]
//!                               [--storage memory|binding|sqlite]
//!   --ops scale       times only add-all and join (for the large group sizes).
//!   --storage memory  OpenMLS's own memory storage (`OpenMlsRustCrypto`, JSON values).
//!   --storage binding the binding's default storage, compiled from its source: in memory,
//!                     bincode values, one undo-journalled transaction per call.
//!   --storage sqlite  the binding's SQLite storage (a temp file, bincode values, one
//!                     transaction per call), as `Provider(path)`.
//!   --storage binding-ring  `binding` with the binding's crypto provider too, compiled
//!                     from its source (crypto.rs: RustCrypto, ECDSA P-256 signatures by
//!                     `ring`), signing P-256 with `ring` as the binding's signer does:
//!                     exactly what `Provider()` runs, without PyO3.
//!   --storage sqlite-ring  `sqlite` with the binding's crypto provider: `Provider(path)`.

use std::time::Instant;

use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::{OpenMlsRustCrypto, RustCrypto};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::types::HpkeCiphertext;
use openmls_traits::OpenMlsProvider;
use serde_json::{json, Value};
use tls_codec::{Deserialize as _, Serialize as _};

/// A provider the bench can run on, with the binding's transaction-per-call shape.
trait BenchProvider: OpenMlsProvider + Sized {
    /// Sign P-256 with `ring` (as the binding's signer) rather than RustCrypto.
    const RING: bool = false;
    fn fresh() -> Self;
    /// Runs one library call as the binding does (in a storage transaction for SQLite).
    fn call<T>(&self, f: impl FnOnce() -> T) -> T {
        f()
    }
}

impl BenchProvider for OpenMlsRustCrypto {
    fn fresh() -> Self {
        OpenMlsRustCrypto::default()
    }
}

/// The binding's own storage code (openmls-python/src/storage.rs, compiled here as is):
/// `--storage binding` measures exactly what `Provider()` stores, without PyO3.
#[path = "../../../../openmls-python/src/storage.rs"]
#[allow(dead_code)]
mod storage;

/// The binding's crypto provider (openmls-python/src/crypto.rs, compiled here as is):
/// `--storage binding-ring` measures exactly what `Provider()` computes, without PyO3.
#[path = "../../../../openmls-python/src/crypto.rs"]
#[allow(dead_code)]
mod crypto;

/// A crypto provider for [`BindingProvider`]: RustCrypto, or the binding's (`ring` for
/// P-256 signatures); `RING` makes the bench's signers sign P-256 with `ring` as well.
trait BenchCrypto: OpenMlsCrypto + Default + 'static {
    const RING: bool;
    fn rand(&self) -> &RustCrypto;
}

impl BenchCrypto for RustCrypto {
    const RING: bool = false;
    fn rand(&self) -> &RustCrypto {
        self
    }
}

impl BenchCrypto for crypto::Crypto {
    const RING: bool = true;
    fn rand(&self) -> &RustCrypto {
        self.rust_crypto()
    }
}

/// A crypto provider + the binding's storage, one transaction per library call as the
/// binding runs it: in memory (`FILE = false`, the default `Provider()`: bincode values,
/// undo journal) or an SQLite file in the temp dir (`FILE = true`, `Provider(path)`).
struct BindingProvider<const FILE: bool, C: BenchCrypto = RustCrypto> {
    crypto: C,
    storage: storage::Storage,
    path: Option<std::path::PathBuf>,
}

impl<const FILE: bool, C: BenchCrypto> OpenMlsProvider for BindingProvider<FILE, C> {
    type CryptoProvider = C;
    type RandProvider = RustCrypto;
    type StorageProvider = storage::Storage;
    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }
    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }
    fn rand(&self) -> &Self::RandProvider {
        self.crypto.rand()
    }
}

impl<const FILE: bool, C: BenchCrypto> BenchProvider for BindingProvider<FILE, C> {
    const RING: bool = C::RING;
    fn fresh() -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = FILE.then(|| {
            let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::env::temp_dir().join(format!("binding-overhead-{}-{i}.sqlite", std::process::id()))
        });
        let storage = storage::Storage::open(path.as_ref().map(|p| p.to_str().expect("utf-8 temp path")))
            .expect("open storage");
        Self { crypto: C::default(), storage, path }
    }
    fn call<T>(&self, f: impl FnOnce() -> T) -> T {
        self.storage.begin().expect("begin");
        let out = f();
        self.storage.commit().expect("commit");
        out
    }
}

impl<const FILE: bool, C: BenchCrypto> Drop for BindingProvider<FILE, C> {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
    }
}

/// OpenMLS's basic signer, or for `BenchProvider::RING` P-256 signing by `ring` with the
/// same key, as the binding's signer does (stored as the basic signer in both cases).
struct BenchSigner {
    basic: SignatureKeyPair,
    ring: Option<ring::signature::EcdsaKeyPair>,
}

impl BenchSigner {
    fn new<P: BenchProvider>(scheme: SignatureScheme) -> Self {
        let (private, public) = RustCrypto::default().signature_key_gen(scheme).expect("signer");
        let ring = (P::RING && scheme == SignatureScheme::ECDSA_SECP256R1_SHA256)
            .then(|| crypto::ring_p256_key(&private, &public).expect("ring key"));
        Self { basic: SignatureKeyPair::from_raw(scheme, private, public), ring }
    }

    fn public(&self) -> &[u8] {
        self.basic.public()
    }
}

impl Signer for BenchSigner {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        match &self.ring {
            Some(k) => crypto::ring_p256_sign(k, payload).map_err(SignerError::CryptoError),
            None => self.basic.sign(payload),
        }
    }
    fn signature_scheme(&self) -> SignatureScheme {
        self.basic.signature_scheme()
    }
}

/// One client: its own provider (crypto + storage), signer and credential.
struct Client<P: BenchProvider> {
    provider: P,
    signer: BenchSigner,
    credential: CredentialWithKey,
}

impl<P: BenchProvider> Client<P> {
    fn new(suite: Ciphersuite, name: &str) -> Self {
        let provider = P::fresh();
        let signer = BenchSigner::new::<P>(suite.signature_algorithm());
        signer.basic.store(provider.storage()).expect("store signer");
        let credential = CredentialWithKey {
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.public().into(),
        };
        Self { provider, signer, credential }
    }

    fn key_package(&self, suite: Ciphersuite) -> KeyPackage {
        self.provider.call(|| {
            KeyPackage::builder()
                .build(suite, &self.provider, &self.signer, self.credential.clone())
                .expect("key package")
                .key_package()
                .clone()
        })
    }
}

/// A key package of a member that never joins, signed by its own key, stored in `pool`.
fn pool_key_package<P: BenchProvider>(pool: &P, suite: Ciphersuite, i: usize) -> KeyPackage {
    let signer = BenchSigner::new::<P>(suite.signature_algorithm());
    let credential = CredentialWithKey {
        credential: BasicCredential::new(format!("m{i}").into_bytes()).into(),
        signature_key: signer.public().into(),
    };
    pool.call(|| {
        KeyPackage::builder()
            .build(suite, pool, &signer, credential)
            .expect("key package")
            .key_package()
            .clone()
    })
}

fn create_config(suite: Ciphersuite) -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(suite)
        .use_ratchet_tree_extension(true)
        .wire_format_policy(PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
        .max_past_epochs(2)
        .build()
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
        .max_past_epochs(2)
        .build()
}

fn to_bytes(msg: &MlsMessageOut) -> Vec<u8> {
    msg.tls_serialize_detached().expect("serialize")
}

fn parse(bytes: &[u8]) -> MlsMessageIn {
    MlsMessageIn::tls_deserialize_exact(bytes).expect("deserialize")
}

fn create_group<P: BenchProvider>(c: &Client<P>, suite: Ciphersuite) -> MlsGroup {
    c.provider.call(|| {
        MlsGroup::new(&c.provider, &c.signer, &create_config(suite), c.credential.clone())
            .expect("create group")
    })
}

/// Add-all as an application does it: commit, serialise commit/welcome/group info, merge.
fn add_all<P: BenchProvider>(c: &Client<P>, group: &mut MlsGroup, kps: &[KeyPackage]) -> Vec<u8> {
    let welcome_bytes = c.provider.call(|| {
        let (commit, welcome, group_info) =
            group.add_members(&c.provider, &c.signer, kps).expect("add members");
        let _commit_bytes = to_bytes(&commit);
        let _gi_bytes = group_info.map(|gi| to_bytes(&MlsMessageOut::from(gi)));
        to_bytes(&welcome)
    });
    c.provider.call(|| group.merge_pending_commit(&c.provider).expect("merge add"));
    welcome_bytes
}

fn join<P: BenchProvider>(c: &Client<P>, welcome_bytes: &[u8]) -> MlsGroup {
    let welcome = match parse(welcome_bytes).extract() {
        MlsMessageBodyIn::Welcome(w) => w,
        _ => panic!("not a welcome"),
    };
    c.provider.call(|| {
        StagedWelcome::new_from_welcome(&c.provider, &join_config(), welcome, None)
            .expect("stage welcome")
            .into_group(&c.provider)
            .expect("join")
    })
}

/// Receive a handshake or application message: parse, process, merge if it is a commit.
fn receive<P: BenchProvider>(c: &Client<P>, group: &mut MlsGroup, bytes: &[u8]) -> Option<Vec<u8>> {
    let msg = parse(bytes).try_into_protocol_message().expect("protocol message");
    let processed = c.provider.call(|| group.process_message(&c.provider, msg).expect("process"));
    match processed.into_content() {
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            c.provider.call(|| {
                group.merge_staged_commit(&c.provider, *staged).expect("merge staged")
            });
            None
        }
        ProcessedMessageContent::ApplicationMessage(app) => Some(app.into_bytes()),
        _ => panic!("unexpected message"),
    }
}

fn self_update<P: BenchProvider>(c: &Client<P>, group: &mut MlsGroup) -> Vec<u8> {
    let commit_bytes = c.provider.call(|| {
        let bundle = group
            .self_update(&c.provider, &c.signer, LeafNodeParameters::default())
            .expect("self update");
        let (commit, _welcome, group_info) = bundle.into_messages();
        let _gi_bytes = group_info.map(|gi| to_bytes(&gi));
        to_bytes(&commit)
    });
    c.provider.call(|| group.merge_pending_commit(&c.provider).expect("merge update"));
    commit_bytes
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// CPU time of the whole process, in seconds: all threads, including the rayon workers
/// OpenMLS encrypts path secrets on.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

thread_local! {
    /// Wall-clock samples beside the CPU-time ones (drained by `record`).
    static WALL: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Thread CPU time of one call (the wall time goes to `WALL`).
fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let c = thread_cpu();
    let out = f();
    let cpu = thread_cpu() - c;
    WALL.with(|w| w.borrow_mut().push(t.elapsed().as_secs_f64()));
    (cpu, out)
}

/// CPU time of each primitive the MLS operations are made of (fastest of 200), same provider.
fn primitive_times(suite: Ciphersuite) -> Value {
    let p = OpenMlsRustCrypto::default();
    let crypto = p.crypto();
    let scheme = suite.signature_algorithm();
    let (sk, pk) = crypto.signature_key_gen(scheme).expect("sig keygen");
    let data = vec![7u8; 256];
    let sig = crypto.sign(scheme, &data, &sk).expect("sign");
    let kp = crypto.derive_hpke_keypair(suite.hpke_config(), &[3u8; 32]).expect("derive");
    let payload = vec![9u8; 96]; // about a GroupSecrets / path secret
    let info = vec![1u8; 64];
    let ct: HpkeCiphertext = crypto.hpke_seal(suite.hpke_config(), &kp.public, &info, &[], &payload).expect("seal");
    let aead = suite.aead_algorithm();
    let key = vec![5u8; suite.aead_key_length()];
    let nonce = vec![6u8; suite.aead_nonce_length()];
    let msg = vec![8u8; 128];
    let sealed = crypto.aead_encrypt(aead, &key, &msg, &nonce, &[]).expect("aead");
    let reps = 200;
    let run = |f: &mut dyn FnMut()| {
        let mut v: Vec<f64> = (0..reps)
            .map(|_| {
                let t = thread_cpu();
                f();
                thread_cpu() - t
            })
            .collect();
        // The fastest run: the primitive's cost without interference from other processes.
        v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        v[0]
    };
    let mut ikm = [0u8; 32];
    json!({
        "sign": run(&mut || { crypto.sign(scheme, &data, &sk).expect("sign"); }),
        "verify": run(&mut || { crypto.verify_signature(scheme, &data, &pk, &sig).expect("verify"); }),
        "hpke_seal": run(&mut || { crypto.hpke_seal(suite.hpke_config(), &kp.public, &info, &[], &payload).expect("seal"); }),
        "hpke_open": run(&mut || { crypto.hpke_open(suite.hpke_config(), &ct, &kp.private, &info, &[]).expect("open"); }),
        "hpke_derive_keypair": run(&mut || {
            ikm[0] = ikm[0].wrapping_add(1);
            crypto.derive_hpke_keypair(suite.hpke_config(), &ikm).expect("derive");
        }),
        "aead_seal": run(&mut || { crypto.aead_encrypt(aead, &key, &msg, &nonce, &[]).expect("aead"); }),
        "aead_open": run(&mut || { crypto.aead_decrypt(aead, &key, &sealed, &nonce, &[]).expect("aead"); }),
    })
}

/// Number of parent levels above the leaves: the length of leaf 0's direct path.
fn depth(leaves: usize) -> usize {
    let mut d = 0;
    while (1usize << d) < leaves {
        d += 1;
    }
    d
}

/// Nodes on the direct path of leaf `j` from its lowest common ancestor with leaf 0 up.
fn shared_path(j: usize, leaves: usize) -> usize {
    let lca_level = usize::BITS as usize - j.leading_zeros() as usize; // level of LCA(0, j)
    depth(leaves) + 1 - lca_level
}

/// What RFC 9420 makes each operation do in public-key crypto (hashes not counted).
/// `m` is the group size after the operation; `joiners` the leaf indices that joined.
fn floor_counts(op: &str, m: usize, joiners: &[usize]) -> Value {
    let d = depth(m);
    match op {
        // new leaf: one HPKE key pair, one LeafNode signature
        "create" => json!({"hpke_derive_keypair": 1, "sign": 1}),
        // GroupSecrets sealed to each new member; fresh path from leaf 0 (copath resolution
        // holds only new members, who get the path secret in the Welcome: no path seals);
        // signatures: leaf node, commit, GroupInfo
        "add_all" => json!({"hpke_seal": m - 1, "hpke_derive_keypair": d + 1, "sign": 3}),
        // open GroupSecrets; verify GroupInfo and every leaf of the tree; derive the path
        // from the common ancestor with the committer up
        "join" => {
            let derive: f64 = joiners.iter().map(|&j| shared_path(j, m) as f64).sum::<f64>()
                / joiners.len() as f64;
            json!({"hpke_open": 1, "verify": m + 1, "hpke_derive_keypair": derive})
        }
        // committer (leaf 0): new leaf key pair + path, seal to every copath resolution
        // (every other member, since only leaf 0's path is populated); signatures: leaf,
        // commit, GroupInfo. Receiver (leaf 1): verify commit + leaf, open one path secret,
        // derive the path to check its public keys.
        "self_update" => json!({
            "hpke_seal": m - 1, "hpke_derive_keypair": 2 * d + 1, "sign": 3,
            "verify": 2, "hpke_open": 1,
        }),
        "app_message" => json!({"sign": 1, "verify": 1, "aead_seal": 1, "aead_open": 1}),
        _ => json!({}),
    }
}

fn floor_seconds(counts: &Value, prims: &Value) -> f64 {
    counts
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, n)| n.as_f64().expect("count") * prims[k].as_f64().expect("prim"))
        .sum()
}

fn reps_for(n: usize, small: usize, mid: usize, large: usize) -> usize {
    match n {
        0..=10 => small,
        11..=100 => mid,
        _ => large,
    }
}

fn bench_size<P: BenchProvider>(
    suite: Ciphersuite,
    n: usize,
    scale_only: bool,
    prims: &Value,
) -> Vec<Value> {
    let creator = Client::<P>::new(suite, "creator");
    let add_reps = reps_for(n, 10, 5, if n > 1000 { 1 } else { 3 });
    let join_reps = reps_for(n, 9, 9, if n > 1000 { 3 } else { 5 }).min(n);
    // Joiners get their own provider; the other members' key packages (distinct signers)
    // live in one shared pool provider, which keeps 10,000-member runs in memory.
    let members: Vec<Client<P>> =
        (0..join_reps.max(1)).map(|i| Client::new(suite, &format!("m{i}"))).collect();
    let pool = P::fresh();
    let mut kps: Vec<KeyPackage> = members.iter().map(|m| m.key_package(suite)).collect();
    kps.extend((members.len()..n).map(|i| pool_key_package(&pool, suite, i)));
    let mut out = Vec::new();
    let mut record = |op: &str, mut samples: Vec<f64>, joiners: &[usize]| {
        let counts = floor_counts(op, n + 1, joiners);
        let floor = floor_seconds(&counts, prims);
        let raw = samples.clone();
        let mut wall: Vec<f64> = WALL.with(|w| w.borrow_mut().drain(..).collect());
        let wall_raw = wall.clone();
        out.push(json!({
            "suite": u16::from(suite), "n": n, "op": op, "median_s": median(&mut samples),
            "samples_s": raw, "wall_median_s": median(&mut wall), "wall_samples_s": wall_raw,
            "floor_s": floor, "floor_counts": counts,
        }));
    };

    if !scale_only {
        let samples = (0..20).map(|_| time(|| create_group(&creator, suite)).0).collect();
        record("create", samples, &[]);
    }

    let mut welcome = Vec::new();
    let mut group = None;
    let mut samples = Vec::new();
    for _ in 0..add_reps {
        let mut g = create_group(&creator, suite);
        let (t, w) = time(|| add_all(&creator, &mut g, &kps));
        samples.push(t);
        welcome = w;
        group = Some(g);
    }
    record("add_all", samples, &[]);
    let mut group = group.expect("a group");

    // Joiners are leaves 1..=join_reps; each joins once (its key package is consumed).
    let mut joined = Vec::new();
    let mut samples = Vec::new();
    for m in members.iter().take(join_reps) {
        let (t, g) = time(|| join(m, &welcome));
        samples.push(t);
        joined.push(g);
    }
    let joiners: Vec<usize> = (1..=join_reps).collect();
    record("join", samples, &joiners);
    if scale_only {
        return out;
    }

    let receiver = &members[0];
    let mut rgroup = joined.swap_remove(0);
    let upd_reps = reps_for(n, 20, 10, 5);
    let mut samples = Vec::new();
    for _ in 0..upd_reps {
        let (t, ()) = time(|| {
            let commit = self_update(&creator, &mut group);
            receive(receiver, &mut rgroup, &commit);
        });
        samples.push(t);
    }
    assert_eq!(
        group.epoch_authenticator().as_slice(),
        rgroup.epoch_authenticator().as_slice(),
        "creator and receiver agree"
    );
    record("self_update", samples, &[]);

    let payload = vec![b'x'; 100];
    let mut samples = Vec::new();
    for _ in 0..300 {
        let (t, ()) = time(|| {
            let msg = creator.provider.call(|| {
                group.create_message(&creator.provider, &creator.signer, &payload).expect("msg")
            });
            let got = receive(receiver, &mut rgroup, &to_bytes(&msg)).expect("app");
            assert_eq!(got.len(), payload.len());
        });
        samples.push(t);
    }
    record("app_message", samples, &[]);
    out
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = arg(&args, "--sizes", "10,100,1000")
        .split(',')
        .map(|s| s.parse().expect("size"))
        .collect();
    let suites: Vec<u16> = arg(&args, "--suites", "2,1")
        .split(',')
        .map(|s| s.parse().expect("suite"))
        .collect();
    let scale_only = arg(&args, "--ops", "all") == "scale";
    let storage = arg(&args, "--storage", "memory");
    let mut results = Vec::new();
    let mut primitives = serde_json::Map::new();
    for s in suites {
        let suite = Ciphersuite::try_from(s).expect("ciphersuite");
        let prims = primitive_times(suite);
        primitives.insert(s.to_string(), prims.clone());
        for &n in &sizes {
            eprintln!("rust ({storage}): suite {s} n {n}");
            results.extend(match storage.as_str() {
                "memory" => bench_size::<OpenMlsRustCrypto>(suite, n, scale_only, &prims),
                "binding" => bench_size::<BindingProvider<false>>(suite, n, scale_only, &prims),
                "sqlite" => bench_size::<BindingProvider<true>>(suite, n, scale_only, &prims),
                "binding-ring" => {
                    bench_size::<BindingProvider<false, crypto::Crypto>>(suite, n, scale_only, &prims)
                }
                "sqlite-ring" => {
                    bench_size::<BindingProvider<true, crypto::Crypto>>(suite, n, scale_only, &prims)
                }
                other => panic!("unknown storage {other}"),
            });
        }
    }
    println!(
        "{}",
        json!({"impl": "openmls-rust", "storage": storage, "primitives": primitives,
               "results": results})
    );
}
