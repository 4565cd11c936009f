"""The scenario library shipped inside the package (scenarios/library/*.toml)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from scenarios.loader import parse_scenario
from scenarios.model import Scenario

# The headline of the project (PROFILE.md §9): what `stirmls demo` runs.
HEADLINE = "rogue_mky_detected"


def library_names() -> tuple[str, ...]:
    """Names of the library's scenarios (file names without .toml), sorted."""
    folder = resources.files("scenarios") / "library"
    return tuple(
        sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))
    )


def library_text(name: str) -> str:
    """The TOML text of a library scenario (KeyError when there is none of that name)."""
    entry = resources.files("scenarios") / "library" / f"{name}.toml"
    if not entry.is_file():
        raise KeyError(name)
    return entry.read_text(encoding="utf-8")


def load_library_scenario(name: str) -> Scenario:
    """A library scenario, validated; its source names the library file."""
    return parse_scenario(library_text(name), filename=str(Path("library") / f"{name}.toml"))
