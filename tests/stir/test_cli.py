"""`stirmls pki|passport|credential` through the real entry point (client.cli.main)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from client.cli import main

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "stir"
NOW = "2026-11-01T00:00:00+00:00"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def inspect_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, "credential", "inspect", *argv, "--json")
    return code, json.loads(out)


@pytest.fixture
def demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A PKI made through the CLI: provider CA (SPC 1234, 100 numbers), signer, Alice."""
    d = tmp_path / "pki"
    assert run(capsys, "pki", "init", str(d))[0] == 0
    code, out, _ = run(
        capsys,
        "pki",
        "issue",
        "spc",
        str(d),
        "--provider",
        "Acme Telecom",
        "--spc",
        "1234",
        "--assign",
        "12025550100x100",
        "--ca",
        "--name",
        "acme-ca",
    )
    assert code == 0 and "assigned:    12025550100..12025550199" in out
    code, _, _ = run(
        capsys,
        "pki",
        "issue",
        "spc",
        str(d),
        "--provider",
        "Acme Telecom",
        "--spc",
        "1234",
        "--name",
        "acme-signer",
    )
    assert code == 0
    code, out, _ = run(
        capsys,
        "pki",
        "issue",
        "delegate",
        str(d),
        "--issuer",
        "acme-ca",
        "--scope",
        "+1 (202) 555-0101",
        "--nam",
        "Alice",
        "--name",
        "alice",
    )
    assert code == 0 and "TNAuthList: 12025550101" in out
    return d


