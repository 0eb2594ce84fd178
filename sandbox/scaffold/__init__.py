"""``switchyard plugin new NAME``: a plugin folder that builds, passes its test and packs.

The templates under ``template/`` end in ``.tmpl`` (so tools do not mistake them for
sources of this repository) and carry ``__NAME__`` where the plugin's name goes; names are
checked by the manifest's own rule first, so what is written always validates.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sandbox.manifest import ManifestError, from_builtins

__all__ = ["FILES", "ScaffoldError", "scaffold"]

TEMPLATES = Path(__file__).resolve().parent / "template"
# template -> path in the new plugin folder
FILES = {
    "plugin.toml.tmpl": "plugin.toml",
    "plugin.c.tmpl": "src/plugin.c",
    "cases.json.tmpl": "tests/cases.json",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
}


class ScaffoldError(ValueError):
    """The plugin cannot be created where asked; nothing was written."""


def scaffold(name: str, parent: Path) -> Path:
    """Create ``parent/name`` from the templates and return it."""
    _check_name(name)
    folder = parent / name
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ScaffoldError(
            f"{folder} already exists and is not empty; choose another name or --dir"
        )
    tmp = parent / f".{name}.new"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for template, target in FILES.items():
            path = tmp / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text((TEMPLATES / template).read_text().replace("__NAME__", name))
        if folder.exists():
            folder.rmdir()
        tmp.rename(folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ScaffoldError(f"cannot create {folder}: {exc.strerror or exc}") from None
    return folder


def _check_name(name: str) -> None:
    """The manifest's rule for names, reported as the argument's error."""
    probe = {
        "name": name,
        "version": "0.1.0",
        "summary": "x",
        "license": "x",
        "category": "other",
        "abi": 1,
        "min_host_version": "0.1.0",
        "hooks": ["on_request"],
    }
    try:
        from_builtins(probe)
    except ManifestError as exc:
        raise ScaffoldError(f"NAME: {exc.problem}") from None
