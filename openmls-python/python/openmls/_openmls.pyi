"""Type stub of the native module ``openmls._openmls`` (PyO3 binding of OpenMLS 0.8.1).

Conventions (apply to every entry point):

* All ``bytes`` are TLS-serialised RFC 9420 structures. "message bytes" means an
  ``MLSMessage`` (``version || wire_format || body``).
* Any bytes that come from outside may be garbage: every parse raises an
  :class:`MlsError` subclass, never anything else. A Rust panic is caught and raised as
  :class:`MlsError` (never PyO3's ``PanicException``).
* Objects are thread-safe. Heavy calls (commit creation, message processing, joining)
  release the GIL, so callers may use worker threads (``trio.to_thread.run_sync``).
  Calls on objects sharing one :class:`Provider` are serialised by the provider's lock.
* All :class:`Group` objects for one group id from one :class:`Provider` (created,
  joined or loaded) share one state: an operation through one is seen by the others.
* Group state lives in the provider's storage; every operation writes it before it
  returns, all or nothing (one transaction per operation: SQLite's for a file, an undo
  journal in memory).
"""

from collections.abc import Sequence
from os import PathLike
from types import ModuleType
from typing import final

OPENMLS_VERSION: str
"""The pinned OpenMLS release this module is built against ("0.8.1")."""

DEFAULT_CREDENTIAL_TYPES: tuple[int, ...]
"""Credential types listed by a default :class:`Capabilities`: basic (1), 0xF001, 0xF002."""

# --------------------------------------------------------------------------- errors

class MlsError(Exception):
    """Base class of every error raised by the binding (including caught Rust panics)."""

class InvalidMessage(MlsError):
    """Bytes that do not parse, or a message that fails RFC 9420 validation."""

class InvalidKeyPackage(InvalidMessage):
    """A KeyPackage that does not parse or fails validation (signature, lifetime, ...)."""

class WrongEpoch(MlsError):
    """A message or staged commit for an epoch other than the group's current one."""

class PendingCommit(MlsError):
    """The operation is refused while this member's own commit is pending."""

class StorageError(MlsError):
    """The provider's storage failed, holds inconsistent data, or is no openmls-python file."""

class InvalidCredential(MlsError):
    """A credential, signature key or capabilities problem (e.g. unsupported type)."""

class InvalidSignature(MlsError):
    """A signature did not verify (labelled signatures, message signatures)."""

class UnknownGroup(MlsError):
    """No group (or public group) with that id is in the provider's storage."""

class NoMatchingKeyPackage(MlsError):
    """A Welcome names none of this provider's stored KeyPackages."""

class InactiveGroup(MlsError):
    """The group can no longer be used: this member was removed (or left)."""

# --------------------------------------------------------------------------- provider

@final
class Provider:
    """Crypto (OpenMLS's RustCrypto provider; ECDSA P-256 signatures by ``ring``) + storage:
    in memory by default (private to this object and its
    copies), an SQLite file when ``path`` is given (then groups survive process restarts).
    Files written by earlier versions (JSON values) are read and written in their format."""

    def __init__(self, path: str | PathLike[str] | None = None) -> None:
        """Open (creating if needed) the storage. ``None`` = private, in memory. Raises
        ``StorageError`` if the file cannot be opened or is not an openmls-python file."""
    @property
    def path(self) -> str | None:
        """The SQLite file path, or ``None`` for an in-memory provider."""
    def supported_ciphersuites(self) -> list[int]:
        """Ciphersuite code points the crypto provider supports (1, 2, 3)."""

# --------------------------------------------------------------------------- keys

