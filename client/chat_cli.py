"""``stirmls chat``: the chat TUI for one profile; ``stirmls chat-profile``: make a profile.

``stirmls chat --profile DIR`` opens the Textual chat with the client core running as a
trio guest inside it. ``stirmls chat-profile --profile DIR --tn NUMBER --ds-url URL
--pki PKI_DIR --issuer NAME`` makes a profile: a fresh P-256 MLS key and an RFC 9060
delegate certificate for that key and number from the named provider CA of a demo PKI
(``stirmls pki``), so the member is end to end; with ``--provider-secret`` instead of
``--issuer`` the member uses PASSporTs from the service's provider role.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from client.core.events import Command, CoreEvent
from client.core.profile import ClientProfile, ProfileError, create_profile, load_profile


def register(subparsers: Any) -> None:
    """Add ``chat`` and ``chat-profile`` to the ``stirmls`` command line."""
    chat = subparsers.add_parser("chat", help="open the chat TUI for a profile")
    chat.add_argument("--profile", required=True, type=Path, help="the profile directory")
    chat.add_argument("--region", help="read numbers without '+' in this region (e.g. US)")
    chat.set_defaults(func=run_chat)

    make = subparsers.add_parser(
        "chat-profile", help="make a chat profile with a delegate certificate from a demo PKI"
    )
    make.add_argument("--profile", required=True, type=Path, help="directory to create")
    make.add_argument("--tn", required=True, help="the member's number, e.g. +1 202 555 0101")
    make.add_argument("--ds-url", required=True, help="delivery service, e.g. ws://127.0.0.1:7800/")
    make.add_argument("--ds-id", help="the service's id, checked before signing in")
    make.add_argument("--pki", required=True, type=Path, help="demo PKI directory")
    make.add_argument("--issuer", help="name of the provider CA in the PKI (delegate cert)")
    make.add_argument(
        "--provider-secret",
        help="instead of a certificate: PASSporTs from the service's provider role, "
        "proving the number with this secret",
    )
    make.add_argument("--name", help="display name the certificate permits")
    make.add_argument("--region", help="default region for numbers typed without '+'")
    make.set_defaults(func=run_make_profile)


def core_for(profile: ClientProfile) -> Callable[..., Any]:
    """The trio entry point that runs this profile's client core (for the TUI guest)."""

    async def core(
        commands: trio.MemoryReceiveChannel[Command], emit: Callable[[CoreEvent], None]
    ) -> None:
        from client.core.client import ChatClient

        await ChatClient(profile, emit).run(commands)

    return core


def run_chat(args: argparse.Namespace) -> int:
    """Open the TUI."""
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        print(f"stirmls chat: {exc}", file=sys.stderr)
        return 2
    from client.tui.app import ChatApp

    app = ChatApp(core=core_for(profile), default_region=args.region or profile.region)
    app.run()
    if app.guest is not None and app.guest.error is not None:
        print(f"stirmls chat: the client core stopped: {app.guest.error}", file=sys.stderr)
        return 1
    return 0


def run_make_profile(args: argparse.Namespace) -> int:
    """Create a profile with a delegate certificate for a fresh key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from shared.stir.errors import InvalidNumber
    from shared.stir.numbers import normalise
    from shared.stir.pki import DemoPKI, ScopeError, generate_key
    from shared.stir.tnauthlist import OneTN

    if (args.issuer is None) == (args.provider_secret is None):
        print("stirmls chat-profile: give --issuer or --provider-secret", file=sys.stderr)
        return 2
    try:
        tn = normalise(args.tn, args.region)
        pki = DemoPKI.open(args.pki)
        key = generate_key("p256")
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        chain: tuple[bytes, ...] = ()
        if args.issuer is not None:
            issuer = pki.get(args.issuer)
            cert = pki.issue_delegate(
                issuer, [OneTN(tn)], key.public_key(), permitted_nam=args.name
            )
            chain = cert.chain
        trust = pki.export_trust(Path(args.profile) / "trust-export")
        profile = create_profile(
            args.profile,
            tn=tn,
            ds_url=args.ds_url,
            ds_id=args.ds_id,
            private_key=key,
            chain=chain,
            trust_dir=trust,
            kind="tn-cert" if args.issuer is not None else "passport",
            region=args.region,
            provider_secret=args.provider_secret,
        )
    except (
        InvalidNumber,
        ProfileError,
        ScopeError,
        KeyError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        print(f"stirmls chat-profile: {exc}", file=sys.stderr)
        return 2
    print(f"profile for +{profile.tn} written to {profile.directory}")
    return 0
