"""``stirmls pki|passport|credential``: the STIR tools, usable on their own by a tester.

- ``stirmls pki init DIR`` makes a demo STI PKI (root, intermediate, trust store);
- ``stirmls pki issue spc DIR ...`` / ``stirmls pki issue delegate DIR ...`` issue an SPC-level
  or RFC 9060 delegate certificate (optionally over a given public key, e.g. a member's
  MLS signature key, and with a permitted display name);
- ``stirmls pki list DIR`` names what was issued;
- ``stirmls passport sign ...`` signs a PASSporT as a provider's signer;
- ``stirmls credential inspect FILE`` reads a PEM certificate or chain, a PASSporT (with
  its signer's key or certificate), an MLS credential (hex or binary), a base64 TNAuthList
  or claim constraints, or a key, prints what it holds and the verdict: the Identity or
  the rejection (reason, PROFILE.md rule, detail). ``--json`` prints the same as JSON.

Exit status: 0 accepted (or nothing to judge), 1 rejected, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from shared.identity_view import view_identity
from shared.profile import (
    CLIENT_CLOCK_TOLERANCE,
    CREDENTIAL_TYPE_STIR_CERTIFICATE,
    CREDENTIAL_TYPE_STIR_PASSPORT,
    ds_dest_uri,
    group_dest_uri,
)
from shared.stir.claim_constraints import (
    ClaimConstraints,
    EnhancedJWTClaimConstraints,
    JWTClaimConstraints,
    claim_constraints_of,
)
from shared.stir.credential_codec import (
    STIRCertificateCredential,
    STIRPASSporTCredential,
    TLSReader,
)
from shared.stir.errors import CredentialRejected, MalformedError, StirError
from shared.stir.numbers import normalise
from shared.stir.passport import (
    Passport,
    PassportSigner,
    check_passport_time,
    mky_digest,
    parse_passport_unverified,
    verify_passport_signature,
)
from shared.stir.pki import DemoPKI, ScopeError, point_of
from shared.stir.tnauthlist import (
    SPC,
    NumberScope,
    OneTN,
    TNAuthList,
    TNEntry,
    TNRange,
    decode_tnauthlist,
    parse_entry,
    tnauthlist_of,
)
from shared.stir.trust import TrustStore, load_anchors, load_trust_store
from shared.stir.validator import (
    Identity,
    Validator,
    decode_p256_signature_key,
    describe_entries,
)

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2

_JWS = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


class UsageError(Exception):
    """Bad arguments or unreadable input: printed, exit status 2."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pki``, ``passport`` and ``credential`` to the ``stirmls`` command line."""
    pki = subparsers.add_parser("pki", help="demo STI PKI: init, issue, list")
    pki_sub = pki.add_subparsers(dest="pki_command", metavar="PKI_COMMAND", required=True)

    init = pki_sub.add_parser("init", help="create a root CA, an intermediate and a trust store")
    init.add_argument("directory", type=Path)
    init.add_argument("--name", default="Demo STI", help="organisation name of the CAs")
    init.set_defaults(func=_cmd_pki_init)

    issue = pki_sub.add_parser("issue", help="issue an SPC-level or delegate certificate")
    issue_sub = issue.add_subparsers(dest="issue_kind", metavar="KIND", required=True)
    spc = issue_sub.add_parser("spc", help="a provider's SPC-level certificate (ATIS-1000080)")
    spc.add_argument("directory", type=Path)
    spc.add_argument("--provider", required=True, help="provider (organisation) name")
    spc.add_argument("--spc", required=True, help="service provider code")
    spc.add_argument(
        "--assign",
        action="append",
        default=[],
        metavar="NUMBERS",
        help="numbers the SPC holds (repeatable): a number, START..END or STARTxCOUNT",
    )
    spc.add_argument("--ca", action="store_true", help="a CA that issues delegate certificates")
    _issue_options(spc)
    spc.set_defaults(func=_cmd_pki_issue_spc)

    dele = issue_sub.add_parser("delegate", help="an RFC 9060 delegate certificate (TN/range)")
    dele.add_argument("directory", type=Path)
    dele.add_argument("--issuer", required=True, help="name of the issuing certificate")
    dele.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="NUMBERS",
        help="a number, START..END or STARTxCOUNT (repeatable)",
    )
    dele.add_argument("--ca", action="store_true", help="a delegate CA")
    _issue_options(dele)
    dele.set_defaults(func=_cmd_pki_issue_delegate)

    lst = pki_sub.add_parser("list", help="list the issued certificates")
    lst.add_argument("directory", type=Path)
    lst.set_defaults(func=_cmd_pki_list)

    passport = subparsers.add_parser("passport", help="PASSporTs: sign")
    pp_sub = passport.add_subparsers(dest="passport_command", metavar="CMD", required=True)
    sign = pp_sub.add_parser("sign", help="sign a PASSporT as a provider's signer")
    sign.add_argument("--pki", type=Path, required=True, help="the PKI directory")
    sign.add_argument("--signer", required=True, help="name of the signing certificate")
    sign.add_argument("--orig", required=True, help="the member's number")
    dest = sign.add_mutually_exclusive_group(required=True)
    dest.add_argument("--group-id", help="MLS group id, hex")
    dest.add_argument("--group-b64", help="MLS group id, base64url")
    dest.add_argument("--ds-id", help="delivery service id (registration PASSporT)")
    sign.add_argument(
        "--mky-key",
        required=True,
        help="the member's MLS signature key: hex bytes, or a PEM public key file",
    )
    sign.add_argument("--nam", help="display name (rcd, ppt 'rcd')")
    sign.add_argument("--iat", type=int, help="issued-at, POSIX seconds (default: now)")
    sign.add_argument("--exp", type=int, help="expiry, POSIX seconds")
    sign.add_argument(
        "--credential",
        action="store_true",
        help="print the 0xF002 credential content (hex) instead of the bare PASSporT",
    )
    sign.set_defaults(func=_cmd_passport_sign)

    cred = subparsers.add_parser("credential", help="STIR credentials: inspect")
    cred_sub = cred.add_subparsers(dest="credential_command", metavar="CMD", required=True)
    insp = cred_sub.add_parser(
        "inspect", help="show what a certificate, PASSporT or credential holds, and its verdict"
    )
    insp.add_argument("file", type=Path)
    insp.add_argument("--json", action="store_true", help="machine-readable output")
    insp.add_argument("--trust", type=Path, help="a PKI directory whose trust store to use")
    insp.add_argument(
        "--anchor", type=Path, action="append", default=[], help="a trust anchor PEM (repeatable)"
    )
    insp.add_argument("--group-id", help="the group the credential is for, hex")
    insp.add_argument("--group-b64", help="the group the credential is for, base64url")
    insp.add_argument("--ds-id", help="the delivery service a registration PASSporT names")
    insp.add_argument(
        "--signature-key",
        help="the LeafNode signature key: hex bytes or a PEM public key file "
        "(default for certificates: chain[0]'s own key)",
    )
    insp.add_argument(
        "--signer-key",
        type=Path,
        help="PEM public key or certificate(s) of a bare PASSporT's signer",
    )
    insp.add_argument("--application-id", help="a carrier-level member's claimed number")
    insp.add_argument(
        "--type", choices=["f001", "f002"], help="credential type of a bare content file"
    )
    insp.add_argument("--lenient", action="store_true", help="time-only failures are 'stale' (§6)")
    insp.add_argument("--now", help="validation time, ISO 8601 (default: now)")
    insp.set_defaults(func=_cmd_inspect)