@final
class SignatureKeyPair:
    """An MLS signature key pair. Only labelled signing is exposed (RFC 9420 §5.1.2)."""

    @staticmethod
    def generate(ciphersuite: int) -> SignatureKeyPair:
        """Fresh key pair of the ciphersuite's signature scheme."""
    @staticmethod
    def from_p256_private_key(private_key: bytes) -> SignatureKeyPair:
        """Import an ECDSA P-256 key: PKCS#8 DER, SEC1 ``ECPrivateKey`` DER, or the raw
        32-byte scalar. Raises :class:`InvalidCredential` if it is none of these."""
    @property
    def public_key(self) -> bytes:
        """The MLS ``signature_key``: P-256 = 65-byte uncompressed SEC1 point;
        Ed25519 = 32 bytes."""
    @property
    def signature_scheme(self) -> int:
        """TLS SignatureScheme code point (0x0403 ecdsa_secp256r1_sha256, 0x0807 ed25519)."""
    def store(self, provider: Provider) -> None:
        """Write the key pair into the provider's storage (keyed by public key)."""
    @staticmethod
    def load(provider: Provider, public_key: bytes) -> SignatureKeyPair:
        """Read a stored key pair. Raises :class:`StorageError` if it is not stored."""
    def sign_with_label(self, label: str | bytes, content: bytes) -> bytes:
        """RFC 9420 SignWithLabel: sign ``SignContent{"MLS 1.0 " + label, content}``."""

def verify_with_label(
    signature_scheme: int,
    public_key: bytes,
    label: str | bytes,
    content: bytes,
    signature: bytes,
) -> None:
    """RFC 9420 VerifyWithLabel. Returns ``None`` when valid; raises :class:`InvalidSignature`
    when not (also for a malformed key or signature)."""

def _verify_with_label_rustcrypto(
    signature_scheme: int,
    public_key: bytes,
    label: str | bytes,
    content: bytes,
    signature: bytes,
) -> None:
    """Testing only: :func:`verify_with_label` by OpenMLS's RustCrypto provider alone (the
    binding verifies ECDSA P-256 with ``ring``); the reference the differential tests
    compare against."""

def _panic_in_transaction(provider: Provider, signer: SignatureKeyPair) -> None:
    """Testing only: stores ``signer`` in a transaction, then panics (as an OpenMLS bug
    would). Raises :class:`MlsError`; the write is rolled back."""

# --------------------------------------------------------------------------- credentials

@final
class Credential:
    """An MLS credential of any type (basic = 1, x509 = 2, private-use 0xF000-0xFFFF ...).
    Equality compares type and content."""

    def __init__(self, credential_type: int, content: bytes) -> None:
        """Credential whose wire form is ``credential_type || opaque content<V>``.
        For basic credentials ``content`` is the identity."""
    @staticmethod
    def basic(identity: bytes) -> Credential:
        """A basic credential (type 1) with the given identity."""
    @property
    def credential_type(self) -> int:
        """The credential type code point."""
    @property
    def content(self) -> bytes:
        """The opaque content (for basic: the identity; for x509: the TLS-encoded
        ``certificates<V>`` vector)."""
    def to_bytes(self) -> bytes:
        """TLS serialisation of the Credential struct."""
    @staticmethod
    def from_bytes(data: bytes) -> Credential:
        """Parse a TLS-serialised Credential (all bytes must be consumed)."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Capabilities:
    """LeafNode capabilities (RFC 9420 §7.2). Versions are always MLS 1.0."""

    def __init__(
        self,
        *,
        credentials: Sequence[int] = ...,
        extensions: Sequence[int] = (),
        proposals: Sequence[int] = (),
        ciphersuites: Sequence[int] | None = None,
    ) -> None:
        """``credentials`` defaults to :data:`DEFAULT_CREDENTIAL_TYPES`; ``extensions`` and
        ``proposals`` list only non-default types; ``ciphersuites=None`` = all supported."""
    @property
    def credentials(self) -> list[int]:
        """Supported credential types."""
    @property
    def extensions(self) -> list[int]:
        """Supported (non-default) extension types."""
    @property
    def proposals(self) -> list[int]:
        """Supported (non-default) proposal types."""
    @property
    def ciphersuites(self) -> list[int]:
        """Supported ciphersuites."""

@final
class KeyPackage:
    """A validated KeyPackage. Created ones also have their private part (the bundle)
    stored in the provider, so that a Welcome for them can be joined."""

    @staticmethod
    def create(
        provider: Provider,
        signer: SignatureKeyPair,
        credential: Credential,
        *,
        ciphersuite: int = 2,
        lifetime_seconds: int | None = None,
        last_resort: bool = False,
        capabilities: Capabilities | None = None,
        application_id: bytes | None = None,
    ) -> KeyPackage:
        """Create, sign and store a KeyPackage (its private keys and the signer go into the
        provider, so a Welcome for it can be joined). ``lifetime_seconds=None`` = OpenMLS's
        default (about 12 weeks, starting one hour in the past). ``application_id`` goes
        into the LeafNode's application_id extension. The capabilities must list the
        credential's type (default :class:`Capabilities` lists basic, 0xF001, 0xF002)."""
    @staticmethod
    def parse(provider: Provider, data: bytes) -> KeyPackage:
        """Parse (MLSMessage-wrapped or raw KeyPackage bytes) and validate: signatures,
        lifetime, init key != encryption key, capabilities. Raises :class:`InvalidKeyPackage`."""
    def to_bytes(self) -> bytes:
        """The KeyPackage wrapped in an MLSMessage (how KeyPackages travel)."""
    def to_raw_bytes(self) -> bytes:
        """The bare TLS-serialised KeyPackage struct."""
    @property
    def credential(self) -> Credential:
        """The LeafNode's credential."""
    @property
    def signature_key(self) -> bytes:
        """The LeafNode's signature key."""
    @property
    def ciphersuite(self) -> int:
        """The KeyPackage's ciphersuite."""
    @property
    def lifetime(self) -> tuple[int, int]:
        """``(not_before, not_after)`` in Unix seconds."""
    @property
    def last_resort(self) -> bool:
        """Whether it carries the last_resort extension (not deleted on use)."""
    @property
    def application_id(self) -> bytes | None:
        """The LeafNode's application_id extension, if any."""
    @property
    def capabilities(self) -> Capabilities:
        """The LeafNode's capabilities."""
    def hash_ref(self, provider: Provider | None = None) -> bytes:
        """KeyPackageRef (RFC 9420 §5.2, hash of the KeyPackage). ``provider`` is unused
        (kept for symmetry)."""

