"""The .pyi stub describes the native module exactly (names of functions, classes, members)."""

from __future__ import annotations

import ast
from pathlib import Path

import openmls
import openmls._openmls as native

STUB = Path(openmls.__file__).with_name("_openmls.pyi")


def stub_names() -> dict[str, set[str] | None]:
    names: dict[str, set[str] | None] = {}
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {b.name for b in node.body if isinstance(b, ast.FunctionDef)}
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = None
    return names


def test_module_names_match_stub() -> None:
    stub = stub_names()
    module = {k for k in dir(native) if not k.startswith("__")}
    assert module == set(stub)


def test_class_members_match_stub() -> None:
    for name, members in stub_names().items():
        if members is None:
            continue
        cls = getattr(native, name)
        inherited = {x for base in cls.__mro__[1:] for x in dir(base)}
        public = {k for k in dir(cls) if not k.startswith("_")}
        declared = {k for k in members if not k.startswith("_")}
        assert declared <= set(dir(cls)), (name, declared - set(dir(cls)))
        assert public - inherited <= declared, (name, public - inherited - declared)


def test_every_class_and_method_is_documented() -> None:
    for name in dir(native):
        obj = getattr(native, name)
        if isinstance(obj, type) and not name.startswith("_"):
            assert obj.__doc__, name
            for attr, value in vars(obj).items():
                if not attr.startswith("_"):
                    assert getattr(value, "__doc__", None), f"{name}.{attr}"


def test_package_reexports() -> None:
    for name in openmls.__all__:
        assert hasattr(openmls, name), name
    assert openmls.Ciphersuite(2).name == "MLS_128_DHKEMP256_AES128GCM_SHA256_P256"
