"""``stirmls chat-profile`` and ``stirmls chat`` argument handling (through the dispatcher)."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.cli import main
from client.core.profile import load_profile
from shared.stir.pki import DemoPKI
from shared.stir.tnauthlist import TNRange


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    pki = DemoPKI.init(tmp_path / "pki")
    pki.issue_spc("Acme", "1234", [TNRange("12025550100", 100)], ca=True, name="acme-ca")
    return tmp_path / "pki"


def test_profile_from_demo_pki(tmp_path: Path, pki_dir: Path) -> None:
    profile_dir = tmp_path / "alice"
    args = ["chat-profile", "--profile", str(profile_dir), "--tn", "+1 (202) 555-0101"]
    args += ["--ds-url", "ws://127.0.0.1:9/", "--pki", str(pki_dir), "--issuer", "acme-ca"]
    assert main([*args, "--name", "Alice", "--region", "US"]) == 0
    profile = load_profile(profile_dir)
    assert profile.tn == "12025550101" and profile.region == "US"
    # The delegate certificate certifies the profile's own MLS key (end to end).
    from cryptography import x509

    leaf = x509.load_der_x509_certificate(profile.chain[0])
    assert leaf.public_key() == profile.private_key.public_key()
    assert (profile_dir / "key.pem").stat().st_mode & 0o077 == 0
    # A second profile in the same place is refused.
    assert main([*args]) == 2


def test_profile_errors_are_named(
    tmp_path: Path, pki_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["chat-profile", "--profile", str(tmp_path / "p"), "--ds-url", "ws://x/"]
    base += ["--pki", str(pki_dir)]
    assert main([*base, "--tn", "555-01x", "--issuer", "acme-ca"]) == 2
    assert "555-01x" in capsys.readouterr().err
    assert main([*base, "--tn", "+12025550101", "--issuer", "nobody"]) == 2
    assert "nobody" in capsys.readouterr().err
    # Outside the provider's numbers: the PKI refuses to delegate it.
    assert main([*base, "--tn", "+14155550100", "--issuer", "acme-ca"]) == 2
    assert "scope" in capsys.readouterr().err


def test_passport_profile(tmp_path: Path, pki_dir: Path) -> None:
    args = ["chat-profile", "--profile", str(tmp_path / "p"), "--tn", "+12025550101"]
    args += ["--ds-url", "ws://x/", "--pki", str(pki_dir), "--provider-secret", "s3"]
    assert main(args) == 0
    profile = load_profile(tmp_path / "p")
    assert profile.is_passport and profile.provider_secret == "s3" and profile.chain == ()
    both = [*args, "--issuer", "acme-ca"]
    assert main([*both[:2], str(tmp_path / "q"), *both[3:]]) == 2  # not both at once


def test_chat_without_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--profile", str(tmp_path / "none")]) == 2
    assert "profile.json" in capsys.readouterr().err
