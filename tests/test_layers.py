"""The package's layers (docs/architecture.md): imports point down only, siblings stay apart.

Read from the source with ``ast``, so a lazy import inside a function counts as much as one at
the top of a module: it is the same dependency, only paid later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import labbook

SRC = Path(labbook.__file__).parent

LAYERS: list[set[str]] = [
    {"errors"},
    {"records", "settings", "limits", "metrics"},
    {"manifests", "data"},  # artifact entries and digests; what a run logs (values, media)
    {"store", "blobs"},
    {"client"},
    {"artifacts"},  # the SDK's artifacts over the Store or the HTTP client; used by sdk/ and api/
    {"sdk", "server", "api"},
    {"plot"},  # chart objects built on the SDK's Table
    {"integrations"},
    {"keras", "sklearn"},  # wandb's spellings of the integrations
    {"cli"},
]
"""Lowest first. A module may import its own part, anything in a lower layer, and ``labbook``'s
package root (the public surface); never a sibling part of its own layer or a higher one."""


def _part(module: str) -> str | None:
    bits = module.split(".")
    return bits[1] if bits[0] == "labbook" and len(bits) > 1 else None


def _is_part(name: str) -> bool:
    return (SRC / f"{name}.py").is_file() or (SRC / name / "__init__.py").is_file()


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module or ""]).rstrip("."))
            elif node.module == "labbook":  # a submodule, or a name of the public surface
                found.update(f"labbook.{a.name}" for a in node.names if _is_part(a.name))
            elif node.module:
                found.add(node.module)
    return found


def _layer(part: str) -> int:
    for i, parts in enumerate(LAYERS):
        if part in parts:
            return i
    raise AssertionError(f"labbook.{part} is in no layer: add it to LAYERS")


def test_imports_point_down_and_siblings_stay_apart() -> None:
    wrong: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        here = _part(module)
        if here is None or here.startswith("_"):
            continue  # the package root and shipped examples sit above every layer
        for target in _imports(path, module):
            there = _part(target)
            if there is None or there == here:
                continue
            if _layer(there) >= _layer(here):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)