def _issue_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="file name of the certificate in the PKI")
    parser.add_argument(
        "--public-key",
        help="certify this key (hex 65-byte P-256 point, or a PEM public key file) "
        "instead of a generated one",
    )
    parser.add_argument("--nam", help="permit exactly this display name (JWTClaimConstraints)")
    parser.add_argument(
        "--enhanced", action="store_true", help="use EnhancedJWTClaimConstraints (RFC 9118)"
    )
    parser.add_argument("--days", type=int, help="validity in days")


def _run(func: Any, args: argparse.Namespace) -> int:
    try:
        result: int = func(args)
        return result
    except (
        UsageError,
        StirError,
        ScopeError,
        OSError,
        KeyError,
        ValueError,
        UnsupportedAlgorithm,
        x509.InvalidVersion,
    ) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"stirmls: error: {message}", file=sys.stderr)
        return EXIT_USAGE


# --- pki ----------------------------------------------------------------------------------


def _cmd_pki_init(args: argparse.Namespace) -> int:
    return _run(_pki_init, args)


def _pki_init(args: argparse.Namespace) -> int:
    pki = DemoPKI.init(args.directory, name=args.name)
    print(f"created STI PKI in {pki.directory}")
    print(f"  root CA:      {pki.root.cert.subject.rfc4514_string()}")
    print(f"  intermediate: {pki.intermediate.cert.subject.rfc4514_string()}")
    print(f"  trust store:  {pki.directory / 'trust-anchors.pem'}, assignments.json")
    return EXIT_OK


