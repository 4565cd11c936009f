"""The `stirmls` command line: a dispatcher over per-component command modules.

Each component owns its sub-commands in a module exposing
``register(subparsers: argparse._SubParsersAction) -> None``; the table below only
names them. Modules are imported lazily by name so that the console entry point does
not make the client package depend on the delivery service or the scenario runner
(the layering of docs/architecture.md), and a broken component cannot stop the others'
commands from working.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute sub-commands, in help order. A module listed here that
# does not exist yet is skipped, so components can land independently.
COMMAND_MODULES: tuple[str, ...] = (
    "scenarios.cli",  # demo, scenario run
    "client.chat_cli",  # chat
    "delivery_service.cli",  # ds serve
    "shared.stir.cli",  # pki, passport, credential
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stirmls",
        description="STIR-authenticated MLS group messaging.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # a real missing dependency inside the module: do not hide it
            continue
        module.register(sub)
    if not any(name == "demo" for name in sub.choices):
        demo = sub.add_parser("demo", help="run the headline scenario")
        demo.set_defaults(func=_demo_not_yet)
    return parser


def _demo_not_yet(args: argparse.Namespace) -> int:
    print("stirmls demo: not yet: the scenario runner (issue 6) has not landed.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
