"""Architecture checks (DESIGN.md §2, §3): the import-linter contracts, purity of layers L0-L4, the direction
of imports between p2p/, sims/ and cli/, and the pinned public API of ``p2p``."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import p2p

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "p2p"

PURE = [
    "ids.py",
    "errors.py",
    "config.py",
    "wire.py",
    "routing",
    "store.py",
    "linkmodel.py",
    "rpc.py",
    "lookup",
    "search",
    "core.py",
]
IMPURE_MODULES = {"trio", "socket", "time", "threading", "asyncio", "sqlite3", "os", "random"}


def py_files(*paths: Path) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return out


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] in ("cli", "sims"):  # installed as p2p.cli and p2p.sims (pyproject package-dir)
        parts.insert(0, "p2p")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, tree: ast.AST | None = None) -> Iterator[tuple[ast.AST, str]]:
    """Every ``(node, absolute module name)`` imported by ``path``, anywhere in the file. For ``from X import
    Y`` both ``X`` and ``X.Y`` are yielded (``Y`` may be a submodule)."""
    if tree is None:
        tree = ast.parse(path.read_text(), str(path))
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node, target
            for a in node.names:
                yield node, f"{target}.{a.name}"


def under(name: str, prefixes: set[str] | list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# ------------------------------------------------------------------------------------------ import-linter


def test_import_linter_contracts_kept():
    exe = Path(sys.executable).parent / "lint-imports"
    assert exe.exists(), exe
    proc = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout, proc.stdout
    assert "KEPT" in proc.stdout


# ------------------------------------------------------------------------------------------ purity


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` bodies."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            t = node.test
            if (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
                isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
            ):
                for stmt in node.body:
                    inside.update(id(n) for n in ast.walk(stmt))
    return inside


PURE_FILES = py_files(*(PKG / p for p in PURE))


def test_pure_files_exist():
    names = {str(p.relative_to(PKG)) for p in PURE_FILES}
    assert {"core.py", "wire.py", "rpc.py", "routing/kbuckets.py", "lookup/kademlia.py"} <= names


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_pure_layers_import_no_io_clock_or_global_random(path):
    tree = ast.parse(path.read_text(), str(path))
    guarded = _type_checking_blocks(tree)
    bad = []
    for node, name in imports(path, tree):
        top = name.split(".")[0]
        if top not in IMPURE_MODULES:
            continue
        if top == "random" and id(node) in guarded and isinstance(node, ast.Import):
            continue  # ``import random`` for annotations only
        bad.append(f"line {node.lineno}: {name}")
    assert not bad, f"{path.name} imports impure modules: {bad}"


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_pure_layers_never_call_module_level_random(path):
    tree = ast.parse(path.read_text(), str(path))
    calls = [
        f"line {n.lineno}: random.{n.func.attr}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "random"
    ]
    assert not calls, f"{path.name} uses the global RNG: {calls}"


def test_purity_checker_catches_violations(tmp_path, monkeypatch):
    """The checks above can fail: a file importing time, or random outside TYPE_CHECKING, is caught."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "p2p").mkdir()
    f = tmp_path / "p2p" / "bad.py"
    f.write_text(
        "from typing import TYPE_CHECKING\nimport time\nif TYPE_CHECKING:\n    import random\n"
        "def f():\n    import random\n    return random.random()\n"
    )
    with pytest.raises(AssertionError, match="time"):
        test_pure_layers_import_no_io_clock_or_global_random(f)
    with pytest.raises(AssertionError, match="line 6: random"):
        test_pure_layers_import_no_io_clock_or_global_random(f)
    with pytest.raises(AssertionError, match="random.random"):
        test_pure_layers_never_call_module_level_random(f)


# ------------------------------------------------------------------------------------------ import direction


def test_library_never_imports_cli_or_sims():
    bad = [
        f"{p.relative_to(ROOT)}:{n.lineno} {name}"
        for p in py_files(PKG)
        for n, name in imports(p)
        if under(name, ["p2p.cli", "p2p.sims", "cli", "sims"])
    ]
    assert not bad