def _scope(texts: Sequence[str]) -> list[TNEntry]:
    return [parse_entry(t) for t in texts]


def _public_key_arg(text: str) -> ec.EllipticCurvePublicKey:
    path = Path(text)
    if path.exists():
        key = _key_file(path)
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise UsageError(f"{text}: not an EC public key")
        return key
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise UsageError(f"{text!r} is neither a file nor hex") from exc
    try:
        return decode_p256_signature_key(raw)
    except CredentialRejected as exc:
        raise UsageError(exc.detail) from exc


def _validity(args: argparse.Namespace) -> dict[str, Any]:
    if args.days is None:
        return {}
    if args.days < 1:
        raise UsageError("--days must be at least 1")
    start = datetime.now(UTC) - timedelta(minutes=5)
    return {"not_before": start, "not_after": start + timedelta(days=args.days)}


def _print_issued(issued: Any) -> None:
    tnal = issued.tnauthlist
    print(f"issued {issued.name}: {issued.cert.subject.rfc4514_string()}")
    print(f"  TNAuthList: {describe_entries(tnal.entries) if tnal else 'none'}")
    print(f"  certificate: {issued.cert_path}")
    print(f"  chain:       {issued.chain_path}")
    print(f"  key:         {issued.key_path or 'given (not held by the PKI)'}")
    if isinstance(issued.cert.public_key(), ec.EllipticCurvePublicKey):
        print(f"  public key:  {point_of(issued.cert.public_key()).hex()}")


def _cmd_pki_issue_spc(args: argparse.Namespace) -> int:
    return _run(_pki_issue_spc, args)


def _pki_issue_spc(args: argparse.Namespace) -> int:
    pki = DemoPKI.open(args.directory)
    numbers: list[NumberScope] = []
    for entry in _scope(args.assign):
        if isinstance(entry, SPC):
            raise UsageError(f"--assign takes numbers, not an SPC ({entry.code})")
        numbers.append(entry)
    issued = pki.issue_spc(
        args.provider,
        args.spc,
        numbers,
        ca=args.ca,
        public_key=_public_key_arg(args.public_key) if args.public_key else None,
        name=args.name,
        permitted_nam=args.nam,
        enhanced=args.enhanced,
        **_validity(args),
    )
    _print_issued(issued)
    if numbers:
        print(f"  assigned:    {describe_entries(numbers)}")
    return EXIT_OK


def _cmd_pki_issue_delegate(args: argparse.Namespace) -> int:
    return _run(_pki_issue_delegate, args)


def _pki_issue_delegate(args: argparse.Namespace) -> int:
    pki = DemoPKI.open(args.directory)
    issuer = pki.get(args.issuer)
    issued = pki.issue_delegate(
        issuer,
        _scope(args.scope),
        _public_key_arg(args.public_key) if args.public_key else None,
        ca=args.ca,
        permitted_nam=args.nam,
        enhanced=args.enhanced,
        name=args.name,
        **_validity(args),
    )
    _print_issued(issued)
    return EXIT_OK


def _cmd_pki_list(args: argparse.Namespace) -> int:
    return _run(_pki_list, args)


def _pki_list(args: argparse.Namespace) -> int:
    pki = DemoPKI.open(args.directory)
    for name in ["root", "intermediate", *pki.names()]:
        issued = pki.get(name)
        tnal = issued.tnauthlist
        scope = describe_entries(tnal.entries) if tnal else "-"
        kind = "CA" if issued.is_ca else "EE"
        print(f"{name:32} {kind}  {scope:30} until {issued.cert.not_valid_after_utc:%Y-%m-%d}")
    assignments = pki.assignments()
    for spc, scopes in sorted(assignments.items()):
        print(f"assignment spc {spc}: {describe_entries(scopes)}")
    return EXIT_OK


