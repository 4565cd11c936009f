"""The STIR-in-MLS profile's constants, in one place (see docs/profile.md and PROFILE.md).

Every component (credentials, validator, delivery service, client) takes these values
from here, so that a decision that turns out wrong is changed once.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Final

from cryptography import x509

# PROFILE.md §2: private-use codepoints of the MLS Credential Types registry.
CREDENTIAL_TYPE_BASIC: Final = 0x0001
CREDENTIAL_TYPE_STIR_CERTIFICATE: Final = 0xF001
CREDENTIAL_TYPE_STIR_PASSPORT: Final = 0xF002

# PROFILE.md §1: P-256 so a delegate certificate's ES256 key can be the MLS signature key.
DEFAULT_CIPHERSUITE: Final = 0x0002  # MLS_128_DHKEMP256_AES128GCM_SHA256_P256
# 0x0001 (Ed25519) only with PASSporT credentials: mky binds any key type.
PASSPORT_CIPHERSUITES: Final = frozenset({0x0001, 0x0002})
CERTIFICATE_CIPHERSUITES: Final = frozenset({0x0002})

# PROFILE.md §7: application messages from up to two epochs back still decrypt.
MAX_PAST_EPOCHS: Final = 2

# PROFILE.md §5.6: freshness of PASSporT credentials.
PASSPORT_MAX_AGE: Final = timedelta(days=30)
PASSPORT_FUTURE_SKEW: Final = timedelta(seconds=60)

# PROFILE.md §6: the service's tolerance is narrower than the clients', so a commit the
# service accepted is never refused by an honest client for time alone.
CLIENT_CLOCK_TOLERANCE: Final = timedelta(seconds=300)
DS_CLOCK_TOLERANCE: Final = timedelta(seconds=60)

# PROFILE.md §10: SignWithLabel label for authenticating to the delivery service.
DS_AUTH_LABEL: Final = "stirmls ds-auth"

# RFC 8226 §9 / §8 and RFC 9118 §4: certificate extensions.
OID_TNAUTHLIST: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26")
OID_JWT_CLAIM_CONSTRAINTS: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.27")
OID_ENHANCED_JWT_CLAIM_CONSTRAINTS: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.33")

# PROFILE.md §5.5: dest URI prefixes (the `mls:` scheme is not registered; docs say so).
GROUP_DEST_PREFIX: Final = "mls:group:"
DS_DEST_PREFIX: Final = "mls:ds:"


def group_dest_uri(group_id: bytes) -> str:
    """The PASSporT dest URI naming an MLS group: ``mls:group:<base64url, no padding>``."""
    return GROUP_DEST_PREFIX + base64.urlsafe_b64encode(group_id).rstrip(b"=").decode("ascii")


def ds_dest_uri(ds_id: str) -> str:
    """The PASSporT dest URI naming a delivery service (registration): ``mls:ds:<id>``."""
    return DS_DEST_PREFIX + ds_id
