import openmls

from client.cli import main


def test_binding_imports() -> None:
    assert openmls.OPENMLS_VERSION == "0.8.1"


def test_cli_without_command_prints_help_and_fails(capsys) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out
