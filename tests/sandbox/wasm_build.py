"""Build the example and hostile plugins from source once, cached by a hash of their sources."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sandbox.sdk.build import FLAGS, SDK_DIR, build_c

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CACHE = Path(os.environ.get("SWITCHYARD_TEST_WASM_CACHE", Path(tempfile.gettempdir()) / "switchyard-test-wasm"))


def source_hash(plugin_dir: Path) -> str:
    digest = hashlib.sha256(" ".join(FLAGS).encode())
    for path in sorted([*plugin_dir.rglob("*.c"), *plugin_dir.rglob("*.h"), *SDK_DIR.glob("*.[ch]")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


def built(plugin_dir: Path) -> Path:
    """The plugin's wasm, compiled now only if its sources (or the SDK) changed."""
    out = CACHE / f"{plugin_dir.name}-{source_hash(plugin_dir)}.wasm"
    if not out.exists():
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        build_c(plugin_dir, tmp)
        os.replace(tmp, out)
    return out
