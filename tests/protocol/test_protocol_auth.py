"""The content of the delivery-service authentication signature (PROFILE.md §10)."""

from __future__ import annotations

import pytest

from shared.protocol import DS_AUTH_LABEL, ds_auth_content
from shared.protocol.auth import encode_varint


@pytest.mark.parametrize(
    ("n", "wire"),
    [
        (0, "00"),
        (37, "25"),
        (63, "3f"),
        (64, "4040"),
        (15293, "7bbd"),  # RFC 9420 §2.1.2's (QUIC's) worked example
        (16383, "7fff"),
        (16384, "80004000"),
        (494878333, "9d7f3e7d"),
        (2**30 - 1, "bfffffff"),
    ],
)
def test_varint_uses_minimal_rfc9420_encoding(n: int, wire: str) -> None:
    assert encode_varint(n).hex() == wire


@pytest.mark.parametrize("n", [-1, 2**30])
def test_varint_out_of_range(n: int) -> None:
    with pytest.raises(ValueError):
        encode_varint(n)


def test_content_is_the_tls_struct_of_both_nonces_service_and_tn() -> None:
    content = ds_auth_content(b"\x01" * 32, b"\x02" * 32, "ds.example", "12025550101")
    assert content == (
        b"\x20" + b"\x01" * 32 + b"\x20" + b"\x02" * 32 + b"\x0ads.example" + b"\x0b12025550101"
    )


def test_every_input_changes_the_content() -> None:
    base = (b"s" * 32, b"c" * 32, "ds", "1202")
    variants = {
        ds_auth_content(*base),
        ds_auth_content(b"S" * 32, *base[1:]),
        ds_auth_content(base[0], b"C" * 32, *base[2:]),
        ds_auth_content(*base[:2], "dz", base[3]),
        ds_auth_content(*base[:3], "1203"),
        # Length prefixes keep field boundaries: moving a byte between fields differs.
        ds_auth_content(*base[:2], "ds1", "202"),
    }
    assert len(variants) == 6


def test_label_is_the_profiles() -> None:
    assert DS_AUTH_LABEL == "stirmls ds-auth"


def test_passport_request_label_differs_from_auth_label() -> None:
    from shared.protocol import PASSPORT_REQUEST_LABEL

    assert PASSPORT_REQUEST_LABEL != DS_AUTH_LABEL