# --------------------------------------------------------------------------- inspection

class LeafInfo:
    """A leaf (member) as seen during inspection. ``index`` is ``None`` where the leaf's
    position is not known yet (e.g. an Add before merge)."""

    @property
    def index(self) -> int | None:
        """Leaf index in the tree, if known."""
    @property
    def credential(self) -> Credential:
        """The leaf's credential."""
    @property
    def signature_key(self) -> bytes:
        """The leaf's signature key."""
    @property
    def encryption_key(self) -> bytes:
        """The leaf's HPKE encryption key."""
    @property
    def application_id(self) -> bytes | None:
        """The leaf's application_id extension, if any."""
    @property
    def capabilities(self) -> Capabilities:
        """The leaf's capabilities."""
    @property
    def lifetime(self) -> tuple[int, int] | None:
        """``(not_before, not_after)`` for leaves that came from a KeyPackage, else ``None``."""

@final
class Member(LeafInfo):
    """A current member: a leaf with a known index."""

    @property
    def index(self) -> int:
        """Leaf index in the tree."""

@final
class CommitBundle:
    """What a commit produces. Send ``commit`` to the group, ``welcome`` to the new
    members, and ``group_info`` to the delivery service (for resync)."""

    @property
    def commit(self) -> bytes:
        """MLSMessage (PublicMessage) carrying the Commit."""
    @property
    def welcome(self) -> bytes | None:
        """MLSMessage(Welcome) for the added members, if any were added."""
    @property
    def group_info(self) -> bytes | None:
        """MLSMessage(GroupInfo) of the new epoch, signed, with the ratchet tree extension
        and external_pub (so it can be used for an external join)."""

@final
class ApplicationMessage:
    """A decrypted application message."""

    @property
    def sender(self) -> Member:
        """The sending member. Index and credential are those of the message's epoch; the
        keys come from the current tree. Its application_id, capabilities and lifetime are
        read from the tree on first access: do that before the group changes epoch
        (afterwards they raise :class:`WrongEpoch`)."""
    @property
    def data(self) -> bytes:
        """The plaintext."""
    @property
    def epoch(self) -> int:
        """The epoch it was sent in."""
    @property
    def authenticated_data(self) -> bytes:
        """The (unencrypted, authenticated) AAD."""

