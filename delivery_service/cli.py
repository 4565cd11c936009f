"""``stirmls ds serve``: run the delivery service (and, optionally, the provider role)."""

from __future__ import annotations

import argparse
import functools
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

import trio

from delivery_service.garbage_collection import (
    FULL_COLLECTION_INTERVAL,
    YOUNG_COLLECTION_THRESHOLD,
    collect_periodically,
    defer_full_collections,
)
from delivery_service.limits import Limits

DEFAULT_DB = "stirmls-ds.sqlite"


def register(subparsers: Any) -> None:
    """Add ``ds serve`` to the ``stirmls`` command line."""
    ds = subparsers.add_parser("ds", help="the delivery service")
    ds_sub = ds.add_subparsers(dest="ds_command", metavar="DS_COMMAND")
    serve = ds_sub.add_parser(
        "serve",
        help="serve the protocol of docs/protocol.md on a WebSocket",
        description="Run the delivery service on ws://HOST:PORT/ (docs/protocol.md).",
    )
    serve.add_argument("--db", default=DEFAULT_DB, help="SQLite file (':memory:' = throwaway)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7800, help="0 = any free port")
    serve.add_argument(
        "--trust", required=True, type=Path, help="trust directory (trust-anchors.pem, ...)"
    )
    serve.add_argument("--ds-id", default="stirmls-ds", help="this service's id (mls:ds:<id>)")
    serve.add_argument(
        "--fsync", action="store_true", help="synchronous=FULL: survive power loss too"
    )
    serve.add_argument(
        "--provider",
        type=Path,
        help="act as the carrier's STIR authentication service with this issued SPC "
        "certificate directory (key.pem, chain.pem)",
    )
    serve.add_argument(
        "--subscribers", type=Path, help="JSON {tn: {secret, name}} of the provider's numbers"
    )
    serve.add_argument(
        "--rogue-mky",
        action="store_true",
        help="provider signs PASSporTs binding its own key (PROFILE.md §9 attack)",
    )
    defaults = Limits()
    serve.add_argument("--max-frame-bytes", type=int, default=defaults.max_frame_bytes)
    serve.add_argument("--max-mls-bytes", type=int, default=defaults.max_mls_bytes)
    serve.add_argument("--rate", type=float, default=defaults.frames_per_second)
    serve.add_argument("--burst", type=int, default=defaults.frame_burst)
    serve.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout)
    serve.add_argument(
        "--batch-window-ms",
        type=float,
        default=0.0,
        help="gather writes for this long into one transaction (more throughput, more latency)",
    )
    serve.add_argument(
        "--full-gc-interval",
        type=float,
        default=FULL_COLLECTION_INTERVAL,
        help="seconds between full garbage collections, which are otherwise off"
        " (a full scan of 1000 connections stalls every delivery); 0: Python's own policy",
    )
    serve.add_argument(
        "--gc-young-threshold",
        type=int,
        default=YOUNG_COLLECTION_THRESHOLD,
        help="net allocations between young garbage collections (Python's own: 700);"
        " only with --full-gc-interval > 0",
    )
    serve.add_argument(
        "--loop-stats",
        type=Path,
        metavar="FILE",
        help="record the event loop's task steps, turns and GC pauses; on SIGUSR2 write"
        " them to FILE (JSON) and start afresh (diagnosis; costs a little per task step)",
    )
    serve.add_argument(
        "--fan-out-turn-ms",
        type=float,
        default=None,
        help="milliseconds of socket sends a fan-out makes before it lets other"
        " connections be served (default 50; a large value: never)",
    )
    serve.add_argument(
        "--latency-trace",
        type=Path,
        metavar="FILE",
        help="record each stored message's stage times (read, decoded, transaction begun,"
        " committed, pushed); on SIGUSR2 write them to FILE and start afresh (a"
        " benchmark's latency budget)",
    )
    serve.add_argument("--log-level", default="WARNING")
    serve.set_defaults(func=run_serve)
    ds.set_defaults(func=lambda args: (ds.print_help(), 2)[1])


def run_serve(args: argparse.Namespace) -> int:
    """Entry point of ``stirmls ds serve``."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    from delivery_service.credentials import StirIdentifier
    from delivery_service.provider import PassportIssuer, load_signer, load_subscribers
    from delivery_service.sequencer import CommitSequencer
    from delivery_service.server import DeliveryServer
    from delivery_service.service import DeliveryCore
    from delivery_service.sqlite_storage import SchemaError, SQLiteStorage
    from shared.stir.trust import load_trust_store

    try:
        trust = load_trust_store(args.trust)
    except (OSError, ValueError) as exc:
        print(f"stirmls ds serve: cannot load trust store {args.trust}: {exc}", file=sys.stderr)
        return 2
    issuer = None
    if args.provider is not None:
        if args.subscribers is None:
            print("stirmls ds serve: --provider needs --subscribers", file=sys.stderr)
            return 2
        try:
            issuer = PassportIssuer(
                load_signer(args.provider),
                load_subscribers(args.subscribers),
                rogue_mky=args.rogue_mky,
            )
        except (OSError, ValueError) as exc:
            print(f"stirmls ds serve: provider role: {exc}", file=sys.stderr)
            return 2
    limits = Limits(
        max_frame_bytes=args.max_frame_bytes,
        max_mls_bytes=args.max_mls_bytes,
        frames_per_second=args.rate,
        frame_burst=args.burst,
        idle_timeout=args.idle_timeout,
    )
    trace = None
    if args.latency_trace is not None:
        from delivery_service.latency_trace import LatencyTrace

        trace = LatencyTrace()
    try:
        storage = SQLiteStorage(args.db, fsync=args.fsync)
    except (SchemaError, sqlite3.Error) as exc:
        print(f"stirmls ds serve: cannot open {args.db}: {exc}", file=sys.stderr)
        return 2
    identifier = StirIdentifier(trust)
    core = DeliveryCore(args.ds_id, storage, identifier, limits=limits)
    server = DeliveryServer(
        core,
        CommitSequencer(identifier),
        passport_issuer=issuer,
        batch_window=max(0.0, args.batch_window_ms) / 1000,
        latency_trace=trace,
        fan_out_turn=None if args.fan_out_turn_ms is None else args.fan_out_turn_ms / 1000,
    )

    monitor = None
    if args.loop_stats is not None:
        from delivery_service.loop_monitor import LoopMonitor

        monitor = LoopMonitor()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            if monitor is not None or trace is not None:
                from delivery_service.loop_monitor import report_on_signal

                await nursery.start(
                    functools.partial(
                        report_on_signal,
                        monitor,
                        args.loop_stats,
                        also=[] if trace is None else [(trace, args.latency_trace)],
                    )
                )
            if args.full_gc_interval > 0:
                defer_full_collections(args.gc_young_threshold)
                nursery.start_soon(collect_periodically, args.full_gc_interval)
            port = await nursery.start(server.serve_websocket, args.host, args.port)
            # One line on stdout, so scripts (and tests) learn the bound port.
            print(f"stirmls ds: listening on ws://{args.host}:{port}/ as {args.ds_id}", flush=True)

    try:
        trio.run(main, instruments=[] if monitor is None else [monitor])
    except KeyboardInterrupt:
        pass
    finally:
        storage.close()
        if monitor is not None:
            monitor.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m delivery_service.cli serve ...``: the same command without loading the
    other components' commands (faster start for scripts and tests)."""
    parser = argparse.ArgumentParser(prog="stirmls")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ds", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
