"""The kernel stays small and AI-agnostic: it imports no plugin, marketplace or sandbox code."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("plugins", "marketplace", "sandbox", "web")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_imports_nothing_from_plugins_marketplace_sandbox_or_web() -> None:
    offenders = []
    files = sorted((REPO / "core").rglob("*.py"))
    assert len(files) > 5, "the scan must see the kernel's modules"
    for path in files:
        for module in imported_modules(path):
            if module.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert offenders == []


def test_kernel_modules_stay_small() -> None:
    too_long = [
        f"{p.relative_to(REPO)}: {n} lines"
        for p in (REPO / "core").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 450
    ]
    assert too_long == []