@final
class ProposalMessage:
    """A standalone proposal. A :class:`Group` stores it as pending (a later commit may
    include it); a :class:`PublicGroup` stores it too."""

    @property
    def kind(self) -> str:
        """ "add", "update", "remove", "psk", "reinit", "external_init",
        "group_context_extensions", "self_remove" or "custom"."""
    @property
    def sender(self) -> Member | None:
        """The proposing member, or ``None`` for a non-member (external) sender."""
    @property
    def sender_index(self) -> int | None:
        """The proposing member's leaf index, or ``None`` for an external sender."""
    @property
    def epoch(self) -> int:
        """The epoch the proposal was made in."""
    @property
    def proposal_ref(self) -> bytes:
        """ProposalRef (hash reference) of the proposal."""
    @property
    def leaf(self) -> LeafInfo | None:
        """For add: the new member's leaf; for update: the new leaf; else ``None``."""
    @property
    def removed(self) -> int | None:
        """For remove: the leaf index to remove; else ``None``."""

@final
class StagedCommit:
    """A validated commit, inspected BEFORE merging. Nothing has changed in the group
    yet: merge with ``group.merge_staged_commit(staged)``; drop it to reject."""

    @property
    def group_id(self) -> bytes:
        """The group the commit belongs to."""
    @property
    def epoch(self) -> int:
        """The epoch the commit was made in (the group's current epoch)."""
    @property
    def new_epoch(self) -> int:
        """The epoch after merging (``epoch + 1``)."""
    @property
    def committer(self) -> int | None:
        """Leaf index of the committer; ``None`` for an external commit (new joiner)."""
    @property
    def committer_leaf(self) -> LeafInfo | None:
        """The committer's current leaf (before the commit), ``None`` for external.
        For a Group's commit this is looked up in the group on access: read it before
        merging (afterwards it raises :class:`WrongEpoch`)."""
    @property
    def adds(self) -> list[LeafInfo]:
        """The leaves added (from their KeyPackages)."""
    @property
    def updates(self) -> list[Member]:
        """Update proposals: the new leaf of each updating member (index = updater)."""
    @property
    def removes(self) -> list[int]:
        """Leaf indices removed."""
    @property
    def removed_members(self) -> list[Member]:
        """The removed members as they are now (before the commit); like
        :attr:`committer_leaf`, read it before merging."""
    @property
    def path_leaf(self) -> LeafInfo | None:
        """The committer's new leaf from the update path, if the commit has a path
        (for an external commit: the joiner's leaf)."""
    @property
    def self_removed(self) -> bool:
        """True if this commit removes the inspecting member (groups only)."""
    @property
    def psk_count(self) -> int:
        """Number of PSK proposals."""
    @property
    def is_external(self) -> bool:
        """True for an external commit (a join / resync)."""
    @property
    def epoch_authenticator(self) -> bytes | None:
        """The new epoch's authenticator (``None`` when staged by a PublicGroup)."""

@final
class StagedWelcome:
    """A decrypted, validated Welcome, inspected BEFORE joining. Dropping it leaves the
    provider's storage as it was (the KeyPackage stays usable)."""

    @staticmethod
    def from_bytes(
        provider: Provider,
        welcome: bytes,
        *,
        ratchet_tree: bytes | None = None,
        max_past_epochs: int = 2,
        accept_private_handshake: bool = False,
        replace_existing: bool = False,
    ) -> StagedWelcome:
        """Decrypt and validate ``welcome`` (MLSMessage(Welcome)) with a stored KeyPackage.
        ``ratchet_tree`` is needed only when the GroupInfo lacks the ratchet tree extension.
        The joined group gets this member's handshake policy (``accept_private_handshake``)
        and ``max_past_epochs``. Raises :class:`NoMatchingKeyPackage` (not for us),
        :class:`InvalidMessage` / :class:`InvalidSignature` / :class:`InvalidCredential`
        (bad Welcome, GroupInfo or tree), :class:`MlsError` if a group with this id is
        already stored, unless ``replace_existing`` (re-added after a removal): then
        :meth:`accept` deletes the stored group first."""
    @property
    def sender(self) -> Member:
        """The member that sent the Welcome (signer of the GroupInfo)."""
    @property
    def members(self) -> list[Member]:
        """Every member of the ratchet tree, including this joiner."""
    @property
    def own_index(self) -> int:
        """This joiner's leaf index."""
    @property
    def group_id(self) -> bytes:
        """The group id."""
    @property
    def epoch(self) -> int:
        """The epoch being joined."""
    @property
    def ciphersuite(self) -> int:
        """The group's ciphersuite."""
    @property
    def required_credential_types(self) -> list[int]:
        """Credential types of the group's RequiredCapabilities extension."""
    def accept(self) -> Group:
        """Join: write the group into storage. Only once; raises :class:`MlsError` after."""

