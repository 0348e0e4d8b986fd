"""The import contract: layers depend downward only (docs/architecture.md, "Layers").

Every `import` in every module of `chat/` and `client/` (at any depth, deferred ones too) is
read with `ast` and checked against the table below. A new import that runs upward fails here,
with the module, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# layer -> the layers it may import (itself included)
ALLOWED: dict[str, set[str]] = {
    "protocol": {"protocol"},
    "core": {"core", "protocol"},
    "net": {"net", "core", "protocol", "app"},
    "cluster": {"cluster", "core", "protocol"},
    "sidecar": {"sidecar", "core", "protocol", "cluster", "net", "app"},
    "app": {"app", "net", "core", "protocol", "cluster", "sidecar"},
    "bench": {"bench", "app", "net", "core", "protocol", "cluster"},
    "client": {"client", "protocol", "app"},
}
NO_ASYNCIO = {"protocol", "core"}
"""The sans-I/O layers: no asyncio, no sockets."""
IO_MODULES = {"asyncio", "socket", "selectors", "ssl", "uvloop"}


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "client":
        return "client"
    if parts[0] != "chat":
        return None
    if len(parts) > 1 and parts[1] in ("protocol", "core", "net", "cluster", "sidecar", "bench"):
        return parts[1]
    return "app"  # chat, chat.cli, chat.settings, chat.log, chat.__main__


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file; relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    module = module or module_of(path)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.append((node.lineno, base))
            # `from chat import core` names a package of another layer
            if layer(base) == "app" and base == "chat":
                found += [(node.lineno, f"chat.{alias.name}") for alias in node.names]
    return found


def sources() -> list[Path]:
    return sorted(p for d in ("chat", "client") for p in (ROOT / d).rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    assert all(layer(module_of(p)) is not None for p in sources())


def test_layers_depend_downward_only() -> None:
    broken = []
    for path in sources():
        mine = layer(module_of(path))
        assert mine is not None
        for line, target in imports(path):
            theirs = layer(target)
            if theirs is not None and theirs not in ALLOWED[mine]:
                broken.append(f"{path.relative_to(ROOT)}:{line}: {mine} imports {target}")
    assert not broken, "imports that run upward:\n" + "\n".join(broken)


def test_the_sans_io_layers_do_no_io() -> None:
    broken = []
    for path in sources():
        if layer(module_of(path)) not in NO_ASYNCIO:
            continue
        for line, target in imports(path):
            if target.split(".")[0] in IO_MODULES:
                broken.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not broken, "I/O in the sans-I/O layers:\n" + "\n".join(broken)


def test_the_contract_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a core module importing the transport is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from chat.net.server import ChatServer\nimport asyncio\n")
    assert imports(bad, "chat.core.bad") == [(1, "chat.net.server"), (2, "asyncio")]
    assert layer("chat.net.server") not in ALLOWED["core"]
    assert layer("chat.core.hub") == "core" and layer("chat.cli") == "app"