# --- passport -----------------------------------------------------------------------------


def _group_id(args: argparse.Namespace) -> bytes | None:
    if getattr(args, "group_id", None):
        try:
            return bytes.fromhex(args.group_id)
        except ValueError as exc:
            raise UsageError(f"--group-id {args.group_id!r} is not hex") from exc
    if getattr(args, "group_b64", None):
        text = args.group_b64
        try:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as exc:
            raise UsageError(f"--group-b64 {text!r} is not base64url") from exc
    return None


def _key_file(path: Path) -> object:
    data = path.read_bytes()
    try:
        if b"CERTIFICATE" in data:
            return x509.load_pem_x509_certificate(data).public_key()
        return serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise UsageError(f"{path}: not a PEM public key or certificate: {exc}") from exc


def _key_bytes_arg(text: str) -> bytes:
    """An MLS signature key as bytes: hex, or a PEM public key or certificate file
    (P-256: the uncompressed point; Ed25519: the raw key)."""
    path = Path(text)
    if path.exists():
        key = _key_file(path)
        if isinstance(key, ec.EllipticCurvePublicKey):
            return point_of(key)
        if isinstance(key, ed25519.Ed25519PublicKey):
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raise UsageError(f"{text}: not a P-256 or Ed25519 public key")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise UsageError(f"{text!r} is neither a file nor hex") from exc


def _cmd_passport_sign(args: argparse.Namespace) -> int:
    return _run(_passport_sign, args)


def _passport_sign(args: argparse.Namespace) -> int:
    pki = DemoPKI.open(args.pki)
    signer_cert = pki.get(args.signer)
    if not isinstance(signer_cert.key, ec.EllipticCurvePrivateKey):
        raise UsageError(f"the PKI does not hold the private key of {args.signer!r}")
    group = _group_id(args)
    dest = group_dest_uri(group) if group is not None else ds_dest_uri(args.ds_id)
    orig = parse_entry(args.orig)
    if not isinstance(orig, OneTN):
        raise UsageError(f"--orig {args.orig!r} is not one telephone number")
    signer = PassportSigner(signer_cert.key, signer_cert.chain)
    token = signer.sign(
        orig.tn,
        dest,
        _key_bytes_arg(args.mky_key),
        args.iat,
        args.nam,
        exp=args.exp,
    )
    if args.credential:
        print(STIRPASSporTCredential(signer_cert.chain, token.encode("ascii")).encode().hex())
    else:
        print(token)
    return EXIT_OK


# --- credential inspect -------------------------------------------------------------------


@dataclass
class Report:
    """What inspect found in a file and its verdict(s)."""

    file: str
    kind: str
    items: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        """Whether any verdict is a rejection."""
        return any(v.get("accepted") is False for v in self.verdicts)


def _cmd_inspect(args: argparse.Namespace) -> int:
    return _run(_inspect, args)


def _now(args: argparse.Namespace) -> datetime:
    if not args.now:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(args.now)
    except ValueError as exc:
        raise UsageError(f"--now {args.now!r} is not ISO 8601") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _trust(args: argparse.Namespace) -> TrustStore | None:
    anchors: list[x509.Certificate] = []
    assignments: dict[str, Any] = {}
    if args.trust:
        store = load_trust_store(args.trust)
        anchors.extend(store.anchors)
        assignments.update(store.spc_assignments)
    for path in args.anchor:
        anchors.extend(load_anchors(path))
    if not anchors:
        return None
    return TrustStore(tuple(anchors), assignments)


