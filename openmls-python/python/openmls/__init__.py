"""Python binding of OpenMLS (RFC 9420)."""

from openmls._openmls import OPENMLS_VERSION

__all__ = ["OPENMLS_VERSION"]