@final
class ExternalJoin:
    """An external-commit join (resync) staged for inspection: the tree from the
    GroupInfo has been validated but nothing is stored yet."""

    @property
    def members(self) -> list[Member]:
        """The members of the group being joined (before the joiner's commit)."""
    @property
    def group_id(self) -> bytes:
        """The group id."""
    @property
    def epoch(self) -> int:
        """The GroupInfo's epoch (the commit creates ``epoch + 1``)."""
    @property
    def ciphersuite(self) -> int:
        """The group's ciphersuite."""
    def accept(self) -> tuple[Group, CommitBundle]:
        """Create the external commit and the group, already at ``epoch + 1`` (OpenMLS
        merges an external commit at once). Any group with this id stored in the provider
        is replaced (a resync). If the delivery service refuses the commit, ``delete()``
        the group and join again from the newer GroupInfo. Only once."""

# --------------------------------------------------------------------------- groups

@final
class Group:
    """An MLS group this member belongs to. State lives in the provider's storage."""

    @staticmethod
    def create(
        provider: Provider,
        signer: SignatureKeyPair,
        credential: Credential,
        *,
        group_id: bytes | None = None,
        ciphersuite: int = 2,
        required_credential_types: Sequence[int] = (),
        max_past_epochs: int = 2,
        use_ratchet_tree_extension: bool = True,
        capabilities: Capabilities | None = None,
        application_id: bytes | None = None,
        lifetime_seconds: int | None = None,
        accept_private_handshake: bool = False,
    ) -> Group:
        """Create a one-member group. Handshake messages are sent as PublicMessage,
        application messages as PrivateMessage; incoming handshake messages must be
        PublicMessage unless ``accept_private_handshake``. ``group_id=None`` = 16
        random bytes. ``required_credential_types`` become the RequiredCapabilities
        group-context extension. The signer is stored in the provider (for :meth:`load`)."""
    @staticmethod
    def load(provider: Provider, group_id: bytes) -> Group:
        """Load a stored group (and its signer). Raises :class:`UnknownGroup`."""
    @staticmethod
    def join_by_external_commit(
        provider: Provider,
        signer: SignatureKeyPair,
        credential: Credential,
        group_info: bytes,
        *,
        ratchet_tree: bytes | None = None,
        application_id: bytes | None = None,
        capabilities: Capabilities | None = None,
        max_past_epochs: int = 2,
        accept_private_handshake: bool = False,
    ) -> ExternalJoin:
        """Stage a join by external commit from ``group_info`` (MLSMessage(GroupInfo)).
        If a member with this signer's signature key is in the tree (a resync), the
        commit also removes that old leaf. Inspect, then :meth:`ExternalJoin.accept`."""
    @property
    def group_id(self) -> bytes:
        """The group id."""
    @property
    def epoch(self) -> int:
        """The current epoch."""
    @property
    def ciphersuite(self) -> int:
        """The group's ciphersuite."""
    @property
    def own_index(self) -> int:
        """This member's leaf index."""
    @property
    def own_leaf(self) -> Member:
        """This member's leaf."""
    @property
    def members(self) -> list[Member]:
        """All current members, by leaf index."""
    @property
    def is_active(self) -> bool:
        """False once this member has been removed."""
    @property
    def has_pending_commit(self) -> bool:
        """True while this member's own commit awaits merge/clear."""
    @property
    def has_pending_proposals(self) -> bool:
        """True if proposals are stored for the next commit."""
    @property
    def max_past_epochs(self) -> int:
        """How many past epochs' application messages can still be decrypted."""
    @property
    def required_credential_types(self) -> list[int]:
        """Credential types of the RequiredCapabilities extension."""
    @property
    def signature_public_key(self) -> bytes:
        """This member's current signature key."""
    def member(self, index: int) -> Member:
        """The member at leaf ``index``; raises :class:`MlsError` if the leaf is blank."""
    def add_members(self, key_packages: Sequence[KeyPackage]) -> CommitBundle:
        """Commit adding these members (one commit). The commit is pending until
        :meth:`merge_pending_commit`. Raises :class:`PendingCommit` if one is pending."""
    def remove_members(self, leaf_indices: Sequence[int]) -> CommitBundle:
        """Commit removing these leaves (pending until merged)."""
    def self_update(
        self,
        *,
        credential: Credential | None = None,
        signer: SignatureKeyPair | None = None,
        application_id: bytes | None = None,
    ) -> CommitBundle:
        """Commit with an update path: new encryption keys, optionally a new credential
        and/or a new signature key (``signer``; stored in the provider; becomes the
        group's signer after merge)."""
    def leave(self) -> bytes:
        """A Remove proposal for this member (MLSMessage); another member commits it."""
    def commit_pending_proposals(self) -> CommitBundle:
        """Commit the stored proposals (with a path). Pending until merged."""
    def merge_pending_commit(self) -> None:
        """Apply this member's own pending commit (after the delivery service accepted it)."""
    def clear_pending_commit(self) -> None:
        """Discard this member's own pending commit (the delivery service refused it)."""
    def create_message(self, data: bytes, *, authenticated_data: bytes = b"") -> bytes:
        """Encrypt an application message (MLSMessage(PrivateMessage)).
        Raises :class:`PendingCommit` while a commit is pending."""
    def process_message(self, data: bytes) -> ApplicationMessage | ProposalMessage | StagedCommit:
        """Decrypt/verify an incoming MLSMessage. Proposals are stored as pending;
        commits come back staged (not merged). Raises :class:`WrongEpoch`,
        :class:`InvalidMessage`, :class:`InactiveGroup`, ..."""
    def merge_staged_commit(self, staged: StagedCommit) -> None:
        """Merge a commit returned by :meth:`process_message` of this group. Raises
        :class:`WrongEpoch` if the group moved on since, :class:`MlsError` if merged twice."""
    def epoch_authenticator(self) -> bytes:
        """The current epoch authenticator (RFC 9420 §8.7)."""
    def export_secret(self, label: str, context: bytes, length: int) -> bytes:
        """MLS-Exporter(label, context, length) of the current epoch."""
    def export_ratchet_tree(self) -> bytes:
        """TLS-serialised ratchet tree (``optional<Node> ratchet_tree<V>``)."""
    def export_group_info(self, *, with_ratchet_tree: bool = True) -> bytes:
        """A signed MLSMessage(GroupInfo) of the current epoch, with external_pub."""
    def delete(self) -> None:
        """Delete this group's state from the provider's storage (e.g. after being removed,
        before joining the same group id again). The object is unusable afterwards."""