def _inspect(args: argparse.Namespace) -> int:
    path: Path = args.file
    data = path.read_bytes()
    report = inspect_bytes(data, str(path), args)
    if args.json:
        print(
            json.dumps(
                {
                    "file": report.file,
                    "kind": report.kind,
                    "items": report.items,
                    "verdicts": [
                        {k: v for k, v in verdict.items() if not k.startswith("_")}
                        for verdict in report.verdicts
                    ],
                    "notes": report.notes,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        _print_report(report)
    return EXIT_REJECTED if report.rejected else EXIT_OK


def inspect_bytes(data: bytes, name: str, args: argparse.Namespace) -> Report:
    """Work out what ``data`` is and judge it (see the module docstring)."""
    text = _ascii(data)
    if text is not None and "-----BEGIN" in text:
        if "CERTIFICATE-----" in text:
            certs = x509.load_pem_x509_certificates(data)
            ders = tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)
            return _inspect_chain(ders, name, args)
        return _inspect_key(data, name)
    if text is not None and _JWS.search(text):
        return _inspect_passports(_JWS.findall(text), name, args)
    if text is not None and name.endswith(".b64"):
        try:
            der = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UsageError(f"{name}: not base64: {exc}") from exc
        return _inspect_der_blob(der, name)
    blob = data
    if text is not None and re.fullmatch(r"[0-9A-Fa-f\s]+", text):
        blob = bytes.fromhex("".join(text.split()))
    return _inspect_credential(blob, name, args)


def _ascii(data: bytes) -> str | None:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return None


# -- what things hold --


def _entries_json(tnal: TNAuthList | None) -> list[dict[str, Any]] | None:
    if tnal is None:
        return None
    out: list[dict[str, Any]] = []
    for e in tnal.entries:
        if isinstance(e, TNRange):
            out.append({"range": {"start": e.start, "count": e.count}})
        elif isinstance(e, SPC):
            out.append({"spc": e.code})
        else:
            out.append({"one": e.tn})
    return out


def _constraints_json(c: ClaimConstraints | None) -> dict[str, Any] | None:
    if c is None:
        return None
    out: dict[str, Any] = {
        "type": "EnhancedJWTClaimConstraints"
        if isinstance(c, EnhancedJWTClaimConstraints)
        else "JWTClaimConstraints",
        "must_include": list(c.must_include),
        "permitted_values": {k: list(v) for k, v in c.permitted_values.items()},
    }
    if isinstance(c, EnhancedJWTClaimConstraints):
        out["must_exclude"] = list(c.must_exclude)
    return out


def _key_json(key: object) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePublicKey):
        point = point_of(key)
        return {"type": key.curve.name, "point": point.hex(), "mky": mky_digest(point)}
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"type": "ed25519", "raw": raw.hex(), "mky": mky_digest(raw)}
    return {"type": type(key).__name__}


def _cert_json(index: int, der: bytes) -> dict[str, Any]:
    item: dict[str, Any] = {"index": index}
    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as exc:
        item["error"] = f"not a DER X.509 certificate: {exc}"
        return item
    try:
        item["subject"] = cert.subject.rfc4514_string()
        item["issuer"] = cert.issuer.rfc4514_string()
        item["self_signed"] = cert.issuer == cert.subject
    except (ValueError, KeyError) as exc:
        item["subject"] = item["issuer"] = f"unreadable name ({exc!r})"
        item["self_signed"] = False
    item["not_before"] = f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
    item["not_after"] = f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
    try:
        item["key"] = _key_json(cert.public_key())
    except (ValueError, UnsupportedAlgorithm) as exc:
        item["key"] = {"error": str(exc)}
    try:
        item["tnauthlist"] = _entries_json(tnauthlist_of(cert))
    except MalformedError as exc:
        item["tnauthlist"] = {"error": str(exc)}
    try:
        item["claim_constraints"] = _constraints_json(claim_constraints_of(cert))
    except MalformedError as exc:
        item["claim_constraints"] = {"error": str(exc)}
    return item


def _passport_json(p: Passport) -> dict[str, Any]:
    return {
        "header": dict(p.header),
        "claims": dict(p.claims),
        "orig": p.orig_tn,
        "dest": list(p.dest_uris) + list(p.dest_tns),
        "iat": f"{p.issued_at:%Y-%m-%dT%H:%M:%SZ}",
        "nam": p.nam,
    }


def _unverified_json(token: str) -> dict[str, Any]:
    # Best effort for showing a rejected token: decode without judging.
    out: dict[str, Any] = {}
    for part, label in zip(token.split(".")[:2], ("header", "claims"), strict=False):
        try:
            out[label] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (ValueError, binascii.Error):
            out[label] = None
    return out


def _rejected(err: CredentialRejected, checked: str) -> dict[str, Any]:
    return {
        "accepted": False,
        "reason": err.reason,
        "rule": err.rule,
        "detail": err.detail,
        "checked": checked,
    }


