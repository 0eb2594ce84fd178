"""Compile a C plugin to wasm with PyPI's ``ziglang`` (offline, no system toolchain).

The flags are the ones in stack-notes ("Wasm plugins"): a wasm32-wasi *reactor* (no
``main``; the host calls ``_initialize`` once), a 1 MiB stack so the initial memory is
small enough for tight memory limits, and ``-s`` for size. The SDK avoids stdio, so the
result imports nothing from WASI; the host refuses any module that does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["SDK_DIR", "BuildError", "build_c", "zig_command"]

SDK_DIR = Path(__file__).resolve().parent
FLAGS = (
    "--target=wasm32-wasi",
    "-mexec-model=reactor",
    "-O2",
    "-s",
    "-std=c11",
    "-Wall",
    "-Werror=implicit-function-declaration",
    "-Wl,-z,stack-size=1048576",
)


class BuildError(RuntimeError):
    """The compiler failed; the message carries its output."""


def zig_command() -> list[str]:
    return [sys.executable, "-m", "ziglang", "cc"]


def build_c(source_dir: str | os.PathLike[str], out_wasm: str | os.PathLike[str],
            *, timeout: float = 600) -> Path:
    """Compile every ``*.c`` under ``source_dir`` (``src/`` if it has one) with the SDK.

    Returns the path written. Raises :class:`BuildError` naming the compiler's complaint.
    """
    root = Path(source_dir)
    src = root / "src" if (root / "src").is_dir() else root
    sources = sorted(str(p) for p in src.rglob("*.c"))
    if not sources:
        raise BuildError(f"no .c files under {str(src)!r}")
    out = Path(out_wasm)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [*zig_command(), *FLAGS, f"-I{SDK_DIR}", f"-I{src}", *sources,
               str(SDK_DIR / "switchyard_plugin.c"), "-o", str(out)]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:  # pragma: no cover - python itself is missing
        raise BuildError(f"cannot run zig: {exc}") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"zig cc did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        if "No module named ziglang" in done.stderr:
            raise BuildError("ziglang is not installed: pip install 'switchyard[plugin-dev]'")
        raise BuildError(f"zig cc failed for {str(root)!r}:\n{done.stderr.strip()}")
    return out
