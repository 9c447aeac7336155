"""The hand-written stubs (python/freya/_freya.pyi) must match the extension module."""

from __future__ import annotations

import ast
import pathlib

import freya
from freya import _freya

STUB = pathlib.Path(freya.__file__).with_name("_freya.pyi")


def stub_names():
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top.add(node.target.id)
        if isinstance(node, ast.ClassDef):
            members[node.name] = {
                n.name for n in node.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
            }
    return top, members


def test_stub_declares_exactly_the_module():
    top, members = stub_names()
    public = {name for name in dir(_freya) if not name.startswith("_")} | {"__version__"}
    assert top == public
    for cls, names in members.items():
        actual = {n for n in dir(getattr(_freya, cls)) if not n.startswith("_")}
        assert names == actual, cls


def test_package_exports():
    assert set(freya.__all__) == {
        "HostCall",
        "Message",
        "NumberList",
        "RejectedNumber",
        "SipParseError",
        "Stack",
        "StackError",
        "parse_message",
        "validate_numbers",
        "__version__",
    }
    assert all(hasattr(freya, name) for name in freya.__all__)
    assert issubclass(freya.SipParseError, ValueError)
    assert issubclass(freya.StackError, Exception) and not issubclass(freya.StackError, ValueError)
    assert isinstance(freya.__version__, str) and freya.__version__
    assert STUB.with_name("py.typed").exists()