def _accepted(identity: Identity, checked: str) -> dict[str, Any]:
    # "_identity" is for the text printer; keys starting with "_" stay out of --json.
    return {
        "accepted": True,
        "identity": identity.to_json(),
        "checked": checked,
        "_identity": identity,
    }


# -- chains --


def _application_id(args: argparse.Namespace) -> bytes | None:
    """--application-id as the LeafNode carries it: canonical digits (human input is
    normalised first)."""
    if not args.application_id:
        return None
    text = args.application_id.strip()
    digits = text if text.isascii() and text.isdigit() else normalise(text)
    return digits.encode("ascii")


def _signature_key(args: argparse.Namespace, default: bytes | None) -> bytes | None:
    if args.signature_key:
        return _key_bytes_arg(args.signature_key)
    return default


def _inspect_chain(ders: tuple[bytes, ...], name: str, args: argparse.Namespace) -> Report:
    report = Report(name, "certificate chain", [_cert_json(i, d) for i, d in enumerate(ders)])
    content = STIRCertificateCredential(ders).encode()
    report.verdicts.append(_judge(CREDENTIAL_TYPE_STIR_CERTIFICATE, content, args, report))
    return report


def _leaf_point(certificates: Sequence[bytes]) -> bytes | None:
    try:
        key = x509.load_der_x509_certificate(certificates[0]).public_key()
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        return None
    return point_of(key) if isinstance(key, ec.EllipticCurvePublicKey) else None


def _judge(
    credential_type: int, content: bytes, args: argparse.Namespace, report: Report
) -> dict[str, Any]:
    """Validate a credential with what the arguments give; offline checks without trust."""
    now = _now(args)
    trust = _trust(args)
    if credential_type == CREDENTIAL_TYPE_STIR_CERTIFICATE:
        cred_c = STIRCertificateCredential.decode(content)
        key = _signature_key(args, None)
        if key is None:
            key = _leaf_point(cred_c.certificates) or b""
            report.notes.append("signature key: certificates[0]'s own key (no --signature-key)")
    else:
        key = _signature_key(args, None) or b""
        if not key:
            report.notes.append("no --signature-key: the mky binding was not checked")
    group = _group_id(args)
    check_dest = group is not None or bool(args.ds_id)
    if credential_type == CREDENTIAL_TYPE_STIR_PASSPORT and not check_dest:
        report.notes.append("no --group-id/--ds-id: dest not checked")
    application_id = _application_id(args)
    if trust is None:
        report.notes.append(
            "no trust store (--trust DIR / --anchor PEM): chain not validated, offline checks only"
        )
        try:
            identity = offline_check(credential_type, content, key, now=now, args=args)
        except CredentialRejected as err:
            return _rejected(err, "offline")
        return _accepted(identity, "offline") if identity else {"accepted": None}
    try:
        verdict = Validator().verdict(
            credential_type,
            content,
            key,
            group_id=group,
            ds_id=args.ds_id,
            trust=trust,
            now=now,
            application_id=application_id,
            check_dest=check_dest,
            check_key=bool(key) or credential_type == CREDENTIAL_TYPE_STIR_CERTIFICATE,
        )
        identity = verdict.at(
            now.timestamp(), CLIENT_CLOCK_TOLERANCE.total_seconds(), not args.lenient
        )
    except CredentialRejected as err:
        return _rejected(err, "trust store")
    return _accepted(identity, "trust store")


def offline_check(
    credential_type: int,
    content: bytes,
    key: bytes,
    *,
    now: datetime,
    args: argparse.Namespace,
) -> Identity | None:
    """The checks that need no trust anchor, by validating against the chain's own top
    certificate as anchor: everything but "chains to an STI root" is then judged.

    Returns None when the chain has no usable top certificate.
    """
    if credential_type == CREDENTIAL_TYPE_STIR_CERTIFICATE:
        certs = STIRCertificateCredential.decode(content).certificates
    else:
        certs = STIRPASSporTCredential.decode(content).certificates
    try:
        top = x509.load_der_x509_certificate(certs[-1])
    except (ValueError, x509.InvalidVersion) as exc:
        raise CredentialRejected(
            "malformed", "§2", f"certificates[{len(certs) - 1}] is not DER: {exc}"
        ) from exc
    group = _group_id(args)
    verdict = Validator().verdict(
        credential_type,
        content,
        key,
        group_id=group,
        ds_id=args.ds_id,
        trust=TrustStore((top,)),
        now=now,
        application_id=_application_id(args),
        check_dest=group is not None or bool(args.ds_id),
        check_key=bool(key) or credential_type == CREDENTIAL_TYPE_STIR_CERTIFICATE,
    )
    return verdict.at(now.timestamp(), CLIENT_CLOCK_TOLERANCE.total_seconds(), not args.lenient)