@final
class PublicGroup:
    """The public state of a group, for the delivery service: follows PublicMessage
    handshake messages without any secrets. Persisted in the provider's storage."""

    @staticmethod
    def from_group_info(
        provider: Provider, group_info: bytes, *, ratchet_tree: bytes | None = None
    ) -> PublicGroup:
        """Build from an MLSMessage(GroupInfo) (verified with its signer's key in the tree)
        and the ratchet tree (needed when the GroupInfo has no ratchet tree extension).
        Replaces any public group with that id stored in the provider."""
    @staticmethod
    def load(provider: Provider, group_id: bytes) -> PublicGroup:
        """Load a stored public group. Raises :class:`UnknownGroup`."""
    @property
    def group_id(self) -> bytes:
        """The group id."""
    @property
    def epoch(self) -> int:
        """The current epoch."""
    @property
    def ciphersuite(self) -> int:
        """The group's ciphersuite."""
    @property
    def members(self) -> list[Member]:
        """All current members, by leaf index."""
    @property
    def required_credential_types(self) -> list[int]:
        """Credential types of the RequiredCapabilities extension."""
    def member(self, index: int) -> Member:
        """The member at leaf ``index``; raises :class:`MlsError` if the leaf is blank."""
    def process_message(self, data: bytes) -> StagedCommit | ProposalMessage:
        """Verify an incoming PublicMessage handshake message (commit or proposal).
        Proposals are stored; commits come back staged. Application messages and
        PrivateMessages raise :class:`InvalidMessage` (they are opaque to the public group)."""
    def merge_staged_commit(self, staged: StagedCommit) -> None:
        """Apply a commit returned by :meth:`process_message` and store the new state."""
    def export_ratchet_tree(self) -> bytes:
        """TLS-serialised ratchet tree."""

# --------------------------------------------------------------------------- message inspection