def test_sims_never_import_cli():
    bad = [
        f"{p.relative_to(ROOT)}:{n.lineno} {name}"
        for p in py_files(ROOT / "sims")
        for n, name in imports(p)
        if under(name, ["p2p.cli", "cli"])
    ]
    assert not bad


def test_library_never_imports_stock_kademlia():
    bad = [
        f"{p.relative_to(ROOT)}:{n.lineno} {name}"
        for p in py_files(PKG)
        for n, name in imports(p)
        if under(name, ["kademlia", "rpcudp"])
    ]
    assert not bad


def test_cli_has_no_protocol_logic():
    """cli/ talks to nodes through p2p.node / p2p.control; it never reaches into the protocol layers."""
    protocol = ["p2p.core", "p2p.wire", "p2p.rpc", "p2p.routing", "p2p.lookup"]
    files = py_files(ROOT / "cli")
    assert files
    bad = [
        f"{p.relative_to(ROOT)}:{n.lineno} {name}"
        for p in files
        for n, name in imports(p)
        if under(name, protocol)
    ]
    assert not bad


def test_relative_imports_are_resolved():
    """The import walker resolves relative imports (so the direction checks above can see them)."""
    names = {name for _, name in imports(PKG / "routing" / "kbuckets.py")}
    assert "p2p.ids" in names and "p2p.wire.Contact" in names
    names = {name for _, name in imports(PKG / "__init__.py")}
    assert "p2p.core.NodeCore" in names


# ------------------------------------------------------------------------------------------ public API

PUBLIC_API = [
    "AddressError",
    "BootstrapFailed",
    "BootstrapResult",
    "Completed",
    "ConfigError",
    "Contact",
    "ControlError",
    "CoreStatistics",
    "DataDirLocked",
    "DecodeError",
    "Failed",
    "FindNodeResult",
    "GetResult",
    "InvalidQuery",
    "InvalidValue",
    "Item",
    "KademliaConfig",
    "LinkModel",
    "MemoryStore",
    "NoContacts",
    "Node",
    "NodeClosed",
    "NodeConfig",
    "NodeCore",
    "NotFound",
    "P2PError",
    "PutResult",
    "RPCConfig",
    "RPCTimeout",
    "Record",
    "SearchConfig",
    "SearchHit",
    "SearchResult",
    "SearchStatistics",
    "Send",
    "SimNetwork",
    "UDPTransport",
    "ValueTooLarge",
    "id_from_hex",
    "id_to_hex",
    "item_from_file",
    "key_id",
    "open_node",
    "open_sim_network",
    "xor_distance",
]


def test_public_api_is_pinned():
    public = sorted(
        n for n in dir(p2p) if not n.startswith("_") and not isinstance(getattr(p2p, n), types.ModuleType)
    )
    assert public == sorted(PUBLIC_API)


def test_public_api_is_re_exports_only():
    tree = ast.parse((PKG / "__init__.py").read_text())
    exported = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            continue
        if isinstance(stmt, ast.Assign) and all(
            isinstance(t, ast.Name) and t.id.startswith("__") for t in stmt.targets
        ):
            continue  # __version__, __all__
        assert isinstance(stmt, ast.ImportFrom), (
            f"line {stmt.lineno}: only `from .x import Y as Y` belongs here"
        )
        assert stmt.level == 1 and stmt.module, f"line {stmt.lineno}: re-export from a relative submodule"
        for a in stmt.names:
            assert a.asname == a.name, f"line {stmt.lineno}: write `import {a.name} as {a.name}`"
            exported.append(a.name)
    assert sorted(exported) == sorted(PUBLIC_API)
    for name in PUBLIC_API:  # a re-export, not a definition: the object lives in a submodule
        obj = getattr(p2p, name)
        assert getattr(obj, "__module__", "p2p.").startswith("p2p."), name
