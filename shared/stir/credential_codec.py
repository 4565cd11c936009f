"""The MLS credential contents of the two STIR credential types (PROFILE.md §2).

TLS presentation language (RFC 9420 §2.1) with RFC 9420 §2.1.2 variable-length
integers as vector length prefixes::

    struct { opaque cert_data<V>; } Certificate;                       // RFC 9420 §5.3
    struct { Certificate certificates<V>; } STIRCertificateCredential;  // 0xF001
    struct { Certificate certificates<V>; opaque passport<V>; } STIRPASSporTCredential;  // 0xF002

The struct is the credential *content*: what goes in ``openmls.Credential(type, content)``,
which adds the ``credential_type`` and the outer ``opaque content<V>``.

Decoding is strict: a non-minimal or reserved (``0b11``) length prefix, a length running
past the end, trailing bytes, an empty certificate chain, an empty certificate or an
empty passport are all :class:`MalformedError` naming the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE, CREDENTIAL_TYPE_STIR_PASSPORT
from shared.stir.errors import MalformedError

# RFC 9420 §2.1.2: the two most significant bits of the first byte give the length of
# the integer (1, 2 or 4 bytes); 0b11 is reserved, so 2^30 - 1 is the largest value.
VARINT_MAX = (1 << 30) - 1


def encode_varint(value: int) -> bytes:
    """Encode ``value`` as an RFC 9420 variable-length integer, minimal length."""
    if value < 0 or value > VARINT_MAX:
        raise ValueError(f"{value} cannot be a variable-length integer (0 .. 2^30-1)")
    if value < 1 << 6:
        return value.to_bytes(1, "big")
    if value < 1 << 14:
        return (value | 0x4000).to_bytes(2, "big")
    return (value | 0x8000_0000).to_bytes(4, "big")


def encode_opaque(data: bytes) -> bytes:
    """Encode ``opaque data<V>``: varint length, then the bytes."""
    return encode_varint(len(data)) + bytes(data)


class TLSReader:
    """A cursor over TLS presentation-language bytes; every read is bounds-checked.

    ``what`` strings name the field being read so errors say where decoding failed;
    messages are only built on failure, keeping the success path cheap (credentials
    are decoded for every member of every group).
    """

    __slots__ = ("_context", "_data", "_end", "_pos")

    def __init__(self, data: bytes, context: str, *, _start: int = 0, _end: int | None = None):
        self._data = data if isinstance(data, bytes) else bytes(data)
        self._pos = _start
        self._end = len(self._data) if _end is None else _end
        self._context = context

    def _fail(self, message: str) -> MalformedError:
        return MalformedError(f"{self._context}: {message} (at byte {self._pos})")

    @property
    def remaining(self) -> int:
        """Bytes not yet read."""
        return self._end - self._pos

    def read_bytes(self, n: int, what: str) -> bytes:
        """Read exactly ``n`` bytes."""
        pos = self._pos
        if n > self._end - pos:
            raise self._fail(f"{what} needs {n} bytes but only {self.remaining} remain")
        self._pos = pos + n
        return self._data[pos : pos + n]

    def read_varint(self, what: str) -> int:
        """Read an RFC 9420 variable-length integer, rejecting non-minimal encodings."""
        pos = self._pos
        if pos >= self._end:
            raise self._fail(f"{what}: length prefix missing")
        first = self._data[pos]
        prefix = first >> 6
        if prefix == 0:
            self._pos = pos + 1
            return first
        if prefix == 0b11:
            raise self._fail(f"{what}: length prefix uses the reserved 0b11 form")
        size = 1 << prefix
        if size > self._end - pos:
            raise self._fail(
                f"{what} length prefix needs {size} bytes but only {self.remaining} remain"
            )
        value = int.from_bytes(self._data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1)
        if value < 1 << (8 * (size // 2) - 2):
            # RFC 9420 §2.1.2: the length must use the smallest encoding that fits.
            raise self._fail(f"{what}: length {value} is not minimally encoded ({size} bytes)")
        self._pos = pos + size
        return value

    def read_opaque(self, what: str) -> bytes:
        """Read ``opaque <V>``."""
        length = self.read_varint(what)
        return self.read_bytes(length, what)

    def read_vector(self, what: str) -> TLSReader:
        """Read a ``<V>`` vector and return a reader over exactly its contents."""
        length = self.read_varint(what)
        start = self._pos
        if length > self._end - start:
            raise self._fail(f"{what} needs {length} bytes but only {self.remaining} remain")
        self._pos = start + length
        return TLSReader(self._data, f"{self._context}: {what}", _start=start, _end=start + length)

    def finish(self) -> None:
        """Require that everything was read."""
        if self._pos != self._end:
            raise self._fail(f"{self.remaining} trailing bytes after the structure")


def _encode_certificates(certificates: Sequence[bytes]) -> bytes:
    body = b"".join(encode_opaque(cert) for cert in certificates)
    return encode_opaque(body)


def _varint_at(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """The RFC 9420 varint at ``pos`` and the position after it, or None when it is not
    one :meth:`TLSReader.read_varint` accepts (that reader then names the problem)."""
    if pos >= end:
        return None
    first = data[pos]
    prefix = first >> 6
    if prefix == 0:
        return first, pos + 1
    if prefix == 0b11:
        return None
    size = 1 << prefix
    if size > end - pos:
        return None
    value = int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1)
    if value < 1 << (8 * (size // 2) - 2):
        return None
    return value, pos + size


def _certificates_at(data: bytes, pos: int) -> tuple[tuple[bytes, ...], int] | None:
    """``certificates<V>`` at ``pos`` read in one loop over plain integers (credentials
    are decoded for every member of every group), or None for anything
    :func:`_decode_certificates` would refuse: it is then asked, to say why."""
    end = len(data)
    head = _varint_at(data, pos, end)
    if head is None or head[0] > end - head[1]:
        return None
    length, pos = head
    stop = pos + length
    certs = []
    while pos < stop:
        item = _varint_at(data, pos, stop)
        if item is None or not item[0] or item[0] > stop - item[1]:
            return None
        size, pos = item
        certs.append(data[pos : pos + size])
        pos += size
    if not certs:
        return None
    return tuple(certs), pos


def _decode_certificates(reader: TLSReader) -> tuple[bytes, ...]:
    vector = reader.read_vector("certificates")
    certs: list[bytes] = []
    while vector.remaining:
        try:
            cert = vector.read_opaque("cert_data")
        except MalformedError as exc:
            raise MalformedError(f"certificates[{len(certs)}]: {exc}") from None
        if not cert:
            raise MalformedError(f"certificates[{len(certs)}] is empty")
        certs.append(cert)
    if not certs:
        raise MalformedError("the certificate chain is empty; it needs at least the leaf")
    return tuple(certs)


def _check_certificates(certificates: tuple[bytes, ...]) -> None:
    if not certificates:
        raise MalformedError("the certificate chain is empty; it needs at least the leaf")
    for i, cert in enumerate(certificates):
        if not cert:
            raise MalformedError(f"certificates[{i}] is empty")


def _parse_chain(certificates: tuple[bytes, ...]) -> tuple[x509.Certificate, ...]:
    chain: list[x509.Certificate] = []
    for i, der in enumerate(certificates):
        try:
            cert = x509.load_der_x509_certificate(der)
            # Names are parsed lazily: touch them here, so that a name that does not parse
            # is this error, not a KeyError/ValueError at some later first use.
            cert.subject  # noqa: B018
            cert.issuer  # noqa: B018
        except (ValueError, KeyError, x509.InvalidVersion, UnsupportedAlgorithm) as exc:
            raise MalformedError(
                f"certificates[{i}] is not a DER X.509 certificate: {exc}"
            ) from exc
        chain.append(cert)
    return tuple(chain)


@dataclass(frozen=True)
class STIRCertificateCredential:
    """Content of a ``stir_certificate`` (0xF001) credential: a chain, leaf first (DER)."""

    certificates: tuple[bytes, ...]

    credential_type = CREDENTIAL_TYPE_STIR_CERTIFICATE

    def __post_init__(self) -> None:
        _check_certificates(self.certificates)

    def encode(self) -> bytes:
        """The credential content bytes."""
        return _encode_certificates(self.certificates)

    @classmethod
    def decode(cls, content: bytes) -> STIRCertificateCredential:
        """Decode credential content strictly (see module docstring)."""
        data = content if isinstance(content, bytes) else bytes(content)
        fast = _certificates_at(data, 0)
        if fast is not None and fast[1] == len(data):
            return cls(fast[0])
        reader = TLSReader(data, "STIRCertificateCredential")
        certificates = _decode_certificates(reader)
        reader.finish()
        return cls(certificates)

    def x509_chain(self) -> tuple[x509.Certificate, ...]:
        """The certificates parsed by cryptography (MalformedError if one does not parse)."""
        return _parse_chain(self.certificates)


@dataclass(frozen=True)
class STIRPASSporTCredential:
    """Content of a ``stir_passport`` (0xF002) credential: signer chain and a compact JWS."""

    certificates: tuple[bytes, ...]
    passport: bytes

    credential_type = CREDENTIAL_TYPE_STIR_PASSPORT

    def __post_init__(self) -> None:
        _check_certificates(self.certificates)
        if not self.passport:
            raise MalformedError("the passport is empty")

    def encode(self) -> bytes:
        """The credential content bytes."""
        return _encode_certificates(self.certificates) + encode_opaque(self.passport)

    @classmethod
    def decode(cls, content: bytes) -> STIRPASSporTCredential:
        """Decode credential content strictly (see module docstring)."""
        data = content if isinstance(content, bytes) else bytes(content)
        fast = _certificates_at(data, 0)
        if fast is not None:
            head = _varint_at(data, fast[1], len(data))
            if head is not None and head[0] and head[1] + head[0] == len(data):
                return cls(fast[0], data[head[1] :])
        reader = TLSReader(data, "STIRPASSporTCredential")
        certificates = _decode_certificates(reader)
        passport = reader.read_opaque("passport")
        if not passport:
            raise MalformedError("STIRPASSporTCredential: the passport is empty")
        reader.finish()
        return cls(certificates, passport)

    def x509_chain(self) -> tuple[x509.Certificate, ...]:
        """The certificates parsed by cryptography (MalformedError if one does not parse)."""
        return _parse_chain(self.certificates)

    @property
    def passport_text(self) -> str:
        """The passport as text (a compact JWS is ASCII); MalformedError if it is not."""
        try:
            return self.passport.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedError("the passport is not ASCII text (a compact JWS)") from exc


STIRCredential = STIRCertificateCredential | STIRPASSporTCredential


def decode_credential(credential_type: int, content: bytes) -> STIRCredential:
    """Decode the content of a STIR credential of the given MLS credential type.

    Raises :class:`MalformedError` for another credential type or bad content.
    """
    if credential_type == CREDENTIAL_TYPE_STIR_CERTIFICATE:
        return STIRCertificateCredential.decode(content)
    if credential_type == CREDENTIAL_TYPE_STIR_PASSPORT:
        return STIRPASSporTCredential.decode(content)
    raise MalformedError(f"credential type 0x{credential_type:04x} is not a STIR credential type")