# -- passports --


def _signer_keys(
    args: argparse.Namespace,
) -> tuple[ec.EllipticCurvePublicKey | None, tuple[bytes, ...]]:
    if args.signer_key is None:
        return None, ()
    data = args.signer_key.read_bytes()
    if b"CERTIFICATE" in data:
        certs = x509.load_pem_x509_certificates(data)
        key = certs[0].public_key()
        chain = tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)
    else:
        key = serialization.load_pem_public_key(data)  # type: ignore[assignment]
        chain = ()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UsageError(f"{args.signer_key}: the signer key is not an EC key")
    return key, chain


def _inspect_passports(tokens: list[str], name: str, args: argparse.Namespace) -> Report:
    report = Report(name, f"PASSporT ({len(tokens)})" if len(tokens) > 1 else "PASSporT")
    key, chain = _signer_keys(args)
    now = _now(args)
    for token in tokens:
        report.items.append(_unverified_json(token))
        if chain and (_trust(args) is not None or args.signature_key):
            # A PASSporT with its signer's certificates: judge it as a 0xF002 credential.
            content = STIRPASSporTCredential(chain, token.encode("ascii")).encode()
            report.verdicts.append(_judge(CREDENTIAL_TYPE_STIR_PASSPORT, content, args, report))
            continue
        checked = "signature" if key is not None else "unverified"
        if key is None:
            report.notes.append("no --signer-key: the signature was not checked")
        try:
            if key is None:
                passport = parse_passport_unverified(token)
            else:
                passport = verify_passport_signature(token, key)
            report.items[-1] = _passport_json(passport)
            check_passport_time(passport, now=now, clock_tolerance=CLIENT_CLOCK_TOLERANCE)
        except CredentialRejected as err:
            report.verdicts.append(_rejected(err, checked))
            continue
        report.verdicts.append({"accepted": True, "checked": checked})
    return report


# -- credentials and blobs --


def _credential_type(args: argparse.Namespace, blob: bytes) -> tuple[int, bytes]:
    # An MLS Credential is credential_type (uint16) || content; content itself always
    # starts with a varint, whose first byte never has both top bits set (RFC 9420 §2.1.2),
    # so a leading 0xF0 means the full Credential.
    if len(blob) >= 2 and blob[0] == 0xF0 and blob[1] in (0x01, 0x02):
        reader = TLSReader(blob[2:], "Credential")
        content = reader.read_opaque("content")
        reader.finish()
        return (blob[0] << 8) | blob[1], content
    if args.type:
        return int(args.type, 16), blob
    for kind in (CREDENTIAL_TYPE_STIR_PASSPORT, CREDENTIAL_TYPE_STIR_CERTIFICATE):
        try:
            if kind == CREDENTIAL_TYPE_STIR_PASSPORT:
                STIRPASSporTCredential.decode(blob)
            else:
                STIRCertificateCredential.decode(blob)
        except MalformedError:
            continue
        return kind, blob
    raise UsageError("not a STIR credential (0xF001/0xF002 content or MLS Credential)")


def _inspect_credential(blob: bytes, name: str, args: argparse.Namespace) -> Report:
    try:
        kind, content = _credential_type(args, blob)
    except MalformedError as exc:
        raise UsageError(f"{name}: {exc}") from exc
    report = Report(name, f"MLS credential 0x{kind:04x}")
    try:
        if kind == CREDENTIAL_TYPE_STIR_PASSPORT:
            cred_p = STIRPASSporTCredential.decode(content)
            report.items = [_cert_json(i, d) for i, d in enumerate(cred_p.certificates)]
            report.items.append(_unverified_json(cred_p.passport.decode("ascii", "replace")))
        else:
            cred_c = STIRCertificateCredential.decode(content)
            report.items = [_cert_json(i, d) for i, d in enumerate(cred_c.certificates)]
    except MalformedError as exc:
        report.verdicts.append(_rejected(CredentialRejected("malformed", "§2", str(exc)), "codec"))
        return report
    report.verdicts.append(_judge(kind, content, args, report))
    return report


