"""The architecture, enforced: imports point one way (see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fastaw"

#: Layer of each top-level unit of the package; a module may import fastaw units of a
#: strictly lower layer, or from inside its own unit.
LAYERS = {
    "__init__": 0, "errors": 0, "timefmt": 0, "config": 0, "allocator": 0, "workerprocess": 0,
    "models": 1,
    "heartbeat": 2, "transforms": 2,
    "storage": 3, "query": 3,
    "columnar": 4, "datagen": 4,
    "exchange": 5, "pool": 5,
    "api": 6,
    "cli": 7,
    "__main__": 8,
}
#: Third-party packages that only some units may import.
RESTRICTED = {
    "lmdb": {"storage"},
    "granian": {"cli"},
    "polars": {"transforms", "columnar", "exchange"},
}


def _unit(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_unit_has_a_layer() -> None:
    assert {_unit(path) for path in MODULES} <= set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    unit = _unit(path)
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "fastaw":
            parts = name.split(".")
            if len(parts) == 1:
                continue  # `import fastaw` / `from fastaw import __version__`
            target = parts[1]
            if target == unit:
                continue
            assert LAYERS[target] < LAYERS[unit], (
                f"{path.relative_to(PACKAGE)} (layer {LAYERS[unit]}) imports {name} "
                f"(layer {LAYERS[target]})"
            )
        elif top in RESTRICTED:
            assert unit in RESTRICTED[top], (
                f"{path.relative_to(PACKAGE)} imports {top}, reserved for {RESTRICTED[top]}"
            )


def test_nothing_outside_api_imports_api() -> None:
    for path in MODULES:
        if _unit(path) in ("api",):
            continue
        for name in _imports(path):
            assert not name.startswith("fastaw.api"), f"{path} imports {name}"
