"""Which of the pieces a real run needs are present, so the runner can say what it waits for.

A run is never faked: when a piece is missing, ``stirmls scenario run`` and
``stirmls demo`` name it and stop.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from scenarios.model import Scenario


@dataclass(frozen=True)
class Requirement:
    """A module attribute a real run needs, and who builds it."""

    module: str
    attribute: str
    what: str

    def present(self) -> bool:
        """True when the module imports and has the attribute."""
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            return False
        return hasattr(module, self.attribute)


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("openmls", "Group", "the OpenMLS binding's Group (issue 2)"),
    Requirement("shared.stir.pki", "DemoPKI", "the demo STI PKI, shared.stir.pki (issue 3)"),
    Requirement(
        "shared.stir.passport", "PassportSigner", "the PASSporT signer, shared.stir.passport"
    ),
    Requirement(
        "shared.stir.validator", "validate", "the credential validator, shared.stir.validator"
    ),
    Requirement("delivery_service.server", "DeliveryServer", "the delivery service (issue 4)"),
    Requirement("client.core.client", "ChatClient", "the client core's runner (issue 5)"),
    Requirement(
        "scenarios.launcher",
        "CLIENT_ADAPTER_READY",
        "the runner's adapter to the client core's runner (issue 6, waits for issue 5)",
    ),
    Requirement("scenarios.engine", "RealEngine", "the runner's engine (issue 6)"),
)


def missing_pieces() -> tuple[str, ...]:
    """What a real run still needs, in words; empty when everything is there."""
    return tuple(r.what for r in REQUIREMENTS if not r.present())


# What the client core cannot play yet (issue 5); the runner checks a scenario against
# this before starting anything, so a run is never half made.
PASSPORT_GAP = (
    "PASSporT credentials in the client core's profiles (client.core.profile.KINDS holds "
    "certificate kinds only; issue 5)"
)


def core_kinds() -> tuple[str, ...]:
    """The credential kinds the client core's profiles hold (empty without the core)."""
    try:
        module = importlib.import_module("client.core.profile")
    except ImportError:
        return ()
    kinds = getattr(module, "KINDS", ())
    return tuple(k for k in kinds if isinstance(k, str))


def scenario_waits_for(scenario: Scenario) -> tuple[str, ...]:
    """What this scenario needs beyond ``missing_pieces()``; empty when it can run."""
    gaps: list[str] = []
    passports = any(a.credential == "passport" for a in scenario.actors.values()) or any(
        a.kind == "rogue_provider" for a in scenario.adversaries
    )
    if passports and "passport" not in core_kinds():
        gaps.append(PASSPORT_GAP)
    return tuple(gaps)