def _inspect_der_blob(der: bytes, name: str) -> Report:
    try:
        return Report(name, "TNAuthList", [{"tnauthlist": _entries_json(decode_tnauthlist(der))}])
    except MalformedError:
        pass
    for cls in (JWTClaimConstraints, EnhancedJWTClaimConstraints):
        try:
            parsed: ClaimConstraints = cls.decode(der)
        except MalformedError:
            continue
        return Report(name, cls.__name__, [{"claim_constraints": _constraints_json(parsed)}])
    raise UsageError(f"{name}: neither a TNAuthList nor (Enhanced)JWTClaimConstraints")


def _inspect_key(data: bytes, name: str) -> Report:
    try:
        key: object = serialization.load_pem_public_key(data)
        kind = "public key"
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
            kind = "private key"
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{name}: not a PEM key or certificate: {exc}") from exc
    return Report(name, kind, [{"key": _key_json(key)}])


# -- printing --


def _print_report(report: Report) -> None:
    print(f"{report.file}: {report.kind}")
    for item in report.items:
        _print_item(item)
    for verdict in report.verdicts:
        _print_verdict(verdict)
    for note in dict.fromkeys(report.notes):
        print(f"  note: {note}")


def _print_item(item: dict[str, Any]) -> None:
    if "index" in item:
        print(f"  [{item['index']}] {item.get('subject', item.get('error'))}")
        if "issuer" in item:
            print(
                f"      issuer:  {item['issuer']}{' (self-signed)' if item['self_signed'] else ''}"
            )
            print(f"      valid:   {item['not_before']} .. {item['not_after']}")
            print(f"      key:     {_key_text(item['key'])}")
            print(f"      TNAuthList: {_tnal_text(item['tnauthlist'])}")
            if item["claim_constraints"] is not None:
                print(f"      claim constraints: {_json_text(item['claim_constraints'])}")
        return
    if "tnauthlist" in item:
        print(f"  TNAuthList: {_tnal_text(item['tnauthlist'])}")
    if "claim_constraints" in item:
        print(f"  {_json_text(item['claim_constraints'])}")
    if "key" in item:
        print(f"  key: {_key_text(item['key'])}")
    if "header" in item:
        print(f"  header: {_json_text(item['header'])}")
        print(f"  claims: {_json_text(item['claims'])}")


def _key_text(key: dict[str, Any]) -> str:
    if "error" in key:
        return f"unreadable ({key['error']})"
    if "mky" in key:
        return f"{key['type']}, mky digest {key['mky']}"
    return str(key["type"])


def _tnal_text(tnal: Any) -> str:
    if tnal is None:
        return "none"
    if isinstance(tnal, dict):
        return f"MALFORMED: {tnal['error']}"
    parts = []
    for e in tnal:
        if "spc" in e:
            parts.append(f"spc {e['spc']}")
        elif "one" in e:
            parts.append(f"one {e['one']}")
        else:
            parts.append(f"range {e['range']['start']} x{e['range']['count']}")
    return ", ".join(parts)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _print_verdict(verdict: dict[str, Any]) -> None:
    checked = verdict.get("checked", "")
    if verdict.get("accepted") is False:
        print(
            f"  verdict: REJECTED {verdict['reason']} (PROFILE {verdict['rule']}): "
            f"{verdict['detail']}  [checked: {checked}]"
        )
        return
    if verdict.get("accepted") is None:
        print("  verdict: nothing to judge")
        return
    print(f"  verdict: ACCEPTED  [checked: {checked}]")
    identity = verdict.get("_identity")
    if not isinstance(identity, Identity):
        return
    claimed = identity.claimed_tn
    for line in view_identity(identity, claimed_tn=claimed).lines():
        print(f"      {line}")
    print(
        f"      signer scope: {identity.signer_scope}; not after: {identity.to_json()['not_after']}"
    )