def test_pki_list(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pki", "list", str(demo))
    assert code == 0
    assert "acme-ca" in out and "alice" in out and "12025550101" in out
    assert "assignment spc 1234: 12025550100..12025550199" in out


def test_inspect_issued_chain_is_accepted(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = demo / "certs" / "alice" / "chain.pem"
    code, out, _ = run(capsys, "credential", "inspect", str(chain), "--trust", str(demo))
    assert code == 0
    assert "verdict: ACCEPTED" in out and "+1 202-555-0101" in out
    assert "Alice (from the certificate)" in out and "end to end" in out
    code, doc = inspect_json(capsys, str(chain), "--trust", str(demo))
    assert code == 0
    identity = doc["verdicts"][0]["identity"]
    assert identity["tns"] == ["12025550101"] and identity["assurance"] == "END_TO_END"
    # Against another PKI's root it does not chain.
    other = demo.parent / "other"
    run(capsys, "pki", "init", str(other))
    code, doc = inspect_json(capsys, str(chain), "--trust", str(other))
    assert code == 1 and doc["verdicts"][0]["reason"] == "chain"


def test_issue_over_a_given_key_and_refuse_a_wider_scope(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice_cert = demo / "certs" / "alice" / "cert.pem"
    code, out, _ = run(
        capsys,
        "pki",
        "issue",
        "delegate",
        str(demo),
        "--issuer",
        "acme-ca",
        "--scope",
        "12025550150x10",
        "--public-key",
        str(alice_cert),
        "--name",
        "range",
    )
    assert code == 0 and "given (not held by the PKI)" in out
    code, _, err = run(
        capsys,
        "pki",
        "issue",
        "delegate",
        str(demo),
        "--issuer",
        "acme-ca",
        "--scope",
        "12025550195x10",
    )
    assert code == 2 and "not inside" in err
    code, _, err = run(
        capsys,
        "pki",
        "issue",
        "delegate",
        str(demo),
        "--issuer",
        "nobody",
        "--scope",
        "12025550101",
    )
    assert code == 2 and "nobody" in err


def test_passport_sign_and_inspect(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    member = demo / "certs" / "alice" / "cert.pem"  # any P-256 key stands for an MLS key
    code, token, _ = run(
        capsys,
        "passport",
        "sign",
        "--pki",
        str(demo),
        "--signer",
        "acme-signer",
        "--orig",
        "+1 202 555 0102",
        "--group-id",
        "0102",
        "--mky-key",
        str(member),
        "--nam",
        "Bob",
    )
    assert code == 0 and token.count(".") == 2
    tok = demo / "bob.jws"
    tok.write_text(token)
    signer = demo / "certs" / "acme-signer" / "chain.pem"
    common = ["--signer-key", str(signer), "--trust", str(demo), "--signature-key", str(member)]
    code, doc = inspect_json(capsys, str(tok), *common, "--group-id", "0102")
    assert code == 0
    identity = doc["verdicts"][0]["identity"]
    assert identity["tns"] == ["12025550102"] and identity["display_name"] == "Bob"
    assert identity["assurance"] == "PROVIDER_ATTESTED_KEY"
    code, doc = inspect_json(capsys, str(tok), *common, "--group-id", "0103")
    assert code == 1 and doc["verdicts"][0]["reason"] == "dest"
    # Without the member's key or the group, the rest is still judged, and said so.
    code, doc = inspect_json(capsys, str(tok), "--signer-key", str(signer), "--trust", str(demo))
    assert code == 0 and doc["verdicts"][0]["accepted"] is True
    assert any("mky binding was not checked" in n for n in doc["notes"])
    assert any("dest not checked" in n for n in doc["notes"])
    # The same as an encoded 0xF002 credential (hex).
    code, hex_content, _ = run(
        capsys,
        "passport",
        "sign",
        "--pki",
        str(demo),
        "--signer",
        "acme-signer",
        "--orig",
        "12025550102",
        "--ds-id",
        "ds1",
        "--mky-key",
        str(member),
        "--credential",
    )
    cred = demo / "reg.hex"
    cred.write_text(hex_content)
    code, doc = inspect_json(
        capsys, str(cred), "--trust", str(demo), "--ds-id", "ds1", "--signature-key", str(member)
    )
    assert code == 0 and doc["kind"] == "MLS credential 0xf002"
    code, doc = inspect_json(
        capsys,
        str(cred),
        "--trust",
        str(demo),
        "--ds-id",
        "ds1",
        "--signature-key",
        "04" + "11" * 64,
    )
    assert code == 1 and doc["verdicts"][0]["reason"] in {"mky", "unsupported-key"}


def test_bad_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "credential", "inspect", str(tmp_path / "missing.pem"))
    assert code == 2 and "missing.pem" in err
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02garbage")
    code, _, err = run(capsys, "credential", "inspect", str(junk))
    assert code == 2 and "not a STIR credential" in err
    code, _, err = run(capsys, "pki", "init", str(tmp_path / "p"))
    code, _, err = run(capsys, "pki", "init", str(tmp_path / "p"))
    assert code == 2 and "already holds a PKI" in err


# The verdicts of the vectors README (parse values, or the exact rejection reason).
VECTOR_VERDICTS: dict[str, tuple[int, str | None, list[str]]] = {
    "bogus_tnal.b64": (0, None, ["spc bogus", "range 5715551212 x788", "one 7035551212"]),
    "jwtcc.b64": (0, None, ['"foo": ["foo1", "foo2", "foo3"]', '"must_include": ["foo"]']),
    "fake_spc_cert.pem": (1, "unsupported-key", ["spc fake", "secp384r1"]),
    "ejwtcc_cert.pem": (1, "expired", ["spc 1234", '"must_exclude": ["priority"]']),
    "zlint_shakenCert.pem": (1, "expired", ["spc 6628", "2022-10-28"]),
    "zlint_shakenTNAuthWithoutSPC.pem": (1, "expired", ["one 1234"]),
    "zlint_shakenTNAuthMultiple.pem": (1, "expired", ["spc 6628, spc 6628"]),
    "martini_acme_spc1234.pem": (1, "expired", ["spc 1234"]),
    "martini_telonium_633K_printablestring.pem": (1, "malformed", ["MALFORMED"]),
    "martini_mypbx_truncated.pem": (1, "malformed", ["MALFORMED"]),
    "signalwire_ca.pem": (1, "no-tnauthlist", ["SignalWire STI-CA Test"]),
    "signalwire_sp.pem": (1, "malformed", ["MALFORMED"]),
    "signalwire_sp.priv": (0, None, ["private key", "secp256r1"]),
    "signalwire_sp.pub": (0, None, ["public key", "secp256r1"]),
    "signalwire_passport.txt": (1, "claims", ['"ppt": "shaken"']),
    "draft08_appA1_sec1_priv.pem": (0, None, ["private key"]),
    "rfc8225_appA2_pub.pem": (0, None, ["public key"]),
    "rfc8225_sec7_1_token.jws": (1, "iat", ['"iat": "1443208345"']),
}


def test_vector_table_is_complete() -> None:
    assert set(VECTOR_VERDICTS) == {p.name for p in VECTORS.iterdir()}


@pytest.mark.parametrize("name", sorted(VECTOR_VERDICTS))
def test_inspect_prints_each_vectors_verdict(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    want_code, want_reason, want_text = VECTOR_VERDICTS[name]
    code, out, _ = run(capsys, "credential", "inspect", str(VECTORS / name), "--now", NOW)
    assert code == want_code, out
    for text in want_text:
        assert text in out
    if want_reason is not None:
        assert f"verdict: REJECTED {want_reason} " in out
    code, doc = inspect_json(capsys, str(VECTORS / name), "--now", NOW)
    reasons = {v.get("reason") for v in doc["verdicts"]}
    assert reasons == (
        {want_reason} if want_reason else (set() if not doc["verdicts"] else reasons)
    )


def test_inspect_with_signer_keys_and_anchor(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = inspect_json(
        capsys,
        str(VECTORS / "signalwire_passport.txt"),
        "--signer-key",
        str(VECTORS / "signalwire_sp.pub"),
    )
    assert code == 1
    assert [v["checked"] for v in doc["verdicts"]] == ["signature", "signature"]
    assert {v["reason"] for v in doc["verdicts"]} == {"claims"}
    code, doc = inspect_json(
        capsys,
        str(VECTORS / "rfc8225_sec7_1_token.jws"),
        "--signer-key",
        str(VECTORS / "rfc8225_appA2_pub.pem"),
    )
    assert code == 1 and doc["verdicts"][0] == {
        "accepted": False,
        "reason": "iat",
        "rule": "§5.3",
        "checked": "signature",
        "detail": doc["verdicts"][0]["detail"],
    }
    code, doc = inspect_json(
        capsys, str(VECTORS / "signalwire_sp.pem"), "--anchor", str(VECTORS / "signalwire_ca.pem")
    )
    assert code == 1 and doc["verdicts"][0]["reason"] == "malformed"
    assert doc["verdicts"][0]["checked"] == "trust store"


def test_lenient_inspect_reports_stale(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = inspect_json(
        capsys, str(VECTORS / "zlint_shakenCert.pem"), "--now", NOW, "--lenient"
    )
    assert code == 0
    identity = doc["verdicts"][0]["identity"]
    assert identity["stale"] and identity["stale_reason"] == "expired"
    assert identity["kind"] == "spc-cert"


def test_inspect_full_mls_credential_and_binary(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.stir.credential_codec import encode_opaque
    from shared.stir.pki import DemoPKI

    alice = DemoPKI.open(demo).get("alice")
    content = alice.credential().encode()
    whole = tmp_path / "cred.hex"
    whole.write_text((bytes.fromhex("f001") + encode_opaque(content)).hex())
    code, doc = inspect_json(capsys, str(whole), "--trust", str(demo))
    assert code == 0 and doc["kind"] == "MLS credential 0xf001"
    assert doc["verdicts"][0]["identity"]["display_name"] == "Alice"
    binary = tmp_path / "cred.bin"
    binary.write_bytes(content)
    code, doc = inspect_json(capsys, str(binary), "--trust", str(demo), "--type", "f001")
    assert code == 0 and doc["verdicts"][0]["identity"]["tns"] == ["12025550101"]
    # The wrong signature key for it: rejected, and said why.
    code, out, _ = run(
        capsys,
        "credential",
        "inspect",
        str(binary),
        "--trust",
        str(demo),
        "--signature-key",
        "04" + "22" * 64,
    )
    assert code == 1 and "REJECTED" in out


def test_inspect_carrier_level_with_claimed_number(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(
        capsys,
        "pki",
        "issue",
        "spc",
        str(demo),
        "--provider",
        "Acme Telecom",
        "--spc",
        "1234",
        "--name",
        "carrier",
    )
    chain = demo / "certs" / "carrier" / "chain.pem"
    code, out, _ = run(
        capsys,
        "credential",
        "inspect",
        str(chain),
        "--trust",
        str(demo),
        "--application-id",
        "+1 202 555 0105",
    )
    assert code == 0
    assert "+1 202-555-0105 (claimed via carrier 1234)" in out and "carrier key" in out
    code, _, err = run(
        capsys,
        "credential",
        "inspect",
        str(chain),
        "--trust",
        str(demo),
        "--application-id",
        "not a number",
    )
    assert code == 2 and "not a number" in err
    code, doc = inspect_json(
        capsys, str(chain), "--trust", str(demo), "--application-id", "12025559999"
    )
    assert code == 1 and doc["verdicts"][0]["reason"] == "tn-not-authorised"