@final
class MessageInfo:
    """The public framing of an MLSMessage, read without any group state."""

    @property
    def wire_format(self) -> str:
        """ "public_message", "private_message", "welcome", "group_info" or "key_package"."""
    @property
    def group_id(self) -> bytes | None:
        """For public/private messages and group info: the group id."""
    @property
    def epoch(self) -> int | None:
        """For public/private messages and group info: the epoch."""
    @property
    def content_type(self) -> str | None:
        """For public/private messages: "application", "proposal" or "commit"."""
    @property
    def sender_index(self) -> int | None:
        """For a PublicMessage from a member: its leaf index."""
    @property
    def sender_type(self) -> str | None:
        """For a PublicMessage: "member", "external", "new_member_proposal" or
        "new_member_commit"."""

def inspect_message(data: bytes) -> MessageInfo:
    """Parse an MLSMessage's framing (all bytes must be consumed).
    Raises :class:`InvalidMessage`."""

# ------------------------------------------------------------- STIR member certificates

@final
class LeafFacts:
    """What :meth:`KnownIssuer.check_leaf` established about a member certificate."""

    @property
    def not_before(self) -> int:
        """notBefore, POSIX seconds."""
    @property
    def not_after(self) -> int:
        """notAfter, POSIX seconds."""
    @property
    def public_key(self) -> bytes:
        """The certificate's key: the 65-byte uncompressed P-256 point (on the curve)."""
    @property
    def tnauthlist(self) -> bytes:
        """The TNAuthList extension's value (DER, undecoded)."""
    @property
    def jwt_claim_constraints(self) -> bytes | None:
        """The JWTClaimConstraints extension's value (DER, undecoded), if present."""
    @property
    def enhanced_jwt_claim_constraints(self) -> bytes | None:
        """The EnhancedJWTClaimConstraints extension's value (DER, undecoded), if present."""

@final
class KnownIssuer:
    """An issuer certificate the caller has already verified, ready to check member
    (end-entity) certificates under it: an **accept-only** check.

    :meth:`check_leaf` returns :class:`LeafFacts` only when it has shown everything the
    caller's full check (cryptography's X.509 verifier with the issuer as the only anchor,
    plus cryptography loading the certificate and its extensions) would accept: strict
    DER that re-encodes to the same bytes; X.509 v3; serial of 1-21 octets, not negative;
    no unique identifiers; inner = outer signature algorithm = ecdsa-with-SHA256 without
    parameters; issuer name bytes = the issuer's subject bytes; both validity times
    UTCTime; a non-empty plain subject; a P-256 key on the curve; the extension list
    matching a layout :meth:`learn` took from a leaf the caller accepted (same OIDs,
    criticality and value bytes, except subjectKeyIdentifier and the STIR extensions, which
    are per member); and the signature, verified with ``ring`` over the original TBS
    bytes. Anything else gives ``None`` ("not decided"): the caller then decides (and words
    any rejection) with its full check. The validity period is returned, not checked.
    """

    def __new__(cls, issuer_der: bytes) -> KnownIssuer:
        """Raises ValueError when leaves under this issuer cannot be checked here (not
        DER, not a P-256 key, empty subject)."""
    def learn(self, leaf_der: bytes) -> bool:
        """Remember the extension layout of ``leaf_der``, a leaf the caller's full check
        accepted under this issuer. False when it is not learnable (subjectAltName,
        nameConstraints, a critical STIR extension, no TNAuthList, a duplicate extension,
        not parsed here) or eight layouts are known already."""
    def check_leaf(self, leaf_der: bytes) -> LeafFacts | None:
        """The leaf's facts when every check passes, else None; never raises for any
        input bytes."""
    @property
    def layouts_known(self) -> int:
        """How many extension layouts :meth:`learn` has remembered."""

def p256_point_is_valid(point: bytes) -> bool:
    """Whether ``point`` is an uncompressed SEC1 P-256 point (65 bytes, 0x04 || X || Y) on
    the curve, coordinates below p. Never raises."""

def verify_es256(point: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (64 bytes, r || s: JWS ES256) is a valid ECDSA P-256 / SHA-256
    signature of ``message`` by the uncompressed P-256 ``point`` (``ring``). Never raises;
    malformed input is False."""

interop: ModuleType
"""Test-vector helpers; import them as ``openmls.interop`` (typed there)."""
