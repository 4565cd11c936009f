"""`stirmls ds serve` argument handling and the provider's subscriber file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.cli import build_parser
from delivery_service.cli import main
from delivery_service.provider import load_subscribers


def test_ds_serve_is_registered_with_the_stirmls_cli() -> None:
    args = build_parser().parse_args(["ds", "serve", "--trust", "t", "--db", ":memory:"])
    assert args.db == ":memory:" and args.trust == Path("t") and args.port == 7800
    assert args.fan_out_turn_ms is None  # the server's FAN_OUT_TURN_SECONDS
    tuned = build_parser().parse_args(["ds", "serve", "--trust", "t", "--fan-out-turn-ms", "5"])
    assert tuned.fan_out_turn_ms == 5.0


def test_missing_trust_store_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--trust", str(tmp_path / "nope"), "--db", ":memory:"]) == 2
    assert "cannot load trust store" in capsys.readouterr().err


def test_provider_needs_subscribers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shared.stir.pki import DemoPKI

    pki = DemoPKI.init(tmp_path / "pki")
    code = main(["serve", "--trust", str(pki.directory), "--db", ":memory:", "--provider", "x"])
    assert code == 2
    assert "--subscribers" in capsys.readouterr().err


def test_subscribers_file(tmp_path: Path) -> None:
    good = tmp_path / "subs.json"
    good.write_text(json.dumps({"12025550101": {"secret": "s", "name": "Alice"}}))
    subs = load_subscribers(good)
    assert subs["12025550101"].secret == "s" and subs["12025550101"].display_name == "Alice"
    for bad, names in [
        ({"+1 202": {"secret": "s"}}, "canonical"),
        ({"12025550101": {"name": "x"}}, "secret"),
        ({"12025550101": {"secret": "s", "name": 3}}, "name"),
        (["12025550101"], "object"),
    ]:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=names):
            load_subscribers(path)


def test_a_database_of_a_newer_schema_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from delivery_service.sqlite_storage import SQLiteStorage
    from shared.stir.pki import DemoPKI

    pki = DemoPKI.init(tmp_path / "pki")
    db = tmp_path / "ds.sqlite"
    SQLiteStorage(str(db)).close()
    with sqlite3.connect(db) as future:
        future.execute("UPDATE meta SET value = '7' WHERE key = 'schema'")
    future.close()
    assert main(["serve", "--trust", str(pki.directory), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "cannot open" in err and "schema 7 is newer" in err
