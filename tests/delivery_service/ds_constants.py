"""Constants of the delivery-service tests (a module of its own: ``conftest`` is not a
unique module name across the test directories)."""

from __future__ import annotations

from shared.stir.tnauthlist import TNRange

DS_ID = "ds.test"
PROVIDER_SPC = "1234"
PROVIDER_RANGE = TNRange("12025550100", 100)
